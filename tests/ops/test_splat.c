// Gaussian splatting forward: the GPU renderer (projection, binning, radix sort, tile
// rasterizer) against the float64 reference renderer, on scenes with partial tiles, several
// views, SH degrees 0 and 3, and Gaussians outside the frustum or behind the camera; the
// normals image against the reference and, for single Gaussians, against alpha times the
// normal the test computes itself (shortest axis, flipped toward the camera).
#include "test_splat_scene.h"

// all_outputs: alpha, depth and normals too (else rgb only).
static void check_forward(tu_ctx* t, vkd_splat_ctx* ctx, scene* s, bool all_outputs) {
    int B = s->d.views;
    size_t px = scene_pixels(s);
    tu_buf rgb = tu_alloc(t, 3 * px), alpha = tu_alloc(t, px), depth = tu_alloc(t, px), normal = tu_alloc(t, 3 * px);
    vkd_splat_outputs out = {.rgb = rgb.addr, .alpha = all_outputs ? alpha.addr : 0,
                             .depth = all_outputs ? depth.addr : 0, .normal = all_outputs ? normal.addr : 0};
    vkd_error e = {0};
    vkd_status st = vkd_splat_forward(ctx, t->s, &out, &s->p, s->cams, B, s->bgf, &e);
    tu_check(t, st == VKD_OK, "vkd_splat_forward%s%s", st ? ": " : "", st ? e.msg : "");
    tu_run(t);
    double* r_rgb = tu_alloc_d(3 * px);
    double* r_alpha = tu_alloc_d(px);
    double* r_depth = tu_alloc_d(px);
    double* r_normal = tu_alloc_d(3 * px);
    vkd_ref_splat_forward(r_rgb, r_alpha, r_depth, r_normal, &s->rp, s->cams, B, s->bg);
    tu_expect_buf(t, "rgb", rgb, r_rgb, 1e-5, 1e-4);
    if (all_outputs) {
        tu_expect_buf(t, "alpha", alpha, r_alpha, 1e-5, 1e-4);
        tu_expect_buf(t, "depth", depth, r_depth, 2e-5, 1e-4);
        tu_expect_buf(t, "normal", normal, r_normal, 1e-5, 1e-4);
    }
    // The images must not be trivially empty (a test that cannot fail is no test).
    double covered = 0;
    for (size_t i = 0; i < px; i++) covered += r_alpha[i] > 0.01;
    vkd_splat_stats stats;
    vkd_splat_ctx_stats(ctx, &stats);
    if (s->d.n >= 5)
        tu_check(t, covered > 0 && stats.intersections > 0, "scene covers %.0f of %zu pixels, %llu tile pairs",
                 covered, px, (unsigned long long)stats.intersections);
    free(r_rgb);
    free(r_alpha);
    free(r_depth);
    free(r_normal);
    tu_free(t, &rgb);
    tu_free(t, &alpha);
    tu_free(t, &depth);
    tu_free(t, &normal);
}

