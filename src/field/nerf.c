// The assembled NeRF model: defaults, creation, buffers, the Adam step, progressive levels, the
// occupancy-grid update and the density-grid query. Rendering is in nerf_render.c, checkpoints
// in nerf_ckpt.c.
#include "field/nerf_internal.h"
#include "vkdream/nn/adam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CHUNK (1u << 18)

// Fills err and returns false, so a failed check reads `return bad(err, ...)`.
static bool bad(vkd_error* err, const char* fmt, double x) {
    vkd_error_set(err, VKD_ERR_INVALID, fmt, x);
    return false;
}

bool vkd_nerf_resolve(const vkd_nerf_desc* desc, vkd_nerf_desc* out, vkd_error* err) {
    vkd_nerf_desc d = desc ? *desc : (vkd_nerf_desc){0};
    if (!vkd_nerf_field_resolve(&d.field, &d.field, err)) return false;
    if (!d.num_steps) d.num_steps = 256;
    if (d.normal_eps == 0) d.normal_eps = 0.01f;
    if (!d.grid_resolution) d.grid_resolution = 128;
    if (!d.grid_update_every) d.grid_update_every = 16;
    if (!d.grid_warmup_steps) d.grid_warmup_steps = 256;
    if (d.grid_decay == 0) d.grid_decay = 0.95f;
    if (d.grid_threshold == 0) d.grid_threshold = 0.01f;
    if (!d.update_steps) d.update_steps = 500;
    if (!d.bg_hidden) d.bg_hidden = 16;
    if (!d.bg_hidden_layers) d.bg_hidden_layers = 2;
    if (!d.bg_seed) d.bg_seed = d.field.seed ^ 0x3c6ef372fe94f82bull;
    if (d.lr.grid == 0) d.lr.grid = 0.01f;
    if (d.lr.density_mlp == 0) d.lr.density_mlp = 0.001f;
    if (d.lr.feature_mlp == 0) d.lr.feature_mlp = 0.001f;
    if (d.lr.background == 0) d.lr.background = 0.001f;
    if (d.lr.beta1 == 0) d.lr.beta1 = 0.9f;
    if (d.lr.beta2 == 0) d.lr.beta2 = 0.99f;
    if (d.lr.eps == 0) d.lr.eps = 1e-15f;
    if (!d.chunk) d.chunk = DEFAULT_CHUNK;
    *out = d;
    if ((unsigned)d.normals > VKD_NERF_NORMALS_ANALYTIC)
        return bad(err, "nerf: normals = %g, expected finite difference (0) or analytic (1)", d.normals);
    if ((unsigned)d.background > VKD_NERF_BG_SOLID)
        return bad(err, "nerf: background = %g, expected MLP (0) or solid (1)", d.background);
    if (!(d.normal_eps > 0) || !isfinite(d.normal_eps))
        return bad(err, "nerf: normal_eps = %g, expected > 0", d.normal_eps);
    if (d.grid_resolution > 1024) return bad(err, "nerf: grid_resolution = %g, expected 1..1024", d.grid_resolution);
    if (!(d.grid_decay > 0 && d.grid_decay <= 1))
        return bad(err, "nerf: grid_decay = %g, expected a value in (0, 1]", d.grid_decay);
    if (!(d.grid_threshold > 0) || !isfinite(d.grid_threshold))
        return bad(err, "nerf: grid_threshold = %g, expected > 0", d.grid_threshold);
    if (d.start_level > d.field.grid.levels)
        return bad(err, "nerf: start_level = %g exceeds the grid's levels", d.start_level);
    if (d.bg_hidden % 4 || d.bg_hidden > VKD_MLP_MAX_WIDTH)
        return bad(err, "nerf: bg_hidden = %g, expected a multiple of 4 up to 128", d.bg_hidden);
    if (d.bg_hidden_layers > VKD_MLP_MAX_HIDDEN_LAYERS)
        return bad(err, "nerf: bg_hidden_layers = %g, expected 1..8", d.bg_hidden_layers);
    if (d.chunk < 6 || d.chunk > (1u << 26)) return bad(err, "nerf: chunk = %g points, expected 6..2^26", d.chunk);
    float lrs[] = {d.lr.grid, d.lr.density_mlp, d.lr.feature_mlp, d.lr.background};
    for (int i = 0; i < 4; i++)
        if (!isfinite(lrs[i]))
            return bad(err, "nerf: learning rate %g (grid, density, feature, background) is not finite", i);
    if (!(d.lr.beta1 > 0 && d.lr.beta1 < 1))
        return bad(err, "nerf: Adam beta1 = %g, expected 0 < beta1 < 1", d.lr.beta1);
    if (!(d.lr.beta2 > 0 && d.lr.beta2 < 1))
        return bad(err, "nerf: Adam beta2 = %g, expected 0 < beta2 < 1", d.lr.beta2);
    if (!(d.lr.eps > 0)) return bad(err, "nerf: Adam eps = %g, expected > 0", d.lr.eps);
    for (int c = 0; c < 3; c++)
        if (!isfinite(d.bg_color[c])) return bad(err, "nerf: bg_color[%g] is not finite", c);
    return true;
}

