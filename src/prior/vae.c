// AutoencoderKL: declaration, encoder and decoder forward/backward; see include/vkdream/prior/vae.h.
#include "vkdream/prior/vae.h"
#include "vkdream/nn/conv2d.h"
#include "vkdream/nn/eltwise.h"
#include "vkdream/nn/groupnorm.h"

#include <stdio.h>
#include <string.h>

static const vkd_conv2d_desc k_same3 = {.pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1};

static vkd_status resolve(vkd_vae_desc* d, vkd_error* err) {
    if (!d->in_channels) d->in_channels = 3;
    if (!d->out_channels) d->out_channels = 3;
    if (!d->latent_channels) d->latent_channels = 4;
    if (!d->num_blocks) {
        static const uint32_t sd[4] = {128, 256, 512, 512};
        d->num_blocks = 4;
        memcpy(d->block_out_channels, sd, sizeof sd);
    }
    if (!d->layers_per_block) d->layers_per_block = 2;
    if (!d->norm_num_groups) d->norm_num_groups = 32;
    if (!d->sample_size) d->sample_size = 512;
    if (d->scaling_factor == 0) d->scaling_factor = 0.18215f;
    if (d->eps == 0) d->eps = 1e-6f;
    if (d->num_blocks > VKD_VAE_MAX_BLOCKS)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "vae: %u blocks (at most %d supported)", d->num_blocks,
                             VKD_VAE_MAX_BLOCKS);
    if (d->layers_per_block > VKD_VAE_MAX_LAYERS)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "vae: layers_per_block %u (at most %d supported)",
                             d->layers_per_block, VKD_VAE_MAX_LAYERS);
    for (uint32_t i = 0; i < d->num_blocks; i++)
        if (!d->block_out_channels[i] || d->block_out_channels[i] % d->norm_num_groups)
            return vkd_error_set(err, VKD_ERR_INVALID,
                                 "vae: block_out_channels[%u] = %u is not a positive multiple of norm_num_groups %u", i,
                                 d->block_out_channels[i], d->norm_num_groups);
    if (d->no_encoder && d->no_decoder)
        return vkd_error_set(err, VKD_ERR_INVALID, "vae: no_encoder and no_decoder leave nothing to declare");
    if (!(d->eps > 0)) return vkd_error_set(err, VKD_ERR_INVALID, "vae: eps %g must be > 0", (double)d->eps);
    return VKD_OK;
}

static vkd_status declare_mid(vkd_vae_mid* mid, vkd_params* p, const char* prefix, const vkd_vae_desc* d, uint32_t C,
                              vkd_error* err) {
    char name[VKD_MODULE_PREFIX_MAX + 32];
    vkd_resnet_desc rd = {.in_channels = C, .groups = d->norm_num_groups, .eps = d->eps};
    snprintf(name, sizeof name, "%smid_block.resnets.0.", prefix);
    vkd_status st = vkd_resnet_declare(&mid->res0, p, name, &rd, err);
    mid->has_attn = !d->no_mid_attention;
    snprintf(name, sizeof name, "%smid_block.attentions.0.", prefix);
    if (!st && mid->has_attn)
        st = vkd_vae_attn_declare(&mid->attn, p, name, C, d->norm_num_groups, d->eps, d->attention, err);
    snprintf(name, sizeof name, "%smid_block.resnets.1.", prefix);
    if (!st) st = vkd_resnet_declare(&mid->res1, p, name, &rd, err);
    return st;
}

