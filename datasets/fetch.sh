#!/bin/sh
# fetch.sh: downloads one dataset of flbench from its official source, verifies the checksum
# its publisher gives (md5 where that is what is published), and unpacks it where the readers
# look (datasets/listing.c). ImageNet needs a login: for it this prints which files to place
# where. Also `flbench data fetch NAME`.
#
#   datasets/fetch.sh NAME                 NAME: fashion-mnist cifar10 cifar100 eurosat
#                                                caltech101 food101 flowers102 imagenet
#   datasets/fetch.sh --list               names, URLs and checksums
#   datasets/fetch.sh --verify FILE ALGO SUM    checksum check only (ALGO md5, sha256 or gitblob)
#   datasets/fetch.sh --download URL FILE ALGO SUM   one verified download (scripts/fetch_weights.sh)
#   datasets/fetch.sh --gitblob FILE            git's blob id of FILE (what `git hash-object` prints;
#                                               how the Hugging Face Hub names a small file)
#   datasets/fetch.sh --unpack FILE DEST        unpack only (.tar.gz .tgz .tar .zip)
#
# Environment:
#   FLBENCH_DATA          data root (default datasets/data); NAME goes to $FLBENCH_DATA/NAME
#   FLBENCH_FETCH_MIRROR  a folder or URL prefix that replaces each URL's server and path
#                         (the file name is kept): for mirrors.
#   FLBENCH_FETCH_CATALOG a file of "NAME URL ALGO SUM" lines replacing the built-in catalog
#                         (the tests serve fixture archives with their own checksums this way).
#
# Exit status: 0 done (or already present), 1 failed (download, checksum, unpack), 2 bad usage.
set -eu

DATA=${FLBENCH_DATA:-datasets/data}

say() { printf 'fetch: %s\n' "$*" >&2; }
die() { printf 'fetch: %s\n' "$*" >&2; exit 1; }

# Checksums, as published:
#  - CIFAR: https://www.cs.toronto.edu/~kriz/cifar.html (md5 column of the download table)
#  - Fashion-MNIST, EuroSAT (Hugging Face mirror of the DFKI release), Food-101, Flowers102:
#    the md5 values torchvision pins for these exact files (torchvision/datasets/*.py)
#  - Caltech101: the md5 CaltechDATA lists for caltech-101.zip (record mzrjq-6wc02)
catalog() {
    if [ -n "${FLBENCH_FETCH_CATALOG:-}" ]; then cat "$FLBENCH_FETCH_CATALOG"; return; fi
    cat <<'EOF'
fashion-mnist http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz md5 8d4fb7e6c68d591d4c3dfef9ec88bf0d
fashion-mnist http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz md5 25c81989df183df01b3e8a0aad5dffbe
fashion-mnist http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz md5 bef4ecab320f06d8554ea6380940ec79
fashion-mnist http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz md5 bb300cfdad3c16e7a12a480ee83cd310
cifar10 https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz md5 c32a1d4ab5d03f1284b67883e8d87530
cifar100 https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz md5 03b5dce01913d631647c71ecec9e9cb8
eurosat https://huggingface.co/datasets/torchgeo/eurosat/resolve/c877bcd43f099cd0196738f714544e355477f3fd/EuroSAT.zip md5 c8fa014336c82ac7804f0398fcb19387
caltech101 https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip md5 3138e1922a9193bfa496528edbbc45d0
food101 http://data.vision.ee.ethz.ch/cvl/food-101.tar.gz md5 85eeb15f3717b99a5da872d97d918f87
flowers102 https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz md5 52808999861908f626f3c1f4e79d11fa
flowers102 https://www.robots.ox.ac.uk/~vgg/data/flowers/102/imagelabels.mat md5 e0620be6f572b9609742df49c70aed4d
flowers102 https://www.robots.ox.ac.uk/~vgg/data/flowers/102/setid.mat md5 a5357ecc9cb78c4bef273ce3793fc85c
EOF
}

