#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/gaussians.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_gaussians_relayout_push p; };

// One invocation per float of the first `count` rows: within a group those floats are
// contiguous in both layouts, only the group's start moves (from off * src_cap to
// off * dst_cap), so reads and writes are fully coalesced.
void main() {
    uint e = vkd_global_id();
    uint count = p.count;
    if (e >= count * (GAUSSIANS_OFF_SH + p.sh_floats)) return;
    uint off = e < GAUSSIANS_OFF_LOG_SCALES * count ? GAUSSIANS_OFF_MEANS
             : e < GAUSSIANS_OFF_QUATS * count      ? GAUSSIANS_OFF_LOG_SCALES
             : e < GAUSSIANS_OFF_OPACITY * count    ? GAUSSIANS_OFF_QUATS
             : e < GAUSSIANS_OFF_SH * count         ? GAUSSIANS_OFF_OPACITY
                                                    : GAUSSIANS_OFF_SH;
    uint local = e - off * count;
    uint si = off * p.src_cap + local, di = off * p.dst_cap + local;
    if (p.src0 != 0) f32(p.dst0).v[di] = f32(p.src0).v[si];
    if (p.src1 != 0) f32(p.dst1).v[di] = f32(p.src1).v[si];
    if (p.src2 != 0) f32(p.dst2).v[di] = f32(p.src2).v[si];
    if (p.src3 != 0) f32(p.dst3).v[di] = f32(p.src3).v[si];
}
