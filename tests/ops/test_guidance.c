// Score-distillation guidance on the device against plain C on small tensors (same noise,
// same t): the noise generator, the per-method combination (SDS with both CFG forms, VSD,
// ASD, BSD standard and auto, clipping, NaN propagation), and the whole vkd_guidance_grad
// with the reference-set prior (and a toy phi for VSD) against a float64 pipeline built
// from the GPU's own noise.
#include "harness.h"
#include "vkdream/camera.h"
#include "vkdream/guidance.h"
#include "vkdream/refset_prior.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool ok_st(tu_ctx* t, vkd_status st, const vkd_error* err, const char* what) {
    return tu_check(t, st == VKD_OK, "%s%s%s", what, st ? ": " : "", st ? err->msg : "");
}

static void noise_case(tu_ctx* t, uint32_t B, uint32_t C, uint32_t HW, uint64_t seed, float offset) {
    tu_case(t, "noise B=%u C=%u HW=%u seed=%llu offset=%g", B, C, HW, (unsigned long long)seed, offset);
    size_t n = (size_t)B * C * HW;
    tu_buf e = tu_alloc(t, n), e2 = tu_alloc(t, n);
    vkd_guidance_noise(t->s, e.addr, seed, offset, B, C, HW);
    vkd_guidance_noise(t->s, e2.addr, seed, offset, B, C, HW);
    double* ref = tu_alloc_d(n);
    vkd_ref_guidance_noise(ref, seed, offset, B, C, HW);
    if (tu_run(t)) {
        // float Box-Muller on the same 24-bit uniforms; Vulkan only bounds sin / cos to 2^-11
        // absolute (lavapipe: ~4e-6 here), while a wrong hash or pairing would be off by O(1).
        tu_expect_buf(t, "noise vs float64", e, ref, 0, 2e-3);
        double *a = tu_download_d(t, e), *b = tu_download_d(t, e2);
        tu_check(t, !memcmp(a, b, n * sizeof *a), "same seed, same noise (bitwise)");
        free(a), free(b);
    }
    tu_free(t, &e), tu_free(t, &e2);
    free(ref);
}

static const char* label(const vkd_guidance_desc* d) {
    switch (d->method) {
    case VKD_GUIDANCE_SDS: return d->cfg_plus_one ? "sds (cfg+1)" : "sds";
    case VKD_GUIDANCE_VSD: return "vsd";
    case VKD_GUIDANCE_ASD: return "asd";
    default: return d->bsd_variant == VKD_BSD_AUTO ? "bsd auto" : "bsd standard";
    }
}

