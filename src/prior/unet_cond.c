// UNet2DConditionModel forward/backward composed from the prior blocks; see
// include/vkdream/prior/unet_cond.h.
#include "vkdream/prior/unet_cond.h"
#include "vkdream/nn/concat.h"
#include "vkdream/nn/conv2d.h"
#include "vkdream/nn/eltwise.h"
#include "vkdream/nn/groupnorm.h"
#include "vkdream/nn/linear.h"
#include "vkdream/nn/timestep.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SKIPS (1 + VKD_UNET_MAX_BLOCKS * (VKD_UNET_MAX_LAYERS + 1))

typedef struct tensor {
    vkd_addr a;
    uint32_t C, H, W;
} tensor;

struct vkd_unet_saved {
    uint32_t B, H, W, T;
    vkd_addr sample, ctx, class_labels;
    vkd_addr tproj, t_h, t_a, c_h, c_a, temb;
    tensor skips[MAX_SKIPS];
    uint32_t nskips;
    vkd_resnet_saved down_res[VKD_UNET_MAX_BLOCKS][VKD_UNET_MAX_LAYERS];
    vkd_addr down_res_out[VKD_UNET_MAX_BLOCKS][VKD_UNET_MAX_LAYERS];
    vkd_xformer_saved down_attn[VKD_UNET_MAX_BLOCKS][VKD_UNET_MAX_LAYERS];
    vkd_downsample_saved down_sample[VKD_UNET_MAX_BLOCKS];
    vkd_resnet_saved mid_res[2];
    vkd_xformer_saved mid_attn;
    tensor mid_in, mid_r0, mid_a, mid_out;
    tensor up_cat[VKD_UNET_MAX_BLOCKS][VKD_UNET_MAX_LAYERS + 1];
    tensor up_prev[VKD_UNET_MAX_BLOCKS][VKD_UNET_MAX_LAYERS + 1];
    uint32_t up_skip[VKD_UNET_MAX_BLOCKS][VKD_UNET_MAX_LAYERS + 1];
    vkd_resnet_saved up_res[VKD_UNET_MAX_BLOCKS][VKD_UNET_MAX_LAYERS + 1];
    vkd_addr up_res_out[VKD_UNET_MAX_BLOCKS][VKD_UNET_MAX_LAYERS + 1];
    vkd_xformer_saved up_attn[VKD_UNET_MAX_BLOCKS][VKD_UNET_MAX_LAYERS + 1];
    vkd_upsample_saved up_sample[VKD_UNET_MAX_BLOCKS];
    tensor up_block_in[VKD_UNET_MAX_BLOCKS]; // input to the upsampler (or the block's output)
    tensor final;                            // input of conv_norm_out
    vkd_addr nmean, nrstd, act;
};

vkd_unet_saved* vkd_unet_saved_new(void) { return calloc(1, sizeof(vkd_unet_saved)); }
void vkd_unet_saved_free(vkd_unet_saved* sv) { free(sv); }

static vkd_addr P(const vkd_params* p, uint32_t i) { return i == UINT32_MAX || !p ? 0 : vkd_params_addr(p, i); }
static vkd_addr G(const vkd_params* p, uint32_t i) { return i == UINT32_MAX || !p ? 0 : vkd_params_grad(p, i); }
// A block's saved state when the caller keeps one for the backward; NULL for inference, so
// every block releases its temporaries as it goes.
static void* keep(const vkd_unet_saved* saved, void* block_saved) { return saved ? block_saved : NULL; }

// ---------------------------------------------------------------------------
// Config

static vkd_status json_uint_array(const cJSON* v, uint32_t* out, uint32_t max, uint32_t* count, const char* what,
                                  const char* key, vkd_error* err) {
    if (cJSON_IsNumber(v)) {
        for (uint32_t i = 0; i < max; i++) out[i] = (uint32_t)v->valuedouble;
        if (count) *count = 0;
        return VKD_OK;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 || cJSON_GetArraySize(v) > (int)max)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: '%s' must be a number or a list of 1..%u numbers", what, key,
                             max);
    uint32_t n = 0;
    for (const cJSON* e = v->child; e; e = e->next, n++) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 1)
            return vkd_error_set(err, VKD_ERR_INVALID, "%s: '%s'[%u] must be a positive number", what, key, n);
        out[n] = (uint32_t)e->valuedouble;
    }
    if (count) *count = n;
    return VKD_OK;
}

