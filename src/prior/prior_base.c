// The prior interface's wrappers (argument checks, the pixel-space defaults of the optional
// operations, conversion of predictions to eps), beta schedules and the per-sample affine
// kernel they share. See include/vkdream/prior.h.
#include "vkdream/prior.h"
#include "prior/prior_axpby.h"
#include "vkd_shaders.h"

#include <math.h>
#include <stdlib.h>

void vkd_prior_axpby(vkd_stream* s, vkd_addr out, vkd_addr x, vkd_addr y, const float* a, const float* c,
                     const float* d, uint32_t B, uint32_t D, bool accumulate) {
    if (!out || !x) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "prior_axpby: out and x must be set (out=%s, x=%s)", out ? "set" : "0",
                        x ? "set" : "0");
        return;
    }
    for (uint32_t b = 0; b < B; b++) {
        vkd_addr off = 4 * (vkd_addr)b * D;
        vkd_prior_axpby_push p = {
            .dst = out + off,
            .x = x + off,
            .y = y ? y + off : 0,
            .n = D,
            .accumulate = accumulate,
            .a = a[b],
            .c = c ? c[b] : 0.0f,
            .d = d ? d[b] : 0.0f,
        };
        vkd_stream_dispatch_1d(s, VKD_KERNEL(prior_prior_axpby), &p, sizeof p, D, 256);
    }
}

vkd_status vkd_prior_schedule(double* ac, uint32_t T, vkd_beta_schedule kind, double b0, double b1, vkd_error* err) {
    if (T < 2 || T > VKD_PRIOR_MAX_TIMESTEPS)
        return vkd_error_set(err, VKD_ERR_INVALID, "prior schedule: %u timesteps; expected 2..%d", T,
                             VKD_PRIOR_MAX_TIMESTEPS);
    if (!(b0 > 0 && b1 >= b0 && b1 < 1))
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "prior schedule: betas %g .. %g; expected 0 < beta_start <= beta_end < 1", b0, b1);
    double prod = 1;
    for (uint32_t i = 0; i < T; i++) {
        double u = (double)i / (double)(T - 1), beta;
        switch (kind) {
        case VKD_BETA_SCALED_LINEAR: {
            double r = sqrt(b0) + u * (sqrt(b1) - sqrt(b0));
            beta = r * r;
            break;
        }
        case VKD_BETA_LINEAR: beta = b0 + u * (b1 - b0); break;
        default: return vkd_error_set(err, VKD_ERR_INVALID, "prior schedule: unknown kind %d", (int)kind);
        }
        prod *= 1 - beta;
        ac[i] = prod;
    }
    return VKD_OK;
}

void vkd_prediction_coeffs(vkd_prediction from, vkd_prediction to, double abar, double* a, double* c) {
    if (from == to) {
        *a = 1, *c = 0;
        return;
    }
    double sa = sqrt(abar), sb = sqrt(1 - abar);
    // First to eps: eps = ae * pred + ce * z_t.
    double ae = 1, ce = 0;
    if (from == VKD_PRED_V) ae = sa, ce = sb;
    else if (from == VKD_PRED_SAMPLE) ae = -sa / sb, ce = 1 / sb;
    // Then from eps: out = ao * eps + co * z_t.
    double ao = 1, co = 0;
    if (to == VKD_PRED_V) ao = 1 / sa, co = -sb / sa;
    else if (to == VKD_PRED_SAMPLE) ao = -sb / sa, co = 1 / sa;
    *a = ao * ae;
    *c = ao * ce + co;
}

static bool t_ok(vkd_stream* s, const char* what, const int32_t* t, uint32_t B, uint32_t T) {
    for (uint32_t b = 0; b < B; b++)
        if (t[b] < 0 || (uint32_t)t[b] >= T) {
            vkd_stream_fail(s, VKD_ERR_INVALID, "%s: t[%u] = %d outside 0..%u", what, b, t[b], T - 1);
            return false;
        }
    return true;
}

void vkd_prediction_convert(vkd_stream* s, vkd_addr out, vkd_addr pred, vkd_addr z_t, vkd_prediction from,
                            vkd_prediction to, const double* ac, const int32_t* t, uint32_t B, uint32_t D) {
    if (!t_ok(s, "prediction_convert", t, B, VKD_PRIOR_MAX_TIMESTEPS)) return;
    float* a = malloc(2 * (size_t)(B ? B : 1) * sizeof *a);
    if (!a) {
        vkd_stream_fail(s, VKD_ERR_OUT_OF_MEMORY, "prediction_convert: out of host memory");
        return;
    }
    float* c = a + B;
    for (uint32_t b = 0; b < B; b++) {
        double da, dc;
        vkd_prediction_coeffs(from, to, ac[t[b]], &da, &dc);
        a[b] = (float)da, c[b] = (float)dc;
    }
    vkd_prior_axpby(s, out, pred, z_t, a, c, NULL, B, D, false);
    free(a);
}

