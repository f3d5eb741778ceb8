// 3D Gaussians as a trainable model: parameters, gradients and Adam moments on the device,
// the 3DGS optimizer schedule, adaptive density control, initialisation (sphere, OBJ mesh)
// and I/O (3DGS .ply, checkpoints with optimizer state).
//
// Storage: four flat fp32 device buffers (parameters, gradients, Adam m, Adam v), each laid
// out group by group for `capacity` Gaussians, so every group is one contiguous
// (capacity, width) array that vkd_splat_params / vkd_splat_grads can point into:
//   means (3) | log_scales (3) | quats (4: w, x, y, z) | opacity_logits (1) | sh (K, 3)
// with K = (sh_degree + 1)^2. Three more (capacity,) arrays hold the densification statistics
// the renderer's backward produces (||dL/dmean2d|| sums, visibility counts, largest 2D radius).
// Only the first `count` rows are meaningful; capacity grows (a copy kernel re-lays the rows
// out on the device) without losing any state.
//
// The "packed" layout used on the host is the same layout with capacity = count.
//
// Threading: a vkd_gaussians is used from one thread with one stream at a time.
#ifndef VKDREAM_GAUSSIANS_H
#define VKDREAM_GAUSSIANS_H

#include "vkdream/splat.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VKD_GAUSSIANS_MAX_SH_DEGREE 3

typedef enum vkd_gaussians_group {
    VKD_GAUSSIANS_MEANS = 0,      // (N, 3)
    VKD_GAUSSIANS_LOG_SCALES,     // (N, 3)
    VKD_GAUSSIANS_QUATS,          // (N, 4) w, x, y, z
    VKD_GAUSSIANS_OPACITY,        // (N,) logits
    VKD_GAUSSIANS_SH,             // (N, K, 3)
    VKD_GAUSSIANS_GROUP_COUNT
} vkd_gaussians_group;

typedef enum vkd_gaussians_buffer {
    VKD_GAUSSIANS_PARAMS = 0,
    VKD_GAUSSIANS_GRADS,
    VKD_GAUSSIANS_ADAM_M,         // first moments
    VKD_GAUSSIANS_ADAM_V,         // second moments
    VKD_GAUSSIANS_BUFFER_COUNT
} vkd_gaussians_buffer;

// Floats per Gaussian: 11 + 3 (sh_degree + 1)^2.
uint32_t vkd_gaussians_row_floats(int sh_degree);
// Floats per Gaussian of one group (3, 3, 4, 1, 3 K).
uint32_t vkd_gaussians_group_width(vkd_gaussians_group group, int sh_degree);
// Offset in floats of a group in a flat buffer of `capacity` rows.
uint64_t vkd_gaussians_group_offset(vkd_gaussians_group group, uint32_t capacity, int sh_degree);

// ---------------------------------------------------------------------------
// Host copies (packed layout), for I/O and tests.

typedef struct vkd_gaussians_host {
    uint32_t count;
    int32_t sh_degree;
    float* data;            // count * vkd_gaussians_row_floats(sh_degree) floats, packed
    // Views into data:
    float* means;           // (count, 3)
    float* log_scales;      // (count, 3)
    float* quats;           // (count, 4)
    float* opacity_logits;  // (count,)
    float* sh;              // (count, K, 3)
} vkd_gaussians_host;

// Allocates zeroed data for count Gaussians and sets the views.
vkd_status vkd_gaussians_host_alloc(vkd_gaussians_host* h, uint32_t count, int sh_degree, vkd_error* err);
void vkd_gaussians_host_free(vkd_gaussians_host* h);

// ---------------------------------------------------------------------------
// The container

