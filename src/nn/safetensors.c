// safetensors reader and writer. The header is validated completely at open time, so
// the accessors never need to re-check anything: an untrusted file either opens into
// a consistent table or fails with a message naming the file and the problem.
#define _POSIX_C_SOURCE 200809L

#include "vkdream/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__unix__) || defined(__APPLE__)
#define VKD_HAVE_MMAP 1
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

// JSON numbers are doubles; above 2^53 - 1 distinct integers collapse, so an offset there
// could silently point somewhere other than the file says.
#define MAX_SAFE_INTEGER 9007199254740991.0
#define MEMORY_PATH "<memory>"

struct vkd_safetensors {
    char* path;
    const uint8_t* bytes;      // the whole file
    size_t size;
    const uint8_t* data;       // start of the data section
    size_t data_size;
    void* owned;               // mmap (or malloc without mmap) to release on close
    size_t owned_size;
    vkd_tensor_info* tensors;  // sorted by data offset
    size_t count;
    const vkd_tensor_info** by_name; // sorted by strcmp, for bsearch
    const char** meta_keys;
    const char** meta_values;
    size_t meta_count;
    char* strings;             // every name, key and value, NUL-terminated, back to back
};

// ---------------------------------------------------------------------------
// dtypes

static const struct {
    const char* name;
    size_t size;
} dtype_table[VKD_DTYPE_COUNT] = {
    [VKD_DTYPE_INVALID] = {"invalid", 0}, [VKD_DTYPE_F64] = {"F64", 8},         [VKD_DTYPE_F32] = {"F32", 4},
    [VKD_DTYPE_F16] = {"F16", 2},         [VKD_DTYPE_BF16] = {"BF16", 2},       [VKD_DTYPE_F8_E4M3] = {"F8_E4M3", 1},
    [VKD_DTYPE_F8_E5M2] = {"F8_E5M2", 1}, [VKD_DTYPE_I64] = {"I64", 8},         [VKD_DTYPE_I32] = {"I32", 4},
    [VKD_DTYPE_I16] = {"I16", 2},         [VKD_DTYPE_I8] = {"I8", 1},           [VKD_DTYPE_U64] = {"U64", 8},
    [VKD_DTYPE_U32] = {"U32", 4},         [VKD_DTYPE_U16] = {"U16", 2},         [VKD_DTYPE_U8] = {"U8", 1},
    [VKD_DTYPE_BOOL] = {"BOOL", 1},
};

const char* vkd_dtype_name(vkd_dtype dtype) {
    if ((unsigned)dtype >= VKD_DTYPE_COUNT) return "invalid";
    return dtype_table[dtype].name;
}

size_t vkd_dtype_size(vkd_dtype dtype) {
    if ((unsigned)dtype >= VKD_DTYPE_COUNT) return 0;
    return dtype_table[dtype].size;
}

vkd_dtype vkd_dtype_from_name(const char* name) {
    if (!name) return VKD_DTYPE_INVALID;
    for (int d = 1; d < VKD_DTYPE_COUNT; d++)
        if (!strcmp(name, dtype_table[d].name)) return (vkd_dtype)d;
    return VKD_DTYPE_INVALID;
}

// ---------------------------------------------------------------------------
// Scalar conversions. Loads go byte by byte: data offsets need not be aligned, and the
// file is little-endian whatever the host is.

static uint16_t load16(const uint8_t* p) { return (uint16_t)(p[0] | (unsigned)p[1] << 8); }
static uint32_t load32(const uint8_t* p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t load64(const uint8_t* p) { return (uint64_t)load32(p) | (uint64_t)load32(p + 4) << 32; }

static float f32_from_bits(uint32_t x) {
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}
static uint32_t f32_bits(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    return x;
}
static double f64_from_bits(uint64_t x) {
    double d;
    memcpy(&d, &x, sizeof d);
    return d;
}

float vkd_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) return f32_from_bits(sign | 0x7f800000u | m << 13);
    if (e) return f32_from_bits(sign | (e + 112) << 23 | m << 13);
    if (!m) return f32_from_bits(sign);
    // Subnormal half: normalise, since every half subnormal is a normal float.
    e = 113;
    while (!(m & 0x400u)) {
        m <<= 1;
        e--;
    }
    return f32_from_bits(sign | e << 23 | (m & 0x3ffu) << 13);
}

uint16_t vkd_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return sign | 0x7e00u; // NaN stays a quiet NaN
    if (ax >= 0x47800000u) return sign | 0x7c00u; // >= 65536 or inf
    if (ax < 0x33000000u) return sign;            // < 2^-25 rounds to zero
    if (ax < 0x38800000u) {
        // Half subnormal: the result counts units of 2^-24.
        uint32_t m = (ax & 0x7fffffu) | 0x800000u, shift = 126 - (ax >> 23);
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return sign | (uint16_t)q; // a carry into 0x400 is exactly the smallest normal
    }
    uint32_t h = (ax - 0x38000000u) >> 13, rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++; // a carry into 0x7c00 is inf, as it should be
    return sign | (uint16_t)h;
}

float vkd_bf16_to_f32(uint16_t b) { return f32_from_bits((uint32_t)b << 16); }

static float f8e4m3_to_f32(uint8_t v) {
    int e = (v >> 3) & 0xf, m = v & 7;
    float mag = (e == 15 && m == 7) ? NAN : e ? ldexpf((float)(8 + m), e - 10) : ldexpf((float)m, -9);
    return (v & 0x80) ? -mag : mag;
}

