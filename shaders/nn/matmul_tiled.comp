#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
#include "nn/matmul.h"
layout(local_size_x_id = 6) in;  // = (BM / TM) * (BN / TN), set by the host
layout(push_constant) uniform Push { vkd_matmul_push p; };

// Tiled matmul. A workgroup computes a BM x BN block of C: it stages BK-deep slices of A
// and B in shared memory (in their stored orientation, so staging is a plain copy), and
// each invocation accumulates a TM x TN block of C in registers.
//
// Shared memory is read in 32-byte units (8 floats, as u64vec4): on GPUs that is two
// 128-bit LDS per read; on llvmpipe, where every per-invocation memory access is a loop
// over the SIMD lanes, it halves the number of such loops against vec4 reads, and the big
// register block makes each read feed TM or TN FMAs.
layout(constant_id = 0) const uint BM = 128;
layout(constant_id = 1) const uint BN = 128;
layout(constant_id = 2) const uint BK = 8;   // multiple of 8
layout(constant_id = 3) const uint TM = 8;   // multiple of 8
layout(constant_id = 4) const uint TN = 8;   // multiple of 8

// VKD_MATMUL_* bits. All specialization constants, so the main loop is straight-line code:
// with run-time (uniform) branches for them, llvmpipe took ~30x longer to compile a 16x16
// register block (a minute instead of 1-2 seconds); 32 variants per tile configuration are
// possible, but a program uses a handful.
layout(constant_id = 5) const uint FLAGS = 0;
const bool TRANS_A = (FLAGS & VKD_MATMUL_TRANS_A) != 0u;
const bool TRANS_B = (FLAGS & VKD_MATMUL_TRANS_B) != 0u;
const bool VEC_A = (FLAGS & VKD_MATMUL_VEC_A) != 0u;
const bool VEC_B = (FLAGS & VKD_MATMUL_VEC_B) != 0u;
const bool VEC_C = (FLAGS & VKD_MATMUL_VEC_C) != 0u;
const bool F16_A = (FLAGS & VKD_MATMUL_F16_A) != 0u;
const bool F16_B = (FLAGS & VKD_MATMUL_F16_B) != 0u;

const uint TX = BN / TN;  // invocations along n
const uint TY = BM / TM;  // invocations along m
const uint WG = TX * TY;
const uint BM8 = BM / 8;
const uint BN8 = BN / 8;
const uint BK8 = BK / 8;

layout(buffer_reference, scalar, buffer_reference_align = 16) buffer u64x2 { u64vec2 v[]; };
layout(buffer_reference, scalar, buffer_reference_align = 8) buffer u32x2 { uvec2 v[]; };

// Octets of 8 floats along the stored contiguous axis:
//   A: [m][k] (BM x BK8 octets), or [k][m] (BK x BM8) when transposed
//   B: [k][n] (BK x BN8 octets), or [n][k] (BN x BK8) when transposed
shared u64vec4 As[BM * BK8];
shared u64vec4 Bs[BN * BK8];

uint64_t batch_offset(uint z, uint s, uint s2) {
    return uint64_t(z / p.inner) * s2 + uint64_t(z % p.inner) * s;
}

uint64_t pack2(float x, float y) { return pack64(u32vec2(floatBitsToUint(x), floatBitsToUint(y))); }
vec2 unpack2(uint64_t v) { return uintBitsToFloat(unpack32(v)); }

// Four fp16 values (8 bytes, element index i4 * 4) widened to two packed float pairs.
u64vec2 load_half_quad(uint64_t base, uint i4) {
    uvec2 h = u32x2(base).v[i4];
    vec2 lo = unpackHalf2x16(h.x), hi = unpackHalf2x16(h.y);
    return u64vec2(pack2(lo.x, lo.y), pack2(hi.x, hi.y));
}

float load_half(uint64_t base, uint i) { return unpackHalf2x16(u32(base).v[i >> 1])[i & 1u]; }

