// dist.c: the world of a data-parallel run over MPI (dist.h, docs/SCALING.md): start-up from a
// launcher's environment, per-datum gathers, sums of counts, and the fixed-order fold of the
// per-slice partial results. Without FL_WITH_MPI, or without a launcher, a world of one.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dist.h"
#ifdef FL_WITH_MPI
#include <mpi.h>
#endif

static fl_dist world = {.rank = 0, .size = 1};
static int world_ready;

static int env_int(const char* name, int fallback) {
    const char* v = getenv(name);
    return v && *v ? atoi(v) : fallback;
}

// A launcher started this process: Open MPI's mpirun, or srun with PMIx or PMI-2.
static int launched(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

#ifdef FL_WITH_MPI
// MPI_Wtime around each call: the run's communication time.
#define TIMED(d, call)                     \
    do {                                   \
        double t0_ = MPI_Wtime();          \
        int rc_ = (call);                  \
        (d)->t_comm += MPI_Wtime() - t0_;  \
        if (rc_ != MPI_SUCCESS) mpi_fail(rc_, #call, __FILE__, __LINE__); \
    } while (0)

static void mpi_fail(int rc, const char* what, const char* file, int line) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    fprintf(stderr, "flbench: %s:%d: rank %d of %d: %s failed: %s\n", file, line, world.rank, world.size, what, msg);
    MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}
#endif

fl_dist* fl_dist_world(void) {
    if (world_ready) return &world;
    world_ready = 1;
    if (!launched()) return &world;
#ifdef FL_WITH_MPI
    int provided = 0;
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "flbench: rank %d: MPI_Init_thread failed (started by a launcher: check its environment)\n",
                env_int("OMPI_COMM_WORLD_RANK", env_int("PMIX_RANK", env_int("PMI_RANK", -1))));
        exit(1);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world.size);
    world.local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", env_int("SLURM_LOCALID", env_int("MPI_LOCALRANKID", 0)));
    world.mpi = 1;
#else
    // a launcher started a build without MPI: every process would train alone and write the
    // same rows; one line, then only rank 0 of the launcher's numbering goes on
    if (env_int("OMPI_COMM_WORLD_SIZE", 1) > 1 || env_int("SLURM_NTASKS", 1) > 1) {
        fprintf(stderr, "flbench: started by a launcher with %d tasks, but built without MPI (make deps, then make; "
                        "docs/SCALING.md)\n", env_int("OMPI_COMM_WORLD_SIZE", env_int("SLURM_NTASKS", 1)));
        exit(2);
    }
#endif
    return &world;
}

const char* fl_dist_build(void) {
#ifdef FL_WITH_MPI
    return "MPI";
#else
    return "no MPI";
#endif
}

void fl_dist_reset(fl_dist* d) {
    d->t_comm = 0.0;
    d->bytes_sent = 0.0;
    d->bytes_reduced = 0.0;
}

void fl_dist_finalize(void) {
#ifdef FL_WITH_MPI
    if (world.mpi) {
        MPI_Finalize();
        world.mpi = 0;
    }
#endif
}

void fl_dist_abort(int code) {
#ifdef FL_WITH_MPI
    if (world.mpi && world.size > 1) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
#endif
    exit(code);
}

void fl_dist_barrier(fl_dist* d) {
#ifdef FL_WITH_MPI
    if (d->size > 1) TIMED(d, MPI_Barrier(MPI_COMM_WORLD));
#endif
}

void fl_dist_bcast(fl_dist* d, void* buf, size_t bytes, int root) {
#ifdef FL_WITH_MPI
    if (d->size > 1) {
        TIMED(d, MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD));
        if (d->rank == root) d->bytes_sent += (double)bytes;
    }
#endif
}

