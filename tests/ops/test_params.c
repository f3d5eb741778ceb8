// Parameter sets (src/nn/params.c) and activation arenas (src/nn/arena.c): loading the
// sd-tiny VAE weights into a declared set, the loader's errors, dtype conversions, the
// 1x1-conv/linear and row-slice layouts of original checkpoints, arena reuse and peak
// accounting, and the statistics of the random init used by the benchmarks.
#define _POSIX_C_SOURCE 200809L  // getpid
#include "harness.h"
#include "vkdream/nn/arena.h"
#include "vkdream/nn/params.h"
#include "vkdream/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool has(const char* msg, const char* part) { return strstr(msg, part) != NULL; }

// Every tensor of the file declared (in reverse file order, so indices and offsets differ
// from the file's layout), loaded, downloaded, compared bit for bit with the parser's own
// conversion.
static void vae_fixture(tu_ctx* t) {
    tu_case(t, "load sd-tiny vae weights");
    char path[1024];
    tu_fixture_path(path, sizeof path, "vae/diffusion_pytorch_model.safetensors");
    vkd_safetensors* f = NULL;
    vkd_error err = {0};
    if (!tu_check(t, vkd_safetensors_open(path, &f, &err) == VKD_OK, "open %s: %s", path, err.msg)) return;
    size_t n = vkd_safetensors_count(f);
    vkd_params p = {0};
    bool declared = true;
    for (size_t k = n; k-- > 0;) {
        const vkd_tensor_info* ti = vkd_safetensors_at(f, k);
        declared &= vkd_params_add(&p, ti->name, ti->ndim, ti->shape) == n - 1 - k;
    }
    tu_check(t, declared && p.count == n, "declared %u of %zu tensors with consecutive indices", p.count, n);
    bool aligned = true;
    for (uint32_t i = 0; i < p.count; i++) aligned &= p.items[i].offset % 64 == 0;
    tu_check(t, aligned, "every parameter starts on a 256-byte boundary");
    vkd_status st = vkd_params_alloc(t->gpu, &p, true, &err);
    tu_check(t, st == VKD_OK, "alloc with gradient: %s", st ? err.msg : "ok");
    st = vkd_params_load(&p, f, NULL, &err);
    tu_check(t, st == VKD_OK, "load %u tensors: %s", p.count, st ? err.msg : "ok");
    size_t bad = 0, total = 0;
    const char* first_bad = "";
    for (uint32_t i = 0; i < p.count && !st; i++) {
        uint64_t c = p.items[i].count;
        float* got = malloc(c * sizeof(float));
        float* ref = malloc(c * sizeof(float));
        vkd_params_download(&p, i, false, got, c, &err);
        vkd_safetensors_read_f32(f, p.items[i].name, ref, c, &err);
        if (memcmp(got, ref, c * sizeof(float))) {
            if (!bad) first_bad = p.items[i].name;
            bad++;
        }
        total += c;
        free(got);
        free(ref);
    }
    tu_check(t, bad == 0, "all %zu values equal vkd_safetensors_read_f32 (%zu tensors differ, first %s)", total, bad,
             first_bad);
    // A gradient set starts at zero and grads live at the same offsets.
    uint32_t i = vkd_params_find(&p, "encoder.conv_in.weight");
    if (tu_check(t, i != UINT32_MAX, "find encoder.conv_in.weight")) {
        uint64_t c = p.items[i].count;
        float* g = malloc(c * sizeof(float));
        st = vkd_params_download(&p, i, true, g, c, &err);
        bool zero = st == VKD_OK;
        for (uint64_t k = 0; k < c && zero; k++) zero = g[k] == 0.0f;
        tu_check(t, zero, "gradient is zeroed after alloc");
        tu_check(t, vkd_params_grad(&p, i) - p.grad.addr == vkd_params_addr(&p, i) - p.data.addr,
                 "gradient at the parameter's offset");
        free(g);
    }
    tu_check(t, vkd_params_addr(&p, p.count) == 0 && vkd_params_grad(&p, p.count) == 0,
             "address of an index past the end is 0");

    // Partial loads: [first, last) only; the rest keeps what it had.
    tu_case(t, "load a range of parameters");
    vkd_params q = {0};
    const vkd_tensor_info* a = vkd_safetensors_find(f, "decoder.conv_in.weight");
    const vkd_tensor_info* b = vkd_safetensors_find(f, "quant_conv.bias");
    uint32_t ia = vkd_params_add(&q, a->name, a->ndim, a->shape);
    uint32_t ib = vkd_params_add(&q, b->name, b->ndim, b->shape);
    vkd_params_alloc(t->gpu, &q, false, &err);
    float sentinel[8] = {7, 7, 7, 7, 7, 7, 7, 7};
    vkd_params_upload(&q, ib, sentinel, 8, &err);
    st = vkd_params_load(&q, f, &(vkd_params_load_desc){.first = ia, .last = ia + 1}, &err);
    float got8[8];
    vkd_params_download(&q, ib, false, got8, 8, &err);
    tu_check(t, st == VKD_OK && !memcmp(got8, sentinel, sizeof got8), "parameter outside [first,last) untouched");
    tu_check(t, vkd_params_grad(&q, ia) == 0, "frozen set: gradient address 0");
    vkd_params_free(&q);
    vkd_params_free(&p);
    vkd_safetensors_close(f);
}

