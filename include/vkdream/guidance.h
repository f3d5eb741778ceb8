// Score-distillation guidance: the gradient a diffusion prior gives a batch of rendered
// images (SDS, VSD, BSD, ASD behind one interface, chosen by name), with classifier-free
// guidance, w(t) options and gradient clipping; plus the host-side pieces around it: the
// timestep schedules, view-dependent prompts and a small seeded RNG.
//
// Formulas (DESIGN.md "Score distillation"; z latents or pixels, abar = alphas_cumprod[t],
// z_t = sqrt(abar) z + sqrt(1 - abar) eps, e_y / e_n the prior's eps at z_t for the prompt /
// negative prompt, CFG e = e_n + s (e_y - e_n), or e_y + s (e_y - e_n) with cfg_plus_one):
//   SDS  g = w(t) (e - eps)                                w = 1 - abar, s = 100
//   VSD  g = w(t) (e - e_phi)                              e_phi: the trainable phi at (z_t, t, camera), s = 7.5
//   ASD  g = w(t) (e - e_y(z_{t+}, t+)), same eps          t+ = t + round(u eta (t - t_min)), eta = 0.1
//   BSD  c = cs (e_y - e_n), d = ds (e_n - dsub eps), per sample
//        lambda* = clip(<d - c, d> / ||d - c||^2, 0, 1), g = k w (lambda* c + (1 - lambda*) d), k = 0.1
//        standard: cs = 15, ds = 1, dsub = 0 (the reference code does not subtract eps), w = sqrt(abar)
//        auto:     cs = 1, ds = 1.25, dsub = 1, w = ||e_n - eps|| sqrt(1 - abar) / 50
// then g = clamp(g, -clip, clip) when clipping is on, and the injected gradient is
// dL/dz = g / B (loss 0.5 ||z - sg(z - g)||^2 / B) for SDS, VSD and ASD, and dL/dz = g for BSD
// (PlacidDreamer does not divide by the batch size).
#ifndef VKDREAM_GUIDANCE_H
#define VKDREAM_GUIDANCE_H

#include "vkdream/prior.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------
// Seeded host RNG (splitmix64): every random choice of a distillation run comes from one of
// these, keyed by (seed, step), so a run is reproducible and a resumed run continues the
// same sequence.

typedef struct vkd_rng {
    uint64_t state;
} vkd_rng;

// A generator for stream `stream` of step `step` of a run seeded with `seed`.
vkd_rng vkd_rng_for(uint64_t seed, uint64_t step, uint64_t stream);
uint64_t vkd_rng_u64(vkd_rng* r);
double vkd_rng_uniform(vkd_rng* r);                  // [0, 1), 53 bits
double vkd_rng_normal(vkd_rng* r);                   // N(0, 1), Box-Muller
int32_t vkd_rng_int(vkd_rng* r, int32_t lo, int32_t hi); // uniform in [lo, hi] (inclusive)

// ---------------------------------------------------------------------------
// Timestep schedules. t_min / t_max are fractions of the T training timesteps; a sampled
// t is an integer in [round(t_min T), round(t_max(step) T)] (threestudio's min_step / max_step).

typedef enum vkd_tsched_kind {
    VKD_TSCHED_UNIFORM = 0,  // t ~ U{t_min .. t_max}
    VKD_TSCHED_STEP,         // t_max drops to t_max_end at anneal_steps (DreamFusion / ProlificDreamer: 0.98 -> 0.5)
    VKD_TSCHED_LINEAR,       // t_max moves linearly to t_max_end over anneal_steps (PlacidDreamer: 0.98 -> 0.5 in 1500)
    VKD_TSCHED_SQRT,         // deterministic: t = t_max - (t_max - t_min) sqrt(step / anneal_steps) (HiFA-style)
} vkd_tsched_kind;

typedef struct vkd_tsched_desc {
    vkd_tsched_kind kind;
    float t_min;             // 0 = 0.02
    float t_max;             // 0 = 0.98
    float t_max_end;         // 0 = 0.5 (STEP, LINEAR)
    uint32_t anneal_steps;   // STEP: the step of the change; LINEAR / SQRT: their length (0: no annealing)
    uint32_t num_timesteps;  // T; 0 = 1000
} vkd_tsched_desc;

// Checks the fractions (0 <= t_min <= t_max, t_max_end <= 1) and the kind.
vkd_status vkd_tsched_validate(const vkd_tsched_desc* d, vkd_error* err);
// The integer range t is sampled from at `step` (0-based).
void vkd_tsched_range(const vkd_tsched_desc* d, uint32_t step, int32_t* lo, int32_t* hi);
// One timestep for `step`.
int32_t vkd_tsched_sample(const vkd_tsched_desc* d, uint32_t step, vkd_rng* r);
// ASD's larger timestep: min(T - 1, t + round(u eta (t - t_min))) with u ~ U[0, 1).
int32_t vkd_asd_t_plus(int32_t t, int32_t t_min, float eta, double u, uint32_t T);

