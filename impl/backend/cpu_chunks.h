// cpu_chunks.h: the fixed order of the CPU backend's reductions (docs/DESIGN.md, principle 1,
// "the same numbers on any thread count"). A reduction over n items (rows, queries, units,
// blocks of 8 or 32 elements) cuts them into cpu_chunks(n) contiguous chunks that depend on n
// alone, never on the number of OpenMP threads. Chunk k sums items [cpu_chunk_begin(n, k),
// cpu_chunk_begin(n, k + 1)) in order into its own partial; the partials are then added in
// chunk order. Threads take whole chunks (schedule(static)), so 1, 2 or 16 threads add the
// same numbers in the same order. 32 chunks keep 2 to 16 threads busy (a few percent of
// imbalance at 3) and cost 32 partial rows, which is nothing beside the n rows they sum.
#pragma once

#define CPU_REDUCE_CHUNKS 32

static inline int cpu_chunks(long n, long min_items) {
    long c = n / min_items;
    return c < 1 ? 1 : c < CPU_REDUCE_CHUNKS ? (int)c : CPU_REDUCE_CHUNKS;
}
static inline long cpu_chunk_begin(long n, int chunks, int k) { return n * k / chunks; }
