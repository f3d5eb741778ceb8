// The Gaussian model container: flat device buffers (params, grads, Adam m, v) laid out
// group by group, views for the renderer, growth, host transfers and the Adam step.
#include "field/gaussians_internal.h"
#include "field/gaussians.h"
#include "vkdream/nn/adam.h"
#include "vkd_shaders.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// gaussians_ply.c spells these out so it builds without the shader headers.
static_assert(GAUSSIANS_OFF_MEANS == 0 && GAUSSIANS_OFF_LOG_SCALES == 3 && GAUSSIANS_OFF_QUATS == 6 &&
                  GAUSSIANS_OFF_OPACITY == 10 && GAUSSIANS_OFF_SH == 11,
              "group starts: means 3, log_scales 3, quats 4, opacity 1, then sh");
static_assert(VKD_GAUSSIANS_KEEP == GAUSSIANS_KEEP && VKD_GAUSSIANS_CLONE == GAUSSIANS_CLONE &&
                  VKD_GAUSSIANS_SPLIT == GAUSSIANS_SPLIT && VKD_GAUSSIANS_CHILDREN == GAUSSIANS_CHILDREN,
              "decision flags differ between the API and the kernels");
static_assert(VKD_GAUSSIANS_MAX_SH_DEGREE == VKD_SPLAT_MAX_SH_DEGREE, "the renderer evaluates up to degree 3");

#define CAP_GRANULE 64u
#define DEFAULT_CAPACITY 4096u

static uint32_t sh_coefs(int degree) { return (uint32_t)((degree + 1) * (degree + 1)); }

// ---------------------------------------------------------------------------
// Container

vkd_gaussians_lr vkd_gaussians_resolve_lr(const vkd_gaussians_lr* in) {
    vkd_gaussians_lr l = in ? *in : (vkd_gaussians_lr){0};
    if (l.position_init == 0) l.position_init = 1.6e-4f;
    if (l.position_final == 0) l.position_final = 1.6e-6f;
    if (l.position_max_steps == 0) l.position_max_steps = 30000;
    if (l.position_delay_mult == 0) l.position_delay_mult = 0.01f;
    if (l.feature == 0) l.feature = 5e-3f;
    if (l.feature_rest == 0) l.feature_rest = l.feature / 20.0f;
    if (l.opacity == 0) l.opacity = 0.05f;
    if (l.scaling == 0) l.scaling = 5e-3f;
    if (l.rotation == 0) l.rotation = 1e-3f;
    if (l.beta1 == 0) l.beta1 = 0.9f;
    if (l.beta2 == 0) l.beta2 = 0.999f;
    if (l.eps == 0) l.eps = 1e-15f;
    return l;
}

vkd_status vkd_gaussians_check_capacity(uint32_t row, uint64_t want, uint32_t* out, vkd_error* err) {
    uint64_t cap = (want + CAP_GRANULE - 1) / CAP_GRANULE * CAP_GRANULE;
    if (cap == 0) cap = CAP_GRANULE;
    // Kernels index a flat buffer with 32-bit floats offsets, and 1-D grids cover row * cap.
    uint64_t limit = ((uint64_t)UINT32_MAX - 256) / row / CAP_GRANULE * CAP_GRANULE;
    if (cap > limit)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                             "gaussians: capacity %llu exceeds the limit of %llu Gaussians at %u floats each "
                             "(32-bit indexing of the flat buffers)",
                             (unsigned long long)want, (unsigned long long)limit, row);
    *out = (uint32_t)cap;
    return VKD_OK;
}

vkd_status vkd_gaussians_alloc_flat(vkd_gpu* gpu, uint32_t cap, uint32_t row, vkd_buffer bufs[4], vkd_error* err) {
    memset(bufs, 0, 4 * sizeof *bufs);
    for (int b = 0; b < VKD_GAUSSIANS_BUFFER_COUNT; b++) {
        vkd_status st = vkd_buffer_alloc(gpu, (size_t)cap * row * sizeof(float), &bufs[b], err);
        if (st) {
            for (int k = 0; k < b; k++) vkd_buffer_free(gpu, &bufs[k]);
            return vkd_error_prefix(err, "gaussians: allocating %u Gaussians (%u floats each): ", cap, row);
        }
    }
    return VKD_OK;
}

