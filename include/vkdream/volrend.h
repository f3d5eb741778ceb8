// Differentiable volume rendering for NeRF-style fields (DreamFusion / threestudio's
// "implicit-volume" with nerfacc's occupancy grid), in Vulkan compute.
//
// The renderer never calls the field. It produces sample positions and directions, and
// consumes per-sample density and color through device addresses, so any field (hash grid +
// MLP, an analytic test density) plugs in. One training step reads:
//
//   vkd_volrend_rays            cameras -> rays (origin, unit direction, [t_near, t_far] of the
//                               bounding sphere |p| <= R)
//   vkd_volrend_march_count     per-ray sample counts, scanned into offsets (rays + 1)
//   (submit, read offsets[rays] = N, size the sample buffers)
//   vkd_volrend_march_emit      N compacted samples: positions, dirs, intervals (t, dt), ray index
//   field(positions, dirs)      -> sigma (N,), albedo (N, 3), density gradient (N, 3)
//   vkd_volrend_normals_*       gradient -> unit normals (N, 3)
//   vkd_volrend_shade_*         albedo / lambertian / textureless color (N, 3)
//   vkd_volrend_composite_*     front-to-back alpha compositing -> NCHW rgb, opacity, depth, normals
//   vkd_volrend_*_loss_*        opacity (sparsity), entropy and orientation regularisers
//
// Rays: ray r of a batch of B views of H x W pixels is r = b * H * W + y * W + x, the pixel
// order of NCHW images, so per-ray outputs land directly in (B, C, H, W).
// Samples of ray r are [offsets[r], offsets[r + 1]), front to back.
// Every backward ACCUMULATES (+=) into its gradient outputs; a gradient address of 0 skips it.
//
// The occupancy grid (vkd_occgrid) keeps a density EMA and a bitfield over [-R, R]^3 that
// the marcher reads to skip empty cells.
#ifndef VKDREAM_VOLREND_H
#define VKDREAM_VOLREND_H

#include "vkdream/camera.h"
#include "vkdream/gpu.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------
// Rays

// Rays of `views` cameras (all the same width and height, pixel centers at (x + 0.5, y + 0.5)):
// origins = camera centers, dirs = normalized world directions, near_far = (t_near, t_far) where
// the ray is inside the sphere |p| <= radius (radius 0 = 1), t_near clamped to >= 0; a ray that
// misses the sphere (or has it behind) gets t_near = t_far = 0.
void vkd_volrend_rays(vkd_stream* s,
                      vkd_addr origins,  // (B * H * W, 3)
                      vkd_addr dirs,     // (B * H * W, 3)
                      vkd_addr near_far, // (B * H * W, 2)
                      const vkd_camera* cams, uint32_t views, float radius);
void vkd_ref_volrend_rays(double* origins,  // (B * H * W, 3)
                          double* dirs,     // (B * H * W, 3)
                          double* near_far, // (B * H * W, 2)
                          const vkd_camera* cams, uint32_t views, double radius);

// Fills a per-ray background (rays, 3) with one color (a solid background for compositing).
void vkd_volrend_fill_bg(vkd_stream* s, vkd_addr bg /* (rays, 3) */, uint32_t rays, const float rgb[3]);

// ---------------------------------------------------------------------------
// Ray marching with a fixed step: ray r's candidate samples are the intervals
// [t_k - dt/2, t_k + dt/2] with midpoints t_k = t_near + (k + u_r + 0.5) dt, k = 0, 1, ... while
// t_k < t_far; u_r in [0, 1) is a per-ray jitter hashed from (seed, r) when stratified, else 0.
// A candidate is kept when the grid cell holding its midpoint is occupied. The lattice and
// the cell test are computed in float32 with an exact operation order (the C reference
// does the same), so the GPU and the reference keep exactly the same samples.

