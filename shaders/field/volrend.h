// Volume rendering kernels (ray generation, ray marching, compositing, shading, regularisers):
// push constants and the random-number hash, shared by C (src/field/volrend*.c) and GLSL
// (shaders/field/volrend_*.comp) so the C reference draws exactly the GPU's jitter.
#ifndef VKD_SHADERS_FIELD_VOLREND_H
#define VKD_SHADERS_FIELD_VOLREND_H
#include "common.h"

#ifdef VULKAN
#define VOLREND_U32 uint
#define VOLREND_FN
#else
#define VOLREND_U32 uint32_t
#define VOLREND_FN static inline
#endif

// Early ray termination: a ray stops before a sample once its transmittance is below this.
#define VOLREND_T_EPS 1e-4
// Rays per workgroup of the per-ray kernels (marching, compositing): rays are few
// (64^2 .. 256^2 per view) and their loops long, so small groups keep every core busy.
#define VOLREND_RAY_WG 64
// Single-workgroup reductions (regulariser losses).
#define VOLREND_SUM_WG 256

// Shading modes (vkd_volrend_shading).
#define VOLREND_SHADE_ALBEDO 0
#define VOLREND_SHADE_LAMBERTIAN 1
#define VOLREND_SHADE_TEXTURELESS 2

// Opacity regularisers (vkd_volrend_opacity_loss).
#define VOLREND_OPACITY_L1 0
#define VOLREND_OPACITY_SQRT 1
#define VOLREND_OPACITY_ENTROPY 2

// "lowbias32" integer hash (Chris Wellons): good avalanche with two multiplies. Written in
// the common subset of C and GLSL, so both sides draw bit-identical random numbers.
VOLREND_FN VOLREND_U32 volrend_hash(VOLREND_U32 x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}
VOLREND_FN VOLREND_U32 volrend_hash2(VOLREND_U32 a, VOLREND_U32 b) {
    return volrend_hash(a ^ volrend_hash(b + 0x9e3779b9u));
}

VKD_PUSH_BEGIN(vkd_volrend_rays_push)
    uint64_t origins;   // (rays, 3) out
    uint64_t dirs;      // (rays, 3) out, unit length
    uint64_t near_far;  // (rays, 2) out
    uint32_t first;     // index of this view's first ray
    uint32_t width, height;
    float r00, r01, r02, r10, r11, r12, r20, r21, r22;  // world -> camera rotation, row-major
    float t0, t1, t2;
    float fx, fy, cx, cy;
    float radius;
VKD_PUSH_END(vkd_volrend_rays_push)

// Both marching passes (count: only offsets is written; emit: the samples).
VKD_PUSH_BEGIN(vkd_volrend_march_push)
    uint64_t origins;   // (rays, 3)
    uint64_t dirs;      // (rays, 3)
    uint64_t near_far;  // (rays, 2)
    uint64_t bits;      // (ceil(res^3 / 32),) occupancy bitfield, 0 = every cell occupied
    uint64_t offsets;   // count: (rays,) out; emit: (rays + 1,) exclusive scan of the counts
    uint64_t positions; // (N, 3) out, or 0
    uint64_t sdirs;     // (N, 3) out, or 0
    uint64_t intervals; // (N, 2) out (t, dt), or 0
    uint64_t ray;       // (N,) u32 out, or 0
    uint32_t rays;
    uint32_t res;
    uint32_t seed;
    uint32_t stratified;
    float radius;
    float step;
    float inv_cell;     // res / (2 radius)
VKD_PUSH_END(vkd_volrend_march_push)

VKD_PUSH_BEGIN(vkd_volrend_composite_push)
    uint64_t rgb;       // (B, 3, H, W) out, or 0
    uint64_t opacity;   // (B, 1, H, W) out, or 0
    uint64_t depth;     // (B, 1, H, W) out, or 0
    uint64_t nrm;       // (B, 3, H, W) out, or 0
    uint64_t weights;   // (N,) out, or 0
    uint64_t offsets;   // (rays + 1,)
    uint64_t sigma;     // (N,)
    uint64_t srgb;      // (N, 3)
    uint64_t intervals; // (N, 2)
    uint64_t snrm;      // (N, 3) or 0
    uint64_t bg;        // (rays, 3) or 0 (black)
    uint32_t rays;
    uint32_t rays_per_view;
VKD_PUSH_END(vkd_volrend_composite_push)

VKD_PUSH_BEGIN(vkd_volrend_composite_bwd_push)
    uint64_t d_sigma;     // (N,) accumulated, or 0
    uint64_t d_srgb;      // (N, 3) accumulated, or 0
    uint64_t d_intervals; // (N, 2) accumulated, or 0
    uint64_t d_snrm;      // (N, 3) accumulated, or 0
    uint64_t d_bg;        // (rays, 3) accumulated, or 0
    uint64_t g_rgb;       // (B, 3, H, W) or 0
    uint64_t g_opacity;   // (B, 1, H, W) or 0
    uint64_t g_depth;     // (B, 1, H, W) or 0
    uint64_t g_nrm;       // (B, 3, H, W) or 0
    uint64_t offsets;
    uint64_t sigma;
    uint64_t srgb;
    uint64_t intervals;
    uint64_t snrm;
    uint64_t bg;
    uint32_t rays;
    uint32_t rays_per_view;
VKD_PUSH_END(vkd_volrend_composite_bwd_push)

// Normals from density gradients, forward (nrm = -g / max(|g|, eps)) and backward.
VKD_PUSH_BEGIN(vkd_volrend_normals_push)
    uint64_t dst;       // forward: normals (n, 3); backward: d_grad (n, 3) accumulated
    uint64_t grad;      // (n, 3) density gradient
    uint64_t d_nrm;     // backward: (n, 3) d normals
    uint32_t n;
    float eps;
VKD_PUSH_END(vkd_volrend_normals_push)

VKD_PUSH_BEGIN(vkd_volrend_shade_push)
    uint64_t color;     // forward: (n, 3) out; backward: d color (n, 3)
    uint64_t d_albedo;  // backward: (n, 3) accumulated, or 0
    uint64_t d_nrm;     // backward: (n, 3) accumulated, or 0
    uint64_t albedo;    // (n, 3) (unused when textureless)
    uint64_t nrm;       // (n, 3)
    uint64_t positions; // (n, 3)
    uint64_t ray;       // (n,) u32
    uint64_t lights;    // (views, 3) point light positions
    uint32_t n;
    uint32_t rays_per_view;
    uint32_t mode;
    float amb_r, amb_g, amb_b;
    float dif_r, dif_g, dif_b;
VKD_PUSH_END(vkd_volrend_shade_push)

// Regulariser losses: loss[0] = scale * sum_i f(x_i), and their backward.
VKD_PUSH_BEGIN(vkd_volrend_loss_push)
    uint64_t loss;      // (1,) out (forward)
    uint64_t dst;       // backward: d opacity (n,) or d normals (n, 3), accumulated
    uint64_t opacity;   // (n,) opacity losses
    uint64_t weights;   // (n,) orientation loss
    uint64_t nrm;       // (n, 3) orientation loss
    uint64_t dirs;      // (n, 3) orientation loss
    uint32_t n;
    uint32_t kind;
    float scale;
    float d_loss;
    float eps;
VKD_PUSH_END(vkd_volrend_loss_push)

VKD_PUSH_BEGIN(vkd_volrend_fill_push)
    uint64_t dst;       // (n, 3)
    uint32_t n;
    float r, g, b;
VKD_PUSH_END(vkd_volrend_fill_push)

#endif
