// listing_array.c: the array datasets, whose pixels come from binary files: Fashion-MNIST
// (*-idx?-ubyte[.gz], else Debian's /usr/share/datasets/fashion-mnist) and CIFAR-10 / CIFAR-100
// (the binary versions), found on disk and listed with one item per record ("file#index").
#include "internal.h"
#include <string.h>

// Paths are composed with snprintf into fixed buffers; a longer path is cut (and then not
// found), never overflowed, so gcc's truncation notes are noise here.
#pragma GCC diagnostic ignored "-Wformat-truncation"

int fl_detect_fashion_mnist(fl_layout* L, const char* root, fl_err* err) {
    char p[1300];
    L->is_array = 1;
    L->channels = 1;
    L->native_size = 28;
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", root);
    char q[1300];
    snprintf(q, sizeof q, "%s/t10k-images-idx3-ubyte", root);
    if (!fl_is_file(p) && !fl_is_file(q)) {
        snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", FL_FASHION_MNIST_DIR);
        if (!fl_is_file(p))
            return fl_missing(L, err, "expected train-images-idx3-ubyte.gz and the other IDX "
                                      "files, or Debian's dataset-fashion-mnist");
        snprintf(L->root, sizeof L->root, "%s", FL_FASHION_MNIST_DIR);
    }
    snprintf(L->format, sizeof L->format, "IDX (gzip) in %s", L->root);
    return 0;
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
    if (!fl_is_file(p) && !fl_is_file(q))
        return fl_missing(L, err, hundred ? "expected cifar-100-binary/train.bin, test.bin"
                                          : "expected cifar-10-batches-bin/data_batch_1.bin .. "
                                            "test_batch.bin");
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
