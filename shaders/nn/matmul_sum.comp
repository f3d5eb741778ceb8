#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/matmul.h"
layout(local_size_x = 32, local_size_y = 8) in;
layout(push_constant) uniform Push { vkd_matmul_sum_push p; };

// dst[o] += sum over the batch z and r < nr of src[z][o * so + r * sr]. Invocations along x
// take neighbouring outputs (coalesced when so == 1); the 8 along y split r and are summed
// in shared memory in a fixed order, so the result is deterministic.
shared float part[8][32];

void main() {
    uint o = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * 32 + gl_LocalInvocationID.x;
    uint y = gl_LocalInvocationID.y;
    float s = 0.0;
    if (o < p.nout) {
        for (uint z = 0; z < p.nz; z++) {
            uint64_t base = p.src + 4 * (uint64_t(z / p.inner) * p.sz2 + uint64_t(z % p.inner) * p.sz);
            for (uint r = y; r < p.nr; r += 8) s += f32(base).v[o * p.so + r * p.sr];
        }
    }
    part[y][gl_LocalInvocationID.x] = s;
    barrier();
    if (y == 0 && o < p.nout) {
        float t = 0.0;
        for (uint i = 0; i < 8; i++) t += part[i][gl_LocalInvocationID.x];
        f32(p.dst).v[o] += t;
    }
}