// ---------------------------------------------------------------------------
// View-dependent prompts (DESIGN.md): overhead above 60 deg elevation, else front when
// |azimuth| < 45, back when |azimuth| > 135, side otherwise (azimuth wrapped to [-180, 180),
// 0 = front, as vkd_camera_orbit).

typedef enum vkd_view {
    VKD_VIEW_FRONT = 0,
    VKD_VIEW_SIDE,
    VKD_VIEW_BACK,
    VKD_VIEW_OVERHEAD,
    VKD_VIEW_COUNT
} vkd_view;

vkd_view vkd_view_of(float azimuth_deg, float elevation_deg);
const char* vkd_view_name(vkd_view v); // "front", "side", "back", "overhead"
// "<prompt>, <view> view" into out; an empty prompt stays empty (the unconditional prompt
// has no view). Returns the length it needed (like snprintf); >= size means truncated.
int vkd_view_prompt(char* out, size_t size, const char* prompt, vkd_view v);

// ---------------------------------------------------------------------------
// Guidance

typedef enum vkd_guidance_method {
    VKD_GUIDANCE_SDS = 0,
    VKD_GUIDANCE_VSD,
    VKD_GUIDANCE_BSD,
    VKD_GUIDANCE_ASD,
} vkd_guidance_method;

// "sds", "vsd", "bsd", "asd"; the error lists them.
vkd_status vkd_guidance_method_parse(const char* name, vkd_guidance_method* out, vkd_error* err);
const char* vkd_guidance_method_name(vkd_guidance_method m);

typedef enum vkd_weighting {
    VKD_WEIGHT_DEFAULT = 0,  // the method's: 1 - abar (SDS, VSD, ASD), sqrt(abar) (BSD standard)
    VKD_WEIGHT_SDS,          // 1 - abar (DreamFusion)
    VKD_WEIGHT_UNIFORM,      // 1
    VKD_WEIGHT_FANTASIA3D,   // sqrt(abar) (1 - abar)
    VKD_WEIGHT_SQRT_ABAR,    // sqrt(abar)
} vkd_weighting;

// "default", "sds", "uniform", "fantasia3d", "sqrt_abar".
vkd_status vkd_weighting_parse(const char* name, vkd_weighting* out, vkd_error* err);
// w(t) of a weighting for the given method (BSD auto's weight ||e_n - eps|| sqrt(1 - abar) / div
// is not a function of t alone: this returns its sqrt(1 - abar) factor, the device the rest).
double vkd_guidance_weight(vkd_guidance_method m, vkd_weighting w, bool bsd_auto, double abar);

typedef enum vkd_bsd_variant {
    VKD_BSD_STANDARD = 0,
    VKD_BSD_AUTO,
} vkd_bsd_variant;

// Gradient clipping by value: clamp(g, -c, c) with c linear from start_value at start_step to
// end_value at end_step (threestudio's [start_step, start_value, end_value, end_step]);
// constant when end_step <= start_step (start_value is used). 0 = no clipping.
typedef struct vkd_clip_schedule {
    float start_value, end_value;
    uint32_t start_step, end_step;
} vkd_clip_schedule;

double vkd_clip_value(const vkd_clip_schedule* c, uint32_t step);

typedef struct vkd_guidance_desc {
    vkd_guidance_method method;
    float guidance_scale;    // s; 0 = the method's default: SDS 100, VSD 7.5, ASD 7.5 (unused by BSD)
    bool cfg_plus_one;       // e = e_y + s (e_y - e_n) (threestudio's SDS files) instead of e_n + s (e_y - e_n)
    vkd_weighting weighting; // ignored by BSD auto
    vkd_clip_schedule clip;
    // BSD
    vkd_bsd_variant bsd_variant;
    float bsd_k;             // 0 = 0.1
    float bsd_c_scale;       // 0 = 15 (standard) / 1 (auto)
    float bsd_d_scale;       // 0 = 1 (standard) / 1.25 (auto)
    float bsd_auto_div;      // 0 = 50
    // Offset noise: eps = randn + offset randn(1, C, 1, 1). 0 = the method's default (0.1 for
    // BSD, none for the others); < 0 = none.
    float offset_noise;
    // ASD
    float asd_eta;           // 0 = 0.1
} vkd_guidance_desc;

// One distillation step's batch. Arrays are host arrays of B entries.
typedef struct vkd_guidance_batch {
    uint32_t B;
    const int32_t* t;
    const int32_t* t_plus;            // ASD: the larger timesteps (vkd_asd_t_plus); else unused
    vkd_prior_cond* const* cond;      // the (view-dependent) prompt's conditions
    vkd_prior_cond* const* uncond;    // the negative prompt's ("" by default)
    const float* c2w;                 // (B, 16) each view's camera-to-world, or NULL
    uint64_t noise_seed;              // eps = a pure function of (noise_seed, element)
    uint32_t step;                    // for the clip schedule
    // VSD: phi's training step on the detached z (ProlificDreamer): its timesteps, the views
    // whose camera is dropped (p = 0.1; NULL: none), and the seed of its noise.
    const int32_t* phi_t;
    const bool* phi_drop_camera;
    uint64_t phi_noise_seed;
} vkd_guidance_batch;

