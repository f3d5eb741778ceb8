// The DDPM noise schedule of Stable Diffusion (diffusers DDPMScheduler / DDIMScheduler):
// betas and alphas_cumprod computed bit for bit as diffusers v0.21 on PyTorch does in
// float32, inference timesteps (set_timesteps: leading / trailing / linspace spacing +
// steps_offset), and GPU kernels for add_noise, the velocity (v-prediction target) and
// the conversions between epsilon, v and x0 with a timestep per sample, plus a DDIM step.
//
// Notation: abar_t = alphas_cumprod[t], sa = sqrt(abar_t), sb = sqrt(1 - abar_t), both
// rounded to float32 as diffusers computes them (alphas_cumprod[t] ** 0.5 on float32).
#ifndef VKDREAM_PRIOR_SCHEDULER_H
#define VKDREAM_PRIOR_SCHEDULER_H

#include "vkdream/gpu.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vkd_betas_kind {
    VKD_BETAS_SCALED_LINEAR = 0,   // linspace(sqrt(b0), sqrt(b1), N) ** 2 (SD)
    VKD_BETAS_LINEAR = 1,          // linspace(b0, b1, N)
    VKD_BETAS_SQUAREDCOS_CAP_V2 = 2, // Glide cosine, max beta 0.999
} vkd_betas_kind;  // (prior.h's vkd_beta_schedule is the distillation side's)

typedef enum vkd_prediction_type {
    VKD_PREDICT_EPSILON = 0,
    VKD_PREDICT_V = 1,             // "v_prediction" (SD 2.x 768)
    VKD_PREDICT_SAMPLE = 2,
} vkd_prediction_type;

typedef enum vkd_timestep_spacing {
    VKD_SPACING_LEADING = 0,       // (arange(n) * (N // n))[::-1] + steps_offset (SD)
    VKD_SPACING_TRAILING = 1,      // round(arange(N, 0, -N / n)) - 1
    VKD_SPACING_LINSPACE = 2,      // round(linspace(0, N - 1, n))[::-1]
} vkd_timestep_spacing;

// Zero means default where noted; the defaults are SD's scheduler.
typedef struct vkd_scheduler_desc {
    uint32_t num_train_timesteps;  // N; 0 = 1000
    double beta_start, beta_end;   // 0 = 0.00085 / 0.012 (double: the config's values, as Python reads them)
    vkd_betas_kind beta_schedule;
    vkd_prediction_type prediction_type;
    vkd_timestep_spacing timestep_spacing;
    int32_t steps_offset;          // used as given (SD configs say 1; diffusers' default is 0)
    bool set_alpha_to_one;         // DDIM: abar before the first step is 1 instead of alphas_cumprod[0]
    bool clip_sample;              // DDIM: clamp x0 to +-clip_sample_range (not supported by the step)
    float clip_sample_range;
} vkd_scheduler_desc;

// Reads diffusers' scheduler/scheduler_config.json (DDPM, DDIM, PNDM, Euler... share these
// keys): num_train_timesteps, beta_start, beta_end, beta_schedule, prediction_type,
// timestep_spacing, steps_offset, set_alpha_to_one, clip_sample, clip_sample_range.
// Keys it lacks leave *d as it is. Errors name the file and the key (an unknown
// beta_schedule, trained_betas, rescale_betas_zero_snr or thresholding true).
vkd_status vkd_scheduler_config_load(const char* path, vkd_scheduler_desc* d, vkd_error* err);
vkd_status vkd_scheduler_config_parse(const char* json, size_t len, const char* what, vkd_scheduler_desc* d,
                                      vkd_error* err);

typedef struct vkd_scheduler {
    vkd_scheduler_desc d;          // resolved
    float* betas;                  // (N,) float32, equal to diffusers' scheduler.betas
    float* alphas_cumprod;         // (N,) float32, equal to diffusers' scheduler.alphas_cumprod
    float* sqrt_acp;               // (N,) sa per t
    float* sqrt_1m_acp;            // (N,) sb per t (= sqrt_acp + N: one allocation)
    float final_alpha_cumprod;     // DDIM's abar for "t = -1"
    uint32_t num_inference_steps;  // 0 until vkd_scheduler_set_timesteps
    int32_t* timesteps;            // (num_inference_steps,) descending
    vkd_gpu* gpu;
    vkd_buffer table;              // device (2N,): sqrt_acp | sqrt_1m_acp (when created with a gpu)
} vkd_scheduler;

// Computes the schedule on the host and, when gpu is not NULL, uploads the per-t
// coefficient table the GPU kernels read. Free with vkd_scheduler_free.
vkd_status vkd_scheduler_init(vkd_scheduler* sc, const vkd_scheduler_desc* d, vkd_gpu* gpu, vkd_error* err);
void vkd_scheduler_free(vkd_scheduler* sc);
// diffusers set_timesteps(n): fills sc->timesteps (n in 1..N).
vkd_status vkd_scheduler_set_timesteps(vkd_scheduler* sc, uint32_t n, vkd_error* err);
// The timestep a DDIM step from t goes to: t - N / n (integer division); needs set_timesteps.
int32_t vkd_scheduler_prev_timestep(const vkd_scheduler* sc, int32_t t);

