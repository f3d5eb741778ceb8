// Fused MLP forward / backward on the GPU (shaders/field/mlp_*.comp).
#include "vkdream/mlp.h"
#include "field/mlp.h"
#include "vkd_shaders.h"

#include <math.h>

static uint32_t ceil_div(uint64_t a, uint64_t b) { return (uint32_t)((a + b - 1) / b); }
static uint32_t max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }

bool vkd_mlp_resolve(const vkd_mlp_desc* desc, vkd_mlp_desc* out, vkd_error* err) {
    vkd_mlp_desc d = *desc;
    if (!d.hidden) d.hidden = 64;
    if (!d.hidden_layers) d.hidden_layers = 1;
    *out = d;
    if (d.in < 1 || d.in > VKD_MLP_MAX_WIDTH || d.out < 1 || d.out > VKD_MLP_MAX_WIDTH) {
        vkd_error_set(err, VKD_ERR_INVALID, "mlp: in = %u, out = %u, expected 1..%u", d.in, d.out, VKD_MLP_MAX_WIDTH);
        return false;
    }
    if (d.hidden % 4 || d.hidden > VKD_MLP_MAX_WIDTH) {
        vkd_error_set(err, VKD_ERR_INVALID, "mlp: hidden = %u, expected a multiple of 4 up to %u", d.hidden,
                      VKD_MLP_MAX_WIDTH);
        return false;
    }
    if (d.hidden_layers > VKD_MLP_MAX_HIDDEN_LAYERS) {
        vkd_error_set(err, VKD_ERR_INVALID, "mlp: hidden_layers = %u, expected 1..%u", d.hidden_layers,
                      VKD_MLP_MAX_HIDDEN_LAYERS);
        return false;
    }
    if ((unsigned)d.kernel > VKD_MLP_KERNEL_PER_ROW) {
        vkd_error_set(err, VKD_ERR_INVALID, "mlp: unknown kernel choice %d", (int)d.kernel);
        return false;
    }
    if ((unsigned)d.output_activation > VKD_MLP_ACT_SIGMOID) {
        vkd_error_set(err, VKD_ERR_INVALID, "mlp: unknown output activation %d", (int)d.output_activation);
        return false;
    }
    return true;
}

// Layer l maps in_l -> out_l.
static void layer_dims(const vkd_mlp_desc* d, uint32_t l, uint32_t* in, uint32_t* out) {
    *in = l == 0 ? d->in : d->hidden;
    *out = l == d->hidden_layers ? d->out : d->hidden;
}

void vkd_mlp_layer_offsets(const vkd_mlp_desc* desc, uint32_t layer, uint64_t* weight, uint64_t* bias) {
    vkd_mlp_desc d;
    vkd_mlp_resolve(desc, &d, NULL);
    uint64_t off = 0;
    for (uint32_t l = 0;; l++) {
        uint32_t in, out;
        layer_dims(&d, l, &in, &out);
        if (l == layer) {
            *weight = off;
            *bias = d.bias ? off + (uint64_t)in * out : ~(uint64_t)0;
            return;
        }
        off += (uint64_t)in * out + (d.bias ? out : 0);
    }
}

uint64_t vkd_mlp_param_count(const vkd_mlp_desc* desc) {
    vkd_mlp_desc d;
    vkd_mlp_resolve(desc, &d, NULL);
    uint64_t n = 0;
    for (uint32_t l = 0; l <= d.hidden_layers; l++) {
        uint32_t in, out;
        layer_dims(&d, l, &in, &out);
        n += (uint64_t)in * out + (d.bias ? out : 0);
    }
    return n;
}

uint64_t vkd_mlp_saved_floats(const vkd_mlp_desc* desc, uint32_t n) {
    vkd_mlp_desc d;
    vkd_mlp_resolve(desc, &d, NULL);
    return (uint64_t)d.hidden_layers * n * d.hidden;
}

// The weight gradients are split over row chunks: enough chunks to fill a GPU, few enough that
// the partial sums stay small next to the activations.
static void chunking(uint32_t n, uint32_t* chunks, uint32_t* rows_per_chunk) {
    uint32_t c = ceil_div(n ? n : 1, 512);
    if (c > 256) c = 256;
    uint32_t rows = ceil_div(n ? n : 1, c);
    rows = ceil_div(rows, MLP_WG_ROWS) * MLP_WG_ROWS;
    *rows_per_chunk = rows;
    *chunks = ceil_div(n ? n : 1, rows);
}

static uint64_t dz_floats(const vkd_mlp_desc* d, uint32_t n) {
    return ((uint64_t)d->hidden_layers * d->hidden + d->out) * n;
}

uint64_t vkd_mlp_backward_scratch_bytes(const vkd_mlp_desc* desc, uint32_t n) {
    vkd_mlp_desc d;
    vkd_mlp_resolve(desc, &d, NULL);
    uint32_t chunks, rows;
    chunking(n, &chunks, &rows);
    uint64_t dz = (dz_floats(&d, n) + 63) / 64 * 64;  // keep the partials 256-byte aligned
    return 4 * (dz + (uint64_t)chunks * vkd_mlp_param_count(&d));
}