vkd_status vkd_vae_declare(vkd_vae* m, vkd_params* p, const char* prefix, const vkd_vae_desc* desc, vkd_error* err) {
    memset(m, 0, sizeof(*m));
    if (!prefix) prefix = "";
    m->d = *desc;
    vkd_vae_desc* d = &m->d;
    vkd_status st = resolve(d, err);
    if (st) return st;
    if (snprintf(m->prefix, sizeof m->prefix, "%s", prefix) + 48 >= (int)sizeof m->prefix)
        return vkd_error_set(err, VKD_ERR_INVALID, "vae %s: prefix too long", prefix);
    m->quant_w = m->quant_b = m->post_quant_w = m->post_quant_b = UINT32_MAX;
    int64_t L = d->latent_channels, nb = d->num_blocks;
    const uint32_t* bo = d->block_out_channels;
    char pre[VKD_MODULE_PREFIX_MAX], name[VKD_MODULE_PREFIX_MAX + 64];
    if (!d->no_encoder) {
        vkd_vae_encoder* e = &m->enc;
        snprintf(pre, sizeof pre, "%sencoder.", prefix);
        int64_t c0 = bo[0];
        st = vkd_prior_param(p, &e->conv_in_w, err, 4, (int64_t[]){c0, d->in_channels, 3, 3}, pre, "conv_in.weight");
        if (!st) st = vkd_prior_param(p, &e->conv_in_b, err, 1, (int64_t[]){c0}, pre, "conv_in.bias");
        uint32_t cin = bo[0];
        for (uint32_t i = 0; i < nb && !st; i++) {
            for (uint32_t j = 0; j < d->layers_per_block && !st; j++) {
                snprintf(name, sizeof name, "%sdown_blocks.%u.resnets.%u.", pre, i, j);
                vkd_resnet_desc rd = {.in_channels = j ? bo[i] : cin, .out_channels = bo[i],
                                      .groups = d->norm_num_groups, .eps = d->eps};
                st = vkd_resnet_declare(&e->res[i][j], p, name, &rd, err);
            }
            if (!st && i + 1 < nb) {
                snprintf(name, sizeof name, "%sdown_blocks.%u.downsamplers.0.", pre, i);
                st = vkd_downsample_declare(&e->down[i], p, name,
                                            &(vkd_sample_desc){.in_channels = bo[i], .pad = VKD_DOWNSAMPLE_PAD_BR}, err);
            }
            cin = bo[i];
        }
        int64_t cl = bo[nb - 1];
        if (!st) st = declare_mid(&e->mid, p, pre, d, bo[nb - 1], err);
        if (!st) st = vkd_prior_param(p, &e->norm_w, err, 1, (int64_t[]){cl}, pre, "conv_norm_out.weight");
        if (!st) st = vkd_prior_param(p, &e->norm_b, err, 1, (int64_t[]){cl}, pre, "conv_norm_out.bias");
        if (!st) st = vkd_prior_param(p, &e->conv_out_w, err, 4, (int64_t[]){2 * L, cl, 3, 3}, pre, "conv_out.weight");
        if (!st) st = vkd_prior_param(p, &e->conv_out_b, err, 1, (int64_t[]){2 * L}, pre, "conv_out.bias");
        if (!st) st = vkd_prior_param(p, &m->quant_w, err, 4, (int64_t[]){2 * L, 2 * L, 1, 1}, prefix, "quant_conv.weight");
        if (!st) st = vkd_prior_param(p, &m->quant_b, err, 1, (int64_t[]){2 * L}, prefix, "quant_conv.bias");
    }
    if (!d->no_decoder && !st) {
        vkd_vae_decoder* dd = &m->dec;
        st = vkd_prior_param(p, &m->post_quant_w, err, 4, (int64_t[]){L, L, 1, 1}, prefix, "post_quant_conv.weight");
        if (!st) st = vkd_prior_param(p, &m->post_quant_b, err, 1, (int64_t[]){L}, prefix, "post_quant_conv.bias");
        snprintf(pre, sizeof pre, "%sdecoder.", prefix);
        int64_t cl = bo[nb - 1], c0 = bo[0];
        if (!st) st = vkd_prior_param(p, &dd->conv_in_w, err, 4, (int64_t[]){cl, L, 3, 3}, pre, "conv_in.weight");
        if (!st) st = vkd_prior_param(p, &dd->conv_in_b, err, 1, (int64_t[]){cl}, pre, "conv_in.bias");
        if (!st) st = declare_mid(&dd->mid, p, pre, d, bo[nb - 1], err);
        uint32_t cout = bo[nb - 1];
        for (uint32_t i = 0; i < nb && !st; i++) {
            uint32_t cprev = cout;
            cout = bo[nb - 1 - i];
            for (uint32_t j = 0; j <= d->layers_per_block && !st; j++) {
                snprintf(name, sizeof name, "%sup_blocks.%u.resnets.%u.", pre, i, j);
                vkd_resnet_desc rd = {.in_channels = j ? cout : cprev, .out_channels = cout,
                                      .groups = d->norm_num_groups, .eps = d->eps};
                st = vkd_resnet_declare(&dd->res[i][j], p, name, &rd, err);
            }
            if (!st && i + 1 < nb) {
                snprintf(name, sizeof name, "%sup_blocks.%u.upsamplers.0.", pre, i);
                st = vkd_upsample_declare(&dd->up[i], p, name, &(vkd_sample_desc){.in_channels = cout}, err);
            }
        }
        if (!st) st = vkd_prior_param(p, &dd->norm_w, err, 1, (int64_t[]){c0}, pre, "conv_norm_out.weight");
        if (!st) st = vkd_prior_param(p, &dd->norm_b, err, 1, (int64_t[]){c0}, pre, "conv_norm_out.bias");
        if (!st)
            st = vkd_prior_param(p, &dd->conv_out_w, err, 4, (int64_t[]){d->out_channels, c0, 3, 3}, pre,
                                 "conv_out.weight");
        if (!st) st = vkd_prior_param(p, &dd->conv_out_b, err, 1, (int64_t[]){d->out_channels}, pre, "conv_out.bias");
    }
    return st;
}

