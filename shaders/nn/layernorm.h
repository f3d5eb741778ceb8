// Push constants of LayerNorm over the last dimension of (N, C): one workgroup per row
// for the forward and the input gradient, column sums split over rows for the
// parameter gradients (like reduce_rows).
#ifndef VKD_SHADERS_NN_LAYERNORM_H
#define VKD_SHADERS_NN_LAYERNORM_H
#include "common.h"

// Parameter gradients: invocations per workgroup, rows per row lane per split (target),
// most splits.
#define VKD_LAYERNORM_PARAM_WG 256
#define VKD_LAYERNORM_ROWS_PER_THREAD 32
#define VKD_LAYERNORM_MAX_SPLITS 2048

VKD_PUSH_BEGIN(vkd_layernorm_push)
    uint64_t dst;       // forward: out (N, C); backward: dinp (N, C), accumulated
    uint64_t src;       // inp (N, C)
    uint64_t weight;    // (C) or 0
    uint64_t bias;      // (C) or 0
    uint64_t mean;      // (N)
    uint64_t rstd;      // (N)
    uint64_t dout;      // (N, C)
    uint64_t dweight;   // (C) or 0
    uint64_t dbias;     // (C) or 0
    uint64_t scratch;   // (splits, 2, C) partial sums of dweight and dbias
    uint32_t N, C;
    float eps;
    uint32_t rows;      // parameter gradients: rows per split
    uint32_t splits;
VKD_PUSH_END(vkd_layernorm_push)

#endif