// E5M2 is the top byte of an IEEE half.
static float f8e5m2_to_f32(uint8_t v) { return vkd_f16_to_f32((uint16_t)(v << 8)); }

// A plain (float) cast of a double beyond float range is undefined behaviour in C11.
static float f64_to_f32(double d) {
    if (d >= 0x1.ffffffp127) return INFINITY; // the rounding boundary above FLT_MAX
    if (d <= -0x1.ffffffp127) return -INFINITY;
    return (float)d;
}

// Converts n elements of dtype at p (packed, little-endian) to float.
static void convert_to_f32(vkd_dtype dtype, const uint8_t* p, size_t n, float* dst) {
    size_t i;
    switch (dtype) {
    case VKD_DTYPE_F64: for (i = 0; i < n; i++) dst[i] = f64_to_f32(f64_from_bits(load64(p + 8 * i))); break;
    case VKD_DTYPE_F32: for (i = 0; i < n; i++) dst[i] = f32_from_bits(load32(p + 4 * i)); break;
    case VKD_DTYPE_F16: for (i = 0; i < n; i++) dst[i] = vkd_f16_to_f32(load16(p + 2 * i)); break;
    case VKD_DTYPE_BF16: for (i = 0; i < n; i++) dst[i] = vkd_bf16_to_f32(load16(p + 2 * i)); break;
    case VKD_DTYPE_F8_E4M3: for (i = 0; i < n; i++) dst[i] = f8e4m3_to_f32(p[i]); break;
    case VKD_DTYPE_F8_E5M2: for (i = 0; i < n; i++) dst[i] = f8e5m2_to_f32(p[i]); break;
    case VKD_DTYPE_I64: for (i = 0; i < n; i++) dst[i] = (float)(int64_t)load64(p + 8 * i); break;
    case VKD_DTYPE_I32: for (i = 0; i < n; i++) dst[i] = (float)(int32_t)load32(p + 4 * i); break;
    case VKD_DTYPE_I16: for (i = 0; i < n; i++) dst[i] = (float)(int16_t)load16(p + 2 * i); break;
    case VKD_DTYPE_I8: for (i = 0; i < n; i++) dst[i] = (float)(int8_t)p[i]; break;
    case VKD_DTYPE_U64: for (i = 0; i < n; i++) dst[i] = (float)load64(p + 8 * i); break;
    case VKD_DTYPE_U32: for (i = 0; i < n; i++) dst[i] = (float)load32(p + 4 * i); break;
    case VKD_DTYPE_U16: for (i = 0; i < n; i++) dst[i] = (float)load16(p + 2 * i); break;
    case VKD_DTYPE_U8: for (i = 0; i < n; i++) dst[i] = (float)p[i]; break;
    case VKD_DTYPE_BOOL: for (i = 0; i < n; i++) dst[i] = p[i] ? 1.0f : 0.0f; break;
    case VKD_DTYPE_INVALID:
    case VKD_DTYPE_COUNT: break; // rejected at open
    }
}

// ---------------------------------------------------------------------------
// Errors: every message starts with the file it is about.

static vkd_status fail(const char* path, vkd_error* err, vkd_status status, const char* fmt, ...) VKD_PRINTF(4, 5);
static vkd_status fail(const char* path, vkd_error* err, vkd_status status, const char* fmt, ...) {
    if (!err) return status;
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    // Names and JSON snippets come from the file; keep the message on one printable line.
    for (char* c = msg; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f) *c = '?';
    return vkd_error_set(err, status, "%s: %s", path, msg);
}

// Names come from untrusted files; keep one from crowding the rest of the message out.
#define NAME_FMT "'%.200s'"

// Shapes in messages: "[32,4,3,3]"; -1 entries print as "?" (any size).
static void format_shape(char* buf, size_t cap, int ndim, const int64_t* shape) {
    size_t at = 0;
    at += (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && at < cap; i++) {
        if (shape[i] < 0)
            at += (size_t)snprintf(buf + at, cap - at, "%s?", i ? "," : "");
        else
            at += (size_t)snprintf(buf + at, cap - at, "%s%lld", i ? "," : "", (long long)shape[i]);
    }
    if (at < cap) snprintf(buf + at, cap - at, "]");
}

// ---------------------------------------------------------------------------
// Header parsing

// A JSON number that is an exact, non-negative integer no larger than 2^53 - 1.
static bool json_safe_uint(const cJSON* j, uint64_t* out) {
    if (!cJSON_IsNumber(j)) return false;
    double v = j->valuedouble;
    if (!(v >= 0.0 && v <= MAX_SAFE_INTEGER) || v != floor(v)) return false; // NaN fails the first test
    *out = (uint64_t)v;
    return true;
}

static vkd_status parse_shape(const char* path, const char* name, const cJSON* shape, vkd_tensor_info* t,
                              vkd_error* err) {
    if (!cJSON_IsArray(shape))
        return fail(path, err, VKD_ERR_INVALID, "tensor " NAME_FMT ": \"shape\" is missing or not an array", name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > VKD_MAX_DIMS)
        return fail(path, err, VKD_ERR_UNSUPPORTED, "tensor " NAME_FMT ": %d dimensions, at most %d are supported",
                    name, ndim, VKD_MAX_DIMS);
    t->ndim = ndim;
    bool has_zero = false;
    const cJSON* d;
    int i = 0;
    cJSON_ArrayForEach(d, shape) {
        uint64_t v;
        if (!json_safe_uint(d, &v))
            return fail(path, err, VKD_ERR_INVALID,
                        "tensor " NAME_FMT ": shape[%d] is not a non-negative integer below 2^53", name, i);
        t->shape[i++] = (int64_t)v;
        has_zero |= v == 0;
    }
    // Multiply only when no dimension is zero: [2^40, 2^40, 0] is an empty tensor, not an overflow.
    uint64_t numel = 1;
    for (i = 0; i < ndim && !has_zero; i++) {
        uint64_t v = (uint64_t)t->shape[i];
        if (numel > UINT64_MAX / v)
            return fail(path, err, VKD_ERR_INVALID, "tensor " NAME_FMT ": element count overflows 64 bits", name);
        numel *= v;
    }
    t->numel = has_zero ? 0 : numel;
    return VKD_OK;
}

