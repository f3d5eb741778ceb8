// Implicit GEMM shared by conv2d_fwd.comp and conv2d_bwd_data.comp (included after
// the push constants and the specialization constants BM, BN, BK, TM, TN, NT, WEIGHT_F16).
//
//   dst[m, n] (=|+=) sum_k A[m, k] * S[k, n]
//
// A is the weight tensor seen as an M x K matrix and S is the "im2col" view of the
// source image, never materialized: k = (q, ty, tx) is a (channel, kernel row, kernel
// column) triple and n = (b, y, x) an output pixel. Both directions are this product:
//   forward:        M = OC, q over C,  src = inp,  dst = out  (written, plus bias)
//   backward data:  M = C,  q over OC, src = dout, dst = dinp (accumulated), as a
//                   transposed convolution split into stride_y*stride_x phases (one per
//                   gl_WorkGroupID.z) so no work is spent on taps that stride skips.
// Everything is 32-bit index math: the C side rejects tensors of 2^31 elements or more.
//
// Tiling and the multiply-accumulate: conv2d_gemm.glsl (As = A, Bs = S).

#include "nn/conv2d_gemm.glsl"

// Element i of the weight, fp32 or fp16 (read as the 4-byte pair holding it).
float weight_at(int i) {
    if (WEIGHT_F16) return unpackHalf2x16(u32(p.weight).v[uint(i) >> 1])[i & 1];
    return f32(p.weight).v[i];
}

const uint A_QUADS = BM * BK / 4 / NT; // A quads each invocation stages per K step
const uint B_QUADS = BN * BK / 4 / NT;
const uint B_ROWS = NT / (BN / 4);     // k distance between one invocation's S quads

// A position k = (q, ty, tx) in the K dimension, advanced by BK with mixed-radix
// carries: no division in the main loop (llvmpipe has no vector integer divide).
struct kpos { int q, ty, tx; };

kpos kpos_at(int k, int KY, int KX) {
    int r = k / (KY * KX), s = k - r * KY * KX;
    return kpos(r, s / KX, s % KX);
}

kpos kpos_add(kpos a, kpos d, int KY, int KX) {
    a.tx += d.tx;
    if (a.tx >= KX) { a.tx -= KX; a.ty++; }
    a.ty += d.ty;
    if (a.ty >= KY) { a.ty -= KY; a.q++; }
    a.q += d.q;
    return a;
}

