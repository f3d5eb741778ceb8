// The hash-grid NeRF field (threestudio's implicit-volume): encoding -> MLP(s) -> density / albedo
// heads, with parameters and gradients in flat device buffers and a caller workspace.
#include "vkdream/hashgrid.h"
#include "field/hashgrid.h"
#include "vkd_shaders.h"

#include <stdlib.h>
#include <string.h>

struct vkd_nerf_field {
    vkd_gpu* gpu;
    vkd_nerf_field_desc desc;  // resolved
    vkd_nerf_field_layout layout;
    vkd_buffer params, grads;
};

bool vkd_nerf_field_resolve(const vkd_nerf_field_desc* desc, vkd_nerf_field_desc* out, vkd_error* err) {
    vkd_nerf_field_desc d = *desc;
    if (d.bound == 0) d.bound = 1;
    if (!d.hidden) d.hidden = 64;
    if (!d.hidden_layers) d.hidden_layers = 1;
    if (d.blob_density == 0) d.blob_density = 10;
    if (d.blob_radius == 0) d.blob_radius = 0.5f;
    d.grid.input_scale = 0.5f / d.bound;  // [-bound, bound] -> [0, 1]
    d.grid.input_offset = 0.5f;
    *out = d;
    if (!(d.bound > 0) || !(d.blob_radius > 0)) {
        vkd_error_set(err, VKD_ERR_INVALID, "nerf_field: bound = %g and blob_radius = %g must be positive", d.bound,
                      d.blob_radius);
        return false;
    }
    if ((unsigned)d.mlp_layout > VKD_NERF_MLP_SHARED || (unsigned)d.density_activation > VKD_NERF_DENSITY_TRUNC_EXP ||
        (unsigned)d.density_bias > VKD_NERF_BIAS_NONE) {
        vkd_error_set(err, VKD_ERR_INVALID,
                      "nerf_field: unknown mlp_layout %d, density_activation %d or density_bias %d", (int)d.mlp_layout,
                      (int)d.density_activation, (int)d.density_bias);
        return false;
    }
    if (!vkd_hashgrid_resolve(&d.grid, &out->grid, err)) return false;
    vkd_nerf_field_layout l;
    vkd_nerf_field_get_layout(out, &l);
    vkd_mlp_desc m;
    if (!vkd_mlp_resolve(&l.density_mlp, &m, err)) return false;
    return true;
}

void vkd_nerf_field_get_layout(const vkd_nerf_field_desc* desc, vkd_nerf_field_layout* out) {
    vkd_nerf_field_desc d = *desc;
    if (!d.hidden) d.hidden = 64;
    if (!d.hidden_layers) d.hidden_layers = 1;
    vkd_hashgrid_desc g;
    vkd_hashgrid_resolve(&d.grid, &g, NULL);
    memset(out, 0, sizeof *out);
    uint32_t width = g.levels * g.features;
    bool shared = d.mlp_layout == VKD_NERF_MLP_SHARED;
    out->density_mlp = (vkd_mlp_desc){
        .in = width, .out = shared ? 4 : 1, .hidden = d.hidden, .hidden_layers = d.hidden_layers, .bias = d.mlp_bias};
    out->feature_mlp =
        (vkd_mlp_desc){.in = width, .out = 3, .hidden = d.hidden, .hidden_layers = d.hidden_layers, .bias = d.mlp_bias};
    out->grid_offset = 0;
    out->grid_count = vkd_hashgrid_param_count(&g);
    // Keep every part 256-byte aligned in the flat buffer.
    out->density_mlp_offset = (out->grid_count + 63) / 64 * 64;
    out->density_mlp_count = vkd_mlp_param_count(&out->density_mlp);
    out->feature_mlp_offset = (out->density_mlp_offset + out->density_mlp_count + 63) / 64 * 64;
    out->feature_mlp_count = shared ? 0 : vkd_mlp_param_count(&out->feature_mlp);
    out->total = out->feature_mlp_offset + out->feature_mlp_count;
}

void vkd_nerf_field_init_params(float* params, const vkd_nerf_field_desc* desc) {
    vkd_nerf_field_layout l;
    vkd_nerf_field_get_layout(desc, &l);
    memset(params, 0, l.total * sizeof *params);
    vkd_hashgrid_desc g;
    vkd_hashgrid_resolve(&desc->grid, &g, NULL);
    vkd_hashgrid_init_params(params + l.grid_offset, &g, desc->seed);
    vkd_mlp_init_params(params + l.density_mlp_offset, &l.density_mlp, desc->seed ^ 0x6a09e667f3bcc908ull);
    if (l.feature_mlp_count)
        vkd_mlp_init_params(params + l.feature_mlp_offset, &l.feature_mlp, desc->seed ^ 0xbb67ae8584caa73bull);
}