uint32_t vkd_nerf_active_levels_at(const vkd_nerf_desc* d, uint32_t step) {
    uint32_t levels = d->field.grid.levels;
    if (!d->start_level) return levels;
    uint32_t extra = step > d->start_step ? (step - d->start_step) / (d->update_steps ? d->update_steps : 500) : 0;
    uint64_t a = (uint64_t)d->start_level + extra;
    return a < levels ? (uint32_t)a : levels;
}

void vkd_nerf_apply_levels(vkd_nerf* n) {
    vkd_nerf_field_set_active_levels(n->field, vkd_nerf_active_levels_at(&n->desc, n->step));
}

float vkd_nerf_render_step(const vkd_nerf* n) {
    return vkd_volrend_step(&(vkd_volrend_march_desc){.radius = n->desc.field.bound, .num_steps = n->desc.num_steps});
}

uint32_t vkd_nerf_fd_chunk(const vkd_nerf* n) { return n->desc.chunk / 6; }

// ---------------------------------------------------------------------------
// Creation

static vkd_status alloc_zero(vkd_gpu* gpu, vkd_buffer* b, uint64_t floats, const float* init, vkd_error* err) {
    size_t bytes = (size_t)(floats ? floats : 1) * sizeof(float);
    vkd_status st = vkd_buffer_alloc(gpu, bytes, b, err);
    if (st) return st;
    if (init) return vkd_buffer_upload(gpu, b, 0, init, bytes, err);
    float* z = calloc(floats ? floats : 1, sizeof(float));
    if (!z) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory (%zu bytes)", bytes);
    st = vkd_buffer_upload(gpu, b, 0, z, bytes, err);
    free(z);
    return st;
}

vkd_status vkd_nerf_create_raw(vkd_gpu* gpu, const vkd_nerf_desc* desc, bool init, vkd_nerf** out, vkd_error* err) {
    *out = NULL;
    vkd_nerf_desc d;
    if (!vkd_nerf_resolve(desc, &d, err)) return err ? err->status : VKD_ERR_INVALID;
    vkd_nerf* n = calloc(1, sizeof *n);
    if (!n) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "nerf: out of host memory");
    n->gpu = gpu;
    n->desc = d;
    vkd_status st = vkd_nerf_field_create(gpu, &d.field, &n->field, err);
    uint64_t total = st ? 0 : vkd_nerf_field_layout_of(n->field)->total;
    if (!st) st = alloc_zero(gpu, &n->field_m, total, NULL, err);
    if (!st) st = alloc_zero(gpu, &n->field_v, total, NULL, err);
    if (!st && d.background == VKD_NERF_BG_MLP) {
        n->bg_mlp = (vkd_mlp_desc){.in = VKD_NERF_SH_DIM,
                                   .out = 3,
                                   .hidden = d.bg_hidden,
                                   .hidden_layers = d.bg_hidden_layers,
                                   .output_activation = VKD_MLP_ACT_SIGMOID};
        n->bg_count = vkd_mlp_param_count(&n->bg_mlp);
        float* host = malloc(n->bg_count * sizeof *host);
        if (!host) st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
        if (!st) vkd_mlp_init_params(host, &n->bg_mlp, d.bg_seed);
        if (!st) st = alloc_zero(gpu, &n->bg_params, n->bg_count, init ? host : NULL, err);
        free(host);
        if (!st) st = alloc_zero(gpu, &n->bg_grads, n->bg_count, NULL, err);
        if (!st) st = alloc_zero(gpu, &n->bg_m, n->bg_count, NULL, err);
        if (!st) st = alloc_zero(gpu, &n->bg_v, n->bg_count, NULL, err);
    }
    if (!st && !d.no_grid)
        st = vkd_occgrid_create(gpu, &(vkd_occgrid_desc){.resolution = d.grid_resolution, .radius = d.field.bound},
                                &n->grid, err);
    if (st) {
        vkd_error_prefix(err, "nerf: ");
        vkd_nerf_destroy(n);
        return st;
    }
    vkd_nerf_apply_levels(n);
    *out = n;
    return VKD_OK;
}

