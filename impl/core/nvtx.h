// nvtx.h: NVTX ranges around the phases of a training step (step, clean pass, allocation,
// forward queries, LR gradient, BP gradient, update, evaluation) and the cells of a sweep, in
// their own NVTX domain, "flbench", with one colour per phase, so that
//   nsys profile --trace=cuda,nvtx --nvtx-domain-include=flbench build/flbench train --backend cuda ...
// shows them, and only them, on the timeline (README, "GPUs"). With FL_WITH_CUDA the
// header-only NVTX3 of the CUDA toolkit is used (nothing to link; a range costs a few
// nanoseconds when no profiler is attached); without CUDA, or without the header, the macros
// compile to nothing (`make cuda` says so when the header is missing: Makefile).
// Ranges nest and must be closed in the same function: FL_NVTX_PUSH("name") ... FL_NVTX_POP().
#pragma once

#if defined(FL_WITH_CUDA) && defined(__has_include)
#if __has_include(<nvtx3/nvToolsExt.h>)
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wpedantic"
#endif
#include <nvtx3/nvToolsExt.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#include <stdint.h>
#include <string.h>

// The domain, created on first use (by the thread that runs the step: a second creation by
// another thread would return the same domain, registered by name).
static inline nvtxDomainHandle_t fl_nvtx_domain(void) {
    static nvtxDomainHandle_t domain;
    if (!domain) domain = nvtxDomainCreateA("flbench");
    return domain;
}

// ARGB colour of a phase; a sweep's cell (named by its key) and anything else: grey.
static inline uint32_t fl_nvtx_color(const char* name) {
    static const struct { const char* name; uint32_t argb; } phases[] = {
        {"step", 0xFF4C72B0u},            {"clean pass", 0xFF55A868u}, {"allocation", 0xFFC44E52u},
        {"forward queries", 0xFFDD8452u}, {"LR gradient", 0xFF8172B3u}, {"BP gradient", 0xFF937860u},
        {"update", 0xFFDA8BC3u},          {"evaluation", 0xFFCCB974u},
    };
    for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++)
        if (!strcmp(name, phases[i].name)) return phases[i].argb;
    return 0xFF8C8C8Cu;
}

static inline void fl_nvtx_push(const char* name) {
    nvtxEventAttributes_t a;
    memset(&a, 0, sizeof a);
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.colorType = NVTX_COLOR_ARGB;
    a.color = fl_nvtx_color(name);
    a.messageType = NVTX_MESSAGE_TYPE_ASCII;
    a.message.ascii = name;
    (void)nvtxDomainRangePushEx(fl_nvtx_domain(), &a);
}

#define FL_NVTX_PUSH(name) fl_nvtx_push(name)
#define FL_NVTX_POP() ((void)nvtxDomainRangePop(fl_nvtx_domain()))
#endif
#endif

#ifndef FL_NVTX_PUSH
#define FL_NVTX_PUSH(name) ((void)0)
#define FL_NVTX_POP() ((void)0)
#endif
