// The reference-set prior: its kernels (posterior logits, softmax, mix) against the float64
// reference for several shapes, conditions and view weights; the prior object (prompt
// registry, union for "", errors, v-prediction through predict_eps); and sanity checks of the
// exact denoiser itself: at small t it recovers the image z_t was made from, the condition's
// set pulls the prediction toward its own images, and the view weight picks the image seen
// from the sample's camera.
#include "harness.h"
#include "vkdream/camera.h"
#include "vkdream/nn/softmax.h"
#include "vkdream/refset_prior.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct shape {
    uint32_t B, N, D;
    double abar;       // per-sample abar = abar * (1 - 0.1 b)
    double spread;     // image perturbation around a shared base (keeps the softmax soft)
    bool mask, view;
} shape;

static void fill_dir(tu_ctx* t, double* d) {
    double n = 0;
    for (int k = 0; k < 3; k++) d[k] = tu_normal(t), n += d[k] * d[k];
    n = sqrt(n);
    for (int k = 0; k < 3; k++) d[k] = (double)(float)(d[k] / n);
}

static void kernels_case(tu_ctx* t, const shape* sh, vkd_prediction pred) {
    const uint32_t B = sh->B, N = sh->N, D = sh->D;
    tu_case(t, "refset kernels B=%u N=%u D=%u abar=%.2f%s%s pred=%d (%s)", B, N, D, sh->abar,
            sh->mask ? " masked" : "", sh->view ? " views" : "", (int)pred, tu_team_label());
    double* base = tu_alloc_d(D);
    double* img = tu_alloc_d((size_t)N * D);
    double* z = tu_alloc_d((size_t)B * D);
    double* dirs = tu_alloc_d(4 * (size_t)N);
    double* lw = tu_alloc_d((size_t)B * N);
    tu_fill_uniform(t, base, D, -1, 1);
    for (uint32_t i = 0; i < N; i++)
        for (uint32_t j = 0; j < D; j++) img[(size_t)i * D + j] = base[j] + sh->spread * tu_normal(t);
    for (uint32_t i = 0; i < N; i++) {
        fill_dir(t, &dirs[4 * i]);
        dirs[4 * i + 3] = sh->view && i % 3 != 2;  // every third image has no camera
    }
    vkd_refset_sample sm[8];
    memset(sm, 0, sizeof sm);
    tu_buf lwb[8];
    for (uint32_t b = 0; b < B; b++) {
        sm[b].abar = sh->abar * (1 - 0.1 * b);
        double sa = sqrt(sm[b].abar), sv = sqrt(1 - sm[b].abar);
        uint32_t k = b % N;
        for (uint32_t j = 0; j < D; j++) z[(size_t)b * D + j] = sa * img[(size_t)k * D + j] + sv * tu_normal(t);
        for (uint32_t i = 0; i < N; i++)
            lw[(size_t)b * N + i] = sh->mask && (i + b) % 2 && i != k ? -INFINITY : 0;  // image k always kept
        if (sh->view && b % 2 == 0) {
            double dd[3];
            fill_dir(t, dd);
            sm[b].has_dir = true;
            for (int q = 0; q < 3; q++) sm[b].dir[q] = (float)dd[q];
            sm[b].kappa = 3.0f;
        }
    }
    tu_round_f32(img, (size_t)N * D);
    tu_round_f32(z, (size_t)B * D);
    tu_buf gi = tu_upload_d(t, img, (size_t)N * D), gz = tu_upload_d(t, z, (size_t)B * D);
    tu_buf gd = tu_upload_d(t, dirs, 4 * (size_t)N);
    for (uint32_t b = 0; b < B; b++) {
        lwb[b] = tu_upload_d(t, lw + (size_t)b * N, N);
        sm[b].logw = lwb[b].addr;
        sm[b].logw_host = lw + (size_t)b * N;
    }
    tu_buf logits = tu_alloc(t, (size_t)B * N), weights = tu_alloc(t, (size_t)B * N);
    tu_buf out = tu_alloc(t, (size_t)B * D), x0 = tu_alloc(t, (size_t)B * D);
    vkd_refset_logits(t->s, logits.addr, gz.addr, gi.addr, gd.addr, sm, B, N, D);
    vkd_softmax_forward(t->s, weights.addr, logits.addr, B, N, 1.0f, false);
    vkd_refset_mix(t->s, out.addr, x0.addr, weights.addr, gz.addr, gi.addr, sm, pred, B, N, D);
    double* r_out = tu_alloc_d((size_t)B * D);
    double* r_x0 = tu_alloc_d((size_t)B * D);
    double* r_w = tu_alloc_d((size_t)B * N);
    double* r_l = tu_alloc_d((size_t)B * N);
    vkd_ref_refset_denoise(r_out, r_x0, r_w, r_l, z, img, dirs, sm, pred, B, N, D);
    if (tu_run(t)) {
        // Stage by stage, each against float64 on the previous stage's GPU output, then end to end.
        double* gl = tu_download_d(t, logits);
        double* gw = tu_download_d(t, weights);
        int mask_ok = 1;
        for (size_t i = 0; i < (size_t)B * N; i++) mask_ok &= (isinf(r_l[i]) != 0) == (isinf(gl[i]) && gl[i] < 0);
        tu_check(t, mask_ok, "logits: -inf exactly where the condition masks images");
        double* sw = tu_alloc_d((size_t)B * N);
        vkd_ref_softmax_forward(sw, gl, B, N, 1.0, false);
        tu_check_close(t, "weights = softmax(GPU logits)", gw, sw, (size_t)B * N, 0, 1e-6);
        double* m_out = tu_alloc_d((size_t)B * D);
        double* m_x0 = tu_alloc_d((size_t)B * D);
        vkd_ref_refset_mix(m_out, m_x0, gw, z, img, sm, pred, B, N, D);
        tu_expect_buf(t, "x0 = mix(GPU weights)", x0, m_x0, 1e-5, 1e-6);
        tu_expect_buf(t, "prediction = mix(GPU weights)", out, m_out, 1e-5, 1e-5);
        for (size_t i = 0; i < (size_t)B * N; i++)
            if (isinf(r_l[i])) gl[i] = r_l[i] = 0;
        // float32 sums of D squares: relative error ~ D eps_f32 in the worst case, sqrt(D) typical.
        tu_check_close(t, "logits vs float64", gl, r_l, (size_t)B * N, 1e-7 * sqrt((double)D) + 5e-7, 1e-5);
        // End to end the logit error (up to ~1e-4 for D = 4097 at abar = 0.95, logits ~ -2000)
        // moves the weights by about that much.
        tu_expect_buf(t, "prediction vs float64 end to end", out, r_out, 2e-4, 1e-5);
        free(gl), free(gw), free(sw), free(m_out), free(m_x0);
    }
    for (uint32_t b = 0; b < B; b++) tu_free(t, &lwb[b]);
    tu_free(t, &gi), tu_free(t, &gz), tu_free(t, &gd), tu_free(t, &logits), tu_free(t, &weights);
    tu_free(t, &out), tu_free(t, &x0);
    free(base), free(img), free(z), free(dirs), free(lw), free(r_out), free(r_x0), free(r_w), free(r_l);
}

