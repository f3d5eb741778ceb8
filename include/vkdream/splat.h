// Differentiable 3D Gaussian splatting (3DGS / gsplat semantics) in Vulkan compute.
//
// The renderer reads Gaussians through raw device addresses, so it does not care who owns
// them (vkd_splat_params below). A render context (vkd_splat_ctx) owns the scratch buffers
// (projected Gaussians, tile lists, sort scratch, per-pixel state for the backward) and
// grows them only when a call needs more.
//
// Forward, per view b and Gaussian i:
//   p = W mu + t (camera space, OpenCV axes); culled unless near <= p.z <= far;
//   Sigma = R S S^T R^T (R from the normalized quaternion w,x,y,z; S = diag(exp(log_scales)));
//   EWA: Sigma2D = J W Sigma W^T J^T + 0.3 I with x/z, y/z clamped to the field of view
//   widened by 30% (3DGS's 1.3 tan(fov/2), measured from the principal point like gsplat);
//   conic = Sigma2D^-1; radius = ceil(3 sqrt(lambda_max)); 16x16 tiles touched by the
//   square of that radius (culled when none); color = max(SH(normalize(mu - campos)) + 0.5, 0);
//   opacity = sigmoid(logit).
// Each pixel (center (x + 0.5, y + 0.5)) composites the Gaussians of its tile front to back:
//   power = -0.5 (a dx^2 + c dy^2) - b dx dy (skip power > 0), alpha = min(0.99, opacity e^power)
//   (skip alpha < 1/255), stop before T would drop below 1e-4; C += color alpha T.
//   rgb = C + T_final bg, alpha = 1 - T_final, depth = sum z alpha T (not normalized).
// Optional normals image (vkd_splat_outputs.normal): normal = sum n alpha T, composited like the
// color with no background and not normalized (divide by alpha for a unit-ish normal), where a
// Gaussian's n is the WORLD-space axis of its smallest scale (column argmin(s) of R; the first
// of equal scales), flipped to face the camera: dot(n, campos - mu) >= 0. This is the
// shortest-axis normal of GaussianShader (get_minimum_axis + flip_align_view) and the 2DGS-style
// flat-Gaussian approximation: exact for flattened Gaussians, arbitrary for round ones. Its
// backward reaches the rotation through n (the argmin and the flip are treated as constants:
// they are piecewise constant) and everything else through alpha.
#ifndef VKDREAM_SPLAT_H
#define VKDREAM_SPLAT_H

#include "vkdream/camera.h"
#include "vkdream/gpu.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VKD_SPLAT_TILE 16      // tile edge in pixels (keys and the rasterizer's workgroups)
#define VKD_SPLAT_MAX_SH_DEGREE 3

// Gaussians on the device (fp32). Also used for their gradients (vkd_splat_grads).
typedef struct vkd_splat_params {
    vkd_addr means;          // (N, 3) world positions
    vkd_addr log_scales;     // (N, 3)
    vkd_addr quats;          // (N, 4) w, x, y, z; need not be normalized
    vkd_addr opacity_logits; // (N,)
    vkd_addr sh;             // (N, K, 3) SH coefficients, K = sh_stride
    uint32_t count;          // N
    int32_t sh_degree;       // 0..3: bands evaluated
    uint32_t sh_stride;      // K, coefficients stored per Gaussian; 0 = (sh_degree + 1)^2
} vkd_splat_params;

// Gradients, same shapes as the parameters. Every address may be 0 (not needed).
// The backward ACCUMULATES (+=) into them.
typedef struct vkd_splat_grads {
    vkd_addr means;          // (N, 3)
    vkd_addr log_scales;     // (N, 3)
    vkd_addr quats;          // (N, 4)
    vkd_addr opacity_logits; // (N,)
    vkd_addr sh;             // (N, K, 3)
} vkd_splat_grads;

// Images of B views, NCHW fp32. Any address may be 0 (not written / no gradient).
// For the backward the same struct holds the incoming gradients d_rgb, d_alpha, d_depth, d_normal.
typedef struct vkd_splat_outputs {
    vkd_addr rgb;            // (B, 3, H, W)
    vkd_addr alpha;          // (B, 1, H, W)
    vkd_addr depth;          // (B, 1, H, W)
    vkd_addr normal;         // (B, 3, H, W) world-space normals (see the top); 0 = not rendered
} vkd_splat_outputs;

// Densification statistics the backward accumulates, each (N,) fp32; any address may be 0.
// "Visible" in a view = the Gaussian touches at least one tile there.
typedef struct vkd_splat_densify_stats {
    vkd_addr grad2d_norm;    // += ||dL/d mean2d|| in NDC units (pixel gradient times (W/2, H/2), as
                             //    3DGS's densify threshold 0.0002 expects), per visible view
    vkd_addr vis_count;      // += 1 per visible view
    vkd_addr max_radius;     // = max(itself, radius) over visible views, radius = ceil(3 sqrt(lambda_max))
                             //   of the 2D covariance in pixels (3DGS's max_radii2D / radii)
} vkd_splat_densify_stats;

