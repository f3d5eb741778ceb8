// The GEMM core shared by the conv2d kernels: shared-memory tiles, the per-invocation
// register block and the multiply-accumulate over one BK-deep slice. Included after the
// specialization constants BM, BN, BK, TM, TN, NT.
//
// A workgroup computes a BM x BN tile of C = A * B (A: M x K, B: K x N), staging BK-deep
// slices As[k][m] and Bs[k][n] in shared memory. Invocation (tm, tn) owns TM x TN
// outputs in registers: rows m = 4*(tm + i4*SM) + e and columns n = 4*(tn + j4*SN) + e,
// so neighbouring invocations read neighbouring quads. Shared memory is read in vec4
// quads: GPUs like 128-bit accesses, and llvmpipe runs every load instruction lane by
// lane, so fewer and wider loads per FMA is what it needs most. Rows are padded by one
// quad against bank conflicts.

const uint SM = BM / TM;       // invocations along m
const uint SN = BN / TN;       // invocations along n
const uint AST = BM / 4 + 1;   // row strides in quads
const uint BST = BN / 4 + 1;
shared vec4 As[BK * AST];      // As[kk * AST + m / 4][m % 4]
shared vec4 Bs[BK * BST];      // Bs[kk * BST + n / 4][n % 4]

// acc[4*i4 + e][j4]: row 4*(tm + i4*SM) + e, columns 4*(tn + j4*SN) + 0..3 of the tile.
vec4 acc[TM][TN / 4];

void acc_zero() {
    [[unroll]] for (uint i = 0; i < TM; i++)
        [[unroll]] for (uint j = 0; j < TN / 4; j++) acc[i][j] = vec4(0);
}

// acc += As * Bs over the staged slice (call between the barriers).
void acc_slice(uint tm, uint tn) {
    for (uint kk = 0; kk < BK; kk++) {
        vec4 a[TM / 4], b[TN / 4];
        [[unroll]] for (uint i = 0; i < TM / 4; i++) a[i] = As[kk * AST + tm + i * SM];
        [[unroll]] for (uint j = 0; j < TN / 4; j++) b[j] = Bs[kk * BST + tn + j * SN];
        [[unroll]] for (uint i = 0; i < TM / 4; i++)
            [[unroll]] for (uint e = 0; e < 4; e++)
                [[unroll]] for (uint j = 0; j < TN / 4; j++)
                    acc[4 * i + e][j] = fma(vec4(a[i][e]), b[j], acc[4 * i + e][j]);
    }
}