// Per-group learning rates; zero means the default given, a negative rate freezes its group
// (no update, moments untouched; position_init < 0 freezes the means). Defaults follow 3DGS
// (positions scaled by the scene extent, annealed exponentially) with the feature rate of
// the brief (5e-3; 3DGS 2.5e-3, DreamGaussian 0.01), and Adam's eps = 1e-15 as both use.
typedef struct vkd_gaussians_lr {
    float position_init;        // 1.6e-4 (times scene_extent)
    float position_final;       // 1.6e-6 (times scene_extent)
    uint32_t position_max_steps;// 30000: steps of the exponential anneal (then constant)
    float position_delay_mult;  // 0.01; used only when position_delay_steps > 0 (3DGS)
    uint32_t position_delay_steps; // 0: no warm-up
    float feature;              // 5e-3: SH DC coefficients (DreamGaussian uses 0.01)
    float feature_rest;         // feature / 20: SH bands 1..3 (3DGS's f_rest)
    float opacity;              // 0.05
    float scaling;              // 5e-3
    float rotation;             // 1e-3
    float beta1, beta2;         // 0.9, 0.999
    float eps;                  // 1e-15 (3DGS and DreamGaussian build Adam with eps=1e-15)
} vkd_gaussians_lr;

typedef struct vkd_gaussians_desc {
    uint32_t capacity;      // initial capacity; 0 = 4096. Rounded up to a multiple of 64.
    int32_t sh_degree;      // 0..3 (0, DreamGaussian's setting, is also the default)
    float scene_extent;     // 0 = 1: scales the position lr and the densification sizes
    vkd_gaussians_lr lr;
    uint32_t seed;          // for the split samples of the densification
} vkd_gaussians_desc;

typedef struct vkd_gaussians vkd_gaussians;

// A container with count = 0 and step = 0.
vkd_status vkd_gaussians_create(vkd_gpu* gpu, const vkd_gaussians_desc* desc, vkd_gaussians** out, vkd_error* err);
// Work recorded on a stream that uses its buffers must have been submitted.
void vkd_gaussians_destroy(vkd_gaussians* g);

uint32_t vkd_gaussians_count(const vkd_gaussians* g);
uint32_t vkd_gaussians_capacity(const vkd_gaussians* g);
int vkd_gaussians_sh_degree(const vkd_gaussians* g);
float vkd_gaussians_scene_extent(const vkd_gaussians* g);
// Optimizer steps taken (the t of Adam's bias corrections for the next step is this + 1).
uint32_t vkd_gaussians_step_count(const vkd_gaussians* g);
// SH bands the renderer evaluates (3DGS raises it every 1000 steps); starts at sh_degree.
void vkd_gaussians_set_active_sh_degree(vkd_gaussians* g, int degree);  // clamped to 0..sh_degree
int vkd_gaussians_active_sh_degree(const vkd_gaussians* g);

// Views for the renderer. Valid until the next call that may grow or re-lay out the
// buffers (reserve, densify, init, upload, load).
void vkd_gaussians_params(const vkd_gaussians* g, vkd_splat_params* out);
void vkd_gaussians_grads(const vkd_gaussians* g, vkd_splat_grads* out);
// Views of the Adam moments, shaped like the gradients.
void vkd_gaussians_moments(const vkd_gaussians* g, vkd_splat_grads* m, vkd_splat_grads* v);
// Base address of a flat buffer (capacity rows, group-by-group).
vkd_addr vkd_gaussians_buffer_addr(const vkd_gaussians* g, vkd_gaussians_buffer which);
// The densification statistics for vkd_splat_backward: grad2d_norm, vis_count and max_radius, (N,) each.
void vkd_gaussians_stats(const vkd_gaussians* g, vkd_splat_densify_stats* out);
// Device bytes held.
uint64_t vkd_gaussians_bytes(const vkd_gaussians* g);

// Grows the capacity to at least `capacity` keeping every state (params, grads, moments,
// statistics). SUBMITS s (the old buffers are freed once the copy has run).
vkd_status vkd_gaussians_reserve(vkd_gaussians* g, vkd_stream* s, uint32_t capacity, vkd_error* err);

