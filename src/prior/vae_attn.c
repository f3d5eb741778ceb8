// The VAE mid-block attention and the posterior kernels; see include/vkdream/prior/vae.h.
#include "vkdream/prior/vae.h"
#include "vkdream/nn/attention.h"
#include "vkdream/nn/eltwise.h"
#include "vkdream/nn/groupnorm.h"
#include "vkdream/nn/matmul.h"
#include "vkdream/nn/softmax.h"
#include "prior/vae_posterior.h"
#include "vkd_shaders.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

vkd_status vkd_vae_attn_declare(vkd_vae_attn* m, vkd_params* p, const char* prefix, uint32_t C, uint32_t groups,
                                float eps, vkd_vae_attention mode, vkd_error* err) {
    memset(m, 0, sizeof(*m));
    if (!prefix) prefix = "";
    if (snprintf(m->prefix, sizeof m->prefix, "%s", prefix) >= (int)sizeof m->prefix)
        return vkd_error_set(err, VKD_ERR_INVALID, "vae attention %s: prefix too long", prefix);
    if (!C || !groups || C % groups)
        return vkd_error_set(err, VKD_ERR_INVALID, "vae attention %s: %u groups do not divide %u channels", prefix,
                             groups, C);
    m->C = C;
    m->groups = groups;
    m->eps = eps > 0 ? eps : 1e-6f;
    vkd_attention_desc ad = {.B = 1, .H = 1, .Tq = 1, .D = C}, r;
    char why[256];
    bool flash_ok = vkd_attention_resolve(&ad, &r, "vae attention", why, sizeof why);
    if (mode == VKD_VAE_ATTN_FLASH && !flash_ok)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s (%s); use the explicit attention mode", why, prefix);
    if (mode != VKD_VAE_ATTN_AUTO && mode != VKD_VAE_ATTN_FLASH && mode != VKD_VAE_ATTN_EXPLICIT)
        return vkd_error_set(err, VKD_ERR_INVALID, "vae attention %s: unknown mode %d", prefix, (int)mode);
    m->explicit_softmax = mode == VKD_VAE_ATTN_EXPLICIT || !flash_ok;
    int64_t c = C;
    vkd_status st = vkd_prior_param(p, &m->norm_w, err, 1, (int64_t[]){c}, prefix, "group_norm.weight");
    if (!st) st = vkd_prior_param(p, &m->norm_b, err, 1, (int64_t[]){c}, prefix, "group_norm.bias");
    if (!st) st = vkd_prior_param(p, &m->q_w, err, 2, (int64_t[]){c, c}, prefix, "to_q.weight");
    if (!st) st = vkd_prior_param(p, &m->q_b, err, 1, (int64_t[]){c}, prefix, "to_q.bias");
    if (!st) st = vkd_prior_param(p, &m->k_w, err, 2, (int64_t[]){c, c}, prefix, "to_k.weight");
    if (!st) st = vkd_prior_param(p, &m->k_b, err, 1, (int64_t[]){c}, prefix, "to_k.bias");
    if (!st) st = vkd_prior_param(p, &m->v_w, err, 2, (int64_t[]){c, c}, prefix, "to_v.weight");
    if (!st) st = vkd_prior_param(p, &m->v_b, err, 1, (int64_t[]){c}, prefix, "to_v.bias");
    if (!st) st = vkd_prior_param(p, &m->o_w, err, 2, (int64_t[]){c, c}, prefix, "to_out.0.weight");
    if (!st) st = vkd_prior_param(p, &m->o_b, err, 1, (int64_t[]){c}, prefix, "to_out.0.bias");
    return st;
}


// Scores S = q k^T (B, HW, HW) and O = P v (B, HW, C) for the explicit mode.
static vkd_matmul_desc score_desc(uint32_t B, uint32_t C, uint32_t HW) {
    return (vkd_matmul_desc){.M = (int32_t)HW, .N = (int32_t)HW, .K = (int32_t)C, .batch = (int32_t)B,
                             .trans_b = true};
}
static vkd_matmul_desc pv_desc(uint32_t B, uint32_t C, uint32_t HW) {
    return (vkd_matmul_desc){.M = (int32_t)HW, .N = (int32_t)C, .K = (int32_t)HW, .batch = (int32_t)B};
}

