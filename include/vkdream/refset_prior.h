// The reference-set prior: the exact denoiser of a finite set of images, for tests and
// demonstrations of score distillation without a trained model.
//
// For data distributed uniformly over images x_1..x_N (pixel space, z = 2 x - 1) and the DDPM
// forward process z_t = sqrt(abar) z + sqrt(1 - abar) eps, the posterior mean is
//   E[z | z_t] = sum_i w_i z_i,  w = softmax_i(log pi_i - ||z_t - sqrt(abar) z_i||^2 / (2 (1 - abar)))
// and the optimal noise prediction eps = (z_t - sqrt(abar) E[z | z_t]) / sqrt(1 - abar).
// The log prior weights log pi_i condition it:
//  - by prompt: each prompt names a set of images (a registry given at creation); the empty
//    prompt (CFG's default negative) selects the union of all sets, so guidance pushes toward
//    the prompt's own set. Images outside the chosen set have pi_i = 0.
//  - by view (optional): images registered with a camera get
//    log pi_i += (cos theta_i - 1) / sigma^2, theta_i the angle between the viewing directions
//    of the sample's camera and the image's camera (a von Mises-Fisher weight, about
//    -theta^2 / (2 sigma^2)), so the denoiser points toward the object as seen from the
//    sampled camera rather than toward whichever view is closest in pixels. Samples without
//    a camera (c2w NULL) and images without one get no view term.
//
// VSD's phi (vkd_prior_phi_create): the exact denoiser of the renders it was trained on, a
// ring of the latest desc.capacity detached samples with their cameras, under the same view
// weighting; it models the distribution of the current renders non-parametrically, as
// ProlificDreamer's LoRA does parametrically. Before any training it predicts as the prior
// (a zero-initialised LoRA does too). Its training loss is the denoising MSE of its
// prediction, before the new samples are added.
#ifndef VKDREAM_REFSET_PRIOR_H
#define VKDREAM_REFSET_PRIOR_H

#include "vkdream/prior.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vkd_refset_set {
    const char* prompt;     // selects this set; must be non-empty and unique
    const float* images;    // (count, C, H, W) in [0, 1]
    const float* c2w;       // (count, 16) camera-to-world of each image's view (row-major), or NULL
    uint32_t count;         // >= 1
} vkd_refset_set;

typedef struct vkd_refset_desc {
    uint32_t channels;           // C; 0 = 3
    uint32_t width, height;      // every image's size (required)
    const vkd_refset_set* sets;  // copied at creation
    uint32_t set_count;          // >= 1
    float view_sigma_deg;        // > 0: the view weighting above; 0: none
    vkd_prediction prediction;   // what predict outputs: eps (0) or v / x0 (to exercise conversions)
    vkd_beta_schedule schedule;  // 0 = SD's scaled-linear 0.00085 .. 0.012
    double beta_start, beta_end; // 0 = the schedule's SD / DDPM defaults
    uint32_t num_timesteps;      // 0 = 1000
} vkd_refset_desc;

vkd_status vkd_refset_prior_create(vkd_gpu* gpu, const vkd_refset_desc* desc, vkd_prior** out, vkd_error* err);

// The reference set of a procedural object (include/vkdream/shapes.h): the prompt must name a
// color and a shape ("a red cube"); its renders from a ring of cameras (24 azimuths x 3
// elevations at the given distance and field of view) are registered per view-dependent prompt
// ("<prompt>, front view", ... as the distillation loop asks), or under the prompt itself when
// view_prompts is false, and a distractor object (a gray sphere, or a black cube when that is
// the prompt) joins the unconditional set. A demonstration prior: `generate --model shapes`.
typedef struct vkd_shapes_prior_desc {
    const char* prompt;
    uint32_t width, height;      // render size of the set
    float distance, fov_y_deg;   // reference cameras
    float background[3];
    bool view_prompts;
} vkd_shapes_prior_desc;

vkd_status vkd_shapes_prior_create(vkd_gpu* gpu, const vkd_shapes_prior_desc* desc, vkd_prior** out, vkd_error* err);

// Images (N) held, all sets together, and the set sizes a condition selects.
uint32_t vkd_refset_prior_image_count(const vkd_prior* p);
uint32_t vkd_refset_cond_members(const vkd_prior_cond* c);

// ---------------------------------------------------------------------------
// The kernels, exposed for the tests. One sample's constants:

typedef struct vkd_refset_sample {
    double abar;             // alphas_cumprod[t]
    vkd_addr logw;           // (N,) device: log pi_i of the sample's condition (0 or -inf)
    const double* logw_host; // (N,) the same on the host (for the reference)
    bool has_dir;            // the sample has a camera
    float dir[3];            // its viewing direction: unit vector from the scene toward the camera
    float kappa;             // 1 / sigma^2 (radians); 0: no view term
} vkd_refset_sample;

// Unit vector from the scene toward a camera (minus its viewing axis) from a row-major
// camera-to-world matrix.
void vkd_refset_view_dir(const float c2w[16], float out[3]);

// logits[b, i] = logw_b[i] + kappa_b (dirs[i] . dir_b - 1) [when both have a direction]
//                - ||z_t[b] - sqrt(abar_b) images[i]||^2 / (2 (1 - abar_b));
// -inf where logw_b[i] = -inf (no distance computed).
void vkd_refset_logits(vkd_stream* s, vkd_addr logits, // (B, N)
                       vkd_addr z_t,                   // (B, D)
                       vkd_addr images,                // (N, D) in z space (2 x - 1)
                       vkd_addr dirs,                  // (N, 4): direction xyz, 1 when the image has one else 0
                       const vkd_refset_sample* samples, // (B,) host
                       uint32_t B, uint32_t N, uint32_t D);
// With w = softmax of the logits rows (weights, (B, N)): x0[b] = sum_i w[b, i] images[i] and
// out[b] = the prediction of type `pred` at z_t[b] (eps = (z_t - sqrt(abar) x0) / sqrt(1 - abar);
// v = sqrt(abar) eps - sqrt(1 - abar) x0; sample: x0). x0_out may be 0.
void vkd_refset_mix(vkd_stream* s, vkd_addr out, // (B, D)
                    vkd_addr x0_out,             // (B, D) or 0
                    vkd_addr weights,            // (B, N)
                    vkd_addr z_t,                // (B, D)
                    vkd_addr images,             // (N, D)
                    const vkd_refset_sample* samples, vkd_prediction pred, uint32_t B, uint32_t N, uint32_t D);

// Float64 reference of vkd_refset_mix (weights given).
void vkd_ref_refset_mix(double* out, double* x0_out, const double* weights, const double* z_t, const double* images,
                        const vkd_refset_sample* samples, vkd_prediction pred, uint32_t B, uint32_t N, uint32_t D);
// Float64 references of the whole denoiser (logits, softmax, mix); any output but out may be NULL.
void vkd_ref_refset_denoise(double* out, double* x0_out, double* weights, double* logits, const double* z_t,
                            const double* images, const double* dirs, const vkd_refset_sample* samples,
                            vkd_prediction pred, uint32_t B, uint32_t N, uint32_t D);

#ifdef __cplusplus
}
#endif
#endif
