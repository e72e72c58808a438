// cifar.c: CIFAR-10 and CIFAR-100, binary version ("suitable for C programs"), as the
// official archives unpack (cifar-10-batches-bin/, cifar-100-binary/).
//   CIFAR-10 record:  <1 byte label 0..9><3072 bytes: 1024 R, 1024 G, 1024 B, row-major 32x32>
//   CIFAR-100 record: <1 byte coarse 0..19><1 byte fine 0..99><3072 bytes as above>
// The pixel layout is already (3, 32, 32) planar, which is what fl_images holds.
#include "internal.h"
#include <string.h>
#include <sys/stat.h>

static const char* const fl_cifar10_classes[10] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

// Reads up to n non-empty lines of dir/file into names (malloc'd); returns how many.
static int fl_read_names(const char* dir, const char* file, int n, char** names) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE* f = fopen(path, "r");
    if (!f) return 0;
    char line[512];
    int k = 0;
    while (k < n && fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        line[len] = 0;
        while (len > 0 && line[len - 1] == ' ') line[--len] = 0;
        if (len == 0) continue;
        names[k++] = fl_strdup(line);
    }
    fclose(f);
    return k;
}

int fl_load_cifar_ex(const char* dir, int hundred, int train, int coarse, fl_images* out,
                     fl_record_files* rf, fl_err* err) {
    memset(out, 0, sizeof *out);
    if (rf) memset(rf, 0, sizeof *rf);
    const char* sub = hundred ? "cifar-100-binary" : "cifar-10-batches-bin";
    const char* probe = hundred ? "test.bin" : "test_batch.bin";
    char base[1100], path[1200];
    snprintf(base, sizeof base, "%s/%s", dir, sub);
    snprintf(path, sizeof path, "%s/%s", base, probe);
    if (!fl_is_file(path)) snprintf(base, sizeof base, "%s", dir);

    const char* files10[5] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                              "data_batch_4.bin", "data_batch_5.bin"};
    const char* test10[1] = {"test_batch.bin"};
    const char* train100[1] = {"train.bin"};
    const char* test100[1] = {"test.bin"};
    const char** files = hundred ? (train ? train100 : test100) : (train ? files10 : test10);
    int n_files = (!hundred && train) ? 5 : 1;
    int label_bytes = hundred ? 2 : 1;
    size_t rec = (size_t)label_bytes + 3072;
    int n_classes = hundred ? (coarse ? 20 : 100) : 10;

    // Sizes first: every file must hold a whole number of records.
    int64_t total = 0, counts[5];
    for (int f = 0; f < n_files; f++) {
        snprintf(path, sizeof path, "%s/%s", base, files[f]);
        struct stat st;
        if (stat(path, &st) != 0)
            return fl_fail(err, "%s: cannot open: %m (expected the CIFAR-%d binary version)",
                           path, hundred ? 100 : 10);
        if (st.st_size == 0 || (size_t)st.st_size % rec != 0)
            return fl_fail(err, "%s: truncated record at byte %lld: the file is %lld bytes, "
                                "not a multiple of the %zu-byte record",
                           path, (long long)((size_t)st.st_size / rec * rec),
                           (long long)st.st_size, rec);
        counts[f] = (int64_t)((size_t)st.st_size / rec);
        total += counts[f];
    }
    uint8_t* pix = (uint8_t*)fl_malloc((size_t)total * 3072);
    int32_t* labels = (int32_t*)fl_malloc((size_t)total * sizeof(int32_t));
    uint8_t* buf = (uint8_t*)fl_malloc(rec * 1024);
    int64_t i = 0;
    for (int f = 0; f < n_files; f++) {
        snprintf(path, sizeof path, "%s/%s", base, files[f]);
        FILE* fp = fopen(path, "rb");
        if (!fp) {
            fl_fail(err, "%s: cannot open: %m", path);
            goto fail;
        }
        if (rf) {
            snprintf(rf->files[f], sizeof rf->files[f], "%s", files[f]);
            rf->first[f] = i;
        }
        for (int64_t r = 0; r < counts[f];) {
            int64_t chunk = counts[f] - r < 1024 ? counts[f] - r : 1024;
            size_t got = fread(buf, rec, (size_t)chunk, fp);
            if (got != (size_t)chunk) {
                fl_fail(err, "%s: truncated record at byte %lld", path,
                        (long long)((r + (int64_t)got) * (int64_t)rec));
                fclose(fp);
                goto fail;
            }
            for (int64_t j = 0; j < chunk; j++) {
                const uint8_t* p = buf + j * rec;
                int y = hundred ? (coarse ? p[0] : p[1]) : p[0];
                if (y >= n_classes) {
                    long long off = (long long)((r + j) * (int64_t)rec) + (hundred && !coarse ? 1 : 0);
                    fl_fail(err, "%s: byte %lld: %slabel out of range: expected 0..%d, found %d",
                            path, off, hundred ? (coarse ? "coarse " : "fine ") : "",
                            n_classes - 1, y);
                    fclose(fp);
                    goto fail;
                }
                labels[i] = y;
                memcpy(pix + (size_t)i * 3072, p + label_bytes, 3072);
                i++;
            }
            r += chunk;
        }
        fclose(fp);
    }
    if (rf) {
        rf->n_files = n_files;
        rf->first[n_files] = i;
    }
    free(buf);
    snprintf(out->name, sizeof out->name, "%s", hundred ? "cifar100" : "cifar10");
    out->n = total;
    out->c = 3;
    out->h = out->w = 32;
    out->n_classes = n_classes;
    out->pix_owner = pix;
    out->pix = pix;
    out->labels = labels;
    for (int c = 0; c < 3; c++) out->mean[c] = out->std[c] = 0.5f;
    out->class_names = (char**)fl_calloc((size_t)n_classes, sizeof(char*));
    int got = hundred ? fl_read_names(base, coarse ? "coarse_label_names.txt" : "fine_label_names.txt",
                                      n_classes, out->class_names)
                      : fl_read_names(base, "batches.meta.txt", n_classes, out->class_names);
    for (int k = got; k < n_classes; k++) {
        char tmp[32];
        if (!hundred) {
            out->class_names[k] = fl_strdup(fl_cifar10_classes[k]);
        } else {
            snprintf(tmp, sizeof tmp, "class_%03d", k);
            out->class_names[k] = fl_strdup(tmp);
        }
    }
    return 0;
fail:
    free(buf);
    free(pix);
    free(labels);
    return -1;
}

int fl_load_cifar10(const char* dir, int train, fl_images* out, fl_err* err) {
    return fl_load_cifar_ex(dir, 0, train, 0, out, NULL, err);
}

int fl_load_cifar100(const char* dir, int train, int coarse, fl_images* out, fl_err* err) {
    return fl_load_cifar_ex(dir, 1, train, coarse, out, NULL, err);
}
