#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/occgrid.h"
layout(local_size_x = OCCGRID_WG) in;
layout(push_constant) uniform Push { vkd_occgrid_update_push p; };

// Max over the samples of each cell, order-independent (so deterministic): non-negative floats
// order like their bit patterns; +1 keeps 0 for "not sampled".
void main() {
    uint k = vkd_global_id();
    if (k >= p.count) return;
    uint cell = u32(p.cell_ids).v[k];
    if (cell == OCCGRID_NO_CELL) return;
    float v = f32(p.samples).v[k] * p.occ_scale;
    v = v > 0.0 ? v : 0.0;  // also maps NaN to 0
    atomicMax(u32(p.cell_max).v[cell], floatBitsToUint(v) + 1u);
}