typedef struct vkd_volrend_march_desc {
    float radius;         // bounding sphere radius and grid half-extent; 0 = 1
    float step;           // dt; 0 = 2 * radius * sqrt(3) / num_steps (threestudio's render_step_size)
    uint32_t num_steps;   // 0 = 256 (only used when step is 0)
    bool stratified;      // jitter each ray's start (training); false for evaluation
    uint32_t seed;        // jitter seed (change it every step)
    vkd_addr grid_bits;   // occupancy bitfield (vkd_occgrid_bits) over [-radius, radius]^3 (so the grid's
                          // radius must equal this one); 0 = every cell occupied
    uint32_t grid_res;    // its resolution (cells per axis); required when grid_bits != 0
} vkd_volrend_march_desc;

// Where the marcher writes the samples; each address may be 0 (not written).
typedef struct vkd_volrend_samples {
    vkd_addr positions;   // (N, 3) o + t d
    vkd_addr dirs;        // (N, 3) the ray's unit direction (view direction of the sample)
    vkd_addr intervals;   // (N, 2) (t, dt): midpoint distance along the ray and interval length
    vkd_addr ray;         // (N,) uint32 ray index
} vkd_volrend_samples;

// The step dt a march desc resolves to.
float vkd_volrend_step(const vkd_volrend_march_desc* d);
// Scratch bytes vkd_volrend_march_count needs for `rays` rays.
uint64_t vkd_volrend_march_scratch_bytes(uint32_t rays);
// Pass 1: offsets[r] = first sample of ray r, offsets[rays] = N (the only number the host must read
// back, after a submit, to size the sample buffers).
void vkd_volrend_march_count(vkd_stream* s,
                             vkd_addr offsets,   // (rays + 1,) uint32 out
                             vkd_addr origins,   // (rays, 3)
                             vkd_addr dirs,      // (rays, 3)
                             vkd_addr near_far,  // (rays, 2)
                             uint32_t rays, const vkd_volrend_march_desc* desc,
                             vkd_addr scratch);  // (vkd_volrend_march_scratch_bytes(rays),) bytes
// Pass 2: writes the N samples (same rays and desc as the count pass).
void vkd_volrend_march_emit(vkd_stream* s, const vkd_volrend_samples* out,
                            vkd_addr offsets,    // (rays + 1,) uint32 from vkd_volrend_march_count
                            vkd_addr origins,    // (rays, 3)
                            vkd_addr dirs,       // (rays, 3)
                            vkd_addr near_far,   // (rays, 2)
                            uint32_t rays, const vkd_volrend_march_desc* desc);
// Reference: both passes. Writes offsets (rays + 1) and, where the arrays are not NULL, the samples
// (sized offsets[rays], e.g. from a first call with NULL arrays). grid_bits NULL = every cell
// occupied (desc->grid_bits is ignored). Returns N.
uint64_t vkd_ref_volrend_march(uint32_t* offsets,         // (rays + 1,)
                               double* positions,         // (N, 3) or NULL
                               double* sdirs,             // (N, 3) or NULL
                               double* intervals,         // (N, 2) or NULL
                               uint32_t* ray,             // (N,) or NULL
                               const double* origins,     // (rays, 3)
                               const double* dirs,        // (rays, 3)
                               const double* near_far,    // (rays, 2)
                               uint32_t rays, const vkd_volrend_march_desc* desc,
                               const uint32_t* grid_bits); // (ceil(res^3 / 32),) or NULL

// ---------------------------------------------------------------------------
// Compositing, per ray front to back, stopping before a sample once T < 1e-4:
//   alpha_i = 1 - exp(-sigma_i dt_i), T_i = prod_{j<i} (1 - alpha_j), w_i = alpha_i T_i,
//   rgb = sum w_i c_i + T_end bg, opacity = sum w_i, depth = sum w_i t_i, normals = sum w_i n_i.
// The backward is the O(samples) suffix-sum form, one invocation per ray (deterministic).

// Images of B views, NCHW fp32; any address may be 0. The backward reads the cotangents
// d rgb, d opacity, d depth, d normals from the same struct.
typedef struct vkd_volrend_image {
    vkd_addr rgb;         // (B, 3, H, W)
    vkd_addr opacity;     // (B, 1, H, W)
    vkd_addr depth;       // (B, 1, H, W)
    vkd_addr normals;     // (B, 3, H, W)
} vkd_volrend_image;