// One flat Gaussian seen from four sides: every pixel's normal must be alpha times the
// Gaussian's own normal, which the test derives from the quaternion (the column of R of the
// smallest scale) and flips toward each camera. Both orientations must occur.
static void single_normal(tu_ctx* t, vkd_splat_ctx* ctx, int flat_axis) {
    tu_case(t, "normals of one flat Gaussian, thin axis %d", flat_axis);
    scene_desc d = {.n = 1, .deg = 0, .views = 4, .width = 40, .height = 32, .spread = 0.1, .scale_lo = 0.3,
                    .scale_hi = 0.5, .logit_lo = 0, .logit_hi = 1, .sh_scale = 0.3, .distance = 3};
    scene s = scene_make(t, &d);
    s.log_scales[flat_axis] = log(0.04);
    scene_round(s.log_scales, 3);
    tu_free(t, &s.g_log_scales);
    s.g_log_scales = tu_upload_d(t, s.log_scales, 3);
    s.p.log_scales = s.g_log_scales.addr;
    // A random rotation whose thin axis is far from vertical, so the orbiting cameras see both
    // of its sides. Column flat_axis of the rotation matrix is that axis in world space.
    double* q = s.quats;
    double axis[3];
    for (;;) {
        for (int k = 0; k < 4; k++) q[k] = tu_normal(t);
        scene_round(q, 4);
        double qn = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
        double w = q[0] / qn, x = q[1] / qn, y = q[2] / qn, z = q[3] / qn;
        double cols[3][3] = {{1 - 2 * (y * y + z * z), 2 * (x * y + w * z), 2 * (x * z - w * y)},
                             {2 * (x * y - w * z), 1 - 2 * (x * x + z * z), 2 * (y * z + w * x)},
                             {2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)}};
        memcpy(axis, cols[flat_axis], sizeof axis);
        if (fabs(axis[1]) < 0.5) break;
    }
    tu_free(t, &s.g_quats);
    s.g_quats = tu_upload_d(t, q, 4);
    s.p.quats = s.g_quats.addr;
    size_t px = scene_pixels(&s), hw = (size_t)d.width * d.height;
    tu_buf alpha = tu_alloc(t, px), normal = tu_alloc(t, 3 * px);
    vkd_splat_outputs out = {.alpha = alpha.addr, .normal = normal.addr};
    vkd_error e = {0};
    vkd_status st = vkd_splat_forward(ctx, t->s, &out, &s.p, s.cams, d.views, NULL, &e);
    tu_check(t, st == VKD_OK, "vkd_splat_forward%s%s", st ? ": " : "", st ? e.msg : "");
    tu_run(t);
    double* a = tu_download_d(t, alpha);
    double* want = tu_alloc_d(3 * px);
    int flips = 0;
    double covered = 0;
    for (int b = 0; b < d.views; b++) {
        float cp[3];
        vkd_camera_position(&s.cams[b], cp);
        double facing = 0;
        for (int k = 0; k < 3; k++) facing += axis[k] * (cp[k] - s.means[k]);
        double sgn = facing >= 0 ? 1 : -1;
        flips += sgn < 0;
        for (size_t i = 0; i < hw; i++) {
            covered += a[b * hw + i] > 0.05;
            for (int k = 0; k < 3; k++) want[(b * 3 + k) * hw + i] = sgn * axis[k] * a[b * hw + i];
        }
    }
    tu_expect_buf(t, "normal = alpha * (flipped shortest axis)", normal, want, 1e-5, 1e-6);
    double* r_normal = tu_alloc_d(3 * px);
    vkd_ref_splat_forward(NULL, NULL, NULL, r_normal, &s.rp, s.cams, d.views, NULL);
    tu_check_close(t, "reference normal = alpha * (flipped shortest axis)", r_normal, want, 3 * px, 1e-5, 1e-6);
    tu_check(t, flips > 0 && flips < d.views && covered > 50,
             "the normal faces away from %d of %d cameras (both orientations tested), %.0f pixels covered", flips,
             d.views, covered);
    free(a);
    free(want);
    free(r_normal);
    tu_free(t, &alpha);
    tu_free(t, &normal);
    scene_free(t, &s);
}

static void forward_case(tu_ctx* t, vkd_splat_ctx* ctx, scene_desc d, bool all_outputs) {
    tu_case(t, "forward n=%u deg=%d views=%d %dx%d spread=%.1f%s", d.n, d.deg, d.views, d.width, d.height, d.spread,
            all_outputs ? "" : " rgb only");
    scene s = scene_make(t, &d);
    check_forward(t, ctx, &s, all_outputs);
    scene_free(t, &s);
}

// Arguments the renderer must refuse with a message, not a crash.
static void bad_arguments(tu_ctx* t, vkd_splat_ctx* ctx) {
    tu_case(t, "bad arguments");
    scene_desc d = {.n = 3, .deg = 1, .views = 2, .width = 16, .height = 16, .spread = 0.3, .scale_lo = 0.1,
                    .scale_hi = 0.2, .logit_lo = 0, .logit_hi = 1, .sh_scale = 0.3, .distance = 3};
    scene s = scene_make(t, &d);
    vkd_splat_outputs out = {0};
    vkd_error e = {0};
    s.cams[1].width = 17;
    vkd_status st = vkd_splat_forward(ctx, t->s, &out, &s.p, s.cams, 2, NULL, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "camera 1"), "mixed camera sizes refused: %s", e.msg);
    s.cams[1].width = 16;
    vkd_splat_params p = s.p;
    p.sh_degree = 4;
    st = vkd_splat_forward(ctx, t->s, &out, &p, s.cams, 2, NULL, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "sh_degree"), "SH degree 4 refused: %s", e.msg);
    p = s.p;
    p.sh_stride = 2;
    st = vkd_splat_forward(ctx, t->s, &out, &p, s.cams, 2, NULL, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "sh_stride"), "short SH stride refused: %s", e.msg);
    p = s.p;
    p.quats = 0;
    st = vkd_splat_forward(ctx, t->s, &out, &p, s.cams, 2, NULL, &e);
    tu_check(t, st == VKD_ERR_INVALID, "missing parameter refused: %s", e.msg);
    st = vkd_splat_forward(ctx, t->s, &out, &s.p, s.cams, 0, NULL, &e);
    tu_check(t, st == VKD_ERR_INVALID, "zero views refused: %s", e.msg);
    tu_run(t);
    scene_free(t, &s);
}