vkd_status vkd_unet_config_parse(const char* json, size_t len, const char* what, vkd_unet_desc* d, vkd_error* err) {
    memset(d, 0, sizeof(*d));
    cJSON* root = cJSON_ParseWithLength(json, len);
    if (!root) return vkd_error_set(err, VKD_ERR_INVALID, "%s: not valid JSON", what);
    vkd_status st = VKD_OK;
    const cJSON* v;
#define NUM(key, field)                                                  \
    if ((v = cJSON_GetObjectItemCaseSensitive(root, key)) && cJSON_IsNumber(v)) d->field = (__typeof__(d->field))v->valuedouble;
    NUM("in_channels", in_channels);
    NUM("out_channels", out_channels);
    NUM("sample_size", sample_size);
    NUM("norm_num_groups", norm_groups);
    NUM("norm_eps", norm_eps);
    NUM("freq_shift", freq_shift);
    NUM("projection_class_embeddings_input_dim", class_embed_dim);
#undef NUM
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "layers_per_block")) && cJSON_IsNumber(v))
        d->layers_per_block = (uint32_t)v->valuedouble;
    else if (v)
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: 'layers_per_block' must be one number", what);
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "flip_sin_to_cos"))) d->flip_sin_to_cos = cJSON_IsTrue(v);
    else d->flip_sin_to_cos = true;
    if ((v = cJSON_GetObjectItemCaseSensitive(root, "use_linear_projection"))) d->linear_projection = cJSON_IsTrue(v);
    if (!st && (v = cJSON_GetObjectItemCaseSensitive(root, "cross_attention_dim"))) {
        if (!cJSON_IsNumber(v)) st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: 'cross_attention_dim' must be a number", what);
        else d->cross_attention_dim = (uint32_t)v->valuedouble;
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "block_out_channels");
    if (!st && !v) st = vkd_error_set(err, VKD_ERR_INVALID, "%s: missing 'block_out_channels'", what);
    if (!st) st = json_uint_array(v, d->block_out_channels, VKD_UNET_MAX_BLOCKS, &d->num_blocks, what, "block_out_channels", err);
    if (!st && !d->num_blocks) st = vkd_error_set(err, VKD_ERR_INVALID, "%s: 'block_out_channels' must be a list", what);
    // num_attention_heads wins when set; else attention_head_dim, which SD configs use as heads.
    v = cJSON_GetObjectItemCaseSensitive(root, "num_attention_heads");
    if (!v || cJSON_IsNull(v)) v = cJSON_GetObjectItemCaseSensitive(root, "attention_head_dim");
    if (!st && v) st = json_uint_array(v, d->heads, VKD_UNET_MAX_BLOCKS, NULL, what, "attention_head_dim", err);
    const char* keys[2] = {"down_block_types", "up_block_types"};
    for (int k = 0; k < 2 && !st; k++) {
        v = cJSON_GetObjectItemCaseSensitive(root, keys[k]);
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != (int)d->num_blocks) {
            st = vkd_error_set(err, VKD_ERR_INVALID, "%s: '%s' must list %u block types", what, keys[k], d->num_blocks);
            break;
        }
        uint32_t i = 0;
        for (const cJSON* e = v->child; e; e = e->next, i++) {
            const char* t = cJSON_IsString(e) ? e->valuestring : "";
            const char* plain = k ? "UpBlock2D" : "DownBlock2D";
            const char* cross = k ? "CrossAttnUpBlock2D" : "CrossAttnDownBlock2D";
            if (!strcmp(t, cross)) (k ? d->cross_up : d->cross_down)[i] = true;
            else if (strcmp(t, plain)) {
                st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: %s[%u] = '%s': expected %s or %s", what, keys[k], i, t,
                                   plain, cross);
                break;
            }
        }
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "mid_block_type");
    d->mid_cross = !v || cJSON_IsNull(v) || (cJSON_IsString(v) && !strcmp(v->valuestring, "UNetMidBlock2DCrossAttn"));
    if (!st && v && cJSON_IsString(v) && !d->mid_cross)
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: mid_block_type '%s' is not supported", what, v->valuestring);
    v = cJSON_GetObjectItemCaseSensitive(root, "class_embed_type");
    if (!st && v && cJSON_IsString(v) && strcmp(v->valuestring, "projection"))
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: class_embed_type '%s': only 'projection' is supported", what,
                           v->valuestring);
    if (!(v && cJSON_IsString(v))) d->class_embed_dim = 0;
    cJSON_Delete(root);
    return st;
}

vkd_status vkd_unet_config_load(const char* path, vkd_unet_desc* d, vkd_error* err) {
    FILE* f = fopen(path, "rb");
    if (!f) return vkd_error_set(err, VKD_ERR_IO, "%s: cannot open the UNet config", path);
    char* buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 > cap && !(buf = realloc(buf, cap = cap * 2 + 8192))) break;
        size_t r = fread(buf + n, 1, 4096, f);
        n += r;
        if (r < 4096) break;
    }
    fclose(f);
    if (!buf) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    vkd_status st = vkd_unet_config_parse(buf, n, path, d, err);
    free(buf);
    return st;
}

