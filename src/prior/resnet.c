// ResnetBlock2D forward/backward composed from the nn ops; see include/vkdream/prior/blocks.h.
#include "vkdream/prior/blocks.h"
#include "vkdream/nn/broadcast.h"
#include "vkdream/nn/conv2d.h"
#include "vkdream/nn/eltwise.h"
#include "vkdream/nn/groupnorm.h"
#include "vkdream/nn/linear.h"

#include <stdio.h>
#include <string.h>

vkd_matmul_desc vkd_prior_tokens_in_desc(uint32_t B, uint32_t C, uint32_t HW, bool w_f16) {
    return (vkd_matmul_desc){.M = (int32_t)HW, .N = (int32_t)C, .K = (int32_t)C, .batch = (int32_t)B,
                             .trans_a = true, .trans_b = true, .broadcast_b = true, .b_f16 = w_f16};
}

vkd_matmul_desc vkd_prior_tokens_out_desc(uint32_t B, uint32_t C, uint32_t HW, bool w_f16) {
    return (vkd_matmul_desc){.M = (int32_t)C, .N = (int32_t)HW, .K = (int32_t)C, .batch = (int32_t)B,
                             .trans_b = true, .broadcast_a = true, .bias_rows = true, .a_f16 = w_f16};
}

void vkd_prior_conv2d_forward(vkd_stream* s, vkd_addr out, vkd_addr inp, const vkd_params* p, uint32_t w, uint32_t b,
                              uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t OC, uint32_t KH, uint32_t KW,
                              const vkd_conv2d_desc* desc) {
    vkd_conv2d_desc d = desc ? *desc : (vkd_conv2d_desc){0};
    d.weight_f16 = vkd_params_is_f16(p, w);
    vkd_conv2d_forward(s, out, inp, vkd_params_addr(p, w), vkd_params_addr(p, b), B, C, H, W, OC, KH, KW, &d);
}

void vkd_prior_conv2d_backward(vkd_stream* s, vkd_arena* a, vkd_addr dinp, vkd_addr dout, vkd_addr inp,
                               const vkd_params* p, uint32_t w, uint32_t b, uint32_t B, uint32_t C, uint32_t H,
                               uint32_t W, uint32_t OC, uint32_t KH, uint32_t KW, const vkd_conv2d_desc* desc) {
    vkd_conv2d_desc d = desc ? *desc : (vkd_conv2d_desc){0};
    d.weight_f16 = vkd_params_is_f16(p, w);
    d.workspace = 0;
    d.workspace_bytes = 0;
    vkd_addr dweight = vkd_params_grad(p, w), dbias = vkd_params_grad(p, b);
    vkd_arena_mark mark = vkd_arena_push(a);
    if (dweight) {
        uint64_t bytes = vkd_conv2d_backward_workspace_bytes(vkd_stream_gpu(s), B, C, H, W, OC, KH, KW, &d);
        if (bytes) {
            d.workspace = vkd_arena_alloc(a, s, (bytes + 3) / 4);
            d.workspace_bytes = d.workspace ? bytes : 0;
        }
    }
    vkd_conv2d_backward(s, dinp, dweight, dbias, dout, inp, vkd_params_addr(p, w), B, C, H, W, OC, KH, KW, &d);
    vkd_arena_pop(a, mark);
}

vkd_status vkd_prior_param(vkd_params* p, uint32_t* idx, vkd_error* err, int ndim, const int64_t* shape,
                            const char* prefix, const char* local) {
    *idx = vkd_params_addf(p, ndim, shape, "%s%s", prefix, local);
    if (*idx == UINT32_MAX) {
        char buf[64];
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "%s%s: cannot declare with shape %s (name too long, or declared before with another "
                             "shape)",
                             prefix, local, vkd_shape_str(buf, sizeof buf, ndim, shape));
    }
    return VKD_OK;
}

