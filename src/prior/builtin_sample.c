// The built-in prior's sampler (DDIM with classifier-free guidance) and the scoring of samples
// against the ground truth of their captions (include/vkdream/prior/builtin.h).
#define _POSIX_C_SOURCE 200809L
#include "vkdream/nn/accumulate.h"
#include "vkdream/nn/eltwise.h"
#include "vkdream/prior/builtin.h"
#include "prior/builtin_internal.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// One chunk of b captions: x (b, 3, S, S) on the host, denoised in place.
typedef struct sampler {
    vkd_gpu* gpu;
    vkd_stream* s;
    vkd_arena arena;
    const vkd_builtin_net* net;
    vkd_scheduler sc;
    bool sc_ok;
    uint32_t S, T, D;
    vkd_buffer xin, ctx, ts, eps;  // (2b, 3, S, S), (2b, T, D), (2b,), (2b, 3, S, S)
} sampler;

static void sampler_free(sampler* sm) {
    vkd_buffer* bufs[] = {&sm->xin, &sm->ctx, &sm->ts, &sm->eps};
    for (int i = 0; i < 4; i++)
        if (bufs[i]->addr) vkd_buffer_free(sm->gpu, bufs[i]);
    if (sm->sc_ok) vkd_scheduler_free(&sm->sc);
    vkd_arena_free(&sm->arena);
    if (sm->s) vkd_stream_destroy(sm->s);
}

static vkd_status encode(sampler* sm, const char* text, vkd_addr dst, vkd_error* err) {
    int32_t ids[512];
    bool truncated = false;
    if ((uint32_t)sm->T > 512) return vkd_error_set(err, VKD_ERR_INVALID, "sampler: max_length %u", sm->T);
    vkd_status st = vkd_tokenizer_encode_padded(sm->net->tok, text, ids, NULL, &truncated, err);
    if (!st && truncated)
        fprintf(stderr, "vkdream: warning: caption \"%s\" is longer than %u tokens (truncated)\n", text, sm->T);
    for (uint32_t i = 0; i < sm->T && !st; i++)
        if (ids[i] < 0 || (uint32_t)ids[i] >= sm->net->clip->d.vocab_size)
            st = vkd_error_set(err, VKD_ERR_INVALID, "caption \"%s\": token id %d outside the text encoder's %u", text,
                               ids[i], sm->net->clip->d.vocab_size);
    if (!st) st = vkd_clip_encode(sm->net->clip, sm->net->text_p, &sm->arena, dst, 0, ids, 1, sm->T, 0, err);
    return st;
}

