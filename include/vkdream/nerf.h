// The assembled hash-grid NeRF, trainable from image gradients: threestudio's implicit-volume
// geometry (vkd_nerf_field), diffuse-with-point-light material, neural-environment-map background
// and nerf-volume-renderer (with nerfacc's occupancy grid), plus Adam state and checkpoints.
//
//   render    cameras -> rays against the bounding sphere |p| <= bound -> march through the
//             occupancy grid (fixed step 2 sqrt(3) bound / num_steps) -> field density + albedo at
//             the N samples [-> density-gradient normals -> lambertian / textureless shading] ->
//             front-to-back compositing over the background -> rgb, opacity, depth, normals
//             images (B, C, H, W). SUBMITS the stream once (the marcher's sample count N is read
//             back to size the sample buffers), records everything after it.
//   backward  image cotangents (+ opacity / entropy / orientation regularisers) -> gradients of
//             the field and background parameters (accumulated, +=). Records only.
//   step      Adam per parameter group (hash table, density MLP, feature MLP, background MLP).
//
// Field evaluations run in chunks of desc.chunk points, so the workspace stays bounded whatever
// the image size. When a render's samples fit one chunk its saved state feeds the backward
// directly; otherwise the backward re-runs each chunk's forward before its backward.
//
// One render is kept: vkd_nerf_backward applies to the latest vkd_nerf_render, and the
// parameters must not change in between (no step, no load). Used from one thread, with one
// stream at a time.
#ifndef VKDREAM_NERF_H
#define VKDREAM_NERF_H

#include "vkdream/hashgrid.h"
#include "vkdream/volrend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vkd_nerf_background_kind {
    VKD_NERF_BG_MLP = 0,  // threestudio's neural-environment-map-background: rgb = sigmoid(MLP(SH(d))), SH of
                          // degree 3 (9 components, tiny-cuda-nn's) of the ray direction, MLP without biases
    VKD_NERF_BG_SOLID,    // bg_color everywhere (no parameters)
} vkd_nerf_background_kind;

typedef enum vkd_nerf_normals {
    VKD_NERF_NORMALS_FINITE_DIFFERENCE = 0,  // threestudio's default: central differences of the density with
                                             // step normal_eps; shading / normal gradients reach the field
    VKD_NERF_NORMALS_ANALYTIC,               // exact d density / d x, used as constants (no gradient flows
                                             // from shading or the normals image into the field)
} vkd_nerf_normals;

// Adam per group (threestudio's DreamFusion configs). A negative rate freezes its group.
typedef struct vkd_nerf_lr {
    float grid;          // 0 = 0.01  (geometry.encoding)
    float density_mlp;   // 0 = 0.001 (geometry.density_network; the geometry MLP in the shared layout)
    float feature_mlp;   // 0 = 0.001 (geometry.feature_network)
    float background;    // 0 = 0.001
    float beta1, beta2;  // 0 = 0.9, 0.99
    float eps;           // 0 = 1e-15
} vkd_nerf_lr;

typedef struct vkd_nerf_desc {
    vkd_nerf_field_desc field;  // zeros: threestudio's implicit-volume (16 levels x 2 features, 2^19 table,
                                // base 16, scale 1.447, 64-wide MLPs, softplus + blob_magic3d bias);
                                // field.bound is the bounding radius of rays, grid and field
    uint32_t num_steps;         // 0 = 256: samples across the bounding cube's diagonal (num_samples_per_ray)
    vkd_nerf_normals normals;
    float normal_eps;  // 0 = 0.01 (finite_difference_normal_eps)
    // Occupancy grid over [-bound, bound]^3 (nerfacc's OccGridEstimator.update_every_n_steps).
    uint32_t grid_resolution;    // 0 = 128
    uint32_t grid_update_every;  // 0 = 16 steps
    uint32_t grid_warmup_steps;  // 0 = 256: updates before this step evaluate every cell
    float grid_decay;            // 0 = 0.95
    float grid_threshold;        // 0 = 0.01, on density * step (the opacity of one step)
    bool no_grid;                // march every cell (no occupancy grid)
    // Progressive unlocking (threestudio's ProgressiveBandHashGrid): active levels at step t are
    // min(start_level + max(t - start_step, 0) / update_steps, levels). start_level 0 = all levels.
    uint32_t start_level, start_step;
    uint32_t update_steps;  // 0 = 500
    // Background
    vkd_nerf_background_kind background;
    float bg_color[3];          // VKD_NERF_BG_SOLID (default black)
    uint32_t bg_hidden;         // 0 = 16
    uint32_t bg_hidden_layers;  // 0 = 2
    uint64_t bg_seed;           // background MLP initialisation; 0 = derived from field.seed
    vkd_nerf_lr lr;
    uint32_t chunk;  // points per field evaluation (bounds the workspaces); 0 = 2^18
} vkd_nerf_desc;

