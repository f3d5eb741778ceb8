// Volume rendering: GPU wrappers. Kernels are in shaders/field/volrend_*.comp; the float64
// reference is src/field/volrend_ref.c.
#include "vkdream/volrend.h"
#include "vkdream/nn/scan.h"
#include "field/volrend.h"
#include "vkd_shaders.h"

#include <math.h>

static float radius_or_default(float r) { return r > 0 ? r : 1.0f; }

float vkd_volrend_step(const vkd_volrend_march_desc* d) {
    if (d->step > 0) return d->step;
    float r = radius_or_default(d->radius);
    uint32_t steps = d->num_steps ? d->num_steps : 256;
    return 2.0f * r * sqrtf(3.0f) / (float)steps;
}

void vkd_volrend_rays(vkd_stream* s, vkd_addr origins, vkd_addr dirs, vkd_addr near_far, const vkd_camera* cams,
                      uint32_t views, float radius) {
    if (!origins || !dirs || !near_far || (views && !cams)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "volrend_rays: origins, dirs, near_far and cams must all be given");
        return;
    }
    for (uint32_t b = 0; b < views; b++) {
        const vkd_camera* c = &cams[b];
        if (c->width != cams[0].width || c->height != cams[0].height || c->width <= 0 || c->height <= 0) {
            vkd_stream_fail(s, VKD_ERR_INVALID,
                            "volrend_rays: camera %u is %dx%d, expected every camera to be %dx%d (and non-empty)", b,
                            c->width, c->height, cams[0].width, cams[0].height);
            return;
        }
        if (!(c->fx != 0) || !(c->fy != 0)) {
            vkd_stream_fail(s, VKD_ERR_INVALID, "volrend_rays: camera %u has fx = %g, fy = %g (must be non-zero)", b,
                            c->fx, c->fy);
            return;
        }
    }
    for (uint32_t b = 0; b < views; b++) {
        const vkd_camera* c = &cams[b];
        const float* m = c->viewmat;
        uint32_t w = (uint32_t)c->width, h = (uint32_t)c->height;
        vkd_volrend_rays_push p = {
            .origins = origins, .dirs = dirs, .near_far = near_far, .first = b * w * h, .width = w, .height = h,
            .r00 = m[0], .r01 = m[1], .r02 = m[2], .r10 = m[4], .r11 = m[5], .r12 = m[6],
            .r20 = m[8], .r21 = m[9], .r22 = m[10], .t0 = m[3], .t1 = m[7], .t2 = m[11],
            .fx = c->fx, .fy = c->fy, .cx = c->cx, .cy = c->cy, .radius = radius_or_default(radius)};
        vkd_stream_dispatch(s, VKD_KERNEL(field_volrend_rays), &p, sizeof p, (w + 7) / 8, (h + 7) / 8, 1);
    }
}

void vkd_volrend_fill_bg(vkd_stream* s, vkd_addr bg, uint32_t rays, const float rgb[3]) {
    if (!bg || !rgb) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "volrend_fill_bg: bg and rgb must be given");
        return;
    }
    vkd_volrend_fill_push p = {.dst = bg, .n = rays, .r = rgb[0], .g = rgb[1], .b = rgb[2]};
    vkd_stream_dispatch_1d(s, VKD_KERNEL(field_volrend_fill_bg), &p, sizeof p, rays, 256);
}

// ---------------------------------------------------------------------------
// Marching

uint64_t vkd_volrend_march_scratch_bytes(uint32_t rays) { return vkd_scan_scratch_bytes(rays); }