static bool ok_st(tu_ctx* t, vkd_status st, const vkd_error* err, const char* what) {
    return tu_check(t, st == VKD_OK, "%s%s%s", what, st ? ": " : "", st ? err->msg : "");
}

// Images: set "a" (3 images), set "b" (2 images), each image random in [0, 1].
#define IW 5
#define IH 3
#define ID (3 * IW * IH)

static void prior_case(tu_ctx* t) {
    tu_case(t, "refset prior: registry, union, errors, predict_eps vs reference, v-prediction");
    float imgs[5 * ID];
    for (int i = 0; i < 5 * ID; i++) imgs[i] = (float)tu_uniform(t, 0, 1);
    float c2w[5 * 16];
    vkd_camera cams[5];
    for (int i = 0; i < 5; i++) {
        cams[i] = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 72.0f * i, .elevation_deg = 10, .width = IW,
                                                     .height = IH});
        vkd_camera_to_world(&cams[i], c2w + 16 * i);
    }
    vkd_refset_set sets[2] = {{.prompt = "a", .images = imgs, .c2w = c2w, .count = 3},
                              {.prompt = "b", .images = imgs + 3 * ID, .c2w = NULL, .count = 2}};
    vkd_error err = {0};
    vkd_prior *p = NULL, *pv = NULL;
    vkd_prior_cond *ca = NULL, *cb = NULL, *cu = NULL, *cav = NULL, *cuv = NULL, *bad = NULL;
    vkd_refset_desc rd = {.width = IW, .height = IH, .sets = sets, .set_count = 2, .view_sigma_deg = 40};
    if (!ok_st(t, vkd_refset_prior_create(t->gpu, &rd, &p, &err), &err, "create")) return;
    rd.prediction = VKD_PRED_V;
    if (!ok_st(t, vkd_refset_prior_create(t->gpu, &rd, &pv, &err), &err, "create (v)")) goto done;
    tu_check(t, p->space == VKD_PRIOR_PIXEL && p->channels == 3 && p->downsample == 1 && p->num_timesteps == 1000 &&
                    vkd_refset_prior_image_count(p) == 5,
             "prior fields");
    if (!ok_st(t, vkd_prior_encode_prompt(p, t->s, "a", &ca, &err), &err, "encode a")) goto done;
    if (!ok_st(t, vkd_prior_encode_prompt(p, t->s, "b", &cb, &err), &err, "encode b")) goto done;
    if (!ok_st(t, vkd_prior_encode_prompt(p, t->s, "", &cu, &err), &err, "encode \"\"")) goto done;
    if (!ok_st(t, vkd_prior_encode_prompt(pv, t->s, "a", &cav, &err), &err, "encode a (v)")) goto done;
    if (!ok_st(t, vkd_prior_encode_prompt(pv, t->s, "", &cuv, &err), &err, "encode \"\" (v)")) goto done;
    tu_check(t, vkd_refset_cond_members(ca) == 3 && vkd_refset_cond_members(cb) == 2 &&
                    vkd_refset_cond_members(cu) == 5,
             "set sizes a=%u b=%u union=%u", vkd_refset_cond_members(ca), vkd_refset_cond_members(cb),
             vkd_refset_cond_members(cu));
    vkd_status st = vkd_prior_encode_prompt(p, t->s, "c", &bad, &err);
    tu_check(t, st == VKD_ERR_INVALID && !bad && strstr(err.msg, "\"c\"") && strstr(err.msg, "\"a\""),
             "unknown prompt rejected, naming it and the known ones: %s", err.msg);
    {
        vkd_refset_set dup[2] = {sets[0], sets[0]};
        vkd_prior* q = NULL;
        st = vkd_refset_prior_create(t->gpu, &(vkd_refset_desc){.width = IW, .height = IH, .sets = dup, .set_count = 2},
                                     &q, &err);
        tu_check(t, st == VKD_ERR_INVALID && !q && strstr(err.msg, "\"a\""), "duplicate prompt rejected: %s",
                 err.msg);
    }
    {
        // predict_eps for a batch mixing the conditions and cameras, against the reference.
        enum { B = 4 };
        const int32_t ts[B] = {100, 400, 700, 950};
        vkd_prior_cond* conds[B] = {ca, cb, cu, ca};
        double z[B * ID];
        for (int i = 0; i < B * ID; i++) z[i] = tu_normal(t);
        tu_round_f32(z, B * ID);
        float cam_c2w[B * 16];
        for (int b = 0; b < B; b++) {
            vkd_camera c = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 50.0f * b + 20, .elevation_deg = 5,
                                                              .width = IW, .height = IH});
            vkd_camera_to_world(&c, cam_c2w + 16 * b);
        }
        tu_buf gz = tu_upload_d(t, z, B * ID), out = tu_alloc(t, B * ID), outv = tu_alloc(t, B * ID);
        st = vkd_prior_predict_eps(p, t->s, out.addr, gz.addr, ts, conds, cam_c2w, B, IH, IW, &err);
        ok_st(t, st, &err, "predict_eps");
        vkd_prior_cond* condsv[B] = {cav, cuv, cuv, cav};
        vkd_prior_cond* condse[B] = {ca, cu, cu, ca};
        tu_buf oute = tu_alloc(t, B * ID);
        st = vkd_prior_predict_eps(pv, t->s, outv.addr, gz.addr, ts, condsv, NULL, B, IH, IW, &err);
        ok_st(t, st, &err, "predict_eps (v prior)");
        st = vkd_prior_predict_eps(p, t->s, oute.addr, gz.addr, ts, condse, NULL, B, IH, IW, &err);
        ok_st(t, st, &err, "predict_eps (no cameras)");
        // Reference: the same logw per condition, images in z space, view directions.
        double zimg[5 * ID], dirs[5 * 4] = {0}, lw[3][5];
        for (int i = 0; i < 5 * ID; i++) zimg[i] = 2.0 * imgs[i] - 1.0;
        tu_round_f32(zimg, 5 * ID);
        for (int i = 0; i < 3; i++) {
            float dd[3];
            vkd_refset_view_dir(c2w + 16 * i, dd);
            for (int k = 0; k < 3; k++) dirs[4 * i + k] = dd[k];
            dirs[4 * i + 3] = 1;
        }
        for (int i = 0; i < 5; i++) {
            lw[0][i] = i < 3 ? 0 : -INFINITY;
            lw[1][i] = i >= 3 ? 0 : -INFINITY;
            lw[2][i] = 0;
        }
        const int which[B] = {0, 1, 2, 0};
        vkd_refset_sample sm[B];
        memset(sm, 0, sizeof sm);
        float kappa = (float)(1.0 / pow(40 * 3.14159265358979323846 / 180, 2));
        for (int b = 0; b < B; b++) {
            sm[b].abar = p->alphas_cumprod[ts[b]];
            sm[b].logw_host = lw[which[b]];
            sm[b].has_dir = true;
            sm[b].kappa = kappa;
            vkd_refset_view_dir(cam_c2w + 16 * b, sm[b].dir);
        }
        double ref[B * ID];
        vkd_ref_refset_denoise(ref, NULL, NULL, NULL, z, zimg, dirs, sm, VKD_PRED_EPSILON, B, 5, ID);
        const int which_e[B] = {0, 2, 2, 0};
        for (int b = 0; b < B; b++) sm[b].has_dir = false, sm[b].logw_host = lw[which_e[b]];
        double refe[B * ID];
        vkd_ref_refset_denoise(refe, NULL, NULL, NULL, z, zimg, dirs, sm, VKD_PRED_EPSILON, B, 5, ID);
        if (tu_run(t)) {
            tu_expect_buf(t, "predict_eps vs reference (conditions, cameras)", out, ref, 1e-4, 2e-5);
            tu_expect_buf(t, "predict_eps without cameras vs reference", oute, refe, 1e-4, 2e-5);
            // The v-prediction prior gives the same eps after the conversion.
            tu_expect_buf(t, "v-prediction converted to eps", outv, refe, 1e-4, 5e-5);
            double* a = tu_download_d(t, out);
            double diff = 0;
            for (int i = 0; i < B * ID; i++) diff = fmax(diff, fabs(a[i] - refe[i]));
            free(a);
            tu_check(t, diff > 1e-3, "the cameras change the prediction (max diff %.3g)", diff);
        }
        // Bad arguments are errors, not crashes.
        int32_t tb[B] = {100, 1000, 0, 0};
        st = vkd_prior_predict_eps(p, t->s, out.addr, gz.addr, tb, conds, NULL, B, IH, IW, &err);
        tu_check(t, st == VKD_ERR_INVALID && strstr(err.msg, "1000"), "t out of range rejected: %s", err.msg);
        st = vkd_prior_predict_eps(p, t->s, out.addr, gz.addr, ts, conds, NULL, B, IH + 1, IW, &err);
        tu_check(t, st == VKD_ERR_INVALID, "wrong image size rejected: %s", err.msg);
        tu_free(t, &gz), tu_free(t, &out), tu_free(t, &outv), tu_free(t, &oute);
    }
