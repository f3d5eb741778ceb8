// test_safetensors: writer/reader round trips, every malformed-header error, and the
// sd-tiny fixtures. No GPU. Prints one line per check and ends with "N passed, N failed".
#define _POSIX_C_SOURCE 200809L

#include "vkdream/safetensors.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef VKD_SOURCE_DIR
#define VKD_SOURCE_DIR "."
#endif

static int passed, failed;
static char tmpdir[512];

static bool check(bool ok, const char* fmt, ...) VKD_PRINTF(2, 3);
static bool check(bool ok, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "ok  " : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (ok) passed++;
    else failed++;
    return ok;
}

static const char* tmp_path(const char* name) {
    static char buf[8][600];
    static int next;
    char* p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
    return p;
}

static bool write_bytes(const char* path, const void* data, size_t n) {
    FILE* f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static void* read_bytes(const char* path, size_t* n) {
    FILE* f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void* p = malloc(len > 0 ? (size_t)len : 1);
    *n = fread(p, 1, (size_t)len, f);
    fclose(f);
    return p;
}

static uint64_t load64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

// A file image: length field, the header text as given (no padding), then the data.
static uint8_t* make_file(const char* json, const void* data, size_t data_size, size_t* size) {
    size_t n = strlen(json);
    *size = 8 + n + data_size;
    uint8_t* p = calloc(1, *size);
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(p + 8, json, n);
    if (data_size) memcpy(p + 8 + n, data, data_size);
    return p;
}

static bool contains(const char* s, const char* sub) { return strstr(s, sub) != NULL; }

// Opens bytes from memory and expects `want` with `sub` in the message.
static void expect_bad_bytes(const char* what, const void* bytes, size_t size, vkd_status want, const char* sub) {
    vkd_safetensors* st = (vkd_safetensors*)1;
    vkd_error err = {0};
    vkd_status s = vkd_safetensors_open_memory(bytes, size, &st, &err);
    check(s == want && st == NULL && contains(err.msg, sub) && !strncmp(err.msg, "<memory>: ", 10),
          "malformed: %s -> %s: %s", what, vkd_status_name(s), err.msg);
    if (s == VKD_OK) vkd_safetensors_close(st);
}

static void expect_bad_json(const char* what, const char* json, size_t data_size, vkd_status want,
                            const char* sub) {
    uint8_t zeros[256] = {0};
    size_t size;
    uint8_t* p = make_file(json, zeros, data_size, &size);
    expect_bad_bytes(what, p, size, want, sub);
    free(p);
}

static void expect_good_json(const char* what, const char* json, size_t data_size, size_t want_count) {
    uint8_t zeros[256] = {0};
    size_t size;
    uint8_t* p = make_file(json, zeros, data_size, &size);
    vkd_safetensors* st = NULL;
    vkd_error err = {0};
    vkd_status s = vkd_safetensors_open_memory(p, size, &st, &err);
    check(s == VKD_OK && vkd_safetensors_count(st) == want_count, "accepted: %s (%zu tensors) %s", what,
          vkd_safetensors_count(st), s ? err.msg : "");
    vkd_safetensors_close(st);
    free(p);
}

// ---------------------------------------------------------------------------

static void test_dtypes(void) {
    bool ok = true;
    for (int d = 1; d < VKD_DTYPE_COUNT; d++)
        ok &= vkd_dtype_from_name(vkd_dtype_name((vkd_dtype)d)) == (vkd_dtype)d && vkd_dtype_size((vkd_dtype)d) > 0;
    check(ok, "dtype names round-trip and every dtype has a size");
    check(vkd_dtype_size(VKD_DTYPE_F32) == 4 && vkd_dtype_size(VKD_DTYPE_BF16) == 2 &&
              vkd_dtype_size(VKD_DTYPE_I64) == 8 && vkd_dtype_size(VKD_DTYPE_BOOL) == 1,
          "dtype sizes F32 4, BF16 2, I64 8, BOOL 1");
    check(vkd_dtype_from_name("f32") == VKD_DTYPE_INVALID && vkd_dtype_from_name("F4") == VKD_DTYPE_INVALID &&
              vkd_dtype_from_name(NULL) == VKD_DTYPE_INVALID && vkd_dtype_size((vkd_dtype)99) == 0 &&
              !strcmp(vkd_dtype_name((vkd_dtype)-1), "invalid"),
          "unknown dtype names and values are invalid");
}

static uint32_t f32_bits(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    return x;
}

static void test_half(void) {
    check(vkd_f32_to_f16(1.0f) == 0x3c00 && vkd_f32_to_f16(-2.0f) == 0xc000 && vkd_f32_to_f16(0.0f) == 0 &&
              vkd_f32_to_f16(-0.0f) == 0x8000,
          "f32->f16: 1, -2, +0, -0");
    check(vkd_f32_to_f16(65504.0f) == 0x7bff && vkd_f32_to_f16(65519.99f) == 0x7bff &&
              vkd_f32_to_f16(65520.0f) == 0x7c00 && vkd_f32_to_f16(1e10f) == 0x7c00 &&
              vkd_f32_to_f16(-INFINITY) == 0xfc00,
          "f32->f16: max half, rounding to inf, inf");
    check(vkd_f32_to_f16(ldexpf(1, -14)) == 0x0400 && vkd_f32_to_f16(ldexpf(1, -24)) == 0x0001 &&
              vkd_f32_to_f16(ldexpf(1, -25)) == 0 && vkd_f32_to_f16(ldexpf(1.5f, -25)) == 0x0001 &&
              vkd_f32_to_f16(ldexpf(3, -25)) == 0x0002 && vkd_f32_to_f16(ldexpf(1023, -24)) == 0x03ff &&
              vkd_f32_to_f16(ldexpf(2047, -25)) == 0x0400,
          "f32->f16: subnormals round to nearest even");
    check(vkd_f32_to_f16(1.0f + ldexpf(1, -11)) == 0x3c00 && vkd_f32_to_f16(1.0f + 3 * ldexpf(1, -11)) == 0x3c02 &&
              vkd_f32_to_f16(1.0f + ldexpf(1, -11) + ldexpf(1, -20)) == 0x3c01,
          "f32->f16: normal ties go to even");
    bool ok = true;
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = vkd_f16_to_f32((uint16_t)h);
        bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        ok &= nan ? (isnan(f) && (vkd_f32_to_f16(f) & 0x7e00) == 0x7e00) : vkd_f32_to_f16(f) == h;
    }
    check(ok, "f16->f32->f16 is the identity on all 65536 halves (NaN stays NaN)");
    check(vkd_f16_to_f32(0x0001) == ldexpf(1, -24) && vkd_f16_to_f32(0x7bff) == 65504.0f &&
              f32_bits(vkd_f16_to_f32(0x8000)) == 0x80000000u,
          "f16->f32: smallest subnormal, max, -0");
    check(vkd_bf16_to_f32(0x3f80) == 1.0f && vkd_bf16_to_f32(0xc040) == -3.0f, "bf16->f32: 1, -3");
}

