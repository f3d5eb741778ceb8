#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "gpu/fill.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_fill_push p; };

void main() {
    uint i = vkd_global_id();
    if (i >= p.count) return;
    u32(p.dst).v[i] = p.value;
}