vkd_status vkd_builtin_sample(vkd_gpu* gpu, const vkd_builtin_net* net, const char* const* captions, uint32_t n,
                              const vkd_builtin_sample_desc* desc, float* rgb, vkd_error* err) {
    vkd_builtin_sample_desc d = desc ? *desc : (vkd_builtin_sample_desc){0};
    if (!d.steps) d.steps = 50;
    if (d.guidance == 0) d.guidance = 3.0f;
    if (!d.batch) d.batch = 16;
    if (d.batch > 128) d.batch = 128;
    sampler sm = {.gpu = gpu, .net = net, .arena = {.gpu = gpu}};
    sm.S = net->unet->d.sample_size;
    sm.T = (uint32_t)vkd_tokenizer_get_info(net->tok).max_length;
    sm.D = net->clip->d.hidden_size;
    const uint32_t S = sm.S, T = sm.T, D = sm.D, C = net->unet->d.in_channels;
    const uint64_t img = (uint64_t)C * S * S, per = (uint64_t)T * D;
    vkd_status st = VKD_OK;
    if (C != 3 || net->unet->d.out_channels != 3)
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "sampler: a pixel-space model (3 channels) is needed, not %u", C);
    if (!st && net->unet->d.cross_attention_dim != D)
        st = vkd_error_set(err, VKD_ERR_INVALID, "sampler: unet context %u != text width %u",
                           net->unet->d.cross_attention_dim, D);
    if (!st) st = vkd_stream_create(gpu, &sm.s, err);
    if (!st) {
        st = vkd_scheduler_init(&sm.sc, &net->sched->d, NULL, err);
        sm.sc_ok = !st;
    }
    if (!st) st = vkd_scheduler_set_timesteps(&sm.sc, d.steps, err);
    uint32_t bmax = n < d.batch ? n : d.batch;
    if (!st) st = vkd_buffer_alloc(gpu, 2 * bmax * img * sizeof(float), &sm.xin, err);
    if (!st) st = vkd_buffer_alloc(gpu, (2 * bmax + 1) * per * sizeof(float), &sm.ctx, err);
    if (!st) st = vkd_buffer_alloc(gpu, 2 * bmax * sizeof(float), &sm.ts, err);
    if (!st) st = vkd_buffer_alloc(gpu, 2 * bmax * img * sizeof(float), &sm.eps, err);
    double* x = malloc(bmax * img * sizeof(double));
    float* xf = malloc(2 * bmax * img * sizeof(float));
    float* e = malloc(2 * bmax * img * sizeof(float));
    if (!st && (!x || !xf || !e)) st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "sampler: out of host memory");
    const float* acp = sm.sc_ok ? sm.sc.alphas_cumprod : NULL;
    for (uint32_t first = 0; first < n && !st; first += bmax) {
        uint32_t b = n - first < bmax ? n - first : bmax;
        // Conditional rows 0..b-1, unconditional rows b..2b-1 (the "" caption, once per row).
        for (uint32_t i = 0; i < b && !st; i++) st = encode(&sm, captions[first + i], sm.ctx.addr + per * i * 4, err);
        if (!st) st = encode(&sm, "", sm.ctx.addr + per * b * 4, err);
        for (uint32_t i = 1; i < b && !st; i++)
            vkd_stream_copy(sm.s, sm.ctx.addr + per * (b + i) * 4, sm.ctx.addr + per * b * 4, (uint32_t)per);
        for (uint32_t i = 0; i < b; i++) {
            bi_rng r = bi_rng_for(d.seed, d.first + first + i, BI_STREAM_SAMPLE);
            for (uint64_t k = 0; k < img; k++) x[i * img + k] = bi_normal(&r);
        }
        for (uint32_t k = 0; k < d.steps && !st; k++) {
            int32_t t = sm.sc.timesteps[k];
            int32_t tp = vkd_scheduler_prev_timestep(&sm.sc, t);
            double a_t = acp[t], a_p = tp >= 0 ? acp[tp] : sm.sc.final_alpha_cumprod;
            float tf[256];
            for (uint32_t i = 0; i < 2 * b; i++) tf[i] = (float)t;
            for (uint64_t i = 0; i < b * img; i++) xf[i] = xf[b * img + i] = (float)x[i];
            st = vkd_buffer_upload(gpu, &sm.xin, 0, xf, 2 * b * img * sizeof(float), err);
            if (!st) st = vkd_buffer_upload(gpu, &sm.ts, 0, tf, 2 * b * sizeof(float), err);
            if (st) break;
            vkd_arena_reset(&sm.arena);
            vkd_unet_forward(net->unet, net->unet_p, NULL, sm.s, &sm.arena, sm.eps.addr, sm.xin.addr, sm.ts.addr,
                             sm.ctx.addr, 0, 2 * b, S, S, T, NULL, NULL);
            st = vkd_stream_submit(sm.s, err);
            if (!st) st = vkd_buffer_download(gpu, &sm.eps, 0, e, 2 * b * img * sizeof(float), err);
            if (st) break;
            // CFG, then DDIM (eta 0) with x0 clipped to the pixel range and epsilon re-derived
            // from it (diffusers' DDIMScheduler with clip_sample), in float64 on the host.
            // The guidance combines the model outputs (epsilon or v: both are linear in the
            // prediction, so CFG on v equals CFG on epsilon); x0 follows the prediction type.
            double sa = sqrt(a_t), sb = sqrt(1 - a_t), spa = sqrt(a_p), spb = sqrt(1 - a_p);
            bool vpred = sm.sc.d.prediction_type == VKD_PREDICT_V;
            for (uint64_t i = 0; i < b * img; i++) {
                double ey = e[i], en = e[b * img + i];
                double out = en + d.guidance * (ey - en);
                double x0 = vpred ? sa * x[i] - sb * out : (x[i] - sb * out) / sa;
                if (x0 < -1) x0 = -1;
                if (x0 > 1) x0 = 1;
                double eps = (x[i] - sa * x0) / sb;
                x[i] = spa * x0 + spb * eps;
            }
        }
        for (uint64_t i = 0; i < b * img && !st; i++) {
            double v = 0.5 * (x[i] + 1);
            rgb[first * img + i] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
        }
    }
    free(x);
    free(xf);
    free(e);
    sampler_free(&sm);
    return st;
}