void vkd_vae_latent_size(const vkd_vae* m, uint32_t H, uint32_t W, uint32_t* h, uint32_t* w) {
    vkd_downsample dn = {.d = {.pad = VKD_DOWNSAMPLE_PAD_BR}};
    for (uint32_t i = 0; i + 1 < m->d.num_blocks; i++) vkd_downsample_out_size(&dn, H, W, &H, &W);
    *h = H;
    *w = W;
}

// ---------------------------------------------------------------------------
// Mid block: resnets.0 -> attentions.0 -> resnets.1 (no time embedding).

static void mid_forward(const vkd_vae_mid* mid, const vkd_params* p, vkd_stream* s, vkd_arena* a, vkd_addr out,
                        vkd_addr x, uint32_t B, uint32_t H, uint32_t W, vkd_vae_mid_saved* sv) {
    uint64_t n = (uint64_t)B * mid->res0.d.in_channels * H * W;
    vkd_addr h0 = vkd_arena_alloc(a, s, n);
    vkd_addr h1 = mid->has_attn ? vkd_arena_alloc(a, s, n) : h0;
    if (!h1) return;
    vkd_resnet_forward(&mid->res0, p, s, a, h0, x, 0, B, H, W, sv ? &sv->r0 : NULL);
    if (mid->has_attn) vkd_vae_attn_forward(&mid->attn, p, s, a, h1, h0, B, H, W, sv ? &sv->at : NULL);
    vkd_resnet_forward(&mid->res1, p, s, a, out, h1, 0, B, H, W, sv ? &sv->r1 : NULL);
    if (sv) sv->h0 = h0, sv->h1 = h1;
}

static void mid_backward(const vkd_vae_mid* mid, const vkd_params* p, vkd_stream* s, vkd_arena* a, vkd_addr dx,
                         vkd_addr dout, const vkd_vae_mid_saved* sv) {
    uint64_t n = (uint64_t)sv->r0.B * mid->res0.d.in_channels * sv->r0.H * sv->r0.W;
    vkd_arena_mark mark = vkd_arena_push(a);
    vkd_addr dh1 = vkd_arena_zeros(a, s, n);
    vkd_addr dh0 = mid->has_attn ? vkd_arena_zeros(a, s, n) : dh1;
    vkd_resnet_backward(&mid->res1, p, s, a, dh1, 0, dout, &sv->r1);
    if (mid->has_attn) vkd_vae_attn_backward(&mid->attn, p, s, a, dh0, dh1, &sv->at);
    vkd_resnet_backward(&mid->res0, p, s, a, dx, 0, dh0, &sv->r0);
    vkd_arena_pop(a, mark);
}

