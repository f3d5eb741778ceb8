// The reference-set prior (include/vkdream/refset_prior.h): the exact denoiser of a finite
// image set, as a vkd_prior. Per predict call: one logits dispatch per sample (a team per
// image), one softmax over the (B, N) logits, one mix dispatch per sample.
#include "vkdream/refset_prior.h"
#include "vkdream/nn/reduce.h"
#include "vkdream/nn/softmax.h"
#include "distill/refset.h"
#include "nn/reduce_team.h"
#include "vkd_shaders.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct refset {
    vkd_prior base;
    vkd_gpu* gpu;
    uint32_t N, D;
    vkd_buffer images;      // (N, D) in z space
    vkd_buffer dirs;        // (N, 4)
    float* host_dirs;       // (N, 4)
    uint32_t set_count;
    char** prompts;         // (set_count,)
    uint32_t* set_first;    // (set_count + 1,) image ranges per set
    float kappa;
    vkd_buffer logits;      // (cap_rows, N) scratch
    uint32_t cap_rows;
} refset;

struct vkd_prior_cond {
    vkd_buffer logw;        // (N,) 0 or -inf
    uint32_t members;
};

void vkd_refset_view_dir(const float m[16], float out[3]) {
    // Column 2 of the rotation is the camera's +z (viewing) axis in world coordinates.
    float x = -m[2], y = -m[6], z = -m[10];
    float n = sqrtf(x * x + y * y + z * z);
    if (n > 0) x /= n, y /= n, z /= n;
    out[0] = x, out[1] = y, out[2] = z;
}

static void sample_consts(const vkd_refset_sample* sm, float* sa, float* inv2var, float* sv) {
    *sa = (float)sqrt(sm->abar);
    *inv2var = (float)(0.5 / (1 - sm->abar));
    *sv = (float)sqrt(1 - sm->abar);
}

static bool check_sizes(vkd_stream* s, const char* op, uint32_t B, uint32_t N, uint32_t D) {
    if (!B || !N || !D) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: empty shape (B=%u, N=%u, D=%u)", op, B, N, D);
        return false;
    }
    if ((uint64_t)N * D > UINT32_MAX || (uint64_t)B * N > UINT32_MAX) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: N * D = %llu exceeds the 32-bit index range", op,
                        (unsigned long long)N * D);
        return false;
    }
    return true;
}

void vkd_refset_logits(vkd_stream* s, vkd_addr logits, vkd_addr z_t, vkd_addr images, vkd_addr dirs,
                       const vkd_refset_sample* samples, uint32_t B, uint32_t N, uint32_t D) {
    if (!check_sizes(s, "refset_logits", B, N, D)) return;
    if (!logits || !z_t || !images || !dirs) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "refset_logits: logits, z_t, images and dirs must be device addresses");
        return;
    }
    vkd_team_plan plan = vkd_team_plan_for(s, D, N);
    for (uint32_t b = 0; b < B; b++) {
        const vkd_refset_sample* sm = &samples[b];
        if (!sm->logw || !(sm->abar > 0 && sm->abar < 1)) {
            vkd_stream_fail(s, VKD_ERR_INVALID, "refset_logits: sample %u needs logw and 0 < abar < 1 (abar %g)", b,
                            sm->abar);
            return;
        }
        float sa, inv2var, sv;
        sample_consts(sm, &sa, &inv2var, &sv);
        vkd_refset_logits_push p = {
            .logits = logits + 4 * (vkd_addr)b * N,
            .z = z_t + 4 * (vkd_addr)b * D,
            .images = images,
            .logw = sm->logw,
            .dirs = dirs,
            .N = N,
            .D = D,
            .sqrt_abar = sa,
            .inv_two_var = inv2var,
            .dir_x = sm->dir[0],
            .dir_y = sm->dir[1],
            .dir_z = sm->dir[2],
            .kappa = sm->has_dir ? sm->kappa : 0.0f,
        };
        vkd_team_dispatch(s, VKD_KERNEL_SPEC(distill_refset_logits, plan.wg, plan.sg), &p, sizeof p, plan);
    }
}

