// Score-distillation guidance (include/vkdream/guidance.h): the noise, the noisy samples,
// the prior's predictions with classifier-free guidance and the per-method combination, all
// recorded on the caller's stream; the per-sample constants travel as push constants (one
// dispatch per sample), so nothing is uploaded while work is pending.
#include "vkdream/guidance.h"
#include "distill/guidance.h"
#include "nn/reduce_team.h"
#include "vkd_shaders.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char* const method_names[] = {"sds", "vsd", "bsd", "asd"};

vkd_status vkd_guidance_method_parse(const char* name, vkd_guidance_method* out, vkd_error* err) {
    for (int i = 0; i < 4; i++)
        if (name && !strcmp(name, method_names[i])) {
            *out = (vkd_guidance_method)i;
            return VKD_OK;
        }
    return vkd_error_set(err, VKD_ERR_INVALID, "unknown guidance method \"%s\"; expected sds, vsd, bsd or asd",
                         name ? name : "(null)");
}

const char* vkd_guidance_method_name(vkd_guidance_method m) {
    return (unsigned)m < 4 ? method_names[m] : "unknown";
}

static const char* const weighting_names[] = {"default", "sds", "uniform", "fantasia3d", "sqrt_abar"};

vkd_status vkd_weighting_parse(const char* name, vkd_weighting* out, vkd_error* err) {
    for (int i = 0; i < 5; i++)
        if (name && !strcmp(name, weighting_names[i])) {
            *out = (vkd_weighting)i;
            return VKD_OK;
        }
    return vkd_error_set(err, VKD_ERR_INVALID,
                         "unknown weighting \"%s\"; expected default, sds, uniform, fantasia3d or sqrt_abar",
                         name ? name : "(null)");
}

double vkd_guidance_weight(vkd_guidance_method m, vkd_weighting w, bool bsd_auto, double abar) {
    if (m == VKD_GUIDANCE_BSD && bsd_auto) return sqrt(1 - abar);  // times ||e_n - eps|| / div on the device
    if (w == VKD_WEIGHT_DEFAULT) w = m == VKD_GUIDANCE_BSD ? VKD_WEIGHT_SQRT_ABAR : VKD_WEIGHT_SDS;
    switch (w) {
    case VKD_WEIGHT_UNIFORM: return 1;
    case VKD_WEIGHT_FANTASIA3D: return sqrt(abar) * (1 - abar);
    case VKD_WEIGHT_SQRT_ABAR: return sqrt(abar);
    default: return 1 - abar;
    }
}

double vkd_clip_value(const vkd_clip_schedule* c, uint32_t step) {
    if (c->end_step <= c->start_step) return c->start_value;
    double u = ((double)step - (double)c->start_step) / (double)(c->end_step - c->start_step);
    u = u < 0 ? 0 : u > 1 ? 1 : u;
    return c->start_value + (c->end_value - c->start_value) * u;
}

vkd_guidance_desc vkd_guidance_desc_defaults(const vkd_guidance_desc* desc) {
    vkd_guidance_desc d = desc ? *desc : (vkd_guidance_desc){0};
    bool aut = d.bsd_variant == VKD_BSD_AUTO;
    if (d.guidance_scale == 0) d.guidance_scale = d.method == VKD_GUIDANCE_SDS ? 100.0f : 7.5f;
    if (d.bsd_k == 0) d.bsd_k = 0.1f;
    if (d.bsd_c_scale == 0) d.bsd_c_scale = aut ? 1.0f : 15.0f;
    if (d.bsd_d_scale == 0) d.bsd_d_scale = aut ? 1.25f : 1.0f;
    if (d.bsd_auto_div == 0) d.bsd_auto_div = 50.0f;
    if (d.offset_noise == 0) d.offset_noise = d.method == VKD_GUIDANCE_BSD ? 0.1f : -1.0f;
    if (d.asd_eta == 0) d.asd_eta = 0.1f;
    return d;
}

// ---------------------------------------------------------------------------
// Noise