// ---------------------------------------------------------------------------
// Declaration

static vkd_status resolve(const vkd_unet_desc* in, vkd_unet_desc* d, vkd_error* err) {
    *d = *in;
    if (!d->in_channels) d->in_channels = 4;
    if (!d->out_channels) d->out_channels = 4;
    if (!d->sample_size) d->sample_size = 64;
    if (!d->layers_per_block) d->layers_per_block = 2;
    if (!d->norm_groups) d->norm_groups = 32;
    if (!d->norm_eps) d->norm_eps = 1e-5f;
    if (!d->lora_alpha) d->lora_alpha = (float)d->lora_rank;
    if (!d->num_blocks || d->num_blocks > VKD_UNET_MAX_BLOCKS || d->layers_per_block > VKD_UNET_MAX_LAYERS ||
        !d->cross_attention_dim)
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "unet: %u blocks (1..%d), %u layers per block (1..%d), cross_attention_dim %u (> 0)",
                             d->num_blocks, VKD_UNET_MAX_BLOCKS, d->layers_per_block, VKD_UNET_MAX_LAYERS,
                             d->cross_attention_dim);
    for (uint32_t i = 0; i < d->num_blocks; i++) {
        if (!d->heads[i]) d->heads[i] = 8;
        if (!d->block_out_channels[i])
            return vkd_error_set(err, VKD_ERR_INVALID, "unet: block_out_channels[%u] is 0", i);
    }
    return VKD_OK;
}

