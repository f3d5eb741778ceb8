// Canonical diffusers / transformers parameter names -> original single-file names (the
// CompVis LDM and OpenCLIP module trees), computed from the architecture; see
// include/vkdream/prior/sd_arch.h.
//
// UNet (LDM's openaimodel): input_blocks.0 is conv_in; down level i contributes blocks
// (lpb+1)*i + 1 .. (lpb+1)*i + lpb, each [resnet, attention?], and block (lpb+1)*(i+1) is its
// downsampler (".0.op"). Up block i (from the bottom) owns output_blocks (lpb+1)*i .. +lpb,
// each [resnet, attention?], the last one followed by the upsampler (index 1 or 2 inside the
// block, after the attention when there is one). Resnets rename their layers (in_layers,
// emb_layers, out_layers, skip_connection); spatial transformers keep diffusers' names.
// VAE (LDM's autoencoder): encoder.down.i.{block.j, downsample}, decoder.up.<L-1-i> (the
// decoder numbers levels from the bottom), mid.{block_1, attn_1, block_2}; nin_shortcut;
// attention q/k/v/proj_out/norm.
#include "vkdream/prior/sd_arch.h"
#include "vkdream/safetensors.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool take(const char** s, const char* lit) {
    size_t n = strlen(lit);
    if (strncmp(*s, lit, n)) return false;
    *s += n;
    return true;
}

// A decimal index followed by '.'.
static bool take_index(const char** s, int* v) {
    const char* p = *s;
    if (!isdigit((unsigned char)*p)) return false;
    long x = 0;
    while (isdigit((unsigned char)*p) && x < 100000) x = x * 10 + (*p++ - '0');
    if (*p != '.' || x >= 100000) return false;
    *v = (int)x;
    *s = p + 1;
    return true;
}

static bool put(vkd_param_source* src, const char* fmt, ...) VKD_PRINTF(2, 3);
static bool put(vkd_param_source* src, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(src->name, sizeof src->name, fmt, ap);
    va_end(ap);
    src->row_begin = 0;
    src->row_count = 0;
    return n > 0 && n < (int)sizeof src->name;
}