static bool march_push(vkd_stream* s, const char* op, vkd_volrend_march_push* p, vkd_addr origins, vkd_addr dirs,
                       vkd_addr near_far, vkd_addr offsets, uint32_t rays, const vkd_volrend_march_desc* d) {
    if (!d) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: desc is NULL", op);
        return false;
    }
    if (!offsets || (rays && (!origins || !dirs || !near_far))) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: offsets, origins, dirs and near_far must all be given", op);
        return false;
    }
    if (d->grid_bits && (d->grid_res == 0 || d->grid_res > 1024)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: grid_res = %u, expected 1..1024 with grid_bits set", op, d->grid_res);
        return false;
    }
    float step = vkd_volrend_step(d);
    float radius = radius_or_default(d->radius);
    if (d->step < 0 || d->radius < 0 || !(step > 0) || !isfinite(step) || !(radius > 0) || !isfinite(radius)) {
        vkd_stream_fail(s, VKD_ERR_INVALID,
                        "%s: step = %g, radius = %g: each must be positive and finite (or 0 for the default)", op,
                        d->step, d->radius);
        return false;
    }
    *p = (vkd_volrend_march_push){.origins = origins, .dirs = dirs, .near_far = near_far, .bits = d->grid_bits,
                                  .offsets = offsets, .rays = rays, .res = d->grid_res, .seed = d->seed,
                                  .stratified = d->stratified ? 1u : 0u, .radius = radius, .step = step,
                                  .inv_cell = d->grid_bits ? (float)d->grid_res / (2.0f * radius) : 0.0f};
    return true;
}

void vkd_volrend_march_count(vkd_stream* s, vkd_addr offsets, vkd_addr origins, vkd_addr dirs, vkd_addr near_far,
                             uint32_t rays, const vkd_volrend_march_desc* desc, vkd_addr scratch) {
    vkd_volrend_march_push p;
    if (!march_push(s, "volrend_march_count", &p, origins, dirs, near_far, offsets, rays, desc)) return;
    if (vkd_scan_scratch_bytes(rays) && !scratch) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "volrend_march_count: %u rays need %llu bytes of scratch, scratch is 0",
                        rays, (unsigned long long)vkd_scan_scratch_bytes(rays));
        return;
    }
    if (rays) vkd_stream_dispatch_1d(s, VKD_KERNEL(field_volrend_march_count), &p, sizeof p, rays, VOLREND_RAY_WG);
    vkd_scan_exclusive_u32(s, offsets, offsets, rays, scratch);
}

void vkd_volrend_march_emit(vkd_stream* s, const vkd_volrend_samples* out, vkd_addr offsets, vkd_addr origins,
                            vkd_addr dirs, vkd_addr near_far, uint32_t rays, const vkd_volrend_march_desc* desc) {
    vkd_volrend_march_push p;
    if (!march_push(s, "volrend_march_emit", &p, origins, dirs, near_far, offsets, rays, desc)) return;
    if (!out) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "volrend_march_emit: out is NULL");
        return;
    }
    p.positions = out->positions;
    p.sdirs = out->dirs;
    p.intervals = out->intervals;
    p.ray = out->ray;
    if (rays) vkd_stream_dispatch_1d(s, VKD_KERNEL(field_volrend_march_emit), &p, sizeof p, rays, VOLREND_RAY_WG);
}

// ---------------------------------------------------------------------------
// Compositing

static bool composite_check(vkd_stream* s, const char* op, vkd_addr offsets, vkd_addr sigma, vkd_addr rgb,
                            vkd_addr intervals, uint32_t rays, uint32_t rays_per_view) {
    if (!offsets || !sigma || !rgb || !intervals) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: offsets, sigma, rgb and intervals must all be given", op);
        return false;
    }
    if (rays_per_view == 0 || rays % rays_per_view) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: rays = %u is not a multiple of rays_per_view = %u", op, rays,
                        rays_per_view);
        return false;
    }
    return true;
}