// Reads the 8 floats at (row, col .. col + 7) of a rows x cols matrix with row stride ld;
// out-of-range elements read as 0. The clamped index keeps every load inside the matrix
// (branch-free: cheap on SIMD CPUs, no divergence on GPUs). is_f16: the matrix is fp16.
u64vec4 load_octet(uint64_t base, uint row, uint col, uint rows, uint cols, uint ld, bool vec, bool is_f16) {
    bool row_ok = row < rows;
    uint r = min(row, rows - 1);
    if (vec && is_f16) {
        u64vec2 lo = load_half_quad(base, (r * ld + min(col, cols - 4)) / 4);
        u64vec2 hi = load_half_quad(base, (r * ld + min(col + 4, cols - 4)) / 4);
        if (!row_ok || col >= cols) lo = u64vec2(0);
        if (!row_ok || col + 4 >= cols) hi = u64vec2(0);
        return u64vec4(lo, hi);
    }
    if (vec) {  // cols % 4 == 0: each quad is wholly in or out
        u64vec2 lo = u64x2(base).v[(r * ld + min(col, cols - 4)) / 4];
        u64vec2 hi = u64x2(base).v[(r * ld + min(col + 4, cols - 4)) / 4];
        if (!row_ok || col >= cols) lo = u64vec2(0);
        if (!row_ok || col + 4 >= cols) hi = u64vec2(0);
        return u64vec4(lo, hi);
    }
    float f[8];
    [[unroll]] for (uint i = 0; i < 8; i++) {
        uint idx = r * ld + min(col + i, cols - 1);
        float v = is_f16 ? load_half(base, idx) : f32(base).v[idx];
        f[i] = (row_ok && col + i < cols) ? v : 0.0;
    }
    return u64vec4(pack2(f[0], f[1]), pack2(f[2], f[3]), pack2(f[4], f[5]), pack2(f[6], f[7]));
}

void stage(uint64_t abase, uint64_t bbase, uint m0, uint n0, uint k0, uint tid) {
    // Every octet of the A and B tiles is copied by one invocation.
    [[unroll]] for (uint it = 0; it < (BM * BK8 + WG - 1) / WG; it++) {
        uint l = tid + it * WG;
        if (l < BM * BK8) {
            if (!TRANS_A)  // [m][k]
                As[l] = load_octet(abase, m0 + l / BK8, k0 + 8 * (l % BK8), p.M, p.K, p.lda, VEC_A, F16_A);
            else           // [k][m]
                As[l] = load_octet(abase, k0 + l / BM8, m0 + 8 * (l % BM8), p.K, p.M, p.lda, VEC_A, F16_A);
        }
    }
    [[unroll]] for (uint it = 0; it < (BN * BK8 + WG - 1) / WG; it++) {
        uint l = tid + it * WG;
        if (l < BN * BK8) {
            if (!TRANS_B)  // [k][n]
                Bs[l] = load_octet(bbase, k0 + l / BN8, n0 + 8 * (l % BN8), p.K, p.N, p.ldb, VEC_B, F16_B);
            else           // [n][k]
                Bs[l] = load_octet(bbase, n0 + l / BK8, k0 + 8 * (l % BK8), p.N, p.K, p.ldb, VEC_B, F16_B);
        }
    }
}

void unpack8(u64vec4 q, out float f[8]) {
    [[unroll]] for (uint i = 0; i < 4; i++) {
        u32vec2 u = unpack32(q[i]);
        f[2 * i] = uintBitsToFloat(u.x);
        f[2 * i + 1] = uintBitsToFloat(u.y);
    }
}