void vkd_vae_attn_forward(const vkd_vae_attn* m, const vkd_params* p, vkd_stream* s, vkd_arena* a, vkd_addr out,
                          vkd_addr x, uint32_t B, uint32_t H, uint32_t W, vkd_vae_attn_saved* saved) {
    uint32_t C = m->C, HW = H * W;
    if (!B || !HW) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "vae attention %s: empty input (B=%u H=%u W=%u)", m->prefix, B, H, W);
        return;
    }
    vkd_arena_mark mark = vkd_arena_push(a);
    uint64_t n = (uint64_t)B * C * HW;
    vkd_vae_attn_saved sv = {.B = B, .H = H, .W = W, .x = x};
    sv.mean = vkd_arena_alloc(a, s, (uint64_t)B * m->groups);
    sv.rstd = vkd_arena_alloc(a, s, (uint64_t)B * m->groups);
    sv.hn = vkd_arena_alloc(a, s, n);
    sv.q = vkd_arena_alloc(a, s, n);
    sv.k = vkd_arena_alloc(a, s, n);
    sv.v = vkd_arena_alloc(a, s, n);
    sv.o = vkd_arena_alloc(a, s, n);
    if (m->explicit_softmax)
        sv.prob = vkd_arena_alloc(a, s, (uint64_t)B * HW * HW);
    else
        sv.lse = vkd_arena_alloc(a, s, (uint64_t)B * HW);
    if (!sv.o || (!sv.prob && !sv.lse)) {
        vkd_arena_pop(a, mark);
        return;
    }
    vkd_groupnorm_forward(s, sv.hn, sv.mean, sv.rstd, x, vkd_params_addr(p, m->norm_w), vkd_params_addr(p, m->norm_b),
                          B, C, H, W, m->groups, m->eps, false);
    // q, k and v have one shape, hence one storage type.
    vkd_matmul_desc pd = vkd_prior_tokens_in_desc(B, C, HW, vkd_params_is_f16(p, m->q_w));
    vkd_matmul_forward(s, sv.q, sv.hn, vkd_params_addr(p, m->q_w), vkd_params_addr(p, m->q_b), &pd);
    vkd_matmul_forward(s, sv.k, sv.hn, vkd_params_addr(p, m->k_w), vkd_params_addr(p, m->k_b), &pd);
    vkd_matmul_forward(s, sv.v, sv.hn, vkd_params_addr(p, m->v_w), vkd_params_addr(p, m->v_b), &pd);
    if (m->explicit_softmax) {
        vkd_matmul_desc sd = score_desc(B, C, HW), od = pv_desc(B, C, HW);
        vkd_matmul_forward(s, sv.prob, sv.q, sv.k, 0, &sd);
        vkd_softmax_forward(s, sv.prob, sv.prob, B * HW, HW, 1.0f / sqrtf((float)C), false);
        vkd_matmul_forward(s, sv.o, sv.prob, sv.v, 0, &od);
    } else {
        vkd_attention_desc ad = {.B = B, .H = 1, .Tq = HW, .D = C};
        vkd_attention_forward(s, sv.o, sv.lse, sv.q, sv.k, sv.v, &ad);
    }
    vkd_matmul_desc od = vkd_prior_tokens_out_desc(B, C, HW, vkd_params_is_f16(p, m->o_w));
    vkd_matmul_forward(s, out, vkd_params_addr(p, m->o_w), sv.o, vkd_params_addr(p, m->o_b), &od);
    vkd_binary_forward(s, out, out, x, (uint32_t)n, VKD_BINARY_ADD);
    if (saved)
        *saved = sv;
    else
        vkd_arena_pop(a, mark);
}