// GroupNorm (not fused: its output is one of the reference activations) -> SiLU -> conv 3x3.
static void head_forward(vkd_stream* s, vkd_arena* a, const vkd_params* p, uint32_t nw, uint32_t nb, uint32_t cw,
                         uint32_t cb, const vkd_vae_desc* d, vkd_addr out, vkd_addr x, uint32_t B, uint32_t C,
                         uint32_t H, uint32_t W, uint32_t OC, vkd_addr* mean, vkd_addr* rstd, vkd_addr* norm,
                         vkd_addr* act) {
    uint64_t n = (uint64_t)B * C * H * W;
    *mean = vkd_arena_alloc(a, s, (uint64_t)B * d->norm_num_groups);
    *rstd = vkd_arena_alloc(a, s, (uint64_t)B * d->norm_num_groups);
    *norm = vkd_arena_alloc(a, s, n);
    *act = vkd_arena_alloc(a, s, n);
    if (!*act) return;
    vkd_groupnorm_forward(s, *norm, *mean, *rstd, x, vkd_params_addr(p, nw), vkd_params_addr(p, nb), B, C, H, W,
                          d->norm_num_groups, d->eps, false);
    vkd_unary_forward(s, *act, *norm, (uint32_t)n, VKD_UNARY_SILU);
    vkd_prior_conv2d_forward(s, out, *act, p, cw, cb, B, C, H, W, OC, 3, 3, &k_same3);
}

static void head_backward(vkd_stream* s, vkd_arena* a, const vkd_params* p, uint32_t nw, uint32_t nb, uint32_t cw,
                          uint32_t cb, const vkd_vae_desc* d, vkd_addr dx, vkd_addr dout, vkd_addr x, vkd_addr mean,
                          vkd_addr rstd, vkd_addr norm, vkd_addr act, uint32_t B, uint32_t C, uint32_t H, uint32_t W,
                          uint32_t OC) {
    uint64_t n = (uint64_t)B * C * H * W;
    vkd_arena_mark mark = vkd_arena_push(a);
    vkd_addr dact = vkd_arena_zeros(a, s, n), dnorm = vkd_arena_zeros(a, s, n);
    uint64_t bytes = vkd_groupnorm_backward_scratch_bytes(B, C, d->norm_num_groups);
    vkd_addr scratch = vkd_arena_alloc(a, s, (bytes + 3) / 4);
    vkd_prior_conv2d_backward(s, a, dact, dout, act, p, cw, cb, B, C, H, W, OC, 3, 3, &k_same3);
    vkd_unary_backward(s, dnorm, dact, norm, (uint32_t)n, VKD_UNARY_SILU);
    vkd_groupnorm_backward(s, dx, vkd_params_grad(p, nw), vkd_params_grad(p, nb), scratch, dnorm, x,
                           vkd_params_addr(p, nw), vkd_params_addr(p, nb), mean, rstd, B, C, H, W, d->norm_num_groups,
                           false);
    vkd_arena_pop(a, mark);
}

// ---------------------------------------------------------------------------
// Encoder

