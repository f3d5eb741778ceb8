#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/volrend.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_volrend_fill_push p; };

void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    f32 D = f32(p.dst);
    D.v[3 * i] = p.r;
    D.v[3 * i + 1] = p.g;
    D.v[3 * i + 2] = p.b;
}