vkd_status vkd_gaussians_alloc_stats(vkd_gpu* gpu, uint32_t cap, vkd_buffer stats[GAUSSIANS_STAT_COUNT],
                                     vkd_error* err) {
    memset(stats, 0, GAUSSIANS_STAT_COUNT * sizeof *stats);
    for (int k = 0; k < GAUSSIANS_STAT_COUNT; k++) {
        vkd_status st = vkd_buffer_alloc(gpu, (size_t)cap * sizeof(float), &stats[k], err);
        if (st) {
            for (int j = 0; j < k; j++) vkd_buffer_free(gpu, &stats[j]);
            return vkd_error_prefix(err, "gaussians: densification statistics: ");
        }
    }
    return VKD_OK;
}

void vkd_gaussians_free_buffers(vkd_gaussians* g) {
    for (int b = 0; b < VKD_GAUSSIANS_BUFFER_COUNT; b++) vkd_buffer_free(g->gpu, &g->buf[b]);
    for (int k = 0; k < GAUSSIANS_STAT_COUNT; k++) vkd_buffer_free(g->gpu, &g->stats[k]);
}

vkd_status vkd_gaussians_create(vkd_gpu* gpu, const vkd_gaussians_desc* desc, vkd_gaussians** out, vkd_error* err) {
    *out = NULL;
    vkd_gaussians_desc d = desc ? *desc : (vkd_gaussians_desc){0};
    if (d.sh_degree < 0 || d.sh_degree > VKD_GAUSSIANS_MAX_SH_DEGREE)
        return vkd_error_set(err, VKD_ERR_INVALID, "gaussians: sh_degree = %d, expected 0..3", d.sh_degree);
    if (!(d.scene_extent >= 0) || !isfinite(d.scene_extent))
        return vkd_error_set(err, VKD_ERR_INVALID, "gaussians: scene_extent = %g, expected > 0 (or 0 for 1)",
                             (double)d.scene_extent);
    vkd_gaussians* g = calloc(1, sizeof *g);
    if (!g) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "gaussians: out of host memory");
    g->gpu = gpu;
    g->sh_degree = g->active_sh_degree = d.sh_degree;
    g->row = vkd_gaussians_row_floats(d.sh_degree);
    g->extent = d.scene_extent != 0 ? d.scene_extent : 1.0f;
    g->lr = vkd_gaussians_resolve_lr(&d.lr);
    g->seed = d.seed;
    vkd_status st = vkd_gaussians_check_capacity(g->row, d.capacity ? d.capacity : DEFAULT_CAPACITY, &g->cap, err);
    if (!st) st = vkd_gaussians_alloc_flat(gpu, g->cap, g->row, g->buf, err);
    if (!st) {
        st = vkd_gaussians_alloc_stats(gpu, g->cap, g->stats, err);
        if (st) vkd_gaussians_free_buffers(g);
    }
    if (st) {
        free(g);
        return st;
    }
    *out = g;
    return VKD_OK;
}

void vkd_gaussians_destroy(vkd_gaussians* g) {
    if (!g) return;
    vkd_gaussians_free_buffers(g);
    free(g);
}

uint32_t vkd_gaussians_count(const vkd_gaussians* g) { return g->count; }
uint32_t vkd_gaussians_capacity(const vkd_gaussians* g) { return g->cap; }
int vkd_gaussians_sh_degree(const vkd_gaussians* g) { return g->sh_degree; }
float vkd_gaussians_scene_extent(const vkd_gaussians* g) { return g->extent; }
uint32_t vkd_gaussians_step_count(const vkd_gaussians* g) { return g->step; }
int vkd_gaussians_active_sh_degree(const vkd_gaussians* g) { return g->active_sh_degree; }

void vkd_gaussians_set_active_sh_degree(vkd_gaussians* g, int degree) {
    g->active_sh_degree = degree < 0 ? 0 : degree > g->sh_degree ? g->sh_degree : degree;
}

static vkd_addr group_addr(const vkd_gaussians* g, int b, vkd_gaussians_group grp) {
    return g->buf[b].addr + 4 * vkd_gaussians_group_offset(grp, g->cap, g->sh_degree);
}

