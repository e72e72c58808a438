// npy.h: read and write NumPy .npy files holding float32 arrays (and write int32 ones).
// Format (numpy.lib.format): 6 bytes magic "\x93NUMPY", 1 byte major and 1 byte minor version,
// header length (u16 little-endian for 1.0, u32 for 2.0 and 3.0), then an ASCII (3.0: UTF-8)
// Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, C, H, W), }
// padded with spaces and ended by '\n', then the raw row-major data.
// Reading accepts versions 1.0, 2.0 and 3.0 and only little-endian float32 ('<f4'), C order,
// 0 to FL_NPY_MAX_DIMS dimensions, and a file that holds exactly prod(shape) x 4 data bytes.
// Writing produces version 1.0 (2.0 if the header does not fit), header padded to 64 bytes
// as numpy does, atomically (see iofile.h).
#pragma once
#include "impl/core/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FL_NPY_MAX_DIMS 8

typedef struct {
    int ndim;
    int64_t shape[FL_NPY_MAX_DIMS];
    int64_t numel;      // prod(shape), 1 for ndim 0
    float* data;        // numel floats, owned (fl_npy_free)
} fl_npy;

// Reads path into arr (arr->data is allocated). On failure arr is empty and err says why.
int fl_npy_read_f32(const char* path, fl_npy* arr, fl_err* err);
void fl_npy_free(fl_npy* arr);

// Checks arr's shape against shape[0..ndim); an entry of -1 matches any size. path is only
// used in the message, e.g. "X.npy: array has shape (2, 3, 28), expected (N, 1, 28, 28)".
int fl_npy_check_shape(const fl_npy* arr, const char* path, int ndim, const int64_t* shape, fl_err* err);

// Parses the header dict of a .npy: the len bytes of text between the preamble and the data
// (ending in '\n'), starting at byte offset base of the source named where (both only for
// messages). Fills descr (e.g. "<f4", truncated to descr_size-1), fortran_order and shape;
// does not judge them. Shared with the in-memory frames of npyframe.c. 0, or -1 with err.
int fl_npy_parse_header(const char* text, size_t len, size_t base, const char* where, char* descr,
                        size_t descr_size, int* fortran, int* ndim, int64_t* shape, fl_err* err);

// Writes a C-order little-endian float32 array of shape[0..ndim) (ndim 0..FL_NPY_MAX_DIMS).
int fl_npy_write_f32(const char* path, int ndim, const int64_t* shape, const float* data, fl_err* err);
// The same for little-endian int32 ('<i4'), e.g. labels.
int fl_npy_write_i32(const char* path, int ndim, const int64_t* shape, const int32_t* data, fl_err* err);

#ifdef __cplusplus
}
#endif