// ---------------------------------------------------------------------------

typedef struct sample {
    float f32[6];
    double f64[3];
    uint16_t f16[3], bf16[2];
    int64_t i64[3];
    int32_t i32[2];
    int16_t i16[2];
    int8_t i8[3];
    uint64_t u64[2];
    uint32_t u32[2];
    uint16_t u16[2];
    uint8_t u8[3], boolean[3], e4m3[5], e5m2[3];
    float scalar;
} sample;

static const sample S = {
    .f32 = {1.5f, -2.25f, 3.0f, 0.0f, 1e-3f, -7.0f},
    .f64 = {0.1, -1e300, 12345.678},
    .f16 = {0x3c00, 0xc000, 0x3555},
    .bf16 = {0x3f80, 0xc040},
    .i64 = {999, 17, -5},
    .i32 = {-2147483647 - 1, 123456},
    .i16 = {-32768, 300},
    .i8 = {-128, 0, 127},
    .u64 = {18446744073709551615ull, 5},
    .u32 = {4294967295u, 6},
    .u16 = {65535, 7},
    .u8 = {0, 7, 255},
    .boolean = {0, 1, 2},
    .e4m3 = {0x38, 0x7e, 0x01, 0xb8, 0x7f},
    .e5m2 = {0x3c, 0x7c, 0xbc},
    .scalar = 42.0f,
};

static size_t write_sample(const char* path, vkd_error* err, vkd_status* status) {
    const vkd_tensor_write t[] = {
        {.name = "u8", .dtype = VKD_DTYPE_U8, .ndim = 1, .shape = {3}, .data = S.u8},
        {.name = "w.f32", .dtype = VKD_DTYPE_F32, .ndim = 2, .shape = {2, 3}, .data = S.f32},
        {.name = "f64", .dtype = VKD_DTYPE_F64, .ndim = 1, .shape = {3}, .data = S.f64},
        {.name = "f16", .dtype = VKD_DTYPE_F16, .ndim = 1, .shape = {3}, .data = S.f16},
        {.name = "bf16", .dtype = VKD_DTYPE_BF16, .ndim = 2, .shape = {1, 2}, .data = S.bf16},
        {.name = "timestep", .dtype = VKD_DTYPE_I64, .ndim = 1, .shape = {3}, .data = S.i64},
        {.name = "i32", .dtype = VKD_DTYPE_I32, .ndim = 1, .shape = {2}, .data = S.i32},
        {.name = "i16", .dtype = VKD_DTYPE_I16, .ndim = 1, .shape = {2}, .data = S.i16},
        {.name = "i8", .dtype = VKD_DTYPE_I8, .ndim = 1, .shape = {3}, .data = S.i8},
        {.name = "u64", .dtype = VKD_DTYPE_U64, .ndim = 1, .shape = {2}, .data = S.u64},
        {.name = "u32", .dtype = VKD_DTYPE_U32, .ndim = 1, .shape = {2}, .data = S.u32},
        {.name = "u16", .dtype = VKD_DTYPE_U16, .ndim = 1, .shape = {2}, .data = S.u16},
        {.name = "mask", .dtype = VKD_DTYPE_BOOL, .ndim = 1, .shape = {3}, .data = S.boolean},
        {.name = "e4m3", .dtype = VKD_DTYPE_F8_E4M3, .ndim = 1, .shape = {5}, .data = S.e4m3},
        {.name = "e5m2", .dtype = VKD_DTYPE_F8_E5M2, .ndim = 1, .shape = {3}, .data = S.e5m2},
        {.name = "scalar", .dtype = VKD_DTYPE_F32, .ndim = 0, .data = &S.scalar},
        {.name = "empty", .dtype = VKD_DTYPE_F32, .ndim = 3, .shape = {4, 0, 2}},
        {.name = "we\"ird\\name\n\xc3\xa9", .dtype = VKD_DTYPE_F32, .ndim = 1, .shape = {1}, .data = S.f32},
    };
    const char* meta[] = {"format", "pt", "note", "quote \" and \\ and \x01", NULL};
    *status = vkd_safetensors_write(path, t, sizeof t / sizeof t[0], meta, err);
    return sizeof t / sizeof t[0];
}

static bool same_floats(const float* a, const float* b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(a[i] == b[i] || (isnan(a[i]) && isnan(b[i])))) return false;
    return true;
}