// Duplicate declarations and the shape formatter.
static void declare(tu_ctx* t) {
    tu_case(t, "declare");
    vkd_params p = {0};
    uint32_t a = vkd_params_add(&p, "w", 2, (int64_t[]){2, 3});
    uint32_t b = vkd_params_add(&p, "w", 2, (int64_t[]){2, 3});
    uint32_t c = vkd_params_add(&p, "w", 2, (int64_t[]){3, 2});
    uint32_t d = vkd_params_add(&p, "w", 1, (int64_t[]){6});
    tu_check(t, a == 0 && b == 0, "same name and shape twice: the first index (%u, %u)", a, b);
    tu_check(t, c == UINT32_MAX, "same name, transposed shape: rejected (%u)", c);
    tu_check(t, d == UINT32_MAX, "same name, other rank: rejected (%u)", d);
    uint32_t e = vkd_params_addf(&p, 4, (int64_t[]){4, 2, 3, 3}, "down_blocks.%d.conv.weight", 3);
    tu_check(t, e == 1 && vkd_params_find(&p, "down_blocks.3.conv.weight") == 1, "printf-style name");
    tu_check(t, p.items[1].offset == 64 && p.total == 192, "offsets padded to 64 floats (%llu, total %llu)",
             (unsigned long long)p.items[1].offset, (unsigned long long)p.total);
    char longname[VKD_PARAM_NAME_MAX + 8];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    tu_check(t, vkd_params_add(&p, longname, 1, (int64_t[]){1}) == UINT32_MAX, "over-long name rejected");
    tu_check(t, vkd_params_add(&p, "v", 5, (int64_t[]){1, 1, 1, 1, 1}) == UINT32_MAX, "rank 5 rejected");
    char buf[64];
    tu_check(t, !strcmp(vkd_shape_str(buf, sizeof buf, 4, (int64_t[]){32, 4, 3, 3}), "[32,4,3,3]"), "shape string %s",
             buf);
    vkd_params_free(&p);
}

// A synthetic file with every layout the loader has to accept or reject.
typedef struct synth {
    char path[256];
    vkd_safetensors* f;
} synth;

static const uint16_t f16_bits[8] = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0x8000, 0x03FF, 0x3555};
static const double f16_vals[8] = {1.0, -2.0, 0.5, 65504.0, 5.9604644775390625e-8, -0.0, 6.097555160522461e-5,
                                   0.333251953125};
static const uint16_t bf16_bits[6] = {0x3F80, 0xC040, 0x7F7F, 0x0001, 0x3EAB, 0xBF00};
static const double bf16_vals[6] = {1.0, -3.0, 3.3895313892515355e38, 9.183549615799121e-41, 0.333984375, -0.5};
static const double f64_vals[4] = {0.1, -1e-3, 3.0e38, 1.0 / 3.0};

static bool make_synth(tu_ctx* t, synth* s, float* in_proj_w /*(12,4)*/, float* in_proj_b /*(12)*/,
                       float* conv1x1 /*(3,4,1,1)*/, float* lin /*(3,4)*/) {
    snprintf(s->path, sizeof s->path, "/tmp/vkd_test_params_%ld.safetensors", (long)getpid());
    for (int k = 0; k < 48; k++) in_proj_w[k] = (float)(k * 0.25 - 3);
    for (int k = 0; k < 12; k++) in_proj_b[k] = (float)(100 + k);
    for (int k = 0; k < 12; k++) conv1x1[k] = (float)(k + 1) / 8.0f, lin[k] = -(float)(k + 1) / 16.0f;
    int64_t ids[2] = {3, -4};
    float conv3[3 * 4 * 9] = {0};
    vkd_tensor_write w[] = {
        {.name = "attn.in_proj_weight", .dtype = VKD_DTYPE_F32, .ndim = 2, .shape = {12, 4}, .data = in_proj_w},
        {.name = "attn.in_proj_bias", .dtype = VKD_DTYPE_F32, .ndim = 1, .shape = {12}, .data = in_proj_b},
        {.name = "mid.attn_1.q.weight", .dtype = VKD_DTYPE_F32, .ndim = 4, .shape = {3, 4, 1, 1}, .data = conv1x1},
        {.name = "proj_in.weight", .dtype = VKD_DTYPE_F32, .ndim = 2, .shape = {3, 4}, .data = lin},
        {.name = "conv3.weight", .dtype = VKD_DTYPE_F32, .ndim = 4, .shape = {3, 4, 3, 3}, .data = conv3},
        {.name = "half", .dtype = VKD_DTYPE_F16, .ndim = 2, .shape = {2, 4}, .data = f16_bits},
        {.name = "bhalf", .dtype = VKD_DTYPE_BF16, .ndim = 1, .shape = {6}, .data = bf16_bits},
        {.name = "double", .dtype = VKD_DTYPE_F64, .ndim = 1, .shape = {4}, .data = f64_vals},
        {.name = "ids", .dtype = VKD_DTYPE_I64, .ndim = 1, .shape = {2}, .data = ids},
    };
    vkd_error err = {0};
    vkd_status st = vkd_safetensors_write(s->path, w, sizeof w / sizeof w[0], NULL, &err);
    if (!st) st = vkd_safetensors_open(s->path, &s->f, &err);
    return tu_check(t, st == VKD_OK, "write and open %s: %s", s->path, st ? err.msg : "ok");
}

static void free_synth(synth* s) {
    if (s->f) vkd_safetensors_close(s->f);
    remove(s->path);
}