// rays = B * H * W, rays_per_view = H * W.
void vkd_volrend_composite_forward(vkd_stream* s, const vkd_volrend_image* out,
                                   vkd_addr weights,   // (N,) out: w_i (0 after termination), or 0
                                   vkd_addr offsets,   // (rays + 1,) uint32
                                   vkd_addr sigma,     // (N,) density
                                   vkd_addr rgb,       // (N, 3) color
                                   vkd_addr intervals, // (N, 2) (t, dt)
                                   vkd_addr normals,   // (N, 3) or 0 (then out->normals must be 0)
                                   vkd_addr bg,        // (rays, 3) background, or 0 = black
                                   uint32_t rays, uint32_t rays_per_view);
// d_intervals receives (dL/dt, dL/ddt).
void vkd_volrend_composite_backward(vkd_stream* s,
                                    vkd_addr d_sigma,     // (N,) accumulated, or 0
                                    vkd_addr d_rgb,       // (N, 3) accumulated, or 0
                                    vkd_addr d_intervals, // (N, 2) accumulated, or 0
                                    vkd_addr d_normals,   // (N, 3) accumulated, or 0
                                    vkd_addr d_bg,        // (rays, 3) accumulated, or 0
                                    const vkd_volrend_image* dout, // cotangents, any 0
                                    vkd_addr offsets, vkd_addr sigma, vkd_addr rgb, vkd_addr intervals,
                                    vkd_addr normals, vkd_addr bg, uint32_t rays, uint32_t rays_per_view);
// Reference (any output / cotangent / normals / bg may be NULL).
void vkd_ref_volrend_composite_forward(double* rgb, double* opacity, double* depth, double* normals_img,
                                       double* weights, const uint32_t* offsets, const double* sigma,
                                       const double* srgb, const double* intervals, const double* snormals,
                                       const double* bg, uint32_t rays, uint32_t rays_per_view);
void vkd_ref_volrend_composite_backward(double* d_sigma, double* d_srgb, double* d_intervals, double* d_snormals,
                                        double* d_bg, const double* g_rgb, const double* g_opacity,
                                        const double* g_depth, const double* g_normals, const uint32_t* offsets,
                                        const double* sigma, const double* srgb, const double* intervals,
                                        const double* snormals, const double* bg, uint32_t rays,
                                        uint32_t rays_per_view);

// ---------------------------------------------------------------------------
// Normals from the density gradient g (the field's d sigma / d position):
// n = -g / max(|g|, eps), eps 0 = 1e-12 (torch.nn.functional.normalize).
void vkd_volrend_normals_forward(vkd_stream* s, vkd_addr normals /* (n, 3) */, vkd_addr grad /* (n, 3) */,
                                 uint32_t n, float eps);
void vkd_volrend_normals_backward(vkd_stream* s, vkd_addr d_grad /* (n, 3) accumulated */,
                                  vkd_addr d_normals /* (n, 3) */, vkd_addr grad /* (n, 3) */, uint32_t n, float eps);
void vkd_ref_volrend_normals_forward(double* normals, const double* grad, uint64_t n, double eps);
void vkd_ref_volrend_normals_backward(double* d_grad, const double* d_normals, const double* grad, uint64_t n,
                                      double eps);

// ---------------------------------------------------------------------------
// Shading, per sample (before compositing), as DreamFusion / threestudio's
// diffuse-with-point-light material. l = normalize(light_b - position) with b = ray / rays_per_view:
//   albedo:      color = albedo
//   lambertian:  color = albedo * (ambient + diffuse * max(0, n . l))
//   textureless: color = ambient + diffuse * max(0, n . l)          (white albedo)
// The light direction is treated as a constant (positions carry no gradient).

typedef enum vkd_volrend_shading {
    VKD_VOLREND_SHADE_ALBEDO = 0,
    VKD_VOLREND_SHADE_LAMBERTIAN = 1,
    VKD_VOLREND_SHADE_TEXTURELESS = 2,
} vkd_volrend_shading;

typedef struct vkd_volrend_shade_desc {
    vkd_volrend_shading mode;
    float ambient[3];     // all 0 = (0.1, 0.1, 0.1)
    float diffuse[3];     // all 0 = (0.9, 0.9, 0.9)
} vkd_volrend_shade_desc;

