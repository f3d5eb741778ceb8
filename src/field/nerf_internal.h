// The vkd_nerf object, shared by nerf.c (model, optimizer, grid), nerf_render.c (render and
// backward) and nerf_ckpt.c (checkpoints).
#ifndef VKD_FIELD_NERF_INTERNAL_H
#define VKD_FIELD_NERF_INTERNAL_H

#include "vkdream/nerf.h"

// A device buffer that only grows; `cap` counts the units it was sized for (rays, samples,
// points), so callers compare against what they need.
typedef struct nerf_pool {
    vkd_buffer buf;
    uint64_t cap;
} nerf_pool;

// Per-ray regions (floats, 256-byte aligned) of the ray pool for `rays` rays and `views` views.
typedef struct nerf_ray_layout {
    uint64_t origins, dirs, near_far, offsets, scratch;  // march inputs / outputs
    uint64_t bg, bg_sh, bg_saved, d_bg, bg_scratch;      // background (rays, 3) and its MLP state
    uint64_t opacity, d_opacity, lights, losses;         // rendered opacity, its cotangent
    uint64_t total;
} nerf_ray_layout;

// Per-sample regions of the sample pool for N samples.
typedef struct nerf_sample_layout {
    uint64_t positions, dirs, intervals, ray;  // marcher output
    uint64_t sigma, albedo, color, grad, normals, weights;
    uint64_t d_sigma, d_albedo, d_color, d_normals, d_grad;
    uint64_t total;
} nerf_sample_layout;

struct vkd_nerf {
    vkd_gpu* gpu;
    vkd_nerf_desc desc;  // resolved
    vkd_nerf_field* field;
    vkd_occgrid* grid;  // NULL with no_grid
    vkd_mlp_desc bg_mlp;
    uint64_t bg_count;  // 0 for a solid background
    vkd_buffer bg_params, bg_grads, bg_m, bg_v;
    vkd_buffer field_m, field_v;
    uint32_t step;

    // Render buffers, grown on demand.
    nerf_pool rays, samples;
    nerf_pool ws, ws_fd;  // field workspaces: `cap` points (ws_fd: 6 * the fd chunk)
    nerf_pool occ;        // occupancy update: positions (M, 3) and densities (M,)

    // The latest render, for the backward.
    bool rendered;
    uint32_t views, rays_per_view, n_rays, n_samples;
    nerf_ray_layout rl;
    nerf_sample_layout sl;
    vkd_volrend_shade_desc shade;
    bool has_normals;  // normals computed (per sample)
    bool bg_learned;   // the background MLP produced bg (not a solid color)
    bool ws_valid;     // ws holds the field forward state of all n_samples (one chunk)
    bool ws_fd_valid;  // ws_fd holds the finite-difference state of all n_samples (one fd chunk)
    bool reg_ran;      // a backward wrote the losses
};

#define NERF_AT(pool, region) ((pool).buf.addr + 4ull * (region))

nerf_ray_layout vkd_nerf_ray_layout(const vkd_nerf* n, uint32_t rays, uint32_t views);
nerf_sample_layout vkd_nerf_sample_layout(uint32_t samples);
// Grows pool to at least `units` (bytes from `bytes`). Submits s first when it must reallocate
// (pending work may still read the old buffer); contents are lost on growth.
vkd_status vkd_nerf_pool_reserve(vkd_nerf* n, vkd_stream* s, nerf_pool* pool, uint64_t units, uint64_t bytes,
                                 const char* what, vkd_error* err);
// Points per chunk of the finite-difference normals (each point costs six evaluations).
uint32_t vkd_nerf_fd_chunk(const vkd_nerf* n);
float vkd_nerf_render_step(const vkd_nerf* n);
// Creates a model whose parameters are not initialised (the checkpoint loader fills them).
vkd_status vkd_nerf_create_raw(vkd_gpu* gpu, const vkd_nerf_desc* desc, bool init, vkd_nerf** out, vkd_error* err);
void vkd_nerf_apply_levels(vkd_nerf* n);

#endif