void main() {
    uint tid = gl_LocalInvocationID.x;
    uint tx = tid % TX, ty = tid / TX;
    uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
    // This invocation's rows are the octets ty + i * TY (i < TM / 8) of the tile, its columns
    // the octets tx + j * TX: neighbouring invocations read neighbouring octets.

    float acc[TM][TN];
    [[unroll]] for (uint r = 0; r < TM; r++)
        [[unroll]] for (uint c = 0; c < TN; c++) acc[r][c] = 0.0;

    uint zc = p.z0 + gl_WorkGroupID.z;
    uint zbeg = p.nreduce > 0 ? 0 : zc, zend = p.nreduce > 0 ? p.nreduce : zc + 1;
    for (uint z = zbeg; z < zend; z++) {
        uint64_t abase = p.a + (F16_A ? 2 : 4) * batch_offset(z, p.sa, p.sa2);
        uint64_t bbase = p.b + (F16_B ? 2 : 4) * batch_offset(z, p.sb, p.sb2);
        for (uint k0 = 0; k0 < p.K; k0 += BK) {
            stage(abase, bbase, m0, n0, k0, tid);
            barrier();
            [[unroll]] for (uint k8 = 0; k8 < BK8; k8++) {
                float a[8][TM], b[8][TN];  // [k][row], [k][col] for 8 consecutive k
                float f[8];
                if (!TRANS_A) {
                    [[unroll]] for (uint r = 0; r < TM; r++) {
                        unpack8(As[(8 * (ty + (r / 8) * TY) + r % 8) * BK8 + k8], f);
                        [[unroll]] for (uint kk = 0; kk < 8; kk++) a[kk][r] = f[kk];
                    }
                } else {
                    [[unroll]] for (uint kk = 0; kk < 8; kk++)
                        [[unroll]] for (uint i = 0; i < TM / 8; i++) {
                            unpack8(As[(8 * k8 + kk) * BM8 + ty + i * TY], f);
                            [[unroll]] for (uint e = 0; e < 8; e++) a[kk][8 * i + e] = f[e];
                        }
                }
                if (!TRANS_B) {
                    [[unroll]] for (uint kk = 0; kk < 8; kk++)
                        [[unroll]] for (uint j = 0; j < TN / 8; j++) {
                            unpack8(Bs[(8 * k8 + kk) * BN8 + tx + j * TX], f);
                            [[unroll]] for (uint e = 0; e < 8; e++) b[kk][8 * j + e] = f[e];
                        }
                } else {
                    [[unroll]] for (uint c = 0; c < TN; c++) {
                        unpack8(Bs[(8 * (tx + (c / 8) * TX) + c % 8) * BK8 + k8], f);
                        [[unroll]] for (uint kk = 0; kk < 8; kk++) b[kk][c] = f[kk];
                    }
                }
                // 4 x 4 blocks of C, each through all 8 k: 16 accumulators + 8 operands stay in
                // registers on a CPU (TM x TN accumulators do not).
                [[unroll]] for (uint rb = 0; rb < TM; rb += 4)
                    [[unroll]] for (uint cb = 0; cb < TN; cb += 4)
                        [[unroll]] for (uint kk = 0; kk < 8; kk++)
                            [[unroll]] for (uint i = 0; i < 4; i++)
                                [[unroll]] for (uint j = 0; j < 4; j++)
                                    acc[rb + i][cb + j] = fma(a[kk][rb + i], b[kk][cb + j], acc[rb + i][cb + j]);
            }
            barrier();
        }
    }

    // Epilogue. C is written 4 floats at a time (as u64vec2: on llvmpipe a store costs a loop
    // over the lanes per 64-bit component, half as many as for vec4).
    uint64_t cbase = p.c + 4 * (p.nreduce > 0 ? 0 : batch_offset(zc, p.sc, p.sc2));
    bool col_bias = p.bias != 0 && p.bias_rows == 0, row_bias = p.bias != 0 && p.bias_rows != 0;
    float bc[TN];
    [[unroll]] for (uint c = 0; c < TN; c++) {
        uint n = n0 + 8 * (tx + (c / 8) * TX) + c % 8;
        bc[c] = col_bias ? f32(p.bias).v[min(n, p.N - 1)] : 0.0;
    }
    [[unroll]] for (uint r = 0; r < TM; r++) {
        uint m = m0 + 8 * (ty + (r / 8) * TY) + r % 8;
        if (m >= p.M) continue;
        float br = row_bias ? f32(p.bias).v[m] : 0.0;
        [[unroll]] for (uint q = 0; q < TN / 4; q++) {  // quads of columns
            uint n = n0 + 8 * (tx + (q / 2) * TX) + 4 * (q % 2);
            vec4 v = p.alpha * vec4(acc[r][4 * q], acc[r][4 * q + 1], acc[r][4 * q + 2], acc[r][4 * q + 3]) +
                     vec4(bc[4 * q], bc[4 * q + 1], bc[4 * q + 2], bc[4 * q + 3]) + br;
            if (VEC_C) {
                if (n >= p.N) continue;
                uint idx = (m * p.ldc + n) / 4;
                if (p.beta != 0.0) {
                    u64vec2 old = u64x2(cbase).v[idx];
                    v += p.beta * vec4(unpack2(old.x), unpack2(old.y));
                }
                u64x2(cbase).v[idx] = u64vec2(pack2(v.x, v.y), pack2(v.z, v.w));
            } else {
                [[unroll]] for (uint e = 0; e < 4; e++) {
                    if (n + e >= p.N) continue;
                    uint idx = m * p.ldc + n + e;
                    float x = v[e];
                    if (p.beta != 0.0) x += p.beta * f32(cbase).v[idx];
                    f32(cbase).v[idx] = x;
                }
            }
        }
    }
}