void vkd_volrend_shade_forward(vkd_stream* s, vkd_addr color /* (n, 3) out */, vkd_addr albedo /* (n, 3) */,
                               vkd_addr normals /* (n, 3) */, vkd_addr positions /* (n, 3) */,
                               vkd_addr ray /* (n,) uint32 */, vkd_addr lights /* (views, 3) */, uint32_t n,
                               uint32_t rays_per_view, const vkd_volrend_shade_desc* desc);
void vkd_volrend_shade_backward(vkd_stream* s, vkd_addr d_albedo /* (n, 3) accumulated, or 0 */,
                                vkd_addr d_normals /* (n, 3) accumulated, or 0 */, vkd_addr d_color /* (n, 3) */,
                                vkd_addr albedo, vkd_addr normals, vkd_addr positions, vkd_addr ray, vkd_addr lights,
                                uint32_t n, uint32_t rays_per_view, const vkd_volrend_shade_desc* desc);
void vkd_ref_volrend_shade_forward(double* color, const double* albedo, const double* normals,
                                   const double* positions, const uint32_t* ray, const double* lights, uint64_t n,
                                   uint32_t rays_per_view, const vkd_volrend_shade_desc* desc);
void vkd_ref_volrend_shade_backward(double* d_albedo, double* d_normals, const double* d_color, const double* albedo,
                                    const double* normals, const double* positions, const uint32_t* ray,
                                    const double* lights, uint64_t n, uint32_t rays_per_view,
                                    const vkd_volrend_shade_desc* desc);

// ---------------------------------------------------------------------------
// Regularisers. Each forward writes loss[0] = scale * sum_i f_i (scale = 1 / n gives a mean);
// each backward adds d_loss * d(loss)/d(input) into its gradient.

typedef enum vkd_volrend_opacity_loss {
    VKD_VOLREND_OPACITY_L1 = 0,      // f = |o|                     (sparsity; = o for o >= 0)
    VKD_VOLREND_OPACITY_SQRT = 1,    // f = sqrt(o^2 + eps), eps 0 = 0.01 (threestudio's lambda_sparsity)
    VKD_VOLREND_OPACITY_ENTROPY = 2, // f = -o' log o' - (1 - o') log(1 - o'), o' = clamp(o, eps, 1 - eps),
                                     //     eps 0 = 1e-3 (threestudio's lambda_opaque)
} vkd_volrend_opacity_loss;

void vkd_volrend_opacity_loss_forward(vkd_stream* s, vkd_addr loss /* (1,) */, vkd_addr opacity /* (n,) */,
                                      uint32_t n, vkd_volrend_opacity_loss kind, float scale, float eps);
void vkd_volrend_opacity_loss_backward(vkd_stream* s, vkd_addr d_opacity /* (n,) accumulated */, float d_loss,
                                       vkd_addr opacity /* (n,) */, uint32_t n, vkd_volrend_opacity_loss kind,
                                       float scale, float eps);
double vkd_ref_volrend_opacity_loss_forward(const double* opacity, uint64_t n, vkd_volrend_opacity_loss kind,
                                            double scale, double eps);
void vkd_ref_volrend_opacity_loss_backward(double* d_opacity, double d_loss, const double* opacity, uint64_t n,
                                           vkd_volrend_opacity_loss kind, double scale, double eps);

// Orientation (DreamFusion): f_i = w_i max(0, n_i . d_i)^2 with the weights detached (no gradient
// to w), d_i the sample's view direction (the ray direction, away from the camera).
void vkd_volrend_orientation_loss_forward(vkd_stream* s, vkd_addr loss /* (1,) */, vkd_addr weights /* (n,) */,
                                          vkd_addr normals /* (n, 3) */, vkd_addr dirs /* (n, 3) */, uint32_t n,
                                          float scale);
void vkd_volrend_orientation_loss_backward(vkd_stream* s, vkd_addr d_normals /* (n, 3) accumulated */, float d_loss,
                                           vkd_addr weights, vkd_addr normals, vkd_addr dirs, uint32_t n, float scale);