# CoOp's fixed splits (Google Drive; optional, used by default when present).
coop_hint() {
    case $1 in
    eurosat) f=split_zhou_EuroSAT.json; id=1Ip7yaCWFi0eaOFUGga0lUdVi_DDQth1o ;;
    caltech101) f=split_zhou_Caltech101.json; id=1hyarUivQE36mY6jSomru6Fjd-JzwcCzN ;;
    food101) f=split_zhou_Food101.json; id=1QK0tGi096I0Ba6kggatX1ee6dJFIcEJl ;;
    flowers102) f=split_zhou_OxfordFlowers.json; id=1Pp0sRXzZFZq15zVOzKjKBu4A9i01nozT ;;
    *) return 0 ;;
    esac
    say "optional: CoOp's split file $f (https://drive.google.com/file/d/$id) placed in $DATA/$1/ is used by default"
}

# gitblob FILE: sha1 of "blob LEN\0" followed by the content
gitblob() {
    size=$(wc -c <"$1" | tr -d ' ')
    { printf 'blob %s\000' "$size"; cat "$1"; } | sha1sum | cut -d' ' -f1
}

# verify FILE ALGO SUM: exits 1 with both values on a mismatch.
verify() {
    [ -f "$1" ] || die "$1: no such file"
    case $2 in
    md5) found=$(md5sum "$1" | cut -d' ' -f1) ;;
    sha256) found=$(sha256sum "$1" | cut -d' ' -f1) ;;
    gitblob) found=$(gitblob "$1") ;;
    *) echo "fetch: --verify: unknown algorithm '$2' (md5, sha256 or gitblob)" >&2; exit 2 ;;
    esac
    want=$(printf '%s' "$3" | tr 'A-F' 'a-f')
    [ "$found" = "$want" ] || die "$1: $2 mismatch: expected $want, found $found"
    say "$1: $2 ok"
}

# Refuses archive members with absolute paths or '..' components.
check_members() {
    if grep -E '^/|(^|/)\.\.(/|$)' >/dev/null; then die "$1: unsafe member path (absolute or ..)"; fi
}

# unpack FILE DEST
unpack() {
    mkdir -p "$2"
    case $1 in
    *.tar.gz | *.tgz)
        tar -tzf "$1" >/dev/null 2>&1 || die "$1: not a readable .tar.gz"
        tar -tzf "$1" | check_members "$1"
        tar -xzf "$1" -C "$2" || die "$1: unpack failed" ;;
    *.tar)
        tar -tf "$1" >/dev/null 2>&1 || die "$1: not a readable .tar"
        tar -tf "$1" | check_members "$1"
        tar -xf "$1" -C "$2" || die "$1: unpack failed" ;;
    *.zip)
        unzip -Z1 "$1" >/dev/null 2>&1 || die "$1: not a readable .zip"
        unzip -Z1 "$1" | check_members "$1"
        unzip -q -o "$1" -d "$2" || die "$1: unpack failed" ;;
    *) die "$1: unknown archive type" ;;
    esac
    say "$1: unpacked into $2"
}

