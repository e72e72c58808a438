// npyframe.h: .npy arrays in memory, and length-prefixed frames of them on file descriptors,
// the wire format of the black-box protocol (docs/BLACKBOX.md).
// A frame is  u32 length (little-endian) | length bytes: one .npy (version 1.0, C order).
// Dtypes: '<f4' (float32), '<i4' (int32), '<i8' (int64). Encoding writes version 1.0 with the
// header padded to a multiple of 64 bytes as numpy does; decoding accepts versions 1.0, 2.0
// and 3.0, C order, 0 to FL_NPY_MAX_DIMS dimensions and exactly prod(shape) x itemsize data
// bytes, with the header parser of npy.c.
// Frame reads and writes take an absolute deadline on fl_now()'s clock (0: wait forever) and
// tell the end of the stream and a timeout apart from errors. A write to a pipe whose reader
// has gone fails with EPIPE only if SIGPIPE is ignored (signal(SIGPIPE, SIG_IGN)), else the
// signal ends the process: callers that write frames ignore it. Deadlines hold exactly on
// non-blocking descriptors (O_NONBLOCK); on a blocking one a large write may block past it.
#pragma once
#include "impl/core/common.h"
#include "impl/io/npy.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { FL_NPY_F32 = 0, FL_NPY_I32 = 1, FL_NPY_I64 = 2 };

// The largest frame: its length prefix is a u32, and 2^31-1 keeps every size an int.
#define FL_FRAME_MAX_BYTES 2147483647u

// Outcomes of frame I/O besides 0 (done) and -1 (error, err says why).
enum { FL_FRAME_EOF = -2, FL_FRAME_TIMEOUT = -3, FL_FRAME_MALFORMED = -4 };

// A decoded array: numel elements of dtype, C order, owned (fl_npy_array_free).
typedef struct {
    int dtype;          // FL_NPY_F32, FL_NPY_I32, FL_NPY_I64
    int ndim;
    int64_t shape[FL_NPY_MAX_DIMS];
    int64_t numel;      // prod(shape), 1 for ndim 0
    void* data;
} fl_npy_array;

const char* fl_npy_dtype_descr(int dtype);  // "<f4", "<i4", "<i8"; "?" for others
int fl_npy_dtype_size(int dtype);           // 4, 4, 8; 0 for others
void fl_npy_array_free(fl_npy_array* arr);

// The .npy header (preamble included) of an array, written into hdr (at least 256 bytes);
// its length, a multiple of 64; or -1 with err for a bad dtype, rank or dimension.
int fl_npy_encode_header(int dtype, int ndim, const int64_t* shape, unsigned char* hdr, size_t hdr_size,
                         int64_t* numel, fl_err* err);
// A whole .npy in a new buffer (*out, *out_len bytes, free()). 0, or -1 with err.
int fl_npy_encode(int dtype, int ndim, const int64_t* shape, const void* data, unsigned char** out,
                  size_t* out_len, fl_err* err);
// Decodes the len bytes of a .npy at buf into arr (data copied). where names the source in
// messages ("answer to request 5: frame 2"). On failure arr is empty. 0, or -1 with err.
int fl_npy_decode(const void* buf, size_t len, const char* where, fl_npy_array* arr, fl_err* err);

// Writes one frame: the array of dtype and shape[0..ndim) as a .npy behind its length prefix.
// 0; FL_FRAME_EOF when the reader has gone (EPIPE); FL_FRAME_TIMEOUT; -1 with err.
int fl_frame_write(int fd, int dtype, int ndim, const int64_t* shape, const void* data, double deadline,
                   fl_err* err);
// Writes raw bytes as one frame (a frame that need not be a .npy: tests, faults).
int fl_frame_write_bytes(int fd, const void* body, size_t len, double deadline, fl_err* err);

// Reads one frame's bytes into *body (free()), *len bytes. max_len: the largest length
// accepted (0: FL_FRAME_MAX_BYTES). 0; FL_FRAME_EOF when the stream ends before the frame's
// first byte; FL_FRAME_TIMEOUT; FL_FRAME_MALFORMED with err (a length above max_len, a stream
// ending inside the frame); -1 with err (a read error).
int fl_frame_read_bytes(int fd, double deadline, size_t max_len, unsigned char** body, size_t* len, fl_err* err);
// Reads one frame and decodes it (a body that is no valid .npy: FL_FRAME_MALFORMED with err).
int fl_frame_read(int fd, double deadline, size_t max_len, const char* where, fl_npy_array* arr, fl_err* err);

// Checks a decoded array's dtype and shape (an entry of -1 matches any size), e.g.
// "answer to request 5: frame 2 has dtype '<i4' and shape (7,), expected '<f4' and shape (8,)".
int fl_npy_array_check(const fl_npy_array* arr, const char* where, int dtype, int ndim, const int64_t* shape,
                       fl_err* err);

#ifdef __cplusplus
}
#endif