// UNet ResnetBlock2D layer names (rest = "norm1.weight" ...) -> LDM ResBlock names.
static const char* unet_resnet_part(const char** rest) {
    static const char* map[][2] = {{"norm1.", "in_layers.0."},     {"conv1.", "in_layers.2."},
                                   {"time_emb_proj.", "emb_layers.1."}, {"norm2.", "out_layers.0."},
                                   {"conv2.", "out_layers.3."},    {"conv_shortcut.", "skip_connection."}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (take(rest, map[i][0])) return map[i][1];
    return NULL;
}

bool vkd_sd_unet_key(const vkd_sd_keymap* km, const char* canonical, vkd_param_source* src) {
    const vkd_sd_unet_arch* a = &km->arch->unet;
    const char* P = km->unet_prefix ? km->unet_prefix : "model.diffusion_model.";
    const char* s = canonical;
    const int L = a->levels, n = a->layers_per_block, per = n + 1;
    int i, j;
    static const char* top[][2] = {
        {"time_embedding.linear_1.", "time_embed.0."}, {"time_embedding.linear_2.", "time_embed.2."},
        {"conv_in.", "input_blocks.0.0."},             {"conv_norm_out.", "out.0."},
        {"conv_out.", "out.2."},                       {"class_embedding.linear_1.", "label_emb.0.0."},
        {"class_embedding.linear_2.", "label_emb.0.2."},
    };
    for (size_t k = 0; k < sizeof top / sizeof top[0]; k++) {
        if (!take(&s, top[k][0])) continue;
        if (k >= 5 && a->class_embed != VKD_SD_CLASS_EMBED_PROJECTION) return false;
        return put(src, "%s%s%s", P, top[k][1], s);
    }
    if (take(&s, "down_blocks.")) {
        if (!take_index(&s, &i) || i >= L) return false;
        if (take(&s, "resnets.")) {
            const char* part;
            if (!take_index(&s, &j) || j >= n || !(part = unet_resnet_part(&s))) return false;
            return put(src, "%sinput_blocks.%d.0.%s%s", P, per * i + j + 1, part, s);
        }
        if (take(&s, "attentions.")) {
            if (!take_index(&s, &j) || j >= n || !a->down_attn[i]) return false;
            return put(src, "%sinput_blocks.%d.1.%s", P, per * i + j + 1, s);
        }
        if (take(&s, "downsamplers.0.conv.")) {
            if (i >= L - 1) return false;
            return put(src, "%sinput_blocks.%d.0.op.%s", P, per * (i + 1), s);
        }
        return false;
    }
    if (take(&s, "mid_block.")) {
        if (take(&s, "resnets.")) {
            const char* part;
            if (!take_index(&s, &j) || j >= 2 || !(part = unet_resnet_part(&s))) return false;
            return put(src, "%smiddle_block.%d.%s%s", P, a->mid_attn ? 2 * j : j, part, s);
        }
        if (take(&s, "attentions.0.")) {
            if (!a->mid_attn) return false;
            return put(src, "%smiddle_block.1.%s", P, s);
        }
        return false;
    }
    if (take(&s, "up_blocks.")) {
        if (!take_index(&s, &i) || i >= L) return false;
        if (take(&s, "resnets.")) {
            const char* part;
            if (!take_index(&s, &j) || j > n || !(part = unet_resnet_part(&s))) return false;
            return put(src, "%soutput_blocks.%d.0.%s%s", P, per * i + j, part, s);
        }
        if (take(&s, "attentions.")) {
            if (!take_index(&s, &j) || j > n || !a->up_attn[i]) return false;
            return put(src, "%soutput_blocks.%d.1.%s", P, per * i + j, s);
        }
        if (take(&s, "upsamplers.0.conv.")) {
            if (i >= L - 1) return false;
            return put(src, "%soutput_blocks.%d.%d.conv.%s", P, per * i + n, a->up_attn[i] ? 2 : 1, s);
        }
        return false;
    }
    return false;
}

// VAE ResnetBlock2D: only the shortcut is renamed.
static bool vae_resnet_part(const char* rest, char* out, size_t cap) {
    static const char* same[] = {"norm1.", "conv1.", "norm2.", "conv2."};
    for (size_t k = 0; k < 4; k++)
        if (!strncmp(rest, same[k], strlen(same[k]))) return snprintf(out, cap, "%s", rest) < (int)cap;
    if (!strncmp(rest, "conv_shortcut.", 14)) return snprintf(out, cap, "nin_shortcut.%s", rest + 14) < (int)cap;
    return false;
}

bool vkd_sd_vae_key(const vkd_sd_keymap* km, const char* canonical, vkd_param_source* src) {
    const vkd_sd_vae_arch* a = &km->arch->vae;
    const char* P = km->vae_prefix ? km->vae_prefix : "first_stage_model.";
    const char* s = canonical;
    const int L = a->levels, n = a->layers_per_block;
    char part[VKD_PARAM_NAME_MAX];
    int i, j;
    if (take(&s, "quant_conv.") || take(&s, "post_quant_conv.")) return put(src, "%s%s", P, canonical);
    const char* coder = take(&s, "encoder.") ? "encoder" : take(&s, "decoder.") ? "decoder" : NULL;
    if (!coder) return false;
    bool enc = coder[0] == 'e';
    if (take(&s, "conv_in.") || take(&s, "conv_out.")) return put(src, "%s%s", P, canonical);
    if (take(&s, "conv_norm_out.")) return put(src, "%s%s.norm_out.%s", P, coder, s);
    if (take(&s, "mid_block.")) {
        if (take(&s, "resnets.")) {
            if (!take_index(&s, &j) || j >= 2 || !vae_resnet_part(s, part, sizeof part)) return false;
            return put(src, "%s%s.mid.block_%d.%s", P, coder, j + 1, part);
        }
        if (take(&s, "attentions.0.")) {
            if (!a->mid_attn) return false;
            // diffusers >= 0.14 names, and the older ones (query/key/value/proj_attn).
            static const char* attn[][2] = {{"group_norm.", "norm."}, {"to_q.", "q."},       {"to_k.", "k."},
                                            {"to_v.", "v."},           {"to_out.0.", "proj_out."}, {"query.", "q."},
                                            {"key.", "k."},            {"value.", "v."},     {"proj_attn.", "proj_out."}};
            for (size_t k = 0; k < sizeof attn / sizeof attn[0]; k++)
                if (take(&s, attn[k][0])) return put(src, "%s%s.mid.attn_1.%s%s", P, coder, attn[k][1], s);
        }
        return false;
    }
    if (enc && take(&s, "down_blocks.")) {
        if (!take_index(&s, &i) || i >= L) return false;
        if (take(&s, "resnets.")) {
            if (!take_index(&s, &j) || j >= n || !vae_resnet_part(s, part, sizeof part)) return false;
            return put(src, "%sencoder.down.%d.block.%d.%s", P, i, j, part);
        }
        if (take(&s, "downsamplers.0.conv.")) {
            if (i >= L - 1) return false;
            return put(src, "%sencoder.down.%d.downsample.conv.%s", P, i, s);
        }
        return false;
    }
    if (!enc && take(&s, "up_blocks.")) {
        if (!take_index(&s, &i) || i >= L) return false;
        if (take(&s, "resnets.")) {
            if (!take_index(&s, &j) || j > n || !vae_resnet_part(s, part, sizeof part)) return false;
            return put(src, "%sdecoder.up.%d.block.%d.%s", P, L - 1 - i, j, part);
        }
        if (take(&s, "upsamplers.0.conv.")) {
            if (i >= L - 1) return false;
            return put(src, "%sdecoder.up.%d.upsample.conv.%s", P, L - 1 - i, s);
        }
        return false;
    }
    return false;
}

bool vkd_sd_text_key(const vkd_sd_keymap* km, const char* canonical, vkd_param_source* src) {
    const char* s = canonical;
    take(&s, "text_model.");
    if (km->text_layout == VKD_SD_TEXT_HF) {
        const char* P = km->text_prefix ? km->text_prefix : "cond_stage_model.transformer.text_model.";
        return put(src, "%s%s", P, s);
    }
    const char* P = km->text_prefix ? km->text_prefix : "cond_stage_model.model.";
    const int64_t D = km->arch->text.hidden_size;
    if (take(&s, "embeddings.")) {
        if (!strcmp(s, "token_embedding.weight")) return put(src, "%stoken_embedding.weight", P);
        if (!strcmp(s, "position_embedding.weight")) return put(src, "%spositional_embedding", P);
        return false;
    }
    if (take(&s, "final_layer_norm.")) return put(src, "%sln_final.%s", P, s);
    int i;
    if (!take(&s, "encoder.layers.") || !take_index(&s, &i)) return false;
    if (take(&s, "layer_norm1.")) return put(src, "%stransformer.resblocks.%d.ln_1.%s", P, i, s);
    if (take(&s, "layer_norm2.")) return put(src, "%stransformer.resblocks.%d.ln_2.%s", P, i, s);
    if (take(&s, "mlp.fc1.")) return put(src, "%stransformer.resblocks.%d.mlp.c_fc.%s", P, i, s);
    if (take(&s, "mlp.fc2.")) return put(src, "%stransformer.resblocks.%d.mlp.c_proj.%s", P, i, s);
    if (take(&s, "self_attn.out_proj.")) return put(src, "%stransformer.resblocks.%d.attn.out_proj.%s", P, i, s);
    if (take(&s, "self_attn.")) {
        // nn.MultiheadAttention's in_proj holds q, k and v one after the other along dim 0.
        static const char* qkv[3] = {"q_proj.", "k_proj.", "v_proj."};
        for (int k = 0; k < 3; k++) {
            const char* t = s;
            if (!take(&t, qkv[k])) continue;
            if (strcmp(t, "weight") && strcmp(t, "bias")) return false;
            if (!put(src, "%stransformer.resblocks.%d.attn.in_proj_%s", P, i, t)) return false;
            src->row_begin = k * D;
            src->row_count = D;
            return true;
        }
    }
    return false;
}

bool vkd_sd_rename_unet(const char* canonical, vkd_param_source* src, void* user) {
    return vkd_sd_unet_key(user, canonical, src);
}
bool vkd_sd_rename_vae(const char* canonical, vkd_param_source* src, void* user) {
    return vkd_sd_vae_key(user, canonical, src);
}
bool vkd_sd_rename_text(const char* canonical, vkd_param_source* src, void* user) {
    return vkd_sd_text_key(user, canonical, src);
}

void vkd_sd_keymap_for_file(vkd_sd_keymap* km, const vkd_sd_arch* arch, const vkd_safetensors* f) {
    memset(km, 0, sizeof(*km));
    km->arch = arch;
    if (vkd_safetensors_find(f, "cond_stage_model.model.token_embedding.weight")) {
        km->text_layout = VKD_SD_TEXT_OPENCLIP;
    } else if (!vkd_safetensors_find(f, "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight") &&
               vkd_safetensors_find(f, "cond_stage_model.transformer.embeddings.token_embedding.weight")) {
        km->text_prefix = "cond_stage_model.transformer.";  // transformers < 4.17 layout
    }
}
