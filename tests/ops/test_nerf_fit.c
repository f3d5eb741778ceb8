// Multi-view fitting, end to end: a known analytic object (three soft-edged colored spheres in
// front of a direction-dependent background) is ray-marched in float64 on the host from orbit
// cameras; a vkd_nerf starting from its blob initialisation is trained through render, the MSE
// image gradient, backward, the per-group Adam step and occupancy-grid updates, and held-out views
// between the training ones must reach a PSNR only a real fit gets (and gain a large margin over
// the initial state).
#include "harness.h"
#include "vkdream/nerf.h"
#include "vkdream/nn/reduce.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FIT_W 32
#define FIT_H 32
#define FIT_TRAIN 16
#define FIT_HELD 4
#define FIT_BATCH 2
#define FIT_PIX (3 * FIT_W * FIT_H)

static double now_s(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// CPU seconds of the whole process (lavapipe's threads included): steadier than wall time on a
// shared machine.
static double cpu_s(void) { return (double)clock() / CLOCKS_PER_SEC; }

static bool ok_status(tu_ctx* t, vkd_status st, const vkd_error* err, const char* what) {
    if (st == VKD_OK) return true;
    return tu_check(t, false, "%s: %s", what, err->msg);
}

// ---------------------------------------------------------------------------
// The ground truth: density S * sigmoid((r_k - |x - c_k|) / EDGE) per sphere, color the
// density-weighted mean of the spheres' colors, composited front to back with a fine step.

#define GT_SPHERES 3
static const double gt_center[GT_SPHERES][3] = {{-0.22, 0.1, 0.0}, {0.25, 0.05, 0.08}, {0.0, -0.27, -0.1}};
static const double gt_radius[GT_SPHERES] = {0.27, 0.22, 0.2};
static const double gt_color[GT_SPHERES][3] = {{0.9, 0.15, 0.1}, {0.1, 0.8, 0.2}, {0.15, 0.25, 0.95}};
#define GT_DENSITY 60.0
#define GT_EDGE 0.01
#define GT_HULL 0.65

static void gt_background(const double d[3], double out[3]) {
    for (int k = 0; k < 3; k++) out[k] = 0.55 + 0.35 * d[k] * (k == 1 ? -1 : 1);
}

static double gt_pixel(const vkd_camera* cam, int x, int y, double out[3]) {
    const float* m = cam->viewmat;
    // Camera center -R^T t and the world direction R^T (pixel ray in camera space).
    double o[3], dc[3] = {(x + 0.5 - cam->cx) / cam->fx, (y + 0.5 - cam->cy) / cam->fy, 1}, d[3], len = 0;
    for (int i = 0; i < 3; i++) {
        o[i] = -(m[i] * m[3] + m[4 + i] * m[7] + m[8 + i] * m[11]);
        d[i] = m[i] * dc[0] + m[4 + i] * dc[1] + m[8 + i] * dc[2];
        len += d[i] * d[i];
    }
    for (int i = 0; i < 3; i++) d[i] /= sqrt(len);
    double T = 1, C[3] = {0, 0, 0}, bg[3];
    // Every sphere lies inside |x| <= GT_HULL: march only that chord of the ray.
    double b = o[0] * d[0] + o[1] * d[1] + o[2] * d[2], c = o[0] * o[0] + o[1] * o[1] + o[2] * o[2];
    double disc = b * b - (c - GT_HULL * GT_HULL);
    double t_end = disc > 0 ? -b + sqrt(disc) : 0;
    const double dt = 1.0 / 1024;
    for (double tt = disc > 0 ? -b - sqrt(disc) : 0; tt < t_end && T > 1e-6; tt += dt) {
        double p[3] = {o[0] + tt * d[0], o[1] + tt * d[1], o[2] + tt * d[2]};
        double sig = 0, col[3] = {0, 0, 0};
        for (int k = 0; k < GT_SPHERES; k++) {
            double r2 = 0;
            for (int i = 0; i < 3; i++) r2 += (p[i] - gt_center[k][i]) * (p[i] - gt_center[k][i]);
            double s = GT_DENSITY / (1 + exp(-(gt_radius[k] - sqrt(r2)) / GT_EDGE));
            sig += s;
            for (int i = 0; i < 3; i++) col[i] += s * gt_color[k][i];
        }
        if (sig < 1e-9) continue;
        double a = 1 - exp(-sig * dt);
        for (int i = 0; i < 3; i++) C[i] += T * a * col[i] / sig;
        T *= 1 - a;
    }
    gt_background(d, bg);
    for (int i = 0; i < 3; i++) out[i] = C[i] + T * bg[i];
    return 1 - T;
}

// NCHW float64 images of the views and their opacities (views, H, W).
static double* gt_render(const vkd_camera* cams, int views, double** alpha) {
    double* img = tu_alloc_d((size_t)views * FIT_PIX);
    *alpha = tu_alloc_d((size_t)views * FIT_W * FIT_H);
    for (int v = 0; v < views; v++)
        for (int y = 0; y < FIT_H; y++)
            for (int x = 0; x < FIT_W; x++) {
                double c[3];
                (*alpha)[((size_t)v * FIT_H + y) * FIT_W + x] = gt_pixel(&cams[v], x, y, c);
                for (int k = 0; k < 3; k++) img[(size_t)v * FIT_PIX + (size_t)k * FIT_W * FIT_H + y * FIT_W + x] = c[k];
            }
    return img;
}

// Held-out metrics (peak 1): PSNR over all pixels, PSNR over the object's pixels (ground-truth
// opacity > 0.5, so a fit of the background alone cannot pass), and the share of pixels off by
// more than 0.1 (edges alias at this resolution, so the largest error says little).
typedef struct fit_metrics {
    double psnr, psnr_object, bad_share;
} fit_metrics;

static double psnr_of(double se, double count) {
    double mse = se / count;
    return 10 * log10(1 / (mse > 1e-12 ? mse : 1e-12));
}

static fit_metrics metrics(const double* got, const double* want, const double* alpha, int views) {
    fit_metrics m = {0, 0, 0};
    double se_obj = 0, n_obj = 0, bad = 0;
    for (int v = 0; v < views; v++) {
        double se = 0;
        for (size_t i = 0; i < FIT_PIX; i++) {
            double d = got[(size_t)v * FIT_PIX + i] - want[(size_t)v * FIT_PIX + i];
            se += d * d;
            bad += fabs(d) > 0.1;
            if (alpha[(size_t)v * FIT_W * FIT_H + i % (FIT_W * FIT_H)] > 0.5) se_obj += d * d, n_obj++;
        }
        m.psnr += psnr_of(se, FIT_PIX) / views;
    }
    m.psnr_object = psnr_of(se_obj, n_obj > 0 ? n_obj : 1);
    m.bad_share = bad / ((double)views * FIT_PIX);
    return m;
}

static fit_metrics eval_heldout(tu_ctx* t, vkd_nerf* n, const vkd_camera* cams, tu_buf out, const double* want,
                                const double* alpha) {
    vkd_error err = {0};
    vkd_volrend_image o = {.rgb = out.addr};
    if (!ok_status(t, vkd_nerf_render(n, t->s, &o, cams, FIT_HELD, NULL, &err), &err, "held-out render") || !tu_run(t))
        return (fit_metrics){NAN, NAN, NAN};
    double* got = tu_download_d(t, out);
    fit_metrics m = metrics(got, want, alpha, FIT_HELD);
    free(got);
    return m;
}

void test_nerf_fit(tu_ctx* t) {
    const int steps = 200;
    tu_case(t, "fit a NeRF to 3 colored spheres from %d views %dx%d, %d held out, %d steps", FIT_TRAIN, FIT_W, FIT_H,
            FIT_HELD, steps);
    double t0 = now_s(), c0 = cpu_s();
    vkd_camera cams[FIT_TRAIN + FIT_HELD];
    static const float train_el[4] = {-10, 10, 25, 40};
    static const float held_el[FIT_HELD] = {0, 15, 30, 20};
    for (int i = 0; i < FIT_TRAIN; i++)
        cams[i] = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 22.5f * (float)i,
                                                     .elevation_deg = train_el[i % 4],
                                                     .distance = 2.4f,
                                                     .width = FIT_W,
                                                     .height = FIT_H});
    for (int j = 0; j < FIT_HELD; j++)
        cams[FIT_TRAIN + j] = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 33.75f + 90.0f * (float)j,
                                                                 .elevation_deg = held_el[j],
                                                                 .distance = 2.4f,
                                                                 .width = FIT_W,
                                                                 .height = FIT_H});
    double* alpha = NULL;
    double* host_targets = gt_render(cams, FIT_TRAIN + FIT_HELD, &alpha);
    const double* held_alpha = alpha + (size_t)FIT_TRAIN * FIT_W * FIT_H;
    double t_gt = now_s() - t0;
    const double* held_targets = host_targets + (size_t)FIT_TRAIN * FIT_PIX;
    tu_buf targets = tu_upload_d(t, host_targets, (size_t)(FIT_TRAIN + FIT_HELD) * FIT_PIX);
    tu_buf rgb = tu_alloc(t, (size_t)FIT_BATCH * FIT_PIX), drgb = tu_alloc(t, (size_t)FIT_BATCH * FIT_PIX);
    tu_buf eval = tu_alloc(t, (size_t)FIT_HELD * FIT_PIX);
    tu_buf dloss = tu_upload_f(t, (const float[]){1.0f}, 1);

    // A reduced field so the fit runs in seconds on a CPU: 8 levels from 8 to ~137 cells,
    // 2^14 entries, 32-wide MLPs; 96 steps across the cube's diagonal, a 32^3 grid.
    vkd_nerf_desc desc = {
        .field = {.grid = {.levels = 8, .log2_table = 14, .base_resolution = 8, .per_level_scale = 1.5f},
                  .hidden = 32,
                  .blob_radius = 0.6f,
                  .seed = 3},
        .num_steps = 96,
        .grid_resolution = 32,
        .grid_update_every = 8,
        .grid_warmup_steps = 64,
        .lr = {.grid = 0.02f, .density_mlp = 0.005f, .feature_mlp = 0.005f, .background = 0.01f},
    };
    vkd_error err = {0};
    vkd_nerf* n = NULL;
    if (!ok_status(t, vkd_nerf_create(t->gpu, &desc, &n, &err), &err, "create")) goto done;
    fit_metrics m0 = eval_heldout(t, n, cams + FIT_TRAIN, eval, held_targets, held_alpha);

    int order[FIT_TRAIN];
    for (int i = 0; i < FIT_TRAIN; i++) order[i] = i;
    int pos = FIT_TRAIN;
    uint64_t samples = 0;
    for (int step = 0; step < steps; step++) {
        if (!ok_status(t, vkd_nerf_update_occupancy(n, t->s, (uint32_t)step, &err), &err, "occupancy")) goto done;
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
        vkd_volrend_image o = {.rgb = rgb.addr};
        vkd_nerf_render_desc rd = {.stratified = true, .seed = (uint32_t)step};
        if (!ok_status(t, vkd_nerf_render(n, t->s, &o, batch, FIT_BATCH, &rd, &err), &err, "render")) goto done;
        samples += vkd_nerf_sample_count(n);
        vkd_stream_fill(t->s, drgb.addr, (uint32_t)drgb.n, 0);
        for (int b = 0; b < FIT_BATCH; b++)
            vkd_mse_loss_backward(t->s, drgb.addr + 4 * (vkd_addr)b * FIT_PIX, 0, dloss.addr,
                                  rgb.addr + 4 * (vkd_addr)b * FIT_PIX, targets.addr + 4 * (vkd_addr)idx[b] * FIT_PIX,
                                  FIT_PIX);
        vkd_volrend_image d = {.rgb = drgb.addr};
        if (!ok_status(t, vkd_nerf_backward(n, t->s, &d, NULL, &err), &err, "backward")) goto done;
        vkd_nerf_step(n, t->s);
        vkd_nerf_zero_grad(n, t->s);
    }
    if (!tu_run(t)) goto done;
    fit_metrics m1 = eval_heldout(t, n, cams + FIT_TRAIN, eval, held_targets, held_alpha);
    double secs = now_s() - t0, cpu = cpu_s() - c0;
    printf(
        "nerf_fit: held-out PSNR %.2f dB (initial %.2f), object pixels %.2f dB (initial %.2f), %.2f%% of "
        "values off by > 0.1 (initial %.1f%%), %.0f samples/step, %.1f s wall, %.1f s CPU (ground truth %.1f s)\n",
        m1.psnr, m0.psnr, m1.psnr_object, m0.psnr_object, 100 * m1.bad_share, 100 * m0.bad_share,
        (double)samples / steps, secs, cpu, t_gt);
    // Measured here (lavapipe, seed 3): 35.7 dB overall, 29.4 dB on the object, 0.46% off by > 0.1;
    // other seeds gave 33.5 / 28.1 dB.
    tu_check(t, m1.psnr >= 31.0, "held-out PSNR %.2f dB >= 31 (initial %.2f dB; %d steps x %d views; %.1f s)", m1.psnr,
             m0.psnr, steps, FIT_BATCH, secs);
    tu_check(t, m1.psnr_object >= 26.0, "held-out PSNR on the object's pixels %.2f dB >= 26 (initial %.2f dB)",
             m1.psnr_object, m0.psnr_object);
    tu_check(t, m1.bad_share <= 0.02, "held-out values off by > 0.1: %.2f%% <= 2%% (initial %.1f%%)",
             100 * m1.bad_share, 100 * m0.bad_share);

done:
    free(host_targets);
    free(alpha);
    vkd_nerf_destroy(n);
    tu_free(t, &targets), tu_free(t, &rgb), tu_free(t, &drgb), tu_free(t, &eval), tu_free(t, &dloss);
}
