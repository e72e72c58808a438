// fuzz.h: what the libFuzzer harnesses of tests/fuzz/ share: a private temporary folder (under
// $TMPDIR, which tests/fuzz/run.sh points at a folder it removes afterwards), files written
// there from the fuzzer's bytes, and the fixed cache key that fuzz_cache.c and the seed
// generator gen_seeds.c agree on. Input formats of every harness: tests/fuzz/README.md.
#pragma once
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "datasets/internal.h"

// The folder, created on first use.
static inline const char* fz_dir(void) {
    static char dir[512];
    if (!dir[0]) {
        const char* base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/flfuzz-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
    }
    return dir;
}

// dir/name, in one of a few rotating buffers (a harness uses at most four at once).
static inline const char* fz_path(const char* name) {
    static char buf[4][1024];
    static int k;
    char* p = buf[k++ & 3];
    snprintf(p, sizeof buf[0], "%s/%s", fz_dir(), name);
    return p;
}

// Writes n bytes to dir/name (replacing it) and returns the path.
static inline const char* fz_file(const char* name, const uint8_t* data, size_t n) {
    const char* p = fz_path(name);
    FILE* f = fopen(p, "wb");
    if (!f) {
        perror(p);
        abort();
    }
    if (n && fwrite(data, 1, n, f) != n) abort();
    fclose(f);
    return p;
}

// The key fuzz_cache.c opens every input with (and gen_seeds.c builds its seeds under).
static inline fl_cache_key fz_cache_key(void) {
    fl_cache_key k;
    memset(&k, 0, sizeof k);
    snprintf(k.dataset, sizeof k.dataset, "fuzz");
    snprintf(k.split, sizeof k.split, "test");
    k.n = 3;
    k.c = 1;
    k.h = k.w = 4;
    k.n_classes = 2;
    k.image_size = 4;
    k.manifest_checksum = 42;
    return k;
}
