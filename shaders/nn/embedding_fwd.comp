#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/embedding.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_embedding_push p; };

// out[i, j] = table[clamp(ids[i]), j]
void main() {
    uint k = vkd_global_id();
    if (k >= p.n * p.c) return;
    uint i = k / p.c, j = k - i * p.c;
    uint row = uint(clamp(i32(p.ids).v[i], 0, int(p.vocab) - 1));
    f32(p.dst).v[k] = f32(p.src).v[row * p.c + j];
}
