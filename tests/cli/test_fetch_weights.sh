#!/bin/sh
# test_fetch_weights.sh: scripts/fetch_weights.sh, the weight download of PROFILE=paper.
# Its built-in catalog pins every URL to a 40-hex revision (never resolve/main) and gives each
# file a checksum; bench/configs/paper_vitb16.conf fetches through it. With a catalog of
# fixture files (file:// URLs and their own checksums) it downloads and verifies; its git blob
# id equals `git hash-object` on known content. Negative controls: a wrong sha256 and a wrong
# git blob id are refused with one line naming the mismatch, exit 1, and leave no file (not
# even a .part); an unknown name and a missing DIR are usage errors (exit 2).
S=scripts/fetch_weights.sh
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

bad=""
sh "$S" --list >"$T/list" || bad="$bad --list failed;"
[ -s "$T/list" ] || bad="$bad empty catalog;"
while read -r name url algo sum; do
    echo "$url" | grep -Eq '/resolve/[0-9a-f]{40}/' || bad="$bad $name: $url is not pinned to a revision;"
    case $algo in
    sha256) echo "$sum" | grep -Eq '^[0-9a-f]{64}$' || bad="$bad $name: bad sha256 '$sum';" ;;
    gitblob) echo "$sum" | grep -Eq '^[0-9a-f]{40}$' || bad="$bad $name: bad git blob id '$sum';" ;;
    *) bad="$bad $name: algorithm '$algo';" ;;
    esac
done <"$T/list"
grep -q 'model.safetensors sha256 ' "$T/list" || bad="$bad model.safetensors has no sha256;"
grep -q 'sh scripts/fetch_weights.sh vit-base-patch16-224-in21k' bench/configs/paper_vitb16.conf ||
    bad="$bad paper_vitb16.conf does not fetch through the script;"
if [ -z "$bad" ]; then echo "PASS fetch_weights_catalog_pinned"; else echo "FAIL fetch_weights_catalog_pinned:$bad"; fi

# known answer: the git blob id of "hello\n" (git hash-object) is ce013625030ba8dba906f756967f9e9ca394464a
printf 'hello\n' >"$T/hello"
got=$(sh "$S" --gitblob "$T/hello")
if [ "$got" = ce013625030ba8dba906f756967f9e9ca394464a ]; then echo "PASS fetch_weights_gitblob_known"
else echo "FAIL fetch_weights_gitblob_known: got '$got'"; fi

mkdir -p "$T/src"
printf '{"model_type": "vit"}\n' >"$T/src/config.json"
head -c 5000 /dev/urandom >"$T/src/model.safetensors"
cfg_id=$(sh "$S" --gitblob "$T/src/config.json")
st_sum=$(sha256sum "$T/src/model.safetensors" | cut -d' ' -f1)
good() {
    echo "w file://$T/src/config.json gitblob $cfg_id"
    echo "w file://$T/src/model.safetensors sha256 ${1:-$st_sum}"
}
good >"$T/cat"
if FLBENCH_WEIGHTS_CATALOG="$T/cat" sh "$S" w "$T/out" 2>"$T/err" &&
    cmp -s "$T/src/config.json" "$T/out/config.json" && cmp -s "$T/src/model.safetensors" "$T/out/model.safetensors"; then
    echo "PASS fetch_weights_downloads_and_verifies"
else
    echo "FAIL fetch_weights_downloads_and_verifies"; sed 's/^/    /' "$T/err"
fi
# present and verified: nothing is copied again (the source is gone)
mv "$T/src/model.safetensors" "$T/model.keep"
if FLBENCH_WEIGHTS_CATALOG="$T/cat" sh "$S" w "$T/out" 2>"$T/err" && grep -q 'present, sha256 ok' "$T/err"; then
    echo "PASS fetch_weights_keeps_verified_files"
else
    echo "FAIL fetch_weights_keeps_verified_files"; sed 's/^/    /' "$T/err"
fi
mv "$T/model.keep" "$T/src/model.safetensors"

# wrong sha256 / wrong git blob id: refused with one line (expected vs found), exit 1,
# the bad file and its .part gone (files verified before it stay)
refused() {  # NAME CATALOG FILE
    FLBENCH_WEIGHTS_CATALOG="$2" sh "$S" w "$T/bad" 2>"$T/err"
    rc=$?
    if [ "$rc" -eq 1 ] && [ "$(grep -c 'mismatch: expected .*, found ' "$T/err")" -eq 1 ] &&
        [ ! -e "$T/bad/$3" ] && [ ! -e "$T/bad/$3.part" ]; then
        echo "PASS $1"
    else
        echo "FAIL $1: exit $rc (want 1), files: $(ls "$T/bad" 2>/dev/null | tr '\n' ' ')"; sed 's/^/    /' "$T/err"
    fi
    rm -rf "$T/bad"
}
good 0000000000000000000000000000000000000000000000000000000000000000 >"$T/cat_sha"
refused fetch_weights_refuses_bad_sha256 "$T/cat_sha" model.safetensors
{ echo "w file://$T/src/config.json gitblob 0000000000000000000000000000000000000000"; } >"$T/cat_blob"
refused fetch_weights_refuses_bad_gitblob "$T/cat_blob" config.json

sh "$S" no-such-model "$T/x" 2>"$T/err"; rc1=$?
sh "$S" vit-base-patch16-224-in21k 2>/dev/null; rc2=$?
if [ "$rc1" -eq 2 ] && grep -q "unknown weights 'no-such-model'" "$T/err" && [ "$rc2" -eq 2 ]; then
    echo "PASS fetch_weights_usage"
else
    echo "FAIL fetch_weights_usage: unknown name exit $rc1, missing DIR exit $rc2 (want 2 and 2)"
fi
