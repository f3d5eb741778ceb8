#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/volrend.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_volrend_normals_push p; };

void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    f32 G = f32(p.grad), N = f32(p.dst);
    vec3 g = vec3(G.v[3 * i], G.v[3 * i + 1], G.v[3 * i + 2]);
    vec3 n = -g / max(length(g), p.eps);
    N.v[3 * i] = n.x;
    N.v[3 * i + 1] = n.y;
    N.v[3 * i + 2] = n.z;
}
