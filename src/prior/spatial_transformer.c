// Transformer2DModel (one BasicTransformerBlock) with optional LoRA; see
// include/vkdream/prior/unet_cond.h.
//
//   hn = GroupNorm(x)                       (B, C, HW)
//   x0 = proj_in(hn^T)                      tokens (B*HW, C): a 1x1 conv and a Linear are the same math
//   x1 = x0 + attn1(LN1(x0))                self-attention
//   x2 = x1 + attn2(LN2(x1), ctx)           cross-attention
//   x3 = x2 + ff2(GEGLU(ff1(LN3(x2))))
//   out = proj_out(x3)^T + x                (B, C, HW)
#include "vkdream/prior/unet_cond.h"
#include "vkdream/nn/attention.h"
#include "vkdream/nn/eltwise.h"
#include "vkdream/nn/groupnorm.h"
#include "vkdream/nn/layernorm.h"
#include "vkdream/nn/linear.h"
#include "vkdream/nn/matmul.h"

#include <stdio.h>
#include <string.h>

static vkd_status declare_proj(vkd_proj* pr, vkd_params* p, vkd_params* lora, const char* prefix, const char* name,
                               uint32_t in, uint32_t out, bool bias, uint32_t rank, vkd_error* err) {
    char local[96];
    pr->in = in, pr->out = out;
    pr->b = pr->down = pr->up = UINT32_MAX;
    snprintf(local, sizeof local, "%s.weight", name);
    vkd_status st = vkd_prior_param(p, &pr->w, err, 2, (int64_t[]){out, in}, prefix, local);
    if (!st && bias) {
        snprintf(local, sizeof local, "%s.bias", name);
        st = vkd_prior_param(p, &pr->b, err, 1, (int64_t[]){out}, prefix, local);
    }
    if (!st && rank) {
        // diffusers' attention-processor LoRA names: attn1.processor.to_q_lora.down.weight
        const char* dot = strrchr(prefix, '.');
        (void)dot;
        char base[64];
        snprintf(base, sizeof base, "%s", name);
        char* d = strchr(base, '.');  // "to_out.0" -> "to_out"
        if (d) *d = 0;
        snprintf(local, sizeof local, "processor.%s_lora.down.weight", base);
        st = vkd_prior_param(lora, &pr->down, err, 2, (int64_t[]){rank, in}, prefix, local);
        snprintf(local, sizeof local, "processor.%s_lora.up.weight", base);
        if (!st) st = vkd_prior_param(lora, &pr->up, err, 2, (int64_t[]){out, rank}, prefix, local);
    }
    return st;
}

static vkd_addr P(const vkd_params* p, uint32_t i) { return i == UINT32_MAX ? 0 : vkd_params_addr(p, i); }
static vkd_addr G(const vkd_params* p, uint32_t i) { return i == UINT32_MAX || !p ? 0 : vkd_params_grad(p, i); }
static bool F16(const vkd_params* p, uint32_t i) { return p && vkd_params_is_f16(p, i); }  // stored as fp16

