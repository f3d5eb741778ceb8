#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/layernorm.h"
// dweight[c] += sum over splits of the partials, dbias likewise, in split order.
layout(local_size_x = 64) in;
layout(push_constant) uniform Push { vkd_layernorm_push p; };

void main() {
    const uint c = vkd_global_id();
    if (c >= p.C) return;
    vec2 s = vec2(0.0);
    f32 part = f32(p.scratch);
    for (uint k = 0; k < p.splits; k++) s += vec2(part.v[k * 2 * p.C + c], part.v[k * 2 * p.C + p.C + c]);
    if (p.dweight != 0) f32(p.dweight).v[c] += s.x;
    if (p.dbias != 0) f32(p.dbias).v[c] += s.y;
}
