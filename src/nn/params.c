// Named parameter sets in flat device buffers; see include/vkdream/nn/params.h.
#include "vkdream/nn/params.h"
#include "vkdream/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// 64 floats = 256 bytes: every parameter starts aligned, so kernels may use vec4 access.
#define PARAM_ALIGN 64

// 4-byte words parameter q occupies, padded to the alignment.
static uint64_t slot_words(const vkd_param* q) {
    uint64_t words = q->f16 ? (q->count + 1) / 2 : q->count;
    return (words + PARAM_ALIGN - 1) / PARAM_ALIGN * PARAM_ALIGN;
}

const char* vkd_shape_str(char* buf, size_t cap, int ndim, const int64_t* shape) {
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
    return buf;
}

uint32_t vkd_params_find(const vkd_params* p, const char* name) {
    for (uint32_t i = 0; i < p->count; i++)
        if (!strcmp(p->items[i].name, name)) return i;
    return UINT32_MAX;
}

uint32_t vkd_params_add(vkd_params* p, const char* name, int ndim, const int64_t* shape) {
    if (ndim < 1 || ndim > VKD_PARAM_MAX_DIMS || strlen(name) >= VKD_PARAM_NAME_MAX) return UINT32_MAX;
    uint64_t count = 1;
    for (int d = 0; d < ndim; d++) count *= (uint64_t)shape[d];
    uint32_t found = vkd_params_find(p, name);
    if (found != UINT32_MAX) {
        const vkd_param* q = &p->items[found];
        if (q->ndim != ndim) return UINT32_MAX;
        for (int d = 0; d < ndim; d++)
            if (q->shape[d] != shape[d]) return UINT32_MAX;
        return found;
    }
    if (p->count == p->cap) {
        uint32_t cap = p->cap ? p->cap * 2 : 64;
        vkd_param* items = realloc(p->items, cap * sizeof(*items));
        if (!items) return UINT32_MAX;
        p->items = items;
        p->cap = cap;
    }
    vkd_param* q = &p->items[p->count];
    memset(q, 0, sizeof(*q));
    snprintf(q->name, sizeof(q->name), "%s", name);
    q->ndim = ndim;
    for (int d = 0; d < ndim; d++) q->shape[d] = shape[d];
    q->count = count;
    q->offset = p->total;
    p->total += slot_words(q);
    return p->count++;
}

uint32_t vkd_params_addf(vkd_params* p, int ndim, const int64_t* shape, const char* fmt, ...) {
    char name[VKD_PARAM_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    if (n < 0 || n >= (int)sizeof(name)) return UINT32_MAX;
    return vkd_params_add(p, name, ndim, shape);
}

static vkd_status zeroed_buffer(vkd_gpu* gpu, uint64_t floats, vkd_buffer* out, vkd_error* err) {
    vkd_status st = vkd_buffer_alloc(gpu, floats * sizeof(float), out, err);
    if (st) return st;
    vkd_stream* s = NULL;
    if ((st = vkd_stream_create(gpu, &s, err))) return st;
    vkd_stream_fill(s, out->addr, (uint32_t)floats, 0);
    st = vkd_stream_submit(s, err);
    vkd_stream_destroy(s);
    return st;
}

// Re-lays out the offsets into chunks of `cf` floats (no parameter straddles two) and allocates
// one buffer per chunk.
static vkd_status alloc_chunked(vkd_gpu* gpu, vkd_params* p, uint64_t cf, vkd_error* err) {
    uint64_t at = 0;
    for (uint32_t i = 0; i < p->count; i++) {
        uint64_t n = slot_words(&p->items[i]);
        if (n > cf)
            return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "parameter '%s' (%llu floats) exceeds one device allocation",
                                 p->items[i].name, (unsigned long long)p->items[i].count);
        if (at % cf + n > cf) at = (at / cf + 1) * cf;
        p->items[i].offset = at;
        at += n;
    }
    uint32_t nchunks = (uint32_t)((at + cf - 1) / cf);
    if (nchunks > 16)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "parameter set of %llu floats needs more than 16 allocations",
                             (unsigned long long)at);
    p->total = at;
    p->chunk_floats = cf;
    for (uint32_t c = 0; c < nchunks; c++) {
        uint64_t n = c + 1 < nchunks ? cf : at - (uint64_t)c * cf;
        vkd_status st = vkd_buffer_alloc(gpu, n * sizeof(float), &p->chunks[c], err);
        if (st) return vkd_error_prefix(err, "parameters (%u tensors, chunk %u of %u): ", p->count, c + 1, nchunks);
        p->nchunks = c + 1;
    }
    p->data = p->chunks[0];
    return VKD_OK;
}

