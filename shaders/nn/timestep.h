// Push constants of the sinusoidal timestep embedding (diffusers get_timestep_embedding).
#ifndef VKD_SHADERS_NN_TIMESTEP_H
#define VKD_SHADERS_NN_TIMESTEP_H
#include "common.h"

VKD_PUSH_BEGIN(vkd_timestep_push)
    uint64_t dst;        // (n, dim)
    uint64_t t;          // (n,) float timesteps
    uint32_t n;
    uint32_t dim;
    uint32_t half_dim;   // dim / 2
    uint32_t flip;       // 1: [cos | sin], 0: [sin | cos]
    float neg_log_period; // float32(-ln(max_period)), as PyTorch rounds the Python scalar
    float divisor;       // half_dim - downscale_freq_shift
    float scale;
VKD_PUSH_END(vkd_timestep_push)

#endif