void vkd_volrend_composite_forward(vkd_stream* s, const vkd_volrend_image* out, vkd_addr weights, vkd_addr offsets,
                                   vkd_addr sigma, vkd_addr rgb, vkd_addr intervals, vkd_addr normals, vkd_addr bg,
                                   uint32_t rays, uint32_t rays_per_view) {
    const char* op = "volrend_composite_forward";
    if (!out) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: out is NULL", op);
        return;
    }
    if (!composite_check(s, op, offsets, sigma, rgb, intervals, rays, rays_per_view)) return;
    if (out->normals && !normals) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: out->normals is set but the per-sample normals are 0", op);
        return;
    }
    vkd_volrend_composite_push p = {.rgb = out->rgb, .opacity = out->opacity, .depth = out->depth,
                                    .nrm = out->normals, .weights = weights, .offsets = offsets, .sigma = sigma,
                                    .srgb = rgb, .intervals = intervals, .snrm = normals, .bg = bg, .rays = rays,
                                    .rays_per_view = rays_per_view};
    if (rays)
        vkd_stream_dispatch_1d(s, VKD_KERNEL(field_volrend_composite_fwd), &p, sizeof p, rays, VOLREND_RAY_WG);
}

void vkd_volrend_composite_backward(vkd_stream* s, vkd_addr d_sigma, vkd_addr d_rgb, vkd_addr d_intervals,
                                    vkd_addr d_normals, vkd_addr d_bg, const vkd_volrend_image* dout, vkd_addr offsets,
                                    vkd_addr sigma, vkd_addr rgb, vkd_addr intervals, vkd_addr normals, vkd_addr bg,
                                    uint32_t rays, uint32_t rays_per_view) {
    const char* op = "volrend_composite_backward";
    if (!dout) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: dout is NULL", op);
        return;
    }
    if (!composite_check(s, op, offsets, sigma, rgb, intervals, rays, rays_per_view)) return;
    if (d_normals && !normals) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: d_normals is set but the per-sample normals are 0", op);
        return;
    }
    if (d_bg && !bg) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: d_bg is set but bg is 0", op);
        return;
    }
    vkd_volrend_composite_bwd_push p = {
        .d_sigma = d_sigma, .d_srgb = d_rgb, .d_intervals = d_intervals, .d_snrm = d_normals, .d_bg = d_bg,
        .g_rgb = dout->rgb, .g_opacity = dout->opacity, .g_depth = dout->depth, .g_nrm = dout->normals,
        .offsets = offsets, .sigma = sigma, .srgb = rgb, .intervals = intervals, .snrm = normals, .bg = bg,
        .rays = rays, .rays_per_view = rays_per_view};
    if (rays)
        vkd_stream_dispatch_1d(s, VKD_KERNEL(field_volrend_composite_bwd), &p, sizeof p, rays, VOLREND_RAY_WG);
}

// ---------------------------------------------------------------------------
// Normals

void vkd_volrend_normals_forward(vkd_stream* s, vkd_addr normals, vkd_addr grad, uint32_t n, float eps) {
    if (!normals || !grad) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "volrend_normals_forward: normals and grad must be given");
        return;
    }
    vkd_volrend_normals_push p = {.dst = normals, .grad = grad, .n = n, .eps = eps > 0 ? eps : 1e-12f};
    if (n) vkd_stream_dispatch_1d(s, VKD_KERNEL(field_volrend_normals_fwd), &p, sizeof p, n, 256);
}

void vkd_volrend_normals_backward(vkd_stream* s, vkd_addr d_grad, vkd_addr d_normals, vkd_addr grad, uint32_t n,
                                  float eps) {
    if (!d_grad) return;
    if (!d_normals || !grad) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "volrend_normals_backward: d_normals and grad must be given");
        return;
    }
    vkd_volrend_normals_push p = {.dst = d_grad, .grad = grad, .d_nrm = d_normals, .n = n,
                                  .eps = eps > 0 ? eps : 1e-12f};
    if (n) vkd_stream_dispatch_1d(s, VKD_KERNEL(field_volrend_normals_bwd), &p, sizeof p, n, 256);
}

// ---------------------------------------------------------------------------
// Shading

