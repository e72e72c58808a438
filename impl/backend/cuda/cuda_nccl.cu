// cuda_nccl.cu: the fixed-order fold of dist.h on GPUs, through NCCL, one GPU per rank
// (docs/SCALING.md). The communicator is made on the first fold from rank 0's ncclUniqueId,
// broadcast over MPI. The fold is that of dist.c: each rank sends segment k of each of its
// slices' partials to rank k (grouped ncclSend / ncclRecv), rank k adds the S partials of its
// segment in slice order (out = p_0, out += p_s: the same float adds as one process), and
// ncclAllGather gives every rank the whole vector. Segments here are ceil(len / N) long, so
// that the all-gather's pieces are equal; the adds per element, and so the bits, are the same.
// Without MPI (no unique id to share) there is no NCCL path: fl_nccl_ready() is 0.
#include <stdio.h>
#include <stdlib.h>
#include "cuda_common.h"
#include "../dist.h"
#ifdef FL_WITH_MPI
#include <mpi.h>
#include <nccl.h>

static ncclComm_t g_comm;
static int g_state;  // 0 not tried, 1 ready, -1 failed (the fold then goes through the host)

// Every NCCL call: on failure, one line naming the rank and the call, then the job ends.
#define FL_NCCL_CHECK(call)                                                                     \
    do {                                                                                        \
        ncclResult_t r_ = (call);                                                               \
        if (r_ != ncclSuccess) {                                                                \
            fprintf(stderr, "flbench: %s:%d: rank %d: NCCL error %s in %s\n", __FILE__, __LINE__, \
                    fl_dist_world()->rank, ncclGetErrorString(r_), #call);                      \
            fl_dist_abort(1);                                                                   \
        }                                                                                       \
    } while (0)

extern "C" int fl_nccl_ready(void) {
    fl_dist* d = fl_dist_world();
    if (g_state) return g_state == 1;
    if (!d->mpi || d->size < 2) {
        g_state = -1;
        return 0;
    }
    ncclUniqueId id;
    if (d->rank == 0) FL_NCCL_CHECK(ncclGetUniqueId(&id));
    fl_dist_bcast(d, &id, sizeof id, 0);
    FL_NCCL_CHECK(ncclCommInitRank(&g_comm, d->size, id, d->rank));
    g_state = 1;
    return 1;
}

extern "C" void fl_nccl_fold(fl_dist* d, const fl_ops* ops, float* const* parts, int S, long len, float* out) {
    int N = d->size, me = d->rank;
    int own = fl_dist_slice_lo(S, N, me + 1) - fl_dist_slice_lo(S, N, me);
    long L = (len + N - 1) / N;  // segment length, the last one padded
    float* recv = (float*)ops->alloc((size_t)S * L * sizeof(float));   // (S, L): segment `me` of every slice
    float* seg = (float*)ops->alloc((size_t)L * sizeof(float));
    float* all = (float*)ops->alloc((size_t)N * L * sizeof(float));    // (N, L)
    ops->zero(recv, (size_t)S * L * sizeof(float));
    double t0 = MPI_Wtime();
    FL_NCCL_CHECK(ncclGroupStart());
    for (int k = 0; k < N; k++) {
        long k0 = (long)k * L, klen = k0 >= len ? 0 : (k0 + L <= len ? L : len - k0);
        for (int j = 0; j < own; j++)
            if (klen) FL_NCCL_CHECK(ncclSend(parts[j] + k0, (size_t)klen, ncclFloat, k, g_comm, 0));
        long mylen = (long)me * L >= len ? 0 : ((long)me * L + L <= len ? L : len - (long)me * L);
        int s0 = fl_dist_slice_lo(S, N, k), s1 = fl_dist_slice_lo(S, N, k + 1);
        for (int s = s0; s < s1; s++)
            if (mylen) FL_NCCL_CHECK(ncclRecv(recv + (long)s * L, (size_t)mylen, ncclFloat, k, g_comm, 0));
        if (klen) d->bytes_sent += k == me ? 0.0 : 4.0 * (double)own * klen;
    }
    FL_NCCL_CHECK(ncclGroupEnd());
    ops->copy(seg, recv, (size_t)L * sizeof(float));
    for (int s = 1; s < S; s++) ops->axpy(seg, 1.0f, recv + (long)s * L, L);
    FL_NCCL_CHECK(ncclAllGather(seg, all, (size_t)L, ncclFloat, g_comm, 0));
    d->bytes_sent += 4.0 * (double)L * (N - 1);
    ops->copy(out, all, (size_t)len * sizeof(float));
    ops->sync();
    d->t_comm += MPI_Wtime() - t0;
    ops->free(recv);
    ops->free(seg);
    ops->free(all);
}
#else
extern "C" int fl_nccl_ready(void) { return 0; }
extern "C" void fl_nccl_fold(fl_dist* d, const fl_ops* ops, float* const* parts, int S, long len, float* out) {
    (void)d; (void)ops; (void)parts; (void)S; (void)len; (void)out;
}
#endif
