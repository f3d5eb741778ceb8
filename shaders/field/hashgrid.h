// Hash-grid encoding and NeRF-field kernels (src/field/hashgrid*.c, shaders/field/hashgrid_*.comp):
// push constants shared by C and GLSL.
#ifndef VKD_SHADERS_FIELD_HASHGRID_H
#define VKD_SHADERS_FIELD_HASHGRID_H
#include "common.h"

#define HASHGRID_WG 128
#define HASHGRID_PRIME_Y 2654435761u
#define HASHGRID_PRIME_Z 805459861u

// Level geometry (both directions): levels, table size, base resolution, per-level scale,
// active levels and the input mapping u = x * input_scale + input_offset.
VKD_PUSH_BEGIN(vkd_hashgrid_fwd_push)
    uint64_t table;      // (P,)
    uint64_t positions;  // (n, 3)
    uint64_t dst;        // (n, levels * F)
    uint32_t n;
    uint32_t levels;
    uint32_t log2_table;
    uint32_t base_resolution;
    uint32_t active_levels;
    float per_level_scale;
    float input_scale;
    float input_offset;
VKD_PUSH_END(vkd_hashgrid_fwd_push)

VKD_PUSH_BEGIN(vkd_hashgrid_bwd_push)
    uint64_t table;      // (P,) read for d_positions
    uint64_t positions;  // (n, 3)
    uint64_t dout;       // (n, levels * F)
    uint64_t d_table;    // (P,) accumulated, or 0
    uint64_t d_positions;// (n, 3) accumulated, or 0
    uint32_t n;
    uint32_t levels;
    uint32_t log2_table;
    uint32_t base_resolution;
    uint32_t active_levels;
    float per_level_scale;
    float input_scale;
    float input_offset;
VKD_PUSH_END(vkd_hashgrid_bwd_push)

// NeRF field head: density = act(raw + bias(x)), rgb = sigmoid(features[feat_offset .. +2]).
#define HASHGRID_DENSITY_SOFTPLUS 0
#define HASHGRID_DENSITY_EXP 1
#define HASHGRID_DENSITY_TRUNC_EXP 2
#define HASHGRID_BIAS_MAGIC3D 0
#define HASHGRID_BIAS_DREAMFUSION 1
#define HASHGRID_BIAS_CONSTANT 2

VKD_PUSH_BEGIN(vkd_hashgrid_head_fwd_push)
    uint64_t positions;  // (n, 3) world
    uint64_t raw;        // (n, raw_stride): column 0 is the raw density
    uint64_t feat;       // (n, feat_stride) or 0
    uint64_t density;    // (n,) or 0
    uint64_t rgb;        // (n, 3) or 0
    uint32_t n;
    uint32_t raw_stride;
    uint32_t feat_stride;
    uint32_t feat_offset;
    uint32_t activation;
    uint32_t bias_kind;
    float blob_density;
    float blob_radius;
VKD_PUSH_END(vkd_hashgrid_head_fwd_push)

// Writes the MLP output gradients (whole rows: d_raw (n, raw_stride) and, when d_feat != 0 and
// is another buffer, d_feat (n, feat_stride); columns without a gradient get 0) and adds the
// bias's gradient to d_positions.
VKD_PUSH_BEGIN(vkd_hashgrid_head_bwd_push)
    uint64_t positions;  // (n, 3)
    uint64_t raw;        // (n, raw_stride)
    uint64_t feat;       // (n, feat_stride)
    uint64_t d_density;  // (n,) or 0
    uint64_t d_rgb;      // (n, 3) or 0
    uint64_t d_raw;      // (n, raw_stride) out
    uint64_t d_feat;     // (n, feat_stride) out, or 0; == d_raw in the shared layout
    uint64_t d_positions;// (n, 3) accumulated, or 0
    uint32_t n;
    uint32_t raw_stride;
    uint32_t feat_stride;
    uint32_t feat_offset;
    uint32_t activation;
    uint32_t bias_kind;
    float blob_density;
    float blob_radius;
VKD_PUSH_END(vkd_hashgrid_head_bwd_push)

// Grid vertices start .. start + count - 1 of a res^3 grid over [-bound, bound]^3, x slowest.
VKD_PUSH_BEGIN(vkd_hashgrid_grid_push)
    uint64_t positions;  // (count, 3) out
    uint32_t start;
    uint32_t count;
    uint32_t res;
    float bound;
VKD_PUSH_END(vkd_hashgrid_grid_push)

// Finite-difference density gradient (threestudio's finite_difference normals): point i's six
// offsets x +- eps e_k (clamped to [-bound, bound]) are rows 6 i + 2 k (+) and 6 i + 2 k + 1 (-).
#define HASHGRID_FD_POINTS 0   // positions (n, 3) -> offsets (6 n, 3)
#define HASHGRID_FD_COMBINE 1  // densities (6 n,) -> grad (n, 3) = (s+ - s-) / (2 eps)
#define HASHGRID_FD_SPLIT 2    // d grad (n, 3) -> d densities (6 n,) = +- d grad / (2 eps)
VKD_PUSH_BEGIN(vkd_hashgrid_fd_push)
    uint64_t src;
    uint64_t dst;
    uint32_t n;
    uint32_t mode;
    float eps;
    float bound;
VKD_PUSH_END(vkd_hashgrid_fd_push)

#endif