static bool shade_push(vkd_stream* s, const char* op, vkd_volrend_shade_push* p, vkd_addr albedo, vkd_addr normals,
                       vkd_addr positions, vkd_addr ray, vkd_addr lights, uint32_t n, uint32_t rays_per_view,
                       const vkd_volrend_shade_desc* d) {
    if (!d) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: desc is NULL", op);
        return false;
    }
    if ((unsigned)d->mode > VKD_VOLREND_SHADE_TEXTURELESS) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: mode = %d, expected albedo, lambertian or textureless", op,
                        (int)d->mode);
        return false;
    }
    bool lit = d->mode != VKD_VOLREND_SHADE_ALBEDO;
    if ((d->mode != VKD_VOLREND_SHADE_TEXTURELESS && !albedo) ||
        (lit && (!normals || !positions || !ray || !lights || rays_per_view == 0))) {
        vkd_stream_fail(s, VKD_ERR_INVALID,
                        "%s: albedo (unless textureless) and, when lit, normals, positions, ray, lights and "
                        "rays_per_view must be given",
                        op);
        return false;
    }
    bool amb0 = d->ambient[0] == 0 && d->ambient[1] == 0 && d->ambient[2] == 0;
    bool dif0 = d->diffuse[0] == 0 && d->diffuse[1] == 0 && d->diffuse[2] == 0;
    *p = (vkd_volrend_shade_push){.albedo = albedo, .nrm = normals, .positions = positions, .ray = ray,
                                  .lights = lights, .n = n, .rays_per_view = rays_per_view, .mode = (uint32_t)d->mode,
                                  .amb_r = amb0 ? 0.1f : d->ambient[0], .amb_g = amb0 ? 0.1f : d->ambient[1],
                                  .amb_b = amb0 ? 0.1f : d->ambient[2], .dif_r = dif0 ? 0.9f : d->diffuse[0],
                                  .dif_g = dif0 ? 0.9f : d->diffuse[1], .dif_b = dif0 ? 0.9f : d->diffuse[2]};
    return true;
}

void vkd_volrend_shade_forward(vkd_stream* s, vkd_addr color, vkd_addr albedo, vkd_addr normals, vkd_addr positions,
                               vkd_addr ray, vkd_addr lights, uint32_t n, uint32_t rays_per_view,
                               const vkd_volrend_shade_desc* desc) {
    vkd_volrend_shade_push p;
    if (!shade_push(s, "volrend_shade_forward", &p, albedo, normals, positions, ray, lights, n, rays_per_view, desc))
        return;
    if (!color) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "volrend_shade_forward: color is 0");
        return;
    }
    p.color = color;
    if (n) vkd_stream_dispatch_1d(s, VKD_KERNEL(field_volrend_shade_fwd), &p, sizeof p, n, 256);
}

void vkd_volrend_shade_backward(vkd_stream* s, vkd_addr d_albedo, vkd_addr d_normals, vkd_addr d_color,
                                vkd_addr albedo, vkd_addr normals, vkd_addr positions, vkd_addr ray, vkd_addr lights,
                                uint32_t n, uint32_t rays_per_view, const vkd_volrend_shade_desc* desc) {
    vkd_volrend_shade_push p;
    if (!shade_push(s, "volrend_shade_backward", &p, albedo, normals, positions, ray, lights, n, rays_per_view,
                    desc))
        return;
    if (!d_color) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "volrend_shade_backward: d_color is 0");
        return;
    }
    if (desc->mode != VKD_VOLREND_SHADE_LAMBERTIAN) d_albedo = desc->mode == VKD_VOLREND_SHADE_ALBEDO ? d_albedo : 0;
    if (desc->mode == VKD_VOLREND_SHADE_ALBEDO) d_normals = 0;
    if (!d_albedo && !d_normals) return;
    p.color = d_color;
    p.d_albedo = d_albedo;
    p.d_nrm = d_normals;
    if (n) vkd_stream_dispatch_1d(s, VKD_KERNEL(field_volrend_shade_bwd), &p, sizeof p, n, 256);
}

