// vkdream safetensors: read (mmap) and write the format every diffusers, transformers
// and original-SD checkpoint uses.
//
// Layout: u64 little-endian header length N, N bytes of JSON (an object mapping tensor
// name -> {"dtype", "shape", "data_offsets": [begin, end]} plus an optional
// "__metadata__": {string: string}), then the raw little-endian data. Offsets are
// relative to the start of the data section.
//
// Opening validates the whole header up front (dtypes, shapes, offsets inside the
// data, sizes consistent, no overlaps, no duplicate names), so every vkd_tensor_info
// handed out afterwards can be trusted: `data` points at exactly `nbytes` readable bytes.
#ifndef VKDREAM_SAFETENSORS_H
#define VKDREAM_SAFETENSORS_H

#include "vkdream/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vkd_gpu vkd_gpu;
typedef struct vkd_buffer vkd_buffer;

#define VKD_MAX_DIMS 8
// Bigger headers are rejected: real checkpoints stay well under 1 MiB, and a corrupt
// length must not make us allocate gigabytes.
#define VKD_SAFETENSORS_MAX_HEADER ((uint64_t)100 << 20)

typedef enum vkd_dtype {
    VKD_DTYPE_INVALID = 0,
    VKD_DTYPE_F64,
    VKD_DTYPE_F32,
    VKD_DTYPE_F16,
    VKD_DTYPE_BF16,
    VKD_DTYPE_F8_E4M3,  // "F8_E4M3": the fn variant (no infinities, one NaN pattern)
    VKD_DTYPE_F8_E5M2,
    VKD_DTYPE_I64,
    VKD_DTYPE_I32,
    VKD_DTYPE_I16,
    VKD_DTYPE_I8,
    VKD_DTYPE_U64,
    VKD_DTYPE_U32,
    VKD_DTYPE_U16,
    VKD_DTYPE_U8,
    VKD_DTYPE_BOOL,
    VKD_DTYPE_COUNT
} vkd_dtype;

// The name as written in the header ("F32"); "invalid" for anything else.
const char* vkd_dtype_name(vkd_dtype dtype);
// Bytes per element; 0 for VKD_DTYPE_INVALID and out-of-range values.
size_t vkd_dtype_size(vkd_dtype dtype);
// VKD_DTYPE_INVALID when the name is not a known dtype (case-sensitive, as in the format).
vkd_dtype vkd_dtype_from_name(const char* name);

typedef struct vkd_tensor_info {
    const char* name;       // owned by the vkd_safetensors
    vkd_dtype dtype;
    int ndim;               // 0 for a scalar
    int64_t shape[VKD_MAX_DIMS]; // unused dims are 0
    uint64_t numel;         // product of shape (1 for a scalar)
    const void* data;       // little-endian, not necessarily aligned
    size_t nbytes;          // numel * vkd_dtype_size(dtype)
} vkd_tensor_info;

typedef struct vkd_safetensors vkd_safetensors;

// Maps the file read-only; tensor data is read straight from the mapping. The file must
// not be truncated while open (that would be SIGBUS on access, as with any mmap).
vkd_status vkd_safetensors_open(const char* path, vkd_safetensors** out, vkd_error* err);
// Same, over bytes the caller keeps alive until close (nothing is copied). Errors name "<memory>".
vkd_status vkd_safetensors_open_memory(const void* data, size_t size, vkd_safetensors** out, vkd_error* err);
void vkd_safetensors_close(vkd_safetensors* st);

// The path given to open, or "<memory>": for callers that add their own errors.
const char* vkd_safetensors_path(const vkd_safetensors* st);
size_t vkd_safetensors_count(const vkd_safetensors* st);
// Tensors in the order their data lies in the file; NULL when i is out of range.
const vkd_tensor_info* vkd_safetensors_at(const vkd_safetensors* st, size_t i);
// Binary search over the names; NULL when absent.
const vkd_tensor_info* vkd_safetensors_find(const vkd_safetensors* st, const char* name);

// "__metadata__" lookups. NULL when the key (or the whole metadata object) is absent.
const char* vkd_safetensors_metadata(const vkd_safetensors* st, const char* key);
size_t vkd_safetensors_metadata_count(const vkd_safetensors* st);
// Value of the i-th entry (header order), its key in *key; NULL when i is out of range.
const char* vkd_safetensors_metadata_at(const vkd_safetensors* st, size_t i, const char** key);

// Converts tensor `name` to float into dst, which holds `count` floats; count must equal
// the tensor's numel. Reads every dtype (integers and F64 are rounded to the nearest float).
vkd_status vkd_safetensors_read_f32(const vkd_safetensors* st, const char* name, float* dst, size_t count,
                                    vkd_error* err);
// Same, to IEEE half floats (F16 is copied bit for bit; others are rounded to nearest even
// through float, and values beyond the half range become infinities).
vkd_status vkd_safetensors_read_f16(const vkd_safetensors* st, const char* name, uint16_t* dst, size_t count,
                                    vkd_error* err);

// Finds `name` and checks its shape: ndim must match and each shape[i] must match, except
// that -1 accepts any size. shape may be NULL when ndim is 0. out may be NULL.
// Error: "<path>: tensor 'conv_in.weight' has shape [32,4,3,3], expected [64,4,3,3]".
vkd_status vkd_safetensors_expect(const vkd_safetensors* st, const char* name, int ndim, const int64_t* shape,
                                  const vkd_tensor_info** out, vkd_error* err);

// Allocates a device buffer and uploads tensor `name` converted to F32, or to F16 when
// as_f16. The caller frees it with vkd_buffer_free. Lives in safetensors_upload.c so the
// parser links without the GPU layer.
vkd_status vkd_safetensors_upload(vkd_gpu* gpu, const vkd_safetensors* st, const char* name, bool as_f16,
                                  vkd_buffer* out, vkd_error* err);

// Half-float helpers shared with the upload path (round to nearest even; NaN stays NaN).
float vkd_f16_to_f32(uint16_t h);
uint16_t vkd_f32_to_f16(float f);
float vkd_bf16_to_f32(uint16_t b);

typedef struct vkd_tensor_write {
    const char* name;
    vkd_dtype dtype;
    int ndim;
    int64_t shape[VKD_MAX_DIMS];
    const void* data;       // numel * vkd_dtype_size(dtype) bytes, little-endian; may be NULL when empty
} vkd_tensor_write;

// Writes the standard layout: the JSON header padded with spaces so the data section starts
// on an 8-byte boundary, then the data ordered by element size (largest first, otherwise as
// given) so every tensor is aligned to its element size. metadata_kv is NULL or a
// NULL-terminated list of key, value strings. The file is written as "<path>.tmp" and
// renamed into place, so a failed write leaves whatever was at path untouched.
vkd_status vkd_safetensors_write(const char* path, const vkd_tensor_write* tensors, size_t count,
                                 const char* const* metadata_kv, vkd_error* err);

#ifdef __cplusplus
}
#endif
#endif
