#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/mlp.h"

// One layer's weight (and bias) gradient over one chunk of rows: a (m x k) = dz^T a partial sum.
// Rows are staged MLP_WG_ROWS at a time; each invocation owns 4 x 4 output tiles (vec4 over k,
// one accumulator per m component); the invocations that own the last k column of a tile row
// also sum dz for the bias.
layout(local_size_x = MLP_WG_THREADS) in;
layout(constant_id = 0) const uint M4 = 16;  // ceil(m / 4)
layout(constant_id = 1) const uint K4 = 16;  // ceil(k / 4)
layout(constant_id = 2) const uint MT = 1;   // ceil(M4 * K4 / MLP_WG_THREADS)
layout(push_constant) uniform Push { vkd_mlp_wgrad_push p; };

shared vec4 dz_sh[MLP_WG_ROWS * M4];
shared vec4 a_sh[MLP_WG_ROWS * K4];

void main() {
    const uint t = gl_LocalInvocationID.x;
    f32 DZ = f32(p.dz);
    f32 A = f32(p.a);
    f32 PART = f32(p.partial);
    uint r_begin = gl_WorkGroupID.x * p.rows_per_chunk;
    uint r_end = min(p.n, r_begin + p.rows_per_chunk);
    vec4 acc[MT * 4];
    vec4 accb[MT];
    for (uint i = 0; i < MT * 4; i++) acc[i] = vec4(0);
    for (uint i = 0; i < MT; i++) accb[i] = vec4(0);
    for (uint rb = r_begin; rb < r_end; rb += MLP_WG_ROWS) {
        barrier();
        for (uint e = t; e < MLP_WG_ROWS * M4 * 4; e += MLP_WG_THREADS) {
            uint rr = e / (M4 * 4), c = e - rr * (M4 * 4);
            dz_sh[rr * M4 + c / 4][c % 4] = rb + rr < r_end && c < p.m ? DZ.v[(rb + rr) * p.m + c] : 0.0;
        }
        for (uint e = t; e < MLP_WG_ROWS * K4 * 4; e += MLP_WG_THREADS) {
            uint rr = e / (K4 * 4), c = e - rr * (K4 * 4);
            a_sh[rr * K4 + c / 4][c % 4] = rb + rr < r_end && c < p.k ? A.v[(rb + rr) * p.k + c] : 0.0;
        }
        barrier();
        for (uint i = 0; i < MT; i++) {
            uint tile = t + i * MLP_WG_THREADS;
            if (tile >= M4 * K4) break;
            uint m4 = tile / K4, k4 = tile - m4 * K4;
            for (uint rr = 0; rr < MLP_WG_ROWS; rr++) {
                vec4 d = dz_sh[rr * M4 + m4];
                vec4 av = a_sh[rr * K4 + k4];
                acc[4 * i + 0] = fma(vec4(d.x), av, acc[4 * i + 0]);
                acc[4 * i + 1] = fma(vec4(d.y), av, acc[4 * i + 1]);
                acc[4 * i + 2] = fma(vec4(d.z), av, acc[4 * i + 2]);
                acc[4 * i + 3] = fma(vec4(d.w), av, acc[4 * i + 3]);
                if (k4 == K4 - 1) accb[i] += d;
            }
        }
    }
    uint base = gl_WorkGroupID.x * p.stride;
    for (uint i = 0; i < MT; i++) {
        uint tile = t + i * MLP_WG_THREADS;
        if (tile >= M4 * K4) break;
        uint m4 = tile / K4, k4 = tile - m4 * K4;
        for (uint c = 0; c < 4; c++) {
            uint m = 4 * m4 + c;
            if (m >= p.m) break;
            for (uint q = 0; q < 4; q++)
                if (4 * k4 + q < p.k) PART.v[base + p.w_off + m * p.k + 4 * k4 + q] = acc[4 * i + c][q];
            if (p.bias != 0 && k4 == K4 - 1) PART.v[base + p.b_off + m] = accb[i][c];
        }
    }
}