// ---------------------------------------------------------------------------
// Regularisers

static float opacity_eps(vkd_volrend_opacity_loss kind, float eps) {
    if (eps > 0) return eps;
    return kind == VKD_VOLREND_OPACITY_ENTROPY ? 1e-3f : 0.01f;
}

static bool opacity_kind_ok(vkd_stream* s, const char* op, vkd_volrend_opacity_loss kind) {
    if ((unsigned)kind > VKD_VOLREND_OPACITY_ENTROPY) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: kind = %d, expected L1, SQRT or ENTROPY", op, (int)kind);
        return false;
    }
    return true;
}

void vkd_volrend_opacity_loss_forward(vkd_stream* s, vkd_addr loss, vkd_addr opacity, uint32_t n,
                                      vkd_volrend_opacity_loss kind, float scale, float eps) {
    if (!opacity_kind_ok(s, "volrend_opacity_loss_forward", kind)) return;
    if (!loss || (n && !opacity)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "volrend_opacity_loss_forward: loss and opacity must be given");
        return;
    }
    vkd_volrend_loss_push p = {.loss = loss, .opacity = opacity, .n = n, .kind = (uint32_t)kind, .scale = scale,
                               .eps = opacity_eps(kind, eps)};
    vkd_stream_dispatch(s, VKD_KERNEL(field_volrend_opacity_loss_fwd), &p, sizeof p, 1, 1, 1);
}

void vkd_volrend_opacity_loss_backward(vkd_stream* s, vkd_addr d_opacity, float d_loss, vkd_addr opacity,
                                       uint32_t n, vkd_volrend_opacity_loss kind, float scale, float eps) {
    if (!opacity_kind_ok(s, "volrend_opacity_loss_backward", kind)) return;
    if (!d_opacity) return;
    if (n && !opacity) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "volrend_opacity_loss_backward: opacity is 0");
        return;
    }
    vkd_volrend_loss_push p = {.dst = d_opacity, .opacity = opacity, .n = n, .kind = (uint32_t)kind,
                               .scale = scale, .d_loss = d_loss, .eps = opacity_eps(kind, eps)};
    if (n) vkd_stream_dispatch_1d(s, VKD_KERNEL(field_volrend_opacity_loss_bwd), &p, sizeof p, n, 256);
}

void vkd_volrend_orientation_loss_forward(vkd_stream* s, vkd_addr loss, vkd_addr weights, vkd_addr normals,
                                          vkd_addr dirs, uint32_t n, float scale) {
    if (!loss || (n && (!weights || !normals || !dirs))) {
        vkd_stream_fail(s, VKD_ERR_INVALID,
                        "volrend_orientation_loss_forward: loss, weights, normals and dirs must be given");
        return;
    }
    vkd_volrend_loss_push p = {.loss = loss, .weights = weights, .nrm = normals, .dirs = dirs, .n = n,
                               .scale = scale};
    vkd_stream_dispatch(s, VKD_KERNEL(field_volrend_orient_loss_fwd), &p, sizeof p, 1, 1, 1);
}

void vkd_volrend_orientation_loss_backward(vkd_stream* s, vkd_addr d_normals, float d_loss, vkd_addr weights,
                                           vkd_addr normals, vkd_addr dirs, uint32_t n, float scale) {
    if (!d_normals) return;
    if (n && (!weights || !normals || !dirs)) {
        vkd_stream_fail(s, VKD_ERR_INVALID,
                        "volrend_orientation_loss_backward: weights, normals and dirs must be given");
        return;
    }
    vkd_volrend_loss_push p = {.dst = d_normals, .weights = weights, .nrm = normals, .dirs = dirs, .n = n,
                               .scale = scale, .d_loss = d_loss};
    if (n) vkd_stream_dispatch_1d(s, VKD_KERNEL(field_volrend_orient_loss_bwd), &p, sizeof p, n, 256);
}
