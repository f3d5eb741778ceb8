#include "common.h"

// Specialization constant FLAGS of matmul_tiled. VEC_*: the host checked that the operand can be read 4 floats at a
// time along its contiguous axis: 16-byte aligned batch entries, ld % 4 == 0, and a contiguous
// extent that is a multiple of 4 (so such a quad is either wholly inside the matrix or out).
#define VKD_MATMUL_TRANS_A 1u  // A is stored (K, M)
#define VKD_MATMUL_TRANS_B 2u  // B is stored (N, K)
#define VKD_MATMUL_VEC_A 4u
#define VKD_MATMUL_VEC_B 8u
#define VKD_MATMUL_VEC_C 16u
#define VKD_MATMUL_F16_A 32u   // A is stored as fp16 (element offsets even: 4-byte aligned pairs)
#define VKD_MATMUL_F16_B 64u

// C[z] = alpha * op(A[z]) @ op(B[z]) + beta * C[z] + bias, for the batch index z split
// into (outer, inner) = (z / inner, z % inner) so heads inside (B, T, H*d) tensors can be
// batched: the element offset of matrix z is outer * s?2 + inner * s?.
VKD_PUSH_BEGIN(vkd_matmul_push)
    uint64_t a;          // op(A) is (M, K): A stored (M, K) rows of lda, or (K, M) when transposed
    uint64_t b;          // op(B) is (K, N): B stored (K, N) rows of ldb, or (N, K) when transposed
    uint64_t c;          // (M, N) rows of ldc
    uint64_t bias;       // (N,) added to every row, (M,) to every column when bias_rows; 0 = none
    uint32_t M;
    uint32_t N;
    uint32_t K;
    uint32_t lda;
    uint32_t ldb;
    uint32_t ldc;
    uint32_t sa;         // element strides between consecutive inner batch entries
    uint32_t sb;
    uint32_t sc;
    uint32_t sa2;        // element strides between outer batch entries
    uint32_t sb2;
    uint32_t sc2;
    uint32_t inner;      // inner batch count (>= 1)
    uint32_t z0;         // batch index of grid z = 0 (large batches take several dispatches)
    uint32_t nreduce;    // 0: one C per batch; n > 0: C = sum over z < n of op(A[z]) op(B[z])
    uint32_t bias_rows;
    float alpha;
    float beta;          // 0: C is not read
VKD_PUSH_END(vkd_matmul_push)

// Sums a (batched) matrix along one axis into a vector: dst[o] += sum_{z, r} src[z][o * so + r * sr].
// The bias gradient of matmul / linear.
VKD_PUSH_BEGIN(vkd_matmul_sum_push)
    uint64_t dst;        // (nout,)
    uint64_t src;        // batch of matrices, element (o, r) at o * so + r * sr
    uint32_t nout;
    uint32_t nr;
    uint32_t so;
    uint32_t sr;
    uint32_t nz;         // batch count
    uint32_t inner;      // z -> (z / inner, z % inner) as in vkd_matmul_push
    uint32_t sz;
    uint32_t sz2;
VKD_PUSH_END(vkd_matmul_sum_push)