static uint32_t mode_of(vkd_prediction pred) {
    return pred == VKD_PRED_V ? VKD_REFSET_V : pred == VKD_PRED_SAMPLE ? VKD_REFSET_X0 : VKD_REFSET_EPS;
}

void vkd_refset_mix(vkd_stream* s, vkd_addr out, vkd_addr x0_out, vkd_addr weights, vkd_addr z_t, vkd_addr images,
                    const vkd_refset_sample* samples, vkd_prediction pred, uint32_t B, uint32_t N, uint32_t D) {
    if (!check_sizes(s, "refset_mix", B, N, D)) return;
    if (!out || !weights || !z_t || !images) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "refset_mix: out, weights, z_t and images must be device addresses");
        return;
    }
    for (uint32_t b = 0; b < B; b++) {
        float sa, inv2var, sv;
        sample_consts(&samples[b], &sa, &inv2var, &sv);
        vkd_refset_mix_push p = {
            .dst = out + 4 * (vkd_addr)b * D,
            .x0 = x0_out ? x0_out + 4 * (vkd_addr)b * D : 0,
            .weights = weights + 4 * (vkd_addr)b * N,
            .z = z_t + 4 * (vkd_addr)b * D,
            .images = images,
            .N = N,
            .D = D,
            .mode = mode_of(pred),
            .sqrt_abar = sa,
            .sqrt_var = sv,
        };
        vkd_stream_dispatch_1d(s, VKD_KERNEL(distill_refset_mix), &p, sizeof p, D, 256);
    }
}

void vkd_ref_refset_mix(double* out, double* x0_out, const double* weights, const double* z_t, const double* images,
                        const vkd_refset_sample* samples, vkd_prediction pred, uint32_t B, uint32_t N, uint32_t D) {
    double* x0 = malloc((size_t)D * sizeof *x0);
    if (!x0) return;
    for (uint32_t b = 0; b < B; b++) {
        double sa = sqrt(samples[b].abar), sv = sqrt(1 - samples[b].abar);
        const double* z = z_t + (size_t)b * D;
        const double* w = weights + (size_t)b * N;
        for (uint32_t j = 0; j < D; j++) x0[j] = 0;
        for (uint32_t i = 0; i < N; i++)
            if (!(w[i] < VKD_REFSET_MIN_WEIGHT))  // as the kernel (shaders/distill/refset_mix.comp); NaN propagates
                for (uint32_t j = 0; j < D; j++) x0[j] += w[i] * images[(size_t)i * D + j];
        for (uint32_t j = 0; j < D; j++) {
            double eps = (z[j] - sa * x0[j]) / sv;
            double r = pred == VKD_PRED_SAMPLE ? x0[j] : pred == VKD_PRED_V ? sa * eps - sv * x0[j] : eps;
            out[(size_t)b * D + j] = r;
            if (x0_out) x0_out[(size_t)b * D + j] = x0[j];
        }
    }
    free(x0);
}

void vkd_ref_refset_denoise(double* out, double* x0_out, double* weights, double* logits, const double* z_t,
                            const double* images, const double* dirs, const vkd_refset_sample* samples,
                            vkd_prediction pred, uint32_t B, uint32_t N, uint32_t D) {
    double* l = malloc((size_t)B * N * sizeof *l);
    if (!l) return;
    for (uint32_t b = 0; b < B; b++) {
        const vkd_refset_sample* sm = &samples[b];
        double sa = sqrt(sm->abar), var = 1 - sm->abar;
        const double* z = z_t + (size_t)b * D;
        double* lb = l + (size_t)b * N;
        double mx = -INFINITY;
        for (uint32_t i = 0; i < N; i++) {
            double lw = sm->logw_host[i];
            if (isinf(lw) && lw < 0) {
                lb[i] = lw;
                continue;
            }
            double d = 0;
            for (uint32_t j = 0; j < D; j++) {
                double e = z[j] - sa * images[(size_t)i * D + j];
                d += e * e;
            }
            lb[i] = lw - d / (2 * var);
            if (sm->has_dir && sm->kappa > 0 && dirs[4 * i + 3] != 0) {
                double c = dirs[4 * i] * sm->dir[0] + dirs[4 * i + 1] * sm->dir[1] + dirs[4 * i + 2] * sm->dir[2];
                lb[i] += sm->kappa * (c - 1);
            }
            if (lb[i] > mx) mx = lb[i];
        }
        if (logits) memcpy(logits + (size_t)b * N, lb, (size_t)N * sizeof *lb);
        double sum = 0;
        for (uint32_t i = 0; i < N; i++) sum += (lb[i] = exp(lb[i] - mx));
        for (uint32_t i = 0; i < N; i++) lb[i] /= sum;
    }
    if (weights) memcpy(weights, l, (size_t)B * N * sizeof *l);
    vkd_ref_refset_mix(out, x0_out, l, z_t, images, samples, pred, B, N, D);
    free(l);
}

