// Architecture inference from the tensor shapes of an original single-file SD checkpoint;
// see include/vkdream/prior/sd_arch.h for what shapes cannot tell and the defaults used.
#include "vkdream/prior/sd_arch.h"
#include "vkdream/safetensors.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNET "model.diffusion_model."
#define VAE "first_stage_model."
#define TEXT_HF "cond_stage_model.transformer."
#define TEXT_OC "cond_stage_model.model."

static const vkd_tensor_info* findf(const vkd_safetensors* f, const char* fmt, ...) VKD_PRINTF(2, 3);
static const vkd_tensor_info* findf(const vkd_safetensors* f, const char* fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return vkd_safetensors_find(f, name);
}

// 1 + the largest N among names "<prefix>N." (0 when none).
static int count_index(const vkd_safetensors* f, const char* prefix) {
    size_t n = strlen(prefix);
    int best = 0;
    for (size_t i = 0; i < vkd_safetensors_count(f); i++) {
        const char* name = vkd_safetensors_at(f, i)->name;
        if (strncmp(name, prefix, n) || !isdigit((unsigned char)name[n])) continue;
        char* end = NULL;
        long v = strtol(name + n, &end, 10);
        if (*end == '.' && v >= 0 && v < 100000 && v + 1 > best) best = (int)v + 1;
    }
    return best;
}

static bool has_prefix(const vkd_safetensors* f, const char* prefix) {
    size_t n = strlen(prefix);
    for (size_t i = 0; i < vkd_safetensors_count(f); i++)
        if (!strncmp(vkd_safetensors_at(f, i)->name, prefix, n)) return true;
    return false;
}

// A required tensor: error naming the file and the tensor when absent or of the wrong rank.
static vkd_status need(const vkd_safetensors* f, const vkd_tensor_info** out, int min_ndim, vkd_error* err,
                       const char* fmt, ...) VKD_PRINTF(5, 6);
static vkd_status need(const vkd_safetensors* f, const vkd_tensor_info** out, int min_ndim, vkd_error* err,
                       const char* fmt, ...) {
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    *out = vkd_safetensors_find(f, name);
    if (!*out)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: missing tensor '%s' (needed to infer the architecture)",
                             vkd_safetensors_path(f), name);
    if ((*out)->ndim < min_ndim)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: tensor '%s' has %d dims, expected at least %d",
                             vkd_safetensors_path(f), name, (*out)->ndim, min_ndim);
    return VKD_OK;
}

