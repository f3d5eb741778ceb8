#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/attention.h"
layout(local_size_x = 64) in;
layout(push_constant) uniform Push { vkd_attention_delta_push p; };

// 1: dout and out rows are 8-byte aligned pairs (D, ldo and both bases even), read 2 at a time.
layout(constant_id = 0) const uint PAIRS = 0;

// 64-bit words: one memory access moves two floats (on llvmpipe a vec2 would be two).
layout(buffer_reference, scalar, buffer_reference_align = 8) buffer u64s { uint64_t v[]; };

// delta[b, h, i] = sum_d dout[b, i, h*D + d] * out[b, i, h*D + d], the row term of the softmax
// backward, once per row instead of once per key block.
void main() {
    const uint row = vkd_global_id();
    if (row >= p.n) return;
    const uint b = row / (p.H * p.Tq), h = (row / p.Tq) % p.H, i = row % p.Tq;
    const uint64_t off = (uint64_t(b) * p.Tq + i) * p.ldo + uint64_t(h) * p.D;
    const uint64_t gb = p.dout + 4ul * off, ob = p.o + 4ul * off;
    float sum = 0.0;
    if (PAIRS != 0) {
        for (uint d = 0; d < p.D / 2; d++) {
            const vec2 g = uintBitsToFloat(unpack32(u64s(gb).v[d])), o = uintBitsToFloat(unpack32(u64s(ob).v[d]));
            sum += g.x * o.x + g.y * o.y;
        }
    } else {
        for (uint d = 0; d < p.D; d++) sum += f32(gb).v[d] * f32(ob).v[d];
    }
    f32(p.delta).v[row] = sum;
}
