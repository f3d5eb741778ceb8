// Push constants of GroupNorm on NCHW tensors (optionally fused with a SiLU after the
// affine step). A group (b, g) is the contiguous run of C / G channels * HW values.
#ifndef VKD_SHADERS_NN_GROUPNORM_H
#define VKD_SHADERS_NN_GROUPNORM_H
#include "common.h"

VKD_PUSH_BEGIN(vkd_groupnorm_push)
    uint64_t dst;       // forward: out (B, C, HW); backward: dinp (B, C, HW), accumulated
    uint64_t src;       // inp (B, C, HW)
    uint64_t weight;    // (C) or 0
    uint64_t bias;      // (C) or 0
    uint64_t mean;      // (B, G)
    uint64_t rstd;      // (B, G)
    uint64_t dout;      // (B, C, HW)
    uint64_t dweight;   // (C) or 0
    uint64_t dbias;     // (C) or 0
    uint64_t scratch;   // backward: (B, C, 2) channel sums, then (B, G, 2) group means
    uint32_t B, C, HW, G;
    float eps;
VKD_PUSH_END(vkd_groupnorm_push)

#endif