static vkd_status parse_offsets(const vkd_safetensors* st, const char* name, const cJSON* offsets,
                                vkd_tensor_info* t, vkd_error* err) {
    const char* path = st->path;
    uint64_t begin, end;
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 || !json_safe_uint(offsets->child, &begin) ||
        !json_safe_uint(offsets->child->next, &end))
        return fail(path, err, VKD_ERR_INVALID,
                    "tensor " NAME_FMT ": \"data_offsets\" must be [begin, end], two non-negative integers", name);
    if (begin > end)
        return fail(path, err, VKD_ERR_INVALID, "tensor " NAME_FMT ": data_offsets [%llu, %llu] end before they begin",
                    name, (unsigned long long)begin, (unsigned long long)end);
    if (end > st->data_size)
        return fail(path, err, VKD_ERR_INVALID,
                    "tensor " NAME_FMT ": data_offsets [%llu, %llu] run past the data section (%zu bytes); "
                    "the file is truncated or corrupt",
                    name, (unsigned long long)begin, (unsigned long long)end, st->data_size);
    size_t esize = vkd_dtype_size(t->dtype);
    // Divide first: numel * esize may overflow, end - begin is known to fit the file.
    if (t->numel > (end - begin) / esize || t->numel * esize != end - begin) {
        char shape[160], need[48];
        format_shape(shape, sizeof shape, t->ndim, t->shape);
        if (t->numel > UINT64_MAX / esize)
            snprintf(need, sizeof need, "over 2^64 bytes");
        else
            snprintf(need, sizeof need, "%llu bytes", (unsigned long long)(t->numel * esize));
        return fail(path, err, VKD_ERR_INVALID,
                    "tensor " NAME_FMT ": %s %s needs %s but data_offsets [%llu, %llu] span %llu bytes", name,
                    vkd_dtype_name(t->dtype), shape, need, (unsigned long long)begin, (unsigned long long)end,
                    (unsigned long long)(end - begin));
    }
    t->data = st->data + begin;
    t->nbytes = (size_t)(end - begin);
    return VKD_OK;
}

static vkd_status parse_entry(const vkd_safetensors* st, const cJSON* item, vkd_tensor_info* t, vkd_error* err) {
    const char* name = item->string;
    if (!cJSON_IsObject(item))
        return fail(st->path, err, VKD_ERR_INVALID, "tensor " NAME_FMT ": entry is not a JSON object", name);
    const cJSON* dtype = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    if (!cJSON_IsString(dtype))
        return fail(st->path, err, VKD_ERR_INVALID, "tensor " NAME_FMT ": \"dtype\" is missing or not a string", name);
    t->dtype = vkd_dtype_from_name(dtype->valuestring);
    if (!t->dtype)
        return fail(st->path, err, VKD_ERR_UNSUPPORTED,
                    "tensor " NAME_FMT ": unknown dtype '%.40s' (known: F64 F32 F16 BF16 F8_E4M3 F8_E5M2 "
                    "I64 I32 I16 I8 U64 U32 U16 U8 BOOL)",
                    name, dtype->valuestring);
    vkd_status s = parse_shape(st->path, name, cJSON_GetObjectItemCaseSensitive(item, "shape"), t, err);
    if (s) return s;
    return parse_offsets(st, name, cJSON_GetObjectItemCaseSensitive(item, "data_offsets"), t, err);
}

static vkd_status check_metadata(const char* path, const cJSON* meta, vkd_error* err) {
    if (cJSON_IsNull(meta)) return VKD_OK;
    if (!cJSON_IsObject(meta))
        return fail(path, err, VKD_ERR_INVALID, "\"__metadata__\" is not an object of strings");
    const cJSON* kv;
    cJSON_ArrayForEach(kv, meta) {
        if (!cJSON_IsString(kv))
            return fail(path, err, VKD_ERR_INVALID, "\"__metadata__\" value for " NAME_FMT " is not a string",
                        kv->string);
    }
    return VKD_OK;
}

// Copies every name, metadata key and value into one block so the cJSON tree can go.
static vkd_status copy_strings(vkd_safetensors* st, const cJSON* root, const cJSON* meta, vkd_error* err) {
    size_t total = 0;
    const cJSON* j;
    cJSON_ArrayForEach(j, root) if (j != meta) total += strlen(j->string) + 1;
    if (cJSON_IsObject(meta)) {
        cJSON_ArrayForEach(j, meta) total += strlen(j->string) + strlen(j->valuestring) + 2;
        st->meta_count = (size_t)cJSON_GetArraySize(meta);
    }
    st->strings = malloc(total ? total : 1);
    st->meta_keys = calloc(st->meta_count ? st->meta_count : 1, sizeof *st->meta_keys);
    st->meta_values = calloc(st->meta_count ? st->meta_count : 1, sizeof *st->meta_values);
    if (!st->strings || !st->meta_keys || !st->meta_values)
        return fail(st->path, err, VKD_ERR_OUT_OF_MEMORY, "out of host memory for %zu bytes of names", total);
    char* w = st->strings;
    size_t i = 0;
    cJSON_ArrayForEach(j, root) {
        if (j == meta) continue;
        size_t n = strlen(j->string) + 1;
        st->tensors[i++].name = memcpy(w, j->string, n);
        w += n;
    }
    if (!cJSON_IsObject(meta)) return VKD_OK;
    i = 0;
    cJSON_ArrayForEach(j, meta) {
        size_t nk = strlen(j->string) + 1, nv = strlen(j->valuestring) + 1;
        st->meta_keys[i] = memcpy(w, j->string, nk);
        st->meta_values[i++] = memcpy(w + nk, j->valuestring, nv);
        w += nk + nv;
    }
    return VKD_OK;
}

