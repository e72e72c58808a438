#!/bin/sh
# test_check_layers.sh: ci/check_layers passes on the tree, and fails on a copy of it with an
# include that crosses a floor upwards (core including the ops table, a dataset reader
# including a model), with a sideways one a floor forbids, and with two headers that include
# each other. Each failure must name the offending file and line.
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
if ! command -v python3 >/dev/null; then echo "SKIP check_layers: no python3"; exit 0; fi

if out=$(ci/check_layers 2>&1); then pass check_layers_tree; else fail check_layers_tree "$out"; fi

# fresh copy of the source folders for each negative case
copy() { rm -rf "$T/r"; mkdir -p "$T/r"; cp -r bench datasets impl "$T/r/"; }
# expect_fail NAME PATTERN: check_layers on the copy must exit 1 and print PATTERN
expect_fail() {
    out=$(ci/check_layers "$T/r" 2>&1); rc=$?
    if [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -q "$2"; then pass "$1"
    else fail "$1" "exit $rc, output: $(printf '%s' "$out" | tail -3 | tr '\n' ' ')"; fi
}

copy; sed -i '1a #include "../backend/ops.h"' "$T/r/impl/core/common.c"
expect_fail check_layers_rejects_core_up 'impl/core/common.c:2: includes impl/backend/ops.h, floor 1 above its own floor 0'

copy; sed -i '1a #include "../impl/models/model.h"' "$T/r/datasets/cifar.c"
expect_fail check_layers_rejects_dataset_knowing_model 'datasets/cifar.c:2: includes impl/models/model.h'

copy; sed -i '1a #include "../../bench/run/train.h"' "$T/r/impl/estimators/lr.c"
expect_fail check_layers_rejects_engine_including_harness 'impl/estimators/lr.c:2: includes bench/run/train.h, floor 3 above'

copy; sed -i '1a #include "../models/model.h"' "$T/r/impl/allocators/neyman.c"
expect_fail check_layers_rejects_allocator_knowing_model 'impl/allocators/neyman.c:2: includes impl/models/model.h: impl/allocators/ may not include impl/models/'

copy; printf '#pragma once\n#include "b.h"\n' >"$T/r/impl/core/a.h"; printf '#pragma once\n#include "a.h"\n' >"$T/r/impl/core/b.h"
expect_fail check_layers_rejects_cycle 'include cycle: impl/core/a.h -> impl/core/b.h -> impl/core/a.h'
