// vkdream parameter sets: the named parameters of one model in one flat device buffer,
// with an optional gradient buffer (and Adam moments) of the same layout.
//
// A model first declares every parameter it needs (name + shape, from its config), then
// allocates, then loads them from safetensors. Declaring before loading is what makes
// the loader's errors precise: a missing tensor or a wrong shape is reported with the
// file, the tensor name, and the expected vs found shape, before any GPU work.
//
// Names are the canonical (diffusers / transformers) names; a rename callback maps them
// to the names used in another file layout (the original single-file checkpoints).
#ifndef VKDREAM_NN_PARAMS_H
#define VKDREAM_NN_PARAMS_H

#include "vkdream/gpu.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vkd_safetensors vkd_safetensors;

#define VKD_PARAM_NAME_MAX 192
#define VKD_PARAM_MAX_DIMS 4

typedef struct vkd_param {
    char name[VKD_PARAM_NAME_MAX];
    int32_t ndim;
    int64_t shape[VKD_PARAM_MAX_DIMS];
    uint64_t count;   // number of elements
    uint64_t offset;  // in 4-byte words from the start of the set (multiple of 64: 256-byte aligned)
    bool f16;         // stored as IEEE half (set by vkd_params_alloc when the set is .f16)
    bool keep_f32;    // never stored as half (embedding tables: read by kernels without fp16 input)
} vkd_param;

typedef struct vkd_params {
    vkd_param* items;
    uint32_t count, cap;
    uint64_t total;        // floats, including alignment padding
    vkd_gpu* gpu;
    vkd_buffer data;       // (total,) after vkd_params_alloc (the first chunk when split)
    // Sets larger than one device allocation (SD's UNet is 3.3 GB in fp32; lavapipe allows
    // 2 GiB) are stored in several buffers of chunk_floats each, no parameter straddling two:
    // offsets are then chunk * chunk_floats + offset in the chunk. Only frozen sets may split
    // (gradients and Adam moments need one flat buffer).
    vkd_buffer chunks[16];
    uint32_t nchunks;      // 0 or 1: data holds everything
    uint64_t chunk_floats;
    uint64_t max_buffer_bytes; // set before alloc to split below the device limit (tests); 0 = device
    // Set before alloc: a frozen set (no gradient) then stores every matrix and convolution
    // kernel (ndim >= 2, not keep_f32) as fp16, half the memory; biases and norms stay fp32.
    // The GEMM and conv kernels read such weights directly (vkd_params_is_f16 says which) and
    // compute in fp32: the precision of PyTorch's fp16 weights with fp32 accumulation.
    bool f16;
    vkd_buffer grad;       // (total,) or empty (addr 0) when the set is frozen
    vkd_buffer adam_m, adam_v; // allocated on demand by vkd_params_alloc_adam
} vkd_params;

// Declares a parameter; returns its index. shape has ndim entries (1..4). Declaring the
// same name twice returns the first index (and the shapes must agree: else UINT32_MAX).
uint32_t vkd_params_add(vkd_params* p, const char* name, int ndim, const int64_t* shape);
// printf-style name: vkd_params_addf(p, 2, (int64_t[]){C, K}, "down_blocks.%d.x.weight", i)
uint32_t vkd_params_addf(vkd_params* p, int ndim, const int64_t* shape, const char* fmt, ...) VKD_PRINTF(4, 5);
// Index of a declared parameter, or UINT32_MAX.
uint32_t vkd_params_find(const vkd_params* p, const char* name);

// Allocates the data buffer (contents undefined) and, when with_grad, a zeroed gradient buffer.
vkd_status vkd_params_alloc(vkd_gpu* gpu, vkd_params* p, bool with_grad, vkd_error* err);
// Allocates zeroed Adam moment buffers (no-op when present).
vkd_status vkd_params_alloc_adam(vkd_params* p, vkd_error* err);
void vkd_params_free(vkd_params* p);

// Marks parameter i as never fp16 (call before vkd_params_alloc).
void vkd_params_keep_f32(vkd_params* p, uint32_t i);
// Whether parameter i is stored as fp16 (after vkd_params_alloc).
bool vkd_params_is_f16(const vkd_params* p, uint32_t i);
// Bytes of device memory the parameter data takes (after vkd_params_alloc).
uint64_t vkd_params_bytes(const vkd_params* p);

// Device address of parameter i (its data or its gradient; gradient is 0 for frozen sets).
vkd_addr vkd_params_addr(const vkd_params* p, uint32_t i);
vkd_addr vkd_params_grad(const vkd_params* p, uint32_t i);
// Records a zero fill of the gradient buffer (no-op when frozen).
void vkd_params_zero_grad(const vkd_params* p, vkd_stream* s);

// Where a parameter lives in another file layout: a tensor name and optionally a block of
// rows of it (OpenCLIP's fused in_proj_weight holds q, k and v one after the other).
typedef struct vkd_param_source {
    char name[VKD_PARAM_NAME_MAX * 2];
    int64_t row_begin, row_count; // rows of dim 0; row_count 0 = the whole tensor
} vkd_param_source;

// Maps a canonical name to its source in the file; returns false when the parameter has no
// counterpart in that layout (loading then reports it). NULL callback = identity.
typedef bool (*vkd_params_rename_fn)(const char* canonical, vkd_param_source* src, void* user);

typedef struct vkd_params_load_desc {
    const char* prefix;          // prepended to every (renamed) name, e.g. "text_model." or NULL
    vkd_params_rename_fn rename; // NULL: identity
    void* user;
    // Parameter i is loaded only when first <= i < last (last 0 = all): lets one file fill part
    // of a set and another file the rest.
    uint32_t first, last;
} vkd_params_load_desc;

// Loads every selected parameter from f (F32, F16, BF16 or F64, converted to F32, or to F16
// for the parameters stored as half). A missing
// tensor or a different shape is an error naming the file, the tensor and both shapes. A
// tensor of shape [O, I, 1, 1] also fills a declared [O, I] parameter and vice versa
// (1x1 conv vs linear projections, which SD1 and SD2 checkpoints mix).
vkd_status vkd_params_load(vkd_params* p, const vkd_safetensors* f, const vkd_params_load_desc* desc,
                           vkd_error* err);
// Uploads parameter i from host floats (count must match; rounded to nearest-even for fp16 ones).
vkd_status vkd_params_upload(vkd_params* p, uint32_t i, const float* src, uint64_t count, vkd_error* err);
// Downloads parameter i (or its gradient) to host floats (fp16 ones widened exactly).
vkd_status vkd_params_download(const vkd_params* p, uint32_t i, bool grad, float* dst, uint64_t count,
                               vkd_error* err);
// Fills every parameter with N(0, s^2), s = clamp(1/sqrt(fan_in), 0.02, 0.2), biases and norms
// as in the sd-tiny fixtures (weights of norms = 1, biases 0): random weights with real shapes
// for benchmarks. Names ending in "norm*.weight"/"norm.weight" are treated as norms.
vkd_status vkd_params_init_random(vkd_params* p, uint64_t seed, vkd_error* err);

// Writes every parameter (and the gradient when grad) to a safetensors file with canonical names.
vkd_status vkd_params_save(const vkd_params* p, const char* path, bool grad, const char* const* metadata_kv,
                           vkd_error* err);

// Formats a shape as "[32,4,3,3]" into buf.
const char* vkd_shape_str(char* buf, size_t cap, int ndim, const int64_t* shape);

#ifdef __cplusplus
}
#endif
#endif
