// The score-distillation loop: random cameras, renders of a trainable 3D representation, the
// prior's guidance gradient injected into the renders, backward into the representation and
// its optimizer step, with a finiteness check that skips (and reports) a step whose gradient
// has a NaN or Inf. `vkdream generate` and the end-to-end tests drive it one step at a time.
//
// One step (vkd_distill_step), B views:
//   cameras ~ desc.cameras (seeded: a pure function of (seed, step)), per-view prompt
//   "<prompt>, <front|side|back|overhead> view" (desc.view_prompts), t ~ desc.tsched,
//   rgb = repr.render(cameras) (B, 3, H, W) -> [bilinear resize to the prior's size] ->
//   z = prior.encode(rgb) -> dL/dz = guidance (DESIGN: g / B; BSD g) -> encode backward ->
//   [resize backward] -> repr.backward -> finite? repr.step : discard -> zero grads.
#ifndef VKDREAM_DISTILL_H
#define VKDREAM_DISTILL_H

#include "vkdream/camera.h"
#include "vkdream/gaussians.h"
#include "vkdream/guidance.h"
#include "vkdream/nerf.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------
// Representations: what the loop trains. Gaussians implement it below; a NeRF (hash grid +
// MLP + volume renderer, with occupancy-grid updates in `step`) plugs in the same way.

typedef struct vkd_repr vkd_repr;

typedef struct vkd_repr_vtbl {
    const char* kind;  // "gaussians", "nerf"
    void (*destroy)(vkd_repr* r);
    // rgb (B, 3, H, W) and alpha (B, 1, H, W) (either may be 0) over the background bg. May
    // submit s. Keeps what backward needs (the latest render).
    vkd_status (*render)(vkd_repr* r, vkd_stream* s, vkd_addr rgb, vkd_addr alpha, const vkd_camera* cams,
                         uint32_t B, const float bg[3], vkd_error* err);
    // Accumulates the parameter gradients of L = <rgb, drgb> + <alpha, dalpha> through the
    // latest render (same cameras and background); dalpha may be 0.
    vkd_status (*backward)(vkd_repr* r, vkd_stream* s, vkd_addr drgb, vkd_addr dalpha, const vkd_camera* cams,
                           uint32_t B, const float bg[3], vkd_error* err);
    // The device ranges holding the gradients (for the finiteness check): up to max ranges of
    // count[i] floats at addr[i]; returns how many.
    uint32_t (*grad_ranges)(const vkd_repr* r, vkd_addr* addr, uint32_t* count, uint32_t max);
    // The optimizer update for 0-based step `step`, then the representation's own schedule
    // (Gaussians: densify / prune / opacity reset; NeRF: occupancy grid), then gradients = 0.
    vkd_status (*step)(vkd_repr* r, vkd_stream* s, uint32_t step, vkd_error* err);
    // A step whose gradients were not finite: drop them (and anything derived from them,
    // such as densification statistics) without updating.
    vkd_status (*discard)(vkd_repr* r, vkd_stream* s, vkd_error* err);
    // Checkpoints with the optimizer state (SUBMIT s).
    vkd_status (*save)(vkd_repr* r, vkd_stream* s, const char* path, vkd_error* err);
    vkd_status (*load)(vkd_repr* r, vkd_stream* s, const char* path, vkd_error* err);
    // Primitives held (Gaussians; occupied cells for a NeRF), for logs.
    uint64_t (*size)(const vkd_repr* r);
} vkd_repr_vtbl;

struct vkd_repr {
    const vkd_repr_vtbl* vt;
    void* impl;
};

void vkd_repr_destroy(vkd_repr* r);

// 3D Gaussians. Densification follows DreamGaussian's loop: at steps densify_from ..
// densify_until, every densify_interval steps, vkd_gaussians_densify(desc.densify); every
// opacity_reset_interval steps vkd_gaussians_reset_opacity.
typedef struct vkd_repr_gaussians_desc {
    vkd_gaussians_densify_desc densify; // its zero defaults (3DGS); DreamGaussian uses grad_threshold 0.01
    uint32_t densify_from;              // 0 = 100
    uint32_t densify_until;             // 0 = 3000
    uint32_t densify_interval;          // 0 = 50
    uint32_t opacity_reset_interval;    // 0 = 700
    bool no_densify;                    // no densification and no opacity reset
    vkd_splat_desc splat;
    vkd_gaussians_desc load;            // capacity and learning rates for load (checkpoints)
} vkd_repr_gaussians_desc;

// Takes ownership of g on success (destroyed with the representation; replaced by load);
// on failure the caller keeps it.
vkd_status vkd_repr_gaussians_create(vkd_gpu* gpu, vkd_gaussians* g, const vkd_repr_gaussians_desc* desc,
                                     vkd_repr** out, vkd_error* err);
// The current container (changes after load).
vkd_gaussians* vkd_repr_gaussians_get(vkd_repr* r);

// A hash-grid NeRF (include/vkdream/nerf.h): volume rendering with stratified samples (seeded
// by the step), the regularisers on the backward, per-group Adam, then the occupancy-grid
// update of the step. Shading is DreamFusion's: albedo, or with `shading_mix` a random choice
// per step among albedo / lambertian / textureless (lambertian and textureless use a point
// light near the camera).
typedef struct vkd_repr_nerf_desc {
    vkd_nerf_desc nerf;             // the model (zeros: threestudio's defaults)
    vkd_nerf_regularisers reg;      // sparsity / opaque / orientation weights (0 = off)
    bool shading_mix;               // random albedo / lambertian / textureless per step
    float albedo_ratio;             // with shading_mix: probability of albedo; 0 = 0.2
    uint64_t seed;                  // shading choices
} vkd_repr_nerf_desc;