static void combine_case(tu_ctx* t, const vkd_guidance_desc* in, uint32_t B, uint32_t D, float clip) {
    vkd_guidance_desc d = vkd_guidance_desc_defaults(in);
    tu_case(t, "combine %s B=%u D=%u clip=%g (%s)", label(&d), B, D, clip, tu_team_label());
    size_t n = (size_t)B * D;
    double *ey = tu_alloc_d(n), *en = tu_alloc_d(n), *ot = tu_alloc_d(n), *ep = tu_alloc_d(n);
    tu_fill_normal(t, ey, n, 1), tu_fill_normal(t, en, n, 1), tu_fill_normal(t, ot, n, 1), tu_fill_normal(t, ep, n, 1);
    // e_y close to e_n, as real conditional / unconditional predictions are.
    for (size_t i = 0; i < n; i++) ey[i] = en[i] + 0.05 * ey[i];
    tu_round_f32(ey, n), tu_round_f32(en, n), tu_round_f32(ot, n), tu_round_f32(ep, n);
    vkd_guidance_sample sm[8];
    for (uint32_t b = 0; b < B; b++) {
        sm[b].abar = 0.9 - 0.1 * b;
        sm[b].w = vkd_guidance_weight(d.method, d.weighting, d.bsd_variant == VKD_BSD_AUTO, sm[b].abar);
    }
    tu_buf gy = tu_upload_d(t, ey, n), gn = tu_upload_d(t, en, n), go = tu_upload_d(t, ot, n),
           ge = tu_upload_d(t, ep, n);
    tu_buf g = tu_alloc(t, n), st = tu_zeros(t, 4 * (size_t)B);
    vkd_guidance_combine(t->s, g.addr, st.addr, gy.addr, gn.addr, go.addr, ge.addr, &d, sm, clip, B, D);
    double *rg = tu_alloc_d(n), *rs = tu_alloc_d(4 * (size_t)B);
    vkd_ref_guidance_combine(rg, rs, ey, en, ot, ep, &d, sm, clip, B, D);
    if (tu_run(t)) {
        // BSD standard amplifies e_y - e_n by 15: its g carries the float32 rounding of that difference.
        tu_expect_buf(t, "g", g, rg, 1e-5, 1e-6);
        double* gs = tu_download_d(t, st);
        if (d.method != VKD_GUIDANCE_BSD)
            for (uint32_t b = 0; b < B; b++) gs[4 * b + 1] = gs[4 * b + 2] = gs[4 * b + 3] = 0;
        tu_check_close(t, "stats (||g||^2, BSD sums)", gs, rs, 4 * (size_t)B, 1e-5, 1e-7);
        if (d.method == VKD_GUIDANCE_BSD) {
            int interior = 0;
            for (uint32_t b = 0; b < B; b++) {
                double l = rs[4 * b + 1] / rs[4 * b + 2];
                interior += l > 0 && l < 1;
            }
            // The data must exercise the mix itself, not only its clamped ends.
            tu_check(t, interior > 0 || D == 1, "BSD: %d of %u samples mix strictly inside (0, 1)", interior, B);
        }
        free(gs);
    }
    tu_free(t, &gy), tu_free(t, &gn), tu_free(t, &go), tu_free(t, &ge), tu_free(t, &g), tu_free(t, &st);
    free(ey), free(en), free(ot), free(ep), free(rg), free(rs);
}

static void combine_cases(tu_ctx* t) {
    const vkd_guidance_desc descs[] = {
        {.method = VKD_GUIDANCE_SDS},
        {.method = VKD_GUIDANCE_SDS, .cfg_plus_one = true, .guidance_scale = 7.5f, .weighting = VKD_WEIGHT_FANTASIA3D},
        {.method = VKD_GUIDANCE_VSD},
        {.method = VKD_GUIDANCE_ASD, .weighting = VKD_WEIGHT_UNIFORM},
        {.method = VKD_GUIDANCE_BSD},
        {.method = VKD_GUIDANCE_BSD, .bsd_variant = VKD_BSD_AUTO},
    };
    const uint32_t shapes[][2] = {{1, 1}, {3, 33}, {2, 4097}};
    for (size_t i = 0; i < sizeof descs / sizeof descs[0]; i++)
        for (size_t k = 0; k < 3; k++) {
            if (t->quick && k == 2 && i % 2) continue;
            combine_case(t, &descs[i], shapes[k][0], shapes[k][1], k == 1 ? 0.05f : 0.0f);
        }
}

// A NaN in a prediction must survive clipping and BSD's lambda clamp.
static void nan_case(tu_ctx* t) {
    tu_case(t, "combine: NaN survives clipping");
    const uint32_t B = 2, D = 7;
    double v[14];
    for (int i = 0; i < 14; i++) v[i] = 0.1 * i;
    tu_buf a = tu_upload_d(t, v, 14), b = tu_upload_d(t, v, 14), g = tu_alloc(t, 14), st = tu_alloc(t, 8);
    float nan = NAN;
    vkd_error err = {0};
    vkd_buffer_upload(t->gpu, &a.b, 4 * 3, &nan, 4, &err);
    vkd_guidance_sample sm[2] = {{.abar = 0.5, .w = 0.5}, {.abar = 0.5, .w = 0.5}};
    for (int m = 0; m < 2; m++) {
        vkd_guidance_desc d =
            vkd_guidance_desc_defaults(&(vkd_guidance_desc){.method = m ? VKD_GUIDANCE_BSD : VKD_GUIDANCE_SDS});
        vkd_guidance_combine(t->s, g.addr, st.addr, a.addr, b.addr, b.addr, b.addr, &d, sm, 0.01f, B, D);
        if (!tu_run(t)) break;
        double* r = tu_download_d(t, g);
        double* s = tu_download_d(t, st);
        tu_check(t, isnan(r[3]) && isnan(s[0]) && isfinite(s[4]), "%s: g[3] = %g, ||g_0||^2 = %g, ||g_1||^2 = %g",
                 m ? "bsd" : "sds", r[3], s[0], s[4]);
        free(r), free(s);
    }
    tu_free(t, &a), tu_free(t, &b), tu_free(t, &g), tu_free(t, &st);
}