// Replaces the contents with host data: count = params->count, parameters from params,
// moments from m and v (NULL: zero), gradients and statistics zero. Grows when needed.
// The SH degrees must equal the container's. SUBMITS s first (host transfers are synchronous).
vkd_status vkd_gaussians_upload(vkd_gaussians* g, vkd_stream* s, const vkd_gaussians_host* params,
                                const vkd_gaussians_host* m, const vkd_gaussians_host* v, vkd_error* err);
// Copies the first count rows of one buffer to out (allocated here; free with
// vkd_gaussians_host_free). SUBMITS s first.
vkd_status vkd_gaussians_download(vkd_gaussians* g, vkd_stream* s, vkd_gaussians_buffer which,
                                  vkd_gaussians_host* out, vkd_error* err);
// Same for the statistics: grad2d_norm, vis_count and max_radius each hold count floats (any may be NULL).
vkd_status vkd_gaussians_download_stats(vkd_gaussians* g, vkd_stream* s, float* grad2d_norm, float* vis_count,
                                        float* max_radius, vkd_error* err);

// ---------------------------------------------------------------------------
// Optimizer

// Learning rates at 1-based step t: out = {means, log_scales, quats, opacity, sh DC, sh rest}.
// The position rate is 3DGS's get_expon_lr_func:
//   lr(t) = delay(t) * exp((1 - u) ln(init * extent) + u ln(final * extent)), u = min(t / max_steps, 1),
//   delay(t) = delay_mult + (1 - delay_mult) sin(pi/2 min(t / delay_steps, 1)) when delay_steps > 0, else 1.
void vkd_gaussians_learning_rates(const vkd_gaussians* g, uint32_t step, double out[6]);
// One Adam step of every group (step count + 1 = t), each group with its own rate at t, on the
// first count rows. Records on s.
void vkd_gaussians_step(vkd_gaussians* g, vkd_stream* s);
// Gradients = 0. Records on s.
void vkd_gaussians_zero_grad(vkd_gaussians* g, vkd_stream* s);

// ---------------------------------------------------------------------------
// Adaptive density control (3DGS densify_and_prune, DreamGaussian's settings in comments)

typedef struct vkd_gaussians_densify_desc {
    float grad_threshold;  // 0.0002: densify where mean ||dL/dmean2d|| over visible views >= this
    float percent_dense;   // 0.01: clone when max scale <= this * extent, split above
    float min_opacity;     // 0.005 (DreamGaussian 0.01): prune sigmoid(logit) < this
    float max_scale;       // 0.1: prune max scale > this * extent (3DGS's big_points_ws)
    // Screen-space size prune (3DGS's big_points_vs, max_screen_size = 20): prune when the
    // largest 2D radius in pixels since the statistics were last reset (max_radius of
    // vkd_splat_densify_stats) > this. 0 = off (the default).
    float max_screen_radius;
    bool no_size_prune;    // skip both size prunes (3DGS does before the first opacity reset)
    bool prune_only;       // no clone / split (DreamGaussian's prune after densification ends)
} vkd_gaussians_densify_desc;

// Clones small and splits large Gaussians with high view-space gradients, then prunes by
// opacity, world size and (when enabled) screen size, compacting every buffer on the device
// (an exclusive scan of the output rows). Prune rules, per resulting Gaussian:
//   sigmoid(logit) < min_opacity, or max scale > max_scale * extent (unless no_size_prune), or
//   max_radius > max_screen_radius (when > 0, unless no_size_prune).
// Clones and split children are judged with their own opacity and scales but inherit the
// parent's screen radius (as gsplat does: 3DGS resets it before pruning, which disables its
// screen-space prune). The output keeps the input order with each Gaussian's clone right after it and a
// split Gaussian replaced by its two children: mean + R(q) (s * z), z ~ N(0, I), scales
// s / 1.6. Survivors keep their gradients and moments; clones and children start at zero
// (as 3DGS's cat_tensors_to_optimizer). The statistics (max radius included) are zeroed. Grows the capacity when
// needed. SUBMITS s twice and reads back one number (the new count).
vkd_status vkd_gaussians_densify(vkd_gaussians* g, vkd_stream* s, const vkd_gaussians_densify_desc* desc,
                                 vkd_error* err);