typedef struct vkd_nerf_render_desc {
    vkd_volrend_shading shading;  // albedo (default), lambertian or textureless
    const float* lights;          // (views, 3) point-light positions; NULL = each camera's center
    float ambient[3];             // all 0 = 0.1
    float diffuse[3];             // all 0 = 0.9
    bool stratified;              // jitter each ray's samples (training); false = the same samples every time
    uint32_t seed;                // jitter seed (e.g. the step)
    const float* bg_color;        // NULL = the model's background; else this solid color (no background gradient)
} vkd_nerf_render_desc;

// Regulariser weights for vkd_nerf_backward (0 = off). Each loss is a mean over the B H W pixels:
//   sparsity     mean sqrt(opacity^2 + 0.01)                   (threestudio's lambda_sparsity)
//   opaque       mean binary entropy of clamp(opacity, 1e-3, 1 - 1e-3)   (lambda_opaque)
//   orientation  sum over samples of w_i max(0, n_i . d_i)^2 / (B H W), w detached (lambda_orient;
//                threestudio divides by the count of pixels with opacity > 0). Needs normals: render
//                with lambertian / textureless shading or the normals image.
typedef struct vkd_nerf_regularisers {
    float sparsity, opaque, orientation;
} vkd_nerf_regularisers;

typedef struct vkd_nerf vkd_nerf;

// desc with its defaults filled in; false (and a message in err) when out of range.
bool vkd_nerf_resolve(const vkd_nerf_desc* desc, vkd_nerf_desc* out, vkd_error* err);
// Active hash-grid levels after `step` optimizer steps (progressive unlocking) for a resolved desc.
uint32_t vkd_nerf_active_levels_at(const vkd_nerf_desc* desc, uint32_t step);

// Parameters initialised (field: vkd_nerf_field_init_params, background: nn.Linear from bg_seed),
// gradients and moments zero, occupancy grid all occupied, step 0.
vkd_status vkd_nerf_create(vkd_gpu* gpu, const vkd_nerf_desc* desc, vkd_nerf** out, vkd_error* err);
// Work recorded on a stream that uses the model must have been submitted.
void vkd_nerf_destroy(vkd_nerf* n);

const vkd_nerf_desc* vkd_nerf_desc_of(const vkd_nerf* n);  // resolved
vkd_nerf_field* vkd_nerf_field_of(vkd_nerf* n);
vkd_occgrid* vkd_nerf_occgrid(vkd_nerf* n);  // NULL with no_grid
// Optimizer steps taken (Adam's t of the next step is this + 1).
uint32_t vkd_nerf_step_count(const vkd_nerf* n);
// Background MLP (in 9, out 3, sigmoid): its parameters and gradients (0 for a solid background).
const vkd_mlp_desc* vkd_nerf_background_mlp(const vkd_nerf* n);
uint64_t vkd_nerf_background_count(const vkd_nerf* n);  // floats
vkd_addr vkd_nerf_background_params(const vkd_nerf* n);
vkd_addr vkd_nerf_background_grads(const vkd_nerf* n);
// Adam moments, shaped like vkd_nerf_field_params (field) and the background parameters.
void vkd_nerf_moments(const vkd_nerf* n, vkd_addr* field_m, vkd_addr* field_v, vkd_addr* bg_m, vkd_addr* bg_v);
// Samples N of the latest render.
uint32_t vkd_nerf_sample_count(const vkd_nerf* n);
// Device bytes held (parameters, state, grid, render buffers and workspaces as grown so far).
uint64_t vkd_nerf_bytes(const vkd_nerf* n);

