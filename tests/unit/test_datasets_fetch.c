// test_datasets_fetch.c: datasets/fetch.sh's checksum and unpack logic on local files (no
// network): --verify with md5 and sha256, a mismatch, --unpack of .tar.gz and .zip, a refused
// unsafe archive, and a whole `fetch cifar10` served from a local catalog
// (FLBENCH_FETCH_CATALOG) through `flbench data fetch`, ending in a readable dataset.
#include "../test.h"
#include "../../datasets/internal.h"
#include "../../bench/cli.h"  // fl_cmd_data
#include <ftw.h>
#include <stdarg.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const char* sub(const char* name) {
    static char bufs[16][600];
    static int next;
    char* p = bufs[next++ & 15];
    snprintf(p, 600, "%s/%s", t_tmpdir(), name);
    return p;
}

// Runs a shell command with output into the test log; returns its exit status.
static int sh(const char* fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    fflush(stdout);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// The hex digest of a file via md5sum / sha256sum.
static void digest(const char* tool, const char* path, char* out) {
    char cmd[1000];
    snprintf(cmd, sizeof cmd, "%s '%s'", tool, path);
    FILE* p = popen(cmd, "r");
    out[0] = 0;
    if (p) {
        if (fscanf(p, "%64s", out) != 1) out[0] = 0;
        pclose(p);
    }
}

static int have_script(void) { return access("datasets/fetch.sh", R_OK) == 0; }

static void test_verify(void) {
    if (!have_script()) SKIP("datasets/fetch.sh not found (run from the repository root)");
    const char* f = sub("blob.bin");
    FILE* fp = fopen(f, "wb");
    for (int i = 0; i < 5000; i++) fputc(i * 7, fp);
    fclose(fp);
    char md5[80], sha[80];
    digest("md5sum", f, md5);
    digest("sha256sum", f, sha);
    CHECK(strlen(md5) == 32 && strlen(sha) == 64, "digests");
    CHECK(sh("sh datasets/fetch.sh --verify '%s' md5 %s", f, md5) == 0, "md5 ok");
    CHECK(sh("sh datasets/fetch.sh --verify '%s' sha256 %s", f, sha) == 0, "sha256 ok");
    // Upper-case digests (as some pages print them) are accepted.
    for (char* c = sha; *c; c++) if (*c >= 'a' && *c <= 'f') *c -= 32;
    CHECK(sh("sh datasets/fetch.sh --verify '%s' sha256 %s", f, sha) == 0, "upper case ok");
    CHECK(sh("sh datasets/fetch.sh --verify '%s' md5 00000000000000000000000000000000 2>%s", f, sub("err.txt")) == 1, "mismatch fails");
    FILE* e = fopen(sub("err.txt"), "r");
    char line[600] = {0};
    if (e) { if (!fgets(line, sizeof line, e)) line[0] = 0; fclose(e); }
    CHECK(strstr(line, "md5 mismatch: expected 00000000000000000000000000000000, found") != NULL, "message: %s", line);
    CHECK(sh("sh datasets/fetch.sh --verify '%s' crc32 1234 2>/dev/null", f) == 2, "unknown algorithm is usage");
    CHECK(sh("sh datasets/fetch.sh nosuchdataset 2>/dev/null") == 2, "unknown dataset is usage");
}

static void test_unpack(void) {
    if (!have_script()) SKIP("datasets/fetch.sh not found (run from the repository root)");
    const char* src = sub("src");
    CHECK(sh("mkdir -p '%s/tree/inner' && echo hello > '%s/tree/inner/a.txt'", src, src) == 0, "fixture");
    CHECK(sh("tar -czf '%s/t.tar.gz' -C '%s' tree", src, src) == 0, "tar");
    CHECK(sh("sh datasets/fetch.sh --unpack '%s/t.tar.gz' '%s' 2>/dev/null", src, sub("out1")) == 0, "unpack tar.gz");
    char p[800];
    snprintf(p, sizeof p, "%s/tree/inner/a.txt", sub("out1"));
    CHECK(fl_is_file(p), "unpacked file %s", p);
    if (sh("command -v zip >/dev/null") == 0) {
        CHECK(sh("cd '%s' && zip -q -r t.zip tree", src) == 0, "zip");
        CHECK(sh("sh datasets/fetch.sh --unpack '%s/t.zip' '%s' 2>/dev/null", src, sub("out2")) == 0, "unpack zip");
        snprintf(p, sizeof p, "%s/tree/inner/a.txt", sub("out2"));
        CHECK(fl_is_file(p), "unzipped file");
    }
    // A member escaping the destination is refused before anything is written.
    CHECK(sh("tar -czf '%s/evil.tar.gz' -C '%s' --transform 's,^tree,../escaped,' tree", src, src) == 0, "evil tar");
    CHECK(sh("sh datasets/fetch.sh --unpack '%s/evil.tar.gz' '%s' 2>/dev/null", src, sub("out3/x")) == 1, "unsafe refused");
    snprintf(p, sizeof p, "%s/escaped/inner/a.txt", sub("out3"));
    CHECK(!fl_is_file(p), "nothing escaped");
    // A damaged archive fails.
    CHECK(sh("head -c 20 '%s/t.tar.gz' > '%s/bad.tar.gz'", src, src) == 0, "cut");
    CHECK(sh("sh datasets/fetch.sh --unpack '%s/bad.tar.gz' '%s' 2>/dev/null", src, sub("out4")) == 1, "damaged fails");
}

// A miniature cifar-10-binary.tar.gz: 5 training files of 2 records and a test file of 3.
static void make_cifar_archive(const char* dir) {
    char d[700];
    snprintf(d, sizeof d, "%s/cifar-10-batches-bin", dir);
    fl_err e;
    CHECK(fl_mkdirs(d, &e) == 0, "%s", e.msg);
    const char* files[6] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"};
    for (int f = 0; f < 6; f++) {
        char p[800];
        snprintf(p, sizeof p, "%s/%s", d, files[f]);
        FILE* fp = fopen(p, "wb");
        int n = f == 5 ? 3 : 2;
        for (int r = 0; r < n; r++) {
            fputc((f + r) % 10, fp);
            for (int j = 0; j < 3072; j++) fputc((f * 11 + r * 5 + j) & 255, fp);
        }
        fclose(fp);
    }
    CHECK(sh("tar -czf '%s/cifar-10-binary.tar.gz' -C '%s' cifar-10-batches-bin", dir, dir) == 0, "tar");
}

static void test_fetch_from_local_catalog(void) {
    if (!have_script()) SKIP("datasets/fetch.sh not found (run from the repository root)");
    const char* srv = sub("server");
    make_cifar_archive(srv);
    char archive[800], md5[80], catalog[800];
    snprintf(archive, sizeof archive, "%s/cifar-10-binary.tar.gz", srv);
    digest("md5sum", archive, md5);
    snprintf(catalog, sizeof catalog, "%s/catalog.txt", srv);
    FILE* c = fopen(catalog, "w");
    fprintf(c, "cifar10 file://%s md5 %s\n", archive, md5);
    fclose(c);
    const char* data = sub("data");
    setenv("FLBENCH_FETCH_CATALOG", catalog, 1);
    setenv("FLBENCH_DATA", data, 1);
    // Through the CLI function, as `flbench data fetch cifar10` runs it.
    char* argv[] = {"flbench", "data", "fetch", "cifar10"};
    CHECK(fl_cmd_data(4, argv) == 0, "fetch cifar10");
    char root[800];
    snprintf(root, sizeof root, "%s/cifar10", data);
    fl_images tr;
    fl_err err = {{0}};
    CHECK(fl_load_cifar10(root, 1, &tr, &err) == 0 && tr.n == 10, "fetched data readable: %s", err.msg);
    fl_images_free(&tr);
    // Second run: the archive is present and verified, not fetched again.
    CHECK(sh("sh datasets/fetch.sh cifar10 2>'%s/log.txt'", srv) == 0, "refetch");
    char log[2000] = {0};
    FILE* l = fopen(sub("server/log.txt"), "r");
    if (l) { size_t n = fread(log, 1, sizeof log - 1, l); log[n] = 0; fclose(l); }
    CHECK(strstr(log, "present, md5 ok") != NULL, "log: %s", log);
    // A catalog checksum that does not match: fails, keeps no partial download.
    c = fopen(catalog, "w");
    fprintf(c, "cifar100 file://%s md5 0123456789abcdef0123456789abcdef\n", archive);
    fclose(c);
    CHECK(sh("sh datasets/fetch.sh cifar100 2>/dev/null") == 1, "bad checksum fails");
    char part[800];
    snprintf(part, sizeof part, "%s/downloads/cifar-10-binary.tar.gz.part", data);
    CHECK(!fl_is_file(part), "no .part left");
    unsetenv("FLBENCH_FETCH_CATALOG");
    unsetenv("FLBENCH_DATA");
}

static int rm_entry(const char* path, const struct stat* st, int flag, struct FTW* ftw) { return remove(path); }

int main(void) {
    RUN(test_verify);
    RUN(test_unpack);
    RUN(test_fetch_from_local_catalog);
    nftw(t_tmpdir(), rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    TEST_EXIT();
}
