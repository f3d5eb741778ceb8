#include "common.h"

// The diagonal Gaussian of the VAE encoder: moments (B, 2L, HW) = [mean | raw logvar].
VKD_PUSH_BEGIN(vkd_vae_posterior_push)
    uint64_t mean;     // (B, L, HW) or 0
    uint64_t logvar;   // (B, L, HW) or 0: clamp(raw, -30, 20)
    uint64_t std_;     // (B, L, HW) or 0: exp(logvar / 2)
    uint64_t z;        // (B, L, HW) or 0: mean + std * noise
    uint64_t moments;  // (B, 2L, HW)
    uint64_t noise;    // (B, L, HW), read when z (or dz) is set
    uint64_t dmoments; // backward: (B, 2L, HW), accumulated
    uint64_t dmean, dlogvar, dstd, dz; // backward: gradients of the outputs (0: none)
    uint32_t L, HW, n; // n = B * L * HW
VKD_PUSH_END(vkd_vae_posterior_push)