// Creates the model from desc (or takes n when not NULL: ownership passes on success).
vkd_status vkd_repr_nerf_create(vkd_gpu* gpu, vkd_nerf* n, const vkd_repr_nerf_desc* desc, vkd_repr** out,
                                vkd_error* err);
vkd_nerf* vkd_repr_nerf_get(vkd_repr* r);

// ---------------------------------------------------------------------------
// Random cameras

// Uniform ranges [lo, hi]; both 0 means the default given. Orbit cameras looking at target.
typedef struct vkd_camera_range {
    float elevation_deg[2];   // [-10, 45]
    float azimuth_deg[2];     // [-180, 180]
    float distance[2];        // [1.5, 2.0]
    float fov_y_deg[2];       // [40, 70]
    float target[3];          // the origin
} vkd_camera_range;

typedef struct vkd_camera_sample {
    vkd_camera cam;
    float azimuth_deg, elevation_deg, distance, fov_y_deg;
    float c2w[16];            // camera-to-world, row-major (VSD's camera embedding, camera-aware priors)
} vkd_camera_sample;

// B cameras at width x height from r.
void vkd_sample_cameras(const vkd_camera_range* range, uint32_t width, uint32_t height, vkd_rng* r, uint32_t B,
                        vkd_camera_sample* out);

// ---------------------------------------------------------------------------
// Finiteness check

// flag[0] |= 1 when any of src[0..n) is NaN or Inf (the caller zeroes flag first).
void vkd_nonfinite_flag(vkd_stream* s, vkd_addr flag, // (1,) uint32
                        vkd_addr src,                 // (n,)
                        uint32_t n);

// ---------------------------------------------------------------------------
// The loop

typedef struct vkd_res_milestone {
    uint32_t step;            // from this step on (0-based) ...
    uint32_t width, height;   // ... render at this size
} vkd_res_milestone;

#define VKD_DISTILL_MAX_MILESTONES 8

typedef struct vkd_distill_desc {
    const char* prompt;           // required
    const char* negative_prompt;  // NULL = ""
    bool no_view_prompts;         // true: the prompt as is for every view
    uint32_t batch;               // views per step; 0 = 1
    uint32_t width, height;       // render size; 0 = 64
    // Progressive resolution: later milestones override width/height from their step on
    // (sorted by step; width 0 ends the list).
    vkd_res_milestone res[VKD_DISTILL_MAX_MILESTONES];
    vkd_camera_range cameras;
    float bg[3];                  // background color of the renders
    vkd_guidance_desc guidance;
    vkd_tsched_desc tsched;
    vkd_prior_phi_desc phi;       // VSD's phi (created by the loop from the prior)
    float phi_camera_drop;        // VSD: probability of training phi without the camera; 0 = 0.1, < 0 = never
    uint64_t seed;
} vkd_distill_desc;

typedef struct vkd_distill_step_info {
    uint32_t step;                // 0-based index of the step just run
    bool skipped;                 // its gradient was not finite: no update
    uint32_t skipped_total;       // over the run
    double loss, grad_norm;       // of the guidance (vkd_guidance_stats)
    double lambda_mean, phi_loss; // BSD, VSD
    int32_t t_min, t_max;         // the batch's timesteps
    uint32_t width, height;       // render size
    uint64_t repr_size;           // after the step
    double seconds;               // wall time of the step
} vkd_distill_step_info;

typedef struct vkd_distill vkd_distill;

// Borrows prior and repr. Encodes the prompts (and creates phi for VSD) on first use.
vkd_status vkd_distill_create(vkd_gpu* gpu, vkd_prior* prior, vkd_repr* repr, const vkd_distill_desc* desc,
                              vkd_distill** out, vkd_error* err);
void vkd_distill_destroy(vkd_distill* d);
// Runs one step (submits s, reads back the finiteness flag and the guidance statistics).
vkd_status vkd_distill_step(vkd_distill* d, vkd_stream* s, vkd_distill_step_info* info, vkd_error* err);
// Steps run so far; set_step continues a resumed run at the same random sequence.
uint32_t vkd_distill_step_count(const vkd_distill* d);
// The latest step's first view as the prior sees it: the render resized to the prior's input
// size (before any encoding), planar (3, *h, *w) in [0, 1], malloc'ed into *chw (free it).
// For a live viewer's corner image. VKD_ERR_INVALID before the first step.
vkd_status vkd_distill_prior_image(vkd_distill* d, float** chw, uint32_t* w, uint32_t* h, vkd_error* err);
void vkd_distill_set_step(vkd_distill* d, uint32_t step);
// The render size used at a step.
void vkd_distill_resolution(const vkd_distill* d, uint32_t step, uint32_t* width, uint32_t* height);
// The cameras and timesteps step `step` uses (what vkd_distill_step will draw), for tests and
// previews: cams (B,), t (B,); either may be NULL.
void vkd_distill_plan(const vkd_distill* d, uint32_t step, vkd_camera_sample* cams, int32_t* t);

#ifdef __cplusplus
}
#endif
#endif