vkd_status vkd_nerf_field_create(vkd_gpu* gpu, const vkd_nerf_field_desc* desc, vkd_nerf_field** out, vkd_error* err) {
    vkd_nerf_field_desc d;
    if (!vkd_nerf_field_resolve(desc ? desc : &(vkd_nerf_field_desc){0}, &d, err))
        return err ? err->status : VKD_ERR_INVALID;
    vkd_nerf_field* f = calloc(1, sizeof *f);
    if (!f) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "nerf_field: out of host memory");
    f->gpu = gpu;
    f->desc = d;
    vkd_nerf_field_get_layout(&d, &f->layout);
    size_t bytes = f->layout.total * sizeof(float);
    vkd_status st = vkd_buffer_alloc(gpu, bytes, &f->params, err);
    if (!st) st = vkd_buffer_alloc(gpu, bytes, &f->grads, err);
    float* host = st ? NULL : malloc(bytes);
    if (!st && !host)
        st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "nerf_field: out of host memory (%zu bytes)", bytes);
    if (!st) {
        vkd_nerf_field_init_params(host, &d);
        st = vkd_buffer_upload(gpu, &f->params, 0, host, bytes, err);
        memset(host, 0, bytes);
        if (!st) st = vkd_buffer_upload(gpu, &f->grads, 0, host, bytes, err);
    }
    free(host);
    if (st) {
        vkd_error_prefix(err, "nerf_field: ");
        vkd_nerf_field_destroy(f);
        return st;
    }
    *out = f;
    return VKD_OK;
}

void vkd_nerf_field_destroy(vkd_nerf_field* f) {
    if (!f) return;
    if (f->params.addr) vkd_buffer_free(f->gpu, &f->params);
    if (f->grads.addr) vkd_buffer_free(f->gpu, &f->grads);
    free(f);
}

const vkd_nerf_field_desc* vkd_nerf_field_desc_of(const vkd_nerf_field* f) { return &f->desc; }
const vkd_nerf_field_layout* vkd_nerf_field_layout_of(const vkd_nerf_field* f) { return &f->layout; }
vkd_addr vkd_nerf_field_params(const vkd_nerf_field* f) { return f->params.addr; }
vkd_addr vkd_nerf_field_grads(const vkd_nerf_field* f) { return f->grads.addr; }

void vkd_nerf_field_set_active_levels(vkd_nerf_field* f, uint32_t levels) {
    if (levels < 1) levels = 1;
    if (levels > f->desc.grid.levels) levels = f->desc.grid.levels;
    f->desc.grid.active_levels = levels;
}

uint32_t vkd_nerf_field_active_levels(const vkd_nerf_field* f) { return f->desc.grid.active_levels; }

vkd_status vkd_nerf_field_upload_params(vkd_nerf_field* f, const float* params, vkd_error* err) {
    return vkd_buffer_upload(f->gpu, &f->params, 0, params, f->layout.total * sizeof(float), err);
}

vkd_status vkd_nerf_field_download_params(vkd_nerf_field* f, float* params, vkd_error* err) {
    return vkd_buffer_download(f->gpu, &f->params, 0, params, f->layout.total * sizeof(float), err);
}

vkd_status vkd_nerf_field_download_grads(vkd_nerf_field* f, float* grads, vkd_error* err) {
    return vkd_buffer_download(f->gpu, &f->grads, 0, grads, f->layout.total * sizeof(float), err);
}

void vkd_nerf_field_zero_grad(vkd_nerf_field* f, vkd_stream* s) {
    vkd_stream_fill(s, f->grads.addr, (uint32_t)f->layout.total, 0);
}

// ---------------------------------------------------------------------------
// Workspace: regions (in floats, each 256-byte aligned) for n points.

typedef struct ws_layout {
    uint64_t enc;             // (n, W) encoding
    uint64_t saved_d, out_d;  // density (geometry) MLP: hidden activations, outputs (n, od)
    uint64_t saved_f, out_f;  // feature MLP (separate layout)
    uint64_t dout_d, dout_f;  // MLP output gradients
    uint64_t d_enc;           // (n, W)
    uint64_t scratch;         // MLP backward scratch
    uint64_t points;          // (n, 3) grid positions
    uint64_t ones;            // (n,) d density = 1 for density gradients
    uint64_t total;
} ws_layout;

