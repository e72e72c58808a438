// nvtx.h: NVTX ranges around the phases of a training step (step, clean pass, allocation,
// forward queries, LR gradient, update, evaluation), so that
//   nsys profile --trace=cuda,nvtx build/flbench train --backend cuda ...
// shows them on the timeline. With FL_WITH_CUDA the header-only NVTX3 of the CUDA toolkit is
// used (nothing to link; the ranges cost a few nanoseconds when no profiler is attached);
// without CUDA, or without the header, the macros compile to nothing.
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
#define FL_NVTX_PUSH(name) ((void)nvtxRangePushA(name))
#define FL_NVTX_POP() ((void)nvtxRangePop())
#endif
#endif

#ifndef FL_NVTX_PUSH
#define FL_NVTX_PUSH(name) ((void)0)
#define FL_NVTX_POP() ((void)0)
#endif
