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
# The download and the checks are datasets/fetch.sh's (--download, --gitblob), as for the
# datasets; its FLBENCH_FETCH_MIRROR applies here too.
#
# Environment:
#   FLBENCH_WEIGHTS_CATALOG  a file of "NAME URL ALGO SUM" lines replacing the built-in catalog
#                            (the tests serve fixture files with their own checksums this way)
#
# Exit status: 0 done (or already present and verified), 1 failed (download, checksum), 2 usage.
set -eu

say() { printf 'fetch_weights: %s\n' "$*" >&2; }
DATASETS_FETCH=$(dirname "$0")/../datasets/fetch.sh

catalog() {
    if [ -n "${FLBENCH_WEIGHTS_CATALOG:-}" ]; then cat "$FLBENCH_WEIGHTS_CATALOG"; return; fi
    cat <<'EOF'
vit-base-patch16-224-in21k https://huggingface.co/google/vit-base-patch16-224-in21k/resolve/b4569560a39a0f1af58e3ddaf17facf20ab919b0/config.json gitblob 254071bbf72dd0fd535b61768d9cd87adcb776f4
vit-base-patch16-224-in21k https://huggingface.co/google/vit-base-patch16-224-in21k/resolve/b4569560a39a0f1af58e3ddaf17facf20ab919b0/model.safetensors sha256 fd4e1169c7aa6c2dbfa8a6448be13b35abc0ee256190857c90009d12c094619b
EOF
}

# fetch NAME DIR: every catalog line of NAME through datasets/fetch.sh's verified download
# (a file already present and matching is kept; a mismatch deletes the download and exits 1)
fetch() {
    lines=$(catalog | awk -v n="$1" '$1 == n')
    [ -n "$lines" ] || { echo "fetch_weights: unknown weights '$1' (try --list)" >&2; exit 2; }
    mkdir -p "$2"
    echo "$lines" | while read -r _ url algo sum; do
        sh "$DATASETS_FETCH" --download "$url" "$2/${url##*/}" "$algo" "$sum"
    done || exit 1
    say "$1: ready in $2"
}

case ${1:-} in
--list) catalog ;;
--gitblob) [ $# -eq 2 ] || { echo "usage: fetch_weights.sh --gitblob FILE" >&2; exit 2; }; exec sh "$DATASETS_FETCH" --gitblob "$2" ;;
-h | --help) sed -n '2,23p' "$0" ;;
'' | -*) sed -n '2,23p' "$0" >&2; exit 2 ;;
*) [ $# -eq 2 ] || { echo "usage: fetch_weights.sh NAME DIR (expected 2 arguments, found $#)" >&2; exit 2; }; fetch "$1" "$2" ;;
esac