static uint32_t pcg(uint32_t v) {
    uint32_t state = v * 747796405u + 2891336453u;
    uint32_t word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

static double uniform24(uint32_t key, uint32_t pair, uint32_t k) {
    uint32_t h = pcg(pcg(key + pair) + k);
    return ((double)(h >> 8u) + 0.5) * (1.0 / 16777216.0);
}

static double normal_at(uint32_t key, uint32_t index) {
    const double tau = 6.283185307179586, pi = 3.141592653589793;
    uint32_t pair = index >> 1u;
    double r = sqrt(-2.0 * log(uniform24(key, pair, 0u)));
    double a = tau * uniform24(key, pair, 1u) - pi;
    return (index & 1u) ? -r * sin(a) : -r * cos(a);
}

void vkd_guidance_noise(vkd_stream* s, vkd_addr eps, uint64_t seed, float offset, uint32_t B, uint32_t C,
                        uint32_t HW) {
    uint64_t n = (uint64_t)B * C * HW;
    if (!n) return;
    if (n > UINT32_MAX || !eps) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "guidance_noise: %llu values (max 2^32 - 1), eps %s",
                        (unsigned long long)n, eps ? "set" : "0");
        return;
    }
    vkd_guidance_noise_push p = {.dst = eps,
                                 .n = (uint32_t)n,
                                 .HW = HW,
                                 .C = C,
                                 .seed_lo = (uint32_t)seed,
                                 .seed_hi = (uint32_t)(seed >> 32),
                                 .offset = offset > 0 ? offset : 0.0f};
    vkd_stream_dispatch_1d(s, VKD_KERNEL(distill_guidance_noise), &p, sizeof p, n, 256);
}

void vkd_ref_guidance_noise(double* eps, uint64_t seed, double offset, uint32_t B, uint32_t C, uint32_t HW) {
    uint32_t key = pcg(pcg((uint32_t)seed) + (uint32_t)(seed >> 32));
    uint32_t okey = pcg(key + 0x68bc21ebu);
    uint64_t n = (uint64_t)B * C * HW;
    for (uint64_t i = 0; i < n; i++) {
        double e = normal_at(key, (uint32_t)i);
        if (offset > 0) e += offset * normal_at(okey, (uint32_t)((i / HW) % C));
        eps[i] = e;
    }
}

// ---------------------------------------------------------------------------
// Combination

static void reduce(vkd_stream* s, uint32_t mode, vkd_addr a, vkd_addr e_n, vkd_addr eps, vkd_addr stats,
                   const vkd_guidance_desc* d, uint32_t B, uint32_t D) {
    bool aut = d->bsd_variant == VKD_BSD_AUTO;
    vkd_guidance_reduce_push p = {.a = a,
                                  .e_n = e_n,
                                  .eps = eps,
                                  .stats = stats,
                                  .B = B,
                                  .D = D,
                                  .mode = mode,
                                  .cs = d->bsd_c_scale,
                                  .ds = d->bsd_d_scale,
                                  .dsub = aut ? 1.0f : 0.0f};
    vkd_team_plan plan = vkd_team_plan_for(s, D, B);
    vkd_team_dispatch(s, VKD_KERNEL_SPEC(distill_guidance_reduce, plan.wg, plan.sg), &p, sizeof p, plan);
}