// Loads one declared parameter (fresh set) and returns its status; values in *out.
static vkd_status load_one(tu_ctx* t, const vkd_safetensors* f, const char* name, int ndim, const int64_t* shape,
                           const vkd_params_load_desc* desc, float* out, vkd_error* err) {
    vkd_params p = {0};
    uint32_t i = vkd_params_add(&p, name, ndim, shape);
    vkd_status st = vkd_params_alloc(t->gpu, &p, false, err);
    if (!st) st = vkd_params_load(&p, f, desc, err);
    if (!st && out) st = vkd_params_download(&p, i, false, out, p.items[i].count, err);
    vkd_params_free(&p);
    return st;
}

static bool same_f(const float* a, const double* b, size_t n) {
    for (size_t k = 0; k < n; k++)
        if (a[k] != (float)b[k] || signbit(a[k]) != signbit((float)b[k])) return false;
    return true;
}

static void dtypes(tu_ctx* t, const synth* s) {
    tu_case(t, "dtypes");
    vkd_error err = {0};
    float got[8];
    vkd_status st = load_one(t, s->f, "half", 2, (int64_t[]){2, 4}, NULL, got, &err);
    tu_check(t, st == VKD_OK && same_f(got, f16_vals, 8),
             "F16 -> F32 exact incl. -0, subnormals and 65504: %s (got %g %g %g %g %g %g %g %g)", st ? err.msg : "ok",
             (double)got[0], (double)got[1], (double)got[2], (double)got[3], (double)got[4], (double)got[5],
             (double)got[6], (double)got[7]);
    st = load_one(t, s->f, "bhalf", 1, (int64_t[]){6}, NULL, got, &err);
    tu_check(t, st == VKD_OK && same_f(got, bf16_vals, 6), "BF16 -> F32 exact incl. max and subnormal: %s",
             st ? err.msg : "ok");
    st = load_one(t, s->f, "double", 1, (int64_t[]){4}, NULL, got, &err);
    tu_check(t, st == VKD_OK && same_f(got, f64_vals, 4), "F64 -> F32 rounded to nearest: %s", st ? err.msg : "ok");
    st = load_one(t, s->f, "ids", 1, (int64_t[]){2}, NULL, got, &err);
    tu_check(t, st == VKD_ERR_UNSUPPORTED && has(err.msg, s->path) && has(err.msg, "'ids'") && has(err.msg, "I64"),
             "I64 weights rejected naming file, tensor and dtype: %s", err.msg);
}

// Renames for the layout tests: q/k/v rows of a fused projection, a VAE attention weight
// under its original name, and a parameter with no counterpart.
static bool rename_layout(const char* canonical, vkd_param_source* src, void* user) {
    (void)user;
    static const char* qkv[3] = {"to_q", "to_k", "to_v"};
    for (int k = 0; k < 3; k++) {
        char w[64], b[64];
        snprintf(w, sizeof w, "%s.weight", qkv[k]);
        snprintf(b, sizeof b, "%s.bias", qkv[k]);
        if (!strcmp(canonical, w) || !strcmp(canonical, b)) {
            snprintf(src->name, sizeof src->name, "attn.in_proj_%s", canonical[5] == 'w' ? "weight" : "bias");
            src->row_begin = 4 * k;
            src->row_count = 4;
            return true;
        }
    }
    if (!strcmp(canonical, "bad_rows")) {
        snprintf(src->name, sizeof src->name, "attn.in_proj_weight");
        src->row_begin = 10;
        src->row_count = 4;
        return true;
    }
    if (!strcmp(canonical, "group_norm.to_q.weight")) {
        snprintf(src->name, sizeof src->name, "mid.attn_1.q.weight");
        return true;
    }
    return false;
}