vkd_status vkd_resnet_declare(vkd_resnet* m, vkd_params* p, const char* prefix, const vkd_resnet_desc* desc,
                              vkd_error* err) {
    memset(m, 0, sizeof(*m));
    if (!prefix) prefix = "";
    vkd_resnet_desc d = *desc;
    if (!d.out_channels) d.out_channels = d.in_channels;
    if (!d.groups) d.groups = 32;
    if (!d.groups_out) d.groups_out = d.groups;
    if (d.eps == 0) d.eps = 1e-5f;
    if (snprintf(m->prefix, sizeof m->prefix, "%s", prefix) >= (int)sizeof m->prefix)
        return vkd_error_set(err, VKD_ERR_INVALID, "resnet %s: prefix longer than %d characters", prefix,
                             VKD_MODULE_PREFIX_MAX - 1);
    if (!d.in_channels)
        return vkd_error_set(err, VKD_ERR_INVALID, "resnet %s: in_channels must be > 0", prefix);
    if (d.in_channels % d.groups)
        return vkd_error_set(err, VKD_ERR_INVALID, "resnet %s: norm1 groups %u do not divide in_channels %u", prefix,
                             d.groups, d.in_channels);
    if (d.out_channels % d.groups_out)
        return vkd_error_set(err, VKD_ERR_INVALID, "resnet %s: norm2 groups %u do not divide out_channels %u",
                             prefix, d.groups_out, d.out_channels);
    if (!(d.eps > 0))
        return vkd_error_set(err, VKD_ERR_INVALID, "resnet %s: eps %g must be > 0", prefix, (double)d.eps);
    m->d = d;
    int64_t ci = d.in_channels, co = d.out_channels, t = d.temb_channels;
    vkd_status st = VKD_OK;
    m->temb_w = m->temb_b = m->short_w = m->short_b = UINT32_MAX;
    if (!st) st = vkd_prior_param(p, &m->norm1_w, err, 1, (int64_t[]){ci}, prefix, "norm1.weight");
    if (!st) st = vkd_prior_param(p, &m->norm1_b, err, 1, (int64_t[]){ci}, prefix, "norm1.bias");
    if (!st) st = vkd_prior_param(p, &m->conv1_w, err, 4, (int64_t[]){co, ci, 3, 3}, prefix, "conv1.weight");
    if (!st) st = vkd_prior_param(p, &m->conv1_b, err, 1, (int64_t[]){co}, prefix, "conv1.bias");
    if (!st && t) st = vkd_prior_param(p, &m->temb_w, err, 2, (int64_t[]){co, t}, prefix, "time_emb_proj.weight");
    if (!st && t) st = vkd_prior_param(p, &m->temb_b, err, 1, (int64_t[]){co}, prefix, "time_emb_proj.bias");
    if (!st) st = vkd_prior_param(p, &m->norm2_w, err, 1, (int64_t[]){co}, prefix, "norm2.weight");
    if (!st) st = vkd_prior_param(p, &m->norm2_b, err, 1, (int64_t[]){co}, prefix, "norm2.bias");
    if (!st) st = vkd_prior_param(p, &m->conv2_w, err, 4, (int64_t[]){co, co, 3, 3}, prefix, "conv2.weight");
    if (!st) st = vkd_prior_param(p, &m->conv2_b, err, 1, (int64_t[]){co}, prefix, "conv2.bias");
    if (!st && ci != co) st = vkd_prior_param(p, &m->short_w, err, 4, (int64_t[]){co, ci, 1, 1}, prefix, "conv_shortcut.weight");
    if (!st && ci != co) st = vkd_prior_param(p, &m->short_b, err, 1, (int64_t[]){co}, prefix, "conv_shortcut.bias");
    return st;
}

static const vkd_conv2d_desc k_same3 = {.pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1};