void vkd_vae_attn_backward(const vkd_vae_attn* m, const vkd_params* p, vkd_stream* s, vkd_arena* a, vkd_addr dx,
                           vkd_addr dout, const vkd_vae_attn_saved* sv) {
    uint32_t B = sv->B, H = sv->H, W = sv->W, C = m->C, HW = H * W;
    uint64_t n = (uint64_t)B * C * HW;
    vkd_arena_mark mark = vkd_arena_push(a);
    if (dx) vkd_binary_backward(s, dx, 0, dout, 0, 0, (uint32_t)n, VKD_BINARY_ADD); // the residual
    bool need_hn = dx || vkd_params_grad(p, m->norm_w);
    bool need_qkv = need_hn || vkd_params_grad(p, m->q_w) || vkd_params_grad(p, m->k_w) || vkd_params_grad(p, m->v_w);
    vkd_addr d_o = vkd_arena_zeros(a, s, n);
    vkd_matmul_desc od = vkd_prior_tokens_out_desc(B, C, HW, vkd_params_is_f16(p, m->o_w));
    vkd_matmul_backward(s, vkd_params_grad(p, m->o_w), d_o, vkd_params_grad(p, m->o_b), dout,
                        vkd_params_addr(p, m->o_w), sv->o, &od);
    if (!need_qkv || !d_o) {
        vkd_arena_pop(a, mark);
        return;
    }
    vkd_addr dq = vkd_arena_zeros(a, s, n), dk = vkd_arena_zeros(a, s, n), dv = vkd_arena_zeros(a, s, n);
    if (m->explicit_softmax) {
        vkd_addr dprob = vkd_arena_zeros(a, s, (uint64_t)B * HW * HW);
        vkd_addr dscore = vkd_arena_zeros(a, s, (uint64_t)B * HW * HW);
        vkd_matmul_desc sd = score_desc(B, C, HW), pd = pv_desc(B, C, HW);
        vkd_matmul_backward(s, dprob, dv, 0, d_o, sv->prob, sv->v, &pd);
        vkd_softmax_backward(s, dscore, dprob, sv->prob, B * HW, HW, 1.0f / sqrtf((float)C));
        vkd_matmul_backward(s, dq, dk, 0, dscore, sv->q, sv->k, &sd);
    } else {
        vkd_addr delta = vkd_arena_alloc(a, s, (uint64_t)B * HW);
        vkd_attention_desc ad = {.B = B, .H = 1, .Tq = HW, .D = C};
        vkd_attention_backward(s, dq, dk, dv, delta, d_o, sv->q, sv->k, sv->v, sv->o, sv->lse, &ad);
    }
    vkd_addr dhn = need_hn ? vkd_arena_zeros(a, s, n) : 0;
    // q, k and v have one shape, hence one storage type.
    vkd_matmul_desc pd = vkd_prior_tokens_in_desc(B, C, HW, vkd_params_is_f16(p, m->q_w));
    vkd_matmul_backward(s, dhn, vkd_params_grad(p, m->q_w), vkd_params_grad(p, m->q_b), dq, sv->hn,
                        vkd_params_addr(p, m->q_w), &pd);
    vkd_matmul_backward(s, dhn, vkd_params_grad(p, m->k_w), vkd_params_grad(p, m->k_b), dk, sv->hn,
                        vkd_params_addr(p, m->k_w), &pd);
    vkd_matmul_backward(s, dhn, vkd_params_grad(p, m->v_w), vkd_params_grad(p, m->v_b), dv, sv->hn,
                        vkd_params_addr(p, m->v_w), &pd);
    if (dhn) {
        uint64_t bytes = vkd_groupnorm_backward_scratch_bytes(B, C, m->groups);
        vkd_addr scratch = vkd_arena_alloc(a, s, (bytes + 3) / 4);
        vkd_groupnorm_backward(s, dx, vkd_params_grad(p, m->norm_w), vkd_params_grad(p, m->norm_b), scratch, dhn,
                               sv->x, vkd_params_addr(p, m->norm_w), vkd_params_addr(p, m->norm_b), sv->mean, sv->rstd,
                               B, C, H, W, m->groups, false);
    }
    vkd_arena_pop(a, mark);
}

void vkd_vae_posterior_forward(vkd_stream* s, vkd_addr mean, vkd_addr logvar, vkd_addr std_, vkd_addr z,
                               vkd_addr moments, vkd_addr noise, uint32_t B, uint32_t L, uint32_t hw) {
    if (z && !noise) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "vae posterior: a sample z needs noise");
        return;
    }
    uint64_t n = (uint64_t)B * L * hw;
    if (n > UINT32_MAX) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "vae posterior: %llu elements exceed 2^32", (unsigned long long)n);
        return;
    }
    vkd_vae_posterior_push pc = {.mean = mean, .logvar = logvar, .std_ = std_, .z = z, .moments = moments,
                                 .noise = noise, .L = L, .HW = hw, .n = (uint32_t)n};
    if (n) vkd_stream_dispatch_1d(s, VKD_KERNEL(prior_vae_posterior_fwd), &pc, sizeof pc, n, 256);
}

void vkd_vae_posterior_backward(vkd_stream* s, vkd_addr dmoments, vkd_addr dmean, vkd_addr dlogvar, vkd_addr dstd,
                                vkd_addr dz, vkd_addr moments, vkd_addr noise, uint32_t B, uint32_t L, uint32_t hw) {
    if (dz && !noise) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "vae posterior backward: dz needs the forward's noise");
        return;
    }
    uint64_t n = (uint64_t)B * L * hw;
    if (n > UINT32_MAX) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "vae posterior: %llu elements exceed 2^32", (unsigned long long)n);
        return;
    }
    vkd_vae_posterior_push pc = {.moments = moments, .noise = noise, .dmoments = dmoments, .dmean = dmean,
                                 .dlogvar = dlogvar, .dstd = dstd, .dz = dz, .L = L, .HW = hw, .n = (uint32_t)n};
    if (n && dmoments) vkd_stream_dispatch_1d(s, VKD_KERNEL(prior_vae_posterior_bwd), &pc, sizeof pc, n, 256);
}
