#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/occgrid.h"
layout(local_size_x = OCCGRID_WG) in;
layout(push_constant) uniform Push { vkd_occgrid_update_push p; };

shared float partial[OCCGRID_WG];

// One workgroup, fixed order: the threshold is reproducible. Runs once per grid update.
void main() {
    uint tid = gl_LocalInvocationID.x;
    float acc = 0.0;
    for (uint c = tid; c < p.cells; c += OCCGRID_WG) acc += f32(p.density).v[c];
    partial[tid] = acc;
    barrier();
    for (uint w = OCCGRID_WG / 2; w > 0; w >>= 1) {
        if (tid < w) partial[tid] += partial[tid + w];
        barrier();
    }
    if (tid == 0) f32(p.thre).v[0] = min(partial[0] / float(p.cells), p.threshold);
}