// The seed the next densify call hashes its split samples with (a function of desc.seed and
// the number of densify calls so far).
uint32_t vkd_gaussians_densify_seed(const vkd_gaussians* g);
// Opacity = min(opacity, max_opacity) (0 = 0.01), and the opacity moments are zeroed, as 3DGS's
// reset_opacity. Records on s.
void vkd_gaussians_reset_opacity(vkd_gaussians* g, vkd_stream* s, float max_opacity);
// Densification statistics = 0. Records on s.
void vkd_gaussians_reset_stats(vkd_gaussians* g, vkd_stream* s);

// ---------------------------------------------------------------------------
// Initialisation. Each replaces the contents (count = the new points, gradients, moments and
// statistics zero, step 0) and SUBMITS s.

// f_dc = (rgb - 0.5) / C0: the SH DC coefficient whose color (SH + 0.5) is rgb.
#define VKD_SH_C0 0.28209479177387814

typedef enum vkd_gaussians_color {
    VKD_GAUSSIANS_COLOR_GRAY = 0,  // rgb 0.5 (SH DC 0), DreamGaussian's init
    VKD_GAUSSIANS_COLOR_FIXED,     // desc rgb
    VKD_GAUSSIANS_COLOR_RANDOM,    // uniform in [0, 1] per channel
} vkd_gaussians_color;

typedef struct vkd_gaussians_sphere_desc {
    uint32_t count;         // 0 = 5000
    float radius;           // 0 = 0.5; points uniform in the ball
    float center[3];
    vkd_gaussians_color color;
    float rgb[3];           // for VKD_GAUSSIANS_COLOR_FIXED
    // Initial scale; 0 = the expected RMS distance to the 3 nearest neighbours of uniform
    // points at this density (what 3DGS's distCUDA2 init measures): 1.2129 radius / count^(1/3).
    float scale;
    float opacity;          // 0 = 0.1
    uint64_t seed;
} vkd_gaussians_sphere_desc;

vkd_status vkd_gaussians_init_sphere(vkd_gaussians* g, vkd_stream* s, const vkd_gaussians_sphere_desc* desc,
                                     vkd_error* err);

typedef struct vkd_gaussians_mesh_desc {
    uint32_t count;         // 0 = 5000 surface samples, area-weighted
    // Color when the mesh has neither vertex colors ('v x y z r g b') nor material diffuse
    // colors (Kd): GRAY, FIXED (rgb) or RANDOM. Vertex colors win over materials.
    vkd_gaussians_color color;
    float rgb[3];
    // Initial scale; 0 = the expected RMS distance to the 3 nearest neighbours of uniform
    // points on the surface: sqrt(2 area / (pi count)).
    float scale;
    float opacity;          // 0 = 0.1
    // > 0: flat Gaussians on the surface: local z along the face normal, with that axis's
    // scale multiplied by this (e.g. 0.1). 0: isotropic, identity rotations.
    float flatten;
    // > 0: center the mesh's bounding box at the origin and scale it so half its diagonal is
    // this radius. 0: keep the file's coordinates.
    float fit_radius;
    uint64_t seed;
} vkd_gaussians_mesh_desc;

// Loads an OBJ (tinyobjloader, triangulated) and samples its surface.
vkd_status vkd_gaussians_init_obj(vkd_gaussians* g, vkd_stream* s, const char* path,
                                  const vkd_gaussians_mesh_desc* desc, vkd_error* err);

// ---------------------------------------------------------------------------
// I/O