static vkd_status infer_unet(vkd_sd_unet_arch* a, const vkd_safetensors* f, vkd_error* err) {
    vkd_sd_unet_arch_default(a);
    const char* path = vkd_safetensors_path(f);
    const vkd_tensor_info* t;
    vkd_status st;
    if ((st = need(f, &t, 4, err, UNET "input_blocks.0.0.weight"))) return st;
    a->in_channels = (int)t->shape[1];
    int c0 = (int)t->shape[0];
    if ((st = need(f, &t, 4, err, UNET "out.2.weight"))) return st;
    a->out_channels = (int)t->shape[0];
    if ((st = need(f, &t, 2, err, UNET "time_embed.0.weight"))) return st;
    a->time_embed_dim = (int)t->shape[0];
    if (t->shape[1] != c0)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                             "%s: time_embed.0.weight takes %lld inputs but the model has %d channels (only a "
                             "sinusoidal embedding of block_out_channels[0] is supported)",
                             path, (long long)t->shape[1], c0);

    // input_blocks: 0 = conv_in, then per level `lpb` (resnet [+ attention]) blocks and, but for
    // the last level, one downsampler: levels * (lpb + 1) blocks in all.
    int n_in = count_index(f, UNET "input_blocks."), n_out = count_index(f, UNET "output_blocks.");
    int first_down = 0;
    for (int k = 1; k < n_in && !first_down; k++)
        if (findf(f, UNET "input_blocks.%d.0.op.weight", k)) first_down = k;
    int lpb = first_down ? first_down - 1 : n_in - 1;
    if (lpb < 1 || n_in % (lpb + 1) || n_out != n_in)
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "%s: cannot infer the UNet blocks: %d input_blocks, %d output_blocks, first downsampler "
                             "at input_blocks.%d",
                             path, n_in, n_out, first_down);
    int levels = n_in / (lpb + 1);
    if (levels > VKD_SD_MAX_LEVELS)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: %d UNet levels (at most %d)", path, levels,
                             VKD_SD_MAX_LEVELS);
    a->levels = levels;
    a->layers_per_block = lpb;
    const vkd_tensor_info* first_attn = NULL;
    for (int i = 0; i < levels; i++) {
        int blk = (lpb + 1) * i + 1;
        if ((st = need(f, &t, 4, err, UNET "input_blocks.%d.0.out_layers.3.weight", blk))) return st;
        a->block_out_channels[i] = (int)t->shape[0];
        const vkd_tensor_info* pin = findf(f, UNET "input_blocks.%d.1.proj_in.weight", blk);
        a->down_attn[i] = pin != NULL;
        a->up_attn[i] = findf(f, UNET "output_blocks.%d.1.proj_in.weight", (lpb + 1) * i) != NULL;
        if (pin) {
            if (!first_attn) first_attn = pin;
            char prefix[128];
            snprintf(prefix, sizeof prefix, UNET "input_blocks.%d.1.transformer_blocks.", blk);
            a->transformer_layers[i] = count_index(f, prefix);
        } else {
            a->transformer_layers[i] = 1;
        }
        if (i > 0 && i < levels && !findf(f, UNET "input_blocks.%d.0.op.weight", (lpb + 1) * i))
            return vkd_error_set(err, VKD_ERR_INVALID, "%s: missing tensor '" UNET "input_blocks.%d.0.op.weight' "
                                 "(the downsampler of level %d)", path, (lpb + 1) * i, i - 1);
    }
    const vkd_tensor_info* mid = findf(f, UNET "middle_block.1.proj_in.weight");
    a->mid_attn = mid != NULL;
    if (!a->mid_attn)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: no '" UNET "middle_block.1.proj_in.weight': only "
                             "UNets with a cross-attention mid block are supported", path);
    if (!first_attn) first_attn = mid;
    a->use_linear_projection = first_attn->ndim == 2;
    // attn2.to_k of any attention block gives the cross-attention width.
    const char* attn_name = first_attn->name;
    char kname[512];
    snprintf(kname, sizeof kname, "%.*stransformer_blocks.0.attn2.to_k.weight",
             (int)(strlen(attn_name) - strlen("proj_in.weight")), attn_name);
    const vkd_tensor_info* k = vkd_safetensors_find(f, kname);
    if (!k || k->ndim != 2)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: missing tensor '%s'", path, kname);
    a->cross_attention_dim = (int)k->shape[1];
    if (findf(f, UNET "label_emb.0.0.weight")) {
        a->class_embed = VKD_SD_CLASS_EMBED_PROJECTION;
        a->class_embed_input_dim = (int)findf(f, UNET "label_emb.0.0.weight")->shape[1];
    } else if (findf(f, UNET "label_emb.weight")) {
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: '" UNET "label_emb.weight' (a class-label embedding "
                             "table) is not supported", path);
    }
    return VKD_OK;
}

static vkd_status infer_vae(vkd_sd_vae_arch* a, const vkd_safetensors* f, vkd_error* err) {
    vkd_sd_vae_arch_default(a);
    const char* path = vkd_safetensors_path(f);
    const vkd_tensor_info* t;
    vkd_status st;
    if ((st = need(f, &t, 4, err, VAE "encoder.conv_in.weight"))) return st;
    a->in_channels = (int)t->shape[1];
    if ((st = need(f, &t, 4, err, VAE "decoder.conv_out.weight"))) return st;
    a->out_channels = (int)t->shape[0];
    if ((st = need(f, &t, 2, err, VAE "post_quant_conv.weight"))) return st;
    a->latent_channels = (int)t->shape[0];
    int levels = count_index(f, VAE "encoder.down.");
    int lpb = count_index(f, VAE "encoder.down.0.block.");
    if (levels < 1 || levels > VKD_SD_MAX_LEVELS || lpb < 1)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: cannot infer the VAE blocks (%d encoder.down levels, %d "
                             "blocks in level 0)", path, levels, lpb);
    a->levels = levels;
    a->layers_per_block = lpb;
    for (int i = 0; i < levels; i++) {
        if ((st = need(f, &t, 4, err, VAE "encoder.down.%d.block.0.conv2.weight", i))) return st;
        a->block_out_channels[i] = (int)t->shape[0];
    }
    a->mid_attn = findf(f, VAE "encoder.mid.attn_1.q.weight") != NULL;
    return VKD_OK;
}

