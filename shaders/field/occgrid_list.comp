#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/occgrid.h"
layout(local_size_x = OCCGRID_WG) in;
layout(push_constant) uniform Push { vkd_occgrid_list_push p; };

uint word_bits(uint w) {
    uint bits = u32(p.bits).v[w];
    uint valid = p.cells - w * 32u;
    return valid >= 32u ? bits : bits & ((1u << valid) - 1u);
}

// The occupied cells in increasing index order: word w's cells start at the scan of the popcounts.
void main() {
    uint w = vkd_global_id();
    if (w >= p.words) return;
    uint bits = word_bits(w);
    uint at = u32(p.offsets).v[w];
    while (bits != 0u) {
        int j = findLSB(bits);
        u32(p.list).v[at++] = w * 32u + uint(j);
        bits &= bits - 1u;
    }
}
