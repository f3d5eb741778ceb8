// Host-side pieces of score distillation, no GPU: the seeded RNG, the timestep schedules,
// ASD's t+, view-dependent prompts, method / weighting names, w(t), the clip schedule,
// beta schedules, prediction-type conversions, random cameras and the float64 references of
// the guidance noise and combination (checked against independent properties).
#include "vkdream/distill.h"
#include "vkdream/refset_prior.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

static void check(int ok, const char* fmt, ...) VKD_PRINTF(2, 3);
static void check(int ok, const char* fmt, ...) {
    if (ok) {
        passed++;
        return;
    }
    failed++;
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static void test_rng(void) {
    vkd_rng a = vkd_rng_for(7, 3, 1), b = vkd_rng_for(7, 3, 1), c = vkd_rng_for(7, 3, 2), e = vkd_rng_for(7, 4, 1);
    int same = 1, diff_stream = 0, diff_step = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = vkd_rng_u64(&a), y = vkd_rng_u64(&b), z = vkd_rng_u64(&c), w = vkd_rng_u64(&e);
        same &= x == y;
        diff_stream += x != z;
        diff_step += x != w;
    }
    check(same, "rng: same (seed, step, stream) gives the same sequence");
    check(diff_stream == 100 && diff_step == 100, "rng: other streams / steps differ (%d, %d of 100)", diff_stream,
          diff_step);
    // Moments of the uniform and normal generators.
    vkd_rng r = vkd_rng_for(1, 0, 0);
    const int n = 200000;
    double su = 0, su2 = 0, sn = 0, sn2 = 0, sn4 = 0;
    double umin = 1, umax = 0;
    for (int i = 0; i < n; i++) {
        double u = vkd_rng_uniform(&r), g = vkd_rng_normal(&r);
        su += u, su2 += u * u, sn += g, sn2 += g * g, sn4 += g * g * g * g;
        if (u < umin) umin = u;
        if (u > umax) umax = u;
    }
    check(umin >= 0 && umax < 1, "rng uniform in [0, 1): min %g max %g", umin, umax);
    check(fabs(su / n - 0.5) < 0.005 && fabs(su2 / n - 1.0 / 3) < 0.005, "rng uniform moments %g %g", su / n,
          su2 / n);
    check(fabs(sn / n) < 0.01 && fabs(sn2 / n - 1) < 0.02 && fabs(sn4 / n - 3) < 0.1,
          "rng normal moments: mean %g var %g kurtosis %g", sn / n, sn2 / n, sn4 / n);
    // Integers: inclusive bounds, every value about equally often.
    int hist[7] = {0};
    int out_of_range = 0;
    for (int i = 0; i < 70000; i++) {
        int32_t k = vkd_rng_int(&r, -3, 3);
        if (k < -3 || k > 3) out_of_range++;
        else hist[k + 3]++;
    }
    int hmin = hist[0], hmax = hist[0];
    for (int i = 1; i < 7; i++) hmin = hist[i] < hmin ? hist[i] : hmin, hmax = hist[i] > hmax ? hist[i] : hmax;
    check(!out_of_range && hmin > 9500 && hmax < 10500, "rng int [-3, 3]: %d out of range, counts %d..%d",
          out_of_range, hmin, hmax);
    check(vkd_rng_int(&r, 5, 5) == 5, "rng int with lo == hi");
}