// ---------------------------------------------------------------------------
// The prior

static void rs_destroy(vkd_prior* base) {
    refset* r = base->impl;
    vkd_buffer_free(r->gpu, &r->images);
    vkd_buffer_free(r->gpu, &r->dirs);
    vkd_buffer_free(r->gpu, &r->logits);
    for (uint32_t i = 0; i < r->set_count; i++) free(r->prompts[i]);
    free(r->prompts);
    free(r->set_first);
    free(r->host_dirs);
    free(r);
}

static vkd_status rs_encode_prompt(vkd_prior* base, vkd_stream* s, const char* text, vkd_prior_cond** out,
                                   vkd_error* err) {
    (void)s;
    refset* r = base->impl;
    int set = -1;
    if (*text) {
        for (uint32_t i = 0; i < r->set_count; i++)
            if (!strcmp(r->prompts[i], text)) set = (int)i;
        if (set < 0) {
            char known[512] = "";
            size_t len = 0;
            for (uint32_t i = 0; i < r->set_count && len + 8 < sizeof known; i++) {
                int n = snprintf(known + len, sizeof known - len, "%s\"%s\"", i ? ", " : "", r->prompts[i]);
                if (n < 0) break;
                len += (size_t)n < sizeof known - len ? (size_t)n : sizeof known - len - 1;
            }
            return vkd_error_set(err, VKD_ERR_INVALID,
                                 "refset prior: no image set for the prompt \"%s\"; known prompts: %s (or \"\" for all)",
                                 text, known);
        }
    }
    float* lw = malloc((size_t)r->N * sizeof *lw);
    vkd_prior_cond* c = calloc(1, sizeof *c);
    if (!lw || !c) {
        free(lw), free(c);
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "refset prior: out of host memory");
    }
    uint32_t lo = set < 0 ? 0 : r->set_first[set], hi = set < 0 ? r->N : r->set_first[set + 1];
    for (uint32_t i = 0; i < r->N; i++) lw[i] = i >= lo && i < hi ? 0.0f : -INFINITY;
    c->members = hi - lo;
    vkd_status st = vkd_buffer_alloc(r->gpu, (size_t)r->N * 4, &c->logw, err);
    if (!st) st = vkd_buffer_upload(r->gpu, &c->logw, 0, lw, (size_t)r->N * 4, err);
    free(lw);
    if (st) {
        vkd_buffer_free(r->gpu, &c->logw);
        free(c);
        return vkd_error_prefix(err, "refset prior: condition of \"%s\": ", text);
    }
    *out = c;
    return VKD_OK;
}

static void rs_cond_free(vkd_prior* base, vkd_prior_cond* c) {
    refset* r = base->impl;
    vkd_buffer_free(r->gpu, &c->logw);
    free(c);
}

