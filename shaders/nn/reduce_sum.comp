#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/reduce.h"
// Sum of a (MODE 0) or of (a - b)^2 (MODE 1) over n elements: each workgroup writes
// one partial sum (pass 1) or, with p.final, the result (the single-workgroup case and
// pass 2 over the partials). Invocation i of the grid owns the float4 blocks i, i +
// threads, ...; a vec4 accumulator keeps four independent chains (more memory-level
// parallelism, shorter chains for rounding). The order is the same with and without
// 16-byte aligned vector loads, so results do not depend on the buffers' alignment.
layout(local_size_x = VKD_REDUCE_WG) in;
layout(push_constant) uniform Push { vkd_reduce_push p; };
layout(constant_id = 0) const uint MODE = 0;
layout(constant_id = 1) const bool VEC4 = false;  // a (and b) are 16-byte aligned
#include "nn/reduce_wg.glsl"

vec4 load4(uint64_t addr, uint i) {
    if (VEC4) return f32x4(addr).v[i];
    f32 s = f32(addr);
    return vec4(s.v[4 * i], s.v[4 * i + 1], s.v[4 * i + 2], s.v[4 * i + 3]);
}

void main() {
    const uint lid = gl_LocalInvocationID.x, group = gl_WorkGroupID.x;
    const uint threads = gl_NumWorkGroups.x * VKD_REDUCE_WG;
    const uint n4 = p.n / 4;
    vec4 acc = vec4(0.0);
    for (uint i = group * VKD_REDUCE_WG + lid; i < n4; i += threads) {
        vec4 x = load4(p.a, i);
        if (MODE == 1) {
            x -= load4(p.b, i);
            x *= x;
        }
        acc += x;
    }
    float s = (acc.x + acc.y) + (acc.z + acc.w);
    if (group == 0 && lid < p.n - 4 * n4) {  // the last n % 4 elements
        float x = f32(p.a).v[4 * n4 + lid];
        if (MODE == 1) {
            x -= f32(p.b).v[4 * n4 + lid];
            x *= x;
        }
        s += x;
    }
    float total = vkd_wg_sum(s);
    if (lid != 0) return;
    if (p.final != 0) {
        float r = p.scale * total;
        if (p.accumulate != 0) r += f32(p.dst).v[0];
        f32(p.dst).v[0] = r;
    } else {
        f32(p.dst).v[group] = total;
    }
}
