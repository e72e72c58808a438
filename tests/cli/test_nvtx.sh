#!/bin/sh
# test_nvtx.sh: impl/core/nvtx.h puts its ranges into the NVTX domain "flbench" (what
# `nsys profile --nvtx-domain-include=flbench` selects), with a colour per phase, and none into
# the default domain. A probe program built like the CUDA build (-DFL_WITH_CUDA, the toolkit's
# header-only nvtx3) pushes ranges; a tool linked into it through NVTX's static injection
# (InitializeInjectionNvtx2_fnptr, nvtx3/nvtxDetail/nvtxInit.h) records every call, as nsys
# would. Negative control: the probe also calls nvtxRangePushA itself, which the tool must see
# in the default domain. SKIPs where the toolkit's nvtx3 header is missing. And `make cuda`
# warns in one line when that header is missing (the Makefile's nvtx-check), and is silent
# when it is there.
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
CC=${CC:-cc}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
unset MAKEFLAGS MAKELEVEL MFLAGS
make -s --no-print-directory nvtx-check CUDA_HOME="$T/no-cuda" >"$T/warn" 2>&1
mkdir -p "$T/cuda/include/nvtx3" && : >"$T/cuda/include/nvtx3/nvToolsExt.h"
make -s --no-print-directory nvtx-check CUDA_HOME="$T/cuda" >"$T/quiet" 2>&1
if [ "$(wc -l <"$T/warn")" -eq 1 ] && grep -q "warning: .*nvToolsExt.h not found.*NVTX" "$T/warn" && [ ! -s "$T/quiet" ]; then
    echo "PASS nvtx_missing_header_warns ($(cat "$T/warn"))"
else
    echo "FAIL nvtx_missing_header_warns: without the header: '$(cat "$T/warn")' (want one warning line); with it: '$(cat "$T/quiet")' (want nothing)"
fi
if [ ! -f "$CUDA_HOME/include/nvtx3/nvToolsExt.h" ]; then
    echo "SKIP nvtx_domain: $CUDA_HOME/include/nvtx3/nvToolsExt.h not found (the CUDA toolkit's NVTX)"
    exit 0
fi
cat >"$T/probe.c" <<'C'
#include <stdio.h>
#include "impl/core/nvtx.h"
#ifndef FL_NVTX_PUSH
#error no NVTX
#endif
static nvtxDomainHandle_t the_domain = (nvtxDomainHandle_t)0x1234;
static nvtxDomainHandle_t create(const char* name) { printf("create %s\n", name); return the_domain; }
static int push_ex(nvtxDomainHandle_t d, const nvtxEventAttributes_t* a) {
    printf("push %s %s color=%d:%08x\n", d == the_domain ? "domain" : "other-domain",
           a->messageType == NVTX_MESSAGE_TYPE_ASCII ? a->message.ascii : "?", (int)a->colorType, (unsigned)a->color);
    return 0;
}
static int pop(nvtxDomainHandle_t d) { printf("pop %s\n", d == the_domain ? "domain" : "other-domain"); return 0; }
static int push_default(const char* m) { printf("push default %s\n", m); return 0; }
static int pop_default(void) { printf("pop default\n"); return 0; }
static int set(NvtxGetExportTableFunc_t get, NvtxCallbackModule mod, unsigned id, NvtxFunctionPointer f) {
    const NvtxExportTableCallbacks* cb = (const NvtxExportTableCallbacks*)get(NVTX_ETID_CALLBACKS);
    NvtxFunctionTable table = 0;
    unsigned size = 0;
    if (!cb || !cb->GetModuleFunctionTable(mod, &table, &size) || id >= size || !table[id]) return 0;
    *table[id] = f;
    return 1;
}
static int init(NvtxGetExportTableFunc_t get) {
    return set(get, NVTX_CB_MODULE_CORE2, NVTX_CBID_CORE2_DomainCreateA, (NvtxFunctionPointer)create) &&
           set(get, NVTX_CB_MODULE_CORE2, NVTX_CBID_CORE2_DomainRangePushEx, (NvtxFunctionPointer)push_ex) &&
           set(get, NVTX_CB_MODULE_CORE2, NVTX_CBID_CORE2_DomainRangePop, (NvtxFunctionPointer)pop) &&
           set(get, NVTX_CB_MODULE_CORE, NVTX_CBID_CORE_RangePushA, (NvtxFunctionPointer)push_default) &&
           set(get, NVTX_CB_MODULE_CORE, NVTX_CBID_CORE_RangePop, (NvtxFunctionPointer)pop_default);
}
NvtxInitializeInjectionNvtxFunc_t InitializeInjectionNvtx2_fnptr = init;
int main(void) {
    FL_NVTX_PUSH("step");
    FL_NVTX_PUSH("forward queries");
    FL_NVTX_POP();
    FL_NVTX_PUSH("LR gradient");
    FL_NVTX_POP();
    FL_NVTX_POP();
    FL_NVTX_PUSH("fmnist-mlp/lr-flops/b16/s0");
    FL_NVTX_POP();
    nvtxRangePushA("control");
    nvtxRangePop();
    return 0;
}
C
if ! $CC -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -DFL_WITH_CUDA -I. -I"$CUDA_HOME/include" -o "$T/probe" "$T/probe.c" -ldl >"$T/cc" 2>&1; then
    echo "FAIL nvtx_domain: the probe does not build with impl/core/nvtx.h:"
    sed 's/^/    /' "$T/cc"
    exit 0
fi
env -u NVTX_INJECTION64_PATH -u NVTX_INJECTION32_PATH "$T/probe" >"$T/log" 2>&1
color() { sed -n "s/^push domain $1 color=1:\(.*\)/\1/p" "$T/log"; }   # 1: NVTX_COLOR_ARGB
bad=""
grep -qx 'create flbench' "$T/log" || bad="$bad no domain 'flbench' created;"
[ "$(grep -c '^push domain ' "$T/log")" -eq 4 ] || bad="$bad expected 4 ranges in the domain, found $(grep -c '^push domain ' "$T/log");"
[ "$(grep -c '^pop domain$' "$T/log")" -eq 4 ] || bad="$bad expected 4 pops in the domain, found $(grep -c '^pop domain$' "$T/log");"
grep -q 'other-domain' "$T/log" && bad="$bad a range in another domain;"
s=$(color step); f=$(color 'forward queries'); l=$(color 'LR gradient')
if [ -z "$s" ] || [ -z "$f" ] || [ -z "$l" ] || [ "$s" = "$f" ] || [ "$s" = "$l" ] || [ "$f" = "$l" ]; then
    bad="$bad phases without their own ARGB colour (step '$s', forward queries '$f', LR gradient '$l');"
fi
# the control: the tool sees a range pushed into the default domain, exactly once
n=$(grep -c '^push default' "$T/log")
[ "$n" -eq 1 ] || bad="$bad expected 1 range in the default domain (the control), found $n;"
if [ -z "$bad" ]; then
    echo "PASS nvtx_domain (4 ranges in domain flbench; step $s, forward queries $f, LR gradient $l)"
else
    echo "FAIL nvtx_domain:$bad"
    sed 's/^/    /' "$T/log"
fi