void fl_dist_sum(fl_dist* d, double* v, int n) {
#ifdef FL_WITH_MPI
    if (d->size > 1) {
        TIMED(d, MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
        d->bytes_sent += 8.0 * n;
    }
#endif
}

int fl_dist_max(fl_dist* d, int v) {
#ifdef FL_WITH_MPI
    if (d->size > 1) TIMED(d, MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
#endif
    return v;
}

void fl_dist_gather_ranges(fl_dist* d, void* buf, size_t elem, const long* first) {
#ifdef FL_WITH_MPI
    if (d->size == 1) return;
    int N = d->size;
    int* counts = malloc((size_t)N * sizeof(int));
    int* displs = malloc((size_t)N * sizeof(int));
    if (!counts || !displs) { fprintf(stderr, "flbench: %s:%d: out of host memory\n", __FILE__, __LINE__); exit(1); }
    for (int r = 0; r < N; r++) {
        counts[r] = (int)((first[r + 1] - first[r]) * (long)elem);
        displs[r] = (int)(first[r] * (long)elem);
    }
    d->bytes_sent += (double)counts[d->rank] * (N - 1);
    TIMED(d, MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_BYTE, buf, counts, displs, MPI_BYTE, MPI_COMM_WORLD));
    free(counts);
    free(displs);
#else
    (void)d; (void)buf; (void)elem; (void)first;
#endif
}

void fl_dist_gather_data(fl_dist* d, void* buf, size_t elem, int B, int S) {
    if (d->size == 1) return;
    long first[d->size + 1];
    for (int r = 0; r <= d->size; r++) first[r] = fl_slice_begin(B, S, fl_dist_slice_lo(S, d->size, r));
    fl_dist_gather_ranges(d, buf, elem, first);
}

// The one-process fold: out = p_0, out += p_s (the order every world size reproduces).
static void fold_local(const fl_ops* ops, int on_device, float* const* parts, int S, long len, float* out) {
    if (on_device) {
        if (out != parts[0]) ops->copy(out, parts[0], (size_t)len * sizeof(float));
        for (int s = 1; s < S; s++) ops->axpy(out, 1.0f, parts[s], len);
        return;
    }
    if (out != parts[0]) memcpy(out, parts[0], (size_t)len * sizeof(float));
    for (int s = 1; s < S; s++)
        for (long j = 0; j < len; j++) out[j] += parts[s][j];
}

#ifdef FL_WITH_MPI
static void* host_alloc(size_t bytes) {
    void* p = calloc(1, bytes ? bytes : 1);
    if (!p) { fprintf(stderr, "flbench: %s:%d: out of host memory (%zu bytes)\n", __FILE__, __LINE__, bytes); exit(1); }
    return p;
}

// Segment k of a vector of len over N ranks: [len k / N, len (k+1) / N).
static long seg_begin(long len, int N, int k) { return len * k / N; }

// Host vectors over MPI: each rank sends segment k of each of its slices to rank k, which
// receives the S slices' segment k in slice order (sources in rank order, each rank's slices in
// order), folds it as one process would, and the folded segments are gathered everywhere.
static void fold_mpi_host(fl_dist* d, float* const* parts, int S, long len, float* out) {
    int N = d->size, me = d->rank;
    int own = fl_dist_slice_lo(S, N, me + 1) - fl_dist_slice_lo(S, N, me);
    int *scount = host_alloc((size_t)N * sizeof(int)), *sdispl = host_alloc((size_t)N * sizeof(int));
    int *rcount = host_alloc((size_t)N * sizeof(int)), *rdispl = host_alloc((size_t)N * sizeof(int));
    long my0 = seg_begin(len, N, me), mylen = seg_begin(len, N, me + 1) - my0;
    float* sendbuf = host_alloc((size_t)own * len * sizeof(float));
    float* recvbuf = host_alloc((size_t)S * mylen * sizeof(float));
    long at = 0;
    for (int k = 0; k < N; k++) {
        long k0 = seg_begin(len, N, k), klen = seg_begin(len, N, k + 1) - k0;
        sdispl[k] = (int)at;
        for (int j = 0; j < own; j++, at += klen) memcpy(sendbuf + at, parts[j] + k0, (size_t)klen * sizeof(float));
        scount[k] = (int)(own * klen);
        int src_own = fl_dist_slice_lo(S, N, k + 1) - fl_dist_slice_lo(S, N, k);
        rcount[k] = (int)(src_own * mylen);
        rdispl[k] = (int)((long)fl_dist_slice_lo(S, N, k) * mylen);
    }
    TIMED(d, MPI_Alltoallv(sendbuf, scount, sdispl, MPI_FLOAT, recvbuf, rcount, rdispl, MPI_FLOAT, MPI_COMM_WORLD));
    d->bytes_sent += 4.0 * (double)(own * (len - mylen));
    // the fold of segment `me`, slice by slice
    float* seg = host_alloc((size_t)(mylen > 0 ? mylen : 1) * sizeof(float));
    memcpy(seg, recvbuf, (size_t)mylen * sizeof(float));
    for (int s = 1; s < S; s++)
        for (long j = 0; j < mylen; j++) seg[j] += recvbuf[(long)s * mylen + j];
    for (int k = 0; k < N; k++) {
        rcount[k] = (int)(seg_begin(len, N, k + 1) - seg_begin(len, N, k));
        rdispl[k] = (int)seg_begin(len, N, k);
    }
    TIMED(d, MPI_Allgatherv(seg, (int)mylen, MPI_FLOAT, out, rcount, rdispl, MPI_FLOAT, MPI_COMM_WORLD));
    d->bytes_sent += 4.0 * (double)mylen * (N - 1);
    free(seg); free(sendbuf); free(recvbuf);
    free(scount); free(sdispl); free(rcount); free(rdispl);
}
#endif

void fl_dist_fold(fl_dist* d, const fl_ops* ops, int on_device, float* const* parts, int S, long len, float* out) {
    d->bytes_reduced += 4.0 * (double)len;
    if (d->size == 1) {
        fold_local(ops, on_device, parts, S, len, out);
        return;
    }
#ifdef FL_WITH_MPI
    if (on_device && strcmp(ops->name, "cpu")) {
        if (fl_nccl_ready()) {
            fl_nccl_fold(d, ops, parts, S, len, out);
            return;
        }
        // no NCCL: through host memory
        int own = fl_dist_slice_lo(S, d->size, d->rank + 1) - fl_dist_slice_lo(S, d->size, d->rank);
        float** h = host_alloc((size_t)own * sizeof(float*));
        for (int j = 0; j < own; j++) {
            h[j] = host_alloc((size_t)len * sizeof(float));
            ops->download(h[j], parts[j], (size_t)len * sizeof(float));
        }
        float* ho = host_alloc((size_t)len * sizeof(float));
        fold_mpi_host(d, h, S, len, ho);
        ops->upload(out, ho, (size_t)len * sizeof(float));
        for (int j = 0; j < own; j++) free(h[j]);
        free(h);
        free(ho);
        return;
    }
    fold_mpi_host(d, parts, S, len, out);
#endif
}

#ifndef FL_WITH_CUDA
int fl_nccl_ready(void) { return 0; }
void fl_nccl_fold(fl_dist* d, const fl_ops* ops, float* const* parts, int S, long len, float* out) {
    (void)d; (void)ops; (void)parts; (void)S; (void)len; (void)out;
}
#endif