done:
    vkd_prior_cond_free(p, ca), vkd_prior_cond_free(p, cb), vkd_prior_cond_free(p, cu);
    if (pv) vkd_prior_cond_free(pv, cav), vkd_prior_cond_free(pv, cuv);
    vkd_prior_destroy(p);
    vkd_prior_destroy(pv);
}

// The exact denoiser's behaviour (independent of the reference implementation).
static void sanity_case(tu_ctx* t) {
    tu_case(t, "refset prior sanity: small-t recovery, set pull, view choice");
    enum { W = 8, H = 8, DD = 3 * W * H, NA = 4, NB = 4 };
    float* imgs = malloc(sizeof(float) * (NA + NB) * DD);
    for (int i = 0; i < (NA + NB) * DD; i++) imgs[i] = (float)tu_uniform(t, 0, 1);
    vkd_refset_set sets[2] = {{.prompt = "a", .images = imgs, .count = NA},
                              {.prompt = "b", .images = imgs + NA * DD, .count = NB}};
    vkd_error err = {0};
    vkd_prior* p = NULL;
    vkd_prior_cond *ca = NULL, *cu = NULL;
    if (!ok_st(t, vkd_refset_prior_create(t->gpu,
                                          &(vkd_refset_desc){.width = W, .height = H, .sets = sets, .set_count = 2,
                                                             .prediction = VKD_PRED_SAMPLE},
                                          &p, &err),
               &err, "create"))
        goto done;
    if (!ok_st(t, vkd_prior_encode_prompt(p, t->s, "a", &ca, &err), &err, "encode a") ||
        !ok_st(t, vkd_prior_encode_prompt(p, t->s, "", &cu, &err), &err, "encode \"\""))
        goto done;
    {
        // Small t: z_t from image k of the union; the x0 prediction is that image.
        enum { B = 8 };
        int32_t ts[B];
        vkd_prior_cond* conds[B];
        float z[B * DD];
        for (int b = 0; b < B; b++) {
            ts[b] = 5 * b;  // t <= 35: sqrt(1 - abar) <= 0.07
            conds[b] = cu;
            double abar = p->alphas_cumprod[ts[b]];
            for (int j = 0; j < DD; j++)
                z[b * DD + j] = (float)(sqrt(abar) * (2.0 * imgs[b * DD + j] - 1) + sqrt(1 - abar) * tu_normal(t));
        }
        tu_buf gz = tu_upload_f(t, z, B * DD), out = tu_alloc(t, B * DD);
        vkd_status st = vkd_prior_predict(p, t->s, out.addr, gz.addr, ts, conds, NULL, B, H, W, &err);
        if (ok_st(t, st, &err, "predict x0") && tu_run(t)) {
            double* x0 = tu_download_d(t, out);
            double worst = 0;
            for (int b = 0; b < B; b++)
                for (int j = 0; j < DD; j++) worst = fmax(worst, fabs(x0[b * DD + j] - (2.0 * imgs[b * DD + j] - 1)));
            free(x0);
            tu_check(t, worst < 1e-4, "small t: x0 recovers the source image (max error %.3g)", worst);
        }
        tu_free(t, &gz), tu_free(t, &out);
    }
    {
        // Moderate t, z_t made from a "b" image: the "a" condition's x0 is an "a" image mix, the
        // union's is the "b" image; so cond - uncond points from b toward a (what CFG amplifies).
        enum { B = 2 };
        int32_t ts[B] = {300, 300};
        vkd_prior_cond* conds[B] = {ca, cu};
        float z[B * DD];
        double abar = p->alphas_cumprod[300];
        for (int j = 0; j < DD; j++) {
            float v = (float)(sqrt(abar) * (2.0 * imgs[NA * DD + j] - 1) + sqrt(1 - abar) * tu_normal(t));
            z[j] = z[DD + j] = v;
        }
        tu_buf gz = tu_upload_f(t, z, B * DD), out = tu_alloc(t, B * DD);
        vkd_status st = vkd_prior_predict(p, t->s, out.addr, gz.addr, ts, conds, NULL, B, H, W, &err);
        if (ok_st(t, st, &err, "predict x0") && tu_run(t)) {
            double* x0 = tu_download_d(t, out);
            double da_b = 0, du_b = 0, a_in_a = 1e300;
            for (int j = 0; j < DD; j++) {
                double bj = 2.0 * imgs[NA * DD + j] - 1;
                da_b += pow(x0[j] - bj, 2), du_b += pow(x0[DD + j] - bj, 2);
            }
            for (int i = 0; i < NA; i++) {
                double d = 0;
                for (int j = 0; j < DD; j++) d += pow(x0[j] - (2.0 * imgs[i * DD + j] - 1), 2);
                a_in_a = fmin(a_in_a, d);
            }
            free(x0);
            tu_check(t, du_b < 1e-6 && a_in_a < 0.01 * da_b && da_b > 1,
                     "conditioning: union -> the b image (%.3g), \"a\" -> near the a images (%.3g, %.3g from b)",
                     du_b, a_in_a, da_b);
        }
        tu_free(t, &gz), tu_free(t, &out);
    }
done:
    vkd_prior_cond_free(p, ca), vkd_prior_cond_free(p, cu);
    vkd_prior_destroy(p);
    free(imgs);

    // View weights: two images seen from the front and the back; at t = 999 (almost pure
    // noise) the prediction follows the sample's camera.
    tu_case(t, "refset prior sanity: view weighting at high t");
    {
        enum { B = 2 };
        float im[2 * DD], c2w[2 * 16], sc2w[B * 16];
        for (int i = 0; i < DD; i++) im[i] = 0.9f, im[DD + i] = 0.1f;
        for (int i = 0; i < 2; i++) {
            vkd_camera c = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 180.0f * i, .width = W, .height = H});
            vkd_camera_to_world(&c, c2w + 16 * i);
            vkd_camera s = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 180.0f * i + 20, .elevation_deg = 15,
                                                              .width = W, .height = H});
            vkd_camera_to_world(&s, sc2w + 16 * i);
        }
        vkd_refset_set one = {.prompt = "obj", .images = im, .c2w = c2w, .count = 2};
        vkd_prior* q = NULL;
        vkd_prior_cond* c = NULL;
        if (ok_st(t, vkd_refset_prior_create(t->gpu,
                                             &(vkd_refset_desc){.width = W, .height = H, .sets = &one, .set_count = 1,
                                                                .view_sigma_deg = 15, .prediction = VKD_PRED_SAMPLE},
                                             &q, &err),
                  &err, "create") &&
            ok_st(t, vkd_prior_encode_prompt(q, t->s, "obj", &c, &err), &err, "encode")) {
            int32_t ts[B] = {999, 999};
            vkd_prior_cond* conds[B] = {c, c};
            float z[B * DD];
            for (int i = 0; i < B * DD; i++) z[i] = (float)tu_normal(t);
            tu_buf gz = tu_upload_f(t, z, B * DD), out = tu_alloc(t, B * DD);
            vkd_status st = vkd_prior_predict(q, t->s, out.addr, gz.addr, ts, conds, sc2w, B, H, W, &err);
            if (ok_st(t, st, &err, "predict") && tu_run(t)) {
                double* x0 = tu_download_d(t, out);
                // z space: 0.9 -> 0.8, 0.1 -> -0.8.
                tu_check(t, fabs(x0[0] - 0.8) < 0.05 && fabs(x0[DD] + 0.8) < 0.05,
                         "front camera -> front image (%.3f), back camera -> back image (%.3f)", x0[0], x0[DD]);
                free(x0);
            }
            tu_free(t, &gz), tu_free(t, &out);
        }
        if (q) vkd_prior_cond_free(q, c);
        vkd_prior_destroy(q);
    }
}