void vkd_params_keep_f32(vkd_params* p, uint32_t i) {
    if (i < p->count) p->items[i].keep_f32 = true;
}

bool vkd_params_is_f16(const vkd_params* p, uint32_t i) { return i < p->count && p->items[i].f16; }

uint64_t vkd_params_bytes(const vkd_params* p) { return p->total * sizeof(float); }

vkd_status vkd_params_alloc(vkd_gpu* gpu, vkd_params* p, bool with_grad, vkd_error* err) {
    p->gpu = gpu;
    if (p->f16 && with_grad)
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "parameters (%u tensors): an fp16 set must be frozen (gradients and Adam are fp32)",
                             p->count);
    // Lay the set out again with the matrices as half (declaration order, aligned slots).
    p->total = 0;
    for (uint32_t i = 0; i < p->count; i++) {
        vkd_param* q = &p->items[i];
        q->f16 = p->f16 && q->ndim >= 2 && !q->keep_f32;
        q->offset = p->total;
        p->total += slot_words(q);
    }
    // Keep each buffer within the device's allocation limit (and 1 GiB, well inside any).
    uint64_t limit = vkd_gpu_get_info(gpu)->max_allocation_bytes;
    if (!limit || limit > ((uint64_t)1 << 30)) limit = (uint64_t)1 << 30;
    if (p->max_buffer_bytes && p->max_buffer_bytes < limit) limit = p->max_buffer_bytes;
    uint64_t cf = limit / sizeof(float) / PARAM_ALIGN * PARAM_ALIGN;
    if (p->total > cf) {
        if (with_grad)
            return vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                                 "trainable parameter set of %.1f MiB exceeds one device allocation (%.1f MiB)",
                                 (double)p->total * 4 / 1048576.0, (double)limit / 1048576.0);
        return alloc_chunked(gpu, p, cf, err);
    }
    if (p->total > UINT32_MAX)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "parameter set of %llu floats exceeds 2^32 elements",
                             (unsigned long long)p->total);
    uint64_t n = p->total ? p->total : 1;
    vkd_status st = vkd_buffer_alloc(gpu, n * sizeof(float), &p->data, err);
    if (st) return vkd_error_prefix(err, "parameters (%u tensors): ", p->count);
    if (with_grad && (st = zeroed_buffer(gpu, n, &p->grad, err))) return vkd_error_prefix(err, "gradients: ");
    return VKD_OK;
}

vkd_status vkd_params_alloc_adam(vkd_params* p, vkd_error* err) {
    uint64_t n = p->total ? p->total : 1;
    vkd_status st = VKD_OK;
    if (!p->adam_m.addr && (st = zeroed_buffer(p->gpu, n, &p->adam_m, err))) return st;
    if (!p->adam_v.addr && (st = zeroed_buffer(p->gpu, n, &p->adam_v, err))) return st;
    return VKD_OK;
}

// The buffer holding float offset `off` of the data, and the offset inside it.
static const vkd_buffer* data_at(const vkd_params* p, uint64_t off, uint64_t* inner) {
    if (p->nchunks > 1) {
        *inner = off % p->chunk_floats;
        return &p->chunks[off / p->chunk_floats];
    }
    *inner = off;
    return &p->data;
}

