// Shared by src/field/gaussians*.c: the container's fields and helpers.
#ifndef VKD_FIELD_GAUSSIANS_INTERNAL_H
#define VKD_FIELD_GAUSSIANS_INTERNAL_H

#include "vkdream/gaussians.h"

// The densification statistics, each a (cap,) fp32 buffer (vkd_splat_densify_stats).
enum { GAUSSIANS_STAT_GRAD2D = 0, GAUSSIANS_STAT_VIS, GAUSSIANS_STAT_RADIUS, GAUSSIANS_STAT_COUNT };

struct vkd_gaussians {
    vkd_gpu* gpu;
    int sh_degree, active_sh_degree;
    uint32_t row;          // floats per Gaussian
    uint32_t count, cap;
    float extent;
    vkd_gaussians_lr lr;   // resolved (no zeros left)
    uint32_t seed, densify_calls;
    uint32_t step;
    vkd_buffer buf[VKD_GAUSSIANS_BUFFER_COUNT];
    vkd_buffer stats[GAUSSIANS_STAT_COUNT]; // (cap,) each: grad2d_norm, vis_count, max_radius
};

// PCG-RXS-M-XS, the hash of shaders/field/gaussians_rng.glsl.
static inline uint32_t vkd_gaussians_pcg(uint32_t v) {
    uint32_t state = v * 747796405u + 2891336453u;
    uint32_t word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// Frees the container's device buffers (not the struct).
void vkd_gaussians_free_buffers(vkd_gaussians* g);
// Capacity rounded up to the allocation granularity (64 rows: every group starts 256-byte
// aligned); fails when the flat buffer would exceed 32-bit float indexing.
vkd_status vkd_gaussians_check_capacity(uint32_t row, uint64_t want, uint32_t* out, vkd_error* err);
// Allocates the four flat buffers of cap rows into bufs (freed again on failure).
vkd_status vkd_gaussians_alloc_flat(vkd_gpu* gpu, uint32_t cap, uint32_t row, vkd_buffer bufs[4], vkd_error* err);
// Allocates the statistics buffers of cap rows (freed again on failure).
vkd_status vkd_gaussians_alloc_stats(vkd_gpu* gpu, uint32_t cap, vkd_buffer stats[GAUSSIANS_STAT_COUNT],
                                     vkd_error* err);
// Replaces the contents with host parameters (moments NULL = zero) and resets the step.
vkd_status vkd_gaussians_replace(vkd_gaussians* g, vkd_stream* s, const vkd_gaussians_host* params,
                                 const vkd_gaussians_host* m, const vkd_gaussians_host* v, vkd_error* err);
// Resolves the zero-means-default learning rates.
vkd_gaussians_lr vkd_gaussians_resolve_lr(const vkd_gaussians_lr* lr);

#endif