static void test_tsched(void) {
    int32_t lo, hi;
    vkd_tsched_desc u = {0};
    vkd_tsched_range(&u, 12345, &lo, &hi);
    check(lo == 20 && hi == 980, "uniform defaults: [%d, %d] want [20, 980]", lo, hi);
    vkd_tsched_desc st = {.kind = VKD_TSCHED_STEP, .anneal_steps = 100};
    vkd_tsched_range(&st, 99, &lo, &hi);
    check(lo == 20 && hi == 980, "step: before the change [%d, %d]", lo, hi);
    vkd_tsched_range(&st, 100, &lo, &hi);
    check(lo == 20 && hi == 500, "step: at the change [%d, %d] want [20, 500]", lo, hi);
    vkd_tsched_desc li = {.kind = VKD_TSCHED_LINEAR, .anneal_steps = 1500};
    vkd_tsched_range(&li, 750, &lo, &hi);
    check(lo == 20 && hi == 740, "linear: halfway [%d, %d] want [20, 740]", lo, hi);
    vkd_tsched_range(&li, 3000, &lo, &hi);
    check(hi == 500, "linear: after the anneal t_max %d want 500", hi);
    vkd_tsched_desc sq = {.kind = VKD_TSCHED_SQRT, .anneal_steps = 400};
    vkd_tsched_range(&sq, 0, &lo, &hi);
    check(lo == 980 && hi == 980, "sqrt: step 0 t = %d..%d want 980", lo, hi);
    vkd_tsched_range(&sq, 100, &lo, &hi);
    check(lo == 500 && hi == 500, "sqrt: a quarter in t = %d want 980 - 960 * 0.5 = 500", lo);
    vkd_tsched_range(&sq, 400, &lo, &hi);
    check(lo == 20, "sqrt: at the end t = %d want 20", lo);
    vkd_rng r = vkd_rng_for(3, 0, 0);
    check(vkd_tsched_sample(&sq, 100, &r) == 500, "sqrt: sampling is deterministic");
    // Samples cover the range and stay in it.
    vkd_tsched_desc cu = {.t_min = 0.1f, .t_max = 0.2f, .num_timesteps = 100};
    int seen[101] = {0}, bad = 0;
    for (int i = 0; i < 2000; i++) {
        int32_t t = vkd_tsched_sample(&cu, 0, &r);
        if (t < 10 || t > 20) bad++;
        else seen[t]++;
    }
    int covered = 0;
    for (int t = 10; t <= 20; t++) covered += seen[t] > 0;
    check(!bad && covered == 11, "uniform samples in [10, 20]: %d outside, %d of 11 values seen", bad, covered);
    vkd_error err = {0};
    check(vkd_tsched_validate(&(vkd_tsched_desc){.t_min = 0.6f, .t_max = 0.5f}, &err) == VKD_ERR_INVALID &&
              strstr(err.msg, "t_min"),
          "validate rejects t_min > t_max: %s", err.msg);
    check(vkd_tsched_validate(&(vkd_tsched_desc){.kind = (vkd_tsched_kind)9}, &err) == VKD_ERR_INVALID,
          "validate rejects an unknown kind");
    check(vkd_tsched_validate(&li, &err) == VKD_OK, "validate accepts the linear anneal");
    // ASD's larger t.
    check(vkd_asd_t_plus(500, 20, 0.1f, 0.0, 1000) == 500, "t+ with u = 0 is t");
    check(vkd_asd_t_plus(500, 20, 0.1f, 0.5, 1000) == 524, "t+ = 500 + round(0.5 * 48) = %d",
          vkd_asd_t_plus(500, 20, 0.1f, 0.5, 1000));
    check(vkd_asd_t_plus(995, 20, 0.1f, 0.99, 1000) == 999, "t+ clamped to T - 1");
}

