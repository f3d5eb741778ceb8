#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/broadcast.h"
#include "nn/eltwise.h"
layout(local_size_x_id = 0, local_size_y_id = 1) in;  // TX * TY = 256
layout(push_constant) uniform Push { vkd_broadcast_reduce_push p; };
layout(constant_id = 2) const int OP = 0;

shared float partial[256];

// db[e] += sign * sum_r dout[off(e, r)] (* a[off(e, r)] for mul). Each of the TY lanes
// of a column sums a fixed strided subset of r; the lanes are then added as a tree:
// the order never depends on timing, so results are bit-reproducible.
void main() {
    uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y;
    uint TX = gl_WorkGroupSize.x, TY = gl_WorkGroupSize.y;
    uint group = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    uint e = group * TX + tx;
    float acc = 0.0;
    if (e < p.e_count) {
        uint e0 = e / p.k1, e1 = e - e0 * p.k1;
        // r = r0 * r1_size + r1 advances by TY per iteration: step the offset instead of
        // dividing every time (a carry when r1 wraps). uint arithmetic wraps mod 2^32,
        // so the negative carry term is fine.
        uint r0 = ty / p.r1, r1 = ty - r0 * p.r1;
        uint q = TY / p.r1, rem = TY - q * p.r1;
        uint off = e0 * p.ks0 + e1 * p.ks1 + r0 * p.rs0 + r1 * p.rs1;
        uint step = q * p.rs0 + rem * p.rs1, carry = p.rs0 - p.r1 * p.rs1;
        for (uint r = ty; r < p.r_count; r += TY) {
            float g = f32(p.dout).v[off];
            acc += OP == VKD_BINARY_OP_MUL ? g * f32(p.a).v[off] : g;
            off += step;
            r1 += rem;
            if (r1 >= p.r1) {
                r1 -= p.r1;
                off += carry;
            }
        }
    }
    partial[ty * TX + tx] = acc;
    barrier();
    for (uint s = TY / 2; s > 0; s >>= 1) {
        if (ty < s) partial[ty * TX + tx] += partial[(ty + s) * TX + tx];
        barrier();
    }
    if (ty == 0 && e < p.e_count) f32(p.db).v[e] += p.sign * partial[tx];
}
