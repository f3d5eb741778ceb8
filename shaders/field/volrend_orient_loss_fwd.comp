#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/volrend.h"
#include "field/volrend_loss.glsl"
layout(local_size_x = VOLREND_SUM_WG) in;

shared float partial[VOLREND_SUM_WG];

// One workgroup: a fixed summation order, so the loss is the same on every run.
void main() {
    uint tid = gl_LocalInvocationID.x;
    float acc = 0.0;
    for (uint i = tid; i < p.n; i += VOLREND_SUM_WG) acc += orient_term(i);
    partial[tid] = acc;
    barrier();
    for (uint w = VOLREND_SUM_WG / 2; w > 0; w >>= 1) {
        if (tid < w) partial[tid] += partial[tid + w];
        barrier();
    }
    if (tid == 0) f32(p.loss).v[0] = p.scale * partial[0];
}
