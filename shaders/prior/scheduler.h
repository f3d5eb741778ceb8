#include "common.h"

// Per-sample linear combinations of two tensors with coefficients of abar_t (see
// include/vkdream/prior/scheduler.h, vkd_sched_op).
VKD_PUSH_BEGIN(vkd_sched_combine_push)
    uint64_t dst;        // (B, n) forward: written; backward: da (or 0)
    uint64_t xa;         // (B, n) forward: a; backward: db (or 0)
    uint64_t xb;         // (B, n) forward: b; backward: dout
    uint64_t table;      // (2N,): sqrt(abar) | sqrt(1 - abar), float32 as diffusers rounds them
    uint64_t timesteps;  // (B,) floats
    uint32_t n;          // floats per sample
    uint32_t total;      // B * n
    uint32_t N;          // train timesteps
    uint32_t op;
VKD_PUSH_END(vkd_sched_combine_push)