void vkd_params_free(vkd_params* p) {
    if (p->gpu && p->nchunks > 1) {
        for (uint32_t c = 1; c < p->nchunks; c++) vkd_buffer_free(p->gpu, &p->chunks[c]);
    }
    if (p->gpu) {
        vkd_buffer* bufs[] = {&p->data, &p->grad, &p->adam_m, &p->adam_v};
        for (int i = 0; i < 4; i++)
            if (bufs[i]->addr) vkd_buffer_free(p->gpu, bufs[i]);
    }
    free(p->items);
    memset(p, 0, sizeof(*p));
}

vkd_addr vkd_params_addr(const vkd_params* p, uint32_t i) {
    if (i >= p->count || !p->data.addr) return 0;
    uint64_t inner;
    const vkd_buffer* b = data_at(p, p->items[i].offset, &inner);
    return b->addr + inner * sizeof(float);
}

vkd_addr vkd_params_grad(const vkd_params* p, uint32_t i) {
    return i < p->count && p->grad.addr ? p->grad.addr + p->items[i].offset * sizeof(float) : 0;
}

void vkd_params_zero_grad(const vkd_params* p, vkd_stream* s) {
    if (p->grad.addr) vkd_stream_fill(s, p->grad.addr, (uint32_t)p->total, 0);
}

// Same shape, or the same up to trailing 1x1 dims (conv 1x1 <-> linear).
static bool shapes_compatible(const vkd_param* q, const vkd_tensor_info* t) {
    int64_t a[VKD_MAX_DIMS], b[VKD_MAX_DIMS];
    int na = q->ndim, nb = t->ndim;
    for (int d = 0; d < na; d++) a[d] = q->shape[d];
    for (int d = 0; d < nb; d++) b[d] = t->shape[d];
    while (na > 2 && a[na - 1] == 1) na--;
    while (nb > 2 && b[nb - 1] == 1) nb--;
    if (na != nb) return false;
    for (int d = 0; d < na; d++)
        if (a[d] != b[d]) return false;
    return true;
}

// Converts a (possibly sliced) tensor to floats; the dtype was checked by the caller.
static vkd_status tensor_to_f32(const vkd_tensor_info* t, float* dst, const char* name, const char* path,
                                vkd_error* err) {
    const unsigned char* b = t->data;
    for (uint64_t k = 0; k < t->numel; k++) {
        switch (t->dtype) {
        case VKD_DTYPE_F32: memcpy(&dst[k], b + 4 * k, 4); break;
        case VKD_DTYPE_F64: { double v; memcpy(&v, b + 8 * k, 8); dst[k] = (float)v; } break;
        case VKD_DTYPE_F16: { uint16_t h; memcpy(&h, b + 2 * k, 2); dst[k] = vkd_f16_to_f32(h); } break;
        case VKD_DTYPE_BF16: { uint16_t h; memcpy(&h, b + 2 * k, 2); dst[k] = vkd_bf16_to_f32(h); } break;
        default: return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s", path, name,
                                      vkd_dtype_name(t->dtype));
        }
    }
    return VKD_OK;
}