static void fill_views(const vkd_gaussians* g, int b, vkd_splat_grads* out) {
    out->means = group_addr(g, b, VKD_GAUSSIANS_MEANS);
    out->log_scales = group_addr(g, b, VKD_GAUSSIANS_LOG_SCALES);
    out->quats = group_addr(g, b, VKD_GAUSSIANS_QUATS);
    out->opacity_logits = group_addr(g, b, VKD_GAUSSIANS_OPACITY);
    out->sh = group_addr(g, b, VKD_GAUSSIANS_SH);
}

void vkd_gaussians_params(const vkd_gaussians* g, vkd_splat_params* out) {
    vkd_splat_grads v;
    fill_views(g, VKD_GAUSSIANS_PARAMS, &v);
    *out = (vkd_splat_params){
        .means = v.means,
        .log_scales = v.log_scales,
        .quats = v.quats,
        .opacity_logits = v.opacity_logits,
        .sh = v.sh,
        .count = g->count,
        .sh_degree = g->active_sh_degree,
        .sh_stride = sh_coefs(g->sh_degree),
    };
}

void vkd_gaussians_grads(const vkd_gaussians* g, vkd_splat_grads* out) { fill_views(g, VKD_GAUSSIANS_GRADS, out); }

void vkd_gaussians_moments(const vkd_gaussians* g, vkd_splat_grads* m, vkd_splat_grads* v) {
    if (m) fill_views(g, VKD_GAUSSIANS_ADAM_M, m);
    if (v) fill_views(g, VKD_GAUSSIANS_ADAM_V, v);
}

vkd_addr vkd_gaussians_buffer_addr(const vkd_gaussians* g, vkd_gaussians_buffer which) { return g->buf[which].addr; }

void vkd_gaussians_stats(const vkd_gaussians* g, vkd_splat_densify_stats* out) {
    *out = (vkd_splat_densify_stats){
        .grad2d_norm = g->stats[GAUSSIANS_STAT_GRAD2D].addr,
        .vis_count = g->stats[GAUSSIANS_STAT_VIS].addr,
        .max_radius = g->stats[GAUSSIANS_STAT_RADIUS].addr,
    };
}

uint64_t vkd_gaussians_bytes(const vkd_gaussians* g) {
    return (uint64_t)g->cap * (4ull * g->row + GAUSSIANS_STAT_COUNT) * sizeof(float);
}

// ---------------------------------------------------------------------------
// Growth

vkd_status vkd_gaussians_reserve(vkd_gaussians* g, vkd_stream* s, uint32_t capacity, vkd_error* err) {
    if (capacity <= g->cap) return VKD_OK;
    uint32_t cap = 0;
    vkd_status st = vkd_gaussians_check_capacity(g->row, capacity, &cap, err);
    if (st) return st;
    vkd_buffer nb[VKD_GAUSSIANS_BUFFER_COUNT], ns[GAUSSIANS_STAT_COUNT];
    if ((st = vkd_gaussians_alloc_flat(g->gpu, cap, g->row, nb, err))) return st;
    if ((st = vkd_gaussians_alloc_stats(g->gpu, cap, ns, err))) {
        for (int b = 0; b < VKD_GAUSSIANS_BUFFER_COUNT; b++) vkd_buffer_free(g->gpu, &nb[b]);
        return st;
    }
    if (g->count) {
        vkd_gaussians_relayout_push p = {
            .src0 = g->buf[0].addr, .src1 = g->buf[1].addr, .src2 = g->buf[2].addr, .src3 = g->buf[3].addr,
            .dst0 = nb[0].addr, .dst1 = nb[1].addr, .dst2 = nb[2].addr, .dst3 = nb[3].addr,
            .count = g->count, .src_cap = g->cap, .dst_cap = cap, .sh_floats = 3 * sh_coefs(g->sh_degree),
        };
        vkd_stream_dispatch_1d(s, VKD_KERNEL(field_gaussians_relayout), &p, sizeof p, (uint64_t)g->count * g->row,
                               256);
        for (int k = 0; k < GAUSSIANS_STAT_COUNT; k++) vkd_stream_copy(s, ns[k].addr, g->stats[k].addr, g->count);
    }
    // The old buffers may only go once the copy has run (and anything recorded before it).
    st = vkd_stream_submit(s, err);
    if (!st) {
        for (int b = 0; b < VKD_GAUSSIANS_BUFFER_COUNT; b++) {
            vkd_buffer t = g->buf[b];
            g->buf[b] = nb[b];
            nb[b] = t;
        }
        for (int k = 0; k < GAUSSIANS_STAT_COUNT; k++) {
            vkd_buffer t = g->stats[k];
            g->stats[k] = ns[k];
            ns[k] = t;
        }
        g->cap = cap;
    }
    for (int b = 0; b < VKD_GAUSSIANS_BUFFER_COUNT; b++) vkd_buffer_free(g->gpu, &nb[b]);
    for (int k = 0; k < GAUSSIANS_STAT_COUNT; k++) vkd_buffer_free(g->gpu, &ns[k]);
    return st ? vkd_error_prefix(err, "gaussians: growing to %u: ", cap) : VKD_OK;
}