static uint64_t splitmix(uint64_t* s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void vkd_mlp_init_params(float* params, const vkd_mlp_desc* desc, uint64_t seed) {
    vkd_mlp_desc d;
    vkd_mlp_resolve(desc, &d, NULL);
    uint64_t st = seed, off = 0;
    for (uint32_t l = 0; l <= d.hidden_layers; l++) {
        uint32_t in, out;
        layer_dims(&d, l, &in, &out);
        double bound = 1.0 / sqrt((double)in);
        uint64_t count = (uint64_t)in * out + (d.bias ? out : 0);
        for (uint64_t i = 0; i < count; i++) {
            double u = (double)(splitmix(&st) >> 11) * (1.0 / 9007199254740992.0);
            params[off + i] = (float)((2 * u - 1) * bound);
        }
        off += count;
    }
}

// Rows per workgroup of the fused kernels: as many as the shared memory holds next to the
// weights (x_sh is floats_per_row * (R + 1)), a multiple of the subgroup size (or 8), <= 128.
// 0 when fewer than 16 fit.
static uint32_t rows_per_group(const vkd_gpu_info* info, uint32_t ws_bytes, uint32_t floats_per_row) {
    if (ws_bytes >= info->max_shared_memory) return 0;
    uint64_t r = (info->max_shared_memory - ws_bytes) / (4ull * floats_per_row);
    if (r < 17) return 0;
    r -= 1;
    if (r > 128) r = 128;
    uint32_t sg = info->subgroup_size ? info->subgroup_size : 8;
    uint32_t q = r >= sg ? sg : 8;
    r = r / q * q;
    if (r > info->max_workgroup_invocations) r = info->max_workgroup_invocations / q * q;
    return r >= 16 ? (uint32_t)r : 0;
}

typedef struct fused_plan {
    uint32_t rows;  // R
    uint32_t ws4;   // vec4 slots of w_sh
    bool resident;  // every layer's weights in shared memory at once
    bool coop;
    uint32_t groups;
    uint32_t tiles;
} fused_plan;

// Keeps every layer resident when that leaves room for 16 rows or more, else one layer at a time.
static bool plan_fused(vkd_stream* s, const char* op, const vkd_mlp_desc* d, uint32_t n, uint32_t all4, uint32_t max4,
                       uint32_t floats_per_row, fused_plan* out) {
    const vkd_gpu_info* info = vkd_gpu_get_info(vkd_stream_gpu(s));
    bool cpu = info->kind == VKD_DEVICE_CPU;
    fused_plan f = {.coop = d->kernel == VKD_MLP_KERNEL_AUTO ? !cpu : d->kernel == VKD_MLP_KERNEL_COOPERATIVE};
    f.rows = rows_per_group(info, all4 * 16, floats_per_row);
    f.resident = f.rows != 0;
    f.ws4 = all4;
    if (!f.resident) {
        f.rows = rows_per_group(info, max4 * 16, floats_per_row);
        f.ws4 = max4;
    }
    if (!f.rows) {
        vkd_stream_fail(s, VKD_ERR_UNSUPPORTED,
                        "%s: a %u-wide layer does not fit the device's %u bytes of shared memory with 16 rows", op,
                        d->hidden, info->max_shared_memory);
        return false;
    }
    f.tiles = ceil_div(n, f.rows);
    // Resident weights are loaded once per workgroup, so fewer workgroups loop over more tiles:
    // a few per CPU thread, enough to fill a GPU.
    uint32_t cap = f.resident ? (cpu ? 32 : 1024) : 65535;
    f.groups = f.tiles < cap ? f.tiles : cap;
    *out = f;
    return true;
}

// Kernels index with 32-bit integers: the saved activations and gradients must stay below 2^32 floats.
static bool check(vkd_stream* s, const char* op, const vkd_mlp_desc* desc, vkd_mlp_desc* d, uint32_t n) {
    vkd_error e = {0};
    if (!desc || !vkd_mlp_resolve(desc, d, &e)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: %s", op, desc ? e.msg : "desc is NULL");
        return false;
    }
    uint32_t w = max_u32(max_u32(d->in, d->out), d->hidden);
    if (dz_floats(d, n) >= (1ull << 32) || (uint64_t)n * w >= (1ull << 32)) {
        vkd_stream_fail(s, VKD_ERR_INVALID,
                        "%s: n = %u rows of %u x %u activations exceed 2^32 floats; split the batch", op, n,
                        d->hidden_layers, d->hidden);
        return false;
    }
    return true;
}

void vkd_mlp_forward(vkd_stream* s, vkd_addr out, vkd_addr saved, vkd_addr inp, vkd_addr params, uint32_t n,
                     const vkd_mlp_desc* desc) {
    vkd_mlp_desc d;
    if (!check(s, "mlp_forward", desc, &d, n)) return;
    if (!n) return;
    if (!out || !inp || !params) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "mlp_forward: out, inp and params must be set");
        return;
    }
    uint32_t h4 = d.hidden / 4, o4 = ceil_div(d.out, 4);
    uint32_t l0 = d.in * h4 + h4, lh = d.hidden * h4 + h4, lo = d.hidden * o4 + o4;
    uint32_t all4 = l0 + (d.hidden_layers - 1) * lh + lo;
    uint32_t max4 = max_u32(max_u32(l0, d.hidden_layers > 1 ? lh : 0), lo);
    uint32_t rowf = max_u32(d.in, d.hidden);
    fused_plan f;
    if (!plan_fused(s, "mlp_forward", &d, n, all4, max4, rowf, &f)) return;
    vkd_mlp_fwd_push p = {.params = params,
                          .inp = inp,
                          .dst = out,
                          .saved = saved,
                          .n = n,
                          .n_in = d.in,
                          .n_out = d.out,
                          .hidden_layers = d.hidden_layers,
                          .bias = d.bias,
                          .act = (uint32_t)d.output_activation,
                          .tiles = f.tiles};
    vkd_stream_dispatch(
        s, VKD_KERNEL_SPEC(field_mlp_fwd, f.rows, d.hidden, o4, rowf * (f.rows + 1), f.ws4, f.resident, f.coop), &p,
        sizeof p, f.groups, 1, 1);
}

