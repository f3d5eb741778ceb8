// Downsample2D / Upsample2D (conv variants) forward/backward; see include/vkdream/prior/blocks.h.
#include "vkdream/prior/blocks.h"
#include "vkdream/nn/conv2d.h"
#include "vkdream/nn/resize.h"

#include <stdio.h>
#include <string.h>

static vkd_status declare_conv(const char* kind, char* mprefix, vkd_sample_desc* md, uint32_t* w, uint32_t* b,
                               vkd_params* p, const char* prefix, const vkd_sample_desc* d, vkd_error* err) {
    if (!prefix) prefix = "";
    *md = *d;
    if (!md->out_channels) md->out_channels = md->in_channels;
    if (snprintf(mprefix, VKD_MODULE_PREFIX_MAX, "%s", prefix) >= VKD_MODULE_PREFIX_MAX)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s %s: prefix longer than %d characters", kind, prefix,
                             VKD_MODULE_PREFIX_MAX - 1);
    if (!md->in_channels) return vkd_error_set(err, VKD_ERR_INVALID, "%s %s: in_channels must be > 0", kind, prefix);
    if (md->pad != VKD_DOWNSAMPLE_PAD1 && md->pad != VKD_DOWNSAMPLE_PAD_BR)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s %s: unknown padding mode %d", kind, prefix, (int)md->pad);
    int64_t ci = md->in_channels, co = md->out_channels;
    vkd_status st = vkd_prior_param(p, w, err, 4, (int64_t[]){co, ci, 3, 3}, prefix, "conv.weight");
    if (!st) st = vkd_prior_param(p, b, err, 1, (int64_t[]){co}, prefix, "conv.bias");
    return st;
}

vkd_status vkd_downsample_declare(vkd_downsample* m, vkd_params* p, const char* prefix, const vkd_sample_desc* d,
                                  vkd_error* err) {
    memset(m, 0, sizeof(*m));
    return declare_conv("downsample", m->prefix, &m->d, &m->conv_w, &m->conv_b, p, prefix, d, err);
}

vkd_status vkd_upsample_declare(vkd_upsample* m, vkd_params* p, const char* prefix, const vkd_sample_desc* d,
                                vkd_error* err) {
    memset(m, 0, sizeof(*m));
    return declare_conv("upsample", m->prefix, &m->d, &m->conv_w, &m->conv_b, p, prefix, d, err);
}

static vkd_conv2d_desc down_conv(const vkd_downsample* m) {
    if (m->d.pad == VKD_DOWNSAMPLE_PAD_BR) return (vkd_conv2d_desc){.stride_y = 2, .stride_x = 2, .pad_bottom = 1, .pad_right = 1};
    return (vkd_conv2d_desc){.stride_y = 2, .stride_x = 2, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1};
}

void vkd_downsample_out_size(const vkd_downsample* m, uint32_t H, uint32_t W, uint32_t* OH, uint32_t* OW) {
    vkd_conv2d_desc cd = down_conv(m);
    vkd_conv2d_out_size(H, W, 3, 3, &cd, OH, OW);
}

void vkd_downsample_forward(const vkd_downsample* m, const vkd_params* p, vkd_stream* s, vkd_arena* a, vkd_addr out,
                            vkd_addr x, uint32_t B, uint32_t H, uint32_t W, vkd_downsample_saved* saved) {
    (void)a;
    vkd_conv2d_desc cd = down_conv(m);
    uint32_t oh, ow;
    if (!vkd_conv2d_out_size(H, W, 3, 3, &cd, &oh, &ow) || !B) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "downsample %s: input %ux%u (batch %u) too small for a 3x3 stride-2 conv",
                        m->prefix, H, W, B);
        return;
    }
    vkd_prior_conv2d_forward(s, out, x, p, m->conv_w, m->conv_b, B, m->d.in_channels,
                       H, W, m->d.out_channels, 3, 3, &cd);
    if (saved) *saved = (vkd_downsample_saved){.B = B, .H = H, .W = W, .x = x};
}

void vkd_downsample_backward(const vkd_downsample* m, const vkd_params* p, vkd_stream* s, vkd_arena* a, vkd_addr dx,
                             vkd_addr dout, const vkd_downsample_saved* sv) {
    vkd_conv2d_desc cd = down_conv(m);
    vkd_prior_conv2d_backward(s, a, dx, dout, sv->x, p, m->conv_w, m->conv_b, sv->B, m->d.in_channels, sv->H, sv->W,
                              m->d.out_channels, 3, 3, &cd);
}

static const vkd_conv2d_desc k_same3 = {.pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1};

void vkd_upsample_forward(const vkd_upsample* m, const vkd_params* p, vkd_stream* s, vkd_arena* a, vkd_addr out,
                          vkd_addr x, uint32_t B, uint32_t H, uint32_t W, vkd_upsample_saved* saved) {
    if (!B || !H || !W) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "upsample %s: empty input (B=%u H=%u W=%u)", m->prefix, B, H, W);
        return;
    }
    vkd_arena_mark mark = vkd_arena_push(a);
    vkd_addr up = vkd_arena_alloc(a, s, (uint64_t)B * m->d.in_channels * 4 * H * W);
    if (!up) {
        vkd_arena_pop(a, mark);
        return;
    }
    vkd_upsample_nearest2x_forward(s, up, x, B, m->d.in_channels, H, W);
    vkd_prior_conv2d_forward(s, out, up, p, m->conv_w, m->conv_b, B, m->d.in_channels,
                       2 * H, 2 * W, m->d.out_channels, 3, 3, &k_same3);
    if (saved)
        *saved = (vkd_upsample_saved){.B = B, .H = H, .W = W, .up = up};
    else
        vkd_arena_pop(a, mark);
}

void vkd_upsample_backward(const vkd_upsample* m, const vkd_params* p, vkd_stream* s, vkd_arena* a, vkd_addr dx,
                           vkd_addr dout, const vkd_upsample_saved* sv) {
    uint32_t B = sv->B, H = sv->H, W = sv->W, ci = m->d.in_channels;
    vkd_arena_mark mark = vkd_arena_push(a);
    vkd_addr dup = dx ? vkd_arena_zeros(a, s, (uint64_t)B * ci * 4 * H * W) : 0;
    vkd_prior_conv2d_backward(s, a, dup, dout, sv->up, p, m->conv_w, m->conv_b, B, ci, 2 * H, 2 * W, m->d.out_channels, 3, 3, &k_same3);
    if (dup) vkd_upsample_nearest2x_backward(s, dx, dup, B, ci, H, W);
    vkd_arena_pop(a, mark);
}
