#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/broadcast.h"
#include "nn/eltwise.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_broadcast_push p; };
layout(constant_id = 0) const int OP = 0;

// da[i] += dout[i] (* b[b_index(i)] for mul).
void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    float g = f32(p.a).v[i];
    if (OP == VKD_BINARY_OP_MUL) {
        uint t = i / p.s3, i3 = i - t * p.s3;
        uint u = t / p.s2, i2 = t - u * p.s2;
        uint i0 = u / p.s1, i1 = u - i0 * p.s1;
        g *= f32(p.b).v[i0 * p.bs0 + i1 * p.bs1 + i2 * p.bs2 + i3 * p.bs3];
    }
    f32(p.dst).v[i] += g;
}