// ---------------------------------------------------------------------------
// The full guidance with the reference-set prior.

// A toy VSD phi: e_phi = (0.5 + t / 2000) z_t + 0.25 * c2w[0][3] (the camera's x position), so
// the test sees that the timesteps and cameras reach it; train_step records what it got.
typedef struct toy_phi {
    vkd_prior_phi base;
    int trained;
    int32_t t[8];
    float c2w[8 * 16];
    uint32_t B;
} toy_phi;

static void toy_destroy(vkd_prior_phi* p) { (void)p; }

static vkd_status toy_predict(vkd_prior_phi* p, vkd_stream* s, vkd_addr out, vkd_addr z_t, const int32_t* t,
                              vkd_prior_cond* const* conds, const float* c2w, uint32_t B, uint32_t h, uint32_t w,
                              vkd_error* err) {
    (void)conds, (void)err;
    float a[8], d[8];
    for (uint32_t b = 0; b < B; b++) a[b] = 0.5f + (float)t[b] / 2000.0f, d[b] = c2w ? 0.25f * c2w[16 * b + 3] : 0.0f;
    vkd_prior_axpby(s, out, z_t, 0, a, NULL, d, B, p->prior->channels * h * w, false);
    return VKD_OK;
}

static vkd_status toy_train(vkd_prior_phi* p, vkd_stream* s, vkd_addr z, vkd_addr noise, const int32_t* t,
                            vkd_prior_cond* const* conds, const float* c2w, uint32_t B, uint32_t h, uint32_t w,
                            vkd_addr loss, vkd_error* err) {
    (void)z, (void)noise, (void)conds, (void)h, (void)w, (void)err;
    toy_phi* tp = (toy_phi*)p;
    tp->trained++;
    tp->B = B;
    memcpy(tp->t, t, B * sizeof *t);
    if (c2w) memcpy(tp->c2w, c2w, 16 * B * sizeof *c2w);
    if (loss) vkd_stream_fill(s, loss, 1, 0x3f800000u);  // 1.0f
    return VKD_OK;
}

static const vkd_prior_phi_vtbl toy_vtbl = {.destroy = toy_destroy, .predict = toy_predict, .train_step = toy_train};

#define GW 6
#define GH 5
#define GD (3 * GW * GH)
#define GN 6