static void test_views(void) {
    struct {
        float az, el;
        vkd_view want;
    } cases[] = {
        {0, 0, VKD_VIEW_FRONT},     {44.9f, 0, VKD_VIEW_FRONT},  {-44.9f, 10, VKD_VIEW_FRONT},
        {45, 0, VKD_VIEW_SIDE},     {-90, 0, VKD_VIEW_SIDE},     {135, 0, VKD_VIEW_SIDE},
        {135.1f, 0, VKD_VIEW_BACK}, {180, 0, VKD_VIEW_BACK},     {-180, 0, VKD_VIEW_BACK},
        {200, 0, VKD_VIEW_BACK},    {350, 0, VKD_VIEW_FRONT},    {-315, 0, VKD_VIEW_SIDE},
        {10, 60, VKD_VIEW_FRONT},   {10, 60.1f, VKD_VIEW_OVERHEAD}, {170, 85, VKD_VIEW_OVERHEAD},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vkd_view v = vkd_view_of(cases[i].az, cases[i].el);
        check(v == cases[i].want, "view of azimuth %g elevation %g: %s want %s", cases[i].az, cases[i].el,
              vkd_view_name(v), vkd_view_name(cases[i].want));
    }
    char buf[64];
    int n = vkd_view_prompt(buf, sizeof buf, "a red car", VKD_VIEW_BACK);
    check(!strcmp(buf, "a red car, back view") && n == 20, "view prompt \"%s\" (%d)", buf, n);
    vkd_view_prompt(buf, sizeof buf, "x", VKD_VIEW_OVERHEAD);
    check(!strcmp(buf, "x, overhead view"), "overhead prompt \"%s\"", buf);
    n = vkd_view_prompt(buf, sizeof buf, "", VKD_VIEW_SIDE);
    check(!strcmp(buf, "") && n == 0, "the empty prompt stays empty");
    char small[8];
    n = vkd_view_prompt(small, sizeof small, "a red car", VKD_VIEW_FRONT);
    check(n >= (int)sizeof small && strlen(small) == sizeof small - 1, "truncation is reported (%d)", n);
}

static void test_names(void) {
    vkd_error err = {0};
    vkd_guidance_method m;
    const char* names[] = {"sds", "vsd", "bsd", "asd"};
    for (int i = 0; i < 4; i++)
        check(vkd_guidance_method_parse(names[i], &m, &err) == VKD_OK && (int)m == i &&
                  !strcmp(vkd_guidance_method_name(m), names[i]),
              "method %s round trip", names[i]);
    check(vkd_guidance_method_parse("SDS2", &m, &err) == VKD_ERR_INVALID && strstr(err.msg, "SDS2") &&
              strstr(err.msg, "vsd"),
          "unknown method named with the choices: %s", err.msg);
    vkd_weighting w;
    check(vkd_weighting_parse("fantasia3d", &w, &err) == VKD_OK && w == VKD_WEIGHT_FANTASIA3D, "weighting parse");
    check(vkd_weighting_parse("linear", &w, &err) == VKD_ERR_INVALID && strstr(err.msg, "uniform"),
          "unknown weighting: %s", err.msg);
    double abar = 0.64;
    check(fabs(vkd_guidance_weight(VKD_GUIDANCE_SDS, VKD_WEIGHT_DEFAULT, false, abar) - 0.36) < 1e-15, "SDS w = 1-abar");
    check(fabs(vkd_guidance_weight(VKD_GUIDANCE_BSD, VKD_WEIGHT_DEFAULT, false, abar) - 0.8) < 1e-15,
          "BSD standard w = sqrt(abar)");
    check(fabs(vkd_guidance_weight(VKD_GUIDANCE_BSD, VKD_WEIGHT_UNIFORM, true, abar) - 0.6) < 1e-15,
          "BSD auto factor sqrt(1 - abar) whatever the weighting");
    check(fabs(vkd_guidance_weight(VKD_GUIDANCE_VSD, VKD_WEIGHT_FANTASIA3D, false, abar) - 0.8 * 0.36) < 1e-15,
          "fantasia3d w = sqrt(abar) (1 - abar)");
    check(vkd_guidance_weight(VKD_GUIDANCE_ASD, VKD_WEIGHT_UNIFORM, false, abar) == 1, "uniform w = 1");
    // Clip schedule: threestudio's [0, 0.5, 2.0, 1000].
    vkd_clip_schedule cs = {.start_value = 0.5f, .end_value = 2.0f, .start_step = 0, .end_step = 1000};
    check(fabs(vkd_clip_value(&cs, 0) - 0.5) < 1e-7 && fabs(vkd_clip_value(&cs, 500) - 1.25) < 1e-7 &&
              fabs(vkd_clip_value(&cs, 5000) - 2.0) < 1e-7,
          "clip schedule 0.5 -> 2 over 1000 steps: %g %g %g", vkd_clip_value(&cs, 0), vkd_clip_value(&cs, 500),
          vkd_clip_value(&cs, 5000));
    vkd_clip_schedule cc = {.start_value = 0.1f};
    check(fabs(vkd_clip_value(&cc, 777) - 0.1) < 1e-7, "constant clip");
    vkd_guidance_desc d = vkd_guidance_desc_defaults(&(vkd_guidance_desc){.method = VKD_GUIDANCE_SDS});
    check(d.guidance_scale == 100 && d.offset_noise < 0, "SDS defaults: s %g, offset noise %g", d.guidance_scale,
          d.offset_noise);
    d = vkd_guidance_desc_defaults(&(vkd_guidance_desc){.method = VKD_GUIDANCE_BSD, .bsd_variant = VKD_BSD_AUTO});
    check(d.bsd_c_scale == 1 && fabsf(d.bsd_d_scale - 1.25f) < 1e-7f && fabsf(d.bsd_k - 0.1f) < 1e-7f &&
              fabsf(d.offset_noise - 0.1f) < 1e-7f && d.bsd_auto_div == 50,
          "BSD auto defaults");
    d = vkd_guidance_desc_defaults(&(vkd_guidance_desc){.method = VKD_GUIDANCE_BSD});
    check(d.bsd_c_scale == 15 && d.bsd_d_scale == 1, "BSD standard defaults");
    d = vkd_guidance_desc_defaults(&(vkd_guidance_desc){.method = VKD_GUIDANCE_VSD});
    check(d.guidance_scale == 7.5f, "VSD s = 7.5");
}