void vkd_resnet_forward(const vkd_resnet* m, const vkd_params* p, vkd_stream* s, vkd_arena* a, vkd_addr out,
                        vkd_addr x, vkd_addr temb, uint32_t B, uint32_t H, uint32_t W, vkd_resnet_saved* saved) {
    const vkd_resnet_desc* d = &m->d;
    if ((temb != 0) != (d->temb_channels != 0)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "resnet %s: temb %s but temb_channels is %u", m->prefix,
                        temb ? "given" : "missing", d->temb_channels);
        return;
    }
    if (!out || !x || !B || !H || !W) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "resnet %s: empty input (B=%u H=%u W=%u, out %s, x %s)", m->prefix, B,
                        H, W, out ? "set" : "0", x ? "set" : "0");
        return;
    }
    uint32_t ci = d->in_channels, co = d->out_channels, hw = H * W;
    vkd_arena_mark mark = vkd_arena_push(a);
    vkd_resnet_saved sv = {.B = B, .H = H, .W = W, .x = x, .temb = temb};
    // The convolutions' inputs h1 and h3 serve only their weight gradients: with frozen
    // weights (SDS through a frozen VAE or UNet) they are temporaries, not saved, which halves
    // the saved state at full resolution.
    bool keep_conv_inputs = vkd_params_grad(p, m->conv1_w) != 0;
    sv.mean1 = vkd_arena_alloc(a, s, (uint64_t)B * d->groups);
    sv.rstd1 = vkd_arena_alloc(a, s, (uint64_t)B * d->groups);
    sv.h2 = vkd_arena_alloc(a, s, (uint64_t)B * co * hw);
    sv.mean2 = vkd_arena_alloc(a, s, (uint64_t)B * d->groups_out);
    sv.rstd2 = vkd_arena_alloc(a, s, (uint64_t)B * d->groups_out);
    if (temb) sv.temb_act = vkd_arena_alloc(a, s, (uint64_t)B * d->temb_channels);
    vkd_addr h1 = keep_conv_inputs ? vkd_arena_alloc(a, s, (uint64_t)B * ci * hw) : 0;
    vkd_addr h3 = keep_conv_inputs ? vkd_arena_alloc(a, s, (uint64_t)B * co * hw) : 0;
    vkd_arena_mark temps = vkd_arena_push(a);  // what follows is released when the block is done
    if (!keep_conv_inputs) {
        h1 = vkd_arena_alloc(a, s, (uint64_t)B * ci * hw);
        h3 = vkd_arena_alloc(a, s, (uint64_t)B * co * hw);
    }
    if (keep_conv_inputs) sv.h1 = h1, sv.h3 = h3;
    vkd_addr tproj = temb ? vkd_arena_alloc(a, s, (uint64_t)B * co) : 0;
    vkd_addr sc = m->short_w != UINT32_MAX ? vkd_arena_alloc(a, s, (uint64_t)B * co * hw) : 0;
    if (!h3 || !sv.rstd2) { // the arena failed the stream
        vkd_arena_pop(a, mark);
        return;
    }

    vkd_groupnorm_forward(s, h1, sv.mean1, sv.rstd1, x, vkd_params_addr(p, m->norm1_w),
                          vkd_params_addr(p, m->norm1_b), B, ci, H, W, d->groups, d->eps, true);
    vkd_prior_conv2d_forward(s, sv.h2, h1, p, m->conv1_w, m->conv1_b, B, ci, H, W,
                       co, 3, 3, &k_same3);
    if (temb) {
        vkd_unary_forward(s, sv.temb_act, temb, B * d->temb_channels, VKD_UNARY_SILU);
        vkd_linear_forward(s, tproj, sv.temb_act, vkd_params_addr(p, m->temb_w), vkd_params_addr(p, m->temb_b), B,
                           d->temb_channels, co, vkd_params_is_f16(p, m->temb_w));
        vkd_broadcast_forward(s, sv.h2, sv.h2, tproj, (uint32_t[4]){B, co, H, W}, (uint32_t[4]){B, co, 1, 1},
                              VKD_BINARY_ADD);
    }
    vkd_groupnorm_forward(s, h3, sv.mean2, sv.rstd2, sv.h2, vkd_params_addr(p, m->norm2_w),
                          vkd_params_addr(p, m->norm2_b), B, co, H, W, d->groups_out, d->eps, true);
    vkd_prior_conv2d_forward(s, out, h3, p, m->conv2_w, m->conv2_b, B, co, H, W,
                       co, 3, 3, &k_same3);
    if (sc) {
        vkd_prior_conv2d_forward(s, sc, x, p, m->short_w, m->short_b, B, ci, H, W, co,
                           1, 1, NULL);
        vkd_binary_forward(s, out, out, sc, B * co * hw, VKD_BINARY_ADD);
    } else {
        vkd_binary_forward(s, out, out, x, B * co * hw, VKD_BINARY_ADD);
    }
    if (saved) {
        vkd_arena_pop(a, temps);  // later work in the stream may reuse it: streams run in order
        *saved = sv;
    } else {
        vkd_arena_pop(a, mark);
    }
}