static uint64_t take(uint64_t* at, uint64_t floats) {
    uint64_t o = *at;
    *at += (floats + 63) / 64 * 64;
    return o;
}

static ws_layout workspace_layout(const vkd_nerf_field* f, uint32_t n) {
    const vkd_nerf_field_layout* l = &f->layout;
    uint32_t W = f->desc.grid.levels * f->desc.grid.features;
    bool sep = f->desc.mlp_layout == VKD_NERF_MLP_SEPARATE;
    ws_layout w;
    uint64_t at = 0;
    w.enc = take(&at, (uint64_t)n * W);
    w.saved_d = take(&at, vkd_mlp_saved_floats(&l->density_mlp, n));
    w.out_d = take(&at, (uint64_t)n * l->density_mlp.out);
    w.saved_f = take(&at, sep ? vkd_mlp_saved_floats(&l->feature_mlp, n) : 0);
    w.out_f = take(&at, sep ? (uint64_t)n * 3 : 0);
    w.dout_d = take(&at, (uint64_t)n * l->density_mlp.out);
    w.dout_f = take(&at, sep ? (uint64_t)n * 3 : 0);
    w.d_enc = take(&at, (uint64_t)n * W);
    uint64_t sd = vkd_mlp_backward_scratch_bytes(&l->density_mlp, n);
    uint64_t sf = sep ? vkd_mlp_backward_scratch_bytes(&l->feature_mlp, n) : 0;
    w.scratch = take(&at, (sd > sf ? sd : sf) / 4);
    w.points = take(&at, (uint64_t)n * 3);
    w.ones = take(&at, n);
    w.total = at;
    return w;
}

uint64_t vkd_nerf_field_workspace_bytes(const vkd_nerf_field* f, uint32_t n) {
    return workspace_layout(f, n).total * sizeof(float);
}

#define WS(ws, region) ((ws) + 4 * (region))

static void head_common(const vkd_nerf_field* f, uint32_t* act, uint32_t* bias) {
    static const uint32_t acts[] = {HASHGRID_DENSITY_SOFTPLUS, HASHGRID_DENSITY_EXP, HASHGRID_DENSITY_TRUNC_EXP};
    static const uint32_t biases[] = {HASHGRID_BIAS_MAGIC3D, HASHGRID_BIAS_DREAMFUSION, HASHGRID_BIAS_CONSTANT, 3};
    *act = acts[f->desc.density_activation];
    *bias = biases[f->desc.density_bias];
}

// Records the forward; saves the MLP activations when `save`.
// `w` is the layout of a workspace for at least n points.
static void forward(vkd_nerf_field* f, vkd_stream* s, vkd_addr density, vkd_addr rgb, vkd_addr positions, uint32_t n,
                    vkd_addr ws, const ws_layout* wl, bool save) {
    const vkd_nerf_field_layout* l = &f->layout;
    ws_layout w = *wl;
    vkd_addr P = f->params.addr;
    bool sep = f->desc.mlp_layout == VKD_NERF_MLP_SEPARATE;
    vkd_hashgrid_forward(s, WS(ws, w.enc), positions, P + 4 * l->grid_offset, n, &f->desc.grid);
    vkd_mlp_forward(s, WS(ws, w.out_d), save ? WS(ws, w.saved_d) : 0, WS(ws, w.enc), P + 4 * l->density_mlp_offset, n,
                    &l->density_mlp);
    if (sep && rgb)
        vkd_mlp_forward(s, WS(ws, w.out_f), save ? WS(ws, w.saved_f) : 0, WS(ws, w.enc), P + 4 * l->feature_mlp_offset,
                        n, &l->feature_mlp);
    vkd_hashgrid_head_fwd_push p = {.positions = positions,
                                    .raw = WS(ws, w.out_d),
                                    .feat = sep ? WS(ws, w.out_f) : WS(ws, w.out_d),
                                    .density = density,
                                    .rgb = rgb,
                                    .n = n,
                                    .raw_stride = l->density_mlp.out,
                                    .feat_stride = sep ? 3 : 4,
                                    .feat_offset = sep ? 0 : 1,
                                    .blob_density = f->desc.blob_density,
                                    .blob_radius = f->desc.blob_radius};
    head_common(f, &p.activation, &p.bias_kind);
    vkd_stream_dispatch_1d(s, VKD_KERNEL(field_hashgrid_head_fwd), &p, sizeof p, n, HASHGRID_WG);
}