vkd_status vkd_xformer_declare(vkd_xformer* m, vkd_params* p, vkd_params* lora, const char* prefix,
                               const vkd_xformer_desc* d, vkd_error* err) {
    memset(m, 0, sizeof(*m));
    m->d = *d;
    if (!m->d.groups) m->d.groups = 32;
    if (!m->d.lora_alpha) m->d.lora_alpha = (float)m->d.lora_rank;
    if (snprintf(m->prefix, sizeof m->prefix, "%s", prefix ? prefix : "") >= (int)sizeof m->prefix)
        return vkd_error_set(err, VKD_ERR_INVALID, "transformer %s: prefix too long", prefix);
    uint32_t C = d->channels, r = d->lora_rank;
    if (!C || !d->heads || C % d->heads || C % m->d.groups || !d->context_dim)
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "transformer %s: %u channels must be a multiple of the %u heads and %u groups, "
                             "context width %u",
                             m->prefix, C, d->heads, m->d.groups, d->context_dim);
    if (r && !lora)
        return vkd_error_set(err, VKD_ERR_INVALID, "transformer %s: LoRA rank %u needs a LoRA parameter set",
                             m->prefix, r);
    int64_t c = C;
    const char* px = m->prefix;
    vkd_status st = vkd_prior_param(p, &m->norm_w, err, 1, (int64_t[]){c}, px, "norm.weight");
    if (!st) st = vkd_prior_param(p, &m->norm_b, err, 1, (int64_t[]){c}, px, "norm.bias");
    if (d->linear_projection) {
        if (!st) st = vkd_prior_param(p, &m->proj_in_w, err, 2, (int64_t[]){c, c}, px, "proj_in.weight");
        if (!st) st = vkd_prior_param(p, &m->proj_out_w, err, 2, (int64_t[]){c, c}, px, "proj_out.weight");
    } else {
        if (!st) st = vkd_prior_param(p, &m->proj_in_w, err, 4, (int64_t[]){c, c, 1, 1}, px, "proj_in.weight");
        if (!st) st = vkd_prior_param(p, &m->proj_out_w, err, 4, (int64_t[]){c, c, 1, 1}, px, "proj_out.weight");
    }
    if (!st) st = vkd_prior_param(p, &m->proj_in_b, err, 1, (int64_t[]){c}, px, "proj_in.bias");
    if (!st) st = vkd_prior_param(p, &m->proj_out_b, err, 1, (int64_t[]){c}, px, "proj_out.bias");
    char bp[VKD_MODULE_PREFIX_MAX + 32];
    snprintf(bp, sizeof bp, "%stransformer_blocks.0.", px);
    if (!st) st = vkd_prior_param(p, &m->ln1_w, err, 1, (int64_t[]){c}, bp, "norm1.weight");
    if (!st) st = vkd_prior_param(p, &m->ln1_b, err, 1, (int64_t[]){c}, bp, "norm1.bias");
    if (!st) st = vkd_prior_param(p, &m->ln2_w, err, 1, (int64_t[]){c}, bp, "norm2.weight");
    if (!st) st = vkd_prior_param(p, &m->ln2_b, err, 1, (int64_t[]){c}, bp, "norm2.bias");
    if (!st) st = vkd_prior_param(p, &m->ln3_w, err, 1, (int64_t[]){c}, bp, "norm3.weight");
    if (!st) st = vkd_prior_param(p, &m->ln3_b, err, 1, (int64_t[]){c}, bp, "norm3.bias");
    char a1[VKD_MODULE_PREFIX_MAX + 48], a2[VKD_MODULE_PREFIX_MAX + 48];
    snprintf(a1, sizeof a1, "%sattn1.", bp);
    snprintf(a2, sizeof a2, "%sattn2.", bp);
    uint32_t Dc = d->context_dim;
    if (!st) st = declare_proj(&m->q1, p, lora, a1, "to_q", C, C, false, r, err);
    if (!st) st = declare_proj(&m->k1, p, lora, a1, "to_k", C, C, false, r, err);
    if (!st) st = declare_proj(&m->v1, p, lora, a1, "to_v", C, C, false, r, err);
    if (!st) st = declare_proj(&m->o1, p, lora, a1, "to_out.0", C, C, true, r, err);
    if (!st) st = declare_proj(&m->q2, p, lora, a2, "to_q", C, C, false, r, err);
    if (!st) st = declare_proj(&m->k2, p, lora, a2, "to_k", Dc, C, false, r, err);
    if (!st) st = declare_proj(&m->v2, p, lora, a2, "to_v", Dc, C, false, r, err);
    if (!st) st = declare_proj(&m->o2, p, lora, a2, "to_out.0", C, C, true, r, err);
    if (!st) st = vkd_prior_param(p, &m->ff1_w, err, 2, (int64_t[]){8 * c, c}, bp, "ff.net.0.proj.weight");
    if (!st) st = vkd_prior_param(p, &m->ff1_b, err, 1, (int64_t[]){8 * c}, bp, "ff.net.0.proj.bias");
    if (!st) st = vkd_prior_param(p, &m->ff2_w, err, 2, (int64_t[]){c, 4 * c}, bp, "ff.net.2.weight");
    if (!st) st = vkd_prior_param(p, &m->ff2_b, err, 1, (int64_t[]){c}, bp, "ff.net.2.bias");
    return st;
}