static void check_sample(vkd_safetensors* st, size_t count, const char* how) {
    check(vkd_safetensors_count(st) == count, "%s: %zu tensors", how, vkd_safetensors_count(st));
    const vkd_tensor_info* t = vkd_safetensors_find(st, "w.f32");
    check(t && t->dtype == VKD_DTYPE_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->numel == 6 &&
              t->nbytes == 24 && !memcmp(t->data, S.f32, 24) && t->shape[2] == 0,
          "%s: w.f32 dtype, shape, bytes", how);
    bool aligned = true, ordered = true;
    const uint8_t* prev = NULL;
    for (size_t i = 0; i < vkd_safetensors_count(st); i++) {
        const vkd_tensor_info* ti = vkd_safetensors_at(st, i);
        aligned &= (uintptr_t)ti->data % vkd_dtype_size(ti->dtype) == 0;
        ordered &= !prev || (const uint8_t*)ti->data >= prev;
        prev = ti->data;
        ordered &= vkd_safetensors_find(st, ti->name) == ti;
    }
    check(aligned && ordered && vkd_safetensors_at(st, count) == NULL,
          "%s: at() walks the file in data order, every tensor aligned to its element size", how);

    float f[8];
    vkd_error err = {0};
    check(!vkd_safetensors_read_f32(st, "w.f32", f, 6, &err) && same_floats(f, S.f32, 6), "%s: read_f32 F32", how);
    check(!vkd_safetensors_read_f32(st, "f64", f, 3, &err) && f[0] == 0.1f && f[1] == -INFINITY &&
              f[2] == 12345.678f,
          "%s: read_f32 F64 (out of range -> -inf)", how);
    check(!vkd_safetensors_read_f32(st, "f16", f, 3, &err) && f[0] == 1.0f && f[1] == -2.0f &&
              fabsf(f[2] - 1.0f / 3) < 1e-3f,
          "%s: read_f32 F16", how);
    check(!vkd_safetensors_read_f32(st, "bf16", f, 2, &err) && f[0] == 1.0f && f[1] == -3.0f, "%s: read_f32 BF16",
          how);
    check(!vkd_safetensors_read_f32(st, "timestep", f, 3, &err) && f[0] == 999 && f[1] == 17 && f[2] == -5,
          "%s: read_f32 I64", how);
    check(!vkd_safetensors_read_f32(st, "i32", f, 2, &err) && f[0] == -2147483648.0f && f[1] == 123456,
          "%s: read_f32 I32", how);
    check(!vkd_safetensors_read_f32(st, "i16", f, 2, &err) && f[0] == -32768 && f[1] == 300, "%s: read_f32 I16", how);
    check(!vkd_safetensors_read_f32(st, "i8", f, 3, &err) && f[0] == -128 && f[1] == 0 && f[2] == 127,
          "%s: read_f32 I8", how);
    check(!vkd_safetensors_read_f32(st, "u8", f, 3, &err) && f[0] == 0 && f[1] == 7 && f[2] == 255,
          "%s: read_f32 U8", how);
    check(!vkd_safetensors_read_f32(st, "u64", f, 2, &err) && f[0] == 18446744073709551616.0f && f[1] == 5 &&
              !vkd_safetensors_read_f32(st, "u32", f, 2, &err) && f[0] == 4294967296.0f && f[1] == 6 &&
              !vkd_safetensors_read_f32(st, "u16", f, 2, &err) && f[0] == 65535 && f[1] == 7,
          "%s: read_f32 U64, U32, U16", how);
    check(!vkd_safetensors_read_f32(st, "mask", f, 3, &err) && f[0] == 0 && f[1] == 1 && f[2] == 1,
          "%s: read_f32 BOOL", how);
    check(!vkd_safetensors_read_f32(st, "e4m3", f, 5, &err) && f[0] == 1 && f[1] == 448 && f[2] == ldexpf(1, -9) &&
              f[3] == -1 && isnan(f[4]),
          "%s: read_f32 F8_E4M3", how);
    check(!vkd_safetensors_read_f32(st, "e5m2", f, 3, &err) && f[0] == 1 && f[1] == INFINITY && f[2] == -1,
          "%s: read_f32 F8_E5M2", how);
    t = vkd_safetensors_find(st, "scalar");
    check(t && t->ndim == 0 && t->numel == 1 && !vkd_safetensors_read_f32(st, "scalar", f, 1, &err) && f[0] == 42,
          "%s: scalar has ndim 0, numel 1", how);
    t = vkd_safetensors_find(st, "empty");
    check(t && t->ndim == 3 && t->numel == 0 && t->nbytes == 0 && !vkd_safetensors_read_f32(st, "empty", NULL, 0, &err),
          "%s: empty tensor [4,0,2]", how);
    check(vkd_safetensors_find(st, "we\"ird\\name\n\xc3\xa9") != NULL, "%s: name with quotes, escapes and UTF-8", how);
    check(vkd_safetensors_find(st, "nope") == NULL && vkd_safetensors_find(st, "") == NULL &&
              vkd_safetensors_find(st, NULL) == NULL,
          "%s: find of an absent name is NULL", how);

    uint16_t h[3];
    check(!vkd_safetensors_read_f16(st, "f16", h, 3, &err) && !memcmp(h, S.f16, 6), "%s: read_f16 F16 copies bits",
          how);
    check(!vkd_safetensors_read_f16(st, "w.f32", (uint16_t[6]){0}, 6, &err) &&
              !vkd_safetensors_read_f16(st, "timestep", h, 3, &err) && h[0] == vkd_f32_to_f16(999) &&
              h[2] == vkd_f32_to_f16(-5),
          "%s: read_f16 converts", how);

    const char* key = NULL;
    check(vkd_safetensors_metadata_count(st) == 2 && !strcmp(vkd_safetensors_metadata(st, "format"), "pt") &&
              !strcmp(vkd_safetensors_metadata(st, "note"), "quote \" and \\ and \x01") &&
              vkd_safetensors_metadata(st, "absent") == NULL &&
              !strcmp(vkd_safetensors_metadata_at(st, 0, &key), "pt") && !strcmp(key, "format") &&
              vkd_safetensors_metadata_at(st, 2, &key) == NULL,
          "%s: metadata", how);
}