static void layouts(tu_ctx* t, const synth* s, const float* w, const float* bias, const float* conv1x1,
                    const float* lin) {
    vkd_error err = {0};
    tu_case(t, "row slices of a fused q/k/v projection");
    vkd_params p = {0};
    uint32_t iw[3], ib[3];
    const char* names[3] = {"to_q", "to_k", "to_v"};
    for (int k = 0; k < 3; k++) {
        iw[k] = vkd_params_addf(&p, 2, (int64_t[]){4, 4}, "%s.weight", names[k]);
        ib[k] = vkd_params_addf(&p, 1, (int64_t[]){4}, "%s.bias", names[k]);
    }
    vkd_params_alloc(t->gpu, &p, false, &err);
    vkd_status st = vkd_params_load(&p, s->f, &(vkd_params_load_desc){.rename = rename_layout}, &err);
    tu_check(t, st == VKD_OK, "load: %s", st ? err.msg : "ok");
    for (int k = 0; k < 3 && !st; k++) {
        float gw[16], gb[4];
        vkd_params_download(&p, iw[k], false, gw, 16, &err);
        vkd_params_download(&p, ib[k], false, gb, 4, &err);
        tu_check(t, !memcmp(gw, w + 16 * k, sizeof gw) && !memcmp(gb, bias + 4 * k, sizeof gb),
                 "%s = rows %d..%d of in_proj_weight / in_proj_bias", names[k], 4 * k, 4 * k + 3);
    }
    vkd_params_free(&p);
    st = load_one(t, s->f, "bad_rows", 2, (int64_t[]){4, 4}, &(vkd_params_load_desc){.rename = rename_layout}, NULL,
                  &err);
    tu_check(t, st == VKD_ERR_INVALID && has(err.msg, s->path) && has(err.msg, "attn.in_proj_weight") &&
                    has(err.msg, "[12,4]") && has(err.msg, "10..13") && has(err.msg, "bad_rows"),
             "rows past the end: error names file, tensor, its shape, the rows and the parameter: %s", err.msg);

    tu_case(t, "1x1 conv vs linear");
    float got[12];
    st = load_one(t, s->f, "group_norm.to_q.weight", 2, (int64_t[]){3, 4},
                  &(vkd_params_load_desc){.rename = rename_layout}, got, &err);
    tu_check(t, st == VKD_OK && !memcmp(got, conv1x1, sizeof got), "[3,4,1,1] conv fills a [3,4] linear: %s",
             st ? err.msg : "ok");
    st = load_one(t, s->f, "proj_in.weight", 4, (int64_t[]){3, 4, 1, 1}, NULL, got, &err);
    tu_check(t, st == VKD_OK && !memcmp(got, lin, sizeof got), "[3,4] linear fills a [3,4,1,1] conv: %s",
             st ? err.msg : "ok");
    st = load_one(t, s->f, "conv3.weight", 2, (int64_t[]){3, 4}, NULL, NULL, &err);
    tu_check(t, st == VKD_ERR_INVALID && has(err.msg, "[3,4,3,3]") && has(err.msg, "expected [3,4]"),
             "[3,4,3,3] conv does not fill a [3,4] linear: %s", err.msg);
    st = load_one(t, s->f, "proj_in.weight", 4, (int64_t[]){4, 3, 1, 1}, NULL, NULL, &err);
    tu_check(t, st == VKD_ERR_INVALID, "[3,4] does not fill [4,3,1,1] (same count): %s", err.msg);

    tu_case(t, "errors name file, tensor and shapes");
    st = load_one(t, s->f, "proj_in.weight", 2, (int64_t[]){3, 5}, NULL, NULL, &err);
    tu_check(t, st == VKD_ERR_INVALID && has(err.msg, s->path) && has(err.msg, "'proj_in.weight'") &&
                    has(err.msg, "[3,4]") && has(err.msg, "[3,5]"),
             "wrong shape: %s", err.msg);
    st = load_one(t, s->f, "proj_out.weight", 2, (int64_t[]){3, 4}, NULL, NULL, &err);
    tu_check(t, st == VKD_ERR_INVALID && has(err.msg, s->path) && has(err.msg, "missing") &&
                    has(err.msg, "'proj_out.weight'") && has(err.msg, "[3,4]"),
             "missing tensor: %s", err.msg);
    st = load_one(t, s->f, "weight", 2, (int64_t[]){3, 4}, &(vkd_params_load_desc){.prefix = "proj_out."}, NULL, &err);
    tu_check(t, st == VKD_ERR_INVALID && has(err.msg, "'proj_out.weight'"), "missing tensor, name with prefix: %s",
             err.msg);
    st = load_one(t, s->f, "weight", 2, (int64_t[]){3, 4}, &(vkd_params_load_desc){.prefix = "proj_in."}, got, &err);
    tu_check(t, st == VKD_OK && !memcmp(got, lin, sizeof got), "prefix prepended: %s", st ? err.msg : "ok");
    st = load_one(t, s->f, "unknown", 1, (int64_t[]){3}, &(vkd_params_load_desc){.rename = rename_layout}, NULL,
                  &err);
    tu_check(t, st == VKD_ERR_INVALID && has(err.msg, s->path) && has(err.msg, "'unknown'"),
             "no counterpart in the layout: %s", err.msg);
}

// Save with canonical names, read back.
static void save_roundtrip(tu_ctx* t, const synth* s) {
    tu_case(t, "save");
    vkd_error err = {0};
    vkd_params p = {0};
    vkd_params_add(&p, "half", 2, (int64_t[]){2, 4});
    vkd_params_add(&p, "proj_in.weight", 4, (int64_t[]){3, 4, 1, 1});
    vkd_params_alloc(t->gpu, &p, true, &err);
    vkd_status st = vkd_params_load(&p, s->f, NULL, &err);
    char path[300];
    snprintf(path, sizeof path, "%s.saved", s->path);
    const char* meta[] = {"format", "pt", NULL};
    if (!st) st = vkd_params_save(&p, path, false, meta, &err);
    vkd_safetensors* f = NULL;
    if (!st) st = vkd_safetensors_open(path, &f, &err);
    float a[8], b[12], ra[8], rb[12];
    if (!st) st = vkd_safetensors_read_f32(f, "half", a, 8, &err);
    if (!st) st = vkd_safetensors_read_f32(f, "proj_in.weight", b, 12, &err);
    vkd_safetensors_read_f32(s->f, "half", ra, 8, NULL);
    vkd_safetensors_read_f32(s->f, "proj_in.weight", rb, 12, NULL);
    const vkd_tensor_info* ti = f ? vkd_safetensors_find(f, "proj_in.weight") : NULL;
    tu_check(t, !st && !memcmp(a, ra, sizeof a) && !memcmp(b, rb, sizeof b) && ti && ti->ndim == 4 &&
                    f && !strcmp(vkd_safetensors_metadata(f, "format"), "pt"),
             "values, declared shapes and metadata survive: %s", st ? err.msg : "ok");
    if (f) vkd_safetensors_close(f);
    st = vkd_params_save(&p, path, true, NULL, &err);
    f = NULL;
    if (!st) st = vkd_safetensors_open(path, &f, &err);
    if (!st) st = vkd_safetensors_read_f32(f, "half", a, 8, &err);
    bool zero = !st;
    for (int k = 0; k < 8 && zero; k++) zero = a[k] == 0.0f;
    tu_check(t, zero, "gradient save writes the (zero) gradient: %s", st ? err.msg : "ok");
    if (f) vkd_safetensors_close(f);
    remove(path);
    vkd_params_free(&p);
}