static void full_case(tu_ctx* t, vkd_prior* p, const double* zimg, const double* dirs, vkd_prior_cond* ca,
                      vkd_prior_cond* cu, const vkd_guidance_desc* in) {
    vkd_guidance_desc d = vkd_guidance_desc_defaults(in);
    tu_case(t, "guidance %s end to end with the refset prior", label(&d));
    enum { B = 3 };
    vkd_error err = {0};
    toy_phi phi = {.base = {.vt = &toy_vtbl, .prior = p}};
    vkd_guidance* g = NULL;
    if (!ok_st(t, vkd_guidance_create(t->gpu, p, &phi.base, in, &g, &err), &err, "create")) return;
    const int32_t ts[B] = {50, 420, 870}, tp[B] = {61, 445, 999}, phit[B] = {3, 500, 998};
    const bool drop[B] = {false, true, false};
    vkd_prior_cond* cond[B] = {ca, ca, ca};
    vkd_prior_cond* unc[B] = {cu, cu, cu};
    float c2w[B * 16];
    for (int b = 0; b < B; b++) {
        vkd_camera c = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 100.0f * b - 40, .elevation_deg = 10,
                                                          .width = GW, .height = GH});
        vkd_camera_to_world(&c, c2w + 16 * b);
    }
    // z: the renders in prior space, near the reference images; dz prefilled (the guidance adds).
    double z[B * GD], pre[B * GD];
    for (int b = 0; b < B; b++)
        for (int j = 0; j < GD; j++) z[b * GD + j] = zimg[(b % GN) * GD + j] + 0.2 * tu_normal(t);
    tu_fill_normal(t, pre, B * GD, 1);
    tu_round_f32(z, B * GD), tu_round_f32(pre, B * GD);
    tu_buf gz = tu_upload_d(t, z, B * GD), dz = tu_upload_d(t, pre, B * GD), dz2 = tu_upload_d(t, pre, B * GD);
    vkd_guidance_batch bt = {.B = B,
                             .t = ts,
                             .t_plus = tp,
                             .cond = cond,
                             .uncond = unc,
                             .c2w = c2w,
                             .noise_seed = 1234567890123ull,
                             .step = 10,
                             .phi_t = phit,
                             .phi_drop_camera = drop,
                             .phi_noise_seed = 77};
    vkd_status st = vkd_guidance_grad(g, t->s, dz.addr, gz.addr, &bt, GH, GW, &err);
    if (!ok_st(t, st, &err, "grad") || !tu_run(t)) goto done;
    {
        vkd_guidance_views v;
        vkd_guidance_views_get(g, &v);
        // The views are device addresses: copy the noise into a test buffer to read it.
        tu_buf nc = tu_alloc(t, B * GD);
        vkd_stream_copy(t->s, nc.addr, v.noise, B * GD);
        if (!tu_run(t)) {
            tu_free(t, &nc);
            goto done;
        }
        double* noise = tu_download_d(t, nc);
        tu_free(t, &nc);
        // The GPU's noise is the documented generator's.
        double rn[B * GD];
        vkd_ref_guidance_noise(rn, bt.noise_seed, d.offset_noise, B, 3, GW * GH);
        tu_check_close(t, "noise = vkd_ref_guidance_noise", noise, rn, B * GD, 0, 2e-3);
        // Plain C: z_t, the exact denoiser for cond / uncond (and t+), CFG and the formula.
        double zt[3 * B * GD];
        vkd_refset_sample sm[3 * B];
        memset(sm, 0, sizeof sm);
        double lwa[GN], lwu[GN];
        for (int i = 0; i < GN; i++) lwa[i] = i < GN / 2 ? 0 : -INFINITY, lwu[i] = 0;
        float kappa = (float)(1.0 / pow(30 * 3.14159265358979323846 / 180, 2));
        for (int r = 0; r < 3; r++)
            for (int b = 0; b < B; b++) {
                int i = r * B + b;
                int32_t tt = r == 2 ? tp[b] : ts[b];
                sm[i].abar = p->alphas_cumprod[tt];
                sm[i].logw_host = r == 1 ? lwu : lwa;
                sm[i].has_dir = true;
                sm[i].kappa = kappa;
                vkd_refset_view_dir(c2w + 16 * b, sm[i].dir);
                double sa = sqrt(sm[i].abar), sb = sqrt(1 - sm[i].abar);
                for (int j = 0; j < GD; j++) zt[i * GD + j] = sa * z[b * GD + j] + sb * noise[b * GD + j];
            }
        // The GPU rounds z_t to float before the prior sees it.
        tu_round_f32(zt, 3 * B * GD);
        double pred[3 * B * GD];
        vkd_ref_refset_denoise(pred, NULL, NULL, NULL, zt, zimg, dirs, sm, VKD_PRED_EPSILON, 3 * B, GN, GD);
        double other[B * GD];
        for (int b = 0; b < B; b++)
            for (int j = 0; j < GD; j++) {
                int i = b * GD + j;
                if (d.method == VKD_GUIDANCE_VSD)
                    other[i] = (0.5 + ts[b] / 2000.0) * zt[i] + 0.25 * c2w[16 * b + 3];
                else if (d.method == VKD_GUIDANCE_ASD)
                    other[i] = pred[2 * B * GD + i];
                else
                    other[i] = noise[i];
            }
        vkd_guidance_sample gs[B];
        for (int b = 0; b < B; b++) {
            gs[b].abar = sm[b].abar;
            gs[b].w = vkd_guidance_weight(d.method, d.weighting, d.bsd_variant == VKD_BSD_AUTO, gs[b].abar);
        }
        double rg[B * GD], rs[4 * B], want[B * GD];
        double clip = vkd_clip_value(&d.clip, bt.step);
        vkd_ref_guidance_combine(rg, rs, pred, pred + B * GD, other, noise, &d, gs, clip, B, GD);
        double scale = d.method == VKD_GUIDANCE_BSD ? 1.0 : 1.0 / B;
        for (int i = 0; i < B * GD; i++) want[i] = scale * rg[i];
        // g carries the float32 error of eps = (z_t - sqrt(abar) x0) / sqrt(1 - abar), amplified by CFG.
        double amp = d.method == VKD_GUIDANCE_BSD ? 15 : d.guidance_scale;
        double* got = tu_download_d(t, dz);
        for (int i = 0; i < B * GD; i++) got[i] -= pre[i];  // dz accumulates onto its prefill
        tu_check_close(t, "dz - prefill = g / B (float64 pipeline from the same noise)", got, want, B * GD,
                       2e-5 * amp, 3e-7);
        free(got);
        vkd_guidance_stats stats;
        if (ok_st(t, vkd_guidance_read_stats(g, &stats, &err), &err, "read stats")) {
            double sum = 0;
            for (int b = 0; b < B; b++) sum += rs[4 * b];
            tu_check(t, stats.finite && fabs(stats.loss - 0.5 * sum / B) <= 1e-4 * stats.loss + 1e-9,
                     "loss %.6g vs float64 %.6g", stats.loss, 0.5 * sum / B);
            if (d.method == VKD_GUIDANCE_BSD) {
                double lam = 0;
                for (int b = 0; b < B; b++) lam += fmin(1, fmax(0, rs[4 * b + 1] / rs[4 * b + 2]));
                tu_check(t, fabs(stats.lambda_mean - lam / B) < 1e-4, "BSD lambda mean %.5f vs %.5f", stats.lambda_mean,
                         lam / B);
            }
            if (d.method == VKD_GUIDANCE_VSD) tu_check(t, stats.phi_loss == 1.0, "phi loss read back (%g)", stats.phi_loss);
        }
        if (d.method == VKD_GUIDANCE_VSD) {
            bool cams_ok = phi.B == B;
            for (int b = 0; b < B; b++) {
                cams_ok &= phi.t[b] == phit[b];
                for (int k = 0; k < 16; k++) cams_ok &= phi.c2w[16 * b + k] == (drop[b] ? 0.0f : c2w[16 * b + k]);
            }
            tu_check(t, phi.trained == 1 && cams_ok, "phi trained once with phi_t and the dropped camera zeroed");
        }
        free(noise);
        // Reproducible: the same batch gives bit-identical gradients.
        st = vkd_guidance_grad(g, t->s, dz2.addr, gz.addr, &bt, GH, GW, &err);
        if (ok_st(t, st, &err, "grad again") && tu_run(t)) {
            double *a = tu_download_d(t, dz), *b2 = tu_download_d(t, dz2);
            tu_check(t, !memcmp(a, b2, sizeof(double) * B * GD), "seeded gradient reproducible (bitwise)");
            free(a), free(b2);
        }
    }
