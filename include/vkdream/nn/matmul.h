// Batched matrix multiplication with transposes, strides, alpha/beta and a fused bias:
// the GEMM under linear layers, attention and the UNet's 1x1 projections.
//
//   C[z] = alpha * op(A[z]) @ op(B[z]) + beta * C[z] + bias      for every batch entry z
//
// op(X) is X or X^T. Matrices are row-major with row strides (lda, ldb, ldc); batch entry
// z = outer * batch + inner sits at element offset outer * stride_?_outer + inner * stride_?,
// so e.g. the heads of a (B, T, H*d) tensor batch as {batch = H, stride = d, ld = H*d,
// batch_outer = B, stride_outer = T*H*d}.
#ifndef VKDREAM_NN_MATMUL_H
#define VKDREAM_NN_MATMUL_H
#include "vkdream/gpu.h"

typedef struct vkd_matmul_desc {
    int32_t M, N, K;          // op(A) (M, K), op(B) (K, N), C (M, N); all >= 1
    int32_t batch;            // inner batch count; 0 = 1
    bool trans_a;             // A is stored (K, M) and used transposed
    bool trans_b;             // B is stored (N, K) and used transposed
    int32_t lda, ldb, ldc;    // row strides in elements; 0 = packed (the stored row length)
    int64_t stride_a, stride_b, stride_c;  // inner batch strides in elements; 0 = packed (rows * ld)
    float alpha;              // 0 = 1
    float beta;               // 0 = C is overwritten (and never read); 1 = C += ...
    int32_t batch_outer;      // outer batch count; 0 = 1
    int64_t stride_a_outer, stride_b_outer, stride_c_outer;  // 0 = batch * stride (packed)
    bool broadcast_a;         // one A for every batch entry (its strides are ignored)
    bool broadcast_b;         // one B for every batch entry
    bool bias_rows;           // the bias is (M,), added to every column, instead of (N,) added to every row
    bool a_f16, b_f16;        // A / B stored as fp16 (frozen weights: vkd_params_is_f16), widened to fp32
                              // as they are read; such an operand has no gradient (da / db must be 0)
                              // and its batch strides must be even
    int32_t tile;             // 0 = pick the tile configuration by shape; i >= 1 forces the i-th of
                              // this device's list (tests, tuning; see vkd_matmul_tile_name)
} vkd_matmul_desc;

// Number of tile configurations of the matmul kernel on this device, and the name of the i-th
// (1-based, as in vkd_matmul_desc.tile), e.g. "256x256x8/16x16": block M x N x K / per invocation.
int vkd_matmul_tile_count(const vkd_gpu* gpu);
void vkd_matmul_tile_name(const vkd_gpu* gpu, int tile, char* buf, size_t size);

// Fills the defaults of d into *out (strides, ld, alpha, counts) and checks it. On failure returns
// false with a message naming the bad field in why (prefixed by `op`).
bool vkd_matmul_resolve(const vkd_matmul_desc* d, vkd_matmul_desc* out, const char* op, char* why, size_t why_size);

// C[z] = alpha * op(A[z]) @ op(B[z]) + beta * C[z] + bias. C must not overlap A or B.
void vkd_matmul_forward(vkd_stream* s, vkd_addr c, // (batch_outer, batch, M, N) strided
                        vkd_addr a,                // (..., M, K) or (..., K, M) if trans_a
                        vkd_addr b,                // (..., K, N) or (..., N, K) if trans_b
                        vkd_addr bias,             // (N,), or (M,) if bias_rows; 0 = none
                        const vkd_matmul_desc* d);
// Gradients of vkd_matmul_forward's alpha * op(A) op(B) + bias term (the beta * C term is the
// caller's: C is updated in place). Accumulates: da += .., db += .., dbias += .., each
// skipped when 0. A broadcast operand's gradient is summed over the batch; dbias (N,) or (M,)
// is summed over the batch and the other axis. da, db, dbias are laid out like a, b, bias.
void vkd_matmul_backward(vkd_stream* s, vkd_addr da, // like a
                         vkd_addr db,                // like b
                         vkd_addr dbias,             // (N,) or (M,) if bias_rows
                         vkd_addr dc,                // like c
                         vkd_addr a,                 // as in the forward (needed for db)
                         vkd_addr b,                 // as in the forward (needed for da)
                         const vkd_matmul_desc* d);

// Float64 references with the same meaning and argument order. Pointers address element 0
// of batch entry 0; the desc's strides apply as on the GPU; NULL stands for address 0.
// Reference of vkd_matmul_forward.
void vkd_ref_matmul_forward(double* c,          // (batch_outer, batch, M, N) strided
                            const double* a,    // (..., M, K) or (..., K, M) if trans_a
                            const double* b,    // (..., K, N) or (..., N, K) if trans_b
                            const double* bias, // (N,), or (M,) if bias_rows; NULL = none
                            const vkd_matmul_desc* d);
// Reference of vkd_matmul_backward (accumulates; NULL gradients are skipped).
void vkd_ref_matmul_backward(double* da,        // like a
                             double* db,        // like b
                             double* dbias,     // (N,) or (M,) if bias_rows
                             const double* dc,  // like c
                             const double* a, const double* b, const vkd_matmul_desc* d);

// c = a @ b in float32 on the CPU, single-threaded, cache-blocked plain C (no intrinsics): the
// baseline `vkdream bench` compares against. Not used by the engine.
void vkd_cpu_matmul_f32(float* c,        // (M, N)
                        const float* a,  // (M, K)
                        const float* b,  // (K, N)
                        int M, int N, int K);

#endif
