// Push constants of the reference-set prior's kernels (one dispatch per sample).
#ifndef VKD_SHADERS_DISTILL_REFSET_H
#define VKD_SHADERS_DISTILL_REFSET_H
#include "common.h"

VKD_PUSH_BEGIN(vkd_refset_logits_push)
    uint64_t logits;   // (N,) this sample's row
    uint64_t z;        // (D,) this sample's z_t
    uint64_t images;   // (N, D)
    uint64_t logw;     // (N,) log prior weights of the sample's condition (0 or -inf)
    uint64_t dirs;     // (N, 4) image view directions, w = 1 when present
    uint32_t N, D;
    float sqrt_abar;
    float inv_two_var; // 1 / (2 (1 - abar))
    float dir_x, dir_y, dir_z;
    float kappa;       // 0: no view term
VKD_PUSH_END(vkd_refset_logits_push)

// Weights below this are left out of the mix (shaders/distill/refset_mix.comp).
#define VKD_REFSET_MIN_WEIGHT 2.3283064365386963e-10

#define VKD_REFSET_EPS 0u
#define VKD_REFSET_V 1u
#define VKD_REFSET_X0 2u

VKD_PUSH_BEGIN(vkd_refset_mix_push)
    uint64_t dst;      // (D,) this sample's prediction
    uint64_t x0;       // (D,) or 0
    uint64_t weights;  // (N,) this sample's softmax row
    uint64_t z;        // (D,)
    uint64_t images;   // (N, D)
    uint32_t N, D;
    uint32_t mode;     // VKD_REFSET_EPS / _V / _X0
    float sqrt_abar;
    float sqrt_var;    // sqrt(1 - abar)
VKD_PUSH_END(vkd_refset_mix_push)

#endif