// SH coefficients stored with a larger stride than the active degree needs (the container keeps
// degree 3 while training raises the active degree).
static void strided_sh(tu_ctx* t, vkd_splat_ctx* ctx) {
    tu_case(t, "forward deg=1 with stride 16");
    scene_desc d = {.n = 40, .deg = 3, .views = 2, .width = 33, .height = 20, .spread = 0.6, .scale_lo = 0.05,
                    .scale_hi = 0.3, .logit_lo = -2, .logit_hi = 3, .sh_scale = 0.4, .distance = 3};
    scene s = scene_make(t, &d);
    s.p.sh_degree = 1, s.p.sh_stride = 16;
    s.rp.sh_degree = 1, s.rp.sh_stride = 16;
    check_forward(t, ctx, &s, true);
    scene_free(t, &s);
}

void test_splat(tu_ctx* t) {
    vkd_splat_ctx* ctx = NULL;
    vkd_error e = {0};
    if (!tu_check(t, vkd_splat_ctx_create(t->gpu, NULL, &ctx, &e) == VKD_OK, "context: %s", e.msg)) return;
    const uint32_t counts[] = {0, 1, 5, 50, 500};
    const int sizes[][2] = {{32, 24}, {40, 40}};
    for (size_t si = 0; si < 2; si++)
        for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ci++)
            for (int deg = 0; deg <= 3; deg += 3) {
                // Few Gaussians: big ones close to the center so they are seen; many: a wider cloud,
                // part of it outside the frustum and behind the cameras (which orbit at 3).
                bool many = counts[ci] >= 50;
                scene_desc d = {
                    .n = counts[ci], .deg = deg, .views = 2, .width = sizes[si][0], .height = sizes[si][1],
                    .spread = many ? 1.6 : 0.5, .scale_lo = many ? 0.02 : 0.1, .scale_hi = many ? 0.3 : 0.5,
                    .logit_lo = -3, .logit_hi = 4, .sh_scale = 0.5, .distance = 3,
                };
                forward_case(t, ctx, d, true);
            }
    // One view, a single partial tile; three views; only rgb requested.
    forward_case(t, ctx, (scene_desc){.n = 30, .deg = 2, .views = 1, .width = 7, .height = 5, .spread = 0.4,
                                      .scale_lo = 0.05, .scale_hi = 0.4, .logit_lo = -1, .logit_hi = 3,
                                      .sh_scale = 0.5, .distance = 3}, true);
    forward_case(t, ctx, (scene_desc){.n = 200, .deg = 1, .views = 3, .width = 48, .height = 33, .spread = 0.8,
                                      .scale_lo = 0.02, .scale_hi = 0.2, .logit_lo = -2, .logit_hi = 5,
                                      .sh_scale = 0.5, .distance = 3}, false);
    // Dense and opaque: most pixels saturate (the early stop at T < 1e-4) and tiles hold several
    // batches of Gaussians.
    if (!t->quick)
        forward_case(t, ctx, (scene_desc){.n = 3000, .deg = 0, .views = 2, .width = 64, .height = 48,
                                          .spread = 0.5, .scale_lo = 0.03, .scale_hi = 0.15, .logit_lo = 1,
                                          .logit_hi = 6, .sh_scale = 0.5, .distance = 3}, true);
    strided_sh(t, ctx);
    for (int axis = 0; axis < 3; axis++) single_normal(t, ctx, axis);
    bad_arguments(t, ctx);
    vkd_splat_ctx_destroy(ctx);
    // The other pixels-per-invocation variants of the rasterizer (the default is 16 on CPUs, 1 on GPUs).
    const uint32_t ppts[] = {1, 4};
    for (size_t k = 0; k < 2; k++) {
        tu_case(t, "context with %u pixels per invocation", ppts[k]);
        vkd_splat_desc desc = {.pixels_per_thread = ppts[k]};
        if (!tu_check(t, vkd_splat_ctx_create(t->gpu, &desc, &ctx, &e) == VKD_OK, "context: %s", e.msg)) return;
        forward_case(t, ctx, (scene_desc){.n = 500, .deg = 3, .views = 2, .width = 40, .height = 40, .spread = 1.6,
                                          .scale_lo = 0.02, .scale_hi = 0.3, .logit_lo = -3, .logit_hi = 4,
                                          .sh_scale = 0.5, .distance = 3}, true);
        forward_case(t, ctx, (scene_desc){.n = t->quick ? 800 : 3000, .deg = 0, .views = 2, .width = 64, .height = 48,
                                          .spread = 0.5, .scale_lo = 0.03, .scale_hi = 0.15, .logit_lo = 1,
                                          .logit_hi = 6, .sh_scale = 0.5, .distance = 3}, true);
        vkd_splat_ctx_destroy(ctx);
    }
    tu_case(t, "bad context");
    ctx = NULL;
    vkd_status st = vkd_splat_ctx_create(t->gpu, &(vkd_splat_desc){.pixels_per_thread = 3}, &ctx, &e);
    tu_check(t, st == VKD_ERR_INVALID && !ctx, "3 pixels per invocation refused: %s", e.msg);
}