static vkd_status rs_predict(vkd_prior* base, vkd_stream* s, vkd_addr out, vkd_addr z_t, const int32_t* t,
                             vkd_prior_cond* const* conds, const float* c2w, uint32_t B, uint32_t h, uint32_t w,
                             vkd_error* err) {
    refset* r = base->impl;
    if ((uint64_t)base->channels * h * w != r->D)
        return vkd_error_set(err, VKD_ERR_INVALID, "refset prior: z is %ux%ux%u; the reference images are %ux%ux%u",
                             base->channels, h, w, base->channels, base->height, base->width);
    if (!conds) return vkd_error_set(err, VKD_ERR_INVALID, "refset prior: predict needs a condition per sample");
    if (B > r->cap_rows) {
        // The old scratch may be in use by recorded work: run it before freeing.
        vkd_status st = vkd_stream_submit(s, err);
        if (st) return st;
        vkd_buffer_free(r->gpu, &r->logits);
        r->cap_rows = 0;
        st = vkd_buffer_alloc(r->gpu, (size_t)B * r->N * 4, &r->logits, err);
        if (st) return vkd_error_prefix(err, "refset prior: logits scratch: ");
        r->cap_rows = B;
    }
    vkd_refset_sample* sm = calloc(B, sizeof *sm);
    if (!sm) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "refset prior: out of host memory");
    for (uint32_t b = 0; b < B; b++) {
        sm[b].abar = base->alphas_cumprod[t[b]];
        sm[b].logw = conds[b]->logw.addr;
        if (c2w && r->kappa > 0) {
            sm[b].has_dir = true;
            sm[b].kappa = r->kappa;
            vkd_refset_view_dir(c2w + 16 * (size_t)b, sm[b].dir);
        }
    }
    vkd_refset_logits(s, r->logits.addr, z_t, r->images.addr, r->dirs.addr, sm, B, r->N, r->D);
    vkd_softmax_forward(s, r->logits.addr, r->logits.addr, B, r->N, 1.0f, false);
    vkd_refset_mix(s, out, 0, r->logits.addr, z_t, r->images.addr, sm, base->prediction, B, r->N, r->D);
    free(sm);
    return VKD_OK;
}

// ---------------------------------------------------------------------------
// phi: the exact denoiser of a ring of recent samples

typedef struct refset_phi {
    vkd_prior_phi base;
    refset* r;
    uint32_t cap, next, filled;
    vkd_buffer images;      // (cap, D)
    vkd_buffer dirs;        // (cap, 4)
    vkd_buffer logw;        // (cap,) 0 for filled slots, -inf before
    vkd_buffer logits;      // (rows, cap)
    vkd_buffer zt, pred;    // (rows, D) for the training loss
    vkd_buffer scratch;     // the loss reduction's
    uint32_t rows;
} refset_phi;

static void phi_free_rows(refset_phi* f) {
    vkd_buffer_free(f->r->gpu, &f->logits);
    vkd_buffer_free(f->r->gpu, &f->zt);
    vkd_buffer_free(f->r->gpu, &f->pred);
    vkd_buffer_free(f->r->gpu, &f->scratch);
    f->rows = 0;
}

static void phi_destroy(vkd_prior_phi* base) {
    refset_phi* f = base->impl;
    phi_free_rows(f);
    vkd_buffer_free(f->r->gpu, &f->images);
    vkd_buffer_free(f->r->gpu, &f->dirs);
    vkd_buffer_free(f->r->gpu, &f->logw);
    free(f);
}

static vkd_status phi_rows(refset_phi* f, vkd_stream* s, uint32_t B, vkd_error* err) {
    if (B <= f->rows) return VKD_OK;
    vkd_status st = vkd_stream_submit(s, err);  // the old scratch may be in use
    if (st) return st;
    phi_free_rows(f);
    vkd_gpu* gpu = f->r->gpu;
    uint64_t sb = vkd_sum_scratch_bytes(B * f->r->D);
    st = vkd_buffer_alloc(gpu, (size_t)B * f->cap * 4, &f->logits, err);
    if (!st) st = vkd_buffer_alloc(gpu, (size_t)B * f->r->D * 4, &f->zt, err);
    if (!st) st = vkd_buffer_alloc(gpu, (size_t)B * f->r->D * 4, &f->pred, err);
    if (!st) st = vkd_buffer_alloc(gpu, sb ? sb : 4, &f->scratch, err);
    if (st) {
        phi_free_rows(f);
        return vkd_error_prefix(err, "refset phi: scratch for %u samples: ", B);
    }
    f->rows = B;
    return VKD_OK;
}

static bool has_camera(const float* m) {
    for (int k = 0; k < 16; k++)
        if (m[k] != 0) return true;
    return false;
}