void vkd_guidance_combine(vkd_stream* s, vkd_addr g, vkd_addr stats, vkd_addr e_y, vkd_addr e_n, vkd_addr other,
                          vkd_addr eps, const vkd_guidance_desc* desc, const vkd_guidance_sample* samples, float clip,
                          uint32_t B, uint32_t D) {
    if (!B || !D) return;
    if ((uint64_t)B * D > UINT32_MAX) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "guidance_combine: B * D = %llu exceeds 2^32 - 1",
                        (unsigned long long)B * D);
        return;
    }
    bool bsd = desc->method == VKD_GUIDANCE_BSD, aut = bsd && desc->bsd_variant == VKD_BSD_AUTO;
    if (!g || !stats || !e_y || !e_n || (!bsd && !other) || (aut && !eps)) {
        vkd_stream_fail(s, VKD_ERR_INVALID,
                        "guidance_combine (%s): g, stats, e_y, e_n%s must be device addresses",
                        vkd_guidance_method_name(desc->method), bsd ? (aut ? " and eps" : "") : " and other");
        return;
    }
    if (bsd) reduce(s, VKD_GUIDANCE_REDUCE_BSD, e_y, e_n, aut ? eps : 0, stats, desc, B, D);
    for (uint32_t b = 0; b < B; b++) {
        vkd_addr off = 4 * (vkd_addr)b * D;
        vkd_guidance_combine_push p = {
            .g = g + off,
            .e_y = e_y + off,
            .e_n = e_n + off,
            .other = bsd ? 0 : other + off,
            .eps = aut ? eps + off : 0,
            .stats = stats + 16 * (vkd_addr)b,
            .D = D,
            .method = (uint32_t)desc->method,
            .cfg_plus_one = desc->cfg_plus_one,
            .bsd_auto = aut,
            .scale = desc->guidance_scale,
            .w = (float)(aut ? samples[b].w / desc->bsd_auto_div : samples[b].w),
            .clip = clip,
            .k = desc->bsd_k,
            .cs = desc->bsd_c_scale,
            .ds = desc->bsd_d_scale,
            .dsub = aut ? 1.0f : 0.0f,
        };
        vkd_stream_dispatch_1d(s, VKD_KERNEL(distill_guidance_combine), &p, sizeof p, D, 256);
    }
    reduce(s, VKD_GUIDANCE_REDUCE_NORM, g, 0, 0, stats, desc, B, D);
}

void vkd_ref_guidance_combine(double* g, double* stats, const double* e_y, const double* e_n, const double* other,
                              const double* eps, const vkd_guidance_desc* desc, const vkd_guidance_sample* samples,
                              double clip, uint32_t B, uint32_t D) {
    bool bsd = desc->method == VKD_GUIDANCE_BSD, aut = bsd && desc->bsd_variant == VKD_BSD_AUTO;
    double cs = desc->bsd_c_scale, ds = desc->bsd_d_scale, dsub = aut ? 1 : 0, s = desc->guidance_scale;
    for (uint32_t b = 0; b < B; b++) {
        size_t o = (size_t)b * D;
        double* st = stats + 4 * (size_t)b;
        st[0] = st[1] = st[2] = st[3] = 0;
        double lambda = 0, w = samples[b].w;
        if (bsd) {
            for (uint32_t j = 0; j < D; j++) {
                double ep = aut ? eps[o + j] : 0;
                double c = cs * (e_y[o + j] - e_n[o + j]), d = ds * (e_n[o + j] - dsub * ep);
                st[1] += (d - c) * d;
                st[2] += (d - c) * (d - c);
                st[3] += (e_n[o + j] - ep) * (e_n[o + j] - ep);
            }
            lambda = st[2] > 0 ? st[1] / st[2] : 0;
            lambda = lambda < 0 ? 0 : lambda > 1 ? 1 : lambda;
            if (aut) w = sqrt(st[3]) * samples[b].w / desc->bsd_auto_div;
        }
        for (uint32_t j = 0; j < D; j++) {
            double v;
            if (bsd) {
                double ep = aut ? eps[o + j] : 0;
                double c = cs * (e_y[o + j] - e_n[o + j]), d = ds * (e_n[o + j] - dsub * ep);
                v = desc->bsd_k * w * (lambda * c + (1 - lambda) * d);
            } else {
                double e = (desc->cfg_plus_one ? e_y[o + j] : e_n[o + j]) + s * (e_y[o + j] - e_n[o + j]);
                v = w * (e - other[o + j]);
            }
            if (clip > 0) v = v < -clip ? -clip : v > clip ? clip : v;
            g[o + j] = v;
            st[0] += v * v;
        }
    }
}

// ---------------------------------------------------------------------------
// The guidance object

struct vkd_guidance {
    vkd_gpu* gpu;
    vkd_prior* prior;
    vkd_prior_phi* phi;
    vkd_guidance_desc d;
    uint32_t nb;             // prior rows per sample
    vkd_buffer noise, zin, pred, g, stats, phi_pred, phi_noise, phi_loss;
    uint64_t cap_bd;         // B * D the buffers hold
    uint32_t cap_b;
    uint32_t last_b;         // B of the latest grad call (0: none yet)
};