typedef struct vkd_splat_desc {
    // Accumulate gradients with a compare-and-swap loop even when the device has float
    // atomics (the fallback path, selectable for tests).
    bool force_cas_atomics;
    // Pixels each rasterizer invocation owns (1, 2, 4, 8 or 16; a tile column slice).
    // 0 = per device: 16 on CPUs (llvmpipe), 1 on GPUs.
    uint32_t pixels_per_thread;
} vkd_splat_desc;

typedef struct vkd_splat_ctx vkd_splat_ctx;

// Per-call statistics of the last forward (for benchmarks and densification heuristics).
typedef struct vkd_splat_stats {
    uint32_t views, count, width, height;
    uint32_t tiles;          // tiles per view
    uint64_t intersections;  // (Gaussian, tile) pairs over all views: the sorted list's length
    uint32_t key_bits;       // bits the radix sort looked at
} vkd_splat_stats;

vkd_status vkd_splat_ctx_create(vkd_gpu* gpu, const vkd_splat_desc* desc, vkd_splat_ctx** out, vkd_error* err);
// Frees the scratch buffers. Work recorded on a stream that uses them must have been submitted.
void vkd_splat_ctx_destroy(vkd_splat_ctx* ctx);
void vkd_splat_ctx_stats(const vkd_splat_ctx* ctx, vkd_splat_stats* out);
// Device bytes the context currently holds.
uint64_t vkd_splat_ctx_bytes(const vkd_splat_ctx* ctx);

// Renders B views of the Gaussians into out (any of rgb/alpha/depth/normal may be 0) over the
// background color bg (NULL = black; the normals image has none). All cameras must share width
// and height. The list of (Gaussian, tile) pairs has a data-dependent length: this call SUBMITS
// the stream once when there are Gaussians (everything recorded on it so far plus the projection
// and the scan) and reads that one number (4 bytes) back; the binning, sort and rasterization
// are then recorded on s and run at the caller's next submit. It keeps what the backward needs in ctx; a context
// serves one stream, and a backward uses the state of the latest forward.
vkd_status vkd_splat_forward(vkd_splat_ctx* ctx, vkd_stream* s, const vkd_splat_outputs* out,
                             const vkd_splat_params* p, const vkd_camera* cams, int views, const float bg[3],
                             vkd_error* err);

// Backpropagates d_out (dout->rgb (B,3,H,W), ->alpha (B,1,H,W), ->depth (B,1,H,W),
// ->normal (B,3,H,W), any 0; a d_normal needs a forward that rendered normals) through the latest
// forward on ctx (same params, cameras and background) and ACCUMULATES into g. stats (NULL = none)
// are updated as vkd_splat_densify_stats says (grad2d_norm and vis_count +=, max_radius max=).
// Records only (no submit) unless a scratch buffer must grow, which first submits s.
vkd_status vkd_splat_backward(vkd_splat_ctx* ctx, vkd_stream* s, const vkd_splat_grads* g,
                              const vkd_splat_densify_stats* stats, const vkd_splat_outputs* dout,
                              const vkd_splat_params* p, const vkd_camera* cams, int views, vkd_error* err);

// ---------------------------------------------------------------------------
// Plain C reference (float64): the same renderer with a CPU depth sort per view, the
// ground truth of the tests. Pointers mirror vkd_splat_params; any output may be NULL.

typedef struct vkd_ref_splat_params {
    const double* means;          // (N, 3)
    const double* log_scales;     // (N, 3)
    const double* quats;          // (N, 4)
    const double* opacity_logits; // (N,)
    const double* sh;             // (N, K, 3)
    uint32_t count;
    int32_t sh_degree;
    uint32_t sh_stride;           // 0 = (sh_degree + 1)^2
} vkd_ref_splat_params;

typedef struct vkd_ref_splat_grads {
    double* means;                // (N, 3), each may be NULL; accumulated (+=)
    double* log_scales;           // (N, 3)
    double* quats;                // (N, 4)
    double* opacity_logits;       // (N,)
    double* sh;                   // (N, K, 3)
} vkd_ref_splat_grads;

// The statistics of vkd_splat_densify_stats, each (N,) or NULL.
typedef struct vkd_ref_splat_stats {
    double* grad2d_norm;
    double* vis_count;
    double* max_radius;
} vkd_ref_splat_stats;

// rgb (B,3,H,W), alpha (B,1,H,W), depth (B,1,H,W), normal (B,3,H,W); bg NULL = black.
void vkd_ref_splat_forward(double* rgb, double* alpha, double* depth, double* normal, const vkd_ref_splat_params* p,
                           const vkd_camera* cams, int views, const double bg[3]);
// Gradients of L = <rgb, d_rgb> + <alpha, d_alpha> + <depth, d_depth> + <normal, d_normal> (each
// d_* may be NULL), accumulated into g; stats (NULL = none) as in vkd_splat_backward.
void vkd_ref_splat_backward(const vkd_ref_splat_grads* g, const vkd_ref_splat_stats* stats, const double* d_rgb,
                            const double* d_alpha, const double* d_depth, const double* d_normal,
                            const vkd_ref_splat_params* p, const vkd_camera* cams, int views, const double bg[3]);

#ifdef __cplusplus
}
#endif
#endif