vkd_status vkd_nerf_create(vkd_gpu* gpu, const vkd_nerf_desc* desc, vkd_nerf** out, vkd_error* err) {
    return vkd_nerf_create_raw(gpu, desc, true, out, err);
}

static void free_buf(vkd_gpu* gpu, vkd_buffer* b) {
    if (b->addr) vkd_buffer_free(gpu, b);
    b->addr = 0;
}

void vkd_nerf_destroy(vkd_nerf* n) {
    if (!n) return;
    vkd_buffer* bufs[] = {&n->bg_params, &n->bg_grads,    &n->bg_m,   &n->bg_v,      &n->field_m, &n->field_v,
                          &n->rays.buf,  &n->samples.buf, &n->ws.buf, &n->ws_fd.buf, &n->occ.buf};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free_buf(n->gpu, bufs[i]);
    vkd_occgrid_destroy(n->grid);
    vkd_nerf_field_destroy(n->field);
    free(n);
}

const vkd_nerf_desc* vkd_nerf_desc_of(const vkd_nerf* n) { return &n->desc; }
vkd_nerf_field* vkd_nerf_field_of(vkd_nerf* n) { return n->field; }
vkd_occgrid* vkd_nerf_occgrid(vkd_nerf* n) { return n->grid; }
uint32_t vkd_nerf_step_count(const vkd_nerf* n) { return n->step; }
const vkd_mlp_desc* vkd_nerf_background_mlp(const vkd_nerf* n) { return &n->bg_mlp; }
uint64_t vkd_nerf_background_count(const vkd_nerf* n) { return n->bg_count; }
vkd_addr vkd_nerf_background_params(const vkd_nerf* n) { return n->bg_params.addr; }
vkd_addr vkd_nerf_background_grads(const vkd_nerf* n) { return n->bg_grads.addr; }
uint32_t vkd_nerf_sample_count(const vkd_nerf* n) { return n->n_samples; }

void vkd_nerf_moments(const vkd_nerf* n, vkd_addr* field_m, vkd_addr* field_v, vkd_addr* bg_m, vkd_addr* bg_v) {
    if (field_m) *field_m = n->field_m.addr;
    if (field_v) *field_v = n->field_v.addr;
    if (bg_m) *bg_m = n->bg_m.addr;
    if (bg_v) *bg_v = n->bg_v.addr;
}

uint64_t vkd_nerf_bytes(const vkd_nerf* n) {
    const vkd_buffer* bufs[] = {&n->bg_params, &n->bg_grads,    &n->bg_m,   &n->bg_v,      &n->field_m, &n->field_v,
                                &n->rays.buf,  &n->samples.buf, &n->ws.buf, &n->ws_fd.buf, &n->occ.buf};
    uint64_t total = 2 * vkd_nerf_field_layout_of(n->field)->total * sizeof(float);  // params + grads
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) total += bufs[i]->addr ? bufs[i]->size : 0;
    return total + (n->grid ? vkd_occgrid_bytes(n->grid) : 0);
}