// What the last step measured (vkd_guidance_read_stats, after the stream ran).
typedef struct vkd_guidance_stats {
    double loss;             // 0.5 sum_b ||g_b||^2 / B (threestudio's loss_sds), g after clipping
    double grad_norm;        // sqrt(sum_b ||g_b||^2)
    double lambda_mean;      // BSD: mean lambda* over the batch; else 0
    double phi_loss;         // VSD: phi's training loss; else 0
    bool finite;             // every g was finite
} vkd_guidance_stats;

typedef struct vkd_guidance vkd_guidance;

// phi: VSD's trainable model (vkd_prior_phi_create); required for VSD, ignored otherwise.
// The guidance borrows prior and phi.
vkd_status vkd_guidance_create(vkd_gpu* gpu, vkd_prior* prior, vkd_prior_phi* phi, const vkd_guidance_desc* desc,
                               vkd_guidance** out, vkd_error* err);
void vkd_guidance_destroy(vkd_guidance* g);
// The desc with every default filled in.
const vkd_guidance_desc* vkd_guidance_get_desc(const vkd_guidance* g);
// Number of prior evaluations per sample (2 with CFG; ASD 3).
uint32_t vkd_guidance_prior_batch(const vkd_guidance* g);

// dz += dL/dz of the guidance for the batch of z (the prior's space: (B, C, h, w)).
// Records on s; may submit s (scratch growth, the prior's own submits). VSD also trains phi
// one step on the detached z.
vkd_status vkd_guidance_grad(vkd_guidance* g, vkd_stream* s, vkd_addr dz, // (B, C, h, w)
                             vkd_addr z,                                  // (B, C, h, w)
                             const vkd_guidance_batch* batch, uint32_t h, uint32_t w, vkd_error* err);
// Reads the statistics of the latest vkd_guidance_grad (its stream must have been submitted).
vkd_status vkd_guidance_read_stats(vkd_guidance* g, vkd_guidance_stats* out, vkd_error* err);

// Device views of the latest step's intermediates (valid until the next grad call), for
// tests and diagnostics: the noise eps (B, D), the prior's eps predictions (rows: cond 0..B-1,
// uncond B..2B-1, ASD's cond at t+ 2B..3B-1), phi's eps (B, D) (VSD) and g (B, D) before the
// batch scaling.
typedef struct vkd_guidance_views {
    vkd_addr noise, pred, phi, g;
} vkd_guidance_views;
void vkd_guidance_views_get(const vkd_guidance* g, vkd_guidance_views* out);

// ---------------------------------------------------------------------------
// Device building blocks (exposed for the tests)

// eps[i] = N(0, 1) from (seed, i), plus offset * N(0, 1) from (seed, channel) shared by the
// batch (DESIGN's randn(1, C, 1, 1)); channel = (i / HW) % C.
void vkd_guidance_noise(vkd_stream* s, vkd_addr eps, // (B, C, HW)
                        uint64_t seed, float offset, uint32_t B, uint32_t C, uint32_t HW);
// The same numbers in float64 on the host (Box-Muller in double on the same 24-bit uniforms).
void vkd_ref_guidance_noise(double* eps, uint64_t seed, double offset, uint32_t B, uint32_t C, uint32_t HW);

// The per-sample inputs of the combine step.
typedef struct vkd_guidance_sample {
    double abar;             // alphas_cumprod[t]
    double w;                // w(t) (vkd_guidance_weight); for BSD auto its sqrt(1 - abar) factor
} vkd_guidance_sample;

// g = the guidance formula of desc's method for each sample from the eps predictions:
//   e_y, e_n (B, D), other (B, D): the noise eps (SDS), e_phi (VSD), e_y at t+ (ASD), unused
//   by BSD (may be 0); eps (B, D): the noise (SDS, BSD auto). clip: the clip value (0: none).
// stats (B, 4) receives per sample: ||g||^2 and, for BSD, <d - c, d>, ||d - c||^2,
// ||e_n - eps||^2 (lambda* = clip(stats[1] / stats[2], 0, 1), 0 when stats[2] = 0).
void vkd_guidance_combine(vkd_stream* s, vkd_addr g,    // (B, D)
                          vkd_addr stats,               // (B, 4)
                          vkd_addr e_y, vkd_addr e_n, vkd_addr other, vkd_addr eps, // (B, D) each
                          const vkd_guidance_desc* desc, const vkd_guidance_sample* samples, float clip,
                          uint32_t B, uint32_t D);
void vkd_ref_guidance_combine(double* g, double* stats, const double* e_y, const double* e_n, const double* other,
                              const double* eps, const vkd_guidance_desc* desc, const vkd_guidance_sample* samples,
                              double clip, uint32_t B, uint32_t D);
// desc with the method's defaults filled in (what vkd_guidance_create stores).
vkd_guidance_desc vkd_guidance_desc_defaults(const vkd_guidance_desc* desc);

#ifdef __cplusplus
}
#endif
#endif