// ---------------------------------------------------------------------------
// Host transfers

static vkd_status check_host(const vkd_gaussians* g, const vkd_gaussians_host* h, const char* what, uint32_t count,
                             vkd_error* err) {
    if (!h->data)
        return vkd_error_set(err, VKD_ERR_INVALID, "gaussians_upload: %s has no data", what);
    if (h->sh_degree != g->sh_degree)
        return vkd_error_set(err, VKD_ERR_INVALID, "gaussians_upload: %s has SH degree %d, the container %d", what,
                             h->sh_degree, g->sh_degree);
    if (h->count != count)
        return vkd_error_set(err, VKD_ERR_INVALID, "gaussians_upload: %s has %u Gaussians, the parameters %u", what,
                             h->count, count);
    return VKD_OK;
}

static vkd_status upload_groups(vkd_gaussians* g, int b, const vkd_gaussians_host* h, vkd_error* err) {
    for (int grp = 0; grp < VKD_GAUSSIANS_GROUP_COUNT; grp++) {
        uint32_t w = vkd_gaussians_group_width((vkd_gaussians_group)grp, g->sh_degree);
        uint64_t src = vkd_gaussians_group_offset((vkd_gaussians_group)grp, h->count, g->sh_degree);
        uint64_t dst = vkd_gaussians_group_offset((vkd_gaussians_group)grp, g->cap, g->sh_degree);
        vkd_status st = vkd_buffer_upload(g->gpu, &g->buf[b], dst * 4, h->data + src, (size_t)h->count * w * 4, err);
        if (st) return st;
    }
    return VKD_OK;
}

vkd_status vkd_gaussians_upload(vkd_gaussians* g, vkd_stream* s, const vkd_gaussians_host* params,
                                const vkd_gaussians_host* m, const vkd_gaussians_host* v, vkd_error* err) {
    uint32_t n = params->count;
    vkd_status st = check_host(g, params, "params", n, err);
    if (!st && m) st = check_host(g, m, "adam m", n, err);
    if (!st && v) st = check_host(g, v, "adam v", n, err);
    if (st) return st;
    // Work recorded earlier may still write these buffers: run it before the synchronous copies.
    if ((st = vkd_stream_submit(s, err))) return st;
    if (n > g->cap) {
        // Nothing to keep: the new contents replace everything.
        uint32_t cap = 0;
        vkd_buffer nb[VKD_GAUSSIANS_BUFFER_COUNT], ns[GAUSSIANS_STAT_COUNT];
        if ((st = vkd_gaussians_check_capacity(g->row, n, &cap, err))) return st;
        if ((st = vkd_gaussians_alloc_flat(g->gpu, cap, g->row, nb, err))) return st;
        if ((st = vkd_gaussians_alloc_stats(g->gpu, cap, ns, err))) {
            for (int b = 0; b < VKD_GAUSSIANS_BUFFER_COUNT; b++) vkd_buffer_free(g->gpu, &nb[b]);
            return st;
        }
        vkd_gaussians_free_buffers(g);
        memcpy(g->buf, nb, sizeof nb);
        memcpy(g->stats, ns, sizeof ns);
        g->cap = cap;
    }
    g->count = 0;  // until every copy succeeded
    if ((st = upload_groups(g, VKD_GAUSSIANS_PARAMS, params, err))) return st;
    if (m && (st = upload_groups(g, VKD_GAUSSIANS_ADAM_M, m, err))) return st;
    if (v && (st = upload_groups(g, VKD_GAUSSIANS_ADAM_V, v, err))) return st;
    uint32_t words = g->cap * g->row;
    vkd_stream_fill(s, g->buf[VKD_GAUSSIANS_GRADS].addr, words, 0);
    if (!m) vkd_stream_fill(s, g->buf[VKD_GAUSSIANS_ADAM_M].addr, words, 0);
    if (!v) vkd_stream_fill(s, g->buf[VKD_GAUSSIANS_ADAM_V].addr, words, 0);
    for (int k = 0; k < GAUSSIANS_STAT_COUNT; k++) vkd_stream_fill(s, g->stats[k].addr, g->cap, 0);
    if ((st = vkd_stream_submit(s, err))) return st;
    g->count = n;
    return VKD_OK;
}

