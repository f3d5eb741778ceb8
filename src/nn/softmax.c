// Softmax rows: one team per row (a subgroup, several rows per workgroup, or a workgroup
// for long rows on GPUs), see reduce_team.h.
#include "vkdream/nn/softmax.h"
#include "nn/softmax.h"
#include "vkd_shaders.h"
#include "nn/reduce_team.h"

static bool check(vkd_stream* s, const char* op, uint32_t N, uint32_t C) {
    if ((uint64_t)N * C > UINT32_MAX) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: N * C = %llu elements exceed the 32-bit index range", op,
                        (unsigned long long)N * C);
        return false;
    }
    return true;
}

void vkd_softmax_forward(vkd_stream* s, vkd_addr out, vkd_addr inp, uint32_t N, uint32_t C, float scale,
                         bool causal) {
    if (!N || !C || !check(s, "softmax_forward", N, C)) return;
    if (!out || !inp) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "softmax_forward: out and inp must be device addresses (got 0)");
        return;
    }
    vkd_softmax_push p = {.dst = out, .src = inp, .N = N, .C = C, .scale = scale, .causal = causal};
    vkd_team_plan t = vkd_team_plan_for(s, C, N);
    vkd_team_dispatch(s, VKD_KERNEL_SPEC(nn_softmax_fwd, t.wg, t.sg), &p, sizeof p, t);
}

void vkd_softmax_backward(vkd_stream* s, vkd_addr dinp, vkd_addr dout, vkd_addr out, uint32_t N, uint32_t C,
                          float scale) {
    if (!N || !C || !dinp || !check(s, "softmax_backward", N, C)) return;
    if (!dout || !out) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "softmax_backward: dout and out must be device addresses (got 0)");
        return;
    }
    vkd_softmax_push p = {.dst = dinp, .src = out, .dout = dout, .N = N, .C = C, .scale = scale};
    vkd_team_plan t = vkd_team_plan_for(s, C, N);
    vkd_team_dispatch(s, VKD_KERNEL_SPEC(nn_softmax_bwd, t.wg, t.sg), &p, sizeof p, t);
}
