// Full sums: pass 1 has up to VKD_REDUCE_MAX_GROUPS workgroups each write a partial sum
// of its grid-strided share, pass 2 is one workgroup over the partials; the workgroup
// count depends on n alone, so the summation order (and the result, bit for bit) is a
// function of n and the device. Column sums split the rows the same way.
#include "vkdream/nn/reduce.h"
#include "nn/reduce.h"
#include "vkd_shaders.h"

#include <math.h>

enum { MODE_SUM = 0, MODE_SQDIFF = 1 };

static uint32_t sum_groups(uint32_t n) {
    uint64_t g = ((uint64_t)n + VKD_REDUCE_ITEMS - 1) / VKD_REDUCE_ITEMS;
    if (g < 1) g = 1;
    if (g > VKD_REDUCE_MAX_GROUPS) g = VKD_REDUCE_MAX_GROUPS;
    return (uint32_t)g;
}

uint64_t vkd_sum_scratch_bytes(uint32_t n) {
    uint32_t g = sum_groups(n);
    return g > 1 ? (uint64_t)g * sizeof(float) : 0;
}

static bool aligned16(vkd_addr a) { return a % 16 == 0; }

static void full_reduce(vkd_stream* s, const char* op, uint32_t mode, vkd_addr out, vkd_addr scratch, vkd_addr a,
                        vkd_addr b, uint32_t n, float scale, bool accumulate) {
    if (!out || (n && !a) || (n && mode == MODE_SQDIFF && !b)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: out, inp%s must be device addresses (got 0)", op,
                        mode == MODE_SQDIFF ? " and b" : "");
        return;
    }
    uint32_t groups = sum_groups(n);
    if (groups > 1 && !scratch) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: n = %u needs %llu bytes of scratch (vkd_sum_scratch_bytes), got 0",
                        op, n, (unsigned long long)vkd_sum_scratch_bytes(n));
        return;
    }
    bool vec4 = aligned16(a) && (mode != MODE_SQDIFF || aligned16(b));
    vkd_reduce_push p = {.dst = groups > 1 ? scratch : out,
                         .a = a,
                         .b = b,
                         .n = n,
                         .scale = scale,
                         .accumulate = accumulate,
                         .final = groups == 1};
    vkd_stream_dispatch(s, VKD_KERNEL_SPEC(nn_reduce_sum, mode, vec4), &p, sizeof p, groups, 1, 1);
    if (groups == 1) return;
    vkd_reduce_push q = {.dst = out, .a = scratch, .n = groups, .scale = scale, .accumulate = accumulate, .final = 1};
    vkd_stream_dispatch(s, VKD_KERNEL_SPEC(nn_reduce_sum, MODE_SUM, aligned16(scratch)), &q, sizeof q, 1, 1, 1);
}

static void broadcast_add(vkd_stream* s, const char* op, vkd_addr dinp, vkd_addr dout, uint64_t n, uint32_t C,
                          float scale) {
    if (n == 0) return;
    if (!dinp || !dout) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: dinp and dout must be device addresses (got 0)", op);
        return;
    }
    if (n > UINT32_MAX - 256) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: %llu elements exceed the 32-bit index range", op,
                        (unsigned long long)n);
        return;
    }
    vkd_reduce_bwd_push p = {.dinp = dinp, .dout = dout, .n = (uint32_t)n, .C = C, .scale = scale};
    vkd_stream_dispatch_1d(s, VKD_KERNEL(nn_reduce_bcast), &p, sizeof p, n, 256);
}

void vkd_sum_forward(vkd_stream* s, vkd_addr out, vkd_addr scratch, vkd_addr inp, uint32_t n, bool accumulate) {
    full_reduce(s, "sum_forward", MODE_SUM, out, scratch, inp, 0, n, 1.0f, accumulate);
}

void vkd_sum_backward(vkd_stream* s, vkd_addr dinp, vkd_addr dout, uint32_t n) {
    broadcast_add(s, "sum_backward", dinp, dout, n, 1, 1.0f);
}

void vkd_mean_forward(vkd_stream* s, vkd_addr out, vkd_addr scratch, vkd_addr inp, uint32_t n, bool accumulate) {
    full_reduce(s, "mean_forward", MODE_SUM, out, scratch, inp, 0, n, n ? (float)(1.0 / n) : NAN, accumulate);
}

void vkd_mean_backward(vkd_stream* s, vkd_addr dinp, vkd_addr dout, uint32_t n) {
    broadcast_add(s, "mean_backward", dinp, dout, n, 1, n ? (float)(1.0 / n) : 0.0f);
}

void vkd_mse_loss_forward(vkd_stream* s, vkd_addr loss, vkd_addr scratch, vkd_addr a, vkd_addr b, uint32_t n) {
    full_reduce(s, "mse_loss_forward", MODE_SQDIFF, loss, scratch, a, b, n, n ? (float)(1.0 / n) : NAN, false);
}