// N(0, s^2) weights with s = clamp(1/sqrt(fan_in), 0.02, 0.2); norm weights 1; biases 0.
static void init_random(tu_ctx* t) {
    tu_case(t, "random init statistics");
    vkd_error err = {0};
    vkd_params p = {0};
    struct {
        const char* name;
        int ndim;
        int64_t shape[4];
        double s;
    } w[] = {
        {"conv.weight", 4, {64, 32, 3, 3}, 1.0 / sqrt(288.0)},  // within the clamp
        {"narrow.weight", 2, {4096, 4}, 0.2},                   // 1/sqrt(4) = 0.5 clamped
        {"wide.weight", 2, {16, 4096}, 0.02},                   // 1/sqrt(4096) = 0.0156 clamped
        {"emb.weight", 2, {1000, 32}, 1.0 / sqrt(32.0)},
    };
    int nw = (int)(sizeof w / sizeof w[0]);
    for (int k = 0; k < nw; k++) vkd_params_add(&p, w[k].name, w[k].ndim, w[k].shape);
    uint32_t inorm = vkd_params_add(&p, "down.0.norm1.weight", 1, (int64_t[]){96});
    uint32_t iln = vkd_params_add(&p, "layers.0.layer_norm2.weight", 1, (int64_t[]){48});
    uint32_t ibias = vkd_params_add(&p, "conv.bias", 1, (int64_t[]){64});
    uint32_t inb = vkd_params_add(&p, "down.0.norm1.bias", 1, (int64_t[]){96});
    vkd_params_alloc(t->gpu, &p, false, &err);
    vkd_status st = vkd_params_init_random(&p, 1234, &err);
    tu_check(t, st == VKD_OK, "init: %s", st ? err.msg : "ok");
    for (int k = 0; k < nw && !st; k++) {
        uint64_t c = p.items[k].count;
        float* x = malloc(c * sizeof(float));
        vkd_params_download(&p, (uint32_t)k, false, x, c, &err);
        double m = 0, v = 0, m4 = 0;
        for (uint64_t j = 0; j < c; j++) m += x[j];
        m /= (double)c;
        for (uint64_t j = 0; j < c; j++) {
            double d = x[j] - m;
            v += d * d;
            m4 += d * d * d * d;
        }
        v /= (double)c;
        m4 /= (double)c;
        double sd = sqrt(v), kurt = m4 / (v * v);
        // Standard errors: mean s/sqrt(n), std s/sqrt(2n), kurtosis sqrt(24/n); 5 sigma.
        double n = (double)c;
        bool ok = fabs(m) < 5 * w[k].s / sqrt(n) && fabs(sd / w[k].s - 1) < 5 / sqrt(2 * n) &&
                  fabs(kurt - 3) < 5 * sqrt(24 / n);
        tu_check(t, ok, "%s n=%llu: mean %.3g std %.4g (expected %.4g) kurtosis %.3f", w[k].name,
                 (unsigned long long)c, m, sd, w[k].s, kurt);
        free(x);
    }
    float norm[96], ln[48], bias[64], nb[96];
    vkd_params_download(&p, inorm, false, norm, 96, &err);
    vkd_params_download(&p, iln, false, ln, 48, &err);
    vkd_params_download(&p, ibias, false, bias, 64, &err);
    vkd_params_download(&p, inb, false, nb, 96, &err);
    bool ok = true;
    for (int k = 0; k < 96; k++) ok &= norm[k] == 1.0f && nb[k] == 0.0f;
    for (int k = 0; k < 48; k++) ok &= ln[k] == 1.0f;
    for (int k = 0; k < 64; k++) ok &= bias[k] == 0.0f;
    tu_check(t, ok, "norm weights 1, norm and conv biases 0");

    // Same seed, same values; another seed, other values.
    uint64_t cn = p.items[1].count;
    float* a = malloc(cn * sizeof(float));
    float* b = malloc(cn * sizeof(float));
    float* c = malloc(cn * sizeof(float));
    st = vkd_params_download(&p, 1, false, a, cn, &err);
    if (!st) st = vkd_params_init_random(&p, 1234, &err);
    if (!st) st = vkd_params_download(&p, 1, false, b, cn, &err);
    if (!st) st = vkd_params_init_random(&p, 99, &err);
    if (!st) st = vkd_params_download(&p, 1, false, c, cn, &err);
    tu_check(t, !st && !memcmp(a, b, cn * sizeof(float)) && memcmp(a, c, cn * sizeof(float)),
             "reproducible per seed, differs across seeds: %s", st ? err.msg : "ok");
    free(a);
    free(b);
    free(c);
    vkd_params_free(&p);
}

// Reads n floats at a raw device address (an arena address has no vkd_buffer).
static double* read_addr(tu_ctx* t, vkd_addr addr, size_t n) {
    tu_buf b = tu_alloc(t, n);
    vkd_stream_copy(t->s, b.addr, addr, (uint32_t)n);
    tu_run(t);
    double* d = tu_download_d(t, b);
    tu_free(t, &b);
    return d;
}