vkd_status vkd_guidance_create(vkd_gpu* gpu, vkd_prior* prior, vkd_prior_phi* phi, const vkd_guidance_desc* desc,
                               vkd_guidance** out, vkd_error* err) {
    *out = NULL;
    vkd_guidance_desc d = vkd_guidance_desc_defaults(desc);
    if ((unsigned)d.method > VKD_GUIDANCE_ASD)
        return vkd_error_set(err, VKD_ERR_INVALID, "guidance: unknown method %d", (int)d.method);
    if ((unsigned)d.weighting > VKD_WEIGHT_SQRT_ABAR)
        return vkd_error_set(err, VKD_ERR_INVALID, "guidance: unknown weighting %d", (int)d.weighting);
    if ((unsigned)d.bsd_variant > VKD_BSD_AUTO)
        return vkd_error_set(err, VKD_ERR_INVALID, "guidance: unknown BSD variant %d", (int)d.bsd_variant);
    if (!(d.clip.start_value >= 0 && d.clip.end_value >= 0))
        return vkd_error_set(err, VKD_ERR_INVALID, "guidance: clip values %g, %g must be >= 0", d.clip.start_value,
                             d.clip.end_value);
    if (!(d.asd_eta > 0 && d.bsd_auto_div > 0))
        return vkd_error_set(err, VKD_ERR_INVALID, "guidance: asd_eta (%g) and bsd_auto_div (%g) must be > 0",
                             d.asd_eta, d.bsd_auto_div);
    if (d.method == VKD_GUIDANCE_VSD && !phi)
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "guidance vsd: needs the trainable model phi (vkd_prior_phi_create on prior %s)",
                             prior->name);
    vkd_guidance* g = calloc(1, sizeof *g);
    if (!g) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "guidance: out of host memory");
    g->gpu = gpu;
    g->prior = prior;
    g->phi = d.method == VKD_GUIDANCE_VSD ? phi : NULL;
    g->d = d;
    g->nb = d.method == VKD_GUIDANCE_ASD ? 3 : 2;
    *out = g;
    return VKD_OK;
}

static void free_buffers(vkd_guidance* g) {
    vkd_buffer* bufs[] = {&g->noise, &g->zin, &g->pred, &g->g, &g->stats, &g->phi_pred, &g->phi_noise, &g->phi_loss};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) vkd_buffer_free(g->gpu, bufs[i]);
    g->cap_bd = 0;
    g->cap_b = 0;
}

void vkd_guidance_destroy(vkd_guidance* g) {
    if (!g) return;
    free_buffers(g);
    free(g);
}

const vkd_guidance_desc* vkd_guidance_get_desc(const vkd_guidance* g) { return &g->d; }
uint32_t vkd_guidance_prior_batch(const vkd_guidance* g) { return g->nb; }

void vkd_guidance_views_get(const vkd_guidance* g, vkd_guidance_views* out) {
    *out = (vkd_guidance_views){.noise = g->noise.addr, .pred = g->pred.addr, .phi = g->phi_pred.addr, .g = g->g.addr};
}

static vkd_status ensure(vkd_guidance* g, vkd_stream* s, uint32_t B, uint64_t D, vkd_error* err) {
    uint64_t bd = B * D;
    if (bd <= g->cap_bd && B <= g->cap_b) return VKD_OK;
    // The old buffers may be read by recorded work: run it first.
    vkd_status st = vkd_stream_submit(s, err);
    if (st) return st;
    free_buffers(g);
    size_t f = 4;
    st = vkd_buffer_alloc(g->gpu, bd * f, &g->noise, err);
    if (!st) st = vkd_buffer_alloc(g->gpu, g->nb * bd * f, &g->zin, err);
    if (!st) st = vkd_buffer_alloc(g->gpu, g->nb * bd * f, &g->pred, err);
    if (!st) st = vkd_buffer_alloc(g->gpu, bd * f, &g->g, err);
    if (!st) st = vkd_buffer_alloc(g->gpu, 4 * (size_t)B * f, &g->stats, err);
    if (g->phi) {
        if (!st) st = vkd_buffer_alloc(g->gpu, bd * f, &g->phi_pred, err);
        if (!st) st = vkd_buffer_alloc(g->gpu, bd * f, &g->phi_noise, err);
        if (!st) st = vkd_buffer_alloc(g->gpu, f, &g->phi_loss, err);
    }
    if (st) {
        free_buffers(g);
        return vkd_error_prefix(err, "guidance: scratch for %u samples of %llu values: ", B, (unsigned long long)D);
    }
    g->cap_bd = bd;
    g->cap_b = B;
    return VKD_OK;
}