vkd_status vkd_gaussians_replace(vkd_gaussians* g, vkd_stream* s, const vkd_gaussians_host* params,
                                 const vkd_gaussians_host* m, const vkd_gaussians_host* v, vkd_error* err) {
    vkd_status st = vkd_gaussians_upload(g, s, params, m, v, err);
    if (!st) g->step = 0;
    return st;
}

vkd_status vkd_gaussians_download(vkd_gaussians* g, vkd_stream* s, vkd_gaussians_buffer which,
                                  vkd_gaussians_host* out, vkd_error* err) {
    memset(out, 0, sizeof *out);
    if ((unsigned)which >= VKD_GAUSSIANS_BUFFER_COUNT)
        return vkd_error_set(err, VKD_ERR_INVALID, "gaussians_download: buffer %d, expected 0..3", (int)which);
    vkd_status st = vkd_stream_submit(s, err);
    if (!st) st = vkd_gaussians_host_alloc(out, g->count, g->sh_degree, err);
    for (int grp = 0; !st && grp < VKD_GAUSSIANS_GROUP_COUNT; grp++) {
        uint32_t w = vkd_gaussians_group_width((vkd_gaussians_group)grp, g->sh_degree);
        uint64_t dst = vkd_gaussians_group_offset((vkd_gaussians_group)grp, g->count, g->sh_degree);
        uint64_t src = vkd_gaussians_group_offset((vkd_gaussians_group)grp, g->cap, g->sh_degree);
        st = vkd_buffer_download(g->gpu, &g->buf[which], src * 4, out->data + dst, (size_t)g->count * w * 4, err);
    }
    if (st) vkd_gaussians_host_free(out);
    return st;
}

vkd_status vkd_gaussians_download_stats(vkd_gaussians* g, vkd_stream* s, float* grad2d_norm, float* vis_count,
                                        float* max_radius, vkd_error* err) {
    vkd_status st = vkd_stream_submit(s, err);
    float* dst[GAUSSIANS_STAT_COUNT] = {grad2d_norm, vis_count, max_radius};
    for (int k = 0; !st && k < GAUSSIANS_STAT_COUNT; k++)
        if (dst[k]) st = vkd_buffer_download(g->gpu, &g->stats[k], 0, dst[k], (size_t)g->count * 4, err);
    return st;
}

// ---------------------------------------------------------------------------
// Optimizer

void vkd_gaussians_learning_rates(const vkd_gaussians* g, uint32_t step, double out[6]) {
    const vkd_gaussians_lr* l = &g->lr;
    double init = (double)l->position_init * g->extent, final = (double)l->position_final * g->extent;
    double u = fmin((double)step / l->position_max_steps, 1.0);
    double lr = exp(log(init) * (1 - u) + log(final) * u);
    if (l->position_delay_steps > 0) {
        double d = fmin((double)step / l->position_delay_steps, 1.0);
        double mult = l->position_delay_mult;
        lr *= mult + (1 - mult) * sin(0.5 * 3.14159265358979323846 * d);
    }
    out[0] = l->position_init < 0 ? -1.0 : lr;  // frozen
    out[1] = l->scaling;
    out[2] = l->rotation;
    out[3] = l->opacity;
    out[4] = l->feature;
    out[5] = l->feature_rest;
}