static void kernel_cases(tu_ctx* t) {
    const shape shapes[] = {
        {.B = 1, .N = 1, .D = 1, .abar = 0.5, .spread = 0.3},
        {.B = 3, .N = 7, .D = 33, .abar = 0.6, .spread = 0.2, .mask = true},
        {.B = 2, .N = 33, .D = 300, .abar = 0.7, .spread = 0.05, .view = true},
        {.B = 4, .N = 9, .D = 1000, .abar = 0.4, .spread = 0.03, .mask = true, .view = true},
        {.B = 2, .N = 5, .D = 4097, .abar = 0.95, .spread = 0.01},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        kernels_case(t, &shapes[i], (vkd_prediction)(i % 3));
}

// VSD's phi: the prior before training, then the exact denoiser of what it was trained on.
static void phi_case(tu_ctx* t) {
    tu_case(t, "refset phi: untrained = prior, trained = denoiser of its samples, loss");
    enum { W = 4, H = 3, DD = 3 * W * H, B = 2 };
    float imgs[3 * DD], c2w[3 * 16];
    for (int i = 0; i < 3 * DD; i++) imgs[i] = (float)tu_uniform(t, 0, 1);
    for (int i = 0; i < 3; i++) {
        vkd_camera c = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 120.0f * i, .width = W, .height = H});
        vkd_camera_to_world(&c, c2w + 16 * i);
    }
    vkd_refset_set set = {.prompt = "p", .images = imgs, .c2w = c2w, .count = 3};
    vkd_error err = {0};
    vkd_prior* p = NULL;
    vkd_prior_cond* c = NULL;
    vkd_prior_phi* phi = NULL;
    if (!ok_st(t, vkd_refset_prior_create(t->gpu, &(vkd_refset_desc){.width = W, .height = H, .sets = &set,
                                                                     .set_count = 1, .view_sigma_deg = 50},
                                          &p, &err),
               &err, "create") ||
        !ok_st(t, vkd_prior_encode_prompt(p, t->s, "p", &c, &err), &err, "encode") ||
        !ok_st(t, vkd_prior_phi_create(p, t->s, &(vkd_prior_phi_desc){.capacity = 3}, &phi, &err), &err, "phi"))
        goto done;
    {
        // Samples to train on (z space) with cameras; sample 1's camera dropped (zero row).
        double z[B * DD], noise[B * DD], zt[B * DD];
        for (int i = 0; i < B * DD; i++) z[i] = tu_uniform(t, -1, 1), noise[i] = tu_normal(t), zt[i] = tu_normal(t);
        tu_round_f32(z, B * DD), tu_round_f32(noise, B * DD), tu_round_f32(zt, B * DD);
        float tc2w[B * 16] = {0};
        vkd_camera cam = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 30, .width = W, .height = H});
        vkd_camera_to_world(&cam, tc2w);
        const int32_t tt[B] = {200, 600}, tq[B] = {10, 900};
        vkd_prior_cond* conds[B] = {c, c};
        tu_buf gz = tu_upload_d(t, z, B * DD), gn = tu_upload_d(t, noise, B * DD), gq = tu_upload_d(t, zt, B * DD);
        tu_buf e0 = tu_alloc(t, B * DD), ep = tu_alloc(t, B * DD), e1 = tu_alloc(t, B * DD), loss = tu_alloc(t, 2);
        vkd_status st = vkd_prior_phi_predict_eps(phi, t->s, e0.addr, gq.addr, tq, conds, c2w, B, H, W, &err);
        if (!st) st = vkd_prior_predict_eps(p, t->s, ep.addr, gq.addr, tq, conds, c2w, B, H, W, &err);
        if (!st)
            st = vkd_prior_phi_train_step(phi, t->s, gz.addr, gn.addr, tt, conds, tc2w, B, H, W, loss.addr, &err);
        // A second step: the loss now measures the trained ring on the same samples.
        if (!st)
            st = vkd_prior_phi_train_step(phi, t->s, gz.addr, gn.addr, tt, conds, tc2w, B, H, W, loss.addr + 4, &err);
        if (!st) st = vkd_prior_phi_predict_eps(phi, t->s, e1.addr, gq.addr, tq, conds, c2w, B, H, W, &err);
        if (ok_st(t, st, &err, "phi predict / train") && tu_run(t)) {
            double* a = tu_download_d(t, e0);
            tu_expect_buf(t, "untrained phi = the prior", ep, a, 0, 0);
            free(a);
            // Reference: after the first step the ring holds z0 (camera), z1 (dropped: no
            // direction); the second step (capacity 3) puts z0 in slot 2 and z1 in slot 0.
            double ring1[3 * DD] = {0}, ring2[3 * DD], dirs1[12] = {0}, dirs2[12] = {0};
            memcpy(ring1, z, sizeof(double) * DD);
            memcpy(ring1 + DD, z + DD, sizeof(double) * DD);
            memcpy(ring2, z + DD, sizeof(double) * DD);
            memcpy(ring2 + DD, z + DD, sizeof(double) * DD);
            memcpy(ring2 + 2 * DD, z, sizeof(double) * DD);
            float d0[3];
            vkd_refset_view_dir(tc2w, d0);
            for (int k = 0; k < 3; k++) dirs1[k] = dirs2[8 + k] = d0[k];
            dirs1[3] = dirs2[11] = 1;
            double lw[3] = {0, 0, 0};
            vkd_refset_sample sm[B];
            memset(sm, 0, sizeof sm);
            for (int b = 0; b < B; b++) {
                sm[b].abar = p->alphas_cumprod[tq[b]];
                sm[b].logw_host = lw;
                sm[b].has_dir = true;
                sm[b].kappa = (float)(1.0 / pow(50 * 3.14159265358979323846 / 180, 2));
                vkd_refset_view_dir(c2w + 16 * b, sm[b].dir);
            }
            double ref[B * DD];
            vkd_ref_refset_denoise(ref, NULL, NULL, NULL, zt, ring2, dirs2, sm, VKD_PRED_EPSILON, B, 3, DD);
            tu_expect_buf(t, "trained phi = denoiser of its ring", e1, ref, 1e-4, 1e-5);
            // Loss of the second step: phi then held z0, z1 (ring1), so at t = 200 and 600
            // its x0 is nearly the sample itself and the eps error small; the first (untrained)
            // loss is the prior's, far larger.
            double* l = tu_download_d(t, loss);
            double zt2[B * DD], pr2[B * DD], lw2[3] = {0, 0, -INFINITY};
            vkd_refset_sample s2[B];
            memset(s2, 0, sizeof s2);
            for (int b = 0; b < B; b++) {
                double ab = p->alphas_cumprod[tt[b]];
                for (int j = 0; j < DD; j++) zt2[b * DD + j] = sqrt(ab) * z[b * DD + j] + sqrt(1 - ab) * noise[b * DD + j];
                s2[b].abar = ab;
                s2[b].logw_host = lw2;
                s2[b].has_dir = b == 0;  // sample 1's camera was dropped
                s2[b].kappa = sm[0].kappa;
                memcpy(s2[b].dir, d0, sizeof d0);
            }
            tu_round_f32(zt2, B * DD);
            vkd_ref_refset_denoise(pr2, NULL, NULL, NULL, zt2, ring1, dirs1, s2, VKD_PRED_EPSILON, B, 3, DD);
            double mse = 0;
            for (int i = 0; i < B * DD; i++) mse += (pr2[i] - noise[i]) * (pr2[i] - noise[i]) / (B * DD);
            tu_check(t, fabs(l[1] - mse) <= 1e-4 * mse + 1e-6 && l[0] > l[1],
                     "training loss %.6g vs float64 %.6g (untrained %.4g)", l[1], mse, l[0]);
            free(l);
        }
        tu_free(t, &gz), tu_free(t, &gn), tu_free(t, &gq), tu_free(t, &e0), tu_free(t, &ep), tu_free(t, &e1);
        tu_free(t, &loss);
    }
done:
    vkd_prior_phi_destroy(phi);
    vkd_prior_cond_free(p, c);
    vkd_prior_destroy(p);
}

void test_refset(tu_ctx* t) {
    // Subgroup teams (the default on CPUs) and workgroup teams (long rows on GPUs).
    kernel_cases(t);
    tu_with_workgroup_teams(t, kernel_cases);
    prior_case(t);
    sanity_case(t);
    phi_case(t);
}
