#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/reduce.h"
// Column sums of an (N, C) row-major matrix over one split of the rows: TX columns by
// TY row lanes (TX * TY = VKD_REDUCE_ROWS_WG), so each row is read by consecutive
// invocations (coalesced) and narrow matrices still fill the workgroup. Row lanes are
// added by a fixed tree in shared memory: deterministic. With one split the result
// goes straight to dst, else to the (splits, C) partials for reduce_rows_final.
layout(constant_id = 0) const uint TX = 32;
layout(constant_id = 1) const uint TY = 8;
layout(local_size_x_id = 0, local_size_y_id = 1) in;
layout(push_constant) uniform Push { vkd_reduce_rows_push p; };

shared float part[VKD_REDUCE_ROWS_WG];

void main() {
    const uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    const uint c = gl_WorkGroupID.x * TX + tx, split = gl_WorkGroupID.y;
    const uint r0 = split * p.rows, r1 = min(p.N, r0 + p.rows);
    float acc = 0.0;
    if (c < p.C)
        for (uint r = r0 + ty; r < r1; r += TY) acc += f32(p.src).v[r * p.C + c];
    part[ty * TX + tx] = acc;
    barrier();
    for (uint h = TY / 2; h > 0; h >>= 1) {
        if (ty < h) part[ty * TX + tx] += part[(ty + h) * TX + tx];
        barrier();
    }
    if (ty != 0 || c >= p.C) return;
    float r = part[tx];
    if (p.final != 0) {
        if (p.accumulate != 0) r += f32(p.dst).v[c];
        f32(p.dst).v[c] = r;
    } else {
        f32(p.dst).v[split * p.C + c] = r;
    }
}
