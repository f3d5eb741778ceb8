// The interface every diffusion prior implements, so score distillation (src/distill) can
// drive Stable Diffusion (latent space, CLIP text conditions), the reference-set prior of the
// tests (pixel space, image sets chosen by prompt) or any later model alike.
//
// A prior is a struct with a vtable (C11): `vt` holds the operations, the other members say
// what the model is. Implementations fill both in their create function; callers use the
// vkd_prior_* wrappers below, which check arguments and fill in the optional parts.
//
// Notation (DESIGN.md "Score distillation"): z latents or pixels in the prior's space,
// abar_t = alphas_cumprod[t], z_t = sqrt(abar_t) z + sqrt(1 - abar_t) eps.
//
// Images handed to a prior are renders: (B, 3, H, W) fp32 in [0, 1]. `encode` maps them into
// the prior's space: the VAE encoder (mean of the posterior, times the scaling factor) for a
// latent prior, z = 2 x - 1 for a pixel prior. Its backward lets the distillation gradient,
// which is taken with respect to z, reach the renders.
//
// Streams: the operations record work on the caller's stream. They may SUBMIT it (to grow
// scratch buffers or read back a size); callers must not rely on recorded work staying
// unsubmitted across a call.
//
// Threading: a prior and its conditions are used from one thread at a time.
#ifndef VKDREAM_PRIOR_H
#define VKDREAM_PRIOR_H

#include "vkdream/gpu.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VKD_PRIOR_MAX_TIMESTEPS 1000

typedef enum vkd_prior_space {
    VKD_PRIOR_PIXEL = 0,   // z = 2 x - 1 on the render itself; channels 3, downsample 1
    VKD_PRIOR_LATENT,      // z = VAE encoder(2 x - 1) * scaling factor
} vkd_prior_space;

// What the network outputs (diffusers' prediction_type).
typedef enum vkd_prediction {
    VKD_PRED_EPSILON = 0,  // the noise eps
    VKD_PRED_V,            // v = sqrt(abar) eps - sqrt(1 - abar) z (SD 2.x-768)
    VKD_PRED_SAMPLE,       // z itself (x0)
} vkd_prediction;

// A prompt's condition as the prior needs it (SD: the CLIP hidden states on the device;
// the reference-set prior: which images the prompt selects). Created by encode_prompt,
// owned by the caller, freed with vkd_prior_cond_free before the prior is destroyed.
typedef struct vkd_prior_cond vkd_prior_cond;

typedef struct vkd_prior vkd_prior;
typedef struct vkd_prior_phi vkd_prior_phi;
typedef struct vkd_prior_phi_desc vkd_prior_phi_desc;

typedef struct vkd_prior_vtbl {
    void (*destroy)(vkd_prior* p);
    // The condition of `text` (the empty string: the unconditional one, CFG's default
    // negative prompt).
    vkd_status (*encode_prompt)(vkd_prior* p, vkd_stream* s, const char* text, vkd_prior_cond** out,
                                vkd_error* err);
    void (*cond_free)(vkd_prior* p, vkd_prior_cond* c);
    // out = the network's prediction (of type p->prediction) for each sample b at z_t[b],
    // timestep t[b] and condition conds[b]. Classifier-free guidance puts the conditional and
    // unconditional copies of a sample in one batch. c2w: the camera-to-world matrix of each
    // sample's view, row-major (B, 16) on the host, or NULL; camera-conditioned priors (the
    // reference-set prior; MVDream-style models) use it, text-only ones ignore it.
    vkd_status (*predict)(vkd_prior* p, vkd_stream* s, vkd_addr out, // (B, C, h, w)
                          vkd_addr z_t,                              // (B, C, h, w)
                          const int32_t* t,                          // (B,) host, 0..num_timesteps-1
                          vkd_prior_cond* const* conds,              // (B,) host
                          const float* c2w,                          // (B, 16) host or NULL
                          uint32_t B, uint32_t h, uint32_t w, vkd_error* err);
    // Optional for pixel priors (NULL: z = 2 x - 1, see vkd_prior_encode). Latent priors:
    // z = encoder(x), keeping what encode_backward needs (the state of the latest call).
    vkd_status (*encode)(vkd_prior* p, vkd_stream* s, vkd_addr z, // (B, C, H/f, W/f)
                         vkd_addr image,                          // (B, 3, H, W) in [0, 1]
                         uint32_t B, uint32_t H, uint32_t W, vkd_error* err);
    // dimage += J^T dz through the latest encode (same B, H, W).
    vkd_status (*encode_backward)(vkd_prior* p, vkd_stream* s, vkd_addr dimage, // (B, 3, H, W)
                                  vkd_addr dz,                                  // (B, C, H/f, W/f)
                                  uint32_t B, uint32_t H, uint32_t W, vkd_error* err);
    // Optional (previews): image in [0, 1] from z (NULL for pixel priors: x = (z + 1) / 2).
    vkd_status (*decode)(vkd_prior* p, vkd_stream* s, vkd_addr image, // (B, 3, h f, w f)
                         vkd_addr z,                                  // (B, C, h, w)
                         uint32_t B, uint32_t h, uint32_t w, vkd_error* err);
    // Optional (VSD): a new trainable copy phi of this prior (SD: the UNet with LoRA and a
    // camera embedding; see vkd_prior_phi). NULL when the prior cannot make one.
    vkd_status (*phi_create)(vkd_prior* p, vkd_stream* s, const vkd_prior_phi_desc* desc, vkd_prior_phi** out,
                             vkd_error* err);
} vkd_prior_vtbl;