// Linear combinations of two tensors with per-sample coefficients of abar_t. Samples are
// B blocks of n contiguous floats; timesteps holds B floats with integer values in [0, N)
// (rounded, and clamped into that range).
typedef enum vkd_sched_op {
    VKD_SCHED_ADD_NOISE = 0,   // (a, b) = (x0, eps):  x_t = sa x0 + sb eps
    VKD_SCHED_VELOCITY = 1,    // (a, b) = (x0, eps):  v   = sa eps - sb x0   (diffusers get_velocity)
    VKD_SCHED_EPS_FROM_V = 2,  // (a, b) = (x_t, v):   eps = sa v + sb x_t
    VKD_SCHED_X0_FROM_V = 3,   // (a, b) = (x_t, v):   x0  = sa x_t - sb v
    VKD_SCHED_X0_FROM_EPS = 4, // (a, b) = (x_t, eps): x0  = (x_t - sb eps) / sa
    VKD_SCHED_EPS_FROM_X0 = 5, // (a, b) = (x_t, x0):  eps = (x_t - sa x0) / sb
    VKD_SCHED_V_FROM_EPS = 6,  // (a, b) = (x_t, eps): v   = (eps - sb x_t) / sa
    VKD_SCHED_OP_COUNT
} vkd_sched_op;

// out = op(a, b) per sample. out may alias a or b.
void vkd_scheduler_combine(const vkd_scheduler* sc, vkd_stream* s, vkd_sched_op op,
                           vkd_addr out,        // (B, n)
                           vkd_addr a,          // (B, n)
                           vkd_addr b,          // (B, n)
                           vkd_addr timesteps,  // (B,) floats
                           uint32_t B, uint32_t n);
// da += dL/da, db += dL/db given dout (the ops are linear in a and b); either may be 0.
void vkd_scheduler_combine_backward(const vkd_scheduler* sc, vkd_stream* s, vkd_sched_op op,
                                    vkd_addr da,         // (B, n) or 0
                                    vkd_addr db,         // (B, n) or 0
                                    vkd_addr dout,       // (B, n)
                                    vkd_addr timesteps,  // (B,)
                                    uint32_t B, uint32_t n);

// Conveniences over vkd_scheduler_combine.
// noisy = sa x0 + sb noise (diffusers add_noise).
void vkd_scheduler_add_noise(const vkd_scheduler* sc, vkd_stream* s, vkd_addr noisy, vkd_addr x0, vkd_addr noise,
                             vkd_addr timesteps, uint32_t B, uint32_t n);
// v = sa noise - sb x0 (diffusers get_velocity: the v-prediction training target).
void vkd_scheduler_velocity(const vkd_scheduler* sc, vkd_stream* s, vkd_addr v, vkd_addr x0, vkd_addr noise,
                            vkd_addr timesteps, uint32_t B, uint32_t n);
// The model's output as an epsilon prediction, given x_t, per the desc's prediction type
// (epsilon: a copy; v: sa v + sb x_t; sample: (x_t - sa x0) / sb).
void vkd_scheduler_to_epsilon(const vkd_scheduler* sc, vkd_stream* s, vkd_addr eps, vkd_addr model_out,
                              vkd_addr x_t, vkd_addr timesteps, uint32_t B, uint32_t n);
// The model's output as an x0 prediction (epsilon: (x_t - sb eps) / sa; v: sa x_t - sb v; sample: a copy).
void vkd_scheduler_to_x0(const vkd_scheduler* sc, vkd_stream* s, vkd_addr x0, vkd_addr model_out, vkd_addr x_t,
                         vkd_addr timesteps, uint32_t B, uint32_t n);

// One DDIM step (diffusers DDIMScheduler.step, no clipping/thresholding) from timestep t
// (one of sc->timesteps) for the whole tensor: prev = sqrt(abar_prev) x0 +
// sqrt(1 - abar_prev - sigma^2) eps + sigma noise, sigma = eta sqrt((1 - abar_prev) /
// (1 - abar_t) (1 - abar_t / abar_prev)); x0 and eps from model_out per the prediction
// type. noise is read only when eta > 0. prev may not alias the inputs.
vkd_status vkd_scheduler_ddim_step(const vkd_scheduler* sc, vkd_stream* s,
                                   vkd_addr prev,       // (n,)
                                   vkd_addr model_out,  // (n,)
                                   vkd_addr sample,     // (n,) x_t
                                   vkd_addr noise,      // (n,) or 0 when eta == 0
                                   int32_t t, float eta, uint32_t n, vkd_error* err);
// The coefficients of that step: prev = cs * sample + cm * model_out + cn * noise (double).
vkd_status vkd_scheduler_ddim_coefs(const vkd_scheduler* sc, int32_t t, float eta, double* cs, double* cm,
                                    double* cn, vkd_error* err);

#ifdef __cplusplus
}
#endif
#endif