static vkd_status infer_text(vkd_sd_text_arch* a, const vkd_safetensors* f, vkd_sd_text_layout* layout,
                             vkd_error* err) {
    vkd_sd_text_arch_default(a);
    const char* path = vkd_safetensors_path(f);
    const vkd_tensor_info* t;
    vkd_status st;
    if (has_prefix(f, TEXT_OC)) {
        *layout = VKD_SD_TEXT_OPENCLIP;
        if ((st = need(f, &t, 2, err, TEXT_OC "token_embedding.weight"))) return st;
        a->vocab_size = (int)t->shape[0];
        a->hidden_size = (int)t->shape[1];
        if ((st = need(f, &t, 2, err, TEXT_OC "positional_embedding"))) return st;
        a->max_positions = (int)t->shape[0];
        if ((st = need(f, &t, 2, err, TEXT_OC "transformer.resblocks.0.mlp.c_fc.weight"))) return st;
        a->intermediate_size = (int)t->shape[0];
        int blocks = count_index(f, TEXT_OC "transformer.resblocks.");
        // SD2 conditions on the penultimate block's output (+ ln_final): the last block is unused.
        a->file_layers = blocks;
        a->num_layers = blocks - 1;
        a->act = VKD_SD_ACT_GELU;
        if (a->num_layers < 1)
            return vkd_error_set(err, VKD_ERR_INVALID, "%s: OpenCLIP text encoder with %d resblocks (need at least 2)",
                                 path, blocks);
    } else {
        *layout = VKD_SD_TEXT_HF;
        const char* p = findf(f, TEXT_HF "text_model.embeddings.token_embedding.weight") ? TEXT_HF "text_model."
                                                                                           : TEXT_HF;
        if ((st = need(f, &t, 2, err, "%sembeddings.token_embedding.weight", p))) return st;
        a->vocab_size = (int)t->shape[0];
        a->hidden_size = (int)t->shape[1];
        if ((st = need(f, &t, 2, err, "%sembeddings.position_embedding.weight", p))) return st;
        a->max_positions = (int)t->shape[0];
        if ((st = need(f, &t, 2, err, "%sencoder.layers.0.mlp.fc1.weight", p))) return st;
        a->intermediate_size = (int)t->shape[0];
        char prefix[160];
        snprintf(prefix, sizeof prefix, "%sencoder.layers.", p);
        a->num_layers = count_index(f, prefix);
        a->act = VKD_SD_ACT_QUICK_GELU;
    }
    // Every CLIP text tower SD uses has 64-wide heads; 0 marks "unknown" for other widths.
    a->num_heads = a->hidden_size % 64 == 0 ? a->hidden_size / 64 : 0;
    return VKD_OK;
}

bool vkd_sd_prediction_from_metadata(const vkd_safetensors* f, vkd_sd_prediction* out) {
    const char* keys[] = {"prediction_type", "modelspec.prediction_type"};
    for (int i = 0; i < 2; i++) {
        const char* v = vkd_safetensors_metadata(f, keys[i]);
        if (v && vkd_sd_prediction_parse(v, out)) return true;
    }
    return false;
}

vkd_status vkd_sd_arch_infer(vkd_sd_arch* a, const vkd_safetensors* f, vkd_sd_prediction fallback, vkd_error* err) {
    memset(a, 0, sizeof(*a));
    vkd_sd_unet_arch_default(&a->unet);
    vkd_sd_vae_arch_default(&a->vae);
    vkd_sd_text_arch_default(&a->text);
    vkd_sd_sched_arch_default(&a->sched);
    vkd_status st;
    a->has_unet = has_prefix(f, UNET);
    a->has_vae = has_prefix(f, VAE);
    a->has_text = has_prefix(f, TEXT_HF) || has_prefix(f, TEXT_OC);
    if (!a->has_unet && !a->has_vae && !a->has_text)
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "%s: not an original Stable Diffusion checkpoint: no tensor starts with "
                             "'" UNET "', '" VAE "', '" TEXT_HF "' or '" TEXT_OC "'",
                             vkd_safetensors_path(f));
    if (a->has_unet && (st = infer_unet(&a->unet, f, err))) return st;
    if (a->has_vae && (st = infer_vae(&a->vae, f, err))) return st;
    vkd_sd_text_layout layout = VKD_SD_TEXT_HF;
    if (a->has_text && (st = infer_text(&a->text, f, &layout, err))) return st;
    bool sd2 = (a->has_text && layout == VKD_SD_TEXT_OPENCLIP) ||
               (!a->has_text && a->has_unet && a->unet.cross_attention_dim == 1024);
    a->version = sd2 ? VKD_SD_VERSION_2 : VKD_SD_VERSION_1;
    if (!vkd_sd_prediction_from_metadata(f, &a->sched.prediction)) a->sched.prediction = fallback;
    if (a->has_unet) {
        for (int i = 0; i < a->unet.levels; i++) {
            int c = a->unet.block_out_channels[i];
            a->unet.heads[i] = sd2 ? (c % 64 == 0 ? c / 64 : 1) : 8;
        }
        // SD 2.x attention logits overflow in fp16 (diffusers sets upcast_attention for 2.1).
        a->unet.upcast_attention = sd2;
        a->unet.sample_size = sd2 && a->sched.prediction == VKD_SD_PREDICTION_V ? 96 : 64;
    }
    if (sd2) a->text.pad_id = 0;
    return VKD_OK;
}
