#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/layernorm.h"
// dweight[c] += sum over rows of dout * xhat, dbias[c] += sum of dout, over one split of
// the rows: TX columns by TY row lanes (coalesced along rows), row lanes added by a
// fixed tree (deterministic). One split: straight into dweight / dbias; several: into
// the (splits, 2, C) partials that layernorm_bwd_param_final adds in split order.
layout(constant_id = 0) const uint TX = 32;
layout(constant_id = 1) const uint TY = 8;
layout(local_size_x_id = 0, local_size_y_id = 1) in;
layout(push_constant) uniform Push { vkd_layernorm_push p; };

shared vec2 part[VKD_LAYERNORM_PARAM_WG];

void main() {
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint c = gl_WorkGroupID.x * TX + tx, split = gl_WorkGroupID.y;
    const uint r0 = split * p.rows, r1 = min(p.N, r0 + p.rows);
    vec2 acc = vec2(0.0);  // (dweight, dbias)
    if (c < p.C) {
        f32 x = f32(p.src), dy = f32(p.dout), mean = f32(p.mean), rstd = f32(p.rstd);
        for (uint r = r0 + ty; r < r1; r += TY) {
            uint i = r * p.C + c;
            float g = dy.v[i];
            acc += vec2(g * ((x.v[i] - mean.v[r]) * rstd.v[r]), g);
        }
    }
    part[ty * TX + tx] = acc;
    barrier();
    for (uint h = TY / 2; h > 0; h >>= 1) {
        if (ty < h) part[ty * TX + tx] += part[(ty + h) * TX + tx];
        barrier();
    }
    if (ty != 0 || c >= p.C) return;
    const vec2 r = part[tx];
    if (p.splits == 1) {
        if (p.dweight != 0) f32(p.dweight).v[c] += r.x;
        if (p.dbias != 0) f32(p.dbias).v[c] += r.y;
    } else {
        f32(p.scratch).v[split * 2 * p.C + c] = r.x;
        f32(p.scratch).v[split * 2 * p.C + p.C + c] = r.y;
    }
}