static void test_schedules_and_conversions(void) {
    static double ac[1000];
    vkd_error err = {0};
    check(vkd_prior_schedule(ac, 1000, VKD_BETA_SCALED_LINEAR, 0.00085, 0.012, &err) == VKD_OK, "SD schedule");
    // SD: alphas_cumprod[0] = 1 - 0.00085; sqrt(alphas_cumprod[999]) = 0.068265 (the terminal
    // signal level Lin et al., "Common Diffusion Noise Schedules and Sample Steps are Flawed", report).
    check(fabs(ac[0] - 0.99915) < 1e-12 && fabs(sqrt(ac[999]) - 0.068265) < 2e-6, "SD abar[0] %.8f sqrt(abar[999]) %.7f",
          ac[0], sqrt(ac[999]));
    int mono = 1;
    for (int i = 1; i < 1000; i++) mono &= ac[i] < ac[i - 1];
    check(mono, "abar decreasing");
    check(vkd_prior_schedule(ac, 1000, VKD_BETA_LINEAR, 1e-4, 0.02, &err) == VKD_OK && fabs(ac[999] - 4.0358e-5) < 1e-8,
          "DDPM linear abar[999] %.6g (want 4.0358e-05)", ac[999]);
    check(vkd_prior_schedule(ac, 1, VKD_BETA_LINEAR, 1e-4, 0.02, &err) == VKD_ERR_INVALID, "one timestep rejected");
    check(vkd_prior_schedule(ac, 10, VKD_BETA_LINEAR, 0.5, 0.2, &err) == VKD_ERR_INVALID, "betas out of order rejected");
    // Conversions agree with the definitions for every pair of types.
    const double abar = 0.3, sa = sqrt(abar), sb = sqrt(1 - abar);
    const double x0 = 0.7, eps = -1.3, zt = sa * x0 + sb * eps, v = sa * eps - sb * x0;
    const double val[3] = {eps, v, x0};  // by vkd_prediction
    double worst = 0;
    for (int f = 0; f < 3; f++)
        for (int t = 0; t < 3; t++) {
            double a, c;
            vkd_prediction_coeffs((vkd_prediction)f, (vkd_prediction)t, abar, &a, &c);
            double got = a * val[f] + c * zt, e = fabs(got - val[t]);
            if (e > worst) worst = e;
        }
    check(worst < 1e-12, "prediction conversions (9 pairs): max error %g", worst);
}