static bool check_args(vkd_stream* s, const char* op, vkd_addr positions, uint32_t n, vkd_addr ws) {
    if (!positions || !ws) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: positions and workspace must be set (n = %u)", op, n);
        return false;
    }
    return true;
}

void vkd_nerf_field_forward(vkd_nerf_field* f, vkd_stream* s, vkd_addr density, vkd_addr rgb, vkd_addr positions,
                            uint32_t n, vkd_addr workspace) {
    if (!n || !check_args(s, "nerf_field_forward", positions, n, workspace)) return;
    if (!density) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "nerf_field_forward: density must be set");
        return;
    }
    ws_layout w = workspace_layout(f, n);
    forward(f, s, density, rgb, positions, n, workspace, &w, true);
}

// Backward into `grads` (0: no parameter gradients) and d_positions.
static void backward(vkd_nerf_field* f, vkd_stream* s, vkd_addr grads, vkd_addr d_positions, vkd_addr d_density,
                     vkd_addr d_rgb, vkd_addr positions, uint32_t n, vkd_addr ws, const ws_layout* wl) {
    const vkd_nerf_field_layout* l = &f->layout;
    ws_layout w = *wl;
    vkd_addr P = f->params.addr;
    bool sep = f->desc.mlp_layout == VKD_NERF_MLP_SEPARATE;
    bool color = sep && d_rgb;
    vkd_hashgrid_head_bwd_push p = {.positions = positions,
                                    .raw = WS(ws, w.out_d),
                                    .feat = sep ? WS(ws, w.out_f) : WS(ws, w.out_d),
                                    .d_density = d_density,
                                    .d_rgb = d_rgb,
                                    .d_raw = WS(ws, w.dout_d),
                                    .d_feat = sep ? (color ? WS(ws, w.dout_f) : 0) : WS(ws, w.dout_d),
                                    .d_positions = d_positions,
                                    .n = n,
                                    .raw_stride = l->density_mlp.out,
                                    .feat_stride = sep ? 3 : 4,
                                    .feat_offset = sep ? 0 : 1,
                                    .blob_density = f->desc.blob_density,
                                    .blob_radius = f->desc.blob_radius};
    head_common(f, &p.activation, &p.bias_kind);
    vkd_stream_dispatch_1d(s, VKD_KERNEL(field_hashgrid_head_bwd), &p, sizeof p, n, HASHGRID_WG);
    uint32_t W = f->desc.grid.levels * f->desc.grid.features;
    vkd_addr d_enc = WS(ws, w.d_enc);
    vkd_stream_fill(s, d_enc, n * W, 0);
    vkd_mlp_backward(s, d_enc, grads ? grads + 4 * l->density_mlp_offset : 0, WS(ws, w.dout_d), WS(ws, w.out_d),
                     WS(ws, w.saved_d), WS(ws, w.enc), P + 4 * l->density_mlp_offset, n, &l->density_mlp,
                     WS(ws, w.scratch));
    if (color)
        vkd_mlp_backward(s, d_enc, grads ? grads + 4 * l->feature_mlp_offset : 0, WS(ws, w.dout_f), WS(ws, w.out_f),
                         WS(ws, w.saved_f), WS(ws, w.enc), P + 4 * l->feature_mlp_offset, n, &l->feature_mlp,
                         WS(ws, w.scratch));
    vkd_hashgrid_backward(s, d_positions, grads ? grads + 4 * l->grid_offset : 0, d_enc, positions,
                          P + 4 * l->grid_offset, n, &f->desc.grid);
}

void vkd_nerf_field_backward(vkd_nerf_field* f, vkd_stream* s, vkd_addr d_positions, vkd_addr d_density, vkd_addr d_rgb,
                             vkd_addr positions, uint32_t n, vkd_addr workspace) {
    if (!n || !check_args(s, "nerf_field_backward", positions, n, workspace)) return;
    if (!d_density && !d_rgb) return;
    ws_layout w = workspace_layout(f, n);
    backward(f, s, f->grads.addr, d_positions, d_density, d_rgb, positions, n, workspace, &w);
}

