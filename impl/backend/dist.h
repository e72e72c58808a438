// dist.h: the processes of one data-parallel run (docs/SCALING.md). A run started by a launcher
// (mpirun, srun) is one rank of a world of N; every rank holds the whole batch and takes a
// contiguous run of whole slices of it (fl_dist_own_slices); the estimators' partial results
// per slice are combined by fl_dist_fold in slice order, so that a run gives the same numbers
// at any world size N <= S for the same number of slices S. MPI moves host arrays; on CUDA,
// NCCL moves the gradient (cuda/cuda_nccl.cu). A build without MPI, or a process started
// without a launcher, is a world of one, and every call here is then local.
#pragma once
#include <stddef.h>
#include "ops.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fl_dist {
    int rank, size;          // this process and the world (1 without a launcher)
    int local_rank;          // rank on this node: the GPU it takes on CUDA
    int mpi;                 // 1: MPI was initialised here
    double t_comm;           // seconds spent communicating, since the last fl_dist_reset
    double bytes_sent;       // bytes this rank sent, since the last fl_dist_reset
    double bytes_reduced;    // bytes of the vectors reduced (each counted once), same span
} fl_dist;

// The world, initialised on the first call: MPI only when a launcher started this process
// (OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK in the environment) and the build has MPI.
fl_dist* fl_dist_world(void);
// "MPI" or "no MPI": what this build was made with (flbench --version, make's last line).
const char* fl_dist_build(void);
void fl_dist_reset(fl_dist* d);
void fl_dist_finalize(void);
// Ends the whole job with `code` (MPI_Abort), after this rank printed why; exit(code) alone.
void fl_dist_abort(int code);
void fl_dist_barrier(fl_dist* d);
// Broadcast of `bytes` from rank `root`.
void fl_dist_bcast(fl_dist* d, void* buf, size_t bytes, int root);
// v (n) summed over the ranks, in place. For counts (exact in a double below 2^53).
void fl_dist_sum(fl_dist* d, double* v, int n);
// The largest v over the ranks (agreement on an error: 0 everywhere, or some rank's code).
int fl_dist_max(fl_dist* d, int v);

// Slices: slice s of a batch of B data is [fl_slice_begin(B, S, s), fl_slice_begin(B, S, s+1)).
// Rank r of N owns slices [fl_dist_slice_lo(S, N, r), fl_dist_slice_lo(S, N, r + 1)).
static inline int fl_slice_begin(int B, int S, int s) { return (int)((long)B * s / S); }
static inline int fl_dist_slice_lo(int S, int N, int r) { return (int)((long)S * r / N); }

// Per-datum host arrays, in place: every rank fills the data of its own slices of a batch of B
// (elem bytes each) and gets everyone's.
void fl_dist_gather_data(fl_dist* d, void* buf, size_t elem, int B, int S);
// The same for any split: rank r fills items [first[r], first[r+1]) (first: size + 1 entries).
void fl_dist_gather_ranges(fl_dist* d, void* buf, size_t elem, const long* first);

// The fixed-order sum of S partial vectors of `len` floats, one per slice, into out (len) on
// every rank: out = p_0, then out += p_s for s = 1..S-1, element by element, exactly as one
// process adds them. parts[j] is this rank's slice fl_dist_slice_lo(S, N, rank) + j. Vectors in
// backend memory when on_device (NCCL on CUDA), host memory otherwise. out may be parts[0].
// Cost: a reduce-scatter that moves every slice's segment (S/N times a ring all-reduce's first
// half) and an all-gather of the folded segments; at S = N the bytes of a ring all-reduce.
void fl_dist_fold(fl_dist* d, const fl_ops* ops, int on_device, float* const* parts, int S, long len, float* out);

// The CUDA backend's NCCL communicator and fold (cuda/cuda_nccl.cu), NULL-safe stubs elsewhere.
int fl_nccl_ready(void);
void fl_nccl_fold(fl_dist* d, const fl_ops* ops, float* const* parts, int S, long len, float* out);

#ifdef __cplusplus
}
#endif
