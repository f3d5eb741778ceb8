#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/occgrid.h"
layout(local_size_x = OCCGRID_WG) in;
layout(push_constant) uniform Push { vkd_occgrid_list_push p; };

// Set bits of a word, ignoring the padding bits past the last cell.
uint word_bits(uint w) {
    uint bits = u32(p.bits).v[w];
    uint valid = p.cells - w * 32u;
    return valid >= 32u ? bits : bits & ((1u << valid) - 1u);
}

void main() {
    uint w = vkd_global_id();
    if (w >= p.words) return;
    u32(p.offsets).v[w] = bitCount(word_bits(w));
}
