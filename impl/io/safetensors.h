// safetensors.h: read and write the safetensors weight format (Hugging Face).
// File layout: 8 bytes little-endian u64 N, then N bytes of JSON header, then the data section.
// The header maps each tensor name to {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}
// with offsets relative to the start of the data section; an optional "__metadata__" maps
// strings to strings. The data section must be covered exactly: no overlaps, no holes.
//
// Reader: fl_st_open() maps the file read-only, parses the header with cJSON and validates
// every entry (dtype, shape, offsets, sizes, coverage) before returning, so later calls only
// deal with a consistent table. Any failure fills err with one line and returns -1.
//   fl_safetensors st;
//   if (fl_st_open(&st, "model.safetensors", &err)) { puts(err.msg); ... }
//   int64_t shape[2] = {768, 768};
//   fl_st_read_f32(&st, "encoder.layer.0.attention.attention.query.weight", 2, shape, buf, &err);
//   fl_st_close(&st);
// Writer: fl_st_write_f32() writes float32 tensors (and optional string metadata) atomically
// (see iofile.h); the header is padded with spaces to a multiple of 8 bytes.
#pragma once
#include "impl/core/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FL_ST_MAX_DIMS 8

// Every dtype of the format. Only F32, F16, BF16 (and F64) convert to float; the others are
// listed and size-checked but fl_st_tensor_to_f32 refuses them.
typedef enum {
    FL_ST_BOOL, FL_ST_U8, FL_ST_I8, FL_ST_F8_E5M2, FL_ST_F8_E4M3, FL_ST_I16, FL_ST_U16,
    FL_ST_F16, FL_ST_BF16, FL_ST_I32, FL_ST_U32, FL_ST_F32, FL_ST_F64, FL_ST_I64, FL_ST_U64,
    FL_ST_N_DTYPES
} fl_st_dtype;

const char* fl_st_dtype_name(fl_st_dtype dtype);   // "F32", ...
size_t fl_st_dtype_size(fl_st_dtype dtype);        // bytes per element

typedef struct {
    char* name;
    fl_st_dtype dtype;
    int ndim;                          // 0 (scalar) .. FL_ST_MAX_DIMS
    int64_t shape[FL_ST_MAX_DIMS];
    int64_t numel;                     // product of shape (1 for a scalar)
    uint64_t begin, end;               // data_offsets, relative to the data section
} fl_st_tensor;

typedef struct {
    char* key;
    char* value;
} fl_st_meta;

typedef struct {
    char path[4096];
    size_t file_size;
    const uint8_t* map;        // the whole file, read-only (NULL when closed)
    uint64_t header_len;       // N
    uint64_t data_start;       // 8 + N: file byte offset of the data section
    int n_tensors;
    fl_st_tensor* tensors;     // in header order
    int n_meta;
    fl_st_meta* meta;          // __metadata__, in header order
} fl_safetensors;

// Opens and validates path. On failure st is left closed (fl_st_close is still safe).
int fl_st_open(fl_safetensors* st, const char* path, fl_err* err);
void fl_st_close(fl_safetensors* st);

// The tensor called name, or NULL.
const fl_st_tensor* fl_st_find(const fl_safetensors* st, const char* name);
// The __metadata__ value for key, or NULL.
const char* fl_st_meta_get(const fl_safetensors* st, const char* key);
// The raw little-endian bytes of t (t->end - t->begin of them); not aligned in general.
const void* fl_st_data(const fl_safetensors* st, const fl_st_tensor* t);

// Converts t (F32, F16, BF16 or F64) to float32: out holds t->numel floats.
int fl_st_tensor_to_f32(const fl_safetensors* st, const fl_st_tensor* t, float* out, fl_err* err);
// Finds name, checks that its shape is exactly shape[0..ndim), converts it into out
// (prod(shape) floats). Errors: missing tensor, shape mismatch, dtype not convertible.
int fl_st_read_f32(const fl_safetensors* st, const char* name, int ndim, const int64_t* shape, float* out,
                   fl_err* err);

// Half-precision conversions (exact: every F16 and BF16 value is a float32 value).
float fl_f16_to_f32(uint16_t h);
float fl_bf16_to_f32(uint16_t b);

// One float32 tensor to write. data holds prod(shape) floats, row-major (may be NULL if 0).
typedef struct {
    const char* name;
    int ndim;
    const int64_t* shape;
    const float* data;
} fl_st_entry;

// Writes the tensors, in the given order, as F32, plus optional string metadata
// (meta may be NULL when n_meta is 0), atomically. Names must be unique and non-empty.
int fl_st_write_f32(const char* path, const fl_st_entry* tensors, int n_tensors, const fl_st_meta* meta,
                    int n_meta, fl_err* err);

#ifdef __cplusplus
}
#endif