// out (N, O) = x W^T + b [+ scale * (x D^T) U^T]; *t receives x D^T (N, r) for the backward.
static void proj_fwd(const vkd_xformer* m, const vkd_proj* pr, const vkd_params* p, const vkd_params* lora,
                     vkd_stream* s, vkd_arena* a, vkd_addr out, vkd_addr x, uint32_t N, vkd_addr* t) {
    vkd_linear_forward(s, out, x, P(p, pr->w), P(p, pr->b), N, pr->in, pr->out, F16(p, pr->w));
    if (pr->down == UINT32_MAX) return;
    uint32_t r = m->d.lora_rank;
    vkd_addr tt = vkd_arena_alloc(a, s, (uint64_t)N * r);
    if (!tt) return;
    vkd_linear_forward(s, tt, x, P(lora, pr->down), 0, N, pr->in, r, false);
    vkd_matmul_desc md = {.M = (int32_t)N, .N = (int32_t)pr->out, .K = (int32_t)r, .trans_b = true,
                          .alpha = m->d.lora_alpha / (float)r, .beta = 1};
    vkd_matmul_forward(s, out, tt, P(lora, pr->up), 0, &md);
    if (t) *t = tt;
}

// dx += dout W (+ LoRA), parameter gradients += (base unless frozen; LoRA factors).
static void proj_bwd(const vkd_xformer* m, const vkd_proj* pr, const vkd_params* p, const vkd_params* lora,
                     vkd_stream* s, vkd_arena* a, vkd_addr dx, vkd_addr dout, vkd_addr x, uint32_t N, vkd_addr t) {
    vkd_linear_backward(s, dx, G(p, pr->w), G(p, pr->b), dout, x, P(p, pr->w), N, pr->in, pr->out, F16(p, pr->w));
    if (pr->down == UINT32_MAX) return;
    uint32_t r = m->d.lora_rank;
    float scale = m->d.lora_alpha / (float)r;
    vkd_arena_mark mark = vkd_arena_push(a);
    // dU += scale dout^T t;  dt = scale dout U;  then the down projection's linear backward.
    vkd_addr dU = G(lora, pr->up);
    if (dU) {
        vkd_matmul_desc md = {.M = (int32_t)pr->out, .N = (int32_t)r, .K = (int32_t)N, .trans_a = true, .alpha = scale,
                              .beta = 1};
        vkd_matmul_forward(s, dU, dout, t, 0, &md);
    }
    vkd_addr dt = vkd_arena_alloc(a, s, (uint64_t)N * r);
    if (dt) {
        vkd_matmul_desc md = {.M = (int32_t)N, .N = (int32_t)r, .K = (int32_t)pr->out, .alpha = scale};
        vkd_matmul_forward(s, dt, dout, P(lora, pr->up), 0, &md);
        vkd_linear_backward(s, dx, G(lora, pr->down), 0, dt, x, P(lora, pr->down), N, pr->in, r, false);
    }
    vkd_arena_pop(a, mark);
}

