// LayerNorm: the forward and the input gradient run one team (a subgroup, or a workgroup
// for long rows on GPUs, see reduce_team.h) per row; the parameter gradients
// are column sums over rows, split into row blocks whose partials a second kernel adds
// in a fixed order (the split count depends on N and C alone).
#include "vkdream/nn/layernorm.h"
#include "nn/layernorm.h"
#include "vkd_shaders.h"
#include "nn/reduce_team.h"

typedef struct param_plan {
    uint32_t tx, ty, col_tiles, rows, splits;
} param_plan;

static param_plan plan_param(uint32_t N, uint32_t C) {
    param_plan r = {.tx = 1};
    while (r.tx < 32 && r.tx < C) r.tx <<= 1;
    r.ty = VKD_LAYERNORM_PARAM_WG / r.tx;
    r.col_tiles = (uint32_t)(((uint64_t)C + r.tx - 1) / r.tx);
    uint64_t per_split = (uint64_t)r.ty * VKD_LAYERNORM_ROWS_PER_THREAD;
    uint64_t splits = ((uint64_t)N + per_split - 1) / per_split;
    uint64_t cap = r.col_tiles ? 8192 / r.col_tiles : 1;
    if (cap > VKD_LAYERNORM_MAX_SPLITS) cap = VKD_LAYERNORM_MAX_SPLITS;
    if (splits > cap) splits = cap;
    if (splits < 1) splits = 1;
    r.rows = (uint32_t)(((uint64_t)N + splits - 1) / splits);
    if (r.rows == 0) r.rows = 1;
    r.splits = (uint32_t)(((uint64_t)N + r.rows - 1) / r.rows);
    if (r.splits == 0) r.splits = 1;
    return r;
}

uint64_t vkd_layernorm_backward_scratch_bytes(uint32_t N, uint32_t C) {
    param_plan r = plan_param(N, C);
    return r.splits > 1 ? (uint64_t)r.splits * 2 * C * sizeof(float) : 0;
}

static bool check(vkd_stream* s, const char* op, uint32_t N, uint32_t C) {
    if ((uint64_t)N * C > UINT32_MAX) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: N * C = %llu elements exceed the 32-bit index range", op,
                        (unsigned long long)N * C);
        return false;
    }
    return true;
}

void vkd_layernorm_forward(vkd_stream* s, vkd_addr out, vkd_addr mean, vkd_addr rstd, vkd_addr inp, vkd_addr weight,
                           vkd_addr bias, uint32_t N, uint32_t C, float eps) {
    if (!N || !C || !check(s, "layernorm_forward", N, C)) return;
    if (!out || !mean || !rstd || !inp) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "layernorm_forward: out, mean, rstd and inp must be device addresses (got 0)");
        return;
    }
    if (!(eps >= 0)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "layernorm_forward: eps must be >= 0 (got %g)", (double)eps);
        return;
    }
    vkd_layernorm_push p = {.dst = out, .src = inp, .weight = weight, .bias = bias, .mean = mean, .rstd = rstd,
                            .N = N, .C = C, .eps = eps};
    vkd_team_plan t = vkd_team_plan_for(s, C, N);
    vkd_team_dispatch(s, VKD_KERNEL_SPEC(nn_layernorm_fwd, t.wg, t.sg), &p, sizeof p, t);
}

void vkd_layernorm_backward(vkd_stream* s, vkd_addr dinp, vkd_addr dweight, vkd_addr dbias, vkd_addr scratch,
                            vkd_addr dout, vkd_addr inp, vkd_addr weight, vkd_addr mean, vkd_addr rstd, uint32_t N,
                            uint32_t C) {
    if (!N || !C || (!dinp && !dweight && !dbias) || !check(s, "layernorm_backward", N, C)) return;
    if (!dout || !inp || !mean || !rstd) {
        vkd_stream_fail(s, VKD_ERR_INVALID,
                        "layernorm_backward: dout, inp, mean and rstd must be device addresses (got 0)");
        return;
    }
    vkd_layernorm_push p = {.dst = dinp, .src = inp, .weight = weight, .mean = mean, .rstd = rstd, .dout = dout,
                            .dweight = dweight, .dbias = dbias, .scratch = scratch, .N = N, .C = C};
    if (dweight || dbias) {
        param_plan r = plan_param(N, C);
        const uint32_t* lim = vkd_gpu_get_info(vkd_stream_gpu(s))->max_workgroup_count;
        if (r.col_tiles > lim[0]) {
            vkd_stream_fail(s, VKD_ERR_INVALID, "layernorm_backward: C = %u needs %u workgroups along x, device limit %u",
                            C, r.col_tiles, lim[0]);
            return;
        }
        if (r.splits > 1 && !scratch) {
            vkd_stream_fail(s, VKD_ERR_INVALID,
                            "layernorm_backward: N = %u, C = %u needs %llu bytes of scratch "
                            "(vkd_layernorm_backward_scratch_bytes), got 0",
                            N, C, (unsigned long long)vkd_layernorm_backward_scratch_bytes(N, C));
            return;
        }
        p.rows = r.rows;
        p.splits = r.splits;
        vkd_stream_dispatch(s, VKD_KERNEL_SPEC(nn_layernorm_bwd_param, r.tx, r.ty), &p, sizeof p, r.col_tiles,
                            r.splits, 1);
        if (r.splits > 1)
            vkd_stream_dispatch_1d(s, VKD_KERNEL(nn_layernorm_bwd_param_final), &p, sizeof p, C, 64);
    }
    if (dinp) {
        vkd_team_plan t = vkd_team_plan_for(s, C, N);
        vkd_team_dispatch(s, VKD_KERNEL_SPEC(nn_layernorm_bwd_data, t.wg, t.sg), &p, sizeof p, t);
    }
}
