// Scaled dot-product attention, fp32, flash-attention style (FlashAttention-2):
//
//   S = scale * Q K^T (per batch b and head h), S[i, j] = -inf where masked,
//   P = softmax(S) along j,   out = P V,   lse[i] = log sum_j exp(S[i, j])
//
// Tensors are laid out as the linear projections produce them: q (B, Tq, ldq), k and v
// (B, Tk, ldk / ldv), out (B, Tq, ldo), where head h of a row is the D columns starting at
// h * D, and batch entries are T * ld elements apart. The row strides let q, k, v be column
// slices of one fused (B, T, 3*H*D) qkv tensor (q = qkv, k = qkv + H*D floats,
// v = qkv + 2*H*D, ld = 3*H*D). The (Tq, Tk) matrices are never stored: the forward keeps
// lse (B, H, Tq) for the backward, which recomputes P.
#ifndef VKDREAM_NN_ATTENTION_H
#define VKDREAM_NN_ATTENTION_H
#include "vkdream/gpu.h"

// Zero means default for every field except the sizes B, H, Tq, D.
typedef struct vkd_attention_desc {
    uint32_t B, H;            // batch, heads (>= 1)
    uint32_t Tq;              // query rows (>= 1)
    uint32_t Tk;              // key / value rows; 0 = Tq (self-attention)
    uint32_t D;               // head dim (>= 1)
    uint32_t ldq, ldk, ldv;   // row strides of q, k, v in elements; 0 = H * D
    uint32_t ldo;             // row stride of out (and dout) in elements; 0 = H * D
    float scale;              // 0 = 1 / sqrt(D)
    bool causal;              // mask key j > query i (CLIP's text encoder)
    // 0: kernels chosen for the device. i in 1..VKD_ATTENTION_CONFIGS forces built-in
    // configuration i on any device (1: the CPU one, 2: the GPU one, 3: odd sizes for tests).
    uint32_t config;
} vkd_attention_desc;

#define VKD_ATTENTION_CONFIGS 3

// Fills the defaults of d into *out and checks it; on failure returns false with a message
// naming the bad field (prefixed by `op`) in why.
bool vkd_attention_resolve(const vkd_attention_desc* d, vkd_attention_desc* out, const char* op, char* why,
                           size_t why_size);

// out = softmax(scale * q k^T, masked) v for every batch and head; lse = its row logsumexp
// (natural log). out and lse are written, not accumulated; lse may be 0 (inference only).
// out must not overlap q, k, v.
void vkd_attention_forward(vkd_stream* s,
                           vkd_addr out,  // (B, Tq, ldo)
                           vkd_addr lse,  // (B, H, Tq) or 0
                           vkd_addr q,    // (B, Tq, ldq)
                           vkd_addr k,    // (B, Tk, ldk)
                           vkd_addr v,    // (B, Tk, ldv)
                           const vkd_attention_desc* desc);

// dq += dL/dq, dk += dL/dk, dv += dL/dv given dout = dL/dout, from the forward's out and lse;
// each gradient is laid out like its input (same row stride) and may be 0 (not needed).
// delta is written with rowsum(dout * out) first (scratch the caller provides; needed
// whenever dq or dk is). Deterministic (no atomics). Gradients must not overlap the inputs;
// dq, dk, dv may be slices of one fused gradient tensor.
void vkd_attention_backward(vkd_stream* s,
                            vkd_addr dq,     // (B, Tq, ldq) or 0
                            vkd_addr dk,     // (B, Tk, ldk) or 0
                            vkd_addr dv,     // (B, Tk, ldv) or 0
                            vkd_addr delta,  // (B, H, Tq), written when dq or dk is wanted
                            vkd_addr dout,   // (B, Tq, ldo)
                            vkd_addr q,      // (B, Tq, ldq)
                            vkd_addr k,      // (B, Tk, ldk)
                            vkd_addr v,      // (B, Tk, ldv)
                            vkd_addr out,    // (B, Tq, ldo)
                            vkd_addr lse,    // (B, H, Tq)
                            const vkd_attention_desc* desc);

// Float64 references with the same meaning, argument order and strides (no config).
// lse may be NULL in the forward.
void vkd_ref_attention_forward(double* out,      // (B, Tq, ldo)
                               double* lse,      // (B, H, Tq) or NULL
                               const double* q,  // (B, Tq, ldq)
                               const double* k,  // (B, Tk, ldk)
                               const double* v,  // (B, Tk, ldv)
                               const vkd_attention_desc* desc);
// Accumulates into dq, dk, dv like the GPU version (NULL: skipped); writes delta when not NULL.
void vkd_ref_attention_backward(double* dq,          // (B, Tq, ldq) or NULL
                                double* dk,          // (B, Tk, ldk) or NULL
                                double* dv,          // (B, Tk, ldv) or NULL
                                double* delta,       // (B, H, Tq) or NULL
                                const double* dout,  // (B, Tq, ldo)
                                const double* q,     // (B, Tq, ldq)
                                const double* k,     // (B, Tk, ldk)
                                const double* v,     // (B, Tk, ldv)
                                const double* out,   // (B, Tq, ldo)
                                const double* lse,   // (B, H, Tq)
                                const vkd_attention_desc* desc);

// Plain-C float32 attention for benchmarks (single-threaded, no intrinsics): packed
// (B, T, H*D) tensors, scale 1 / sqrt(D). The backward accumulates like the GPU one.
// False when out of host memory.
bool vkd_cpu_attention_forward_f32(float* out,      // (B, Tq, H*D)
                                   float* lse,      // (B, H, Tq)
                                   const float* q,  // (B, Tq, H*D)
                                   const float* k,  // (B, Tk, H*D)
                                   const float* v,  // (B, Tk, H*D)
                                   uint32_t B, uint32_t H, uint32_t Tq, uint32_t Tk, uint32_t D, bool causal);
bool vkd_cpu_attention_backward_f32(float* dq,          // (B, Tq, H*D)
                                    float* dk,          // (B, Tk, H*D)
                                    float* dv,          // (B, Tk, H*D)
                                    const float* dout,  // (B, Tq, H*D)
                                    const float* q, const float* k, const float* v, const float* out,
                                    const float* lse,   // (B, H, Tq)
                                    uint32_t B, uint32_t H, uint32_t Tq, uint32_t Tk, uint32_t D, bool causal);

#endif
