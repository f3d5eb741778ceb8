#include "common.h"

// Scaled dot-product attention, flash-attention style. Sequences are (B, T, rows of ld
// floats); head h of a row occupies columns [h*D, (h+1)*D). The grid is
// (row blocks, H, B): workgroup (x, h, b) owns rows [x*BR, (x+1)*BR) of head h in batch b
// (query rows in the forward and dq kernels, key rows in the dk/dv kernel).
VKD_PUSH_BEGIN(vkd_attention_push)
    uint64_t q;       // (B, Tq, ldq)
    uint64_t k;       // (B, Tk, ldk)
    uint64_t v;       // (B, Tk, ldv)
    uint64_t o;       // (B, Tq, ldo): the forward writes out here; the backward reads dout
    uint64_t lse;     // (B, H, Tq) natural-log logsumexp of each row of scores
    uint64_t delta;   // (B, H, Tq) rowsum(dout * out), backward only
    uint64_t dq;      // like q, += (dq kernel); 0 = skip
    uint64_t dk;      // like k, += (dk/dv kernel); 0 = skip
    uint64_t dv;      // like v, += (dk/dv kernel); 0 = skip
    uint32_t Tq;
    uint32_t Tk;
    uint32_t H;
    uint32_t ldq;     // row strides in elements
    uint32_t ldk;
    uint32_t ldv;
    uint32_t ldo;
    uint32_t causal;  // 1: key j > query i is masked
    float scale;      // softmax scale in natural units (scores = scale * q.k)
VKD_PUSH_END(vkd_attention_push)

// delta[b, h, i] = sum_d dout[b, i, h*D + d] * out[b, i, h*D + d]: one invocation per row.
VKD_PUSH_BEGIN(vkd_attention_delta_push)
    uint64_t delta;   // (B, H, Tq), written
    uint64_t dout;    // (B, Tq, ldo)
    uint64_t o;       // (B, Tq, ldo)
    uint32_t n;       // B * H * Tq
    uint32_t Tq;
    uint32_t H;
    uint32_t D;
    uint32_t ldo;
VKD_PUSH_END(vkd_attention_delta_push)
