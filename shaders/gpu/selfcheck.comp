#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#include "common.glsl"
#include "gpu/selfcheck.h"
layout(local_size_x = 64) in;
layout(push_constant) uniform Push { vkd_selfcheck_push p; };

void main() {
    uint i = gl_GlobalInvocationID.x;
    if (i == 0) u32(p.y).v[p.n] = gl_SubgroupSize;
    if (i >= p.n) return;
    f32(p.y).v[i] = 2.0 * f32(p.x).v[i] + 1.0;
}