void vkd_mse_loss_backward(vkd_stream* s, vkd_addr da, vkd_addr db, vkd_addr dloss, vkd_addr a, vkd_addr b,
                           uint32_t n) {
    if (n == 0 || (!da && !db)) return;
    if (!dloss || !a || !b) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "mse_loss_backward: dloss, a and b must be device addresses (got 0)");
        return;
    }
    vkd_reduce_bwd_push p = {.dinp = da, .db = db, .dout = dloss, .a = a, .b = b, .n = n, .scale = (float)(2.0 / n)};
    vkd_stream_dispatch_1d(s, VKD_KERNEL(nn_reduce_mse_bwd), &p, sizeof p, n, 256);
}

// ---------------------------------------------------------------------------
// Column sums

typedef struct rows_plan {
    uint32_t tx, ty;      // columns x row lanes of a workgroup
    uint32_t col_tiles;   // ceil(C / tx)
    uint32_t rows;        // rows per split
    uint32_t splits;
} rows_plan;

// Narrow matrices get narrow tiles (TX = the next power of two >= C, up to 32) and more
// row lanes, so no workgroup is mostly idle. Splits give ~VKD_REDUCE_ROWS_PER_THREAD rows
// to each row lane, capped so the partials stay small.
static rows_plan plan_rows(uint32_t N, uint32_t C) {
    rows_plan r = {.tx = 1};
    while (r.tx < 32 && r.tx < C) r.tx <<= 1;
    r.ty = VKD_REDUCE_ROWS_WG / r.tx;
    r.col_tiles = (uint32_t)(((uint64_t)C + r.tx - 1) / r.tx);
    uint64_t per_split = (uint64_t)r.ty * VKD_REDUCE_ROWS_PER_THREAD;
    uint64_t splits = ((uint64_t)N + per_split - 1) / per_split;
    uint64_t cap = r.col_tiles ? 8192 / r.col_tiles : 1;
    if (cap > VKD_REDUCE_ROWS_MAX_SPLITS) cap = VKD_REDUCE_ROWS_MAX_SPLITS;
    if (splits > cap) splits = cap;
    if (splits < 1) splits = 1;
    r.rows = (uint32_t)(((uint64_t)N + splits - 1) / splits);
    if (r.rows == 0) r.rows = 1;
    r.splits = (uint32_t)(((uint64_t)N + r.rows - 1) / r.rows);  // no empty split
    if (r.splits == 0) r.splits = 1;
    return r;
}

uint64_t vkd_sum_rows_scratch_bytes(uint32_t N, uint32_t C) {
    rows_plan r = plan_rows(N, C);
    return r.splits > 1 ? (uint64_t)r.splits * C * sizeof(float) : 0;
}

void vkd_sum_rows_forward(vkd_stream* s, vkd_addr out, vkd_addr scratch, vkd_addr inp, uint32_t N, uint32_t C,
                          bool accumulate) {
    if (C == 0) return;
    if (!out || (N && !inp)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "sum_rows_forward: out and inp must be device addresses (got 0)");
        return;
    }
    if ((uint64_t)N * C > UINT32_MAX) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "sum_rows_forward: N * C = %llu elements exceed the 32-bit index range",
                        (unsigned long long)N * C);
        return;
    }
    rows_plan r = plan_rows(N, C);
    const uint32_t* lim = vkd_gpu_get_info(vkd_stream_gpu(s))->max_workgroup_count;
    if (r.col_tiles > lim[0]) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "sum_rows_forward: C = %u needs %u workgroups along x, device limit %u", C,
                        r.col_tiles, lim[0]);
        return;
    }
    if (r.splits > 1 && !scratch) {
        vkd_stream_fail(s, VKD_ERR_INVALID,
                        "sum_rows_forward: N = %u, C = %u needs %llu bytes of scratch (vkd_sum_rows_scratch_bytes), got 0",
                        N, C, (unsigned long long)vkd_sum_rows_scratch_bytes(N, C));
        return;
    }
    vkd_reduce_rows_push p = {.dst = r.splits > 1 ? scratch : out,
                              .src = inp,
                              .N = N,
                              .C = C,
                              .rows = r.rows,
                              .splits = r.splits,
                              .accumulate = accumulate,
                              .final = r.splits == 1};
    vkd_stream_dispatch(s, VKD_KERNEL_SPEC(nn_reduce_rows, r.tx, r.ty), &p, sizeof p, r.col_tiles, r.splits, 1);
    if (r.splits == 1) return;
    vkd_reduce_rows_push q = {.dst = out, .src = scratch, .N = N, .C = C, .splits = r.splits,
                              .accumulate = accumulate, .final = 1};
    vkd_stream_dispatch_1d(s, VKD_KERNEL(nn_reduce_rows_final), &q, sizeof q, C, 64);
}

void vkd_sum_rows_backward(vkd_stream* s, vkd_addr dinp, vkd_addr dout, uint32_t N, uint32_t C) {
    if (C == 0) return;
    broadcast_add(s, "sum_rows_backward", dinp, dout, (uint64_t)N * C, C, 1.0f);
}
