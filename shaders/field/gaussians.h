// Gaussian model kernels (src/field/gaussians*.c): push constants shared by C and GLSL.
//
// A flat buffer of `cap` Gaussians holds the groups one after the other, each a contiguous
// (cap, width) array: means (3), log_scales (3), quats (4), opacity_logits (1), sh (3 K).
// In units of cap floats the groups start at 0, 3, 6, 10, 11 and the buffer ends at 11 + 3 K.
#ifndef VKD_SHADERS_FIELD_GAUSSIANS_H
#define VKD_SHADERS_FIELD_GAUSSIANS_H
#include "common.h"

#define GAUSSIANS_OFF_MEANS 0
#define GAUSSIANS_OFF_LOG_SCALES 3
#define GAUSSIANS_OFF_QUATS 6
#define GAUSSIANS_OFF_OPACITY 10
#define GAUSSIANS_OFF_SH 11

// Per-Gaussian decisions of the densification (bits of the flags array).
#define GAUSSIANS_KEEP 1u         // the Gaussian itself survives (not split, not pruned)
#define GAUSSIANS_CLONE 2u        // a copy is appended right after it
#define GAUSSIANS_SPLIT 4u        // replaced by two samples (its children)
#define GAUSSIANS_CHILDREN 8u     // the two children survive the pruning

// Copies the first `count` rows of every group of four flat buffers (params, grads, m, v)
// from a layout of src_cap rows to one of dst_cap rows. One invocation per float.
VKD_PUSH_BEGIN(vkd_gaussians_relayout_push)
    uint64_t src0, src1, src2, src3;
    uint64_t dst0, dst1, dst2, dst3;
    uint32_t count, src_cap, dst_cap;
    uint32_t sh_floats;  // 3 K
VKD_PUSH_END(vkd_gaussians_relayout_push)

// Densification, pass 1: per Gaussian the decisions (flags) and the number of output rows.
VKD_PUSH_BEGIN(vkd_gaussians_mark_push)
    uint64_t params;       // flat (cap rows)
    uint64_t grad2d;       // (count,) accumulated ||dL/dmean2d||
    uint64_t vis;          // (count,) views where visible
    uint64_t max_radius;   // (count,) largest pixel radius seen since the statistics were reset
    uint64_t flags;        // (count,) u32 out
    uint64_t outputs;      // (count,) u32 out: rows this Gaussian becomes (0..2)
    uint32_t count, cap;
    uint32_t densify;      // 0: prune only
    uint32_t size_prune;   // 0: no world-size pruning
    float grad_threshold;  // densify when grad2d / vis >= this
    float dense_scale;     // clone when max scale <= this, split above (percent_dense * extent)
    float min_opacity;     // prune when sigmoid(logit) < this
    float max_scale;       // prune when max scale > this (max_scale fraction * extent)
    float split_div;       // children scales are the parent's divided by this (1.6)
    float max_screen_radius; // prune when max_radius > this (pixels); 0 = no screen-space prune
VKD_PUSH_END(vkd_gaussians_mark_push)

// Densification, pass 2: writes every Gaussian's output rows at its scanned offset into new
// buffers of dst_cap rows. Survivors keep their gradients and moments; clones and children
// start with zero gradients and moments. One invocation per source float; the SH width 3 K
// is specialization constant 0.
VKD_PUSH_BEGIN(vkd_gaussians_scatter_push)
    uint64_t src0, src1, src2, src3;  // params, grads, m, v (src_cap rows)
    uint64_t dst0, dst1, dst2, dst3;  // same, dst_cap rows
    uint64_t flags;                   // (count,)
    uint64_t offsets;                 // (count + 1,) exclusive scan of the output rows
    uint32_t count, src_cap, dst_cap;
    uint32_t seed;                    // split samples: hash of (seed, parent, child, axis)
    float log_split_div;              // log(1.6)
VKD_PUSH_END(vkd_gaussians_scatter_push)

// Opacity reset: logit = min(logit, max_logit) (= logit(min(opacity, max_opacity))), and the
// opacity moments start over (as 3DGS's replace_tensor_to_optimizer does).
VKD_PUSH_BEGIN(vkd_gaussians_reset_opacity_push)
    uint64_t logits;    // (count,)
    uint64_t m;         // (count,)
    uint64_t v;         // (count,)
    uint32_t count;
    float max_logit;
VKD_PUSH_END(vkd_gaussians_reset_opacity_push)

// Adam on the SH group with one learning rate for the DC coefficient and another for the
// rest (3DGS trains f_rest at feature_lr / 20). Same formula and roundings as nn/adam_step.
// The row width 3 K is specialization constant 0.
VKD_PUSH_BEGIN(vkd_gaussians_adam_sh_push)
    uint64_t param;     // (n,) = (count, K, 3)
    uint64_t grad;
    uint64_t m;
    uint64_t v;
    uint32_t n;
    float beta1, one_minus_beta1;
    float beta2, one_minus_beta2;
    float eps;
    float step_size_dc;   // lr_dc / (1 - beta1^t)
    float step_size_rest; // lr_rest / (1 - beta1^t)
    float bc2_sqrt;       // sqrt(1 - beta2^t)
VKD_PUSH_END(vkd_gaussians_adam_sh_push)

#endif