vkd_status vkd_params_load(vkd_params* p, const vkd_safetensors* f, const vkd_params_load_desc* desc,
                           vkd_error* err) {
    vkd_params_load_desc d = desc ? *desc : (vkd_params_load_desc){0};
    uint32_t last = d.last ? d.last : p->count;
    uint64_t max_count = 0;
    for (uint32_t i = d.first; i < last && i < p->count; i++)
        if (p->items[i].count > max_count) max_count = p->items[i].count;
    float* host = malloc((max_count ? max_count : 1) * sizeof(float));
    if (!host) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "loading parameters: out of host memory");
    vkd_status st = VKD_OK;
    char full[VKD_PARAM_NAME_MAX * 3], s1[96], s2[96];
    vkd_param_source src;
    for (uint32_t i = d.first; i < last && i < p->count && !st; i++) {
        const vkd_param* q = &p->items[i];
        bool has = true;
        memset(&src, 0, sizeof(src));
        if (d.rename) has = d.rename(q->name, &src, d.user);
        else snprintf(src.name, sizeof(src.name), "%s", q->name);
        snprintf(full, sizeof(full), "%s%s", d.prefix ? d.prefix : "", src.name);
        const vkd_tensor_info* t = has ? vkd_safetensors_find(f, full) : NULL;
        if (!t) {
            if (has || !d.rename)
                st = vkd_error_set(err, VKD_ERR_INVALID, "%s: missing tensor '%s' (shape %s)", vkd_safetensors_path(f),
                                   full, vkd_shape_str(s1, sizeof(s1), q->ndim, q->shape));
            else
                st = vkd_error_set(err, VKD_ERR_INVALID, "%s: no tensor in this layout for parameter '%s'",
                                   vkd_safetensors_path(f), q->name);
            break;
        }
        vkd_tensor_info sliced;
        if (src.row_count) {
            // A block of rows is a contiguous byte range of the row-major tensor.
            if (t->ndim < 1 || src.row_begin < 0 || src.row_begin + src.row_count > t->shape[0]) {
                st = vkd_error_set(err, VKD_ERR_INVALID, "%s: tensor '%s' %s has no rows %lld..%lld (for '%s')",
                                   vkd_safetensors_path(f), full, vkd_shape_str(s1, sizeof(s1), t->ndim, t->shape),
                                   (long long)src.row_begin, (long long)(src.row_begin + src.row_count - 1), q->name);
                break;
            }
            sliced = *t;
            uint64_t row = t->numel / (uint64_t)t->shape[0];
            sliced.shape[0] = src.row_count;
            sliced.numel = row * (uint64_t)src.row_count;
            sliced.nbytes = sliced.numel * vkd_dtype_size(t->dtype);
            sliced.data = (const char*)t->data + (uint64_t)src.row_begin * row * vkd_dtype_size(t->dtype);
            t = &sliced;
        }
        if (!shapes_compatible(q, t)) {
            st = vkd_error_set(err, VKD_ERR_INVALID, "%s: tensor '%s' has shape %s, expected %s",
                               vkd_safetensors_path(f), full, vkd_shape_str(s1, sizeof(s1), t->ndim, t->shape),
                               vkd_shape_str(s2, sizeof(s2), q->ndim, q->shape));
            break;
        }
        if (t->dtype != VKD_DTYPE_F32 && t->dtype != VKD_DTYPE_F16 && t->dtype != VKD_DTYPE_BF16 &&
            t->dtype != VKD_DTYPE_F64) {
            st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16",
                               vkd_safetensors_path(f), full, vkd_dtype_name(t->dtype));
            break;
        }
        if ((st = tensor_to_f32(t, host, full, vkd_safetensors_path(f), err))) break;
        st = vkd_params_upload(p, i, host, q->count, err);
    }
    free(host);
    return st;
}

vkd_status vkd_params_upload(vkd_params* p, uint32_t i, const float* src, uint64_t count, vkd_error* err) {
    if (i >= p->count || count != p->items[i].count)
        return vkd_error_set(err, VKD_ERR_INVALID, "params upload: bad index %u or count %llu", i,
                             (unsigned long long)count);
    uint64_t inner;
    const vkd_buffer* b = data_at(p, p->items[i].offset, &inner);
    if (!p->items[i].f16) return vkd_buffer_upload(p->gpu, b, inner * sizeof(float), src, count * sizeof(float), err);
    uint16_t* half = malloc(count * sizeof *half);
    if (!half) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "params upload '%s': out of host memory", p->items[i].name);
    for (uint64_t k = 0; k < count; k++) half[k] = vkd_f32_to_f16(src[k]);
    vkd_status st = vkd_buffer_upload(p->gpu, b, inner * sizeof(float), half, count * sizeof *half, err);
    free(half);
    return st;
}