vkd_status vkd_guidance_grad(vkd_guidance* g, vkd_stream* s, vkd_addr dz, vkd_addr z, const vkd_guidance_batch* bt,
                             uint32_t h, uint32_t w, vkd_error* err) {
    vkd_prior* pr = g->prior;
    const char* name = vkd_guidance_method_name(g->d.method);
    uint32_t B = bt->B, C = pr->channels, T = pr->num_timesteps;
    uint64_t D = (uint64_t)C * h * w;
    if (!B || !D || !dz || !z)
        return vkd_error_set(err, VKD_ERR_INVALID, "guidance %s: empty batch or missing dz / z (B=%u, %ux%u)", name, B,
                             w, h);
    if ((uint64_t)g->nb * B * D > UINT32_MAX)
        return vkd_error_set(err, VKD_ERR_INVALID, "guidance %s: %u x %llu values exceed 2^32 - 1", name, g->nb * B,
                             (unsigned long long)D);
    if (!bt->t || !bt->cond || !bt->uncond)
        return vkd_error_set(err, VKD_ERR_INVALID, "guidance %s: the batch needs t, cond and uncond", name);
    if (g->d.method == VKD_GUIDANCE_ASD && !bt->t_plus)
        return vkd_error_set(err, VKD_ERR_INVALID, "guidance asd: the batch needs t_plus (vkd_asd_t_plus)");
    if (g->d.method == VKD_GUIDANCE_VSD && !bt->phi_t)
        return vkd_error_set(err, VKD_ERR_INVALID, "guidance vsd: the batch needs phi_t for phi's training step");
    for (uint32_t b = 0; b < B; b++) {
        bool bad = bt->t[b] < 0 || (uint32_t)bt->t[b] >= T;
        if (g->d.method == VKD_GUIDANCE_ASD) bad |= bt->t_plus[b] < 0 || (uint32_t)bt->t_plus[b] >= T;
        if (g->d.method == VKD_GUIDANCE_VSD) bad |= bt->phi_t[b] < 0 || (uint32_t)bt->phi_t[b] >= T;
        if (bad)
            return vkd_error_set(err, VKD_ERR_INVALID, "guidance %s: a timestep of sample %u is outside 0..%u", name, b,
                                 T - 1);
    }
    vkd_status st = ensure(g, s, B, D, err);
    if (st) return st;

    uint32_t n = g->nb * B;
    int32_t* tt = calloc(n, sizeof *tt);
    vkd_prior_cond** cc = calloc(n, sizeof *cc);
    float* cam = bt->c2w ? calloc((size_t)n * 16, sizeof *cam) : NULL;
    float* k = calloc(4 * (size_t)B, sizeof *k);
    vkd_guidance_sample* sm = calloc(B, sizeof *sm);
    if (!tt || !cc || (bt->c2w && !cam) || !k || !sm) {
        st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "guidance: out of host memory");
        goto done;
    }
    for (uint32_t r = 0; r < g->nb; r++)
        for (uint32_t b = 0; b < B; b++) {
            uint32_t i = r * B + b;
            tt[i] = r == 2 ? bt->t_plus[b] : bt->t[b];
            cc[i] = r == 1 ? bt->uncond[b] : bt->cond[b];
            if (cam) memcpy(cam + 16 * (size_t)i, bt->c2w + 16 * (size_t)b, 16 * sizeof *cam);
        }
    // The noise, then z_t (and z_{t+} for ASD) with the same noise.
    vkd_guidance_noise(s, g->noise.addr, bt->noise_seed, g->d.offset_noise, B, C, h * w);
    for (uint32_t r = 0; r < g->nb; r += 2) {
        for (uint32_t b = 0; b < B; b++) {
            double abar = pr->alphas_cumprod[tt[r * B + b]];
            k[b] = (float)sqrt(abar), k[B + b] = (float)sqrt(1 - abar);
        }
        vkd_prior_axpby(s, g->zin.addr + 4 * (vkd_addr)r * B * D, z, g->noise.addr, k, k + B, NULL, B, (uint32_t)D,
                        false);
    }
    vkd_stream_copy(s, g->zin.addr + 4 * (vkd_addr)B * D, g->zin.addr, (uint32_t)(B * D));
    st = vkd_prior_predict_eps(pr, s, g->pred.addr, g->zin.addr, tt, cc, cam, n, h, w, err);
    if (st) goto done;
    if (g->phi) {
        st = vkd_prior_phi_predict_eps(g->phi, s, g->phi_pred.addr, g->zin.addr, bt->t, bt->cond, bt->c2w, B, h, w,
                                       err);
        if (st) goto done;
    }
    for (uint32_t b = 0; b < B; b++) {
        sm[b].abar = pr->alphas_cumprod[bt->t[b]];
        sm[b].w = vkd_guidance_weight(g->d.method, g->d.weighting, g->d.bsd_variant == VKD_BSD_AUTO, sm[b].abar);
    }
    vkd_addr other = g->d.method == VKD_GUIDANCE_VSD   ? g->phi_pred.addr
                     : g->d.method == VKD_GUIDANCE_ASD ? g->pred.addr + 8 * (vkd_addr)B * D
                                                       : g->noise.addr;
    float clip = (float)vkd_clip_value(&g->d.clip, bt->step);
    vkd_guidance_combine(s, g->g.addr, g->stats.addr, g->pred.addr, g->pred.addr + 4 * (vkd_addr)B * D, other,
                         g->noise.addr, &g->d, sm, clip, B, (uint32_t)D);
    // dz += g / B (BSD: g).
    float scale = g->d.method == VKD_GUIDANCE_BSD ? 1.0f : 1.0f / (float)B;
    for (uint32_t b = 0; b < B; b++) k[b] = scale;
    vkd_prior_axpby(s, dz, g->g.addr, 0, k, NULL, NULL, B, (uint32_t)D, true);
    if (g->phi) {
        // phi learns the distribution of the current renders from the detached z.
        vkd_guidance_noise(s, g->phi_noise.addr, bt->phi_noise_seed, 0.0f, B, C, h * w);
        if (cam && bt->phi_drop_camera)
            for (uint32_t b = 0; b < B; b++)
                if (bt->phi_drop_camera[b]) memset(cam + 16 * (size_t)b, 0, 16 * sizeof *cam);
        st = vkd_prior_phi_train_step(g->phi, s, z, g->phi_noise.addr, bt->phi_t, bt->cond, cam, B, h, w,
                                      g->phi_loss.addr, err);
        if (st) goto done;
    }
    g->last_b = B;
