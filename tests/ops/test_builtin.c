// The built-in prior (include/vkdream/prior/builtin.h) on its tiny test architecture: the
// dataset's determinism and caption rules, training lowers the held-out loss, a checkpoint
// resumes bitwise, the diffusers folder written by the trainer loads through the SD loader
// (vkd_sd_load) and gives exactly the same UNet output and text conditioning (F32; F16 equals
// the F16-rounded weights), sampling is deterministic and in range, and the scorer rates true
// renders as correct.
#define _XOPEN_SOURCE 700
#include "harness.h"
#include "vkdream/prior/builtin.h"
#include "vkdream/prior/sd.h"
#include "vkdream/prior/sd_prior.h"
#include "vkdream/safetensors.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int rm_entry(const char* path, const struct stat* sb, int flag, struct FTW* ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}
// Removes the test's temporary folder and everything in it.
static void rm_tree(const char* dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void test_data(tu_ctx* t) {
    tu_case(t, "dataset: view words, captions, determinism");
    struct {
        float az, el;
        vkd_builtin_view v;
    } views[] = {{0, 0, VKD_BUILTIN_FRONT},     {44.9f, 10, VKD_BUILTIN_FRONT},  {45, 10, VKD_BUILTIN_SIDE},
                 {-90, 30, VKD_BUILTIN_SIDE},   {135, 0, VKD_BUILTIN_SIDE},      {135.5f, 0, VKD_BUILTIN_BACK},
                 {-179, -5, VKD_BUILTIN_BACK},  {540, 0, VKD_BUILTIN_BACK},      {10, 60, VKD_BUILTIN_FRONT},
                 {10, 60.5f, VKD_BUILTIN_OVERHEAD}, {170, 80, VKD_BUILTIN_OVERHEAD}};
    int bad = 0;
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++)
        bad += vkd_builtin_view_of(views[i].az, views[i].el) != views[i].v;
    tu_check(t, bad == 0, "view_of: %d of %zu wrong", bad, sizeof views / sizeof views[0]);

    char cap[VKD_BUILTIN_CAPTION_MAX];
    bad = 0;
    for (uint32_t i = 0; i < VKD_BUILTIN_CAPTIONS; i++) {
        vkd_shape s, s2;
        vkd_shape_color c, c2;
        vkd_builtin_view v, v2;
        vkd_builtin_caption_parts(i, &s, &c, &v);
        vkd_builtin_caption(i, cap, sizeof cap);
        bad += vkd_builtin_caption_index(s, c, v) != i;
        bad += !vkd_builtin_parse_caption(cap, &s2, &c2, &v2) || s2 != s || c2 != c || v2 != v;
    }
    vkd_builtin_caption(vkd_builtin_caption_index(VKD_SHAPE_CUBE, VKD_COLOR_RED, VKD_BUILTIN_SIDE), cap, sizeof cap);
    tu_check(t, bad == 0 && !strcmp(cap, "a red cube, side view"), "%u captions round-trip (%d bad); \"%s\"",
             VKD_BUILTIN_CAPTIONS, bad, cap);
    vkd_builtin_caption(VKD_BUILTIN_UNCOND, cap, sizeof cap);
    tu_check(t, cap[0] == 0, "the unconditional caption is empty");

    vkd_builtin_data_desc d = {.size = 16, .seed = 7};
    const size_t n = 3 * 16 * 16;
    float* a = malloc(n * sizeof(float));
    float* b = malloc(n * sizeof(float));
    uint32_t drops = 0, over = 0, same_other_seed = 0;
    bad = 0;
    float lo = 1, hi = -1;
    for (uint64_t i = 0; i < 200; i++) {
        vkd_builtin_example ea, eb;
        vkd_builtin_example_get(&d, i, &ea, a);
        vkd_builtin_example_get(&d, i, &eb, b);
        bad += memcmp(a, b, n * sizeof(float)) != 0 || memcmp(&ea, &eb, sizeof ea) != 0;
        bad += ea.view != vkd_builtin_view_of(ea.azimuth_deg, ea.elevation_deg);
        bad += ea.cond_index != ea.caption_index && ea.cond_index != VKD_BUILTIN_UNCOND;
        drops += ea.cond_index == VKD_BUILTIN_UNCOND;
        over += ea.view == VKD_BUILTIN_OVERHEAD;
        for (size_t k = 0; k < n; k++) lo = a[k] < lo ? a[k] : lo, hi = a[k] > hi ? a[k] : hi;
        vkd_builtin_data_desc d2 = d;
        d2.seed = 8;
        vkd_builtin_example_get(&d2, i, &eb, b);
        same_other_seed += !memcmp(a, b, n * sizeof(float));
    }
    tu_check(t, bad == 0, "examples are pure functions of (seed, index) with consistent captions (%d bad)", bad);
    tu_check(t, drops >= 8 && drops <= 35, "caption dropped for CFG in %u of 200 (p = 0.1)", drops);
    tu_check(t, over >= 20 && over <= 75, "overhead views in %u of 200 (elevation -10..80)", over);
    tu_check(t, lo >= -1.0f && hi == 1.0f && lo < 0.5f, "pixels in [-1, 1] with a white background (%g .. %g)",
             (double)lo, (double)hi);
    tu_check(t, same_other_seed == 0, "another seed gives other images (%u equal)", same_other_seed);
    free(a);
    free(b);
}

