// Push constants of the reductions: full sums (sum, mean, MSE loss) in at most two
// passes, column sums of (N, C) matrices, and their backward broadcasts.
#ifndef VKD_SHADERS_NN_REDUCE_H
#define VKD_SHADERS_NN_REDUCE_H
#include "common.h"

// Full reductions: invocations per workgroup, at most this many first-pass workgroups
// (= floats of scratch), and elements per workgroup below which one workgroup does it
// all. Fixed (not device choices), so the summation order depends on n alone.
#define VKD_REDUCE_WG 256
#define VKD_REDUCE_MAX_GROUPS 1024
#define VKD_REDUCE_ITEMS 4096
// Column sums: invocations per workgroup, rows each invocation sums per split (target),
// and at most this many splits of the rows.
#define VKD_REDUCE_ROWS_WG 256
#define VKD_REDUCE_ROWS_PER_THREAD 32
#define VKD_REDUCE_ROWS_MAX_SPLITS 2048

VKD_PUSH_BEGIN(vkd_reduce_push)
    uint64_t dst;        // final: (1,) result; else (groups,) partial sums
    uint64_t a;          // (n,)
    uint64_t b;          // (n,) MSE only
    uint32_t n;
    float scale;         // final: dst = scale * total (+ dst when accumulate)
    uint32_t accumulate;
    uint32_t final;      // 1: this pass writes the result
VKD_PUSH_END(vkd_reduce_push)

VKD_PUSH_BEGIN(vkd_reduce_rows_push)
    uint64_t dst;        // final: (C,) sums; else (splits, C) partial sums
    uint64_t src;        // reduce_rows: (N, C); reduce_rows_final: (splits, C)
    uint32_t N, C;
    uint32_t rows;       // rows per split
    uint32_t splits;
    uint32_t accumulate;
    uint32_t final;
VKD_PUSH_END(vkd_reduce_rows_push)

// Backward broadcasts: dinp[i] += scale * dout[i % C] (sum, mean, column sums), and the
// MSE loss gradient da += k (a - b), db -= k (a - b) with k = scale * dloss[0].
VKD_PUSH_BEGIN(vkd_reduce_bwd_push)
    uint64_t dinp;       // (n,) or da
    uint64_t db;         // MSE: (n,) or 0
    uint64_t dout;       // (C,) or dloss (1,)
    uint64_t a;          // MSE: (n,)
    uint64_t b;          // MSE: (n,)
    uint32_t n;
    uint32_t C;
    float scale;
VKD_PUSH_END(vkd_reduce_bwd_push)

#endif