done:
    free(tt);
    free(cc);
    free(cam);
    free(k);
    free(sm);
    return st;
}

vkd_status vkd_guidance_read_stats(vkd_guidance* g, vkd_guidance_stats* out, vkd_error* err) {
    memset(out, 0, sizeof *out);
    uint32_t B = g->last_b;
    if (!B) return vkd_error_set(err, VKD_ERR_INVALID, "guidance: no step has run yet");
    float* st = calloc(4 * (size_t)B, sizeof *st);
    if (!st) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "guidance: out of host memory");
    vkd_status r = vkd_buffer_download(g->gpu, &g->stats, 0, st, 16 * (size_t)B, err);
    float pl = 0;
    if (!r && g->phi) r = vkd_buffer_download(g->gpu, &g->phi_loss, 0, &pl, 4, err);
    if (!r) {
        double sum = 0, lam = 0;
        out->finite = true;
        for (uint32_t b = 0; b < B; b++) {
            const float* x = st + 4 * (size_t)b;
            sum += x[0];
            out->finite &= isfinite(x[0]) != 0;
            if (g->d.method == VKD_GUIDANCE_BSD) {
                double l = x[2] > 0 ? (double)x[1] / x[2] : 0;
                lam += l < 0 ? 0 : l > 1 ? 1 : l;
            }
        }
        out->loss = 0.5 * sum / B;
        out->grad_norm = sqrt(sum);
        out->lambda_mean = lam / B;
        out->phi_loss = pl;
    }
    free(st);
    return r;
}