static void test_score(tu_ctx* t) {
    tu_case(t, "scoring: true renders score as correct, a blank image as wrong");
    const uint32_t S = 32;
    float* img = malloc(3 * S * S * sizeof(float));
    int color_ok = 0, n = 0;
    double iou_min = 1;
    for (int s = 0; s < VKD_SHAPE_COUNT; s++)
        for (int c = 0; c < VKD_COLOR_COUNT; c += 5) {
            vkd_builtin_view v = (vkd_builtin_view)((s + c) % VKD_BUILTIN_VIEW_COUNT);
            vkd_shape_object o = {.shape = (vkd_shape)s, .color = (vkd_shape_color)c, .scale = 0.95f, .yaw_deg = 5};
            float az, el;
            vkd_builtin_view_camera(v, S, &az, &el);
            vkd_builtin_render(&o, az, el, VKD_BUILTIN_VIEW_DISTANCE, VKD_BUILTIN_VIEW_FOV, S, 0, img);
            vkd_builtin_score sc;
            vkd_builtin_score_image(img, S, (vkd_shape)s, (vkd_shape_color)c, v, &sc);
            color_ok += sc.color_ok;
            iou_min = sc.iou < iou_min ? sc.iou : iou_min;
            n++;
        }
    tu_check(t, color_ok == n && iou_min > 0.75, "true renders: color %d/%d, min IoU %.3f", color_ok, n, iou_min);
    for (size_t i = 0; i < 3 * S * S; i++) img[i] = 1.0f;
    vkd_builtin_score sc;
    vkd_builtin_score_image(img, S, VKD_SHAPE_CUBE, VKD_COLOR_RED, VKD_BUILTIN_FRONT, &sc);
    tu_check(t, !sc.color_ok && sc.iou == 0 && sc.fg_fraction == 0, "blank image: color %s, IoU %.3f",
             sc.color_ok ? "ok" : "wrong", (double)sc.iou);
    // A square in the red sphere's mean color where the sphere should be: right color,
    // imperfect silhouette.
    vkd_shape_object red = {.shape = VKD_SHAPE_SPHERE, .color = VKD_COLOR_RED, .scale = 1};
    vkd_builtin_render(&red, 0, 15, VKD_BUILTIN_VIEW_DISTANCE, VKD_BUILTIN_VIEW_FOV, S, 0, img);
    vkd_builtin_score_image(img, S, VKD_SHAPE_SPHERE, VKD_COLOR_RED, VKD_BUILTIN_FRONT, &sc);
    float mean[3] = {sc.mean_rgb[0], sc.mean_rgb[1], sc.mean_rgb[2]};
    for (uint32_t y = 0; y < S; y++)
        for (uint32_t x = 0; x < S; x++) {
            bool in = x >= 10 && x < 22 && y >= 10 && y < 22;
            for (int c = 0; c < 3; c++) img[c * S * S + y * S + x] = in ? mean[c] : 1.0f;
        }
    vkd_builtin_score_image(img, S, VKD_SHAPE_SPHERE, VKD_COLOR_RED, VKD_BUILTIN_FRONT, &sc);
    tu_check(t, sc.color_ok && sc.iou > 0.2 && sc.iou < 0.9, "red square for a red sphere: color %s, IoU %.3f",
             sc.color_ok ? "ok" : "wrong", (double)sc.iou);
    free(img);
}

