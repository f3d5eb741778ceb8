#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_vote : require
#include "common.glsl"
#include "distill/loop.h"
// Sets a flag when any value is NaN or Inf: the loop's guard that a bad gradient never
// reaches the optimizer. One atomic per subgroup that saw one (the flag is only ever OR-ed,
// so the result does not depend on the order).
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_nonfinite_push p; };

void main() {
    uint i = vkd_global_id();
    float v = i < p.n ? f32(p.src).v[i] : 0.0;
    // Exponent all ones: Inf or NaN (a bit test, immune to any float-relaxing compiler).
    bool bad = (floatBitsToUint(v) & 0x7f800000u) == 0x7f800000u;
    if (subgroupAny(bad) && subgroupElect()) atomicOr(u32(p.flag).v[0], 1u);
}