double vkd_ref_volrend_orientation_loss_forward(const double* weights, const double* normals, const double* dirs,
                                                uint64_t n, double scale);
void vkd_ref_volrend_orientation_loss_backward(double* d_normals, double d_loss, const double* weights,
                                               const double* normals, const double* dirs, uint64_t n, double scale);

// ---------------------------------------------------------------------------
// Occupancy grid: a res^3 grid over [-R, R]^3 with a float density EMA per cell and a
// bitfield (cell (x, y, z) is index (x * res + y) * res + z). Updating it is two calls around
// a field evaluation, as in nerfacc's OccGridEstimator._update:
//   vkd_occgrid_sample  writes M jittered positions (one per chosen cell): every cell during
//                       warm-up (all_cells), else res^3 / 4 uniformly random cells plus
//                       res^3 / 4 random occupied cells (all of them when fewer are occupied);
//   (the caller evaluates the field's density at those M positions)
//   vkd_occgrid_update  ema = max(ema * decay, occ_scale * density) for the sampled cells, then
//                       occupied = ema > min(mean(ema), threshold).
// A new grid (and vkd_occgrid_reset) has every cell occupied and the EMA at 0.
// vkd_occgrid_create submits its own initialisation (it takes no stream).

typedef struct vkd_occgrid_desc {
    uint32_t resolution;  // cells per axis; 0 = 128
    float radius;         // half-extent R; 0 = 1
} vkd_occgrid_desc;

typedef struct vkd_occgrid_update_desc {
    float decay;          // 0 = 0.95
    float threshold;      // 0 = 0.01
    float occ_scale;      // multiplies the densities first (threestudio: render_step_size); 0 = 1
} vkd_occgrid_update_desc;

typedef struct vkd_occgrid vkd_occgrid;

vkd_status vkd_occgrid_create(vkd_gpu* gpu, const vkd_occgrid_desc* desc, vkd_occgrid** out, vkd_error* err);
// Work recorded on a stream that uses the grid must have been submitted.
void vkd_occgrid_destroy(vkd_occgrid* g);
uint32_t vkd_occgrid_resolution(const vkd_occgrid* g);
float vkd_occgrid_radius(const vkd_occgrid* g);
vkd_addr vkd_occgrid_bits(const vkd_occgrid* g);     // (ceil(res^3 / 32),) uint32
vkd_addr vkd_occgrid_density(const vkd_occgrid* g);  // (res^3,) float EMA
vkd_addr vkd_occgrid_cells(const vkd_occgrid* g);    // (M,) uint32 cells of the latest sample call
uint64_t vkd_occgrid_bytes(const vkd_occgrid* g);
// Records: EMA = 0, every cell occupied.
void vkd_occgrid_reset(vkd_occgrid* g, vkd_stream* s);
// M for a sample call: res^3 with all_cells, else 2 * floor(res^3 / 4).
uint32_t vkd_occgrid_sample_count(const vkd_occgrid* g, bool all_cells);
// Records the sampling of M cells into positions (M, 3). Entries of the occupied half that have
// no cell (fewer occupied cells than M / 2) get position (0, 0, 0) and are ignored by the update.
void vkd_occgrid_sample(vkd_occgrid* g, vkd_stream* s, vkd_addr positions /* (M, 3) */, bool all_cells,
                        uint32_t seed);
// Records the update from the densities at the positions of the latest vkd_occgrid_sample.
void vkd_occgrid_update(vkd_occgrid* g, vkd_stream* s, vkd_addr density /* (M,) */,
                        const vkd_occgrid_update_desc* desc);

// Reference on host arrays (bits: (ceil(res^3 / 32),) uint32; density: (res^3,)).
// Sample: writes positions (M, 3) and cells (M,) exactly as the GPU chooses them. Returns M.
uint32_t vkd_ref_occgrid_sample(double* positions, uint32_t* cells, const uint32_t* bits, uint32_t res,
                                double radius, bool all_cells, uint32_t seed);
void vkd_ref_occgrid_update(double* density, uint32_t* bits, const uint32_t* cells, const double* samples,
                            uint32_t count, uint32_t res, const vkd_occgrid_update_desc* desc);

#ifdef __cplusplus
}
#endif
#endif