// UNet forward of (unet, p) on fixed inputs into host memory.
static bool unet_out(tu_ctx* t, const vkd_unet* u, const vkd_params* p, vkd_arena* a, tu_buf x, tu_buf ts, tu_buf ctx,
                     uint32_t B, uint32_t S, uint32_t T, float* host) {
    tu_buf out = tu_zeros(t, (size_t)B * 3 * S * S);
    vkd_arena_reset(a);
    vkd_unet_forward(u, p, NULL, t->s, a, out.addr, x.addr, ts.addr, ctx.addr, 0, B, S, S, T, NULL, NULL);
    bool ok = tu_run(t);
    vkd_error err = {0};
    if (ok) ok = !vkd_buffer_download(t->gpu, &out.b, 0, host, out.n * sizeof(float), &err);
    tu_free(t, &out);
    return ok;
}

static void test_train_save_load(tu_ctx* t) {
    char dir[256], tokdir[300], mdir[300], ckpt[300];
    snprintf(dir, sizeof dir, "/tmp/vkd_test_builtin_%d", (int)getpid());
    snprintf(tokdir, sizeof tokdir, "%s/tok", dir);
    snprintf(mdir, sizeof mdir, "%s/model", dir);
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.safetensors", dir);
    vkd_error err = {0};
    tu_case(t, "train: the held-out loss goes down");
    mkdir(dir, 0755);
    vkd_tokenizer* tok = NULL;
    int ntok = 0;
    vkd_status st = vkd_builtin_write_vocab(tokdir, &ntok, &err);
    if (!st) st = vkd_tokenizer_load_dir(tokdir, &tok, &err);
    if (!tu_check(t, st == VKD_OK && ntok == 668, "vocabulary: %d tokens%s%s", ntok, st ? ": " : "",
                  st ? err.msg : ""))
        return;
    vkd_tokenizer_info ti = vkd_tokenizer_get_info(tok);
    vkd_builtin_arch arch;
    vkd_builtin_arch_tiny(&arch, &ti);
    vkd_builtin_train_desc td = {.batch = 8, .lr = 3e-3f, .warmup = 1, .ema_decay = 0.9f, .seed = 3};
    vkd_builtin_trainer *tr = NULL, *tr2 = NULL;
    st = vkd_builtin_trainer_create(t->gpu, &arch, tok, &td, &tr, &err);
    if (!tu_check(t, st == VKD_OK, "trainer: %s", st ? err.msg : "created")) goto done;
    float before = 0, after = 0, loss = 0, gn = 0;
    st = vkd_builtin_trainer_eval(tr, 77, 32, false, &before, &err);
    int steps = t->quick ? 30 : 60;
    for (int i = 0; i < steps && !st; i++) st = vkd_builtin_trainer_step(tr, &loss, &gn, &err);
    if (!st) st = vkd_builtin_trainer_eval(tr, 77, 32, false, &after, &err);
    tu_check(t, st == VKD_OK && isfinite(before) && after < 0.8 * before,
             "held-out loss %.4f -> %.4f after %d steps (last batch %.4f, |g| %.3f)%s%s", (double)before,
             (double)after, steps, (double)loss, (double)gn, st ? ": " : "", st ? err.msg : "");

    tu_case(t, "checkpoint: a resumed run is bitwise the uninterrupted one");
    st = vkd_builtin_trainer_save_checkpoint(tr, ckpt, &err);
    for (int i = 0; i < 3 && !st; i++) st = vkd_builtin_trainer_step(tr, &loss, &gn, &err);
    if (!st) st = vkd_builtin_trainer_create(t->gpu, &arch, tok, &td, &tr2, &err);
    if (!st) st = vkd_builtin_trainer_load_checkpoint(tr2, ckpt, &err);
    uint32_t resumed_at = tr2 ? vkd_builtin_trainer_step_count(tr2) : 0;
    for (int i = 0; i < 3 && !st; i++) st = vkd_builtin_trainer_step(tr2, &loss, &gn, &err);
    if (tu_check(t, st == VKD_OK, "save, resume at %u, 3 steps: %s", resumed_at, st ? err.msg : "ok")) {
        vkd_builtin_parts p1 = vkd_builtin_trainer_parts(tr), p2 = vkd_builtin_trainer_parts(tr2);
        size_t n = p1.unet_p->total;
        float* h1 = malloc(n * sizeof(float));
        float* h2 = malloc(n * sizeof(float));
        const vkd_buffer* b1[] = {&p1.unet_p->data, &p1.unet_p->adam_m, &p1.unet_p->adam_v, p1.ema};
        const vkd_buffer* b2[] = {&p2.unet_p->data, &p2.unet_p->adam_m, &p2.unet_p->adam_v, p2.ema};
        const char* what[] = {"weights", "Adam m", "Adam v", "EMA"};
        for (int k = 0; k < 4; k++) {
            bool ok = !vkd_buffer_download(t->gpu, b1[k], 0, h1, n * sizeof(float), &err) &&
                      !vkd_buffer_download(t->gpu, b2[k], 0, h2, n * sizeof(float), &err) &&
                      !memcmp(h1, h2, n * sizeof(float));
            tu_check(t, ok, "%s equal after resume (%zu floats)", what[k], n);
        }
        tu_check(t, vkd_builtin_trainer_step_count(tr) == vkd_builtin_trainer_step_count(tr2),
                 "step counts %u and %u", vkd_builtin_trainer_step_count(tr), vkd_builtin_trainer_step_count(tr2));
        free(h1);
        free(h2);
    }
    if (tr2) {
        // A checkpoint from another configuration is refused.
        vkd_builtin_trainer* tr3 = NULL;
        vkd_builtin_train_desc td3 = td;
        td3.batch = 4;
        st = vkd_builtin_trainer_create(t->gpu, &arch, tok, &td3, &tr3, &err);
        if (!st) st = vkd_builtin_trainer_load_checkpoint(tr3, ckpt, &err);
        tu_check(t, st == VKD_ERR_INVALID && strstr(err.msg, "another configuration"), "other batch size: %s",
                 st ? err.msg : "accepted");
        vkd_builtin_trainer_free(tr3);
    }

    // Save the folder (F32 and F16) and load it back through the SD loader.
    vkd_builtin_parts pa = vkd_builtin_trainer_parts(tr);
    const uint32_t B = 2, S = arch.unet.sample_size, T = (uint32_t)ti.max_length, D = arch.clip.hidden_size;
    double* hx = tu_alloc_d((size_t)B * 3 * S * S);
    double* hc = tu_alloc_d((size_t)B * T * D);
    tu_fill_normal(t, hx, (size_t)B * 3 * S * S, 1.0);
    tu_fill_normal(t, hc, (size_t)B * T * D, 1.0);
    double hts[2] = {17, 640};
    tu_buf x = tu_upload_d(t, hx, (size_t)B * 3 * S * S), ctx = tu_upload_d(t, hc, (size_t)B * T * D),
           ts = tu_upload_d(t, hts, 2);
    size_t nout = (size_t)B * 3 * S * S;
    float* ref = malloc(nout * sizeof(float));
    float* got = malloc(nout * sizeof(float));
    vkd_arena arena = {.gpu = t->gpu};
    vkd_params ema_p = *pa.unet_p;  // the saved weights are the EMA's
    ema_p.data = *pa.ema;
    ema_p.grad = (vkd_buffer){0};
    for (int f16 = 0; f16 < 2; f16++) {
        tu_case(t, "save -> vkd_sd_load (%s): same UNet output and conditioning", f16 ? "F16" : "F32");
        vkd_builtin_save_desc sd = {.f16 = f16, .tokenizer_dir = tokdir, .note = "test"};
        st = vkd_builtin_trainer_save_model(tr, mdir, &sd, &err);
        vkd_sd_model* m = NULL;
        if (!st) st = vkd_sd_load(t->gpu, mdir, NULL, &m, &err);
        if (!tu_check(t, st == VKD_OK, "save + load: %s", st ? err.msg : "ok")) break;
        tu_check(t, m->tok && m->has_sched && !m->arch.has_vae && m->unet.d.sample_size == S &&
                        m->sched.d.beta_schedule == VKD_BETAS_LINEAR && m->sched.d.num_train_timesteps == 1000 &&
                        m->sched.d.timestep_spacing == VKD_SPACING_TRAILING && m->sched.final_alpha_cumprod == 1.0f,
                 "loaded: tokenizer, scheduler (linear, 1000, trailing, alpha 1 at the end), no VAE, sample_size %u",
                 m->unet.d.sample_size);
        vkd_params cmp_p = ema_p;
        vkd_buffer rounded = {0};
        if (f16) {
            // The reference: the EMA weights rounded to F16, in the same layout.
            float* h = malloc(ema_p.total * sizeof(float));
            vkd_buffer_download(t->gpu, pa.ema, 0, h, ema_p.total * sizeof(float), &err);
            for (size_t i = 0; i < ema_p.total; i++) h[i] = vkd_f16_to_f32(vkd_f32_to_f16(h[i]));
            vkd_buffer_alloc(t->gpu, ema_p.total * sizeof(float), &rounded, &err);
            vkd_buffer_upload(t->gpu, &rounded, 0, h, ema_p.total * sizeof(float), &err);
            cmp_p.data = rounded;
            free(h);
        }
        bool ok = unet_out(t, pa.unet, &cmp_p, &arena, x, ts, ctx, B, S, T, ref) &&
                  unet_out(t, &m->unet, &m->unet_p, &arena, x, ts, ctx, B, S, T, got);
        double maxd = 0, maxr = 0;
        for (size_t i = 0; i < nout; i++) {
            maxd = fmax(maxd, fabs((double)ref[i] - got[i]));
            maxr = fmax(maxr, fabs((double)ref[i]));
        }
        tu_check(t, ok && !memcmp(ref, got, nout * sizeof(float)) && maxr > 0,
                 "UNet output bitwise equal (max |d| %.3g, max |ref| %.3g)", maxd, maxr);
        if (rounded.addr) vkd_buffer_free(t->gpu, &rounded);
        // Text conditioning of a caption: the trainer's frozen encoder vs the loaded one.
        int32_t ids[64];
        vkd_tokenizer_encode_padded(m->tok, "a red cube, side view", ids, NULL, NULL, &err);
        tu_buf c1 = tu_zeros(t, (size_t)T * D), c2 = tu_zeros(t, (size_t)T * D);
        vkd_params text_cmp = *pa.text_p;
        vkd_buffer trounded = {0};
        if (f16) {
            float* h = malloc(text_cmp.total * sizeof(float));
            vkd_buffer_download(t->gpu, &pa.text_p->data, 0, h, text_cmp.total * sizeof(float), &err);
            for (size_t i = 0; i < text_cmp.total; i++) h[i] = vkd_f16_to_f32(vkd_f32_to_f16(h[i]));
            vkd_buffer_alloc(t->gpu, text_cmp.total * sizeof(float), &trounded, &err);
            vkd_buffer_upload(t->gpu, &trounded, 0, h, text_cmp.total * sizeof(float), &err);
            text_cmp.data = trounded;
            free(h);
        }
        st = vkd_clip_encode(pa.clip, &text_cmp, &arena, c1.addr, 0, ids, 1, T, 0, &err);
        if (!st) st = vkd_clip_encode(&m->clip, &m->text_p, &arena, c2.addr, 0, ids, 1, T, 0, &err);
        double* d1 = tu_download_d(t, c1);
        double* d2 = tu_download_d(t, c2);
        bool same = !st;
        for (size_t i = 0; i < (size_t)T * D && same; i++) same = d1[i] == d2[i];
        tu_check(t, same, "text conditioning bitwise equal%s%s", st ? ": " : "", st ? err.msg : "");
        free(d1);
        free(d2);
        tu_free(t, &c1);
        tu_free(t, &c2);
        if (trounded.addr) vkd_buffer_free(t->gpu, &trounded);

        if (!f16) {
            tu_case(t, "sampling: DDIM + CFG from the loaded folder");
            vkd_builtin_net net = {.tok = m->tok, .clip = &m->clip, .text_p = &m->text_p, .unet = &m->unet,
                                   .unet_p = &m->unet_p, .sched = &m->sched};
            const char* caps[3] = {"a red cube, side view", "a blue torus, front view", "a green cone"};
            float* s1 = malloc(3 * 3 * S * S * sizeof(float));
            float* s2 = malloc(3 * 3 * S * S * sizeof(float));
            vkd_builtin_sample_desc sdesc = {.steps = 4, .guidance = 3, .seed = 5, .batch = 2};
            st = vkd_builtin_sample(t->gpu, &net, caps, 3, &sdesc, s1, &err);
            if (!st) st = vkd_builtin_sample(t->gpu, &net, caps, 3, &sdesc, s2, &err);
            bool in_range = !st;
            for (size_t i = 0; i < 3 * 3 * S * S && in_range; i++) in_range = s1[i] >= 0 && s1[i] <= 1;
            tu_check(t, in_range && !memcmp(s1, s2, 3 * 3 * S * S * sizeof(float)),
                     "3 captions in batches of 2: deterministic, in [0, 1]%s%s", st ? ": " : "", st ? err.msg : "");
            free(s1);
            free(s2);

            tu_case(t, "the saved folder as a distillation prior (vkd_sd_prior_create, what generate uses)");
            vkd_prior* prior = NULL;
            vkd_prior_cond* cond = NULL;
            st = vkd_sd_prior_create(t->gpu, mdir, NULL, &prior, &err);
            if (!st) st = vkd_prior_encode_prompt(prior, t->s, "a red cube, side view", &cond, &err);
            if (tu_check(t, st == VKD_OK, "open + encode: %s", st ? err.msg : "ok")) {
                double acp_err = 0;
                for (uint32_t k = 0; k < 1000; k++)
                    acp_err = fmax(acp_err, fabs(prior->alphas_cumprod[k] - m->sched.alphas_cumprod[k]));
                tu_check(t, prior->space == VKD_PRIOR_PIXEL && prior->channels == 3 && prior->width == S &&
                                prior->num_timesteps == 1000 && acp_err < 1e-6,
                         "pixel space, 3 channels, %ux%u, %u timesteps, alphas_cumprod within %.2g", prior->width,
                         prior->height, prior->num_timesteps, acp_err);
                // eps at (x[0], t = 17) for the caption: the prior vs the trainer's own modules.
                int32_t ids1[64];
                vkd_tokenizer_encode_padded(tok, "a red cube, side view", ids1, NULL, NULL, &err);
                tu_buf cc = tu_zeros(t, (size_t)T * D), pe = tu_zeros(t, (size_t)3 * S * S);
                st = vkd_clip_encode(pa.clip, pa.text_p, &arena, cc.addr, 0, ids1, 1, T, 0, &err);
                float* want = malloc((size_t)3 * S * S * sizeof(float));
                float* have = malloc((size_t)3 * S * S * sizeof(float));
                bool ok = !st && unet_out(t, pa.unet, &ema_p, &arena, x, ts, cc, 1, S, T, want);
                int32_t t17 = 17;
                if (ok) ok = !vkd_prior_predict_eps(prior, t->s, pe.addr, x.addr, &t17, &cond, NULL, 1, S, S, &err);
                if (ok) ok = tu_run(t) && !vkd_buffer_download(t->gpu, &pe.b, 0, have, pe.n * sizeof(float), &err);
                // The model predicts v: eps = sqrt(abar) v + sqrt(1 - abar) x_t (float32 on the GPU).
                float* xh = malloc((size_t)3 * S * S * sizeof(float));
                double worst = 0, scale = 0;
                if (ok) ok = !vkd_buffer_download(t->gpu, &x.b, 0, xh, pe.n * sizeof(float), &err);
                double abar = m->sched.alphas_cumprod[t17];
                for (size_t i = 0; ok && i < pe.n; i++) {
                    double e = sqrt(abar) * want[i] + sqrt(1 - abar) * xh[i];
                    worst = fmax(worst, fabs(e - have[i]));
                    scale = fmax(scale, fabs(e));
                }
                free(xh);
                tu_check(t, ok && m->sched.d.prediction_type == VKD_PREDICT_V && worst <= 1e-5 * fmax(1, scale),
                         "vkd_prior_predict_eps equals sqrt(abar) v + sqrt(1 - abar) x_t of the trained UNet on the "
                         "caption's conditioning (max |d| %.2g)%s%s",
                         worst, ok ? "" : ": ", ok ? "" : err.msg);
                free(want);
                free(have);
                tu_free(t, &cc);
                tu_free(t, &pe);
            }
            if (cond) vkd_prior_cond_free(prior, cond);
            if (prior) vkd_prior_destroy(prior);
        }
        vkd_sd_free(m);
    }
    vkd_arena_free(&arena);
    tu_free(t, &x);
    tu_free(t, &ctx);
    tu_free(t, &ts);
    free(hx);
    free(hc);
    free(ref);
    free(got);
done:
    vkd_builtin_trainer_free(tr);
    vkd_builtin_trainer_free(tr2);
    vkd_tokenizer_free(tok);
    rm_tree(dir);
}

void test_builtin(tu_ctx* t) {
    test_data(t);
    test_score(t);
    test_train_save_load(t);
}