struct vkd_prior {
    const vkd_prior_vtbl* vt;
    const char* name;            // "refset", "sd-1.5", ...: for messages and logs
    vkd_prior_space space;
    vkd_prediction prediction;
    uint32_t channels;           // C of z: 3 for pixel priors, 4 for SD
    uint32_t downsample;         // f: z is (H / f, W / f) for an (H, W) render; 1 for pixel priors
    uint32_t width, height;      // the render size it works at (SD 512 / 768); 0: any size
    uint32_t num_timesteps;      // length of the training schedule, usually 1000
    double alphas_cumprod[VKD_PRIOR_MAX_TIMESTEPS]; // abar_t of the training schedule
    void* impl;                  // the implementation's state
};

// ---------------------------------------------------------------------------
// VSD's trainable model phi (ProlificDreamer): the prior's network plus trainable extra
// parameters (LoRA rank 4 on the attention q/k/v/out projections, and a camera embedding:
// the flattened 4x4 camera-to-world -> Linear(16, D) -> SiLU -> Linear(D, D), added to the
// time embedding), initialised so that phi starts as the prior (LoRA up-projections zero).
// After each distillation step phi is trained on the detached z of that step: t ~ U{0..T-1},
// z_t from fresh noise, MSE of phi's prediction to eps (or v for v-prediction models), the
// camera zeroed with probability 0.1 (the caller does the drop and the sampling, so runs
// are reproducible), and its own AdamW (lr 1e-4).

struct vkd_prior_phi_desc {
    float lr;                    // 0 = 1e-4 (AdamW)
    float weight_decay;          // 0 = 0 (ProlificDreamer's LoRA AdamW uses none)
    uint32_t lora_rank;          // 0 = 4
    uint32_t camera_dim;         // D of the camera embedding; 0 = the time embedding width
    vkd_prediction target;       // what the training regresses: 0 = the prior's own type
    uint64_t seed;               // initialisation
    uint32_t capacity;           // non-parametric phis (the reference-set prior's): samples remembered; 0 = 64
};

typedef struct vkd_prior_phi_vtbl {
    void (*destroy)(vkd_prior_phi* phi);
    // Like vkd_prior_vtbl.predict (same output type as the prior), with each sample's
    // camera for the embedding (c2w NULL or a zero row: no camera).
    vkd_status (*predict)(vkd_prior_phi* phi, vkd_stream* s, vkd_addr out, // (B, C, h, w)
                          vkd_addr z_t,                                     // (B, C, h, w)
                          const int32_t* t, vkd_prior_cond* const* conds, const float* c2w, uint32_t B, uint32_t h,
                          uint32_t w, vkd_error* err);
    // One optimizer step on detached samples: z_t = sqrt(abar_t) z + sqrt(1 - abar_t) noise,
    // loss = mean((phi(z_t, t, cond, c2w) - target)^2) with target = noise for epsilon
    // models (v for v-models). `loss` (may be 0) receives the loss value on the device.
    vkd_status (*train_step)(vkd_prior_phi* phi, vkd_stream* s, vkd_addr z, // (B, C, h, w) detached
                             vkd_addr noise,                                // (B, C, h, w) N(0, 1)
                             const int32_t* t, vkd_prior_cond* const* conds, const float* c2w, uint32_t B,
                             uint32_t h, uint32_t w, vkd_addr loss, // (1,) or 0
                             vkd_error* err);
} vkd_prior_phi_vtbl;

struct vkd_prior_phi {
    const vkd_prior_phi_vtbl* vt;
    vkd_prior* prior;            // the prior it was made from
    void* impl;
};

// ---------------------------------------------------------------------------
// Wrappers (check the arguments, then call the vtable)

void vkd_prior_destroy(vkd_prior* p);
vkd_status vkd_prior_encode_prompt(vkd_prior* p, vkd_stream* s, const char* text, vkd_prior_cond** out,
                                   vkd_error* err);
void vkd_prior_cond_free(vkd_prior* p, vkd_prior_cond* c);
// The raw prediction (type p->prediction).
vkd_status vkd_prior_predict(vkd_prior* p, vkd_stream* s, vkd_addr out, // (B, C, h, w)
                             vkd_addr z_t,                              // (B, C, h, w)
                             const int32_t* t, vkd_prior_cond* const* conds, const float* c2w, uint32_t B,
                             uint32_t h, uint32_t w, vkd_error* err);