static vkd_status phi_predict(vkd_prior_phi* base, vkd_stream* s, vkd_addr out, vkd_addr z_t, const int32_t* t,
                              vkd_prior_cond* const* conds, const float* c2w, uint32_t B, uint32_t h, uint32_t w,
                              vkd_error* err) {
    refset_phi* f = base->impl;
    refset* r = f->r;
    vkd_prior* p = &r->base;
    // Untrained: the prior itself, as a zero-initialised LoRA.
    if (!f->filled) return rs_predict(p, s, out, z_t, t, conds, c2w, B, h, w, err);
    if ((uint64_t)p->channels * h * w != r->D)
        return vkd_error_set(err, VKD_ERR_INVALID, "refset phi: z is %ux%ux%u; expected %ux%ux%u", p->channels, h, w,
                             p->channels, p->height, p->width);
    vkd_status st = phi_rows(f, s, B, err);
    if (st) return st;
    vkd_refset_sample* sm = calloc(B, sizeof *sm);
    if (!sm) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "refset phi: out of host memory");
    for (uint32_t b = 0; b < B; b++) {
        sm[b].abar = p->alphas_cumprod[t[b]];
        sm[b].logw = f->logw.addr;
        if (c2w && r->kappa > 0 && has_camera(c2w + 16 * (size_t)b)) {
            sm[b].has_dir = true;
            sm[b].kappa = r->kappa;
            vkd_refset_view_dir(c2w + 16 * (size_t)b, sm[b].dir);
        }
    }
    vkd_refset_logits(s, f->logits.addr, z_t, f->images.addr, f->dirs.addr, sm, B, f->cap, r->D);
    vkd_softmax_forward(s, f->logits.addr, f->logits.addr, B, f->cap, 1.0f, false);
    vkd_refset_mix(s, out, 0, f->logits.addr, z_t, f->images.addr, sm, p->prediction, B, f->cap, r->D);
    free(sm);
    return VKD_OK;
}

static uint32_t float_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static vkd_status phi_train(vkd_prior_phi* base, vkd_stream* s, vkd_addr z, vkd_addr noise, const int32_t* t,
                            vkd_prior_cond* const* conds, const float* c2w, uint32_t B, uint32_t h, uint32_t w,
                            vkd_addr loss, vkd_error* err) {
    refset_phi* f = base->impl;
    refset* r = f->r;
    vkd_prior* p = &r->base;
    if ((uint64_t)p->channels * h * w != r->D)
        return vkd_error_set(err, VKD_ERR_INVALID, "refset phi: z is %ux%ux%u; expected %ux%ux%u", p->channels, h, w,
                             p->channels, p->height, p->width);
    vkd_status st = phi_rows(f, s, B, err);
    if (st) return st;
    if (loss) {
        // The denoising loss of the current phi on these samples (eps targets).
        float* k = malloc(2 * (size_t)B * sizeof *k);
        if (!k) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "refset phi: out of host memory");
        for (uint32_t b = 0; b < B; b++) {
            double abar = p->alphas_cumprod[t[b]];
            k[b] = (float)sqrt(abar), k[B + b] = (float)sqrt(1 - abar);
        }
        vkd_prior_axpby(s, f->zt.addr, z, noise, k, k + B, NULL, B, r->D, false);
        free(k);
        st = vkd_prior_phi_predict_eps(base, s, f->pred.addr, f->zt.addr, t, conds, c2w, B, h, w, err);
        if (st) return st;
        vkd_mse_loss_forward(s, loss, f->scratch.addr, f->pred.addr, noise, B * r->D);
    }
    // Remember the samples (stream-ordered copies and fills: earlier recorded predictions
    // still see the old ring).
    for (uint32_t b = 0; b < B; b++) {
        uint32_t slot = f->next;
        vkd_stream_copy(s, f->images.addr + 4 * (vkd_addr)slot * r->D, z + 4 * (vkd_addr)b * r->D, r->D);
        float dir[4] = {0, 0, 0, 0};
        if (c2w && has_camera(c2w + 16 * (size_t)b)) {
            vkd_refset_view_dir(c2w + 16 * (size_t)b, dir);
            dir[3] = 1;
        }
        for (int k = 0; k < 4; k++) vkd_stream_fill(s, f->dirs.addr + 16 * (vkd_addr)slot + 4 * (vkd_addr)k, 1, float_bits(dir[k]));
        vkd_stream_fill(s, f->logw.addr + 4 * (vkd_addr)slot, 1, 0);
        f->next = (f->next + 1) % f->cap;
        if (f->filled < f->cap) f->filled++;
    }
    return VKD_OK;
}

