#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/gaussians.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_gaussians_mark_push p; };

// The rules of 3DGS's densify_and_prune (densify_and_clone, densify_and_split, then the
// prune of everything including the new points), decided per Gaussian so one scan of the
// output rows places every result:
//   grad = grad2d / vis (0 when never visible); densify when grad >= threshold;
//   clone when max scale <= dense_scale, split otherwise;
//   prune when opacity < min_opacity or (size_prune and max scale > max_scale) or
//   (max_screen_radius > 0 and the largest 2D radius since the last reset > max_screen_radius).
// A clone has its parent's parameters, so it is pruned exactly when the parent is; both
// children have the parent's opacity and scales / split_div, and inherit its screen radius
// (as gsplat's split carries the running radii state; 3DGS zeroes it before its prune, which
// makes its screen-size prune a no-op).
void main() {
    uint i = vkd_global_id();
    if (i >= p.count) return;
    f32 prm = f32(p.params);
    uint ls = GAUSSIANS_OFF_LOG_SCALES * p.cap + 3u * i;
    float max_log = max(prm.v[ls], max(prm.v[ls + 1u], prm.v[ls + 2u]));
    float max_scale = exp(max_log);
    float logit = prm.v[GAUSSIANS_OFF_OPACITY * p.cap + i];
    float opacity = 1.0 / (1.0 + exp(-logit));

    float vis = f32(p.vis).v[i];
    float grad = vis > 0.0 ? f32(p.grad2d).v[i] / vis : 0.0;
    bool dens = p.densify != 0u && grad >= p.grad_threshold;
    bool clone = dens && max_scale <= p.dense_scale;
    bool split = dens && !clone;

    bool low = opacity < p.min_opacity;
    bool screen_big = p.max_screen_radius > 0.0 && f32(p.max_radius).v[i] > p.max_screen_radius;
    bool prune_self = low || screen_big || (p.size_prune != 0u && max_scale > p.max_scale);
    bool prune_child = low || screen_big || (p.size_prune != 0u && max_scale / p.split_div > p.max_scale);

    uint flags = 0u, rows = 0u;
    if (!split && !prune_self) { flags |= GAUSSIANS_KEEP; rows += 1u; }
    if (clone && !prune_self) { flags |= GAUSSIANS_CLONE; rows += 1u; }
    if (split) flags |= GAUSSIANS_SPLIT;
    if (split && !prune_child) { flags |= GAUSSIANS_CHILDREN; rows += 2u; }
    u32(p.flags).v[i] = flags;
    u32(p.outputs).v[i] = rows;
}