void vkd_vae_encode_forward(const vkd_vae* m, const vkd_params* p, vkd_stream* s, vkd_arena* a, vkd_addr moments,
                            vkd_addr image, uint32_t B, uint32_t H, uint32_t W, vkd_vae_encode_saved* saved) {
    const vkd_vae_desc* d = &m->d;
    const vkd_vae_encoder* e = &m->enc;
    if (d->no_encoder) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "vae %s: encode on a model declared without its encoder", m->prefix);
        return;
    }
    uint32_t h, w;
    vkd_vae_latent_size(m, H, W, &h, &w);
    if (!B || !h || !w || !moments || !image) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "vae %s: encode of a %ux%u image (batch %u) gives no latent", m->prefix, H,
                        W, B);
        return;
    }
    vkd_arena_mark mark = vkd_arena_push(a);
    vkd_vae_encode_saved sv_local;
    vkd_vae_encode_saved* sv = saved ? saved : &sv_local;
    memset(sv, 0, sizeof(*sv));
    sv->B = B, sv->H = H, sv->W = W, sv->image = image;
    const uint32_t* bo = d->block_out_channels;
    uint32_t nb = d->num_blocks, L = d->latent_channels;
    vkd_resnet_saved* rs = NULL;
    sv->conv_in = vkd_arena_alloc(a, s, (uint64_t)B * bo[0] * H * W);
    if (!sv->conv_in) goto done;
    vkd_prior_conv2d_forward(s, sv->conv_in, image, p, e->conv_in_w, e->conv_in_b, B,
                       d->in_channels, H, W, bo[0], 3, 3, &k_same3);
    vkd_addr x = sv->conv_in;
    for (uint32_t i = 0; i < nb; i++) {
        sv->bh[i] = H, sv->bw[i] = W;
        for (uint32_t j = 0; j < d->layers_per_block; j++) {
            vkd_addr y = vkd_arena_alloc(a, s, (uint64_t)B * bo[i] * H * W);
            if (!y) goto done;
            rs = saved ? &sv->res[i][j] : NULL;
            vkd_resnet_forward(&e->res[i][j], p, s, a, y, x, 0, B, H, W, rs);
            sv->res_out[i][j] = x = y;
        }
        if (i + 1 < nb) {
            uint32_t oh, ow;
            vkd_downsample_out_size(&e->down[i], H, W, &oh, &ow);
            vkd_addr y = vkd_arena_alloc(a, s, (uint64_t)B * bo[i] * oh * ow);
            if (!y) goto done;
            vkd_downsample_forward(&e->down[i], p, s, a, y, x, B, H, W, saved ? &sv->down[i] : NULL);
            x = y, H = oh, W = ow;
        }
        sv->block_out[i] = x;
    }
    uint32_t C = bo[nb - 1];
    sv->mid_out = vkd_arena_alloc(a, s, (uint64_t)B * C * H * W);
    sv->conv_out = vkd_arena_alloc(a, s, (uint64_t)B * 2 * L * H * W);
    if (!sv->conv_out) goto done;
    mid_forward(&e->mid, p, s, a, sv->mid_out, x, B, H, W, saved ? &sv->mid : NULL);
    head_forward(s, a, p, e->norm_w, e->norm_b, e->conv_out_w, e->conv_out_b, d, sv->conv_out, sv->mid_out, B, C, H, W,
                 2 * L, &sv->norm_mean, &sv->norm_rstd, &sv->norm_out, &sv->act);
    vkd_prior_conv2d_forward(s, moments, sv->conv_out, p, m->quant_w, m->quant_b, B,
                       2 * L, H, W, 2 * L, 1, 1, NULL);
    sv->moments = moments;
done:
    if (!saved) vkd_arena_pop(a, mark);
}