void vkd_nerf_field_density_grad(vkd_nerf_field* f, vkd_stream* s, vkd_addr grad, vkd_addr density, vkd_addr positions,
                                 uint32_t n, vkd_addr workspace) {
    if (!n || !check_args(s, "nerf_field_density_grad", positions, n, workspace)) return;
    if (!grad) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "nerf_field_density_grad: grad must be set");
        return;
    }
    ws_layout w = workspace_layout(f, n);
    vkd_addr ones = WS(workspace, w.ones);
    // The density itself is only a by-product: without a destination it lands in the point region.
    forward(f, s, density ? density : WS(workspace, w.points), 0, positions, n, workspace, &w, true);
    vkd_stream_fill(s, ones, n, 0x3f800000u);  // 1.0f
    vkd_stream_fill(s, grad, 3 * n, 0);
    backward(f, s, 0, grad, ones, 0, positions, n, workspace, &w);
}

void vkd_nerf_field_density_grid(vkd_nerf_field* f, vkd_stream* s, vkd_addr out, uint32_t res, float bound,
                                 vkd_addr workspace, uint32_t chunk) {
    if (res < 2 || res > 1625 || !out || !workspace || !chunk) {
        vkd_stream_fail(s, VKD_ERR_INVALID,
                        "nerf_field_density_grid: res = %u (expected 2..1625), chunk = %u (> 0), out and workspace set",
                        res, chunk);
        return;
    }
    if (bound == 0) bound = f->desc.bound;
    uint32_t total = res * res * res;
    ws_layout w = workspace_layout(f, chunk);
    for (uint32_t start = 0; start < total; start += chunk) {
        uint32_t count = total - start < chunk ? total - start : chunk;
        vkd_hashgrid_grid_push g = {
            .positions = WS(workspace, w.points), .start = start, .count = count, .res = res, .bound = bound};
        vkd_stream_dispatch_1d(s, VKD_KERNEL(field_hashgrid_grid), &g, sizeof g, count, HASHGRID_WG);
        forward(f, s, out + 4ull * start, 0, WS(workspace, w.points), count, workspace, &w, false);
    }
}

// ---------------------------------------------------------------------------
// Finite-difference density gradient: six density evaluations per point in a workspace for 6 n.

static void fd_dispatch(vkd_stream* s, vkd_addr src, vkd_addr dst, uint32_t n, uint32_t mode, float eps, float bound) {
    vkd_hashgrid_fd_push p = {.src = src, .dst = dst, .n = n, .mode = mode, .eps = eps, .bound = bound};
    vkd_stream_dispatch_1d(s, VKD_KERNEL(field_hashgrid_fd), &p, sizeof p, n, HASHGRID_WG);
}

static bool fd_args(vkd_stream* s, const char* op, vkd_addr a, vkd_addr positions, uint32_t n, float eps, vkd_addr ws) {
    if (!a || !positions || !ws || !(eps > 0) || n > UINT32_MAX / 6) {
        vkd_stream_fail(s, VKD_ERR_INVALID,
                        "%s: gradient, positions and workspace must be set, eps > 0 (%g), n <= 2^32 / 6", op, eps);
        return false;
    }
    return true;
}

void vkd_nerf_field_fd_grad_forward(vkd_nerf_field* f, vkd_stream* s, vkd_addr grad, vkd_addr positions, uint32_t n,
                                    float eps, vkd_addr workspace) {
    if (!n || !fd_args(s, "nerf_field_fd_grad_forward", grad, positions, n, eps, workspace)) return;
    ws_layout w = workspace_layout(f, 6 * n);
    vkd_addr pts = WS(workspace, w.points), dens = WS(workspace, w.ones);
    fd_dispatch(s, positions, pts, n, HASHGRID_FD_POINTS, eps, f->desc.bound);
    forward(f, s, dens, 0, pts, 6 * n, workspace, &w, true);
    fd_dispatch(s, dens, grad, n, HASHGRID_FD_COMBINE, eps, f->desc.bound);
}

void vkd_nerf_field_fd_grad_backward(vkd_nerf_field* f, vkd_stream* s, vkd_addr d_grad, uint32_t n, float eps,
                                     vkd_addr workspace) {
    if (!n || !fd_args(s, "nerf_field_fd_grad_backward", d_grad, d_grad, n, eps, workspace)) return;
    ws_layout w = workspace_layout(f, 6 * n);
    vkd_addr pts = WS(workspace, w.points), dd = WS(workspace, w.ones);
    fd_dispatch(s, d_grad, dd, n, HASHGRID_FD_SPLIT, eps, f->desc.bound);
    backward(f, s, f->grads.addr, 0, dd, 0, pts, 6 * n, workspace, &w);
}