vkd_status vkd_unet_declare(vkd_unet* m, vkd_params* p, vkd_params* lora, const char* prefix, const vkd_unet_desc* in,
                            vkd_error* err) {
    memset(m, 0, sizeof(*m));
    vkd_status st = resolve(in, &m->d, err);
    if (st) return st;
    const vkd_unet_desc* d = &m->d;
    snprintf(m->prefix, sizeof m->prefix, "%s", prefix ? prefix : "");
    const char* px = m->prefix;
    if ((d->lora_rank || d->class_embed_dim) && !lora)
        return vkd_error_set(err, VKD_ERR_INVALID, "unet: LoRA / class embedding need a trainable parameter set");
    uint32_t c0 = d->block_out_channels[0], D = 4 * c0, nb = d->num_blocks, L = d->layers_per_block;
    m->temb_dim = D;
    char name[VKD_MODULE_PREFIX_MAX + 64];
    st = vkd_prior_param(p, &m->time_l1_w, err, 2, (int64_t[]){D, c0}, px, "time_embedding.linear_1.weight");
    if (!st) st = vkd_prior_param(p, &m->time_l1_b, err, 1, (int64_t[]){D}, px, "time_embedding.linear_1.bias");
    if (!st) st = vkd_prior_param(p, &m->time_l2_w, err, 2, (int64_t[]){D, D}, px, "time_embedding.linear_2.weight");
    if (!st) st = vkd_prior_param(p, &m->time_l2_b, err, 1, (int64_t[]){D}, px, "time_embedding.linear_2.bias");
    m->class_l1_w = m->class_l1_b = m->class_l2_w = m->class_l2_b = UINT32_MAX;
    if (!st && d->class_embed_dim) {
        int64_t cd = d->class_embed_dim;
        st = vkd_prior_param(lora, &m->class_l1_w, err, 2, (int64_t[]){D, cd}, px, "class_embedding.linear_1.weight");
        if (!st) st = vkd_prior_param(lora, &m->class_l1_b, err, 1, (int64_t[]){D}, px, "class_embedding.linear_1.bias");
        if (!st) st = vkd_prior_param(lora, &m->class_l2_w, err, 2, (int64_t[]){D, D}, px, "class_embedding.linear_2.weight");
        if (!st) st = vkd_prior_param(lora, &m->class_l2_b, err, 1, (int64_t[]){D}, px, "class_embedding.linear_2.bias");
    }
    if (!st) st = vkd_prior_param(p, &m->conv_in_w, err, 4, (int64_t[]){c0, d->in_channels, 3, 3}, px, "conv_in.weight");
    if (!st) st = vkd_prior_param(p, &m->conv_in_b, err, 1, (int64_t[]){c0}, px, "conv_in.bias");
    vkd_xformer_desc xd = {.context_dim = d->cross_attention_dim, .groups = d->norm_groups,
                           .linear_projection = d->linear_projection, .lora_rank = d->lora_rank,
                           .lora_alpha = d->lora_alpha};
    uint32_t ch = c0;
    for (uint32_t i = 0; i < nb && !st; i++) {
        uint32_t out = d->block_out_channels[i];
        for (uint32_t j = 0; j < L && !st; j++) {
            snprintf(name, sizeof name, "%sdown_blocks.%u.resnets.%u.", px, i, j);
            vkd_resnet_desc rd = {.in_channels = j ? out : ch, .out_channels = out, .temb_channels = D,
                                  .groups = d->norm_groups, .eps = d->norm_eps};
            st = vkd_resnet_declare(&m->down_res[i][j], p, name, &rd, err);
            if (!st && d->cross_down[i]) {
                snprintf(name, sizeof name, "%sdown_blocks.%u.attentions.%u.", px, i, j);
                xd.channels = out, xd.heads = d->heads[i];
                st = vkd_xformer_declare(&m->down_attn[i][j], p, lora, name, &xd, err);
            }
        }
        if (!st && i + 1 < nb) {
            snprintf(name, sizeof name, "%sdown_blocks.%u.downsamplers.0.", px, i);
            st = vkd_downsample_declare(&m->down_sample[i], p, name, &(vkd_sample_desc){.in_channels = out}, err);
        }
        ch = out;
    }
    uint32_t top = d->block_out_channels[nb - 1];
    for (int k = 0; k < 2 && !st; k++) {
        snprintf(name, sizeof name, "%smid_block.resnets.%d.", px, k);
        vkd_resnet_desc rd = {.in_channels = top, .temb_channels = D, .groups = d->norm_groups, .eps = d->norm_eps};
        st = vkd_resnet_declare(&m->mid_res[k], p, name, &rd, err);
    }
    if (!st && d->mid_cross) {
        snprintf(name, sizeof name, "%smid_block.attentions.0.", px);
        xd.channels = top, xd.heads = d->heads[nb - 1];
        st = vkd_xformer_declare(&m->mid_attn, p, lora, name, &xd, err);
    }
    uint32_t prev = top;
    for (uint32_t i = 0; i < nb && !st; i++) {
        uint32_t out = d->block_out_channels[nb - 1 - i];
        uint32_t inc = d->block_out_channels[nb - 1 - (i + 1 < nb ? i + 1 : i)];
        for (uint32_t j = 0; j <= L && !st; j++) {
            uint32_t skip = j == L ? inc : out, rin = j ? out : prev;
            snprintf(name, sizeof name, "%sup_blocks.%u.resnets.%u.", px, i, j);
            vkd_resnet_desc rd = {.in_channels = rin + skip, .out_channels = out, .temb_channels = D,
                                  .groups = d->norm_groups, .eps = d->norm_eps};
            st = vkd_resnet_declare(&m->up_res[i][j], p, name, &rd, err);
            if (!st && d->cross_up[i]) {
                snprintf(name, sizeof name, "%sup_blocks.%u.attentions.%u.", px, i, j);
                xd.channels = out, xd.heads = d->heads[nb - 1 - i];
                st = vkd_xformer_declare(&m->up_attn[i][j], p, lora, name, &xd, err);
            }
        }
        if (!st && i + 1 < nb) {
            snprintf(name, sizeof name, "%sup_blocks.%u.upsamplers.0.", px, i);
            st = vkd_upsample_declare(&m->up_sample[i], p, name, &(vkd_sample_desc){.in_channels = out}, err);
        }
        prev = out;
    }
    if (!st) st = vkd_prior_param(p, &m->norm_out_w, err, 1, (int64_t[]){c0}, px, "conv_norm_out.weight");
    if (!st) st = vkd_prior_param(p, &m->norm_out_b, err, 1, (int64_t[]){c0}, px, "conv_norm_out.bias");
    if (!st) st = vkd_prior_param(p, &m->conv_out_w, err, 4, (int64_t[]){d->out_channels, c0, 3, 3}, px, "conv_out.weight");
    if (!st) st = vkd_prior_param(p, &m->conv_out_b, err, 1, (int64_t[]){d->out_channels}, px, "conv_out.bias");
    return st;
}

// ---------------------------------------------------------------------------
// Forward

static const vkd_conv2d_desc pad1 = {.pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1};

