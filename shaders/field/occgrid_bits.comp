#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/occgrid.h"
layout(local_size_x = OCCGRID_WG) in;
layout(push_constant) uniform Push { vkd_occgrid_update_push p; };

void main() {
    uint w = vkd_global_id();
    if (w >= p.words) return;
    float thre = f32(p.thre).v[0];
    uint bits = 0u;
    uint n = min(32u, p.cells - w * 32u);
    for (uint j = 0; j < n; j++)
        if (f32(p.density).v[w * 32u + j] > thre) bits |= 1u << j;
    u32(p.bits).v[w] = bits;
}
