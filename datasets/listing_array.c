// listing_array.c: the array datasets, whose pixels come from binary files: Fashion-MNIST
// (*-idx?-ubyte[.gz], torchvision's FashionMNIST/raw/, else Debian's
// /usr/share/datasets/fashion-mnist) and CIFAR-10 / CIFAR-100 (the binary versions; the Python
// version is named and refused), found on disk and listed with one item per record ("file#index").
#include "internal.h"
#include <string.h>

// Paths are composed with snprintf into fixed buffers; a longer path is cut (and then not
// found), never overflowed, so gcc's truncation notes are noise here.
#pragma GCC diagnostic ignored "-Wformat-truncation"

// True when dir holds the test images, gzip'd or not.
static int fl_has_idx(const char* dir) {
    char p[1300];
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", dir);
    if (fl_is_file(p)) return 1;
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", dir);
    return fl_is_file(p);
}

// Looks in root, then in torchvision's layout under it (root/FashionMNIST/raw, root/raw),
// then in Debian's folder.
int fl_detect_fashion_mnist(fl_layout* L, const char* root, fl_err* err) {
    L->is_array = 1;
    L->channels = 1;
    L->native_size = 28;
    if (!fl_has_idx(root)) {
        const char* sub[2] = {"FashionMNIST/raw", "raw"};
        char p[1300];
        int found = 0;
        for (int i = 0; i < 2 && !found; i++) {
            snprintf(p, sizeof p, "%s/%s", root, sub[i]);
            found = fl_has_idx(p);
        }
        if (!found) {
            snprintf(p, sizeof p, "%s", FL_FASHION_MNIST_DIR);
            if (!fl_has_idx(p))
                return fl_missing(L, err, "expected train-images-idx3-ubyte.gz and the other IDX "
                                          "files, torchvision's FashionMNIST/raw/, or Debian's "
                                          "dataset-fashion-mnist");
        }
        snprintf(L->root, sizeof L->root, "%s", p);
    }
    snprintf(L->format, sizeof L->format, "IDX (gzip) in %s", L->root);
    return 0;
}

// torchvision's CIFAR download is the Python version (pickles in cifar-10-batches-py/,
// cifar-100-python/), which flbench does not read: it is named as found, with the command
// that fetches the binary version.
static int fl_cifar_python(fl_layout* L, const char* root, int hundred, fl_err* err) {
    const char* sub = hundred ? "cifar-100-python" : "cifar-10-batches-py";
    const char* probe = hundred ? "test" : "test_batch";
    char p[1300], dir[1300];
    snprintf(dir, sizeof dir, "%s/%s", root, sub);
    snprintf(p, sizeof p, "%s/%s", dir, probe);
    if (!fl_is_file(p)) {
        snprintf(dir, sizeof dir, "%s", root);
        snprintf(p, sizeof p, "%s/%s", dir, probe);
        if (!fl_is_file(p)) return 0;
    }
    snprintf(L->missing, sizeof L->missing, "the binary version (found the Python pickle version)");
    fl_fail(err, "%s: %s holds the CIFAR-%s Python version (pickles, torchvision's download); "
                 "flbench reads the binary version: run `flbench data fetch %s`",
            L->name, dir, hundred ? "100" : "10", L->name);
    return 1;
}

int fl_detect_cifar(fl_layout* L, const char* root, fl_err* err) {
    char p[1300];
    int hundred = !strcmp(L->name, "cifar100");
    L->is_array = 1;
    L->native_size = 32;
    const char* sub = hundred ? "cifar-100-binary" : "cifar-10-batches-bin";
    const char* probe = hundred ? "test.bin" : "test_batch.bin";
    snprintf(p, sizeof p, "%s/%s/%s", root, sub, probe);
    char q[1300];
    snprintf(q, sizeof q, "%s/%s", root, probe);
    if (!fl_is_file(p) && !fl_is_file(q)) {
        if (fl_cifar_python(L, root, hundred, err)) return -1;
        return fl_missing(L, err, hundred ? "expected cifar-100-binary/train.bin, test.bin"
                                          : "expected cifar-10-batches-bin/data_batch_1.bin .. "
                                            "test_batch.bin");
    }
    snprintf(L->format, sizeof L->format, "CIFAR-%s binary version", hundred ? "100" : "10");
    return 0;
}

static void fl_items_from_records(fl_items* dst, const fl_images* d, const fl_record_files* rf,
                                  const char* single_name) {
    char name[128];
    int f = 0;
    for (int64_t i = 0; i < d->n; i++) {
        if (rf) {
            while (f + 1 < rf->n_files && i >= rf->first[f + 1]) f++;
            snprintf(name, sizeof name, "%s#%lld", rf->files[f], (long long)(i - rf->first[f]));
        } else {
            snprintf(name, sizeof name, "%s#%lld", single_name, (long long)i);
        }
        fl_items_push(dst, name, d->labels[i], i);
    }
}

int fl_list_array(fl_listing* L, const fl_dataset_opts* o, fl_err* err) {
    const char* name = L->layout.name;
    if (!strcmp(name, "fashion-mnist")) {
        if (fl_load_fashion_mnist(L->layout.root, 1, &L->arr_train, err)) return -1;
        if (fl_load_fashion_mnist(L->layout.root, 0, &L->arr_test, err)) return -1;
        fl_items_from_records(&L->train, &L->arr_train, NULL, "train-images-idx3-ubyte");
        fl_items_from_records(&L->test, &L->arr_test, NULL, "t10k-images-idx3-ubyte");
    } else {
        int hundred = !strcmp(name, "cifar100");
        int coarse = hundred && o && o->cifar100_coarse;
        fl_record_files rtr, rte;
        if (fl_load_cifar_ex(L->layout.root, hundred, 1, coarse, &L->arr_train, &rtr, err)) return -1;
        if (fl_load_cifar_ex(L->layout.root, hundred, 0, coarse, &L->arr_test, &rte, err)) return -1;
        fl_items_from_records(&L->train, &L->arr_train, &rtr, NULL);
        fl_items_from_records(&L->test, &L->arr_test, &rte, NULL);
    }
    L->n_classes = L->arr_train.n_classes;
    L->class_names = (char**)fl_malloc(sizeof(char*) * (size_t)L->n_classes);
    for (int k = 0; k < L->n_classes; k++) L->class_names[k] = fl_strdup(L->arr_train.class_names[k]);
    return 0;
}