void vkd_unet_forward(const vkd_unet* m, const vkd_params* p, const vkd_params* lora, vkd_stream* s, vkd_arena* a,
                      vkd_addr out, vkd_addr sample, vkd_addr timesteps, vkd_addr ctx, vkd_addr class_labels,
                      uint32_t B, uint32_t H, uint32_t W, uint32_t T, vkd_unet_saved* saved, vkd_unet_acts* acts) {
    const vkd_unet_desc* d = &m->d;
    uint32_t nb = d->num_blocks, L = d->layers_per_block, D = m->temb_dim, c0 = d->block_out_channels[0];
    if ((H >> (nb - 1)) << (nb - 1) != H || (W >> (nb - 1)) << (nb - 1) != W) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "unet: %ux%u latents must be divisible by %u", H, W, 1u << (nb - 1));
        return;
    }
    if (d->class_embed_dim && !class_labels) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "unet: the model has a class embedding: class_labels are required");
        return;
    }
    vkd_arena_mark mark = vkd_arena_push(a);
    vkd_unet_saved* sv = saved ? saved : calloc(1, sizeof *sv);
    if (!sv) {
        vkd_stream_fail(s, VKD_ERR_OUT_OF_MEMORY, "unet: out of host memory");
        return;
    }
    memset(sv, 0, sizeof *sv);
    sv->B = B, sv->H = H, sv->W = W, sv->T = T, sv->sample = sample, sv->ctx = ctx, sv->class_labels = class_labels;
    // Time embedding.
    sv->tproj = vkd_arena_alloc(a, s, (uint64_t)B * c0);
    sv->t_h = vkd_arena_alloc(a, s, (uint64_t)B * D);
    sv->t_a = vkd_arena_alloc(a, s, (uint64_t)B * D);
    sv->temb = vkd_arena_alloc(a, s, (uint64_t)B * D);
    if (!sv->temb) goto fail;
    vkd_timestep_desc td = {.flip_sin_to_cos = d->flip_sin_to_cos, .downscale_freq_shift = d->freq_shift};
    vkd_timestep_embedding_forward(s, sv->tproj, timesteps, B, c0, &td);
    vkd_linear_forward(s, sv->t_h, sv->tproj, P(p, m->time_l1_w), P(p, m->time_l1_b), B, c0, D, vkd_params_is_f16(p, m->time_l1_w));
    vkd_unary_forward(s, sv->t_a, sv->t_h, B * D, VKD_UNARY_SILU);
    vkd_linear_forward(s, sv->temb, sv->t_a, P(p, m->time_l2_w), P(p, m->time_l2_b), B, D, D, vkd_params_is_f16(p, m->time_l2_w));
    if (d->class_embed_dim) {
        sv->c_h = vkd_arena_alloc(a, s, (uint64_t)B * D);
        sv->c_a = vkd_arena_alloc(a, s, (uint64_t)B * D);
        vkd_addr c_out = vkd_arena_alloc(a, s, (uint64_t)B * D);
        if (!c_out) goto fail;
        vkd_linear_forward(s, sv->c_h, class_labels, P(lora, m->class_l1_w), P(lora, m->class_l1_b), B,
                           d->class_embed_dim, D, false);
        vkd_unary_forward(s, sv->c_a, sv->c_h, B * D, VKD_UNARY_SILU);
        vkd_linear_forward(s, c_out, sv->c_a, P(lora, m->class_l2_w), P(lora, m->class_l2_b), B, D, D, false);
        vkd_binary_forward(s, sv->temb, sv->temb, c_out, B * D, VKD_BINARY_ADD);
    }
    if (acts) acts->time_proj = sv->tproj, acts->temb = sv->temb;
    // conv_in.
    tensor h = {vkd_arena_alloc(a, s, (uint64_t)B * c0 * H * W), c0, H, W};
    if (!h.a) goto fail;
    vkd_prior_conv2d_forward(s, h.a, sample, p, m->conv_in_w, m->conv_in_b, B, d->in_channels, H, W, c0, 3, 3, &pad1);
    if (acts) acts->conv_in = h.a;
    sv->skips[sv->nskips++] = h;
    // Down blocks.
    for (uint32_t i = 0; i < nb; i++) {
        uint32_t outc = d->block_out_channels[i];
        for (uint32_t j = 0; j < L; j++) {
            uint64_t n = (uint64_t)B * outc * h.H * h.W;
            vkd_addr r = vkd_arena_alloc(a, s, n);
            if (!r) goto fail;
            vkd_resnet_forward(&m->down_res[i][j], p, s, a, r, h.a, sv->temb, B, h.H, h.W, keep(saved, &sv->down_res[i][j]));
            sv->down_res_out[i][j] = r;
            if (acts && i == 0 && j == 0) acts->down_res0 = r;
            tensor o = {r, outc, h.H, h.W};
            if (d->cross_down[i]) {
                vkd_addr x = vkd_arena_alloc(a, s, n);
                if (!x) goto fail;
                vkd_xformer_forward(&m->down_attn[i][j], p, lora, s, a, x, r, ctx, B, h.H, h.W, T, keep(saved, &sv->down_attn[i][j]));
                o.a = x;
                if (acts && i == 0 && j == 0) acts->down_attn0 = x;
            }
            h = o;
            sv->skips[sv->nskips++] = h;
        }
        if (i + 1 < nb) {
            uint32_t OH, OW;
            vkd_downsample_out_size(&m->down_sample[i], h.H, h.W, &OH, &OW);
            tensor o = {vkd_arena_alloc(a, s, (uint64_t)B * outc * OH * OW), outc, OH, OW};
            if (!o.a) goto fail;
            vkd_downsample_forward(&m->down_sample[i], p, s, a, o.a, h.a, B, h.H, h.W, keep(saved, &sv->down_sample[i]));
            h = o;
            sv->skips[sv->nskips++] = h;
        }
        if (acts) acts->down[i] = h.a;
    }
    // Mid block.
    sv->mid_in = h;
    uint64_t nm = (uint64_t)B * h.C * h.H * h.W;
    sv->mid_r0 = (tensor){vkd_arena_alloc(a, s, nm), h.C, h.H, h.W};
    sv->mid_a = d->mid_cross ? (tensor){vkd_arena_alloc(a, s, nm), h.C, h.H, h.W} : sv->mid_r0;
    sv->mid_out = (tensor){vkd_arena_alloc(a, s, nm), h.C, h.H, h.W};
    if (!sv->mid_out.a) goto fail;
    vkd_resnet_forward(&m->mid_res[0], p, s, a, sv->mid_r0.a, h.a, sv->temb, B, h.H, h.W, keep(saved, &sv->mid_res[0]));
    if (d->mid_cross)
        vkd_xformer_forward(&m->mid_attn, p, lora, s, a, sv->mid_a.a, sv->mid_r0.a, ctx, B, h.H, h.W, T, keep(saved, &sv->mid_attn));
    vkd_resnet_forward(&m->mid_res[1], p, s, a, sv->mid_out.a, sv->mid_a.a, sv->temb, B, h.H, h.W, keep(saved, &sv->mid_res[1]));
    h = sv->mid_out;
    if (acts) acts->mid = h.a;
    // Up blocks.
    uint32_t k = sv->nskips;
    for (uint32_t i = 0; i < nb; i++) {
        uint32_t outc = d->block_out_channels[nb - 1 - i];
        for (uint32_t j = 0; j <= L; j++) {
            tensor skip = sv->skips[--k];
            sv->up_skip[i][j] = k;
            sv->up_prev[i][j] = h;
            tensor cat = {vkd_arena_alloc(a, s, (uint64_t)B * (h.C + skip.C) * h.H * h.W), h.C + skip.C, h.H, h.W};
            vkd_addr r = vkd_arena_alloc(a, s, (uint64_t)B * outc * h.H * h.W);
            if (!r || !cat.a) goto fail;
            vkd_concat_forward(s, cat.a, h.a, skip.a, B, h.C, skip.C, h.H, h.W);
            sv->up_cat[i][j] = cat;
            vkd_resnet_forward(&m->up_res[i][j], p, s, a, r, cat.a, sv->temb, B, h.H, h.W, keep(saved, &sv->up_res[i][j]));
            sv->up_res_out[i][j] = r;
            tensor o = {r, outc, h.H, h.W};
            if (d->cross_up[i]) {
                vkd_addr x = vkd_arena_alloc(a, s, (uint64_t)B * outc * h.H * h.W);
                if (!x) goto fail;
                vkd_xformer_forward(&m->up_attn[i][j], p, lora, s, a, x, r, ctx, B, h.H, h.W, T, keep(saved, &sv->up_attn[i][j]));
                o.a = x;
            }
            h = o;
        }
        sv->up_block_in[i] = h;
        if (i + 1 < nb) {
            tensor o = {vkd_arena_alloc(a, s, (uint64_t)B * outc * h.H * h.W * 4), outc, h.H * 2, h.W * 2};
            if (!o.a) goto fail;
            vkd_upsample_forward(&m->up_sample[i], p, s, a, o.a, h.a, B, h.H, h.W, keep(saved, &sv->up_sample[i]));
            h = o;
        }
        if (acts) acts->up[i] = h.a;
    }
    // Output.
    sv->final = h;
    sv->nmean = vkd_arena_alloc(a, s, (uint64_t)B * d->norm_groups);
    sv->nrstd = vkd_arena_alloc(a, s, (uint64_t)B * d->norm_groups);
    sv->act = vkd_arena_alloc(a, s, (uint64_t)B * c0 * H * W);
    if (!sv->act) goto fail;
    vkd_groupnorm_forward(s, sv->act, sv->nmean, sv->nrstd, h.a, P(p, m->norm_out_w), P(p, m->norm_out_b), B, c0, H, W,
                          d->norm_groups, d->norm_eps, true);
    if (acts) {
        acts->conv_act = sv->act;
        // The pre-SiLU GroupNorm output, which the fused kernel never materialises.
        acts->conv_norm_out = vkd_arena_alloc(a, s, (uint64_t)B * c0 * H * W);
        vkd_addr m2 = vkd_arena_alloc(a, s, (uint64_t)B * d->norm_groups), r2 = vkd_arena_alloc(a, s, (uint64_t)B * d->norm_groups);
        if (r2)
            vkd_groupnorm_forward(s, acts->conv_norm_out, m2, r2, h.a, P(p, m->norm_out_w), P(p, m->norm_out_b), B, c0,
                                  H, W, d->norm_groups, d->norm_eps, false);
    }
    vkd_prior_conv2d_forward(s, out, sv->act, p, m->conv_out_w, m->conv_out_b, B, c0, H, W, d->out_channels, 3, 3,
                       &pad1);
    if (!saved) {
        free(sv);
        // The output is the caller's; everything else goes (streams run in order, so later work
        // may reuse this memory).
        if (!acts) vkd_arena_pop(a, mark);
    }
    return;