void vkd_vae_encode_backward(const vkd_vae* m, const vkd_params* p, vkd_stream* s, vkd_arena* a, vkd_addr dimage,
                             vkd_addr dmoments, const vkd_vae_encode_saved* sv) {
    const vkd_vae_desc* d = &m->d;
    const vkd_vae_encoder* e = &m->enc;
    const uint32_t* bo = d->block_out_channels;
    uint32_t nb = d->num_blocks, L = d->latent_channels, B = sv->B;
    vkd_arena_mark mark = vkd_arena_push(a);
    // Latent resolution = the last block's.
    uint32_t H = sv->bh[nb - 1], W = sv->bw[nb - 1], C = bo[nb - 1];
    vkd_addr dconv_out = vkd_arena_zeros(a, s, (uint64_t)B * 2 * L * H * W);
    vkd_addr dx = vkd_arena_zeros(a, s, (uint64_t)B * C * H * W);
    vkd_addr dmid_in = vkd_arena_zeros(a, s, (uint64_t)B * C * H * W);
    if (!dmid_in) goto done;
    vkd_prior_conv2d_backward(s, a, dconv_out, dmoments, sv->conv_out, p, m->quant_w, m->quant_b, B, 2 * L, H, W, 2 * L, 1, 1, NULL);
    head_backward(s, a, p, e->norm_w, e->norm_b, e->conv_out_w, e->conv_out_b, d, dx, dconv_out, sv->mid_out,
                  sv->norm_mean, sv->norm_rstd, sv->norm_out, sv->act, B, C, H, W, 2 * L);
    mid_backward(&e->mid, p, s, a, dmid_in, dx, &sv->mid);
    dx = dmid_in;
    for (uint32_t i = nb; i-- > 0;) {
        uint32_t bh = sv->bh[i], bw = sv->bw[i];
        if (i + 1 < nb) {
            vkd_addr dy = vkd_arena_zeros(a, s, (uint64_t)B * bo[i] * bh * bw);
            vkd_downsample_backward(&e->down[i], p, s, a, dy, dx, &sv->down[i]);
            dx = dy;
        }
        for (uint32_t j = d->layers_per_block; j-- > 0;) {
            uint32_t cin = e->res[i][j].d.in_channels;
            vkd_addr dy = vkd_arena_zeros(a, s, (uint64_t)B * cin * bh * bw);
            vkd_resnet_backward(&e->res[i][j], p, s, a, dy, 0, dx, &sv->res[i][j]);
            dx = dy;
        }
    }
    vkd_prior_conv2d_backward(s, a, dimage, dx, sv->image, p, e->conv_in_w, e->conv_in_b, B, d->in_channels, sv->H, sv->W, bo[0], 3, 3,
                              &k_same3);
done:
    vkd_arena_pop(a, mark);
}

// ---------------------------------------------------------------------------
// Decoder

void vkd_vae_decode_forward(const vkd_vae* m, const vkd_params* p, vkd_stream* s, vkd_arena* a, vkd_addr image,
                            vkd_addr latent, uint32_t B, uint32_t h, uint32_t w, vkd_vae_decode_saved* saved) {
    const vkd_vae_desc* d = &m->d;
    const vkd_vae_decoder* dd = &m->dec;
    if (d->no_decoder) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "vae %s: decode on a model declared without its decoder", m->prefix);
        return;
    }
    if (!B || !h || !w || !image || !latent) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "vae %s: decode of an empty %ux%u latent (batch %u)", m->prefix, h, w, B);
        return;
    }
    vkd_arena_mark mark = vkd_arena_push(a);
    vkd_vae_decode_saved sv_local;
    vkd_vae_decode_saved* sv = saved ? saved : &sv_local;
    memset(sv, 0, sizeof(*sv));
    sv->B = B, sv->h = h, sv->w = w, sv->latent = latent;
    const uint32_t* bo = d->block_out_channels;
    uint32_t nb = d->num_blocks, L = d->latent_channels, C = bo[nb - 1], H = h, W = w;
    sv->post_quant = vkd_arena_alloc(a, s, (uint64_t)B * L * h * w);
    sv->conv_in = vkd_arena_alloc(a, s, (uint64_t)B * C * h * w);
    sv->mid_out = vkd_arena_alloc(a, s, (uint64_t)B * C * h * w);
    if (!sv->mid_out) goto done;
    vkd_prior_conv2d_forward(s, sv->post_quant, latent, p, m->post_quant_w, m->post_quant_b,
                       B, L, h, w, L, 1, 1, NULL);
    vkd_prior_conv2d_forward(s, sv->conv_in, sv->post_quant, p, dd->conv_in_w, dd->conv_in_b, B, L, h, w, C, 3, 3, &k_same3);
    mid_forward(&dd->mid, p, s, a, sv->mid_out, sv->conv_in, B, h, w, saved ? &sv->mid : NULL);
    vkd_addr x = sv->mid_out;
    for (uint32_t i = 0; i < nb; i++) {
        sv->bh[i] = H, sv->bw[i] = W;
        uint32_t cout = bo[nb - 1 - i];
        for (uint32_t j = 0; j <= d->layers_per_block; j++) {
            vkd_addr y = vkd_arena_alloc(a, s, (uint64_t)B * cout * H * W);
            if (!y) goto done;
            vkd_resnet_forward(&dd->res[i][j], p, s, a, y, x, 0, B, H, W, saved ? &sv->res[i][j] : NULL);
            sv->res_out[i][j] = x = y;
        }
        if (i + 1 < nb) {
            vkd_addr y = vkd_arena_alloc(a, s, (uint64_t)B * cout * 4 * H * W);
            if (!y) goto done;
            vkd_upsample_forward(&dd->up[i], p, s, a, y, x, B, H, W, saved ? &sv->up[i] : NULL);
            x = y, H *= 2, W *= 2;
        }
        sv->block_out[i] = x;
    }
    head_forward(s, a, p, dd->norm_w, dd->norm_b, dd->conv_out_w, dd->conv_out_b, d, image, x, B, bo[0], H, W,
                 d->out_channels, &sv->norm_mean, &sv->norm_rstd, &sv->norm_out, &sv->act);
    sv->image = image;
