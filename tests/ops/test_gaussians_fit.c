// Multi-view fitting, end to end: a known Gaussian object (three opaque colored ellipsoids)
// is rendered from orbit cameras as targets; a second model initialised as a random gray
// ball is trained with the renderer's backward, the MSE loss and the per-group Adam step
// (with a densify/prune pass), and held-out views between the training ones must reach a
// PSNR that only a real fit gets (and gain a large margin over the initial state).
#include "harness.h"
#include "vkdream/gaussians.h"
#include "vkdream/nn/reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FIT_W 48
#define FIT_H 48
#define FIT_TRAIN 16
#define FIT_HELD 4
#define FIT_BATCH 4
#define FIT_PIX (3 * FIT_W * FIT_H)

static double now_s(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool ok_status(tu_ctx* t, vkd_status st, const vkd_error* err, const char* what) {
    if (st == VKD_OK) return true;
    return tu_check(t, false, "%s: %s", what, err->msg);
}

// Uniform point in the ellipsoid (center c, semi-axes r) by rejection.
static void ellipsoid_point(tu_ctx* t, const double c[3], const double r[3], float out[3]) {
    double u[3];
    do {
        for (int k = 0; k < 3; k++) u[k] = tu_uniform(t, -1, 1);
    } while (u[0] * u[0] + u[1] * u[1] + u[2] * u[2] > 1);
    for (int k = 0; k < 3; k++) out[k] = (float)(c[k] + r[k] * u[k]);
}

// The ground-truth object: three ellipsoids of distinct colors made of opaque Gaussians.
static void make_truth(tu_ctx* t, vkd_gaussians_host* h) {
    static const double centers[3][3] = {{-0.28, 0.08, 0.0}, {0.28, 0.02, 0.06}, {0.0, -0.3, -0.08}};
    static const double radii[3][3] = {{0.2, 0.3, 0.2}, {0.24, 0.18, 0.24}, {0.32, 0.1, 0.2}};
    static const double colors[3][3] = {{0.9, 0.15, 0.1}, {0.1, 0.8, 0.2}, {0.15, 0.25, 0.95}};
    static const uint32_t counts[3] = {120, 100, 80};
    uint32_t i = 0;
    for (int b = 0; b < 3; b++)
        for (uint32_t j = 0; j < counts[b]; j++, i++) {
            ellipsoid_point(t, centers[b], radii[b], &h->means[3 * i]);
            for (int k = 0; k < 3; k++) h->log_scales[3 * i + k] = (float)log(0.07);
            h->quats[4 * i] = 1, h->quats[4 * i + 1] = h->quats[4 * i + 2] = h->quats[4 * i + 3] = 0;
            h->opacity_logits[i] = 4.0f;
            for (int k = 0; k < 3; k++) h->sh[3 * i + k] = (float)((colors[b][k] - 0.5) / VKD_SH_C0);
        }
}

// Mean PSNR (peak 1) of the held-out renders against their targets; *max_err gets the largest
// per-pixel difference (the background is most of the image, so PSNR alone is lenient).
static double psnr_views(const double* got, const double* want, int views, double* max_err) {
    double sum = 0;
    *max_err = 0;
    for (int v = 0; v < views; v++) {
        double se = 0;
        for (size_t i = 0; i < FIT_PIX; i++) {
            double d = got[(size_t)v * FIT_PIX + i] - want[(size_t)v * FIT_PIX + i];
            se += d * d;
            if (fabs(d) > *max_err) *max_err = fabs(d);
        }
        double mse = se / FIT_PIX;
        sum += 10 * log10(1 / (mse > 1e-12 ? mse : 1e-12));
    }
    return sum / views;
}

// Renders the held-out views of g and returns their PSNR (NaN on failure).
static double eval_heldout(tu_ctx* t, vkd_splat_ctx* ctx, vkd_gaussians* g, const vkd_camera* cams, tu_buf out,
                           const double* targets, double* max_err) {
    vkd_error err = {0};
    vkd_splat_params p;
    vkd_gaussians_params(g, &p);
    vkd_splat_outputs o = {.rgb = out.addr};
    if (!ok_status(t, vkd_splat_forward(ctx, t->s, &o, &p, cams, FIT_HELD, NULL, &err), &err, "held-out forward"))
        return NAN;
    if (!tu_run(t)) return NAN;
    double* got = tu_download_d(t, out);
    double r = psnr_views(got, targets, FIT_HELD, max_err);
    free(got);
    return r;
}

void test_gaussians_fit(tu_ctx* t) {
    tu_case(t, "fit 300-Gaussian object from %d views %dx%d, %d held out", FIT_TRAIN, FIT_W, FIT_H, FIT_HELD);
    const int steps = 240;
    double t0 = now_s();
    vkd_error err = {0};

    // Cameras: training views spread over azimuth and elevation, held-out views in between.
    vkd_camera cams[FIT_TRAIN + FIT_HELD];
    static const float train_el[4] = {-10, 10, 25, 40};
    static const float held_el[FIT_HELD] = {0, 15, 30, 20};
    for (int i = 0; i < FIT_TRAIN; i++)
        cams[i] = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 22.5f * (float)i, .elevation_deg = train_el[i % 4],
                                                     .distance = 2.6f, .width = FIT_W, .height = FIT_H});
    for (int j = 0; j < FIT_HELD; j++)
        cams[FIT_TRAIN + j] = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 33.75f + 90.0f * (float)j,
                                                                 .elevation_deg = held_el[j], .distance = 2.6f,
                                                                 .width = FIT_W, .height = FIT_H});

    vkd_splat_ctx* ctx = NULL;
    vkd_gaussians *truth = NULL, *model = NULL;
    vkd_gaussians_host h = {0};
    tu_buf targets = tu_alloc(t, (size_t)(FIT_TRAIN + FIT_HELD) * FIT_PIX);
    tu_buf rgb = tu_alloc(t, (size_t)FIT_BATCH * FIT_PIX);
    tu_buf drgb = tu_alloc(t, (size_t)FIT_BATCH * FIT_PIX);
    tu_buf dloss = tu_upload_f(t, (const float[]){1.0f}, 1);
    double* host_targets = NULL;
    if (!ok_status(t, vkd_splat_ctx_create(t->gpu, NULL, &ctx, &err), &err, "splat ctx")) goto done;

    // Ground truth and its renders (all 20 views in one call).
    if (!ok_status(t, vkd_gaussians_create(t->gpu, &(vkd_gaussians_desc){.capacity = 512}, &truth, &err), &err,
                   "create truth"))
        goto done;
    if (!ok_status(t, vkd_gaussians_host_alloc(&h, 300, 0, &err), &err, "host alloc")) goto done;
    make_truth(t, &h);
    if (!ok_status(t, vkd_gaussians_upload(truth, t->s, &h, NULL, NULL, &err), &err, "upload truth")) goto done;
    {
        vkd_splat_params tp;
        vkd_gaussians_params(truth, &tp);
        vkd_splat_outputs o = {.rgb = targets.addr};
        if (!ok_status(t, vkd_splat_forward(ctx, t->s, &o, &tp, cams, FIT_TRAIN + FIT_HELD, NULL, &err), &err,
                       "target forward"))
            goto done;
        if (!tu_run(t)) goto done;
    }
    host_targets = tu_download_d(t, targets);
    const double* held_targets = host_targets + (size_t)FIT_TRAIN * FIT_PIX;
    {
        // The targets must show the object: enough lit pixels in every view.
        int min_lit = FIT_W * FIT_H;
        for (int v = 0; v < FIT_TRAIN + FIT_HELD; v++) {
            int lit = 0;
            for (int i = 0; i < FIT_W * FIT_H; i++) {
                const double* px = host_targets + (size_t)v * FIT_PIX;
                lit += px[i] + px[FIT_W * FIT_H + i] + px[2 * FIT_W * FIT_H + i] > 0.3;
            }
            if (lit < min_lit) min_lit = lit;
        }
        tu_check(t, min_lit > FIT_W * FIT_H / 10 && min_lit < FIT_W * FIT_H * 9 / 10,
                 "targets: fewest lit pixels in a view %d of %d", min_lit, FIT_W * FIT_H);
    }

    // The model: a random gray ball, rates raised for a tiny scene and a short schedule.
    vkd_gaussians_desc md = {
        .capacity = 4096,
        .seed = 99,
        .lr = {.position_init = 2e-3f, .position_final = 2e-4f, .position_max_steps = (uint32_t)steps,
               .feature = 0.03f, .opacity = 0.05f, .scaling = 0.01f, .rotation = 0.005f},
    };
    if (!ok_status(t, vkd_gaussians_create(t->gpu, &md, &model, &err), &err, "create model")) goto done;
    if (!ok_status(t,
                   vkd_gaussians_init_sphere(model, t->s,
                                             &(vkd_gaussians_sphere_desc){.count = 1500, .radius = 0.6f,
                                                                         .color = VKD_GAUSSIANS_COLOR_GRAY, .seed = 5},
                                             &err),
                   &err, "init sphere"))
        goto done;
    tu_buf eval = rgb;  // the held-out renders reuse the batch buffer (FIT_HELD <= FIT_BATCH)
    double err0 = NAN, err1 = NAN;
    double psnr0 = eval_heldout(t, ctx, model, cams + FIT_TRAIN, eval, held_targets, &err0);

    // Training: a shuffled pass over the training views, FIT_BATCH per step.
    int order[FIT_TRAIN];
    for (int i = 0; i < FIT_TRAIN; i++) order[i] = i;
    int pos = FIT_TRAIN;
    uint32_t count0 = vkd_gaussians_count(model), count_mid = count0;
    for (int step = 0; step < steps; step++) {
        vkd_camera batch[FIT_BATCH];
        int idx[FIT_BATCH];
        for (int b = 0; b < FIT_BATCH; b++) {
            if (pos == FIT_TRAIN) {
                for (int i = FIT_TRAIN - 1; i > 0; i--) {
                    int j = (int)tu_uniform(t, 0, i + 1);
                    if (j > i) j = i;
                    int x = order[i];
                    order[i] = order[j], order[j] = x;
                }
                pos = 0;
            }
            idx[b] = order[pos++];
            batch[b] = cams[idx[b]];
        }
        vkd_splat_params p;
        vkd_splat_grads g;
        vkd_splat_densify_stats stats;
        vkd_gaussians_params(model, &p);
        vkd_gaussians_grads(model, &g);
        vkd_gaussians_stats(model, &stats);
        vkd_splat_outputs o = {.rgb = rgb.addr};
        if (!ok_status(t, vkd_splat_forward(ctx, t->s, &o, &p, batch, FIT_BATCH, NULL, &err), &err, "forward"))
            goto done;
        vkd_stream_fill(t->s, drgb.addr, (uint32_t)drgb.n, 0);
        for (int b = 0; b < FIT_BATCH; b++)
            vkd_mse_loss_backward(t->s, drgb.addr + 4 * (vkd_addr)b * FIT_PIX, 0, dloss.addr,
                                  rgb.addr + 4 * (vkd_addr)b * FIT_PIX, targets.addr + 4 * (vkd_addr)idx[b] * FIT_PIX,
                                  FIT_PIX);
        vkd_splat_outputs d = {.rgb = drgb.addr};
        if (!ok_status(t, vkd_splat_backward(ctx, t->s, &g, &stats, &d, &p, batch, FIT_BATCH, &err), &err,
                       "backward"))
            goto done;
        vkd_gaussians_step(model, t->s);
        vkd_gaussians_zero_grad(model, t->s);
        if (step == steps / 2 - 1) {
            // Prune what the fit made transparent and densify where the view-space gradients
            // stay high (the threshold matches the mean-reduced loss of a few views).
            vkd_gaussians_densify_desc dd = {.grad_threshold = 2e-5f, .min_opacity = 0.02f, .no_size_prune = true};
            if (!ok_status(t, vkd_gaussians_densify(model, t->s, &dd, &err), &err, "densify")) goto done;
            count_mid = vkd_gaussians_count(model);
        }
    }
    if (!tu_run(t)) goto done;
    double psnr1 = eval_heldout(t, ctx, model, cams + FIT_TRAIN, eval, held_targets, &err1);
    double secs = now_s() - t0;
    // Measured here (lavapipe): 52.4 dB, max error 0.041, from 15.6 dB and 0.51.
    tu_check(t, psnr1 >= 35.0,
             "held-out PSNR %.2f dB >= 35 (initial %.2f dB; %d steps x %d views; Gaussians %u -> %u; %.1f s)", psnr1,
             psnr0, steps, FIT_BATCH, count0, count_mid, secs);
    tu_check(t, psnr1 - psnr0 >= 15.0, "held-out PSNR gain %.2f dB >= 15 (%.2f -> %.2f)", psnr1 - psnr0, psnr0,
             psnr1);
    tu_check(t, err1 <= 0.2, "held-out max pixel error %.4f <= 0.2 (initial %.4f)", err1, err0);

done:
    free(host_targets);
    vkd_gaussians_host_free(&h);
    if (model) vkd_gaussians_destroy(model);
    if (truth) vkd_gaussians_destroy(truth);
    if (ctx) vkd_splat_ctx_destroy(ctx);
    tu_free(t, &targets);
    tu_free(t, &rgb);
    tu_free(t, &drgb);
    tu_free(t, &dloss);
}