static void test_roundtrip(void) {
    const char* path = tmp_path("sample.safetensors");
    vkd_error err = {0};
    vkd_status s;
    size_t count = write_sample(path, &err, &s);
    if (!check(s == VKD_OK, "write sample file: %s", s ? err.msg : path)) return;

    size_t size = 0;
    uint8_t* bytes = read_bytes(path, &size);
    if (!check(bytes != NULL, "read the sample file back")) return;
    uint64_t hlen = load64(bytes);
    check(hlen % 8 == 0 && bytes[8] == '{' && (bytes[8 + hlen - 1] == ' ' || bytes[8 + hlen - 1] == '}'),
          "writer pads the header to a multiple of 8 (%llu bytes)", (unsigned long long)hlen);

    vkd_safetensors* st = NULL;
    s = vkd_safetensors_open(path, &st, &err);
    if (check(s == VKD_OK, "open sample file: %s", s ? err.msg : "ok")) {
        check(!strcmp(vkd_safetensors_path(st), path), "path() is the path given");
        check_sample(st, count, "file");
        vkd_safetensors_close(st);
    }
    s = vkd_safetensors_open_memory(bytes, size, &st, &err);
    if (check(s == VKD_OK, "open sample from memory: %s", s ? err.msg : "ok")) {
        check(!strcmp(vkd_safetensors_path(st), "<memory>"), "path() is <memory>");
        check_sample(st, count, "memory");
        vkd_safetensors_close(st);
    }
    free(bytes);

    s = vkd_safetensors_write(path, NULL, 0, NULL, &err);
    check(s == VKD_OK && !vkd_safetensors_open(path, &st, &err) && vkd_safetensors_count(st) == 0 &&
              vkd_safetensors_metadata_count(st) == 0,
          "a file with no tensors and no metadata round-trips");
    vkd_safetensors_close(st);
    remove(path);
}

static void test_lookup_errors(void) {
    const char* path = tmp_path("lookup.safetensors");
    float w[64 * 4 * 9] = {0};
    const vkd_tensor_write t[] = {
        {.name = "conv_in.weight", .dtype = VKD_DTYPE_F32, .ndim = 4, .shape = {32, 4, 3, 3}, .data = w},
        {.name = "b", .dtype = VKD_DTYPE_F16, .ndim = 1, .shape = {2}, .data = w},
    };
    vkd_error err = {0};
    vkd_safetensors* st = NULL;
    if (!check(!vkd_safetensors_write(path, t, 2, NULL, &err) && !vkd_safetensors_open(path, &st, &err),
               "write and open lookup file: %s", err.msg))
        return;
    char want[700];

    vkd_status s = vkd_safetensors_read_f32(st, "conv_in.weight", w, 100, &err);
    check(s == VKD_ERR_INVALID && contains(err.msg, path) && contains(err.msg, "'conv_in.weight'") &&
              contains(err.msg, "1152") && contains(err.msg, "100"),
          "read_f32 with the wrong count names file, tensor, found and expected: %s", err.msg);
    s = vkd_safetensors_read_f32(st, "conv_out.weight", w, 100, &err);
    snprintf(want, sizeof want, "%s: missing tensor 'conv_out.weight'", path);
    check(s == VKD_ERR_INVALID && contains(err.msg, want), "read_f32 of a missing tensor: %s", err.msg);
    s = vkd_safetensors_read_f16(st, "b", NULL, 2, &err);
    check(s == VKD_ERR_INVALID && contains(err.msg, "NULL"), "read_f16 into NULL: %s", err.msg);

    const vkd_tensor_info* info = NULL;
    s = vkd_safetensors_expect(st, "conv_in.weight", 4, (int64_t[]){32, 4, 3, 3}, &info, &err);
    check(s == VKD_OK && info == vkd_safetensors_find(st, "conv_in.weight"), "expect with the right shape");
    s = vkd_safetensors_expect(st, "conv_in.weight", 4, (int64_t[]){-1, 4, -1, 3}, NULL, &err);
    check(s == VKD_OK, "expect with -1 wildcards");
    s = vkd_safetensors_expect(st, "conv_in.weight", 4, (int64_t[]){64, 4, 3, 3}, &info, &err);
    snprintf(want, sizeof want, "%s: tensor 'conv_in.weight' has shape [32,4,3,3], expected [64,4,3,3]", path);
    check(s == VKD_ERR_INVALID && !strcmp(err.msg, want) && info == NULL, "expect shape mismatch: %s", err.msg);
    s = vkd_safetensors_expect(st, "conv_in.weight", 2, (int64_t[]){-1, 36}, NULL, &err);
    check(s == VKD_ERR_INVALID && contains(err.msg, "has shape [32,4,3,3], expected [?,36]"),
          "expect ndim mismatch: %s", err.msg);
    s = vkd_safetensors_expect(st, "conv_out.weight", 1, (int64_t[]){4}, NULL, &err);
    snprintf(want, sizeof want, "%s: missing tensor 'conv_out.weight' (the file has 2 tensors)", path);
    check(s == VKD_ERR_INVALID && !strcmp(err.msg, want), "expect of a missing tensor: %s", err.msg);
    s = vkd_safetensors_expect(st, "b", 9, (int64_t[9]){0}, NULL, &err);
    check(s == VKD_ERR_INVALID && contains(err.msg, "ndim 9"), "expect with a bad ndim argument: %s", err.msg);
    check(vkd_safetensors_expect(st, "b", 1, (int64_t[]){2}, NULL, NULL) == VKD_OK &&
              vkd_safetensors_expect(st, "x", 1, (int64_t[]){2}, NULL, NULL) == VKD_ERR_INVALID,
          "expect works with err = NULL");
    vkd_safetensors_close(st);
    remove(path);
}

// ---------------------------------------------------------------------------