static const vkd_prior_phi_vtbl refset_phi_vtbl = {
    .destroy = phi_destroy,
    .predict = phi_predict,
    .train_step = phi_train,
};

static vkd_status rs_phi_create(vkd_prior* base, vkd_stream* s, const vkd_prior_phi_desc* desc, vkd_prior_phi** out,
                                vkd_error* err) {
    refset* r = base->impl;
    refset_phi* f = calloc(1, sizeof *f);
    if (!f) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "refset phi: out of host memory");
    f->base = (vkd_prior_phi){.vt = &refset_phi_vtbl, .prior = base, .impl = f};
    f->r = r;
    f->cap = desc->capacity ? desc->capacity : 64;
    vkd_status st = VKD_OK;
    if ((uint64_t)f->cap * r->D > UINT32_MAX)
        st = vkd_error_set(err, VKD_ERR_INVALID, "refset phi: capacity %u x %u values exceed 2^32", f->cap, r->D);
    if (!st) st = vkd_buffer_alloc(r->gpu, (size_t)f->cap * r->D * 4, &f->images, err);
    if (!st) st = vkd_buffer_alloc(r->gpu, (size_t)f->cap * 16, &f->dirs, err);
    if (!st) st = vkd_buffer_alloc(r->gpu, (size_t)f->cap * 4, &f->logw, err);
    if (st) {
        phi_destroy(&f->base);
        return vkd_error_prefix(err, "refset phi: ");
    }
    // Empty slots: weight 0 (log -inf); the images are never read through them.
    vkd_stream_fill(s, f->logw.addr, f->cap, float_bits(-INFINITY));
    vkd_stream_fill(s, f->dirs.addr, 4 * f->cap, 0);
    vkd_stream_fill(s, f->images.addr, f->cap * r->D, 0);
    *out = &f->base;
    return VKD_OK;
}

static const vkd_prior_vtbl refset_vtbl = {
    .destroy = rs_destroy,
    .encode_prompt = rs_encode_prompt,
    .cond_free = rs_cond_free,
    .predict = rs_predict,
    .phi_create = rs_phi_create,
};

uint32_t vkd_refset_prior_image_count(const vkd_prior* p) { return ((const refset*)p->impl)->N; }
uint32_t vkd_refset_cond_members(const vkd_prior_cond* c) { return c->members; }