void vkd_ref_prediction_convert(double* out, const double* pred, const double* z_t, vkd_prediction from,
                                vkd_prediction to, const double* ac, const int32_t* t, uint32_t B, uint32_t D) {
    for (uint32_t b = 0; b < B; b++) {
        double a, c;
        vkd_prediction_coeffs(from, to, ac[t[b]], &a, &c);
        for (uint32_t i = 0; i < D; i++) {
            size_t k = (size_t)b * D + i;
            out[k] = a * pred[k] + c * z_t[k];
        }
    }
}

// ---------------------------------------------------------------------------
// Wrappers

void vkd_prior_destroy(vkd_prior* p) {
    if (p) p->vt->destroy(p);
}

vkd_status vkd_prior_encode_prompt(vkd_prior* p, vkd_stream* s, const char* text, vkd_prior_cond** out,
                                   vkd_error* err) {
    *out = NULL;
    return p->vt->encode_prompt(p, s, text ? text : "", out, err);
}

void vkd_prior_cond_free(vkd_prior* p, vkd_prior_cond* c) {
    if (c) p->vt->cond_free(p, c);
}

static vkd_status check_batch(const vkd_prior* p, const char* what, const int32_t* t, vkd_prior_cond* const* conds,
                              uint32_t B, uint32_t h, uint32_t w, vkd_error* err) {
    if (!B || !h || !w)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s %s: empty batch (B=%u, %ux%u)", p->name, what, B, h, w);
    for (uint32_t b = 0; b < B; b++) {
        if (t[b] < 0 || (uint32_t)t[b] >= p->num_timesteps)
            return vkd_error_set(err, VKD_ERR_INVALID, "%s %s: t[%u] = %d outside 0..%u", p->name, what, b, t[b],
                                 p->num_timesteps - 1);
        if (conds && !conds[b])
            return vkd_error_set(err, VKD_ERR_INVALID, "%s %s: condition %u is NULL", p->name, what, b);
    }
    if (p->width && p->height && (w * p->downsample != p->width || h * p->downsample != p->height))
        return vkd_error_set(err, VKD_ERR_INVALID, "%s %s: z is %ux%u; this prior works on %ux%u (z %ux%u)", p->name,
                             what, w, h, p->width, p->height, p->width / p->downsample, p->height / p->downsample);
    return VKD_OK;
}

vkd_status vkd_prior_predict(vkd_prior* p, vkd_stream* s, vkd_addr out, vkd_addr z_t, const int32_t* t,
                             vkd_prior_cond* const* conds, const float* c2w, uint32_t B, uint32_t h, uint32_t w,
                             vkd_error* err) {
    vkd_status st = check_batch(p, "predict", t, conds, B, h, w, err);
    if (st) return st;
    return p->vt->predict(p, s, out, z_t, t, conds, c2w, B, h, w, err);
}

vkd_status vkd_prior_predict_eps(vkd_prior* p, vkd_stream* s, vkd_addr eps, vkd_addr z_t, const int32_t* t,
                                 vkd_prior_cond* const* conds, const float* c2w, uint32_t B, uint32_t h, uint32_t w,
                                 vkd_error* err) {
    vkd_status st = vkd_prior_predict(p, s, eps, z_t, t, conds, c2w, B, h, w, err);
    if (!st && p->prediction != VKD_PRED_EPSILON)
        vkd_prediction_convert(s, eps, eps, z_t, p->prediction, VKD_PRED_EPSILON, p->alphas_cumprod, t, B,
                               p->channels * h * w);
    return st;
}

static vkd_status check_image(const vkd_prior* p, const char* what, uint32_t B, uint32_t H, uint32_t W,
                              vkd_error* err) {
    if (!B || !H || !W)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s %s: empty batch (B=%u, %ux%u)", p->name, what, B, H, W);
    if (H % p->downsample || W % p->downsample)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s %s: image %ux%u is not a multiple of the downsample factor %u",
                             p->name, what, W, H, p->downsample);
    if (p->width && p->height && (W != p->width || H != p->height))
        return vkd_error_set(err, VKD_ERR_INVALID, "%s %s: image %ux%u; this prior works on %ux%u", p->name, what, W,
                             H, p->width, p->height);
    return VKD_OK;
}