done:
    vkd_guidance_destroy(g);
    tu_free(t, &gz), tu_free(t, &dz), tu_free(t, &dz2);
}

static void full_cases(tu_ctx* t) {
    tu_case(t, "guidance setup");
    float imgs[GN * GD], c2w[GN * 16];
    for (int i = 0; i < GN * GD; i++) imgs[i] = (float)tu_uniform(t, 0, 1);
    for (int i = 0; i < GN; i++) {
        vkd_camera c = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 60.0f * i, .width = GW, .height = GH});
        vkd_camera_to_world(&c, c2w + 16 * i);
    }
    vkd_refset_set sets[2] = {{.prompt = "a", .images = imgs, .c2w = c2w, .count = GN / 2},
                              {.prompt = "b", .images = imgs + GN / 2 * GD, .c2w = c2w + GN / 2 * 16, .count = GN / 2}};
    double zimg[GN * GD], dirs[GN * 4];
    for (int i = 0; i < GN * GD; i++) zimg[i] = 2.0 * imgs[i] - 1.0;
    tu_round_f32(zimg, GN * GD);
    for (int i = 0; i < GN; i++) {
        float d[3];
        vkd_refset_view_dir(c2w + 16 * i, d);
        for (int k = 0; k < 3; k++) dirs[4 * i + k] = d[k];
        dirs[4 * i + 3] = 1;
    }
    vkd_error err = {0};
    vkd_prior* p = NULL;
    vkd_prior_cond *ca = NULL, *cu = NULL;
    if (!ok_st(t,
               vkd_refset_prior_create(t->gpu,
                                       &(vkd_refset_desc){.width = GW, .height = GH, .sets = sets, .set_count = 2,
                                                          .view_sigma_deg = 30},
                                       &p, &err),
               &err, "refset prior") ||
        !ok_st(t, vkd_prior_encode_prompt(p, t->s, "a", &ca, &err), &err, "encode a") ||
        !ok_st(t, vkd_prior_encode_prompt(p, t->s, "", &cu, &err), &err, "encode \"\""))
        goto done;
    const vkd_guidance_desc descs[] = {
        {.method = VKD_GUIDANCE_SDS, .guidance_scale = 7.5f},
        {.method = VKD_GUIDANCE_SDS, .cfg_plus_one = true, .guidance_scale = 3,
         .clip = {.start_value = 0.02f, .end_value = 0.2f, .end_step = 20}},
        {.method = VKD_GUIDANCE_VSD},
        {.method = VKD_GUIDANCE_ASD, .guidance_scale = 5},
        {.method = VKD_GUIDANCE_BSD},
        {.method = VKD_GUIDANCE_BSD, .bsd_variant = VKD_BSD_AUTO},
    };
    for (size_t i = 0; i < sizeof descs / sizeof descs[0]; i++) full_case(t, p, zimg, dirs, ca, cu, &descs[i]);
    {
        tu_case(t, "guidance argument errors");
        vkd_guidance* g = NULL;
        vkd_status st = vkd_guidance_create(t->gpu, p, NULL, &(vkd_guidance_desc){.method = VKD_GUIDANCE_VSD}, &g, &err);
        tu_check(t, st == VKD_ERR_INVALID && !g && strstr(err.msg, "phi"), "VSD without phi: %s", err.msg);
        st = vkd_guidance_create(t->gpu, p, NULL, &(vkd_guidance_desc){.method = VKD_GUIDANCE_ASD}, &g, &err);
        if (ok_st(t, st, &err, "create asd")) {
            int32_t ts[1] = {10};
            vkd_prior_cond* c[1] = {ca};
            tu_buf z = tu_zeros(t, GD), dz = tu_zeros(t, GD);
            st = vkd_guidance_grad(g, t->s, dz.addr, z.addr,
                                   &(vkd_guidance_batch){.B = 1, .t = ts, .cond = c, .uncond = c}, GH, GW, &err);
            tu_check(t, st == VKD_ERR_INVALID && strstr(err.msg, "t_plus"), "ASD without t_plus: %s", err.msg);
            tu_free(t, &z), tu_free(t, &dz);
        }
        vkd_guidance_destroy(g);
    }
done:
    vkd_prior_cond_free(p, ca), vkd_prior_cond_free(p, cu);
    vkd_prior_destroy(p);
}

void test_guidance(tu_ctx* t) {
    noise_case(t, 1, 1, 1, 0, 0);
    noise_case(t, 2, 3, 37, 42, 0);
    noise_case(t, 3, 4, 1000, 0xfedcba9876543210ull, 0.1f);
    combine_cases(t);
    tu_with_workgroup_teams(t, combine_cases);
    nan_case(t);
    full_cases(t);
}