// Renders `views` cameras (all the same width and height). Any output may be 0; asking for the
// normals image computes normals (sum of w_i n_i, n the unit normals). See the file comment.
vkd_status vkd_nerf_render(vkd_nerf* n, vkd_stream* s, const vkd_volrend_image* out, const vkd_camera* cams,
                           uint32_t views, const vkd_nerf_render_desc* desc, vkd_error* err);
// Gradients += from the cotangents of the latest render's images (any address 0; d normals only
// when that render computed normals) and the regularisers (reg may be NULL). Records on s.
vkd_status vkd_nerf_backward(vkd_nerf* n, vkd_stream* s, const vkd_volrend_image* dout,
                             const vkd_nerf_regularisers* reg, vkd_error* err);
// The unweighted regulariser losses of the latest backward {sparsity, opaque, orientation}
// (0 where a weight was 0). Reads the device: the backward must have been submitted.
vkd_status vkd_nerf_regulariser_losses(vkd_nerf* n, float out[3], vkd_error* err);
// Gradients = 0. Records on s.
void vkd_nerf_zero_grad(vkd_nerf* n, vkd_stream* s);
// One Adam step of every group (t = step count + 1), then the progressive levels of the new step
// count. Records on s.
void vkd_nerf_step(vkd_nerf* n, vkd_stream* s);
// When step % grid_update_every == 0: samples the grid's cells (every cell before
// grid_warmup_steps, seed = step), evaluates the density there and updates the EMA and bitfield
// with occ_scale = the render step. Records on s (no-op otherwise, and with no_grid). May submit s
// first when it grows its buffers.
vkd_status vkd_nerf_update_occupancy(vkd_nerf* n, vkd_stream* s, uint32_t step, vkd_error* err);
// Densities at the res^3 vertices of a grid over [-bound, bound]^3 (bound 0 = the field's), for
// marching cubes: out[(i res + j) res + k]. Records on s; may submit s first to grow its workspace.
vkd_status vkd_nerf_density_grid(vkd_nerf* n, vkd_stream* s, vkd_addr out /* (res^3,) */, uint32_t res, float bound,
                                 vkd_error* err);

// Checkpoints (safetensors): params.{grid, density_mlp, feature_mlp, background},
// adam_m.* and adam_v.* likewise (1-D, F32; feature_mlp only in the separate layout, background
// only with the MLP background), occgrid.density (res^3,) F32 and occgrid.bits (ceil(res^3 / 32),)
// U32; metadata: format "vkdream-nerf", version "1", step, and every vkd_nerf_desc field.
// Saving SUBMITS s. Loading creates the model from the file's desc and validates every tensor
// (errors name the file and the tensor, with found and expected shapes).
vkd_status vkd_nerf_save_checkpoint(vkd_nerf* n, vkd_stream* s, const char* path, vkd_error* err);
vkd_status vkd_nerf_load_checkpoint(vkd_gpu* gpu, const char* path, vkd_nerf** out, vkd_error* err);

// Degree-3 spherical harmonics of unit directions, tiny-cuda-nn's "SphericalHarmonics" of
// (d + 1) / 2 (threestudio's background encoding): out[i] = (0.28209479, -0.48860251 y,
// 0.48860251 z, -0.48860251 x, 1.09254843 x y, -1.09254843 y z, 0.94617470 z^2 - 0.31539157,
// -1.09254843 x z, 0.54627422 (x^2 - y^2)).
#define VKD_NERF_SH_DIM 9
void vkd_nerf_sh_encode(vkd_stream* s, vkd_addr out /* (n, 9) */, vkd_addr dirs /* (n, 3) */, uint32_t n);
void vkd_ref_nerf_sh_encode(double* out /* (n, 9) */, const double* dirs /* (n, 3) */, uint64_t n);

#ifdef __cplusplus
}
#endif
#endif
