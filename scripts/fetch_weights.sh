#!/bin/sh
# fetch_weights.sh: downloads the pretrained ViT of the paper profile from the Hugging Face Hub
# at a pinned revision (a commit of the model's repository, so the files cannot change under a
# run) and verifies every file against the checksum recorded here before it is kept:
#   model.safetensors  sha256: the Hub's LFS object id of the file at that revision
#   config.json        gitblob: the git blob id, sha1 of "blob LEN\0" + content, which is how
#                      the Hub names a small (non-LFS) file at that revision
# Both values are the names the Hub's own cache gives these files for revision b4569560 of
# google/vit-base-patch16-224-in21k. A file that does not match is deleted and the fetch fails:
# nothing half-downloaded or unverified is left where flbench looks.
#
#   scripts/fetch_weights.sh NAME DIR     NAME: vit-base-patch16-224-in21k; files go to DIR/
#   scripts/fetch_weights.sh --list       names, URLs and checksums
#   scripts/fetch_weights.sh --gitblob FILE   the git blob id of FILE
#
# Environment:
#   FLBENCH_WEIGHTS_CATALOG  a file of "NAME URL ALGO SUM" lines replacing the built-in catalog
#                            (the tests serve fixture files with their own checksums this way)
#
# Exit status: 0 done (or already present and verified), 1 failed (download, checksum), 2 usage.
set -eu

say() { printf 'fetch_weights: %s\n' "$*" >&2; }
die() { printf 'fetch_weights: %s\n' "$*" >&2; exit 1; }

catalog() {
    if [ -n "${FLBENCH_WEIGHTS_CATALOG:-}" ]; then cat "$FLBENCH_WEIGHTS_CATALOG"; return; fi
    cat <<'EOF'
vit-base-patch16-224-in21k https://huggingface.co/google/vit-base-patch16-224-in21k/resolve/b4569560a39a0f1af58e3ddaf17facf20ab919b0/config.json gitblob 254071bbf72dd0fd535b61768d9cd87adcb776f4
vit-base-patch16-224-in21k https://huggingface.co/google/vit-base-patch16-224-in21k/resolve/b4569560a39a0f1af58e3ddaf17facf20ab919b0/model.safetensors sha256 fd4e1169c7aa6c2dbfa8a6448be13b35abc0ee256190857c90009d12c094619b
EOF
}

# gitblob FILE: git's object id of FILE's content (what `git hash-object FILE` prints)
gitblob() {
    size=$(wc -c <"$1" | tr -d ' ')
    { printf 'blob %s\000' "$size"; cat "$1"; } | sha1sum | cut -d' ' -f1
}

# checksum FILE ALGO
checksum() {
    case $2 in
    sha256) sha256sum "$1" | cut -d' ' -f1 ;;
    gitblob) gitblob "$1" ;;
    *) echo "fetch_weights: unknown checksum algorithm '$2' in the catalog (sha256 or gitblob)" >&2; exit 2 ;;
    esac
}

# fetch NAME DIR
fetch() {
    lines=$(catalog | awk -v n="$1" '$1 == n')
    [ -n "$lines" ] || { echo "fetch_weights: unknown weights '$1' (try --list)" >&2; exit 2; }
    mkdir -p "$2"
    echo "$lines" | while read -r _ url algo sum; do
        file=$2/${url##*/}
        if [ -f "$file" ] && [ "$(checksum "$file" "$algo")" = "$sum" ]; then
            say "$file: present, $algo ok"
            continue
        fi
        say "downloading $url"
        case $url in
        file://*) cp "${url#file://}" "$file.part" 2>/dev/null || { rm -f "$file.part"; die "$url: cannot copy"; } ;;
        *) curl -fL --retry 3 -o "$file.part" "$url" || { rm -f "$file.part"; die "$url: download failed"; } ;;
        esac
        found=$(checksum "$file.part" "$algo")
        if [ "$found" != "$sum" ]; then
            rm -f "$file.part"
            die "$url: $algo mismatch: expected $sum, found $found (file deleted)"
        fi
        mv "$file.part" "$file"
        say "$file: $algo ok"
    done || exit 1
    say "$1: ready in $2"
}

case ${1:-} in
--list) catalog ;;
--gitblob) [ $# -eq 2 ] && [ -f "$2" ] || { echo "usage: fetch_weights.sh --gitblob FILE" >&2; exit 2; }; gitblob "$2" ;;
-h | --help) sed -n '2,20p' "$0" ;;
'' | -*) sed -n '2,20p' "$0" >&2; exit 2 ;;
*) [ $# -eq 2 ] || { echo "usage: fetch_weights.sh NAME DIR (expected 2 arguments, found $#)" >&2; exit 2; }; fetch "$1" "$2" ;;
esac