done:
    if (!saved) vkd_arena_pop(a, mark);
}

void vkd_vae_decode_backward(const vkd_vae* m, const vkd_params* p, vkd_stream* s, vkd_arena* a, vkd_addr dlatent,
                             vkd_addr dimage, const vkd_vae_decode_saved* sv) {
    const vkd_vae_desc* d = &m->d;
    const vkd_vae_decoder* dd = &m->dec;
    const uint32_t* bo = d->block_out_channels;
    uint32_t nb = d->num_blocks, L = d->latent_channels, B = sv->B, h = sv->h, w = sv->w, C = bo[nb - 1];
    uint32_t H = sv->bh[nb - 1], W = sv->bw[nb - 1];
    vkd_arena_mark mark = vkd_arena_push(a);
    vkd_addr dx = vkd_arena_zeros(a, s, (uint64_t)B * bo[0] * H * W);
    if (!dx) goto done;
    head_backward(s, a, p, dd->norm_w, dd->norm_b, dd->conv_out_w, dd->conv_out_b, d, dx, dimage, sv->block_out[nb - 1],
                  sv->norm_mean, sv->norm_rstd, sv->norm_out, sv->act, B, bo[0], H, W, d->out_channels);
    for (uint32_t i = nb; i-- > 0;) {
        uint32_t bh = sv->bh[i], bw = sv->bw[i], cout = bo[nb - 1 - i];
        if (i + 1 < nb) {
            vkd_addr dy = vkd_arena_zeros(a, s, (uint64_t)B * cout * bh * bw);
            vkd_upsample_backward(&dd->up[i], p, s, a, dy, dx, &sv->up[i]);
            dx = dy;
        }
        for (uint32_t j = d->layers_per_block + 1; j-- > 0;) {
            vkd_addr dy = vkd_arena_zeros(a, s, (uint64_t)B * dd->res[i][j].d.in_channels * bh * bw);
            vkd_resnet_backward(&dd->res[i][j], p, s, a, dy, 0, dx, &sv->res[i][j]);
            dx = dy;
        }
    }
    vkd_addr dconv_in = vkd_arena_zeros(a, s, (uint64_t)B * C * h * w);
    vkd_addr dpost = vkd_arena_zeros(a, s, (uint64_t)B * L * h * w);
    if (!dpost) goto done;
    mid_backward(&dd->mid, p, s, a, dconv_in, dx, &sv->mid);
    vkd_prior_conv2d_backward(s, a, dpost, dconv_in, sv->post_quant, p, dd->conv_in_w, dd->conv_in_b, B, L, h, w, C, 3, 3, &k_same3);
    vkd_prior_conv2d_backward(s, a, dlatent, dpost, sv->latent, p, m->post_quant_w, m->post_quant_b, B, L, h, w, L, 1, 1, NULL);
done:
    vkd_arena_pop(a, mark);
}