vkd_status vkd_params_download(const vkd_params* p, uint32_t i, bool grad, float* dst, uint64_t count,
                               vkd_error* err) {
    if (i >= p->count || count != p->items[i].count || (grad && !p->grad.addr))
        return vkd_error_set(err, VKD_ERR_INVALID, "params download: bad index %u, count %llu or no gradient", i,
                             (unsigned long long)count);
    uint64_t inner = p->items[i].offset;
    const vkd_buffer* b = grad ? &p->grad : data_at(p, p->items[i].offset, &inner);
    if (grad || !p->items[i].f16) return vkd_buffer_download(p->gpu, b, inner * sizeof(float), dst, count * sizeof(float), err);
    uint16_t* half = malloc(count * sizeof *half);
    if (!half) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "params download '%s': out of host memory", p->items[i].name);
    vkd_status st = vkd_buffer_download(p->gpu, b, inner * sizeof(float), half, count * sizeof *half, err);
    if (!st)
        for (uint64_t k = 0; k < count; k++) dst[k] = vkd_f16_to_f32(half[k]);
    free(half);
    return st;
}

// splitmix64 + Box-Muller: reproducible across platforms, no global state.
static uint64_t splitmix(uint64_t* s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double uniform01(uint64_t* s) { return ((double)(splitmix(s) >> 11) + 0.5) / 9007199254740992.0; }
static double gauss(uint64_t* s) {
    // Two statements: the evaluation order of two calls in one expression is unspecified,
    // and compilers differ, which would break reproducibility across platforms.
    double u1 = uniform01(s);
    double u2 = uniform01(s);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static bool ends_with(const char* s, const char* suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

vkd_status vkd_params_init_random(vkd_params* p, uint64_t seed, vkd_error* err) {
    uint64_t max_count = 1;
    for (uint32_t i = 0; i < p->count; i++)
        if (p->items[i].count > max_count) max_count = p->items[i].count;
    float* host = malloc(max_count * sizeof(float));
    if (!host) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "init_random: out of host memory");
    uint64_t state = seed;
    vkd_status st = VKD_OK;
    for (uint32_t i = 0; i < p->count && !st; i++) {
        const vkd_param* q = &p->items[i];
        bool is_norm = strstr(q->name, "norm") && q->ndim == 1;
        if (is_norm && ends_with(q->name, ".weight")) {
            for (uint64_t k = 0; k < q->count; k++) host[k] = 1.0f;
        } else if (q->ndim == 1) {
            for (uint64_t k = 0; k < q->count; k++) host[k] = 0.0f;
        } else {
            uint64_t fan_in = q->count / (uint64_t)q->shape[0];
            double s = 1.0 / sqrt((double)fan_in);
            s = s < 0.02 ? 0.02 : s > 0.2 ? 0.2 : s;
            for (uint64_t k = 0; k < q->count; k++) host[k] = (float)(s * gauss(&state));
        }
        st = vkd_params_upload(p, i, host, q->count, err);
    }
    free(host);
    return st;
}

vkd_status vkd_params_save(const vkd_params* p, const char* path, bool grad, const char* const* metadata_kv,
                           vkd_error* err) {
    if (grad && !p->grad.addr) return vkd_error_set(err, VKD_ERR_INVALID, "%s: parameter set has no gradient", path);
    uint64_t floats = 0;  // fp16 parameters are written widened, so the host copy is laid out by count
    for (uint32_t i = 0; i < p->count; i++) floats += p->items[i].count;
    vkd_tensor_write* w = calloc(p->count ? p->count : 1, sizeof(*w));
    float* host = malloc((floats ? floats : 1) * sizeof(float));
    vkd_status st = VKD_OK;
    if (!w || !host) st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
    uint64_t at = 0;
    for (uint32_t i = 0; i < p->count && !st; i++) {
        const vkd_param* q = &p->items[i];
        st = vkd_params_download(p, i, grad, host + at, q->count, err);
        w[i] = (vkd_tensor_write){.name = q->name, .dtype = VKD_DTYPE_F32, .ndim = q->ndim, .data = host + at};
        for (int d = 0; d < q->ndim; d++) w[i].shape[d] = q->shape[d];
        at += q->count;
    }
    if (!st) st = vkd_safetensors_write(path, w, p->count, metadata_kv, err);
    free(w);
    free(host);
    return st;
}