static void arena(tu_ctx* t) {
    tu_case(t, "arena alloc/push/pop/reset");
    vkd_arena a = {.gpu = t->gpu, .chunk_bytes = 64 << 10};  // 16384 floats per chunk
    vkd_addr x = vkd_arena_alloc(&a, t->s, 1000);
    vkd_addr y = vkd_arena_alloc(&a, t->s, 1);
    tu_check(t, x && y && x % 256 == 0 && y % 256 == 0 && y >= x + 4000, "aligned, non-overlapping (%llu %llu)",
             (unsigned long long)(y - x), (unsigned long long)(x % 256));
    tu_check(t, a.live_bytes == 4096 + 256 && a.peak_bytes == a.live_bytes, "live %zu peak %zu (aligned sizes)",
             a.live_bytes, a.peak_bytes);
    vkd_arena_mark m = vkd_arena_push(&a);
    vkd_addr z = vkd_arena_alloc(&a, t->s, 5000);
    vkd_addr big = vkd_arena_alloc(&a, t->s, 12000);  // does not fit the rest of chunk 0
    tu_check(t, a.nchunks == 2 && big == a.chunks[1].addr, "overflow goes to a new chunk (%u chunks)", a.nchunks);
    size_t peak = a.peak_bytes;
    tu_check(t, peak == 4096 + 256 + 20224 + 48128, "peak counts live bytes (%zu)", peak);
    vkd_arena_pop(&a, m);
    tu_check(t, a.live_bytes == 4096 + 256 && a.peak_bytes == peak, "pop restores live bytes, keeps the peak");
    vkd_addr z2 = vkd_arena_alloc(&a, t->s, 5000);
    tu_check(t, z2 == z, "after pop the same address is handed out again");
    vkd_addr huge = vkd_arena_alloc(&a, t->s, 100000);  // bigger than a chunk: a chunk of its own
    tu_check(t, huge && a.nchunks == 3 && a.chunks[2].size >= 400000, "request larger than a chunk gets its own");
    vkd_addr after = vkd_arena_alloc(&a, t->s, 10);
    tu_check(t, after && (after < huge || after >= huge + 400000), "next allocation does not overlap the big one");
    uint32_t nchunks = a.nchunks;
    vkd_arena_reset(&a);
    tu_check(t, a.live_bytes == 0 && a.current == 0, "reset: nothing live");
    vkd_addr x2 = vkd_arena_alloc(&a, t->s, 1000);
    tu_check(t, x2 == x && a.nchunks == nchunks, "reset reuses chunk 0 without allocating");

    // Zero fill and data integrity through real dispatches.
    vkd_arena_reset(&a);
    vkd_addr zf = vkd_arena_alloc(&a, t->s, 777);
    vkd_stream_fill(t->s, zf, 777, 0x3f800000);  // 1.0f
    tu_run(t);
    vkd_arena_pop(&a, (vkd_arena_mark){0});
    vkd_addr zz = vkd_arena_zeros(&a, t->s, 777);
    vkd_addr other = vkd_arena_alloc(&a, t->s, 5);
    vkd_stream_fill(t->s, other, 5, 0x40000000);  // 2.0f right after: must not spill into zz
    double* got = read_addr(t, zz, 777);
    bool zero = zz == zf;
    for (int k = 0; k < 777; k++) zero &= got[k] == 0.0;
    tu_check(t, zero, "vkd_arena_zeros over previously used memory reads back zeros");
    free(got);
    got = read_addr(t, other, 5);
    tu_check(t, got[0] == 2.0 && got[4] == 2.0, "neighbouring allocation holds its own values");
    free(got);

    // Chunks grow: each new one twice the previous, so many small requests need few chunks.
    vkd_arena small = {.gpu = t->gpu, .chunk_bytes = 256};
    vkd_addr last = 1;
    for (int k = 0; k <= VKD_ARENA_MAX_CHUNKS && last; k++) last = vkd_arena_alloc(&small, t->s, 64);
    tu_check(t, last && small.nchunks == 7 && small.chunks[1].size == 512 && small.chunks[2].size == 1024,
             "%d requests of 256 bytes fit in %u doubling chunks", VKD_ARENA_MAX_CHUNKS + 1, small.nchunks);
    // Compaction: the same pass again in one chunk of the peak, nothing else allocated.
    vkd_arena_compact(&small);
    tu_check(t, small.nchunks == 7, "no compaction while allocations are live");
    size_t peak_small = small.peak_bytes;
    vkd_arena_reset(&small);
    vkd_arena_compact(&small);
    tu_check(t, small.nchunks == 1 && small.chunks[0].size == peak_small,
             "after a reset: one chunk of the peak (%zu bytes, %u chunk)", peak_small, small.nchunks);
    uint64_t before = vkd_gpu_allocated_bytes(t->gpu);
    bool inside = true;
    for (int k = 0; k <= VKD_ARENA_MAX_CHUNKS; k++) {
        vkd_addr q = vkd_arena_alloc(&small, t->s, 64);
        inside &= q >= small.chunks[0].addr && q + 256 <= small.chunks[0].addr + small.chunks[0].size;
    }
    tu_check(t, inside && small.nchunks == 1 && vkd_gpu_allocated_bytes(t->gpu) == before,
             "the pass again fits the compacted chunk without allocating");
    vkd_arena_free(&small);
    vkd_arena_free(&a);
    tu_check(t, a.nchunks == 0, "free releases the chunks");
}