void vkd_mlp_backward(vkd_stream* s, vkd_addr d_inp, vkd_addr d_params, vkd_addr dout, vkd_addr out, vkd_addr saved,
                      vkd_addr inp, vkd_addr params, uint32_t n, const vkd_mlp_desc* desc, vkd_addr scratch) {
    vkd_mlp_desc d;
    if (!check(s, "mlp_backward", desc, &d, n)) return;
    if (!n || (!d_inp && !d_params)) return;
    if (!dout || !out || !saved || !params || (d_params && (!inp || !scratch))) {
        vkd_stream_fail(s, VKD_ERR_INVALID,
                        "mlp_backward: dout, out, saved and params (and inp and scratch for d_params) must be set");
        return;
    }
    uint32_t h4 = d.hidden / 4, in4 = ceil_div(d.in, 4);
    uint32_t l0 = d.hidden * in4, lh = d.hidden * h4, lo = d.out * h4;
    uint32_t all4 = l0 + (d.hidden_layers - 1) * lh + lo;
    uint32_t max4 = max_u32(max_u32(l0, d.hidden_layers > 1 ? lh : 0), lo);
    uint32_t rowf = max_u32(d.out, d.hidden);
    fused_plan f;
    if (!plan_fused(s, "mlp_backward", &d, n, all4, max4, rowf, &f)) return;
    vkd_mlp_bwd_push p = {.params = params,
                          .saved = saved,
                          .y = out,
                          .dout = dout,
                          .d_inp = d_inp,
                          .dz = d_params ? scratch : 0,
                          .n = n,
                          .n_in = d.in,
                          .n_out = d.out,
                          .hidden_layers = d.hidden_layers,
                          .bias = d.bias,
                          .act = (uint32_t)d.output_activation,
                          .tiles = f.tiles};
    vkd_stream_dispatch(
        s, VKD_KERNEL_SPEC(field_mlp_bwd, f.rows, d.hidden, in4, rowf * (f.rows + 1), f.ws4, f.resident, f.coop), &p,
        sizeof p, f.groups, 1, 1);
    if (!d_params) return;

    uint32_t chunks, rows;
    chunking(n, &chunks, &rows);
    uint64_t P = vkd_mlp_param_count(&d);
    vkd_addr partial = scratch + 4 * ((dz_floats(&d, n) + 63) / 64 * 64);
    for (uint32_t l = 0; l <= d.hidden_layers; l++) {
        uint32_t in, o;
        layer_dims(&d, l, &in, &o);
        uint64_t w_off, b_off;
        vkd_mlp_layer_offsets(&d, l, &w_off, &b_off);
        vkd_addr a = l == 0 ? inp : saved + 4ull * (l - 1) * n * d.hidden;
        vkd_addr dz = scratch + 4ull * l * n * d.hidden;  // the output layer's dz follows the hidden ones
        uint32_t m4 = ceil_div(o, 4), k4 = ceil_div(in, 4), mt = ceil_div((uint64_t)m4 * k4, MLP_WG_THREADS);
        vkd_mlp_wgrad_push w = {.dz = dz,
                                .a = a,
                                .partial = partial,
                                .n = n,
                                .m = o,
                                .k = in,
                                .rows_per_chunk = rows,
                                .stride = (uint32_t)P,
                                .w_off = (uint32_t)w_off,
                                .b_off = d.bias ? (uint32_t)b_off : 0,
                                .bias = d.bias};
        vkd_stream_dispatch(s, VKD_KERNEL_SPEC(field_mlp_wgrad, m4, k4, mt), &w, sizeof w, chunks, 1, 1);
    }
    vkd_mlp_reduce_push rp = {.partial = partial, .d_params = d_params, .count = (uint32_t)P, .chunks = chunks};
    vkd_stream_dispatch_1d(s, VKD_KERNEL(field_mlp_reduce), &rp, sizeof rp, P, MLP_REDUCE_WG);
}
