// Push constants of the guidance kernels (src/distill/guidance.c).
#ifndef VKD_SHADERS_DISTILL_GUIDANCE_H
#define VKD_SHADERS_DISTILL_GUIDANCE_H
#include "common.h"

VKD_PUSH_BEGIN(vkd_guidance_noise_push)
    uint64_t dst;        // (B, C, HW)
    uint32_t n;          // B C HW
    uint32_t HW, C;
    uint32_t seed_lo, seed_hi;
    float offset;        // offset-noise scale (0: none)
VKD_PUSH_END(vkd_guidance_noise_push)

#define VKD_GUIDANCE_SDS 0u
#define VKD_GUIDANCE_VSD 1u
#define VKD_GUIDANCE_BSD 2u
#define VKD_GUIDANCE_ASD 3u

#define VKD_GUIDANCE_REDUCE_NORM 0u   // stats[b, 0] = ||g_b||^2
#define VKD_GUIDANCE_REDUCE_BSD 1u    // stats[b, 1..3] = <d - c, d>, ||d - c||^2, ||e_n - eps||^2

VKD_PUSH_BEGIN(vkd_guidance_reduce_push)
    uint64_t a;          // NORM: g (B, D); BSD: e_y (B, D)
    uint64_t e_n;        // (B, D)
    uint64_t eps;        // (B, D) or 0
    uint64_t stats;      // (B, 4)
    uint32_t B, D;
    uint32_t mode;
    float cs, ds, dsub;  // BSD: c = cs (e_y - e_n), d = ds (e_n - dsub eps)
VKD_PUSH_END(vkd_guidance_reduce_push)

VKD_PUSH_BEGIN(vkd_guidance_combine_push)
    uint64_t g;          // (D,) this sample's gradient (written)
    uint64_t e_y;        // (D,)
    uint64_t e_n;        // (D,)
    uint64_t other;      // (D,) eps (SDS), e_phi (VSD), e_y at t+ (ASD)
    uint64_t eps;        // (D,) BSD's noise, or 0
    uint64_t stats;      // (4,) this sample's BSD sums
    uint32_t D;
    uint32_t method;     // VKD_GUIDANCE_*
    uint32_t cfg_plus_one;
    uint32_t bsd_auto;
    float scale;         // CFG s
    float w;             // w(t); BSD auto: sqrt(1 - abar) / div
    float clip;          // > 0: clamp(g, -clip, clip)
    float k;             // BSD
    float cs, ds, dsub;  // BSD
VKD_PUSH_END(vkd_guidance_combine_push)

#endif