static void test_cameras(void) {
    vkd_camera_range rg = {.elevation_deg = {5, 25}, .azimuth_deg = {-30, 60}, .distance = {2, 3},
                           .fov_y_deg = {45, 50}, .target = {0.1f, 0, 0}};
    vkd_camera_sample a[64], b[64];
    vkd_rng r1 = vkd_rng_for(9, 2, 1), r2 = vkd_rng_for(9, 2, 1);
    vkd_sample_cameras(&rg, 32, 24, &r1, 64, a);
    vkd_sample_cameras(&rg, 32, 24, &r2, 64, b);
    check(!memcmp(a, b, sizeof a), "cameras reproducible from the seed");
    int in = 1;
    double worst = 0;
    for (int i = 0; i < 64; i++) {
        in &= a[i].elevation_deg >= 5 && a[i].elevation_deg <= 25 && a[i].azimuth_deg >= -30 &&
              a[i].azimuth_deg <= 60 && a[i].distance >= 2 && a[i].distance <= 3 && a[i].fov_y_deg >= 45 &&
              a[i].fov_y_deg <= 50 && a[i].cam.width == 32 && a[i].cam.height == 24;
        // c2w's translation is the camera center, at `distance` from the target.
        float pos[3];
        vkd_camera_position(&a[i].cam, pos);
        for (int k = 0; k < 3; k++) worst = fmax(worst, fabs(pos[k] - a[i].c2w[4 * k + 3]));
        double dx = pos[0] - 0.1, d = sqrt(dx * dx + pos[1] * pos[1] + pos[2] * pos[2]);
        worst = fmax(worst, fabs(d - a[i].distance));
        // The reference-set view direction points from the target toward the camera.
        float dir[3];
        vkd_refset_view_dir(a[i].c2w, dir);
        worst = fmax(worst, fabs(dir[0] - dx / d) + fabs(dir[1] - pos[1] / d) + fabs(dir[2] - pos[2] / d));
    }
    check(in, "camera samples inside their ranges");
    check(worst < 1e-5, "camera geometry consistent (max error %g)", worst);
}

static void test_noise_ref(void) {
    const uint32_t B = 3, C = 4, HW = 2000;
    double* e = malloc(sizeof(double) * B * C * HW);
    double* f = malloc(sizeof(double) * B * C * HW);
    vkd_ref_guidance_noise(e, 42, 0, B, C, HW);
    double s = 0, s2 = 0;
    for (uint32_t i = 0; i < B * C * HW; i++) s += e[i], s2 += e[i] * e[i];
    double n = B * C * HW;
    check(fabs(s / n) < 0.02 && fabs(s2 / n - 1) < 0.03, "noise moments: mean %g var %g", s / n, s2 / n);
    vkd_ref_guidance_noise(f, 43, 0, B, C, HW);
    double dot = 0;
    for (uint32_t i = 0; i < B * C * HW; i++) dot += e[i] * f[i];
    check(fabs(dot / n) < 0.03, "different seeds uncorrelated (%g)", dot / n);
    // Offset noise: the difference is constant per channel and the same for every sample.
    vkd_ref_guidance_noise(f, 42, 0.1, B, C, HW);
    double worst = 0, mag = 0;
    for (uint32_t b = 0; b < B; b++)
        for (uint32_t c = 0; c < C; c++) {
            double d0 = f[c * HW] - e[c * HW];
            mag = fmax(mag, fabs(d0));
            for (uint32_t j = 0; j < HW; j++) {
                size_t i = ((size_t)b * C + c) * HW + j;
                worst = fmax(worst, fabs((f[i] - e[i]) - d0));
            }
        }
    check(worst < 1e-12 && mag > 1e-3 && mag < 0.5, "offset noise per channel, shared by the batch (%g, %g)", worst,
          mag);
    free(e);
    free(f);
}

