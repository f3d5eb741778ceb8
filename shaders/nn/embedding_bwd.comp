#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/embedding.h"
layout(local_size_x = 64) in;
layout(push_constant) uniform Push { vkd_embedding_push p; };

// dtable[id, j] += sum of dout[i, j] over every i with ids[i] == id, without atomics:
// the work group for row i (y) only acts if i is the first occurrence of its id, and
// then sums all occurrences in index order, so repeated ids are added in a fixed order
// (bit-reproducible) and each table row is written by one group. Cost O(n^2) id
// comparisons per channel block: meant for prompt-sized n (77 B), not for huge batches.
// Rows beyond the grid's y size are covered by striding.
void main() {
    uint j = gl_GlobalInvocationID.x;
    for (uint i = gl_WorkGroupID.y; i < p.n; i += gl_NumWorkGroups.y) {
        int id = clamp(i32(p.ids).v[i], 0, int(p.vocab) - 1);
        bool first = true;
        for (uint m = 0; m < i && first; m++) first = clamp(i32(p.ids).v[m], 0, int(p.vocab) - 1) != id;
        if (!first || j >= p.c) continue;
        float acc = 0.0;
        for (uint m = i; m < p.n; m++)
            if (clamp(i32(p.ids).v[m], 0, int(p.vocab) - 1) == id) acc += f32(p.src).v[m * p.c + j];
        f32(p.dst).v[uint(id) * p.c + j] += acc;
    }
}