void vkd_resnet_backward(const vkd_resnet* m, const vkd_params* p, vkd_stream* s, vkd_arena* a, vkd_addr dx,
                         vkd_addr dtemb, vkd_addr dout, const vkd_resnet_saved* sv) {
    const vkd_resnet_desc* d = &m->d;
    uint32_t B = sv->B, H = sv->H, W = sv->W, ci = d->in_channels, co = d->out_channels, T = d->temb_channels;
    uint32_t hw = H * W;
    if (dtemb && !sv->temb) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "resnet %s: dtemb given but the forward had no temb", m->prefix);
        return;
    }
    vkd_arena_mark mark = vkd_arena_push(a);
    // Shortcut branch.
    if (m->short_w != UINT32_MAX) {
        vkd_prior_conv2d_backward(s, a, dx, dout, sv->x, p, m->short_w, m->short_b, B, ci, H, W, co, 1, 1, NULL);
    } else if (dx) {
        vkd_binary_backward(s, dx, 0, dout, 0, 0, B * co * hw, VKD_BINARY_ADD);
    }
    // conv2 <- norm2 (+SiLU).
    vkd_addr dh3 = vkd_arena_zeros(a, s, (uint64_t)B * co * hw);
    vkd_addr dh2 = vkd_arena_zeros(a, s, (uint64_t)B * co * hw);
    uint64_t gn_scratch = vkd_groupnorm_backward_scratch_bytes(B, ci > co ? ci : co, d->groups > d->groups_out ? d->groups : d->groups_out);
    vkd_addr scratch = vkd_arena_alloc(a, s, (gn_scratch + 3) / 4);
    if (!scratch) {
        vkd_arena_pop(a, mark);
        return;
    }
    vkd_prior_conv2d_backward(s, a, dh3, dout, sv->h3, p, m->conv2_w, m->conv2_b, B, co, H, W, co, 3, 3, &k_same3);
    vkd_groupnorm_backward(s, dh2, vkd_params_grad(p, m->norm2_w), vkd_params_grad(p, m->norm2_b), scratch, dh3, sv->h2,
                           vkd_params_addr(p, m->norm2_w), vkd_params_addr(p, m->norm2_b), sv->mean2, sv->rstd2, B, co,
                           H, W, d->groups_out, true);
    // Time embedding branch: the projection was broadcast over H x W.
    if (T && (dtemb || vkd_params_grad(p, m->temb_w) || vkd_params_grad(p, m->temb_b))) {
        vkd_addr dproj = vkd_arena_zeros(a, s, (uint64_t)B * co);
        vkd_broadcast_backward(s, 0, dproj, dh2, 0, 0, (uint32_t[4]){B, co, H, W}, (uint32_t[4]){B, co, 1, 1},
                               VKD_BINARY_ADD);
        vkd_addr dact = dtemb ? vkd_arena_zeros(a, s, (uint64_t)B * T) : 0;
        vkd_linear_backward(s, dact, vkd_params_grad(p, m->temb_w), vkd_params_grad(p, m->temb_b), dproj,
                            sv->temb_act, vkd_params_addr(p, m->temb_w), B, T, co, vkd_params_is_f16(p, m->temb_w));
        if (dtemb) vkd_unary_backward(s, dtemb, dact, sv->temb, B * T, VKD_UNARY_SILU);
    }
    // conv1 <- norm1 (+SiLU).
    vkd_addr w1g = vkd_params_grad(p, m->conv1_w), n1g = vkd_params_grad(p, m->norm1_w);
    if (dx || w1g || n1g) {
        vkd_addr dh1 = (dx || n1g) ? vkd_arena_zeros(a, s, (uint64_t)B * ci * hw) : 0;
        vkd_prior_conv2d_backward(s, a, dh1, dh2, sv->h1, p, m->conv1_w, m->conv1_b, B, ci, H, W, co, 3, 3, &k_same3);
        if (dh1)
            vkd_groupnorm_backward(s, dx, n1g, vkd_params_grad(p, m->norm1_b), scratch, dh1, sv->x,
                                   vkd_params_addr(p, m->norm1_w), vkd_params_addr(p, m->norm1_b), sv->mean1,
                                   sv->rstd1, B, ci, H, W, d->groups, true);
    }
    vkd_arena_pop(a, mark);
}