static int cmp_by_offset(const void* a, const void* b) {
    const vkd_tensor_info* x = a;
    const vkd_tensor_info* y = b;
    const uint8_t *px = x->data, *py = y->data;
    if (px != py) return px < py ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_by_name(const void* a, const void* b) {
    return strcmp((*(const vkd_tensor_info* const*)a)->name, (*(const vkd_tensor_info* const*)b)->name);
}

// Empty tensors may sit anywhere; two non-empty ones must not share a byte.
static vkd_status check_overlaps(const vkd_safetensors* st, vkd_error* err) {
    const vkd_tensor_info* last = NULL;
    for (size_t i = 0; i < st->count; i++) {
        const vkd_tensor_info* t = &st->tensors[i];
        if (!t->nbytes) continue;
        if (last && (const uint8_t*)t->data < (const uint8_t*)last->data + last->nbytes)
            return fail(st->path, err, VKD_ERR_INVALID,
                        "tensors " NAME_FMT " (bytes %zu..%zu) and " NAME_FMT " (bytes %zu..%zu) overlap", last->name,
                        (size_t)((const uint8_t*)last->data - st->data),
                        (size_t)((const uint8_t*)last->data - st->data) + last->nbytes, t->name,
                        (size_t)((const uint8_t*)t->data - st->data),
                        (size_t)((const uint8_t*)t->data - st->data) + t->nbytes);
        if (!last || (const uint8_t*)t->data + t->nbytes > (const uint8_t*)last->data + last->nbytes) last = t;
    }
    return VKD_OK;
}

static vkd_status build_index(vkd_safetensors* st, vkd_error* err) {
    qsort(st->tensors, st->count, sizeof *st->tensors, cmp_by_offset);
    vkd_status s = check_overlaps(st, err);
    if (s) return s;
    st->by_name = malloc((st->count ? st->count : 1) * sizeof *st->by_name);
    if (!st->by_name) return fail(st->path, err, VKD_ERR_OUT_OF_MEMORY, "out of host memory for the name index");
    for (size_t i = 0; i < st->count; i++) st->by_name[i] = &st->tensors[i];
    qsort(st->by_name, st->count, sizeof *st->by_name, cmp_by_name);
    for (size_t i = 1; i < st->count; i++)
        if (!strcmp(st->by_name[i - 1]->name, st->by_name[i]->name))
            return fail(st->path, err, VKD_ERR_INVALID, "tensor name " NAME_FMT " appears twice in the header",
                        st->by_name[i]->name);
    return VKD_OK;
}

static bool json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Parses the header text into a cJSON object, or fails saying where the JSON breaks.
static vkd_status parse_json(const vkd_safetensors* st, uint64_t len, cJSON** out, vkd_error* err) {
    const char* text = (const char*)st->bytes + 8;
    // cJSON reads C strings; a NUL inside would silently cut the header short.
    const char* nul = memchr(text, '\0', (size_t)len);
    if (nul)
        return fail(st->path, err, VKD_ERR_INVALID, "header contains a NUL byte at offset %zu (not JSON text)",
                    (size_t)(nul - text));
    char* copy = malloc((size_t)len + 1);
    if (!copy) return fail(st->path, err, VKD_ERR_OUT_OF_MEMORY, "out of host memory for a %llu-byte header",
                           (unsigned long long)len);
    memcpy(copy, text, (size_t)len);
    copy[len] = '\0';
    const char* end = NULL;
    cJSON* root = cJSON_ParseWithOpts(copy, &end, 0);
    size_t at = end ? (size_t)(end - copy) : 0;
    if (root)
        while (at < len && json_space(copy[at])) at++;
    vkd_status s = VKD_OK;
    if (!root)
        s = fail(st->path, err, VKD_ERR_INVALID, "header is not valid JSON (error at byte %zu of %llu: %s%.24s%s)",
                 at, (unsigned long long)len, at < len ? "\"" : "the text ends early", copy + at, at < len ? "\"" : "");
    else if (at < len)
        s = fail(st->path, err, VKD_ERR_INVALID, "header has text after the JSON object at byte %zu: \"%.24s\"", at,
                 copy + at);
    else if (!cJSON_IsObject(root))
        s = fail(st->path, err, VKD_ERR_INVALID, "header is JSON but not an object of tensors");
    free(copy);
    if (s) {
        cJSON_Delete(root);
        return s;
    }
    *out = root;
    return VKD_OK;
}

static vkd_status parse_tensors(vkd_safetensors* st, const cJSON* root, vkd_error* err) {
    const cJSON* meta = NULL;
    const cJSON* j;
    size_t n = 0;
    cJSON_ArrayForEach(j, root) {
        if (strcmp(j->string, "__metadata__")) {
            n++;
            continue;
        }
        if (meta) return fail(st->path, err, VKD_ERR_INVALID, "\"__metadata__\" appears twice in the header");
        meta = j;
    }
    vkd_status s = meta ? check_metadata(st->path, meta, err) : VKD_OK;
    if (s) return s;
    st->tensors = calloc(n ? n : 1, sizeof *st->tensors);
    if (!st->tensors) return fail(st->path, err, VKD_ERR_OUT_OF_MEMORY, "out of host memory for %zu tensors", n);
    st->count = n;
    size_t i = 0;
    cJSON_ArrayForEach(j, root) {
        if (j == meta) continue;
        if ((s = parse_entry(st, j, &st->tensors[i++], err))) return s;
    }
    if ((s = copy_strings(st, root, meta, err))) return s;
    return build_index(st, err);
}

// The usual wrong files handed to a safetensors loader, named so the user knows what to do.
static vkd_status sniff_other_format(const vkd_safetensors* st, vkd_error* err) {
    static const char lfs[] = "version https://git-lfs";
    if (st->size >= 4 && !memcmp(st->bytes, "PK\x03\x04", 4))
        return fail(st->path, err, VKD_ERR_UNSUPPORTED,
                    "this is a zip archive (a PyTorch .bin/.ckpt checkpoint?), not safetensors; "
                    "use the model's .safetensors file or convert it");
    if (st->size >= sizeof lfs - 1 && !memcmp(st->bytes, lfs, sizeof lfs - 1))
        return fail(st->path, err, VKD_ERR_INVALID,
                    "this is a Git LFS pointer, not the weights; fetch them with `git lfs pull`");
    return VKD_OK;
}

static vkd_status parse_file(vkd_safetensors* st, vkd_error* err) {
    vkd_status s = sniff_other_format(st, err);
    if (s) return s;
    if (st->size < 8)
        return fail(st->path, err, VKD_ERR_INVALID,
                    "file is %zu bytes, too short for a safetensors header (at least 8)", st->size);
    uint64_t len = load64(st->bytes);
    if (len == 0) return fail(st->path, err, VKD_ERR_INVALID, "header length is 0 (not a safetensors file?)");
    if (len > VKD_SAFETENSORS_MAX_HEADER)
        return fail(st->path, err, VKD_ERR_INVALID,
                    "header length %llu is over the 100 MiB limit (not a safetensors file, or corrupt)",
                    (unsigned long long)len);
    if (len > st->size - 8)
        return fail(st->path, err, VKD_ERR_INVALID,
                    "header length %llu runs past the end of the %zu-byte file (truncated download?)",
                    (unsigned long long)len, st->size);
    st->data = st->bytes + 8 + len;
    st->data_size = st->size - 8 - (size_t)len;
    cJSON* root = NULL;
    s = parse_json(st, len, &root, err);
    if (s) return s;
    s = parse_tensors(st, root, err);
    cJSON_Delete(root);
    return s;
}

static vkd_status create(const char* path, const void* bytes, size_t size, vkd_safetensors** out, vkd_error* err) {
    vkd_safetensors* st = calloc(1, sizeof *st);
    size_t plen = strlen(path) + 1;
    char* p = malloc(plen);
    if (!st || !p) {
        free(st);
        free(p);
        return fail(path, err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    st->path = memcpy(p, path, plen);
    st->bytes = bytes;
    st->size = size;
    *out = st;
    return VKD_OK;
}

vkd_status vkd_safetensors_open_memory(const void* data, size_t size, vkd_safetensors** out, vkd_error* err) {
    if (!out) return vkd_error_set(err, VKD_ERR_INVALID, "vkd_safetensors_open_memory: out is NULL");
    *out = NULL;
    if (!data && size) return fail(MEMORY_PATH, err, VKD_ERR_INVALID, "data is NULL but size is %zu", size);
    vkd_safetensors* st = NULL;
    vkd_status s = create(MEMORY_PATH, data, size, &st, err);
    if (s) return s;
    if ((s = parse_file(st, err))) {
        vkd_safetensors_close(st);
        return s;
    }
    *out = st;
    return VKD_OK;
}

#ifdef VKD_HAVE_MMAP
// Maps the file; an empty file gets no mapping (mmap refuses length 0) and fails in parse_file.
static vkd_status map_file(const char* path, void** map, size_t* size, vkd_error* err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(path, err, VKD_ERR_IO, "cannot open: %s", strerror(errno));
    struct stat sb;
    vkd_status s = VKD_OK;
    if (fstat(fd, &sb))
        s = fail(path, err, VKD_ERR_IO, "cannot stat: %s", strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        s = fail(path, err, VKD_ERR_IO, "not a regular file");
    else if ((uint64_t)sb.st_size > SIZE_MAX)
        s = fail(path, err, VKD_ERR_UNSUPPORTED, "%llu bytes do not fit this process's address space",
                 (unsigned long long)sb.st_size);
    *map = NULL;
    *size = s ? 0 : (size_t)sb.st_size;
    if (!s && *size) {
        void* m = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED)
            s = fail(path, err, VKD_ERR_IO, "cannot map %zu bytes: %s", *size, strerror(errno));
        else
            *map = m;
    }
    close(fd);
    return s;
}

static void unmap_file(void* map, size_t size) {
    if (map) munmap(map, size);
}
#else
// Without mmap the file is read whole; the loader touches every weight anyway.
static vkd_status map_file(const char* path, void** map, size_t* size, vkd_error* err) {
    *map = NULL;
    *size = 0;
    FILE* f = fopen(path, "rb");
    if (!f) return fail(path, err, VKD_ERR_IO, "cannot open: %s", strerror(errno));
    vkd_status s = VKD_OK;
    long n = -1;
    if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
        s = fail(path, err, VKD_ERR_IO, "cannot determine the file size: %s", strerror(errno));
    else if (n && !(*map = malloc((size_t)n)))
        s = fail(path, err, VKD_ERR_OUT_OF_MEMORY, "out of host memory for %ld bytes", n);
    else if (n && fread(*map, 1, (size_t)n, f) != (size_t)n)
        s = fail(path, err, VKD_ERR_IO, "read failed: %s", strerror(errno));
    fclose(f);
    if (s) {
        free(*map);
        *map = NULL;
        return s;
    }
    *size = (size_t)n;
    return VKD_OK;
}

static void unmap_file(void* map, size_t size) {
    (void)size;
    free(map);
}
#endif

vkd_status vkd_safetensors_open(const char* path, vkd_safetensors** out, vkd_error* err) {
    if (!out) return vkd_error_set(err, VKD_ERR_INVALID, "vkd_safetensors_open: out is NULL");
    *out = NULL;
    if (!path) return vkd_error_set(err, VKD_ERR_INVALID, "vkd_safetensors_open: path is NULL");
    void* map = NULL;
    size_t size = 0;
    vkd_status s = map_file(path, &map, &size, err);
    if (s) return s;
    vkd_safetensors* st = NULL;
    if ((s = create(path, map, size, &st, err))) {
        unmap_file(map, size);
        return s;
    }
    st->owned = map;
    st->owned_size = size;
    if ((s = parse_file(st, err))) {
        vkd_safetensors_close(st);
        return s;
    }
    *out = st;
    return VKD_OK;
}

void vkd_safetensors_close(vkd_safetensors* st) {
    if (!st) return;
    unmap_file(st->owned, st->owned_size);
    free(st->tensors);
    free(st->by_name);
    free(st->meta_keys);
    free(st->meta_values);
    free(st->strings);
    free(st->path);
    free(st);
}

// ---------------------------------------------------------------------------
// Accessors

const char* vkd_safetensors_path(const vkd_safetensors* st) { return st ? st->path : NULL; }

size_t vkd_safetensors_count(const vkd_safetensors* st) { return st ? st->count : 0; }

const vkd_tensor_info* vkd_safetensors_at(const vkd_safetensors* st, size_t i) {
    return st && i < st->count ? &st->tensors[i] : NULL;
}

static int cmp_key_name(const void* key, const void* elem) {
    return strcmp(key, (*(const vkd_tensor_info* const*)elem)->name);
}

const vkd_tensor_info* vkd_safetensors_find(const vkd_safetensors* st, const char* name) {
    if (!st || !name || !st->count) return NULL;
    const vkd_tensor_info* const* hit = bsearch(name, st->by_name, st->count, sizeof *st->by_name, cmp_key_name);
    return hit ? *hit : NULL;
}

const char* vkd_safetensors_metadata(const vkd_safetensors* st, const char* key) {
    if (!st || !key) return NULL;
    for (size_t i = 0; i < st->meta_count; i++)
        if (!strcmp(st->meta_keys[i], key)) return st->meta_values[i];
    return NULL;
}

size_t vkd_safetensors_metadata_count(const vkd_safetensors* st) { return st ? st->meta_count : 0; }

const char* vkd_safetensors_metadata_at(const vkd_safetensors* st, size_t i, const char** key) {
    if (!st || i >= st->meta_count) return NULL;
    if (key) *key = st->meta_keys[i];
    return st->meta_values[i];
}

static vkd_status missing(const vkd_safetensors* st, const char* name, vkd_error* err) {
    return fail(st->path, err, VKD_ERR_INVALID, "missing tensor " NAME_FMT " (the file has %zu tensors)",
                name ? name : "(null)", st->count);
}

// Finds the tensor that a read of `count` elements targets, or explains why not.
static vkd_status find_for_read(const vkd_safetensors* st, const char* name, const void* dst, size_t count,
                                const vkd_tensor_info** out, vkd_error* err) {
    if (!st) return vkd_error_set(err, VKD_ERR_INVALID, "safetensors read: file handle is NULL");
    const vkd_tensor_info* t = vkd_safetensors_find(st, name);
    if (!t) return missing(st, name, err);
    if (t->numel != count)
        return fail(st->path, err, VKD_ERR_INVALID,
                    "tensor " NAME_FMT " has %llu elements, the caller expected %zu", name,
                    (unsigned long long)t->numel, count);
    if (count && !dst)
        return fail(st->path, err, VKD_ERR_INVALID, "tensor " NAME_FMT ": destination is NULL", name);
    *out = t;
    return VKD_OK;
}

vkd_status vkd_safetensors_read_f32(const vkd_safetensors* st, const char* name, float* dst, size_t count,
                                    vkd_error* err) {
    const vkd_tensor_info* t = NULL;
    vkd_status s = find_for_read(st, name, dst, count, &t, err);
    if (s) return s;
    convert_to_f32(t->dtype, t->data, count, dst);
    return VKD_OK;
}

vkd_status vkd_safetensors_read_f16(const vkd_safetensors* st, const char* name, uint16_t* dst, size_t count,
                                    vkd_error* err) {
    const vkd_tensor_info* t = NULL;
    vkd_status s = find_for_read(st, name, dst, count, &t, err);
    if (s) return s;
    const uint8_t* p = t->data;
    if (t->dtype == VKD_DTYPE_F16) {
        for (size_t i = 0; i < count; i++) dst[i] = load16(p + 2 * i);
        return VKD_OK;
    }
    // Through float in chunks, so no temporary as large as the tensor.
    float tmp[1024];
    size_t esize = vkd_dtype_size(t->dtype);
    for (size_t done = 0; done < count;) {
        size_t n = count - done < 1024 ? count - done : 1024;
        convert_to_f32(t->dtype, p + done * esize, n, tmp);
        for (size_t i = 0; i < n; i++) dst[done + i] = vkd_f32_to_f16(tmp[i]);
        done += n;
    }
    return VKD_OK;
}

vkd_status vkd_safetensors_expect(const vkd_safetensors* st, const char* name, int ndim, const int64_t* shape,
                                  const vkd_tensor_info** out, vkd_error* err) {
    if (out) *out = NULL;
    if (!st) return vkd_error_set(err, VKD_ERR_INVALID, "vkd_safetensors_expect: file handle is NULL");
    if (ndim < 0 || ndim > VKD_MAX_DIMS || (ndim && !shape))
        return fail(st->path, err, VKD_ERR_INVALID, "expect " NAME_FMT ": bad expected shape (ndim %d)",
                    name ? name : "(null)", ndim);
    const vkd_tensor_info* t = vkd_safetensors_find(st, name);
    if (!t) return missing(st, name, err);
    bool ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] < 0 || shape[i] == t->shape[i];
    if (!ok) {
        char have[160], want[160];
        format_shape(have, sizeof have, t->ndim, t->shape);
        format_shape(want, sizeof want, ndim, shape);
        return fail(st->path, err, VKD_ERR_INVALID, "tensor " NAME_FMT " has shape %s, expected %s", name, have, want);
    }
    if (out) *out = t;
    return VKD_OK;
}

// ---------------------------------------------------------------------------
// Writer

typedef struct text {
    char* p;
    size_t len, cap;
    bool oom;
} text;

static void text_put(text* t, const char* s, size_t n) {
    if (t->oom) return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1) cap *= 2;
        char* p = realloc(t->p, cap);
        if (!p) {
            t->oom = true;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void text_printf(text* t, const char* fmt, ...) VKD_PRINTF(2, 3);
static void text_printf(text* t, const char* fmt, ...) {
    char buf[128]; // every caller formats a few numbers and a dtype name
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf)
        t->oom = true;
    else
        text_put(t, buf, (size_t)n);
}

// A JSON string literal; bytes >= 0x80 pass through, so UTF-8 names stay as they are.
static void text_json_string(text* t, const char* s) {
    text_put(t, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            text_put(t, esc, 2);
        } else if (c < 0x20) {
            text_printf(t, "\\u%04x", c);
        } else {
            text_put(t, (const char*)&c, 1);
        }
    }
    text_put(t, "\"", 1);
}

// Checks one tensor to be written and returns its byte size in *nbytes.
static vkd_status check_write(const char* path, const vkd_tensor_write* w, size_t index, uint64_t* nbytes,
                              vkd_error* err) {
    if (!w->name) return fail(path, err, VKD_ERR_INVALID, "tensor %zu has no name", index);
    if (!strcmp(w->name, "__metadata__"))
        return fail(path, err, VKD_ERR_INVALID, "a tensor may not be named \"__metadata__\"");
    size_t esize = vkd_dtype_size(w->dtype);
    if (!esize)
        return fail(path, err, VKD_ERR_INVALID, "tensor " NAME_FMT ": invalid dtype %d", w->name, (int)w->dtype);
    if (w->ndim < 0 || w->ndim > VKD_MAX_DIMS)
        return fail(path, err, VKD_ERR_INVALID, "tensor " NAME_FMT ": ndim %d is outside 0..%d", w->name, w->ndim,
                    VKD_MAX_DIMS);
    uint64_t numel = 1;
    bool has_zero = false;
    for (int i = 0; i < w->ndim; i++) {
        if (w->shape[i] < 0 || w->shape[i] > (int64_t)MAX_SAFE_INTEGER)
            return fail(path, err, VKD_ERR_INVALID, "tensor " NAME_FMT ": shape[%d] = %lld is not a valid size",
                        w->name, i, (long long)w->shape[i]);
        has_zero |= w->shape[i] == 0;
    }
    for (int i = 0; i < w->ndim && !has_zero; i++) {
        uint64_t v = (uint64_t)w->shape[i];
        if (numel > UINT64_MAX / v / esize)
            return fail(path, err, VKD_ERR_INVALID, "tensor " NAME_FMT ": byte size overflows", w->name);
        numel *= v;
    }
    *nbytes = has_zero ? 0 : numel * esize;
    if (*nbytes && !w->data) return fail(path, err, VKD_ERR_INVALID, "tensor " NAME_FMT ": data is NULL", w->name);
    return VKD_OK;
}

static int cmp_str_ptr(const void* a, const void* b) { return strcmp(*(const char* const*)a, *(const char* const*)b); }

static vkd_status check_unique_names(const char* path, const vkd_tensor_write* tensors, size_t count,
                                     vkd_error* err) {
    if (count < 2) return VKD_OK;
    const char** names = malloc(count * sizeof *names);
    if (!names) return fail(path, err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
    for (size_t i = 0; i < count; i++) names[i] = tensors[i].name;
    qsort(names, count, sizeof *names, cmp_str_ptr);
    vkd_status s = VKD_OK;
    for (size_t i = 1; i < count && !s; i++)
        if (!strcmp(names[i - 1], names[i]))
            s = fail(path, err, VKD_ERR_INVALID, "tensor name " NAME_FMT " is given twice", names[i]);
    free(names);
    return s;
}

// Largest elements first (stable otherwise): with the 8-aligned data section this puts every
// tensor at an offset that is a multiple of its element size, as the reference writer does.
typedef struct write_slot {
    size_t index, esize;
    uint64_t nbytes;
} write_slot;

static int cmp_slot(const void* a, const void* b) {
    const write_slot *x = a, *y = b;
    if (x->esize != y->esize) return x->esize > y->esize ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static vkd_status build_header(const char* path, const vkd_tensor_write* tensors, size_t count,
                               const write_slot* slots, const char* const* metadata_kv, text* h, vkd_error* err) {
    text_put(h, "{", 1);
    if (metadata_kv && metadata_kv[0]) {
        text_put(h, "\"__metadata__\":{", 16);
        for (size_t i = 0; metadata_kv[i]; i += 2) {
            if (!metadata_kv[i + 1])
                return fail(path, err, VKD_ERR_INVALID, "metadata key " NAME_FMT " has no value", metadata_kv[i]);
            if (i) text_put(h, ",", 1);
            text_json_string(h, metadata_kv[i]);
            text_put(h, ":", 1);
            text_json_string(h, metadata_kv[i + 1]);
        }
        text_put(h, "}", 1);
        if (count) text_put(h, ",", 1);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < count; i++) {
        const vkd_tensor_write* w = &tensors[slots[i].index];
        if (i) text_put(h, ",", 1);
        text_json_string(h, w->name);
        text_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", vkd_dtype_name(w->dtype));
        for (int d = 0; d < w->ndim; d++) text_printf(h, "%s%lld", d ? "," : "", (long long)w->shape[d]);
        text_printf(h, "],\"data_offsets\":[%llu,", (unsigned long long)offset);
        offset += slots[i].nbytes;
        text_printf(h, "%llu]}", (unsigned long long)offset);
    }
    text_put(h, "}", 1);
    // Pad so the data section starts 8-byte aligned after the 8-byte length field.
    while (h->len % 8) text_put(h, " ", 1);
    if (h->oom) return fail(path, err, VKD_ERR_OUT_OF_MEMORY, "out of host memory for the header");
    return VKD_OK;
}

static bool write_body(FILE* f, const text* h, const vkd_tensor_write* tensors, size_t count,
                       const write_slot* slots) {
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)h->len >> (8 * i));
    bool ok = fwrite(len, 1, 8, f) == 8 && fwrite(h->p, 1, h->len, f) == h->len;
    for (size_t i = 0; ok && i < count; i++) {
        size_t n = (size_t)slots[i].nbytes;
        ok = !n || fwrite(tensors[slots[i].index].data, 1, n, f) == n;
    }
    return ok;
}

// Writes "<path>.tmp" and renames it over path, so a failed or interrupted write never
// leaves a truncated checkpoint where a good one was.
static vkd_status write_all(const char* path, const text* h, const vkd_tensor_write* tensors, size_t count,
                            const write_slot* slots, vkd_error* err) {
    size_t plen = strlen(path);
    char* tmp = malloc(plen + 5);
    if (!tmp) return fail(path, err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE* f = fopen(tmp, "wb");
    if (!f) {
        vkd_status s = fail(path, err, VKD_ERR_IO, "cannot open for writing: %s", strerror(errno));
        free(tmp);
        return s;
    }
    bool ok = write_body(f, h, tensors, count, slots);
    int saved = errno;
    if (fclose(f) && ok) {
        ok = false;
        saved = errno;
    }
#if defined(_WIN32)
    if (ok) remove(path); // rename does not replace an existing file there
#endif
    if (ok && rename(tmp, path)) {
        ok = false;
        saved = errno;
    }
    if (!ok) remove(tmp);
    free(tmp);
    if (ok) return VKD_OK;
    return fail(path, err, VKD_ERR_IO, "write failed: %s", strerror(saved));
}

vkd_status vkd_safetensors_write(const char* path, const vkd_tensor_write* tensors, size_t count,
                                 const char* const* metadata_kv, vkd_error* err) {
    if (!path) return vkd_error_set(err, VKD_ERR_INVALID, "vkd_safetensors_write: path is NULL");
    if (count && !tensors) return fail(path, err, VKD_ERR_INVALID, "tensors is NULL but count is %zu", count);
    write_slot* slots = malloc((count ? count : 1) * sizeof *slots);
    if (!slots) return fail(path, err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
    vkd_status s = VKD_OK;
    uint64_t total = 0;
    for (size_t i = 0; i < count && !s; i++) {
        slots[i] = (write_slot){.index = i, .esize = vkd_dtype_size(tensors[i].dtype)};
        s = check_write(path, &tensors[i], i, &slots[i].nbytes, err);
        if (!s && slots[i].nbytes > (uint64_t)SIZE_MAX - total)
            s = fail(path, err, VKD_ERR_INVALID, "total data size overflows");
        total += s ? 0 : slots[i].nbytes;
    }
    if (!s) s = check_unique_names(path, tensors, count, err);
    if (!s) qsort(slots, count, sizeof *slots, cmp_slot);
    text h = {0};
    if (!s) s = build_header(path, tensors, count, slots, metadata_kv, &h, err);
    if (!s) s = write_all(path, &h, tensors, count, slots, err);
    free(h.p);
    free(slots);
    return s;
}
