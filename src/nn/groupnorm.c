// GroupNorm. Forward: small groups (and in-place use, and images of 1 or 2 pixels) run
// one team (subgroup or workgroup, see reduce_team.h) per group; larger groups run
// per-channel statistics (one team per (b, c): B*C-way parallel instead of B*G), a tiny
// merge per group and a normalizing pass (a team per channel again), the partial
// statistics parked in out. Backward: per-channel sums of dy and dy * xhat, a merge
// (parameter gradients and the per-group means of the input gradient), and a pass per
// channel for the input gradient.
#include "vkdream/nn/groupnorm.h"
#include "nn/groupnorm.h"
#include "vkd_shaders.h"
#include "nn/reduce_team.h"

// Groups of at most this many values run the single-kernel forward: two dispatches fewer,
// and at most 8 values per invocation when a workgroup takes the group.
#define DIRECT_MAX 2048

uint64_t vkd_groupnorm_backward_scratch_bytes(uint32_t B, uint32_t C, uint32_t G) {
    return (2 * (uint64_t)B * C + 2 * (uint64_t)B * G) * sizeof(float);
}

static bool check(vkd_stream* s, const char* op, uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t G) {
    if (G == 0 || C % G) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: the group count G = %u must divide the channel count C = %u", op, G,
                        C);
        return false;
    }
    uint64_t n = (uint64_t)B * C * H * W;
    if (n > UINT32_MAX - 256) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: B*C*H*W = %llu elements exceed the 32-bit index range", op,
                        (unsigned long long)n);
        return false;
    }
    return true;
}

void vkd_groupnorm_forward(vkd_stream* s, vkd_addr out, vkd_addr mean, vkd_addr rstd, vkd_addr inp, vkd_addr weight,
                           vkd_addr bias, uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t G, float eps,
                           bool silu) {
    if (!check(s, "groupnorm_forward", B, C, H, W, G)) return;
    uint32_t HW = H * W;
    if (!B || !C || !HW) return;
    if (!out || !mean || !rstd || !inp) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "groupnorm_forward: out, mean, rstd and inp must be device addresses (got 0)");
        return;
    }
    if (!(eps >= 0)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "groupnorm_forward: eps must be >= 0 (got %g)", (double)eps);
        return;
    }
    vkd_groupnorm_push p = {.dst = out, .src = inp, .weight = weight, .bias = bias, .mean = mean, .rstd = rstd,
                            .B = B, .C = C, .HW = HW, .G = G, .eps = eps};
    uint64_t group = (uint64_t)(C / G) * HW;
    if (group <= DIRECT_MAX || HW < 3 || out == inp) {
        vkd_team_plan t = vkd_team_plan_for(s, group, B * G);
        vkd_team_dispatch(s, VKD_KERNEL_SPEC(nn_groupnorm_fwd_direct, t.wg, t.sg, silu), &p, sizeof p, t);
        return;
    }
    vkd_team_plan t = vkd_team_plan_for(s, HW, B * C);
    vkd_team_dispatch(s, VKD_KERNEL_SPEC(nn_groupnorm_fwd_chan, t.wg, t.sg), &p, sizeof p, t);
    vkd_stream_dispatch_1d(s, VKD_KERNEL(nn_groupnorm_fwd_merge), &p, sizeof p, (uint64_t)B * G, 64);
    vkd_team_dispatch(s, VKD_KERNEL_SPEC(nn_groupnorm_fwd_apply, t.wg, t.sg, silu), &p, sizeof p, t);
}

void vkd_groupnorm_backward(vkd_stream* s, vkd_addr dinp, vkd_addr dweight, vkd_addr dbias, vkd_addr scratch,
                            vkd_addr dout, vkd_addr inp, vkd_addr weight, vkd_addr bias, vkd_addr mean, vkd_addr rstd,
                            uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t G, bool silu) {
    if (!check(s, "groupnorm_backward", B, C, H, W, G)) return;
    uint32_t HW = H * W;
    if (!B || !C || !HW || (!dinp && !dweight && !dbias)) return;
    if (!dout || !inp || !mean || !rstd) {
        vkd_stream_fail(s, VKD_ERR_INVALID,
                        "groupnorm_backward: dout, inp, mean and rstd must be device addresses (got 0)");
        return;
    }
    if (!scratch) {
        vkd_stream_fail(s, VKD_ERR_INVALID,
                        "groupnorm_backward: needs %llu bytes of scratch (vkd_groupnorm_backward_scratch_bytes), got 0",
                        (unsigned long long)vkd_groupnorm_backward_scratch_bytes(B, C, G));
        return;
    }
    vkd_groupnorm_push p = {.dst = dinp, .src = inp, .weight = weight, .bias = bias, .mean = mean, .rstd = rstd,
                            .dout = dout, .dweight = dweight, .dbias = dbias, .scratch = scratch,
                            .B = B, .C = C, .HW = HW, .G = G};
    vkd_team_plan t = vkd_team_plan_for(s, HW, B * C);
    vkd_team_dispatch(s, VKD_KERNEL_SPEC(nn_groupnorm_bwd_sums, t.wg, t.sg, silu), &p, sizeof p, t);
    vkd_stream_dispatch_1d(s, VKD_KERNEL(nn_groupnorm_bwd_merge), &p, sizeof p, (uint64_t)C + (dinp ? B * G : 0), 64);
    if (dinp) vkd_team_dispatch(s, VKD_KERNEL_SPEC(nn_groupnorm_bwd_data, t.wg, t.sg, silu), &p, sizeof p, t);
}