void vkd_gaussians_step(vkd_gaussians* g, vkd_stream* s) {
    uint32_t t = ++g->step;
    double lr[6];
    vkd_gaussians_learning_rates(g, t, lr);
    uint32_t n = g->count;
    if (n == 0) return;
    const vkd_gaussians_lr* l = &g->lr;
    for (int grp = 0; grp < VKD_GAUSSIANS_GROUP_COUNT; grp++) {
        vkd_gaussians_group gg = (vkd_gaussians_group)grp;
        uint32_t w = vkd_gaussians_group_width(gg, g->sh_degree);
        vkd_addr pa = group_addr(g, VKD_GAUSSIANS_PARAMS, gg), ga = group_addr(g, VKD_GAUSSIANS_GRADS, gg);
        vkd_addr ma = group_addr(g, VKD_GAUSSIANS_ADAM_M, gg), va = group_addr(g, VKD_GAUSSIANS_ADAM_V, gg);
        // A negative rate freezes the group (no update, moments untouched).
        if (lr[grp] < 0) continue;
        if (gg == VKD_GAUSSIANS_SH && g->sh_degree > 0 && lr[5] != lr[4]) {
            double b1 = l->beta1, b2 = l->beta2;
            double bc1 = 1.0 - pow(b1, t);
            vkd_gaussians_adam_sh_push p = {
                .param = pa, .grad = ga, .m = ma, .v = va,
                .n = n * w,
                .beta1 = (float)b1, .one_minus_beta1 = (float)(1.0 - b1),
                .beta2 = (float)b2, .one_minus_beta2 = (float)(1.0 - b2),
                .eps = l->eps,
                .step_size_dc = (float)(lr[4] / bc1),
                .step_size_rest = (float)(lr[5] < 0 ? 0.0 : lr[5] / bc1),
                .bc2_sqrt = (float)sqrt(1.0 - pow(b2, t)),
            };
            vkd_stream_dispatch_1d(s, VKD_KERNEL_SPEC(field_gaussians_adam_sh, w), &p, sizeof p, p.n, 256);
            continue;
        }
        vkd_adam_desc d = {.lr = (float)lr[grp], .beta1 = l->beta1, .beta2 = l->beta2, .eps = l->eps};
        if (d.lr == 0) continue;  // an underflowed rate; Adam would read 0 as its default
        vkd_adam_step(s, pa, ma, va, ga, 0, n * w, t, &d);
    }
}

void vkd_gaussians_zero_grad(vkd_gaussians* g, vkd_stream* s) {
    if (!g->count) return;
    // One fill from the first group's start through the last group's count rows.
    uint64_t end = vkd_gaussians_group_offset(VKD_GAUSSIANS_SH, g->cap, g->sh_degree) +
                   (uint64_t)g->count * vkd_gaussians_group_width(VKD_GAUSSIANS_SH, g->sh_degree);
    vkd_stream_fill(s, g->buf[VKD_GAUSSIANS_GRADS].addr, (uint32_t)end, 0);
}

void vkd_gaussians_reset_stats(vkd_gaussians* g, vkd_stream* s) {
    if (!g->count) return;
    for (int k = 0; k < GAUSSIANS_STAT_COUNT; k++) vkd_stream_fill(s, g->stats[k].addr, g->count, 0);
}

void vkd_gaussians_reset_opacity(vkd_gaussians* g, vkd_stream* s, float max_opacity) {
    double o = max_opacity != 0 ? max_opacity : 0.01;
    if (!(o > 0 && o < 1)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "gaussians_reset_opacity: max_opacity = %g, expected in (0, 1)", o);
        return;
    }
    if (!g->count) return;
    vkd_gaussians_reset_opacity_push p = {
        .logits = group_addr(g, VKD_GAUSSIANS_PARAMS, VKD_GAUSSIANS_OPACITY),
        .m = group_addr(g, VKD_GAUSSIANS_ADAM_M, VKD_GAUSSIANS_OPACITY),
        .v = group_addr(g, VKD_GAUSSIANS_ADAM_V, VKD_GAUSSIANS_OPACITY),
        .count = g->count,
        .max_logit = (float)log(o / (1 - o)),
    };
    vkd_stream_dispatch_1d(s, VKD_KERNEL(field_gaussians_reset_opacity), &p, sizeof p, g->count, 256);
}