// Sets larger than one allocation are split into chunks: no parameter straddles two, every
// address is readable and writable, save/load round-trips, and trainable sets refuse to split.
static void chunked(tu_ctx* t) {
    tu_case(t, "parameter sets split over several buffers");
    vkd_params p = {0};
    vkd_error e = {0};
    for (int i = 0; i < 10; i++) vkd_params_addf(&p, 2, (int64_t[]){10, 100 + 7 * i}, "layer.%d.weight", i);
    p.max_buffer_bytes = 8192;  // 2048 floats: about two parameters per buffer
    if (!tu_check(t, vkd_params_alloc(t->gpu, &p, false, &e) == VKD_OK, "alloc: %s", e.msg)) return;
    tu_check(t, p.nchunks >= 4, "%u chunks of %llu floats", p.nchunks, (unsigned long long)p.chunk_floats);
    for (uint32_t i = 0; i < p.count; i++) {
        uint64_t off = p.items[i].offset % p.chunk_floats;
        tu_check(t, off + p.items[i].count <= p.chunk_floats, "%s inside one chunk", p.items[i].name);
        float x[2000], y[2000];
        for (uint64_t k = 0; k < p.items[i].count; k++) x[k] = (float)(i * 10000 + k);
        vkd_params_upload(&p, i, x, p.items[i].count, &e);
        vkd_params_download(&p, i, false, y, p.items[i].count, &e);
        tu_check(t, !memcmp(x, y, p.items[i].count * 4), "%s round trip", p.items[i].name);
        // The device address is where the data is: copy through it on the GPU.
        tu_buf z = tu_zeros(t, p.items[i].count);
        vkd_stream_copy(t->s, z.addr, vkd_params_addr(&p, i), (uint32_t)p.items[i].count);
        double* d = tu_run(t) ? tu_download_d(t, z) : NULL;
        tu_check(t, d && d[3] == x[3] && d[p.items[i].count - 1] == x[p.items[i].count - 1], "%s address", p.items[i].name);
        free(d);
        tu_free(t, &z);
    }
    char path[] = "/tmp/vkd_chunked_XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    tu_check(t, vkd_params_save(&p, path, false, NULL, &e) == VKD_OK, "save: %s", e.msg);
    vkd_params q = {0};
    for (uint32_t i = 0; i < p.count; i++) vkd_params_add(&q, p.items[i].name, 2, p.items[i].shape);
    vkd_safetensors* f = NULL;
    bool ok = vkd_params_alloc(t->gpu, &q, false, &e) == VKD_OK && vkd_safetensors_open(path, &f, &e) == VKD_OK &&
              vkd_params_load(&q, f, NULL, &e) == VKD_OK;
    tu_check(t, ok, "reload into one buffer: %s", e.msg);
    float y[2000];
    if (ok) vkd_params_download(&q, 9, false, y, q.items[9].count, &e);
    tu_check(t, ok && y[5] == (float)(9 * 10000 + 5), "reloaded values");
    if (f) vkd_safetensors_close(f);
    unlink(path);
    vkd_params_free(&q);
    vkd_params_free(&p);
    vkd_params g = {0};
    vkd_params_addf(&g, 1, (int64_t[]){4096}, "big");
    g.max_buffer_bytes = 8192;
    tu_check(t, vkd_params_alloc(t->gpu, &g, true, &e) == VKD_ERR_UNSUPPORTED && strstr(e.msg, "trainable"), "%s", e.msg);
    vkd_params_free(&g);
}

