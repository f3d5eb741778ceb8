// A hash-grid NeRF as a distillation representation (include/vkdream/distill.h).
#include "vkdream/distill.h"

#include <stdlib.h>

typedef struct repr_nerf {
    vkd_repr base;
    vkd_gpu* gpu;
    vkd_nerf* n;
    vkd_repr_nerf_desc d;
    uint32_t renders;               // renders so far: the stratified-sampling seed
    vkd_volrend_shading shading;    // of the latest render
    float lights[64 * 3];
} repr_nerf;

static void nerf_destroy(vkd_repr* base) {
    repr_nerf* r = base->impl;
    if (r->n) vkd_nerf_destroy(r->n);
    free(r);
}

// splitmix64 of (seed, index): the shading choice of a render, reproducible on resume.
static double hash01(uint64_t seed, uint64_t i) {
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + i + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static vkd_status nerf_render(vkd_repr* base, vkd_stream* s, vkd_addr rgb, vkd_addr alpha, const vkd_camera* cams,
                              uint32_t B, const float bg[3], vkd_error* err) {
    repr_nerf* r = base->impl;
    if (B > 64) return vkd_error_set(err, VKD_ERR_INVALID, "nerf representation: %u views, at most 64", B);
    uint32_t step = vkd_nerf_step_count(r->n);
    r->shading = VKD_VOLREND_SHADE_ALBEDO;
    if (r->d.shading_mix) {
        double u = hash01(r->d.seed, step), ratio = r->d.albedo_ratio > 0 ? r->d.albedo_ratio : 0.2;
        r->shading = u < ratio ? VKD_VOLREND_SHADE_ALBEDO : u < ratio + (1 - ratio) / 2 ? VKD_VOLREND_SHADE_LAMBERTIAN
                                                                                  : VKD_VOLREND_SHADE_TEXTURELESS;
    }
    // DreamFusion's point light: near the camera, jittered.
    for (uint32_t b = 0; b < B; b++) {
        float c[3];
        vkd_camera_position(&cams[b], c);
        for (int k = 0; k < 3; k++) r->lights[3 * b + k] = c[k] * (float)(0.8 + 0.4 * hash01(r->d.seed ^ 0xABCD, 4u * step + (uint64_t)k));
    }
    vkd_volrend_image o = {.rgb = rgb, .opacity = alpha};
    vkd_nerf_render_desc rd = {.shading = r->shading, .lights = r->lights, .stratified = true,
                               .seed = r->renders++, .bg_color = bg};
    return vkd_nerf_render(r->n, s, &o, cams, B, &rd, err);
}

static vkd_status nerf_backward(vkd_repr* base, vkd_stream* s, vkd_addr drgb, vkd_addr dalpha,
                                const vkd_camera* cams, uint32_t B, const float bg[3], vkd_error* err) {
    (void)cams, (void)B, (void)bg;  // the backward follows the latest render
    repr_nerf* r = base->impl;
    vkd_volrend_image d = {.rgb = drgb, .opacity = dalpha};
    vkd_nerf_regularisers reg = r->d.reg;
    // The orientation loss needs normals, which only shaded renders compute.
    if (r->shading == VKD_VOLREND_SHADE_ALBEDO) reg.orientation = 0;
    return vkd_nerf_backward(r->n, s, &d, &reg, err);
}

static uint32_t nerf_grad_ranges(const vkd_repr* base, vkd_addr* addr, uint32_t* count, uint32_t max) {
    const repr_nerf* r = base->impl;
    uint32_t k = 0;
    vkd_nerf_field* f = vkd_nerf_field_of(r->n);
    if (k < max) addr[k] = vkd_nerf_field_grads(f), count[k++] = (uint32_t)vkd_nerf_field_layout_of(f)->total;
    uint64_t bg = vkd_nerf_background_count(r->n);
    if (bg && k < max) addr[k] = vkd_nerf_background_grads(r->n), count[k++] = (uint32_t)bg;
    return k;
}

static vkd_status nerf_step(vkd_repr* base, vkd_stream* s, uint32_t step, vkd_error* err) {
    repr_nerf* r = base->impl;
    vkd_nerf_step(r->n, s);
    vkd_nerf_zero_grad(r->n, s);
    return vkd_nerf_update_occupancy(r->n, s, step, err);
}

static vkd_status nerf_discard(vkd_repr* base, vkd_stream* s, vkd_error* err) {
    (void)err;
    vkd_nerf_zero_grad(((repr_nerf*)base->impl)->n, s);
    return VKD_OK;
}

static vkd_status nerf_save(vkd_repr* base, vkd_stream* s, const char* path, vkd_error* err) {
    return vkd_nerf_save_checkpoint(((repr_nerf*)base->impl)->n, s, path, err);
}

static vkd_status nerf_load(vkd_repr* base, vkd_stream* s, const char* path, vkd_error* err) {
    repr_nerf* r = base->impl;
    vkd_status st = vkd_stream_submit(s, err);  // nothing may still use the old model
    if (st) return st;
    vkd_nerf* n = NULL;
    if ((st = vkd_nerf_load_checkpoint(r->gpu, path, &n, err))) return st;
    vkd_nerf_destroy(r->n);
    r->n = n;
    r->renders = 2 * vkd_nerf_step_count(n);
    return VKD_OK;
}

static uint64_t nerf_size(const vkd_repr* base) {
    return vkd_nerf_sample_count(((const repr_nerf*)base->impl)->n);
}

static const vkd_repr_vtbl nerf_vtbl = {
    .kind = "nerf",
    .destroy = nerf_destroy,
    .render = nerf_render,
    .backward = nerf_backward,
    .grad_ranges = nerf_grad_ranges,
    .step = nerf_step,
    .discard = nerf_discard,
    .save = nerf_save,
    .load = nerf_load,
    .size = nerf_size,
};

vkd_status vkd_repr_nerf_create(vkd_gpu* gpu, vkd_nerf* n, const vkd_repr_nerf_desc* desc, vkd_repr** out,
                                vkd_error* err) {
    *out = NULL;
    repr_nerf* r = calloc(1, sizeof *r);
    if (!r) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "nerf representation: out of host memory");
    r->base = (vkd_repr){.vt = &nerf_vtbl, .impl = r};
    r->gpu = gpu;
    r->d = desc ? *desc : (vkd_repr_nerf_desc){0};
    if (!n) {
        vkd_status st = vkd_nerf_create(gpu, &r->d.nerf, &n, err);
        if (st) {
            free(r);
            return vkd_error_prefix(err, "nerf representation: ");
        }
    }
    r->n = n;
    *out = &r->base;
    return VKD_OK;
}

vkd_nerf* vkd_repr_nerf_get(vkd_repr* base) { return ((repr_nerf*)base->impl)->n; }
