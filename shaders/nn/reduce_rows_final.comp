#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/reduce.h"
// Second level of the column sums: dst[c] (+)= sum over splits of the partials, in
// split order (deterministic); consecutive invocations read consecutive columns.
layout(local_size_x = 64) in;
layout(push_constant) uniform Push { vkd_reduce_rows_push p; };

void main() {
    const uint c = vkd_global_id();
    if (c >= p.C) return;
    float s = 0.0;
    for (uint k = 0; k < p.splits; k++) s += f32(p.src).v[k * p.C + c];
    if (p.accumulate != 0) s += f32(p.dst).v[c];
    f32(p.dst).v[c] = s;
}
