#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/gaussians.h"
#include "field/gaussians_rng.glsl"
layout(local_size_x = 256) in;
layout(constant_id = 0) const uint SH_FLOATS = 3;  // 3 K: group widths are compile-time divisors
layout(push_constant) uniform Push { vkd_gaussians_scatter_push p; };

// One invocation per float of the source rows (as in gaussians_relayout), so consecutive
// invocations read consecutive addresses in every group and write nearly consecutive ones:
// element c of row i goes to the output rows offsets[i].. that row i becomes.
// Survivors carry their gradients and moments; clones and children start at zero.
void main() {
    uint e = vkd_global_id();
    uint count = p.count;
    if (e >= count * (GAUSSIANS_OFF_SH + SH_FLOATS)) return;
    uint off, i, c, w;
    if (e < GAUSSIANS_OFF_LOG_SCALES * count) {
        off = GAUSSIANS_OFF_MEANS, w = 3u, i = e / 3u;
    } else if (e < GAUSSIANS_OFF_QUATS * count) {
        off = GAUSSIANS_OFF_LOG_SCALES, w = 3u, i = (e - GAUSSIANS_OFF_LOG_SCALES * count) / 3u;
    } else if (e < GAUSSIANS_OFF_OPACITY * count) {
        off = GAUSSIANS_OFF_QUATS, w = 4u, i = (e - GAUSSIANS_OFF_QUATS * count) / 4u;
    } else if (e < GAUSSIANS_OFF_SH * count) {
        off = GAUSSIANS_OFF_OPACITY, w = 1u, i = e - GAUSSIANS_OFF_OPACITY * count;
    } else {
        off = GAUSSIANS_OFF_SH, w = SH_FLOATS, i = (e - GAUSSIANS_OFF_SH * count) / SH_FLOATS;
    }
    c = e - off * count - i * w;

    uint flags = u32(p.flags).v[i];
    if (flags == 0u || flags == GAUSSIANS_SPLIT) return;  // pruned
    uint j = u32(p.offsets).v[i];
    uint s = off * p.src_cap + i * w + c;
    float value = f32(p.src0).v[s];
    if ((flags & GAUSSIANS_KEEP) != 0u) {
        uint d = off * p.dst_cap + j * w + c;
        f32(p.dst0).v[d] = value;
        f32(p.dst1).v[d] = f32(p.src1).v[s];
        f32(p.dst2).v[d] = f32(p.src2).v[s];
        f32(p.dst3).v[d] = f32(p.src3).v[s];
        j++;
    }
    if ((flags & GAUSSIANS_CLONE) != 0u) {
        uint d = off * p.dst_cap + j * w + c;
        f32(p.dst0).v[d] = value;
        f32(p.dst1).v[d] = 0.0;
        f32(p.dst2).v[d] = 0.0;
        f32(p.dst3).v[d] = 0.0;
        j++;
    }
    if ((flags & GAUSSIANS_CHILDREN) == 0u) return;

    // Split (3DGS densify_and_split, N = 2): each child is drawn from the parent Gaussian,
    // mean + R (s * z) with z ~ N(0, I), and gets scales s / 1.6; everything else is copied.
    // The three mean invocations of a row each compute the sample and keep their component.
    vec3 offset0 = vec3(0.0), offset1 = vec3(0.0);
    if (off == GAUSSIANS_OFF_MEANS) {
        f32 src = f32(p.src0);
        uint ls = GAUSSIANS_OFF_LOG_SCALES * p.src_cap + 3u * i, qs = GAUSSIANS_OFF_QUATS * p.src_cap + 4u * i;
        vec3 scale = exp(vec3(src.v[ls], src.v[ls + 1u], src.v[ls + 2u]));
        mat3 R = gaussians_rotation(vec4(src.v[qs], src.v[qs + 1u], src.v[qs + 2u], src.v[qs + 3u]));
        offset0 = R * (scale * gaussians_normal3(p.seed, i, 0u));
        offset1 = R * (scale * gaussians_normal3(p.seed, i, 1u));
    }
    for (uint child = 0u; child < 2u; child++, j++) {
        float v = value;
        if (off == GAUSSIANS_OFF_MEANS) v = value + (child == 0u ? offset0[c] : offset1[c]);
        else if (off == GAUSSIANS_OFF_LOG_SCALES) v = value - p.log_split_div;
        uint d = off * p.dst_cap + j * w + c;
        f32(p.dst0).v[d] = v;
        f32(p.dst1).v[d] = 0.0;
        f32(p.dst2).v[d] = 0.0;
        f32(p.dst3).v[d] = 0.0;
    }
}