// ---------------------------------------------------------------------------
// Scoring

#define FG_THRESHOLD 0.1f

static bool is_fg(const float* rgb, uint64_t hw, uint64_t i) {
    float m = 0;
    for (int c = 0; c < 3; c++) {
        float dlt = fabsf(rgb[c * hw + i] - 1.0f);
        if (dlt > m) m = dlt;
    }
    return m > FG_THRESHOLD;
}

static uint32_t fg_mean(const float* rgb, uint64_t hw, float mean[3]) {
    double acc[3] = {0, 0, 0};
    uint32_t cnt = 0;
    for (uint64_t i = 0; i < hw; i++) {
        if (!is_fg(rgb, hw, i)) continue;
        for (int c = 0; c < 3; c++) acc[c] += rgb[c * hw + i];
        cnt++;
    }
    for (int c = 0; c < 3; c++) mean[c] = cnt ? (float)(acc[c] / cnt) : 1.0f;
    return cnt;
}

void vkd_builtin_score_image(const float* rgb, uint32_t size, vkd_shape shape, vkd_shape_color color,
                             vkd_builtin_view view, vkd_builtin_score* out) {
    memset(out, 0, sizeof(*out));
    const uint64_t hw = (uint64_t)size * size;
    float* ref = malloc(3 * hw * sizeof(float));
    float* alpha = malloc(hw * sizeof(float));
    bool* fg = malloc(hw * sizeof(bool));
    if (!ref || !alpha || !fg) {
        free(ref), free(alpha), free(fg);
        out->color = VKD_COLOR_COUNT;
        return;
    }
    uint32_t cnt = fg_mean(rgb, hw, out->mean_rgb);
    for (uint64_t i = 0; i < hw; i++) fg[i] = is_fg(rgb, hw, i);
    out->fg_fraction = (float)cnt / (float)hw;
    float az, el;
    vkd_camera cam = vkd_builtin_view_camera(view, size, &az, &el);
    vkd_shape_render_desc rd = {.background = {1, 1, 1}};
    // Color: the nearest of the true shape's renders in every color, by the same measure.
    out->color = VKD_COLOR_COUNT;
    float best = FLT_MAX;
    for (int c = 0; c < VKD_COLOR_COUNT && cnt; c++) {
        vkd_shape_object o = {.shape = shape, .color = (vkd_shape_color)c, .scale = 1};
        vkd_builtin_render(&o, az, el, VKD_BUILTIN_VIEW_DISTANCE, VKD_BUILTIN_VIEW_FOV, size, 0, ref);
        float m[3];
        if (!fg_mean(ref, hw, m)) continue;
        float dist = 0;
        for (int k = 0; k < 3; k++) dist += (m[k] - out->mean_rgb[k]) * (m[k] - out->mean_rgb[k]);
        if (dist < best) best = dist, out->color = (vkd_shape_color)c;
    }
    out->color_ok = out->color == color;
    // Silhouette: best IoU over the object variations the caption does not pin down.
    static const float yaws[] = {-15, -7.5f, 0, 7.5f, 15};
    static const float scales[] = {0.85f, 0.975f, 1.1f};
    for (size_t y = 0; y < sizeof yaws / sizeof yaws[0]; y++)
        for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
            vkd_shape_object o = {.shape = shape, .color = color, .scale = scales[s], .yaw_deg = yaws[y]};
            vkd_shape_render(&o, &cam, &rd, NULL, alpha);
            uint32_t inter = 0, uni = 0;
            for (uint64_t i = 0; i < hw; i++) {
                bool a = alpha[i] > 0.5f;
                inter += a && fg[i];
                uni += a || fg[i];
            }
            float iou = uni ? (float)inter / (float)uni : 0;
            if (iou > out->iou) out->iou = iou;
        }
    free(ref);
    free(alpha);
    free(fg);
}
