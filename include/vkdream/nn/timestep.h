// Sinusoidal timestep embedding, exactly as diffusers' get_timestep_embedding computes
// it in float32 (every rounding step in the same order). Forward only: nothing needs a
// gradient with respect to timesteps.
#ifndef VKDREAM_NN_TIMESTEP_H
#define VKDREAM_NN_TIMESTEP_H
#include "vkdream/gpu.h"

typedef struct vkd_timestep_desc {
    // false: [sin | cos] (diffusers' default); true: [cos | sin] (Stable Diffusion's UNet).
    bool flip_sin_to_cos;
    // freq_k = exp(-ln(max_period) * k / (dim / 2 - downscale_freq_shift)). The literal
    // value: 0 for Stable Diffusion (diffusers' function default is 1).
    float downscale_freq_shift;
    float scale;       // multiplies t * freq; 0 means 1
    float max_period;  // 0 means 10000
} vkd_timestep_desc;

// out[i, :] = embedding of timesteps[i]: half = dim / 2 sines and cosines, then a zero
// column when dim is odd. desc may be NULL (all defaults, shift 0, no flip).
void vkd_timestep_embedding_forward(vkd_stream* s, vkd_addr out, // (n, dim)
                                    vkd_addr timesteps,          // (n,) float
                                    uint32_t n, uint32_t dim, const vkd_timestep_desc* desc);

// Float64 reference of the same formula (the exact value that float32 approximates).
void vkd_ref_timestep_embedding_forward(double* out, const double* timesteps, uint64_t n, uint64_t dim,
                                        const vkd_timestep_desc* desc);

#endif