// fp16 sets: matrices and kernels stored as half (half the bytes), vectors and keep_f32
// tables as fp32; the sd-tiny VAE file loaded into one gives the file's values rounded to
// half; a device copy of the halves reads them back; chunked fp16 sets; save widens;
// an fp16 set with gradients is refused.
static void half_sets(tu_ctx* t) {
    tu_case(t, "fp16 parameter sets");
    vkd_error e = {0};
    char path[1024];
    tu_fixture_path(path, sizeof path, "vae/diffusion_pytorch_model.safetensors");
    vkd_safetensors* f = NULL;
    if (!tu_check(t, vkd_safetensors_open(path, &f, &e) == VKD_OK, "open %s: %s", path, e.msg)) return;
    vkd_params p32 = {0}, p16 = {.f16 = true};
    size_t n = vkd_safetensors_count(f);
    for (size_t k = 0; k < n; k++) {
        const vkd_tensor_info* ti = vkd_safetensors_at(f, k);
        vkd_params_add(&p32, ti->name, ti->ndim, ti->shape);
        vkd_params_add(&p16, ti->name, ti->ndim, ti->shape);
    }
    vkd_params_keep_f32(&p16, 0);
    bool ok = vkd_params_alloc(t->gpu, &p32, false, &e) == VKD_OK && vkd_params_alloc(t->gpu, &p16, false, &e) == VKD_OK &&
              vkd_params_load(&p16, f, NULL, &e) == VKD_OK;
    if (!tu_check(t, ok, "alloc and load: %s", e.msg)) {
        vkd_safetensors_close(f);
        return;
    }
    uint64_t mat32 = 0, vec32 = 0;
    size_t wrong_kind = 0, bad = 0, total = 0;
    for (uint32_t i = 0; i < p16.count; i++) {
        const vkd_param* q = &p16.items[i];
        bool want = q->ndim >= 2 && i != 0;
        wrong_kind += vkd_params_is_f16(&p16, i) != want;
        *(want ? &mat32 : &vec32) += q->count;
        float* got = malloc(q->count * sizeof *got);
        float* ref = malloc(q->count * sizeof *ref);
        vkd_params_download(&p16, i, false, got, q->count, &e);
        vkd_safetensors_read_f32(f, q->name, ref, q->count, &e);
        for (uint64_t k = 0; k < q->count; k++) {
            float r = want ? vkd_f16_to_f32(vkd_f32_to_f16(ref[k])) : ref[k];
            bad += memcmp(&got[k], &r, 4) != 0;
        }
        total += q->count;
        free(got);
        free(ref);
    }
    tu_check(t, wrong_kind == 0, "matrices and kernels are fp16, vectors and the keep_f32 tensor fp32 (%zu wrong)",
             wrong_kind);
    tu_check(t, bad == 0, "all %zu values equal the file's rounded to half where stored as half (%zu differ)", total,
             bad);
    double expect = (double)(2 * mat32 + 4 * vec32), got16 = (double)vkd_params_bytes(&p16);
    tu_check(t, got16 <= expect * 1.05 + 256.0 * p16.count && vkd_params_bytes(&p16) < vkd_params_bytes(&p32) * 0.56,
             "%.0f bytes in fp16 against %.0f in fp32 (the data alone: %.0f)", got16,
             (double)vkd_params_bytes(&p32), expect);
    // The device holds halves: copy the raw pairs of one matrix out on the GPU.
    uint32_t mi = 1;
    while (mi < p16.count && !vkd_params_is_f16(&p16, mi)) mi++;
    if (mi < p16.count) {
        const vkd_param* q = &p16.items[mi];
        tu_buf z = tu_zeros(t, (q->count + 1) / 2);
        vkd_stream_copy(t->s, z.addr, vkd_params_addr(&p16, mi), (uint32_t)((q->count + 1) / 2));
        float* host = malloc(q->count * sizeof *host);
        vkd_params_download(&p16, mi, false, host, q->count, &e);
        uint32_t w0 = 0;
        if (tu_run(t)) vkd_buffer_download(t->gpu, &z.b, 0, &w0, 4, &e);
        tu_check(t, vkd_f16_to_f32((uint16_t)(w0 & 0xFFFF)) == host[0] && vkd_f16_to_f32((uint16_t)(w0 >> 16)) == host[1],
                 "%s: device word 0 holds halves %g and %g", q->name, host[0], host[1]);
        free(host);
        tu_free(t, &z);
    }
    char out[] = "/tmp/vkd_half_XXXXXX";
    int fd = mkstemp(out);
    if (fd >= 0) close(fd);
    vkd_safetensors* g = NULL;
    ok = vkd_params_save(&p16, out, false, NULL, &e) == VKD_OK && vkd_safetensors_open(out, &g, &e) == VKD_OK &&
         vkd_params_load(&p32, g, NULL, &e) == VKD_OK;
    tu_check(t, ok, "save (widened to F32) and reload into an fp32 set: %s", e.msg);
    if (ok && mi < p16.count) {
        uint64_t c = p16.items[mi].count;
        float* a = malloc(c * sizeof *a);
        float* b = malloc(c * sizeof *b);
        vkd_params_download(&p16, mi, false, a, c, &e);
        vkd_params_download(&p32, mi, false, b, c, &e);
        tu_check(t, !memcmp(a, b, c * sizeof *a), "%s survives the round trip", p16.items[mi].name);
        free(a);
        free(b);
    }
    if (g) vkd_safetensors_close(g);
    unlink(out);
    vkd_safetensors_close(f);
    vkd_params_free(&p32);
    vkd_params_free(&p16);
    // Chunked: halves pack twice as many elements into each buffer.
    vkd_params c = {.f16 = true, .max_buffer_bytes = 8192};
    for (int i = 0; i < 10; i++) vkd_params_addf(&c, 2, (int64_t[]){10, 201 + 14 * i}, "layer.%d.weight", i);
    ok = vkd_params_alloc(t->gpu, &c, false, &e) == VKD_OK;
    tu_check(t, ok && c.nchunks >= 4, "chunked fp16 set: %u chunks (%s)", c.nchunks, ok ? "ok" : e.msg);
    size_t rt_bad = 0;
    for (uint32_t i = 0; ok && i < c.count; i++) {
        float x[4000], y[4000];
        for (uint64_t k = 0; k < c.items[i].count; k++) x[k] = (float)(i * 64 + k % 1024);  // integers below 2048: exact in half
        vkd_params_upload(&c, i, x, c.items[i].count, &e);
        vkd_params_download(&c, i, false, y, c.items[i].count, &e);
        rt_bad += memcmp(x, y, c.items[i].count * 4) != 0;
    }
    tu_check(t, ok && rt_bad == 0, "chunked fp16 round trips (%zu tensors differ)", rt_bad);
    vkd_params_free(&c);
    vkd_params tr = {.f16 = true};
    vkd_params_addf(&tr, 2, (int64_t[]){4, 4}, "w");
    tu_check(t, vkd_params_alloc(t->gpu, &tr, true, &e) == VKD_ERR_INVALID && strstr(e.msg, "fp16"),
             "fp16 with gradients is refused: %s", e.msg);
    vkd_params_free(&tr);
}

void test_params(tu_ctx* t) {
    half_sets(t);
    chunked(t);
    declare(t);
    vae_fixture(t);
    synth s = {0};
    float w[48], b[12], conv1x1[12], lin[12];
    if (make_synth(t, &s, w, b, conv1x1, lin)) {
        dtypes(t, &s);
        layouts(t, &s, w, b, conv1x1, lin);
        save_roundtrip(t, &s);
    }
    free_synth(&s);
    init_random(t);
    arena(t);
}