// The 3DGS .ply (binary_little_endian): x y z nx ny nz f_dc_0..2 f_rest_0..(3(K-1)-1)
// opacity scale_0..2 rot_0..3, all float; normals written as 0; f_rest channel-major (all
// red coefficients of bands 1.., then green, then blue) as 3DGS's save_ply.
vkd_status vkd_gaussians_ply_write(const char* path, const vkd_gaussians_host* h, vkd_error* err);
// Reads a 3DGS .ply: validates the header (format, the vertex element, every required
// property present once and float), infers the SH degree from the f_rest count; unknown
// scalar properties are skipped. Errors name the file and the property.
vkd_status vkd_gaussians_ply_read(const char* path, vkd_gaussians_host* out, vkd_error* err);

// The parameters of g as a 3DGS .ply. SUBMITS s first. Written to "<path>.tmp" then renamed.
vkd_status vkd_gaussians_save_ply(vkd_gaussians* g, vkd_stream* s, const char* path, vkd_error* err);
// A new container from a 3DGS .ply (moments zero, step 0). Its SH degree is the file's, or
// desc->sh_degree when that is higher (the extra bands start at zero). SUBMITS s.
vkd_status vkd_gaussians_load_ply(vkd_gpu* gpu, vkd_stream* s, const char* path, const vkd_gaussians_desc* desc,
                                  vkd_gaussians** out, vkd_error* err);

// Checkpoint: safetensors with params.<group>, adam_m.<group>, adam_v.<group> and
// stats.grad2d_norm / stats.vis_count / stats.max_radius (F32, shapes (N,3) (N,3) (N,4) (N,) (N,K,3)
// (N,); a file without stats.max_radius, from before it existed, loads with zeros), and
// metadata format = "vkdream-gaussians", version = "1", step, sh_degree, active_sh_degree,
// scene_extent, seed, densify_calls. Written to a temporary file and renamed, so a failed
// save leaves the previous checkpoint intact. SUBMITS s first.
vkd_status vkd_gaussians_save_checkpoint(vkd_gaussians* g, vkd_stream* s, const char* path, vkd_error* err);
// Restores everything saved (bit-exact); gradients, which are not saved, start at zero.
// desc supplies capacity and learning rates; its sh_degree is ignored (the file's is used) and
// a zero scene_extent or seed takes the saved one.
vkd_status vkd_gaussians_load_checkpoint(vkd_gpu* gpu, vkd_stream* s, const char* path,
                                         const vkd_gaussians_desc* desc, vkd_gaussians** out, vkd_error* err);

// ---------------------------------------------------------------------------
// Plain C references (float64) for the tests, on packed arrays of count rows.

// The densification of vkd_gaussians_densify: reads params/grads/m/v (count rows, packed) and
// the statistics (max_radius may be NULL: zeros), writes the results packed at the new count into out_* (room for 2 count
// rows each; any out_* may be NULL except out_params) and the per-Gaussian decision flags
// (VKD_GAUSSIANS_KEEP.. below; may be NULL). extent is the scene extent; seed the value of
// vkd_gaussians_densify_seed. Returns the new count.
#define VKD_GAUSSIANS_KEEP 1u
#define VKD_GAUSSIANS_CLONE 2u
#define VKD_GAUSSIANS_SPLIT 4u
#define VKD_GAUSSIANS_CHILDREN 8u
uint32_t vkd_ref_gaussians_densify(double* out_params, double* out_grads, double* out_m, double* out_v,
                                   uint32_t* flags, const double* params, const double* grads, const double* m,
                                   const double* v, const double* grad2d_norm, const double* vis_count,
                                   const double* max_radius, uint32_t count, int sh_degree, double extent,
                                   const vkd_gaussians_densify_desc* desc, uint32_t seed);
// The three standard normals of split child `child` (0, 1) of Gaussian `parent`.
void vkd_ref_gaussians_normal3(double out[3], uint32_t seed, uint32_t parent, uint32_t child);

#ifdef __cplusplus
}
#endif
#endif