// ---------------------------------------------------------------------------
// Buffers

static uint64_t take(uint64_t* at, uint64_t floats) {
    uint64_t o = *at;
    *at += (floats + 63) / 64 * 64;
    return o;
}

nerf_ray_layout vkd_nerf_ray_layout(const vkd_nerf* n, uint32_t rays, uint32_t views) {
    nerf_ray_layout l;
    uint64_t at = 0, r = rays;
    bool mlp = n->bg_count != 0;
    l.origins = take(&at, 3 * r);
    l.dirs = take(&at, 3 * r);
    l.near_far = take(&at, 2 * r);
    l.offsets = take(&at, r + 1);
    l.scratch = take(&at, (vkd_volrend_march_scratch_bytes(rays) + 3) / 4);
    l.bg = take(&at, 3 * r);
    l.bg_sh = take(&at, mlp ? VKD_NERF_SH_DIM * r : 0);
    l.bg_saved = take(&at, mlp ? vkd_mlp_saved_floats(&n->bg_mlp, rays) : 0);
    l.d_bg = take(&at, mlp ? 3 * r : 0);
    l.bg_scratch = take(&at, mlp ? (vkd_mlp_backward_scratch_bytes(&n->bg_mlp, rays) + 3) / 4 : 0);
    l.opacity = take(&at, r);
    l.d_opacity = take(&at, r);
    l.lights = take(&at, 3ull * views);
    l.losses = take(&at, 4);
    l.total = at;
    return l;
}

nerf_sample_layout vkd_nerf_sample_layout(uint32_t samples) {
    nerf_sample_layout l;
    uint64_t at = 0, s = samples ? samples : 1;  // never 0: the compositor wants real addresses
    l.positions = take(&at, 3 * s);
    l.dirs = take(&at, 3 * s);
    l.intervals = take(&at, 2 * s);
    l.ray = take(&at, s);
    l.sigma = take(&at, s);
    l.albedo = take(&at, 3 * s);
    l.color = take(&at, 3 * s);
    l.grad = take(&at, 3 * s);
    l.normals = take(&at, 3 * s);
    l.weights = take(&at, s);
    l.d_sigma = take(&at, s);
    l.d_albedo = take(&at, 3 * s);
    l.d_color = take(&at, 3 * s);
    l.d_normals = take(&at, 3 * s);
    l.d_grad = take(&at, 3 * s);
    l.total = at;
    return l;
}

vkd_status vkd_nerf_pool_reserve(vkd_nerf* n, vkd_stream* s, nerf_pool* pool, uint64_t units, uint64_t bytes,
                                 const char* what, vkd_error* err) {
    if (pool->buf.addr && pool->cap >= units) return VKD_OK;
    if (pool->buf.addr) {
        // Recorded work may still read the old buffer: run it before freeing.
        vkd_status st = vkd_stream_submit(s, err);
        if (st) return vkd_error_prefix(err, "nerf: before growing the %s buffer: ", what);
        vkd_buffer_free(n->gpu, &pool->buf);
        pool->buf.addr = 0;
        pool->cap = 0;
    }
    vkd_status st = vkd_buffer_alloc(n->gpu, bytes ? bytes : 4, &pool->buf, err);
    if (st) {
        pool->buf.addr = 0;
        return vkd_error_prefix(err, "nerf: %s buffer for %llu: ", what, (unsigned long long)units);
    }
    pool->cap = units;
    // Whatever state the old buffer held is gone.
    if (pool == &n->ws) n->ws_valid = false;
    if (pool == &n->ws_fd) n->ws_fd_valid = false;
    return VKD_OK;
}

// ---------------------------------------------------------------------------
// Optimizer

void vkd_nerf_zero_grad(vkd_nerf* n, vkd_stream* s) {
    vkd_nerf_field_zero_grad(n->field, s);
    if (n->bg_count) vkd_stream_fill(s, n->bg_grads.addr, (uint32_t)n->bg_count, 0);
}