vkd_status vkd_refset_prior_create(vkd_gpu* gpu, const vkd_refset_desc* desc, vkd_prior** out, vkd_error* err) {
    *out = NULL;
    uint32_t C = desc->channels ? desc->channels : 3;
    if (!desc->width || !desc->height)
        return vkd_error_set(err, VKD_ERR_INVALID, "refset prior: width and height are required (got %ux%u)",
                             desc->width, desc->height);
    if (!desc->set_count || !desc->sets)
        return vkd_error_set(err, VKD_ERR_INVALID, "refset prior: at least one image set is required");
    if (!(desc->view_sigma_deg >= 0))
        return vkd_error_set(err, VKD_ERR_INVALID, "refset prior: view_sigma_deg %g must be >= 0",
                             desc->view_sigma_deg);
    uint64_t D = (uint64_t)C * desc->width * desc->height, N = 0;
    for (uint32_t i = 0; i < desc->set_count; i++) {
        const vkd_refset_set* st = &desc->sets[i];
        if (!st->prompt || !*st->prompt || !st->images || !st->count)
            return vkd_error_set(err, VKD_ERR_INVALID,
                                 "refset prior: set %u needs a non-empty prompt and at least one image", i);
        for (uint32_t j = 0; j < i; j++)
            if (!strcmp(desc->sets[j].prompt, st->prompt))
                return vkd_error_set(err, VKD_ERR_INVALID, "refset prior: prompt \"%s\" given for sets %u and %u",
                                     st->prompt, j, i);
        N += st->count;
    }
    if (N * D > UINT32_MAX)
        return vkd_error_set(err, VKD_ERR_INVALID, "refset prior: %llu images of %llu values exceed 2^32 values",
                             (unsigned long long)N, (unsigned long long)D);
    refset* r = calloc(1, sizeof *r);
    if (!r) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "refset prior: out of host memory");
    r->gpu = gpu;
    r->N = (uint32_t)N, r->D = (uint32_t)D;
    r->set_count = desc->set_count;
    r->kappa = desc->view_sigma_deg > 0 ? (float)(1.0 / pow(desc->view_sigma_deg * 3.14159265358979323846 / 180.0, 2)) : 0.0f;
    vkd_prior* p = &r->base;
    *p = (vkd_prior){.vt = &refset_vtbl,
                     .name = "refset",
                     .space = VKD_PRIOR_PIXEL,
                     .prediction = desc->prediction,
                     .channels = C,
                     .downsample = 1,
                     .width = desc->width,
                     .height = desc->height,
                     .num_timesteps = desc->num_timesteps ? desc->num_timesteps : 1000,
                     .impl = r};
    double b0 = desc->beta_start, b1 = desc->beta_end;
    if (desc->schedule == VKD_BETA_LINEAR) {
        if (b0 == 0) b0 = 1e-4;
        if (b1 == 0) b1 = 0.02;
    } else {
        if (b0 == 0) b0 = 0.00085;
        if (b1 == 0) b1 = 0.012;
    }
    float* z = NULL;
    r->prompts = calloc(r->set_count, sizeof *r->prompts);
    r->set_first = calloc(r->set_count + 1, sizeof *r->set_first);
    r->host_dirs = calloc(4 * N, sizeof *r->host_dirs);
    z = malloc((size_t)(N * D) * sizeof *z);
    vkd_status st = VKD_OK;
    if (!r->prompts || !r->set_first || !r->host_dirs || !z) {
        st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "refset prior: out of host memory for %llu images",
                           (unsigned long long)N);
        goto fail;
    }
    st = vkd_prior_schedule(p->alphas_cumprod, p->num_timesteps, desc->schedule, b0, b1, err);
    if (st) goto fail;
    uint32_t at = 0;
    for (uint32_t i = 0; i < r->set_count; i++) {
        const vkd_refset_set* set = &desc->sets[i];
        r->prompts[i] = malloc(strlen(set->prompt) + 1);
        if (!r->prompts[i]) {
            st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "refset prior: out of host memory");
            goto fail;
        }
        strcpy(r->prompts[i], set->prompt);
        r->set_first[i] = at;
        for (uint32_t k = 0; k < set->count; k++, at++) {
            const float* src = set->images + (size_t)k * D;
            for (uint64_t j = 0; j < D; j++) z[(size_t)at * D + j] = 2.0f * src[j] - 1.0f;
            if (set->c2w) {
                vkd_refset_view_dir(set->c2w + 16 * (size_t)k, &r->host_dirs[4 * (size_t)at]);
                r->host_dirs[4 * (size_t)at + 3] = 1.0f;
            }
        }
    }
    r->set_first[r->set_count] = at;
    st = vkd_buffer_alloc(gpu, (size_t)(N * D) * 4, &r->images, err);
    if (!st) st = vkd_buffer_upload(gpu, &r->images, 0, z, (size_t)(N * D) * 4, err);
    if (!st) st = vkd_buffer_alloc(gpu, (size_t)N * 16, &r->dirs, err);
    if (!st) st = vkd_buffer_upload(gpu, &r->dirs, 0, r->host_dirs, (size_t)N * 16, err);
    if (st) {
        vkd_error_prefix(err, "refset prior: uploading %llu images: ", (unsigned long long)N);
        goto fail;
    }
    free(z);
    *out = p;
    return VKD_OK;
fail:
    free(z);
    rs_destroy(p);
    return st;
}
