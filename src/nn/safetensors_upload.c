// Tensor upload: the only part of safetensors that needs the GPU layer, kept apart so
// the parser (and its fuzzer) link without Vulkan.
#include "vkdream/gpu.h"
#include "vkdream/safetensors.h"

#include <stdlib.h>

static vkd_status convert(const vkd_safetensors* st, const vkd_tensor_info* t, bool as_f16, void** host,
                          vkd_error* err) {
    size_t n = (size_t)t->numel, esize = as_f16 ? 2 : 4;
    *host = NULL;
    if (n > SIZE_MAX / esize)
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: tensor '%.200s' is too large to convert",
                             vkd_safetensors_path(st), t->name);
    void* p = malloc(n ? n * esize : 1);
    if (!p)
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: tensor '%.200s': out of host memory for %zu bytes",
                             vkd_safetensors_path(st), t->name, n * esize);
    vkd_status s = as_f16 ? vkd_safetensors_read_f16(st, t->name, p, n, err)
                          : vkd_safetensors_read_f32(st, t->name, p, n, err);
    if (s) {
        free(p);
        return s;
    }
    *host = p;
    return VKD_OK;
}

vkd_status vkd_safetensors_upload(vkd_gpu* gpu, const vkd_safetensors* st, const char* name, bool as_f16,
                                  vkd_buffer* out, vkd_error* err) {
    if (!gpu || !st || !out) return vkd_error_set(err, VKD_ERR_INVALID, "vkd_safetensors_upload: NULL argument");
    *out = (vkd_buffer){0}; // so vkd_buffer_free is safe on every path
    const vkd_tensor_info* t = vkd_safetensors_find(st, name);
    if (!t)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: missing tensor '%.200s' (the file has %zu tensors)",
                             vkd_safetensors_path(st), name ? name : "(null)", vkd_safetensors_count(st));
    vkd_dtype target = as_f16 ? VKD_DTYPE_F16 : VKD_DTYPE_F32;
    const void* src = t->data;
    void* host = NULL;
    vkd_status s;
    // The file and the device are both little-endian (as is every host Vulkan runs on), so a
    // tensor already in the target dtype goes up straight from the mapping, with no host copy.
    if (t->dtype != target) {
        if ((s = convert(st, t, as_f16, &host, err))) return s;
        src = host;
    }
    size_t bytes = (size_t)t->numel * vkd_dtype_size(target);
    s = vkd_buffer_alloc(gpu, bytes, out, err);
    if (!s) s = vkd_buffer_upload(gpu, out, 0, src, bytes, err);
    if (s) {
        if (out->addr) vkd_buffer_free(gpu, out);
        vkd_error_prefix(err, "%s: uploading tensor '%.200s': ", vkd_safetensors_path(st), t->name);
    }
    free(host);
    return s;
}