// The combination's float64 reference against independent checks: SDS / VSD / ASD by the
// formula written out, BSD's lambda* by scanning the min-norm point.
static void test_combine_ref(void) {
    enum { B = 2, D = 5 };
    double ey[B * D], en[B * D], eps[B * D], oth[B * D], g[B * D], st[B * 4];
    vkd_rng r = vkd_rng_for(5, 0, 0);
    for (int i = 0; i < B * D; i++) {
        ey[i] = vkd_rng_normal(&r), en[i] = vkd_rng_normal(&r), eps[i] = vkd_rng_normal(&r);
        oth[i] = vkd_rng_normal(&r);
    }
    vkd_guidance_sample sm[B] = {{.abar = 0.5, .w = 0.5}, {.abar = 0.9, .w = 0.1}};
    vkd_guidance_desc d = vkd_guidance_desc_defaults(&(vkd_guidance_desc){.method = VKD_GUIDANCE_SDS,
                                                                         .guidance_scale = 7.5f});
    vkd_ref_guidance_combine(g, st, ey, en, oth, eps, &d, sm, 0, B, D);
    double worst = 0;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < D; j++) {
            int i = b * D + j;
            double want = sm[b].w * (en[i] + 7.5 * (ey[i] - en[i]) - oth[i]);
            worst = fmax(worst, fabs(g[i] - want));
        }
    check(worst < 1e-12, "ref SDS formula (%g)", worst);
    d.cfg_plus_one = true;
    vkd_ref_guidance_combine(g, st, ey, en, oth, eps, &d, sm, 0.05, B, D);
    worst = 0;
    int clipped = 0;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < D; j++) {
            int i = b * D + j;
            double want = sm[b].w * (ey[i] + 7.5 * (ey[i] - en[i]) - oth[i]);
            clipped += fabs(want) > 0.05;
            want = fmax(-0.05, fmin(0.05, want));
            worst = fmax(worst, fabs(g[i] - want));
        }
    check(worst < 1e-12 && clipped > 0, "ref CFG+1 with clipping (%g, %d clipped)", worst, clipped);
    for (int variant = 0; variant < 2; variant++) {
        d = vkd_guidance_desc_defaults(
            &(vkd_guidance_desc){.method = VKD_GUIDANCE_BSD, .bsd_variant = (vkd_bsd_variant)variant});
        vkd_ref_guidance_combine(g, st, ey, en, NULL, eps, &d, sm, 0, B, D);
        for (int b = 0; b < B; b++) {
            // The mix k w (lambda c + (1 - lambda) d) must have the smallest norm over lambda in [0, 1].
            double c[D], dd[D];
            double n2 = 0;
            for (int j = 0; j < D; j++) {
                int i = b * D + j;
                c[j] = d.bsd_c_scale * (ey[i] - en[i]);
                dd[j] = d.bsd_d_scale * (en[i] - (variant ? eps[i] : 0));
                n2 += (en[i] - (variant ? eps[i] : 0)) * (en[i] - (variant ? eps[i] : 0));
            }
            double w = variant ? sqrt(n2) * sm[b].w / 50 : sm[b].w;
            double best = INFINITY, best_l = 0;
            for (int k = 0; k <= 100000; k++) {
                double l = k / 100000.0, s = 0;
                for (int j = 0; j < D; j++) s += pow(l * c[j] + (1 - l) * dd[j], 2);
                if (s < best) best = s, best_l = l;
            }
            double err = 0;
            for (int j = 0; j < D; j++)
                err = fmax(err, fabs(g[b * D + j] - 0.1 * w * (best_l * c[j] + (1 - best_l) * dd[j])));
            // The scan's grid (1e-5 in lambda) bounds how well it can agree.
            double span = 0;
            for (int j = 0; j < D; j++) span = fmax(span, fabs(c[j] - dd[j]));
            check(err <= 0.1 * w * 1e-5 * span + 1e-12, "ref BSD %s sample %d: min-norm mix (lambda %.5f, err %g)",
                  variant ? "auto" : "standard", b, best_l, err);
        }
    }
}

int main(void) {
    test_rng();
    test_tsched();
    test_views();
    test_names();
    test_schedules_and_conversions();
    test_cameras();
    test_noise_ref();
    test_combine_ref();
    printf("distill_host: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