fail:
    if (!saved) free(sv);
    vkd_arena_pop(a, mark);
}

// ---------------------------------------------------------------------------
// Backward

void vkd_unet_backward(const vkd_unet* m, const vkd_params* p, const vkd_params* lora, vkd_stream* s, vkd_arena* a,
                       vkd_addr dsample, vkd_addr dctx, vkd_addr dclass, vkd_addr dout, const vkd_unet_saved* sv) {
    const vkd_unet_desc* d = &m->d;
    uint32_t nb = d->num_blocks, L = d->layers_per_block, D = m->temb_dim, c0 = d->block_out_channels[0];
    uint32_t B = sv->B, H = sv->H, W = sv->W;
    vkd_arena_mark mark = vkd_arena_push(a);
    vkd_addr dtemb = vkd_arena_zeros(a, s, (uint64_t)B * D);
    // A gradient buffer per skip tensor: its concat consumer and the down path both add to it.
    vkd_addr dskip[MAX_SKIPS];
    for (uint32_t k = 0; k < sv->nskips; k++) {
        const tensor* t = &sv->skips[k];
        dskip[k] = vkd_arena_zeros(a, s, (uint64_t)B * t->C * t->H * t->W);
    }
    // conv_out and conv_norm_out (+ SiLU).
    vkd_addr dact = vkd_arena_zeros(a, s, (uint64_t)B * c0 * H * W);
    vkd_addr dh = vkd_arena_zeros(a, s, (uint64_t)B * c0 * H * W);
    if (!dh) {
        vkd_arena_pop(a, mark);
        return;
    }
    vkd_prior_conv2d_backward(s, a, dact, dout, sv->act, p, m->conv_out_w, m->conv_out_b,
                              B, c0, H, W, d->out_channels, 3, 3, &pad1);
    {
        uint64_t bytes = vkd_groupnorm_backward_scratch_bytes(B, c0, d->norm_groups);
        vkd_addr gs = vkd_arena_alloc(a, s, (bytes + 3) / 4);
        vkd_groupnorm_backward(s, dh, G(p, m->norm_out_w), G(p, m->norm_out_b), gs, dact, sv->final.a,
                               P(p, m->norm_out_w), P(p, m->norm_out_b), sv->nmean, sv->nrstd, B, c0, H, W,
                               d->norm_groups, true);
    }
    // Up blocks, last to first.
    for (int i = (int)nb - 1; i >= 0; i--) {
        if (i + 1 < (int)nb) {
            const tensor* in = &sv->up_block_in[i];
            vkd_addr din = vkd_arena_zeros(a, s, (uint64_t)B * in->C * in->H * in->W);
            vkd_upsample_backward(&m->up_sample[i], p, s, a, din, dh, &sv->up_sample[i]);
            dh = din;
        }
        for (int j = (int)L; j >= 0; j--) {
            const tensor* cat = &sv->up_cat[i][j];
            const tensor* prev = &sv->up_prev[i][j];
            uint32_t outc = d->block_out_channels[nb - 1 - i];
            uint64_t n = (uint64_t)B * outc * cat->H * cat->W;
            vkd_addr dr = dh;
            if (d->cross_up[i]) {
                dr = vkd_arena_zeros(a, s, n);
                vkd_xformer_backward(&m->up_attn[i][j], p, lora, s, a, dr, dctx, dh, &sv->up_attn[i][j]);
            }
            vkd_addr dcat = vkd_arena_zeros(a, s, (uint64_t)B * cat->C * cat->H * cat->W);
            vkd_resnet_backward(&m->up_res[i][j], p, s, a, dcat, dtemb, dr, &sv->up_res[i][j]);
            vkd_addr dprev = vkd_arena_zeros(a, s, (uint64_t)B * prev->C * prev->H * prev->W);
            uint32_t k = sv->up_skip[i][j];
            vkd_concat_backward(s, dprev, dskip[k], dcat, B, prev->C, sv->skips[k].C, cat->H, cat->W);
            dh = dprev;
        }
    }
    // Mid block.
    {
        const tensor* t = &sv->mid_out;
        uint64_t n = (uint64_t)B * t->C * t->H * t->W;
        vkd_addr da = vkd_arena_zeros(a, s, n);
        vkd_resnet_backward(&m->mid_res[1], p, s, a, da, dtemb, dh, &sv->mid_res[1]);
        vkd_addr dr0 = da;
        if (d->mid_cross) {
            dr0 = vkd_arena_zeros(a, s, n);
            vkd_xformer_backward(&m->mid_attn, p, lora, s, a, dr0, dctx, da, &sv->mid_attn);
        }
        // The mid block's input is the last skip tensor.
        vkd_resnet_backward(&m->mid_res[0], p, s, a, dskip[sv->nskips - 1], dtemb, dr0, &sv->mid_res[0]);
    }
    // Down blocks, last to first: every tensor of the down path is a skip, so a layer's input
    // gradient is the previous skip's buffer.
    uint32_t k = sv->nskips - 1;
    for (int i = (int)nb - 1; i >= 0; i--) {
        if (i + 1 < (int)nb) {
            vkd_downsample_backward(&m->down_sample[i], p, s, a, dskip[k - 1], dskip[k], &sv->down_sample[i]);
            k--;
        }
        for (int j = (int)L - 1; j >= 0; j--) {
            const tensor* t = &sv->skips[k];
            vkd_addr dr = dskip[k];
            if (d->cross_down[i]) {
                dr = vkd_arena_zeros(a, s, (uint64_t)B * t->C * t->H * t->W);
                vkd_xformer_backward(&m->down_attn[i][j], p, lora, s, a, dr, dctx, dskip[k], &sv->down_attn[i][j]);
            }
            vkd_resnet_backward(&m->down_res[i][j], p, s, a, dskip[k - 1], dtemb, dr, &sv->down_res[i][j]);
            k--;
        }
    }
    // conv_in.
    vkd_prior_conv2d_backward(s, a, dsample, dskip[0], sv->sample, p, m->conv_in_w, m->conv_in_b, B, d->in_channels, H, W, c0, 3, 3, &pad1);
    // Time and class embeddings.
    if (G(p, m->time_l2_w) || G(p, m->time_l1_w)) {
        vkd_addr da = vkd_arena_zeros(a, s, (uint64_t)B * D), dhh = vkd_arena_zeros(a, s, (uint64_t)B * D);
        vkd_linear_backward(s, da, G(p, m->time_l2_w), G(p, m->time_l2_b), dtemb, sv->t_a, P(p, m->time_l2_w), B, D, D,
                            vkd_params_is_f16(p, m->time_l2_w));
        vkd_unary_backward(s, dhh, da, sv->t_h, B * D, VKD_UNARY_SILU);
        vkd_linear_backward(s, 0, G(p, m->time_l1_w), G(p, m->time_l1_b), dhh, sv->tproj, P(p, m->time_l1_w), B, c0, D,
                            vkd_params_is_f16(p, m->time_l1_w));
    }
    if (d->class_embed_dim && (dclass || G(lora, m->class_l2_w))) {
        vkd_addr da = vkd_arena_zeros(a, s, (uint64_t)B * D), dhh = vkd_arena_zeros(a, s, (uint64_t)B * D);
        vkd_linear_backward(s, da, G(lora, m->class_l2_w), G(lora, m->class_l2_b), dtemb, sv->c_a, P(lora, m->class_l2_w),
                            B, D, D, false);
        vkd_unary_backward(s, dhh, da, sv->c_h, B * D, VKD_UNARY_SILU);
        vkd_linear_backward(s, dclass, G(lora, m->class_l1_w), G(lora, m->class_l1_b), dhh, sv->class_labels,
                            P(lora, m->class_l1_w), B, d->class_embed_dim, D, false);
    }
    vkd_arena_pop(a, mark);
}
