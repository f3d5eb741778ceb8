// Assembled NeRF kernels (src/field/nerf*.c): push constants shared by C and GLSL.
#ifndef VKD_SHADERS_FIELD_NERF_H
#define VKD_SHADERS_FIELD_NERF_H
#include "common.h"

#define NERF_WG 256

// Degree-3 spherical harmonics of the ray directions (the background's encoding).
VKD_PUSH_BEGIN(vkd_nerf_sh_push)
uint64_t dst;   // (n, 9)
uint64_t dirs;  // (n, 3)
uint32_t n;
VKD_PUSH_END(vkd_nerf_sh_push)

#endif
