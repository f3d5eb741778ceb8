#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
#include "nn/conv2d.h"
// conv2d backward weight: dweight[oc, (c, ky, kx)] += sum over k = (b, oy, ox) of
// dout[b, oc, oy, ox] * inp[b, c, oy*sy - pad_top + ky, ox*sx - pad_left + kx],
// a GEMM with M = OC, N = C*KH*KW and the long K = B*OH*OW, optionally split into
// chunks (gl_WorkGroupID.z) whose partial sums conv2d_bwd_weight_sum adds in a fixed
// order, so results are deterministic. Tiling: conv2d_gemm.glsl.
layout(constant_id = 0) const uint BM = 64;
layout(constant_id = 1) const uint BN = 64;
layout(constant_id = 2) const uint BK = 16;
layout(constant_id = 3) const uint TM = 4;
layout(constant_id = 4) const uint TN = 4;
layout(constant_id = 5) const uint NT = 256;  // == (BM / TM) * (BN / TN)
layout(local_size_x_id = 5) in;
layout(push_constant) uniform Push { vkd_conv2d_wgrad_push p; };

#include "nn/conv2d_gemm.glsl"

const uint A_QUADS = BM * BK / 4 / NT;  // quads each invocation stages per K step
const uint B_QUADS = BN * BK / 4 / NT;
const uint QROWS = NT / BK;             // quad distance between one invocation's staged quads

// Output pixel (b, oy, ox) of a K index, advanced by BK with mixed-radix carries: no
// division in the main loop (llvmpipe has no vector integer divide).
struct kpos { int b, oy, ox; };

kpos kpos_at(int k, int OH, int OW) {
    int b = k / (OH * OW), r = k - b * OH * OW;
    return kpos(b, r / OW, r % OW);
}

kpos kpos_add(kpos a, kpos d, int OH, int OW) {
    a.ox += d.ox;
    if (a.ox >= OW) { a.ox -= OW; a.oy++; }
    a.oy += d.oy;
    if (a.oy >= OH) { a.oy -= OH; a.b++; }
    a.b += d.b;
    return a;
}

void main() {
    const int C = int(p.C), H = int(p.H), W = int(p.W);
    const int OC = int(p.OC), OH = int(p.OH), OW = int(p.OW), KH = int(p.KH), KW = int(p.KW);
    const int HW = H * W, OHW = OH * OW, KHW = KH * KW;
    const int M = OC, N = C * KHW, K = int(p.B) * OHW;
    const int m0 = int(gl_WorkGroupID.y * BM);
    const int kbeg = int(gl_WorkGroupID.z * p.k_split);
    const int kend = min(K, kbeg + int(p.k_split));
    if (m0 >= M) return;

    const uint t = gl_LocalInvocationIndex;
    const uint tn = t % SN, tm = t / SN;
    // Both staging roles read quads along m (resp. n) at one kk = t % BK, k fastest across
    // invocations: consecutive output pixels, i.e. contiguous rows of dout and inp, and
    // one K position per invocation.
    const int kk = int(t % BK);
    const int q0 = int(t / BK);
    const kpos kstep = kpos_at(int(BK), OH, OW);

    const uint n_tiles = (uint(N) + BN - 1) / BN;
    for (uint tile = gl_WorkGroupID.x; tile < n_tiles; tile += gl_NumWorkGroups.x) {
        const int n0 = int(tile * BN);

        // The weight positions (c, ky, kx) this invocation stages: their offset in inp
        // relative to the window corner, and (ky, kx) for the bounds test (ky is out of
        // any range past N).
        int n_ofs[B_QUADS * 4], n_ky[B_QUADS * 4], n_kx[B_QUADS * 4];
        [[unroll]] for (uint r = 0; r < B_QUADS; r++)
            [[unroll]] for (uint e = 0; e < 4; e++) {
                const int n = n0 + 4 * (q0 + int(r * QROWS)) + int(e);
                const int c = n / KHW, s = n - c * KHW, ky = s / KW, kx = s - ky * KW;
                n_ofs[4 * r + e] = c * HW + ky * W + kx;
                n_ky[4 * r + e] = n < N ? ky : -0x40000000;
                n_kx[4 * r + e] = kx;
            }

        kpos kp = kpos_at(kbeg + kk, OH, OW);
        acc_zero();
        for (int k0 = kbeg; k0 < kend; k0 += int(BK)) {
            const bool kin = k0 + kk < kend;
            const int iy0 = kp.oy * p.stride_y - p.pad_top, ix0 = kp.ox * p.stride_x - p.pad_left;
            const int dbase = kp.b * OC * OHW + kp.oy * OW + kp.ox;
            const int ibase = kp.b * C * HW + iy0 * W + ix0;
            [[unroll]] for (uint r = 0; r < A_QUADS; r++) {
                const int m4 = q0 + int(r * QROWS);
                vec4 v = vec4(0);
                [[unroll]] for (int e = 0; e < 4; e++) {
                    const int m = m0 + 4 * m4 + e;
                    if (kin && m < M) v[e] = f32(p.dout).v[dbase + m * OHW];
                }
                As[kk * AST + m4] = v;
            }
            [[unroll]] for (uint r = 0; r < B_QUADS; r++) {
                vec4 v = vec4(0);
                [[unroll]] for (uint e = 0; e < 4; e++) {
                    const int iy = iy0 + n_ky[4 * r + e], ix = ix0 + n_kx[4 * r + e];
                    if (kin && iy >= 0 && iy < H && ix >= 0 && ix < W) v[e] = f32(p.inp).v[ibase + n_ofs[4 * r + e]];
                }
                Bs[kk * BST + q0 + r * QROWS] = v;
            }
            kp = kpos_add(kp, kstep, OH, OW);
            barrier();
            acc_slice(tm, tn);
            barrier();
        }

        const uint base = p.partial != 0 ? gl_WorkGroupID.z * uint(M * N) : 0;
        [[unroll]] for (uint i = 0; i < TM / 4; i++)
            [[unroll]] for (uint f = 0; f < 4; f++) {
                const int m = m0 + int(4 * (tm + i * SM) + f);
                if (m >= M) continue;
                [[unroll]] for (uint j = 0; j < TN / 4; j++)
                    [[unroll]] for (uint e = 0; e < 4; e++) {
                        const int n = n0 + int(4 * (tn + j * SN) + e);
                        if (n >= N) continue;
                        const uint idx = base + uint(m * N + n);
                        if (p.partial != 0) f32(p.dst).v[idx] = acc[4 * i + f][j][e];
                        else f32(p.dst).v[idx] += acc[4 * i + f][j][e];
                    }
            }
    }
}