void vkd_xformer_forward(const vkd_xformer* m, const vkd_params* p, const vkd_params* lora, vkd_stream* s,
                         vkd_arena* a, vkd_addr out, vkd_addr x, vkd_addr ctx, uint32_t B, uint32_t H, uint32_t W,
                         uint32_t T, vkd_xformer_saved* saved) {
    uint32_t C = m->d.channels, HW = H * W, N = B * HW, heads = m->d.heads;
    uint64_t n = (uint64_t)N * C;
    vkd_arena_mark mark = vkd_arena_push(a);
    vkd_xformer_saved sv = {.B = B, .H = H, .W = W, .T = T, .x = x, .ctx = ctx};
    sv.gmean = vkd_arena_alloc(a, s, (uint64_t)B * m->d.groups);
    sv.grstd = vkd_arena_alloc(a, s, (uint64_t)B * m->d.groups);
    sv.hn = vkd_arena_alloc(a, s, n);
    sv.x0 = vkd_arena_alloc(a, s, n);
    vkd_addr* rows[] = {&sv.m1, &sv.r1, &sv.m2, &sv.r2, &sv.m3, &sv.r3, &sv.l1, &sv.l2};
    for (int i = 0; i < 8; i++) *rows[i] = vkd_arena_alloc(a, s, (uint64_t)N * (i >= 6 ? heads : 1));
    vkd_addr* full[] = {&sv.n1, &sv.q1, &sv.k1, &sv.v1, &sv.a1, &sv.x1, &sv.n2, &sv.q2, &sv.a2, &sv.x2, &sv.n3, &sv.x3};
    for (int i = 0; i < 12; i++) *full[i] = vkd_arena_alloc(a, s, n);
    sv.k2 = vkd_arena_alloc(a, s, (uint64_t)B * T * C);
    sv.v2 = vkd_arena_alloc(a, s, (uint64_t)B * T * C);
    sv.h = vkd_arena_alloc(a, s, n * 8);
    sv.g = vkd_arena_alloc(a, s, n * 4);
    if (!sv.g) return;
    vkd_groupnorm_forward(s, sv.hn, sv.gmean, sv.grstd, x, P(p, m->norm_w), P(p, m->norm_b), B, C, H, W, m->d.groups,
                          1e-6f, false);
    vkd_matmul_desc pin = vkd_prior_tokens_in_desc(B, C, HW, F16(p, m->proj_in_w));
    vkd_matmul_forward(s, sv.x0, sv.hn, P(p, m->proj_in_w), P(p, m->proj_in_b), &pin);
    // Self-attention.
    vkd_layernorm_forward(s, sv.n1, sv.m1, sv.r1, sv.x0, P(p, m->ln1_w), P(p, m->ln1_b), N, C, 1e-5f);
    proj_fwd(m, &m->q1, p, lora, s, a, sv.q1, sv.n1, N, &sv.lq1);
    proj_fwd(m, &m->k1, p, lora, s, a, sv.k1, sv.n1, N, &sv.lk1);
    proj_fwd(m, &m->v1, p, lora, s, a, sv.v1, sv.n1, N, &sv.lv1);
    vkd_attention_desc ad1 = {.B = B, .H = heads, .Tq = HW, .D = C / heads};
    vkd_attention_forward(s, sv.a1, sv.l1, sv.q1, sv.k1, sv.v1, &ad1);
    proj_fwd(m, &m->o1, p, lora, s, a, sv.x1, sv.a1, N, &sv.lo1);
    vkd_binary_forward(s, sv.x1, sv.x1, sv.x0, (uint32_t)n, VKD_BINARY_ADD);
    // Cross-attention.
    vkd_layernorm_forward(s, sv.n2, sv.m2, sv.r2, sv.x1, P(p, m->ln2_w), P(p, m->ln2_b), N, C, 1e-5f);
    proj_fwd(m, &m->q2, p, lora, s, a, sv.q2, sv.n2, N, &sv.lq2);
    proj_fwd(m, &m->k2, p, lora, s, a, sv.k2, ctx, B * T, &sv.lk2);
    proj_fwd(m, &m->v2, p, lora, s, a, sv.v2, ctx, B * T, &sv.lv2);
    vkd_attention_desc ad2 = {.B = B, .H = heads, .Tq = HW, .Tk = T, .D = C / heads};
    vkd_attention_forward(s, sv.a2, sv.l2, sv.q2, sv.k2, sv.v2, &ad2);
    proj_fwd(m, &m->o2, p, lora, s, a, sv.x2, sv.a2, N, &sv.lo2);
    vkd_binary_forward(s, sv.x2, sv.x2, sv.x1, (uint32_t)n, VKD_BINARY_ADD);
    // Feed-forward (GEGLU).
    vkd_layernorm_forward(s, sv.n3, sv.m3, sv.r3, sv.x2, P(p, m->ln3_w), P(p, m->ln3_b), N, C, 1e-5f);
    vkd_linear_forward(s, sv.h, sv.n3, P(p, m->ff1_w), P(p, m->ff1_b), N, C, 8 * C, F16(p, m->ff1_w));
    vkd_geglu_forward(s, sv.g, sv.h, N, 4 * C);
    vkd_linear_forward(s, sv.x3, sv.g, P(p, m->ff2_w), P(p, m->ff2_b), N, 4 * C, C, F16(p, m->ff2_w));
    vkd_binary_forward(s, sv.x3, sv.x3, sv.x2, (uint32_t)n, VKD_BINARY_ADD);
    vkd_matmul_desc pout = vkd_prior_tokens_out_desc(B, C, HW, F16(p, m->proj_out_w));
    vkd_matmul_forward(s, out, P(p, m->proj_out_w), sv.x3, P(p, m->proj_out_b), &pout);
    vkd_binary_forward(s, out, out, x, (uint32_t)n, VKD_BINARY_ADD);
    if (saved)
        *saved = sv;
    else
        vkd_arena_pop(a, mark);
}