// Pixel priors: z = 2 x - 1 and its transpose, with one constant per sample.
static void pixel_affine(vkd_stream* s, vkd_addr out, vkd_addr in, uint32_t B, uint32_t D, float a, float d,
                         bool accumulate) {
    float* k = malloc(2 * (size_t)B * sizeof *k);
    if (!k) {
        vkd_stream_fail(s, VKD_ERR_OUT_OF_MEMORY, "prior: out of host memory");
        return;
    }
    for (uint32_t b = 0; b < B; b++) k[b] = a, k[B + b] = d;
    vkd_prior_axpby(s, out, in, 0, k, NULL, k + B, B, D, accumulate);
    free(k);
}

vkd_status vkd_prior_encode(vkd_prior* p, vkd_stream* s, vkd_addr z, vkd_addr image, uint32_t B, uint32_t H,
                            uint32_t W, vkd_error* err) {
    vkd_status st = check_image(p, "encode", B, H, W, err);
    if (st) return st;
    if (p->vt->encode) return p->vt->encode(p, s, z, image, B, H, W, err);
    if (p->space != VKD_PRIOR_PIXEL || p->channels != 3)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: a latent prior must implement encode", p->name);
    pixel_affine(s, z, image, B, 3 * H * W, 2.0f, -1.0f, false);
    return VKD_OK;
}

vkd_status vkd_prior_encode_backward(vkd_prior* p, vkd_stream* s, vkd_addr dimage, vkd_addr dz, uint32_t B,
                                     uint32_t H, uint32_t W, vkd_error* err) {
    vkd_status st = check_image(p, "encode_backward", B, H, W, err);
    if (st) return st;
    if (p->vt->encode_backward) return p->vt->encode_backward(p, s, dimage, dz, B, H, W, err);
    if (p->space != VKD_PRIOR_PIXEL || p->channels != 3)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: a latent prior must implement encode_backward", p->name);
    pixel_affine(s, dimage, dz, B, 3 * H * W, 2.0f, 0.0f, true);
    return VKD_OK;
}

vkd_status vkd_prior_decode(vkd_prior* p, vkd_stream* s, vkd_addr image, vkd_addr z, uint32_t B, uint32_t h,
                            uint32_t w, vkd_error* err) {
    if (!B || !h || !w)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s decode: empty batch (B=%u, %ux%u)", p->name, B, h, w);
    if (p->vt->decode) return p->vt->decode(p, s, image, z, B, h, w, err);
    if (p->space != VKD_PRIOR_PIXEL || p->channels != 3)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: this latent prior has no decoder", p->name);
    pixel_affine(s, image, z, B, 3 * h * w, 0.5f, 0.5f, false);
    return VKD_OK;
}

vkd_status vkd_prior_phi_create(vkd_prior* p, vkd_stream* s, const vkd_prior_phi_desc* desc, vkd_prior_phi** out,
                                vkd_error* err) {
    *out = NULL;
    if (!p->vt->phi_create)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                             "prior %s cannot make the trainable model VSD needs (no phi); use sds, bsd or asd",
                             p->name);
    vkd_prior_phi_desc d = desc ? *desc : (vkd_prior_phi_desc){0};
    return p->vt->phi_create(p, s, &d, out, err);
}

void vkd_prior_phi_destroy(vkd_prior_phi* phi) {
    if (phi) phi->vt->destroy(phi);
}

vkd_status vkd_prior_phi_predict_eps(vkd_prior_phi* phi, vkd_stream* s, vkd_addr eps, vkd_addr z_t,
                                     const int32_t* t, vkd_prior_cond* const* conds, const float* c2w, uint32_t B,
                                     uint32_t h, uint32_t w, vkd_error* err) {
    vkd_prior* p = phi->prior;
    vkd_status st = check_batch(p, "phi predict", t, conds, B, h, w, err);
    if (st) return st;
    st = phi->vt->predict(phi, s, eps, z_t, t, conds, c2w, B, h, w, err);
    if (!st && p->prediction != VKD_PRED_EPSILON)
        vkd_prediction_convert(s, eps, eps, z_t, p->prediction, VKD_PRED_EPSILON, p->alphas_cumprod, t, B,
                               p->channels * h * w);
    return st;
}

vkd_status vkd_prior_phi_train_step(vkd_prior_phi* phi, vkd_stream* s, vkd_addr z, vkd_addr noise,
                                    const int32_t* t, vkd_prior_cond* const* conds, const float* c2w, uint32_t B,
                                    uint32_t h, uint32_t w, vkd_addr loss, vkd_error* err) {
    vkd_status st = check_batch(phi->prior, "phi train_step", t, conds, B, h, w, err);
    if (st) return st;
    return phi->vt->train_step(phi, s, z, noise, t, conds, c2w, B, h, w, loss, err);
}
