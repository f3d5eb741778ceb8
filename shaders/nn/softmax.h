// Push constants of the row softmax: one workgroup per row of an (N, C) matrix.
#ifndef VKD_SHADERS_NN_SOFTMAX_H
#define VKD_SHADERS_NN_SOFTMAX_H
#include "common.h"

VKD_PUSH_BEGIN(vkd_softmax_push)
    uint64_t dst;     // forward: out (N, C); backward: dinp (N, C), accumulated
    uint64_t src;     // forward: inp (N, C); backward: out (N, C) of the forward
    uint64_t dout;    // backward: (N, C)
    uint32_t N, C;
    float scale;      // softmax(scale * inp)
    uint32_t causal;  // 1: in row r of each (C, C) block, r = row % C, columns c > r are -inf
VKD_PUSH_END(vkd_softmax_push)

#endif
