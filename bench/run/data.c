// data.c: opens a run's dataset through datasets/ (fl_dataset_open) from its configuration.
// Large datasets are decoded and cached only for the k-shot training split; a class range
// (the few-shot transfer protocol on Fashion-MNIST) loads the whole small training set so
// train.c can select classes before it draws the shots.
#include <string.h>
#include "train.h"
#include "../../datasets/dataset.h"

int fl_train_open_data(const fl_train_cfg* cfg, fl_images* train, fl_images* test, fl_err* err) {
    fl_dataset_opts o;
    fl_dataset_opts_default(&o);
    o.data_root = cfg->data_root[0] ? cfg->data_root : NULL;
    o.shots = cfg->class_lo >= 0 ? 0 : cfg->shots;
    o.seed = cfg->seed;
    o.image_size = cfg->image_size;
    o.quiet = cfg->quiet;
    fl_dataset_info info;
    return fl_dataset_open(cfg->dataset, &o, train, test, &info, err);
}