// The prediction converted to eps (what every guidance formula uses).
vkd_status vkd_prior_predict_eps(vkd_prior* p, vkd_stream* s, vkd_addr eps, // (B, C, h, w)
                                 vkd_addr z_t,                              // (B, C, h, w)
                                 const int32_t* t, vkd_prior_cond* const* conds, const float* c2w, uint32_t B,
                                 uint32_t h, uint32_t w, vkd_error* err);
// z = encode(image); pixel priors without an encode: z = 2 image - 1.
vkd_status vkd_prior_encode(vkd_prior* p, vkd_stream* s, vkd_addr z, // (B, C, H/f, W/f)
                            vkd_addr image,                           // (B, 3, H, W)
                            uint32_t B, uint32_t H, uint32_t W, vkd_error* err);
// dimage += J^T dz (pixel priors without one: dimage += 2 dz).
vkd_status vkd_prior_encode_backward(vkd_prior* p, vkd_stream* s, vkd_addr dimage, // (B, 3, H, W)
                                     vkd_addr dz,                                  // (B, C, H/f, W/f)
                                     uint32_t B, uint32_t H, uint32_t W, vkd_error* err);
// image = decode(z), about [0, 1] (pixel priors without one: (z + 1) / 2, not clamped).
vkd_status vkd_prior_decode(vkd_prior* p, vkd_stream* s, vkd_addr image, // (B, 3, h f, w f)
                            vkd_addr z,                                  // (B, C, h, w)
                            uint32_t B, uint32_t h, uint32_t w, vkd_error* err);
// VKD_ERR_UNSUPPORTED (naming the prior) when it has no phi_create.
vkd_status vkd_prior_phi_create(vkd_prior* p, vkd_stream* s, const vkd_prior_phi_desc* desc, vkd_prior_phi** out,
                                vkd_error* err);
void vkd_prior_phi_destroy(vkd_prior_phi* phi);
// phi's prediction converted to eps.
vkd_status vkd_prior_phi_predict_eps(vkd_prior_phi* phi, vkd_stream* s, vkd_addr eps, vkd_addr z_t,
                                     const int32_t* t, vkd_prior_cond* const* conds, const float* c2w, uint32_t B,
                                     uint32_t h, uint32_t w, vkd_error* err);
vkd_status vkd_prior_phi_train_step(vkd_prior_phi* phi, vkd_stream* s, vkd_addr z, vkd_addr noise,
                                    const int32_t* t, vkd_prior_cond* const* conds, const float* c2w, uint32_t B,
                                    uint32_t h, uint32_t w, vkd_addr loss, vkd_error* err);

// ---------------------------------------------------------------------------
// Schedules and prediction types

typedef enum vkd_beta_schedule {
    VKD_BETA_SCALED_LINEAR = 0,  // betas = linspace(sqrt(b0), sqrt(b1), T)^2 (SD: 0.00085, 0.012)
    VKD_BETA_LINEAR,             // betas = linspace(b0, b1, T) (DDPM: 1e-4, 0.02)
} vkd_beta_schedule;

// alphas_cumprod of diffusers' DDPMScheduler: abar_t = prod_{s <= t} (1 - beta_s), in
// float64. T <= VKD_PRIOR_MAX_TIMESTEPS.
vkd_status vkd_prior_schedule(double* alphas_cumprod, uint32_t T, vkd_beta_schedule kind, double beta_start,
                              double beta_end, vkd_error* err);

// Coefficients (a, c) with to = a * pred + c * z_t for one sample at abar:
//   eps = sqrt(abar) v + sqrt(1 - abar) z_t,  v = (eps - sqrt(1 - abar) z_t) / sqrt(abar),
//   x0 = (z_t - sqrt(1 - abar) eps) / sqrt(abar) = sqrt(abar) z_t - sqrt(1 - abar) v.
void vkd_prediction_coeffs(vkd_prediction from, vkd_prediction to, double abar, double* a, double* c);
// out[b] = a_b pred[b] + c_b z_t[b] with the coefficients above at abar = alphas_cumprod[t[b]];
// out may equal pred.
void vkd_prediction_convert(vkd_stream* s, vkd_addr out, // (B, D)
                            vkd_addr pred,               // (B, D)
                            vkd_addr z_t,                // (B, D)
                            vkd_prediction from, vkd_prediction to, const double* alphas_cumprod,
                            const int32_t* t, uint32_t B, uint32_t D);
void vkd_ref_prediction_convert(double* out, const double* pred, const double* z_t, vkd_prediction from,
                                vkd_prediction to, const double* alphas_cumprod, const int32_t* t, uint32_t B,
                                uint32_t D);

// out[b, i] = a_b x[b, i] + c_b y[b, i] + d_b (+ out[b, i] when accumulate); y may be 0 (no
// term). One dispatch per sample: the per-sample scalars travel as push constants.
void vkd_prior_axpby(vkd_stream* s, vkd_addr out, // (B, D)
                     vkd_addr x,                  // (B, D)
                     vkd_addr y,                  // (B, D) or 0
                     const float* a, const float* c, const float* d, // (B,) host each; c, d may be NULL (0)
                     uint32_t B, uint32_t D, bool accumulate);

#ifdef __cplusplus
}
#endif
#endif