void vkd_xformer_backward(const vkd_xformer* m, const vkd_params* p, const vkd_params* lora, vkd_stream* s,
                          vkd_arena* a, vkd_addr dx, vkd_addr dctx, vkd_addr dout, const vkd_xformer_saved* sv) {
    uint32_t B = sv->B, H = sv->H, W = sv->W, T = sv->T, C = m->d.channels, HW = H * W, N = B * HW;
    uint32_t heads = m->d.heads;
    uint64_t n = (uint64_t)N * C;
    vkd_arena_mark mark = vkd_arena_push(a);
    if (dx) vkd_binary_backward(s, dx, 0, dout, 0, 0, (uint32_t)n, VKD_BINARY_ADD);  // the outer residual
    uint64_t ln_scratch = (vkd_layernorm_backward_scratch_bytes(N, C) + 3) / 4;
    vkd_addr scratch = vkd_arena_alloc(a, s, ln_scratch);
    vkd_addr dx3 = vkd_arena_zeros(a, s, n);
    if (!dx3 || !scratch) {
        vkd_arena_pop(a, mark);
        return;
    }
    vkd_matmul_desc pout = vkd_prior_tokens_out_desc(B, C, HW, F16(p, m->proj_out_w));
    vkd_matmul_backward(s, G(p, m->proj_out_w), dx3, G(p, m->proj_out_b), dout, P(p, m->proj_out_w), sv->x3, &pout);
    // Feed-forward.
    vkd_addr dx2 = vkd_arena_alloc(a, s, n);
    vkd_stream_copy(s, dx2, dx3, (uint32_t)n);
    vkd_addr dg = vkd_arena_zeros(a, s, n * 4), dh = vkd_arena_zeros(a, s, n * 8), dn = vkd_arena_zeros(a, s, n);
    vkd_linear_backward(s, dg, G(p, m->ff2_w), G(p, m->ff2_b), dx3, sv->g, P(p, m->ff2_w), N, 4 * C, C, F16(p, m->ff2_w));
    vkd_geglu_backward(s, dh, dg, sv->h, N, 4 * C);
    vkd_linear_backward(s, dn, G(p, m->ff1_w), G(p, m->ff1_b), dh, sv->n3, P(p, m->ff1_w), N, C, 8 * C, F16(p, m->ff1_w));
    vkd_layernorm_backward(s, dx2, G(p, m->ln3_w), G(p, m->ln3_b), scratch, dn, sv->x2, P(p, m->ln3_w), sv->m3, sv->r3,
                           N, C);
    // Cross-attention.
    vkd_addr dx1 = vkd_arena_alloc(a, s, n);
    vkd_stream_copy(s, dx1, dx2, (uint32_t)n);
    vkd_addr da = vkd_arena_zeros(a, s, n), dq = vkd_arena_zeros(a, s, n);
    vkd_addr dk = vkd_arena_zeros(a, s, (uint64_t)B * T * C), dv = vkd_arena_zeros(a, s, (uint64_t)B * T * C);
    vkd_addr delta = vkd_arena_alloc(a, s, (uint64_t)N * heads);
    proj_bwd(m, &m->o2, p, lora, s, a, da, dx2, sv->a2, N, sv->lo2);
    vkd_attention_desc ad2 = {.B = B, .H = heads, .Tq = HW, .Tk = T, .D = C / heads};
    vkd_attention_backward(s, dq, dk, dv, delta, da, sv->q2, sv->k2, sv->v2, sv->a2, sv->l2, &ad2);
    vkd_stream_fill(s, dn, (uint32_t)n, 0);
    proj_bwd(m, &m->q2, p, lora, s, a, dn, dq, sv->n2, N, sv->lq2);
    proj_bwd(m, &m->k2, p, lora, s, a, dctx, dk, sv->ctx, B * T, sv->lk2);
    proj_bwd(m, &m->v2, p, lora, s, a, dctx, dv, sv->ctx, B * T, sv->lv2);
    vkd_layernorm_backward(s, dx1, G(p, m->ln2_w), G(p, m->ln2_b), scratch, dn, sv->x1, P(p, m->ln2_w), sv->m2, sv->r2,
                           N, C);
    // Self-attention.
    vkd_addr dx0 = vkd_arena_alloc(a, s, n);
    vkd_stream_copy(s, dx0, dx1, (uint32_t)n);
    vkd_addr dk1 = vkd_arena_zeros(a, s, n), dv1 = vkd_arena_zeros(a, s, n);
    vkd_stream_fill(s, da, (uint32_t)n, 0);
    vkd_stream_fill(s, dq, (uint32_t)n, 0);
    proj_bwd(m, &m->o1, p, lora, s, a, da, dx1, sv->a1, N, sv->lo1);
    vkd_attention_desc ad1 = {.B = B, .H = heads, .Tq = HW, .D = C / heads};
    vkd_attention_backward(s, dq, dk1, dv1, delta, da, sv->q1, sv->k1, sv->v1, sv->a1, sv->l1, &ad1);
    vkd_stream_fill(s, dn, (uint32_t)n, 0);
    proj_bwd(m, &m->q1, p, lora, s, a, dn, dq, sv->n1, N, sv->lq1);
    proj_bwd(m, &m->k1, p, lora, s, a, dn, dk1, sv->n1, N, sv->lk1);
    proj_bwd(m, &m->v1, p, lora, s, a, dn, dv1, sv->n1, N, sv->lv1);
    vkd_layernorm_backward(s, dx0, G(p, m->ln1_w), G(p, m->ln1_b), scratch, dn, sv->x0, P(p, m->ln1_w), sv->m1, sv->r1,
                           N, C);
    // proj_in and the GroupNorm.
    vkd_addr dhn = vkd_arena_zeros(a, s, n);
    vkd_matmul_desc pin = vkd_prior_tokens_in_desc(B, C, HW, F16(p, m->proj_in_w));
    vkd_matmul_backward(s, dhn, G(p, m->proj_in_w), G(p, m->proj_in_b), dx0, sv->hn, P(p, m->proj_in_w), &pin);
    if (dx || G(p, m->norm_w)) {
        uint64_t bytes = vkd_groupnorm_backward_scratch_bytes(B, C, m->d.groups);
        vkd_addr gs = vkd_arena_alloc(a, s, (bytes + 3) / 4);
        vkd_groupnorm_backward(s, dx, G(p, m->norm_w), G(p, m->norm_b), gs, dhn, sv->x, P(p, m->norm_w),
                               P(p, m->norm_b), sv->gmean, sv->grstd, B, C, H, W, m->d.groups, false);
    }
    vkd_arena_pop(a, mark);
}