static void adam_group(const vkd_nerf* n, vkd_stream* s, vkd_addr p, vkd_addr m, vkd_addr v, vkd_addr g, uint64_t count,
                       float lr, uint32_t t) {
    if (!count || !(lr > 0)) return;
    vkd_adam_desc d = {.lr = lr, .beta1 = n->desc.lr.beta1, .beta2 = n->desc.lr.beta2, .eps = n->desc.lr.eps};
    vkd_adam_step(s, p, m, v, g, 0, (uint32_t)count, t, &d);
}

void vkd_nerf_step(vkd_nerf* n, vkd_stream* s) {
    uint32_t t = ++n->step;
    const vkd_nerf_field_layout* l = vkd_nerf_field_layout_of(n->field);
    vkd_addr P = vkd_nerf_field_params(n->field), G = vkd_nerf_field_grads(n->field);
    vkd_addr M = n->field_m.addr, V = n->field_v.addr;
    uint64_t off[3] = {l->grid_offset, l->density_mlp_offset, l->feature_mlp_offset};
    uint64_t cnt[3] = {l->grid_count, l->density_mlp_count, l->feature_mlp_count};
    float lr[3] = {n->desc.lr.grid, n->desc.lr.density_mlp, n->desc.lr.feature_mlp};
    for (int i = 0; i < 3; i++)
        adam_group(n, s, P + 4 * off[i], M + 4 * off[i], V + 4 * off[i], G + 4 * off[i], cnt[i], lr[i], t);
    adam_group(n, s, n->bg_params.addr, n->bg_m.addr, n->bg_v.addr, n->bg_grads.addr, n->bg_count,
               n->desc.lr.background, t);
    vkd_nerf_apply_levels(n);
}

// ---------------------------------------------------------------------------
// Occupancy grid and density grid

vkd_status vkd_nerf_update_occupancy(vkd_nerf* n, vkd_stream* s, uint32_t step, vkd_error* err) {
    if (!n->grid || step % n->desc.grid_update_every) return VKD_OK;
    bool all = step < n->desc.grid_warmup_steps;
    uint32_t m = vkd_occgrid_sample_count(n->grid, all);
    uint32_t chunk = m < n->desc.chunk ? m : n->desc.chunk;
    vkd_status st = vkd_nerf_pool_reserve(n, s, &n->occ, m, 16ull * m, "occupancy sample", err);
    if (!st)
        st = vkd_nerf_pool_reserve(n, s, &n->ws, chunk, vkd_nerf_field_workspace_bytes(n->field, chunk), "workspace",
                                   err);
    if (st) return st;
    vkd_addr pos = n->occ.buf.addr, dens = pos + 12ull * m;
    vkd_occgrid_sample(n->grid, s, pos, all, step);
    for (uint32_t first = 0; first < m; first += chunk) {
        uint32_t count = m - first < chunk ? m - first : chunk;
        vkd_nerf_field_forward(n->field, s, dens + 4ull * first, 0, pos + 12ull * first, count, n->ws.buf.addr);
    }
    vkd_occgrid_update_desc ud = {
        .decay = n->desc.grid_decay, .threshold = n->desc.grid_threshold, .occ_scale = vkd_nerf_render_step(n)};
    vkd_occgrid_update(n->grid, s, dens, &ud);
    n->ws_valid = false;
    return VKD_OK;
}

vkd_status vkd_nerf_density_grid(vkd_nerf* n, vkd_stream* s, vkd_addr out, uint32_t res, float bound, vkd_error* err) {
    if (res < 2 || res > 1625 || !out)
        return vkd_error_set(err, VKD_ERR_INVALID, "nerf_density_grid: res = %u (expected 2..1625) and out must be set",
                             res);
    uint64_t total = (uint64_t)res * res * res;
    uint32_t chunk = total < n->desc.chunk ? (uint32_t)total : n->desc.chunk;
    vkd_status st =
        vkd_nerf_pool_reserve(n, s, &n->ws, chunk, vkd_nerf_field_workspace_bytes(n->field, chunk), "workspace", err);
    if (st) return st;
    vkd_nerf_field_density_grid(n->field, s, out, res, bound, n->ws.buf.addr, chunk);
    n->ws_valid = false;
    return VKD_OK;
}