static void test_malformed(void) {
    uint8_t small[8] = {0};
    expect_bad_bytes("empty", small, 0, VKD_ERR_INVALID, "too short");
    expect_bad_bytes("7 bytes", small, 7, VKD_ERR_INVALID, "7 bytes, too short");
    expect_bad_bytes("header length 0", small, 8, VKD_ERR_INVALID, "header length is 0");
    uint8_t hdr[16] = {0x01, 0x00, 0x40, 0x06}; // 100 MiB + 1
    expect_bad_bytes("header length over 100 MiB", hdr, sizeof hdr, VKD_ERR_INVALID, "100 MiB");
    uint8_t past[16] = {9, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' '};
    expect_bad_bytes("header past the end", past, 11, VKD_ERR_INVALID, "runs past the end");
    uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    expect_bad_bytes("header length 2^64-1", huge, sizeof huge, VKD_ERR_INVALID, "100 MiB");
    uint8_t nul[16] = {2, 0, 0, 0, 0, 0, 0, 0, '{', 0};
    expect_bad_bytes("NUL in header", nul, 10, VKD_ERR_INVALID, "NUL byte");
    expect_bad_bytes("NULL data", NULL, 5, VKD_ERR_INVALID, "data is NULL");
    const char zip[] = "PK\x03\x04\x14\x00\x00\x00\x08\x00";
    expect_bad_bytes("a zip (PyTorch checkpoint)", zip, sizeof zip - 1, VKD_ERR_UNSUPPORTED, "zip archive");
    const char lfs[] = "version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 3438167534\n";
    expect_bad_bytes("a Git LFS pointer", lfs, sizeof lfs - 1, VKD_ERR_INVALID, "git lfs pull");

    expect_bad_json("not JSON", "{\"a\": ", 0, VKD_ERR_INVALID, "not valid JSON");
    expect_bad_json("JSON array", "[1, 2]", 0, VKD_ERR_INVALID, "not an object");
    expect_bad_json("JSON string", "\"x\"", 0, VKD_ERR_INVALID, "not an object");
    expect_bad_json("trailing text", "{} x", 0, VKD_ERR_INVALID, "text after the JSON");
    expect_bad_json("two objects", "{}{}", 0, VKD_ERR_INVALID, "text after the JSON");
    expect_bad_json("entry not an object", "{\"a\": [1]}", 0, VKD_ERR_INVALID, "tensor 'a': entry is not a JSON object");
    expect_bad_json("dtype missing", "{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, VKD_ERR_INVALID,
                    "\"dtype\" is missing");
    expect_bad_json("dtype not a string", "{\"a\": {\"dtype\": 4, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                    VKD_ERR_INVALID, "\"dtype\" is missing or not a string");
    expect_bad_json("unknown dtype", "{\"a\": {\"dtype\": \"F4\", \"shape\": [1], \"data_offsets\": [0, 1]}}", 1,
                    VKD_ERR_UNSUPPORTED, "unknown dtype 'F4'");
    expect_bad_json("lowercase dtype", "{\"a\": {\"dtype\": \"f32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                    VKD_ERR_UNSUPPORTED, "unknown dtype 'f32'");
    expect_bad_json("shape missing", "{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, VKD_ERR_INVALID,
                    "\"shape\" is missing or not an array");
    expect_bad_json("shape not an array", "{\"a\": {\"dtype\": \"F32\", \"shape\": 1, \"data_offsets\": [0, 4]}}", 4,
                    VKD_ERR_INVALID, "\"shape\" is missing or not an array");
    expect_bad_json("negative dim", "{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4,
                    VKD_ERR_INVALID, "shape[0] is not a non-negative integer");
    expect_bad_json("fractional dim", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1, 1.5], \"data_offsets\": [0, 4]}}", 4,
                    VKD_ERR_INVALID, "shape[1] is not a non-negative integer");
    expect_bad_json("string dim", "{\"a\": {\"dtype\": \"F32\", \"shape\": [\"1\"], \"data_offsets\": [0, 4]}}", 4,
                    VKD_ERR_INVALID, "shape[0]");
    expect_bad_json("dim above 2^53", "{\"a\": {\"dtype\": \"U8\", \"shape\": [9007199254740993], \"data_offsets\": [0, 0]}}",
                    0, VKD_ERR_INVALID, "below 2^53");
    expect_bad_json("dim 1e300", "{\"a\": {\"dtype\": \"U8\", \"shape\": [1e300], \"data_offsets\": [0, 0]}}", 0,
                    VKD_ERR_INVALID, "below 2^53");
    expect_bad_json("9 dims",
                    "{\"a\": {\"dtype\": \"U8\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 1]}}", 1,
                    VKD_ERR_UNSUPPORTED, "9 dimensions");
    expect_bad_json("numel overflow",
                    "{\"a\": {\"dtype\": \"U8\", \"shape\": [4294967296, 4294967296, 4294967296], \"data_offsets\": [0, 0]}}",
                    0, VKD_ERR_INVALID, "overflows");
    expect_bad_json("nbytes overflow",
                    "{\"a\": {\"dtype\": \"F64\", \"shape\": [2147483648, 4294967296], \"data_offsets\": [0, 0]}}", 0,
                    VKD_ERR_INVALID, "F64 [2147483648,4294967296] needs over 2^64 bytes");
    expect_bad_json("offsets missing", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, VKD_ERR_INVALID,
                    "\"data_offsets\" must be [begin, end]");
    expect_bad_json("offsets one number", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4]}}", 4,
                    VKD_ERR_INVALID, "\"data_offsets\" must be");
    expect_bad_json("offsets three numbers",
                    "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}", 8, VKD_ERR_INVALID,
                    "\"data_offsets\" must be");
    expect_bad_json("offsets not integers",
                    "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, \"4\"]}}", 4, VKD_ERR_INVALID,
                    "\"data_offsets\" must be");
    expect_bad_json("offsets negative", "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4,
                    VKD_ERR_INVALID, "\"data_offsets\" must be");
    expect_bad_json("offsets an object",
                    "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": {\"a\": 0, \"b\": 4}}}", 4,
                    VKD_ERR_INVALID, "\"data_offsets\" must be");
    expect_bad_json("begin > end", "{\"a\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [4, 0]}}", 4,
                    VKD_ERR_INVALID, "end before they begin");
    expect_bad_json("end past the data", "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 4,
                    VKD_ERR_INVALID, "run past the data section (4 bytes)");
    expect_bad_json("end far past the data",
                    "{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [9007199254740990, 9007199254740991]}}",
                    4, VKD_ERR_INVALID, "run past the data section");
    expect_bad_json("nbytes too small", "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 8,
                    VKD_ERR_INVALID, "F32 [2] needs 8 bytes but data_offsets [0, 4] span 4 bytes");
    expect_bad_json("nbytes too big", "{\"a\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [0, 8]}}", 8,
                    VKD_ERR_INVALID, "F32 [] needs 4 bytes");
    expect_bad_json("overlap",
                    "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                    " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                    8, VKD_ERR_INVALID, "tensors 'a' (bytes 0..8) and 'b' (bytes 4..8) overlap");
    expect_bad_json("overlap with the same range",
                    "{\"b\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]},"
                    " \"a\": {\"dtype\": \"I32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
                    8, VKD_ERR_INVALID, "overlap");
    expect_bad_json("overlap inside a big tensor",
                    "{\"a\": {\"dtype\": \"U8\", \"shape\": [16], \"data_offsets\": [0, 16]},"
                    " \"b\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [2, 3]},"
                    " \"c\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [5, 6]}}",
                    16, VKD_ERR_INVALID, "'a' (bytes 0..16) and 'b'");
    expect_bad_json("duplicate names",
                    "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                    " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                    8, VKD_ERR_INVALID, "'a' appears twice");
    expect_bad_json("duplicate names via \\u0000",
                    "{\"a\\u0000x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                    " \"a\\u0000y\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                    8, VKD_ERR_INVALID, "appears twice");
    expect_bad_json("metadata not an object", "{\"__metadata__\": [\"a\"]}", 0, VKD_ERR_INVALID,
                    "\"__metadata__\" is not an object");
    expect_bad_json("metadata value not a string", "{\"__metadata__\": {\"k\": 1}}", 0, VKD_ERR_INVALID,
                    "value for 'k' is not a string");
    expect_bad_json("metadata twice", "{\"__metadata__\": {}, \"__metadata__\": {}}", 0, VKD_ERR_INVALID,
                    "appears twice");
    expect_bad_json("nested entry", "{\"a\": [[[[[[[[]]]]]]]]}", 0, VKD_ERR_INVALID, "tensor 'a': entry is not a JSON object");
    char long_name[1200] = "{\"";
    memset(long_name + 2, 'n', 1000);
    strcpy(long_name + 1002, "\": 5}");
    expect_bad_json("control bytes in a name do not break the line", "{\"a\\nb\\u0007\": 1}", 0, VKD_ERR_INVALID,
                    "tensor 'a?b?': entry is not");
    expect_bad_json("a 1000-byte name stays readable", long_name, 0, VKD_ERR_INVALID, "nnnn': entry is not");

    // Deeply nested JSON must fail cleanly, not overflow the stack.
    size_t depth = 100000, size;
    char* deep = malloc(2 * depth + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    uint8_t* p = make_file(deep, NULL, 0, &size);
    expect_bad_bytes("100000 nested arrays", p, size, VKD_ERR_INVALID, "not valid JSON");
    free(p);
    free(deep);

    expect_good_json("empty object", "{}", 0, 0);
    expect_good_json("space padded, leading newline", "\n {}       ", 0, 0);
    expect_good_json("metadata null", "{\"__metadata__\": null}", 0, 0);
    expect_good_json("unknown entry keys are ignored",
                     "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4], \"extra\": [1]}}", 4, 1);
    expect_good_json("gaps and trailing bytes are allowed",
                     "{\"a\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [3, 4]}}", 16, 1);
    expect_good_json("empty tensors may share an offset",
                     "{\"a\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [4, 4]},"
                     " \"b\": {\"dtype\": \"F32\", \"shape\": [0, 3], \"data_offsets\": [4, 4]},"
                     " \"c\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
                     4, 3);
    expect_good_json("a zero dim beats huge ones",
                     "{\"a\": {\"dtype\": \"F32\", \"shape\": [9007199254740991, 9007199254740991, 0],"
                     " \"data_offsets\": [0, 0]}}",
                     0, 1);
    expect_good_json("integral floats as numbers",
                     "{\"a\": {\"dtype\": \"F32\", \"shape\": [2.0], \"data_offsets\": [0, 8e0]}}", 8, 1);

    // Data at an odd offset must still read correctly (loads are bytewise).
    uint8_t data[12] = {0};
    float one = 1.0f, minus = -0.5f;
    memcpy(data + 3, &one, 4);
    memcpy(data + 7, &minus, 4);
    p = make_file("{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [3, 11]}}", data, sizeof data, &size);
    vkd_safetensors* st = NULL;
    float f[2];
    check(!vkd_safetensors_open_memory(p, size, &st, NULL) && !vkd_safetensors_read_f32(st, "a", f, 2, NULL) &&
              f[0] == 1.0f && f[1] == -0.5f,
          "unaligned F32 data reads correctly");
    vkd_safetensors_close(st);
    free(p);
}

static void test_open_errors(void) {
    vkd_safetensors* st = (vkd_safetensors*)1;
    vkd_error err = {0};
    const char* path = tmp_path("does-not-exist.safetensors");
    vkd_status s = vkd_safetensors_open(path, &st, &err);
    check(s == VKD_ERR_IO && st == NULL && !strncmp(err.msg, path, strlen(path)) && contains(err.msg, "cannot open"),
          "open a missing file: %s", err.msg);
    s = vkd_safetensors_open(tmpdir, &st, &err);
    check(s == VKD_ERR_IO && contains(err.msg, "not a regular file"), "open a directory: %s", err.msg);
    path = tmp_path("empty.safetensors");
    write_bytes(path, "", 0);
    s = vkd_safetensors_open(path, &st, &err);
    check(s == VKD_ERR_INVALID && !strncmp(err.msg, path, strlen(path)) && contains(err.msg, "0 bytes, too short"),
          "open an empty file: %s", err.msg);
    remove(path);
    path = tmp_path("truncated.safetensors");
    size_t size;
    uint8_t* p = make_file("{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}", NULL, 0, &size);
    write_bytes(path, p, size);
    free(p);
    s = vkd_safetensors_open(path, &st, &err);
    check(s == VKD_ERR_INVALID && !strncmp(err.msg, path, strlen(path)) && contains(err.msg, "'a'") &&
              contains(err.msg, "truncated"),
          "open a truncated file names the file and tensor: %s", err.msg);
    remove(path);
    check(vkd_safetensors_open(NULL, &st, &err) == VKD_ERR_INVALID && vkd_safetensors_open(path, NULL, NULL),
          "open with NULL arguments fails");
    vkd_safetensors_close(NULL);
    check(vkd_safetensors_count(NULL) == 0 && !vkd_safetensors_at(NULL, 0) && !vkd_safetensors_find(NULL, "a") &&
              !vkd_safetensors_metadata(NULL, "a"),
          "accessors accept NULL");
}

static void test_writer_errors(void) {
    const char* path = tmp_path("w.safetensors");
    float x[4] = {0};
    vkd_error err = {0};
    vkd_tensor_write dup[] = {
        {.name = "a", .dtype = VKD_DTYPE_F32, .ndim = 1, .shape = {1}, .data = x},
        {.name = "a", .dtype = VKD_DTYPE_F32, .ndim = 1, .shape = {1}, .data = x},
    };
    vkd_status s = vkd_safetensors_write(path, dup, 2, NULL, &err);
    check(s == VKD_ERR_INVALID && contains(err.msg, "'a' is given twice") && access(path, F_OK) != 0,
          "writer rejects duplicate names and writes nothing: %s", err.msg);
    vkd_tensor_write bad = {.name = "a", .dtype = VKD_DTYPE_INVALID, .ndim = 1, .shape = {1}, .data = x};
    s = vkd_safetensors_write(path, &bad, 1, NULL, &err);
    check(s == VKD_ERR_INVALID && contains(err.msg, "invalid dtype"), "writer rejects a bad dtype: %s", err.msg);
    bad = (vkd_tensor_write){.name = "a", .dtype = VKD_DTYPE_F32, .ndim = 1, .shape = {-3}, .data = x};
    s = vkd_safetensors_write(path, &bad, 1, NULL, &err);
    check(s == VKD_ERR_INVALID && contains(err.msg, "shape[0] = -3"), "writer rejects a negative dim: %s", err.msg);
    bad = (vkd_tensor_write){.name = "a", .dtype = VKD_DTYPE_F32, .ndim = 9, .shape = {1}, .data = x};
    s = vkd_safetensors_write(path, &bad, 1, NULL, &err);
    check(s == VKD_ERR_INVALID && contains(err.msg, "ndim 9"), "writer rejects 9 dims: %s", err.msg);
    bad = (vkd_tensor_write){.name = "a", .dtype = VKD_DTYPE_F32, .ndim = 1, .shape = {4}};
    s = vkd_safetensors_write(path, &bad, 1, NULL, &err);
    check(s == VKD_ERR_INVALID && contains(err.msg, "data is NULL"), "writer rejects NULL data: %s", err.msg);
    bad = (vkd_tensor_write){.name = "__metadata__", .dtype = VKD_DTYPE_F32, .ndim = 1, .shape = {1}, .data = x};
    s = vkd_safetensors_write(path, &bad, 1, NULL, &err);
    check(s == VKD_ERR_INVALID && contains(err.msg, "__metadata__"), "writer rejects a tensor named __metadata__");
    bad = (vkd_tensor_write){.dtype = VKD_DTYPE_F32, .ndim = 1, .shape = {1}, .data = x};
    s = vkd_safetensors_write(path, &bad, 1, NULL, &err);
    check(s == VKD_ERR_INVALID && contains(err.msg, "no name"), "writer rejects a NULL name");
    bad = (vkd_tensor_write){.name = "a", .dtype = VKD_DTYPE_F32, .ndim = 1, .shape = {1}, .data = x};
    s = vkd_safetensors_write(path, &bad, 1, (const char* const[]){"k", "v", "lonely", NULL}, &err);
    check(s == VKD_ERR_INVALID && contains(err.msg, "'lonely' has no value"), "writer rejects a key without value: %s",
          err.msg);
    bad = (vkd_tensor_write){.name = "a", .dtype = VKD_DTYPE_F32, .ndim = 2, .shape = {1ll << 40, 1ll << 40}, .data = x};
    s = vkd_safetensors_write(path, &bad, 1, NULL, &err);
    check(s == VKD_ERR_INVALID && contains(err.msg, "byte size overflows"), "writer rejects 2^82 bytes: %s", err.msg);

    // rename() onto a directory fails after the data is written: the temporary must go.
    const char* dir = tmp_path("dir.safetensors");
    mkdir(dir, 0700);
    bad = (vkd_tensor_write){.name = "a", .dtype = VKD_DTYPE_F32, .ndim = 1, .shape = {1}, .data = x};
    s = vkd_safetensors_write(dir, &bad, 1, NULL, &err);
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    check(s == VKD_ERR_IO && contains(err.msg, "write failed") && access(tmp, F_OK) != 0,
          "a failed rename leaves no temporary behind: %s", err.msg);
    rmdir(dir);

    // A rejected write leaves an existing file as it was.
    vkd_safetensors* st = NULL;
    s = vkd_safetensors_write(path, &bad, 1, NULL, &err);
    s = s ? s : vkd_safetensors_write(path, dup, 2, NULL, &err);
    check(s == VKD_ERR_INVALID && !vkd_safetensors_open(path, &st, &err) && vkd_safetensors_count(st) == 1,
          "a rejected write keeps the old file");
    vkd_safetensors_close(st);

    const char* nodir = tmp_path("no/such/dir/x.safetensors");
    s = vkd_safetensors_write(nodir, &bad, 1, NULL, &err);
    check(s == VKD_ERR_IO && !strncmp(err.msg, nodir, strlen(nodir)) && contains(err.msg, "cannot open for writing"),
          "writer into a missing directory: %s", err.msg);
    remove(path);
}

// ---------------------------------------------------------------------------
// Fixtures: ../shared/fixtures/sd-tiny, written by an independent numpy writer.

static vkd_safetensors* open_fixture(const char* dir, const char* rel) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    vkd_safetensors* st = NULL;
    vkd_error err = {0};
    vkd_status s = vkd_safetensors_open(path, &st, &err);
    check(s == VKD_OK, "fixture %s opens%s%s", rel, s ? ": " : "", s ? err.msg : "");
    return st;
}

// Reads every tensor as float and checks all values are finite.
static void check_all_readable(vkd_safetensors* st, const char* rel) {
    bool ok = true;
    size_t total = 0;
    for (size_t i = 0; i < vkd_safetensors_count(st) && ok; i++) {
        const vkd_tensor_info* t = vkd_safetensors_at(st, i);
        float* f = malloc((size_t)t->numel * sizeof *f + 1);
        ok = !vkd_safetensors_read_f32(st, t->name, f, (size_t)t->numel, NULL);
        for (size_t j = 0; ok && j < t->numel; j++) ok = isfinite(f[j]);
        total += (size_t)t->numel;
        free(f);
    }
    check(ok && vkd_safetensors_metadata_count(st) > 0, "fixture %s: %zu tensors, %zu values, all finite; metadata",
          rel, vkd_safetensors_count(st), total);
}

static float max_abs_diff(vkd_safetensors* st, const char* a, const char* b, float* max_ref) {
    const vkd_tensor_info* t = vkd_safetensors_find(st, a);
    if (!t) return INFINITY;
    size_t n = (size_t)t->numel;
    float *x = malloc(n * sizeof *x + 1), *y = malloc(n * sizeof *y + 1), d = 0;
    *max_ref = 0;
    if (vkd_safetensors_read_f32(st, a, x, n, NULL) || vkd_safetensors_read_f32(st, b, y, n, NULL)) d = INFINITY;
    for (size_t i = 0; i < n && isfinite(d); i++) {
        d = fmaxf(d, fabsf(x[i] - y[i]));
        *max_ref = fmaxf(*max_ref, fabsf(y[i]));
    }
    free(x);
    free(y);
    return d;
}

static void test_fixtures(void) {
    const char* dir = getenv("VKD_FIXTURES");
    if (!dir || !*dir) dir = VKD_SOURCE_DIR "/../shared/fixtures/sd-tiny";
    struct stat sb;
    if (!check(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode), "fixtures directory %s (set VKD_FIXTURES to move it)",
               dir))
        return;
    static const char* files[] = {
        "scheduler/alphas_cumprod.safetensors", "scheduler/case_add_noise.safetensors",
        "text_encoder/case_forward.safetensors", "text_encoder/model.safetensors",
        "unet/case_backward.safetensors",       "unet/case_forward.safetensors",
        "unet/case_forward_77tok.safetensors",  "unet/diffusion_pytorch_model.safetensors",
        "vae/case_decode.safetensors",          "vae/case_encode.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        vkd_safetensors* st = open_fixture(dir, files[i]);
        if (st) check_all_readable(st, files[i]);
        vkd_safetensors_close(st);
    }

    vkd_error err = {0};
    vkd_safetensors* st = open_fixture(dir, "unet/diffusion_pytorch_model.safetensors");
    if (st) {
        check(vkd_safetensors_count(st) == 208, "unet has 208 tensors (%zu)", vkd_safetensors_count(st));
        const vkd_tensor_info* t = NULL;
        vkd_status s = vkd_safetensors_expect(st, "conv_in.weight", 4, (int64_t[]){32, 4, 3, 3}, &t, &err);
        check(s == VKD_OK && t->dtype == VKD_DTYPE_F32 && t->nbytes == 32 * 4 * 9 * 4,
              "unet conv_in.weight is F32 [32,4,3,3]");
        s = vkd_safetensors_expect(st, "conv_in.weight", 4, (int64_t[]){64, 4, 3, 3}, NULL, &err);
        check(s == VKD_ERR_INVALID &&
                  contains(err.msg, "unet/diffusion_pytorch_model.safetensors: tensor 'conv_in.weight' has shape "
                                    "[32,4,3,3], expected [64,4,3,3]"),
              "unet shape mismatch message: %s", err.msg);
        vkd_safetensors_close(st);
    }

    st = open_fixture(dir, "scheduler/alphas_cumprod.safetensors");
    if (st) {
        float a[1000], ref;
        vkd_status s = vkd_safetensors_read_f32(st, "alphas_cumprod", a, 1000, &err);
        check(s == VKD_OK && fabsf(a[0] - 0.99915f) < 1e-5f && a[999] > 0 && a[999] < a[0],
              "alphas_cumprod[0] = %.6f (0.99915), decreasing", a[0]);
        float d = max_abs_diff(st, "alphas_cumprod", "alphas_cumprod_f64", &ref);
        check(d < 1e-6f, "alphas_cumprod F32 vs F64: max |d| = %.3g (metadata says 4.65e-07)", d);
        check(vkd_safetensors_metadata(st, "alphas_cumprod") != NULL, "alphas_cumprod metadata describes the tensor");
        vkd_safetensors_close(st);
    }

    st = open_fixture(dir, "unet/case_forward.safetensors");
    if (st) {
        const vkd_tensor_info* t = NULL;
        float ts[2], ref;
        check(!vkd_safetensors_expect(st, "timestep", 1, (int64_t[]){2}, &t, &err) && t->dtype == VKD_DTYPE_I64 &&
                  !vkd_safetensors_read_f32(st, "timestep", ts, 2, &err) && ts[0] == 999 && ts[1] == 17,
              "unet case_forward timestep is I64 [999, 17]");
        float d = max_abs_diff(st, "out", "out_f64ref", &ref);
        check(d <= 1e-4f * fmaxf(1, ref), "unet case_forward out vs out_f64ref: max |d| = %.3g", d);
        check(!vkd_safetensors_expect(st, "sample", 4, (int64_t[]){2, 4, 8, 8}, NULL, &err) &&
                  !vkd_safetensors_expect(st, "encoder_hidden_states", 3, (int64_t[]){2, 7, 32}, NULL, &err),
              "unet case_forward sample [2,4,8,8], encoder_hidden_states [2,7,32]");
        vkd_safetensors_close(st);
    }

    st = open_fixture(dir, "text_encoder/case_forward.safetensors");
    if (st) {
        float ids[2 * 77], eos[2];
        check(!vkd_safetensors_read_f32(st, "input_ids", ids, 2 * 77, &err) && ids[0] == 998 && ids[11] == 999 &&
                  ids[76] == 999 && ids[77] == 998 &&
                  !vkd_safetensors_read_f32(st, "eos_position", eos, 2, &err) && eos[0] == 11 && eos[1] == 76,
              "text_encoder input_ids (BOS 998, EOS 999) and eos_position [11, 76]");
        vkd_safetensors_close(st);
    }
}

int main(void) {
    const char* base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/vkd_test_safetensors_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    test_dtypes();
    test_half();
    test_roundtrip();
    test_lookup_errors();
    test_malformed();
    test_open_errors();
    test_writer_errors();
    test_fixtures();
    rmdir(tmpdir);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