# download URL DEST_FILE ALGO SUM: skips a file that is already there and verifies.
download() {
    url=$1
    if [ -n "${FLBENCH_FETCH_MIRROR:-}" ]; then url="${FLBENCH_FETCH_MIRROR%/}/${1##*/}"; fi
    if [ -f "$2" ] && (verify "$2" "$3" "$4") 2>/dev/null; then
        say "$2: present, $3 ok"
        return 0
    fi
    mkdir -p "$(dirname "$2")"
    say "downloading $url"
    case $url in
    /* | ./* | ../*) cp "$url" "$2.part" || die "$url: cannot copy" ;;
    file://*) cp "${url#file://}" "$2.part" || die "$url: cannot copy" ;;
    *)
        if command -v curl >/dev/null 2>&1; then
            curl -fL --retry 3 -o "$2.part" "$url" || die "$url: download failed"
        elif command -v wget >/dev/null 2>&1; then
            wget -q -O "$2.part" "$url" || die "$url: download failed"
        else
            die "neither curl nor wget is installed"
        fi ;;
    esac
    if ! (verify "$2.part" "$3" "$4"); then
        rm -f "$2.part"
        exit 1
    fi
    mv "$2.part" "$2"
}

# fetch NAME: every catalog line of NAME, then the dataset's unpack step.
fetch() {
    name=$1
    dest=$DATA/$name
    dl=$DATA/downloads
    lines=$(catalog | awk -v n="$name" '$1 == n')
    [ -n "$lines" ] || { echo "fetch: unknown dataset '$name' (try --list)" >&2; exit 2; }
    echo "$lines" | while read -r _ url algo sum; do
        download "$url" "$dl/${url##*/}" "$algo" "$sum"
    done || exit 1
    case $name in
    fashion-mnist)
        mkdir -p "$dest"
        for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
            cp "$dl/$f" "$dest/$f"
        done ;;
    cifar10) unpack "$dl/cifar-10-binary.tar.gz" "$dest" ;;
    cifar100) unpack "$dl/cifar-100-binary.tar.gz" "$dest" ;;
    eurosat) unpack "$dl/EuroSAT.zip" "$dest" ;;
    caltech101)
        tmp=$dest/.unpack
        unpack "$dl/caltech-101.zip" "$tmp"
        inner=$(find "$tmp" -name 101_ObjectCategories.tar.gz | head -n 1)
        [ -n "$inner" ] || die "caltech-101.zip: no 101_ObjectCategories.tar.gz inside"
        unpack "$inner" "$dest"
        rm -rf "$tmp" ;;
    food101) unpack "$dl/food-101.tar.gz" "$dest" ;;
    flowers102)
        unpack "$dl/102flowers.tgz" "$dest"
        cp "$dl/imagelabels.mat" "$dl/setid.mat" "$dest/" ;;
    esac
    coop_hint "$name"
    say "$name: ready in $dest"
}

imagenet() {
    dest=$DATA/imagenet
    cat <<EOF
ImageNet (ILSVRC2012) needs an account at https://image-net.org and cannot be downloaded here.
Place the files like this (either val/ layout works):

  $dest/train/n01440764/n01440764_10026.JPEG ...     1000 class folders (ILSVRC2012_img_train.tar,
                                                     then each nXXXXXXXX.tar unpacked into its folder)
  $dest/val/ILSVRC2012_val_00000001.JPEG ...         50000 images, flat (ILSVRC2012_img_val.tar)
  $dest/ILSVRC2012_devkit_t12/data/meta.mat          from ILSVRC2012_devkit_t12.tar.gz
  $dest/ILSVRC2012_devkit_t12/data/ILSVRC2012_validation_ground_truth.txt
or
  $dest/val/n01440764/ILSVRC2012_val_00000293.JPEG   val/ already sorted into class folders
or (Kaggle's release)
  $dest/train/..., $dest/val/... flat, plus $dest/LOC_val_solution.csv and LOC_synset_mapping.txt

Readable class names: CoOp's classnames.txt in $dest/ (optional).
Checksums of the official tars (md5, as torchvision pins them):
  ILSVRC2012_img_train.tar       1d675b47d978889d74fa0da5fadfb00e
  ILSVRC2012_img_val.tar         29b22e2961454d5413ddabcf34fc5622
  ILSVRC2012_devkit_t12.tar.gz   fa75699e90414af021442c21a62c3abf
  check with: datasets/fetch.sh --verify FILE md5 SUM
EOF
    if [ -d "$dest/train" ] && [ -d "$dest/val" ]; then say "imagenet: train/ and val/ present in $dest"; return 0; fi
    return 1
}

[ $# -ge 1 ] || { sed -n '2,23p' "$0" >&2; exit 2; }
case $1 in
--list) catalog ;;
--verify) [ $# -eq 4 ] || { echo "usage: fetch.sh --verify FILE md5|sha256 SUM" >&2; exit 2; }; verify "$2" "$3" "$4" ;;
--download) [ $# -eq 5 ] || { echo "usage: fetch.sh --download URL FILE md5|sha256|gitblob SUM" >&2; exit 2; }; download "$2" "$3" "$4" "$5" ;;
--gitblob) [ $# -eq 2 ] && [ -f "$2" ] || { echo "usage: fetch.sh --gitblob FILE" >&2; exit 2; }; gitblob "$2" ;;
--unpack) [ $# -eq 3 ] || { echo "usage: fetch.sh --unpack FILE DEST" >&2; exit 2; }; unpack "$2" "$3" ;;
imagenet) imagenet ;;
-h | --help) sed -n '2,23p' "$0" ;;
*) fetch "$1" ;;
esac
