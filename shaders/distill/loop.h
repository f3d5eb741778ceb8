// Push constants of the distillation loop's own kernels (src/distill/loop.c).
#ifndef VKD_SHADERS_DISTILL_LOOP_H
#define VKD_SHADERS_DISTILL_LOOP_H
#include "common.h"

VKD_PUSH_BEGIN(vkd_nonfinite_push)
    uint64_t flag;   // (1,) uint32, |= 1 on a NaN or Inf
    uint64_t src;    // (n,)
    uint32_t n;
VKD_PUSH_END(vkd_nonfinite_push)

#endif
