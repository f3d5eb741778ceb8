// 3D Gaussians as a distillation representation (include/vkdream/distill.h): the splatting
// renderer, the per-group Adam step and DreamGaussian's densification schedule.
#include "vkdream/distill.h"

#include <stdlib.h>

typedef struct repr_gs {
    vkd_repr base;
    vkd_gpu* gpu;
    vkd_gaussians* g;
    vkd_splat_ctx* ctx;
    vkd_repr_gaussians_desc d;
} repr_gs;

void vkd_repr_destroy(vkd_repr* r) {
    if (r) r->vt->destroy(r);
}

static void gs_destroy(vkd_repr* base) {
    repr_gs* r = base->impl;
    if (r->ctx) vkd_splat_ctx_destroy(r->ctx);
    if (r->g) vkd_gaussians_destroy(r->g);
    free(r);
}

static vkd_status gs_render(vkd_repr* base, vkd_stream* s, vkd_addr rgb, vkd_addr alpha, const vkd_camera* cams,
                            uint32_t B, const float bg[3], vkd_error* err) {
    repr_gs* r = base->impl;
    vkd_splat_params p;
    vkd_gaussians_params(r->g, &p);
    vkd_splat_outputs o = {.rgb = rgb, .alpha = alpha};
    return vkd_splat_forward(r->ctx, s, &o, &p, cams, (int)B, bg, err);
}

static vkd_status gs_backward(vkd_repr* base, vkd_stream* s, vkd_addr drgb, vkd_addr dalpha, const vkd_camera* cams,
                              uint32_t B, const float bg[3], vkd_error* err) {
    (void)bg;  // the splat backward reuses the forward's background
    repr_gs* r = base->impl;
    vkd_splat_params p;
    vkd_splat_grads g;
    vkd_splat_densify_stats stats;
    vkd_gaussians_params(r->g, &p);
    vkd_gaussians_grads(r->g, &g);
    vkd_gaussians_stats(r->g, &stats);
    vkd_splat_outputs d = {.rgb = drgb, .alpha = dalpha};
    return vkd_splat_backward(r->ctx, s, &g, &stats, &d, &p, cams, (int)B, err);
}

static uint32_t gs_grad_ranges(const vkd_repr* base, vkd_addr* addr, uint32_t* count, uint32_t max) {
    const repr_gs* r = base->impl;
    uint32_t n = vkd_gaussians_count(r->g), k = 0;
    if (!n) return 0;
    vkd_splat_grads g;
    vkd_gaussians_grads(r->g, &g);
    int deg = vkd_gaussians_sh_degree(r->g);
    const vkd_addr a[VKD_GAUSSIANS_GROUP_COUNT] = {g.means, g.log_scales, g.quats, g.opacity_logits, g.sh};
    for (int i = 0; i < VKD_GAUSSIANS_GROUP_COUNT && k < max; i++, k++) {
        addr[k] = a[i];
        count[k] = n * vkd_gaussians_group_width((vkd_gaussians_group)i, deg);
    }
    return k;
}

static vkd_status gs_step(vkd_repr* base, vkd_stream* s, uint32_t step, vkd_error* err) {
    repr_gs* r = base->impl;
    vkd_gaussians_step(r->g, s);
    vkd_gaussians_zero_grad(r->g, s);
    // DreamGaussian counts steps from 1 in its schedule checks.
    uint32_t it = step + 1;
    if (!r->d.no_densify) {
        if (it >= r->d.densify_from && it <= r->d.densify_until && it % r->d.densify_interval == 0) {
            vkd_status st = vkd_gaussians_densify(r->g, s, &r->d.densify, err);
            if (st) return vkd_error_prefix(err, "step %u: ", it);
        }
        if (it % r->d.opacity_reset_interval == 0) vkd_gaussians_reset_opacity(r->g, s, 0.0f);
    }
    return VKD_OK;
}

static vkd_status gs_discard(vkd_repr* base, vkd_stream* s, vkd_error* err) {
    (void)err;
    repr_gs* r = base->impl;
    vkd_gaussians_zero_grad(r->g, s);
    // The statistics saw the same bad backward.
    vkd_gaussians_reset_stats(r->g, s);
    return VKD_OK;
}

static vkd_status gs_save(vkd_repr* base, vkd_stream* s, const char* path, vkd_error* err) {
    repr_gs* r = base->impl;
    return vkd_gaussians_save_checkpoint(r->g, s, path, err);
}

static vkd_status gs_load(vkd_repr* base, vkd_stream* s, const char* path, vkd_error* err) {
    repr_gs* r = base->impl;
    vkd_gaussians* g = NULL;
    vkd_status st = vkd_gaussians_load_checkpoint(r->gpu, s, path, &r->d.load, &g, err);
    if (st) return st;
    vkd_gaussians_destroy(r->g);
    r->g = g;
    return VKD_OK;
}

static uint64_t gs_size(const vkd_repr* base) { return vkd_gaussians_count(((const repr_gs*)base->impl)->g); }

static const vkd_repr_vtbl gs_vtbl = {
    .kind = "gaussians",
    .destroy = gs_destroy,
    .render = gs_render,
    .backward = gs_backward,
    .grad_ranges = gs_grad_ranges,
    .step = gs_step,
    .discard = gs_discard,
    .save = gs_save,
    .load = gs_load,
    .size = gs_size,
};

vkd_status vkd_repr_gaussians_create(vkd_gpu* gpu, vkd_gaussians* g, const vkd_repr_gaussians_desc* desc,
                                     vkd_repr** out, vkd_error* err) {
    *out = NULL;
    if (!g) return vkd_error_set(err, VKD_ERR_INVALID, "gaussians representation: no Gaussians given");
    repr_gs* r = calloc(1, sizeof *r);
    if (!r) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "gaussians representation: out of host memory");
    r->base = (vkd_repr){.vt = &gs_vtbl, .impl = r};
    r->gpu = gpu;
    r->d = desc ? *desc : (vkd_repr_gaussians_desc){0};
    if (!r->d.densify_from) r->d.densify_from = 100;
    if (!r->d.densify_until) r->d.densify_until = 3000;
    if (!r->d.densify_interval) r->d.densify_interval = 50;
    if (!r->d.opacity_reset_interval) r->d.opacity_reset_interval = 700;
    vkd_status st = vkd_splat_ctx_create(gpu, &r->d.splat, &r->ctx, err);
    if (st) {
        free(r);
        return vkd_error_prefix(err, "gaussians representation: ");
    }
    r->g = g;
    *out = &r->base;
    return VKD_OK;
}

vkd_gaussians* vkd_repr_gaussians_get(vkd_repr* base) { return ((repr_gs*)base->impl)->g; }