void main() {
    const int B = int(p.B), C = int(p.C), H = int(p.H), W = int(p.W);
    const int OC = int(p.OC), OH = int(p.OH), OW = int(p.OW), KH = int(p.KH), KW = int(p.KW);
    const int sy = p.stride_y, sx = p.stride_x;

    // GEMM geometry: S[k, n] = src[b, q, y*ay + ty*by + cy, x*ax + tx*bx + cx] (0 outside
    // SH x SW), A[m, k] = weight[wbase + m*wm + q*wq + ty*wy + tx*wx], and
    // dst[b, m, y*dya + dyc, x*dxa + dxc] over a DH x DW image.
#if CONV2D_BWD_DATA
    // Input pixel iy = py + sy*y receives dout[oy] * weight[ky] for every ky with
    // iy + pad_top - ky = sy*oy: ky = ky0 + sy*ty with ky0 = (py + pad_top) % sy, and then
    // oy = (py + pad_top) / sy + y - ty.
    const int py = int(gl_WorkGroupID.z) / sx, px = int(gl_WorkGroupID.z) % sx;
    const int ky0 = (py + p.pad_top) % sy, kx0 = (px + p.pad_left) % sx;
    const int KY = KH > ky0 ? (KH - ky0 + sy - 1) / sy : 0;
    const int KX = KW > kx0 ? (KW - kx0 + sx - 1) / sx : 0;
    const int NY = H > py ? (H - py + sy - 1) / sy : 0;
    const int NX = W > px ? (W - px + sx - 1) / sx : 0;
    // A phase without taps (kernel smaller than the stride) adds nothing: dinp += 0.
    if (KY == 0 || KX == 0 || NY == 0 || NX == 0) return;
    const int M = C, Q = OC, SH = OH, SW = OW;
    const int ay = 1, by = -1, cy = (py + p.pad_top) / sy;
    const int ax = 1, bx = -1, cx = (px + p.pad_left) / sx;
    const int wm = KH * KW, wq = C * KH * KW, wy = sy * KW, wx = sx, wbase = ky0 * KW + kx0;
    const int DH = H, DW = W, dya = sy, dyc = py, dxa = sx, dxc = px;
#else
    const int KY = KH, KX = KW, NY = OH, NX = OW;
    const int M = OC, Q = C, SH = H, SW = W;
    const int ay = sy, by = 1, cy = -p.pad_top;
    const int ax = sx, bx = 1, cx = -p.pad_left;
    const int wm = C * KH * KW, wq = KH * KW, wy = KW, wx = 1, wbase = 0;
    const int DH = OH, DW = OW, dya = 1, dyc = 0, dxa = 1, dxc = 0;
#endif
    const int K = Q * KY * KX, NYX = NY * NX, N = B * NYX;
    const int SHW = SH * SW, DHW = DH * DW;
    const int m0 = int(gl_WorkGroupID.y * BM);
    if (m0 >= M) return;

    const uint t = gl_LocalInvocationIndex;
    const uint tn = t % SN, tm = t / SN;

    // Staging roles. A: quads of 4 rows m at one k (kk = t % BK, the same for all of this
    // invocation's quads because NT % BK == 0), k fastest across invocations so weight
    // rows are read contiguously. S: quads of 4 pixels n at B_QUADS rows k, n fastest so
    // image rows are read contiguously.
    const int a_kk = int(t % BK);
    const int b_n4 = int(t % (BN / 4));
    const int b_kk = int(t / (BN / 4));
    const kpos kstep = kpos_at(int(BK), KY, KX);

    const uint n_tiles = (uint(N) + BN - 1) / BN;
    for (uint tile = gl_WorkGroupID.x; tile < n_tiles; tile += gl_NumWorkGroups.x) {
        const int n0 = int(tile * BN);

        // The staged pixels of this invocation: image base offset and the top-left
        // source coordinate of each (pixels past N get a row that is never in range).
        int s_base[4], s_y[4], s_x[4];
        [[unroll]] for (int e = 0; e < 4; e++) {
            int n = n0 + 4 * b_n4 + e;
            if (n < N) {
                int b = n / NYX, r = n - b * NYX;
                int y = r / NX, x = r - y * NX;
                s_base[e] = b * Q * SHW;
                s_y[e] = y * ay + cy;
                s_x[e] = x * ax + cx;
            } else {
                s_base[e] = 0;
                s_y[e] = -0x40000000;
                s_x[e] = 0;
            }
        }
        kpos ka = kpos_at(a_kk, KY, KX);
        kpos kb[B_QUADS];
        [[unroll]] for (uint r = 0; r < B_QUADS; r++) kb[r] = kpos_at(b_kk + int(r * B_ROWS), KY, KX);

        acc_zero();

        for (int k0 = 0; k0 < K; k0 += int(BK)) {
            // Stage A: weight rows m0 + 4*m4 .. +3 at column k0 + a_kk.
            {
                const bool kin = ka.q < Q;
                const int kofs = wbase + ka.q * wq + ka.ty * wy + ka.tx * wx;
                [[unroll]] for (uint r = 0; r < A_QUADS; r++) {
                    const int m4 = int(t / BK + r * (NT / BK));
                    vec4 v = vec4(0);
                    [[unroll]] for (int e = 0; e < 4; e++) {
                        int m = m0 + 4 * m4 + e;
                        if (kin && m < M) v[e] = weight_at(kofs + m * wm);
                    }
                    As[a_kk * AST + m4] = v;
                }
                ka = kpos_add(ka, kstep, KY, KX);
            }
            // Stage S: rows k0 + b_kk + r*B_ROWS, pixels n0 + 4*b_n4 .. +3.
            [[unroll]] for (uint r = 0; r < B_QUADS; r++) {
                const bool kin = kb[r].q < Q;
                const int dy = kb[r].ty * by, dx = kb[r].tx * bx, qofs = kb[r].q * SHW;
                vec4 v = vec4(0);
                [[unroll]] for (int e = 0; e < 4; e++) {
                    int yy = s_y[e] + dy, xx = s_x[e] + dx;
                    if (kin && yy >= 0 && yy < SH && xx >= 0 && xx < SW)
                        v[e] = f32(p.src).v[s_base[e] + qofs + yy * SW + xx];
                }
                Bs[(b_kk + r * B_ROWS) * BST + b_n4] = v;
                kb[r] = kpos_add(kb[r], kstep, KY, KX);
            }
            barrier();
            acc_slice(tm, tn);
            barrier();
        }

        // Write back: one destination offset per owned column, then each owned row.
#if !CONV2D_BWD_DATA
        float bias[TM];
        [[unroll]] for (uint i = 0; i < TM / 4; i++)
            [[unroll]] for (uint f = 0; f < 4; f++) {
                const int m = m0 + int(4 * (tm + i * SM) + f);
                bias[4 * i + f] = p.bias != uint64_t(0) && m < M ? f32(p.bias).v[m] : 0.0;
            }
#endif
        [[unroll]] for (uint j = 0; j < TN / 4; j++) {
            [[unroll]] for (uint e = 0; e < 4; e++) {
                const int n = n0 + int(4 * (tn + j * SN) + e);
                if (n >= N) continue;
                const int b = n / NYX, r = n - b * NYX;
                const int y = r / NX, x = r - y * NX;
                const int d = b * M * DHW + (y * dya + dyc) * DW + x * dxa + dxc;
                [[unroll]] for (uint i = 0; i < TM / 4; i++) {
                    [[unroll]] for (uint f = 0; f < 4; f++) {
                        const int m = m0 + int(4 * (tm + i * SM) + f);
                        if (m >= M) continue;
#if CONV2D_BWD_DATA
                        f32(p.dst).v[d + m * DHW] += acc[4 * i + f][j][e];
#else
                        f32(p.dst).v[d + m * DHW] = acc[4 * i + f][j][e] + bias[4 * i + f];
#endif
                    }
                }
            }
        }
    }
}
