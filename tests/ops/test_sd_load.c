// Stable Diffusion loading: diffusers configs, the single-file key maps (against diffusers'
// own conversion table for SD 1.5-sized models and computed for other sizes), architecture
// inference from shapes, and a round trip through an original-format file written from the
// sd-tiny fixture folder: every parameter loaded through the key maps (SD1 names, and SD2's
// OpenCLIP layout with fused q/k/v row slices in F16) equals the diffusers file's value.
#define _POSIX_C_SOURCE 200809L  // getpid
#include "harness.h"
#include "vkdream/nn/params.h"
#include "vkdream/prior/sd.h"
#include "vkdream/prior/sd_arch.h"
#include "vkdream/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool has(const char* msg, const char* part) { return strstr(msg, part) != NULL; }

typedef bool (*key_fn)(const vkd_sd_keymap*, const char*, vkd_param_source*);

static void expect_key(tu_ctx* t, key_fn fn, const vkd_sd_keymap* km, const char* canonical, const char* want,
                       int64_t row_begin, int64_t row_count) {
    vkd_param_source src;
    memset(&src, 0, sizeof src);
    bool ok = fn(km, canonical, &src);
    if (!want) {
        tu_check(t, !ok, "%s -> none (got %s)", canonical, ok ? src.name : "none");
        return;
    }
    tu_check(t, ok && !strcmp(src.name, want) && src.row_begin == row_begin && src.row_count == row_count,
             "%s -> %s rows %lld+%lld (got %s rows %lld+%lld)", canonical, want, (long long)row_begin,
             (long long)row_count, ok ? src.name : "none", (long long)src.row_begin, (long long)src.row_count);
}

#define U "model.diffusion_model."
#define V "first_stage_model."

// The SD 1.5 expectations are the entries of diffusers' scripts/convert_diffusers_to_original_
// stable_diffusion.py tables (written out for 4 levels with 2 layers per block).
static void keys_sd15(tu_ctx* t) {
    tu_case(t, "key maps, SD 1.5 sizes");
    vkd_sd_arch a = {0};
    vkd_sd_unet_arch_default(&a.unet);
    vkd_sd_vae_arch_default(&a.vae);
    vkd_sd_text_arch_default(&a.text);
    vkd_sd_keymap km = {.arch = &a};
    key_fn u = vkd_sd_unet_key, v = vkd_sd_vae_key, x = vkd_sd_text_key;
    expect_key(t, u, &km, "time_embedding.linear_1.weight", U "time_embed.0.weight", 0, 0);
    expect_key(t, u, &km, "time_embedding.linear_2.bias", U "time_embed.2.bias", 0, 0);
    expect_key(t, u, &km, "conv_in.weight", U "input_blocks.0.0.weight", 0, 0);
    expect_key(t, u, &km, "conv_norm_out.bias", U "out.0.bias", 0, 0);
    expect_key(t, u, &km, "conv_out.weight", U "out.2.weight", 0, 0);
    expect_key(t, u, &km, "down_blocks.0.resnets.0.norm1.weight", U "input_blocks.1.0.in_layers.0.weight", 0, 0);
    expect_key(t, u, &km, "down_blocks.2.resnets.1.conv1.weight", U "input_blocks.8.0.in_layers.2.weight", 0, 0);
    expect_key(t, u, &km, "down_blocks.1.resnets.0.conv_shortcut.weight", U "input_blocks.4.0.skip_connection.weight",
               0, 0);
    expect_key(t, u, &km, "down_blocks.3.resnets.1.time_emb_proj.bias", U "input_blocks.11.0.emb_layers.1.bias", 0,
               0);
    expect_key(t, u, &km, "down_blocks.1.resnets.1.norm2.bias", U "input_blocks.5.0.out_layers.0.bias", 0, 0);
    expect_key(t, u, &km, "down_blocks.1.resnets.1.conv2.weight", U "input_blocks.5.0.out_layers.3.weight", 0, 0);
    expect_key(t, u, &km, "down_blocks.0.attentions.1.proj_in.weight", U "input_blocks.2.1.proj_in.weight", 0, 0);
    expect_key(t, u, &km, "down_blocks.2.attentions.0.transformer_blocks.0.ff.net.0.proj.weight",
               U "input_blocks.7.1.transformer_blocks.0.ff.net.0.proj.weight", 0, 0);
    expect_key(t, u, &km, "down_blocks.0.downsamplers.0.conv.weight", U "input_blocks.3.0.op.weight", 0, 0);
    expect_key(t, u, &km, "down_blocks.2.downsamplers.0.conv.bias", U "input_blocks.9.0.op.bias", 0, 0);
    expect_key(t, u, &km, "mid_block.resnets.0.conv1.weight", U "middle_block.0.in_layers.2.weight", 0, 0);
    expect_key(t, u, &km, "mid_block.attentions.0.proj_out.bias", U "middle_block.1.proj_out.bias", 0, 0);
    expect_key(t, u, &km, "mid_block.resnets.1.norm2.weight", U "middle_block.2.out_layers.0.weight", 0, 0);
    expect_key(t, u, &km, "up_blocks.0.resnets.2.conv_shortcut.weight", U "output_blocks.2.0.skip_connection.weight",
               0, 0);
    expect_key(t, u, &km, "up_blocks.0.upsamplers.0.conv.weight", U "output_blocks.2.1.conv.weight", 0, 0);
    expect_key(t, u, &km, "up_blocks.1.upsamplers.0.conv.bias", U "output_blocks.5.2.conv.bias", 0, 0);
    expect_key(t, u, &km, "up_blocks.2.upsamplers.0.conv.weight", U "output_blocks.8.2.conv.weight", 0, 0);
    expect_key(t, u, &km, "up_blocks.1.attentions.0.norm.weight", U "output_blocks.3.1.norm.weight", 0, 0);
    expect_key(t, u, &km, "up_blocks.3.attentions.2.transformer_blocks.0.attn2.to_k.weight",
               U "output_blocks.11.1.transformer_blocks.0.attn2.to_k.weight", 0, 0);
    expect_key(t, u, &km, "up_blocks.3.resnets.2.time_emb_proj.weight", U "output_blocks.11.0.emb_layers.1.weight", 0,
               0);
    // No counterpart: beyond the architecture.
    expect_key(t, u, &km, "down_blocks.3.attentions.0.norm.weight", NULL, 0, 0);
    expect_key(t, u, &km, "down_blocks.3.downsamplers.0.conv.weight", NULL, 0, 0);
    expect_key(t, u, &km, "down_blocks.0.resnets.2.conv1.weight", NULL, 0, 0);
    expect_key(t, u, &km, "up_blocks.0.attentions.0.norm.weight", NULL, 0, 0);
    expect_key(t, u, &km, "up_blocks.3.upsamplers.0.conv.weight", NULL, 0, 0);
    expect_key(t, u, &km, "up_blocks.4.resnets.0.conv1.weight", NULL, 0, 0);
    expect_key(t, u, &km, "class_embedding.linear_1.weight", NULL, 0, 0);
    expect_key(t, u, &km, "down_blocks.0.resnets.0.nonsense.weight", NULL, 0, 0);

    expect_key(t, v, &km, "encoder.conv_in.weight", V "encoder.conv_in.weight", 0, 0);
    expect_key(t, v, &km, "encoder.conv_norm_out.weight", V "encoder.norm_out.weight", 0, 0);
    expect_key(t, v, &km, "encoder.down_blocks.1.resnets.0.conv_shortcut.weight",
               V "encoder.down.1.block.0.nin_shortcut.weight", 0, 0);
    expect_key(t, v, &km, "encoder.down_blocks.2.downsamplers.0.conv.bias", V "encoder.down.2.downsample.conv.bias", 0,
               0);
    expect_key(t, v, &km, "encoder.down_blocks.3.downsamplers.0.conv.bias", NULL, 0, 0);
    expect_key(t, v, &km, "decoder.up_blocks.0.resnets.2.conv1.weight", V "decoder.up.3.block.2.conv1.weight", 0, 0);
    expect_key(t, v, &km, "decoder.up_blocks.3.resnets.0.conv_shortcut.bias", V "decoder.up.0.block.0.nin_shortcut.bias",
               0, 0);
    expect_key(t, v, &km, "decoder.up_blocks.2.upsamplers.0.conv.bias", V "decoder.up.1.upsample.conv.bias", 0, 0);
    expect_key(t, v, &km, "decoder.up_blocks.3.upsamplers.0.conv.bias", NULL, 0, 0);
    expect_key(t, v, &km, "encoder.mid_block.resnets.1.norm1.bias", V "encoder.mid.block_2.norm1.bias", 0, 0);
    expect_key(t, v, &km, "decoder.mid_block.attentions.0.group_norm.weight", V "decoder.mid.attn_1.norm.weight", 0, 0);
    expect_key(t, v, &km, "decoder.mid_block.attentions.0.to_q.weight", V "decoder.mid.attn_1.q.weight", 0, 0);
    expect_key(t, v, &km, "decoder.mid_block.attentions.0.to_out.0.weight", V "decoder.mid.attn_1.proj_out.weight", 0,
               0);
    expect_key(t, v, &km, "encoder.mid_block.attentions.0.value.bias", V "encoder.mid.attn_1.v.bias", 0, 0);
    expect_key(t, v, &km, "quant_conv.weight", V "quant_conv.weight", 0, 0);
    expect_key(t, v, &km, "post_quant_conv.bias", V "post_quant_conv.bias", 0, 0);
    expect_key(t, v, &km, "decoder.down_blocks.0.resnets.0.conv1.weight", NULL, 0, 0);

    expect_key(t, x, &km, "text_model.encoder.layers.11.mlp.fc2.weight",
               "cond_stage_model.transformer.text_model.encoder.layers.11.mlp.fc2.weight", 0, 0);
    expect_key(t, x, &km, "embeddings.token_embedding.weight",
               "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight", 0, 0);

    tu_case(t, "key maps, SD 2 OpenCLIP text encoder");
    a.text.hidden_size = 1024;
    km.text_layout = VKD_SD_TEXT_OPENCLIP;
#define OC "cond_stage_model.model."
    expect_key(t, x, &km, "text_model.embeddings.token_embedding.weight", OC "token_embedding.weight", 0, 0);
    expect_key(t, x, &km, "text_model.embeddings.position_embedding.weight", OC "positional_embedding", 0, 0);
    expect_key(t, x, &km, "text_model.final_layer_norm.bias", OC "ln_final.bias", 0, 0);
    expect_key(t, x, &km, "text_model.encoder.layers.0.layer_norm1.weight", OC "transformer.resblocks.0.ln_1.weight", 0,
               0);
    expect_key(t, x, &km, "text_model.encoder.layers.22.layer_norm2.bias", OC "transformer.resblocks.22.ln_2.bias", 0,
               0);
    expect_key(t, x, &km, "text_model.encoder.layers.3.self_attn.q_proj.weight",
               OC "transformer.resblocks.3.attn.in_proj_weight", 0, 1024);
    expect_key(t, x, &km, "text_model.encoder.layers.3.self_attn.k_proj.bias",
               OC "transformer.resblocks.3.attn.in_proj_bias", 1024, 1024);
    expect_key(t, x, &km, "text_model.encoder.layers.22.self_attn.v_proj.weight",
               OC "transformer.resblocks.22.attn.in_proj_weight", 2048, 1024);
    expect_key(t, x, &km, "text_model.encoder.layers.5.self_attn.out_proj.weight",
               OC "transformer.resblocks.5.attn.out_proj.weight", 0, 0);
    expect_key(t, x, &km, "text_model.encoder.layers.5.mlp.fc1.bias", OC "transformer.resblocks.5.mlp.c_fc.bias", 0, 0);
    expect_key(t, x, &km, "text_model.encoder.layers.5.mlp.fc2.weight", OC "transformer.resblocks.5.mlp.c_proj.weight", 0,
               0);
    expect_key(t, x, &km, "text_model.encoder.layers.5.self_attn.q_proj.scale", NULL, 0, 0);

    // Other sizes: indices follow the config, not SD's 4x2 pattern.
    tu_case(t, "key maps, 3 levels x 3 layers, attention in the middle level only");
    a.unet.levels = 3;
    a.unet.layers_per_block = 3;
    for (int i = 0; i < 3; i++) a.unet.down_attn[i] = i == 1, a.unet.up_attn[i] = i == 1;
    a.unet.mid_attn = true;
    a.unet.class_embed = VKD_SD_CLASS_EMBED_PROJECTION;
    a.vae.levels = 3;
    a.vae.layers_per_block = 1;
    expect_key(t, u, &km, "down_blocks.2.resnets.2.conv1.weight", U "input_blocks.11.0.in_layers.2.weight", 0, 0);
    expect_key(t, u, &km, "down_blocks.1.attentions.2.proj_in.weight", U "input_blocks.7.1.proj_in.weight", 0, 0);
    expect_key(t, u, &km, "down_blocks.0.attentions.0.proj_in.weight", NULL, 0, 0);
    expect_key(t, u, &km, "down_blocks.1.downsamplers.0.conv.weight", U "input_blocks.8.0.op.weight", 0, 0);
    expect_key(t, u, &km, "up_blocks.0.upsamplers.0.conv.weight", U "output_blocks.3.1.conv.weight", 0, 0);
    expect_key(t, u, &km, "up_blocks.1.upsamplers.0.conv.weight", U "output_blocks.7.2.conv.weight", 0, 0);
    expect_key(t, u, &km, "up_blocks.1.attentions.3.norm.bias", U "output_blocks.7.1.norm.bias", 0, 0);
    expect_key(t, u, &km, "up_blocks.2.resnets.3.conv2.bias", U "output_blocks.11.0.out_layers.3.bias", 0, 0);
    expect_key(t, u, &km, "up_blocks.2.upsamplers.0.conv.weight", NULL, 0, 0);
    expect_key(t, u, &km, "class_embedding.linear_2.bias", U "label_emb.0.2.bias", 0, 0);
    expect_key(t, v, &km, "decoder.up_blocks.0.resnets.1.conv1.weight", V "decoder.up.2.block.1.conv1.weight", 0, 0);
    expect_key(t, v, &km, "decoder.up_blocks.0.resnets.2.conv1.weight", NULL, 0, 0);
    expect_key(t, v, &km, "encoder.down_blocks.2.resnets.0.conv1.weight", V "encoder.down.2.block.0.conv1.weight", 0,
               0);
    expect_key(t, v, &km, "encoder.down_blocks.2.resnets.1.conv1.weight", NULL, 0, 0);
}

// Python's str.replace on a fixed-size buffer.
static void replace_all(char* s, size_t cap, const char* from, const char* to) {
    char out[1024];
    size_t n = 0, lf = strlen(from), lt = strlen(to);
    for (const char* p = s; *p;) {
        if (!strncmp(p, from, lf)) {
            if (n + lt < sizeof out) memcpy(out + n, to, lt), n += lt;
            p += lf;
        } else {
            if (n + 1 < sizeof out) out[n++] = *p;
            p++;
        }
    }
    if (n > cap - 1) n = cap - 1;
    memcpy(s, out, n);
    s[n] = 0;
}

typedef struct rep {
    char sd[96], hf[96];
} rep;

// diffusers' convert_diffusers_to_original_stable_diffusion.py VAE tables (4 levels, 2
// resnets per encoder level), with the attention names of diffusers >= 0.14 added.
static int vae_table(rep* r) {
    int n = 0;
    snprintf(r[n].sd, 96, "nin_shortcut"), snprintf(r[n++].hf, 96, "conv_shortcut");
    snprintf(r[n].sd, 96, "norm_out"), snprintf(r[n++].hf, 96, "conv_norm_out");
    snprintf(r[n].sd, 96, "mid.attn_1."), snprintf(r[n++].hf, 96, "mid_block.attentions.0.");
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 2; j++) {
            snprintf(r[n].sd, 96, "encoder.down.%d.block.%d.", i, j);
            snprintf(r[n++].hf, 96, "encoder.down_blocks.%d.resnets.%d.", i, j);
        }
        if (i < 3) {
            snprintf(r[n].sd, 96, "down.%d.downsample.", i), snprintf(r[n++].hf, 96, "down_blocks.%d.downsamplers.0.", i);
            snprintf(r[n].sd, 96, "up.%d.upsample.", 3 - i), snprintf(r[n++].hf, 96, "up_blocks.%d.upsamplers.0.", i);
        }
        for (int j = 0; j < 3; j++) {
            snprintf(r[n].sd, 96, "decoder.up.%d.block.%d.", 3 - i, j);
            snprintf(r[n++].hf, 96, "decoder.up_blocks.%d.resnets.%d.", i, j);
        }
    }
    for (int i = 0; i < 2; i++)
        snprintf(r[n].sd, 96, "mid.block_%d.", i + 1), snprintf(r[n++].hf, 96, "mid_block.resnets.%d.", i);
    return n;
}

static void vae_reference_name(const char* hf, char* out, size_t cap) {
    static rep r[64];
    static int n = 0;
    if (!n) n = vae_table(r);
    snprintf(out, cap, "%s", hf);
    for (int k = 0; k < n; k++) replace_all(out, cap, r[k].hf, r[k].sd);
    static const char* attn[][2] = {{"norm.", "group_norm."}, {"q.", "to_q."}, {"k.", "to_k."},
                                    {"v.", "to_v."},          {"proj_out.", "to_out.0."}};
    if (strstr(hf, "attentions"))
        for (int k = 0; k < 5; k++) replace_all(out, cap, attn[k][1], attn[k][0]);
}

// Every parameter of the SD VAE (as the VAE module declares it) maps to the name diffusers'
// table gives, and no two parameters share a name.
static void keys_vs_diffusers_vae(tu_ctx* t) {
#ifdef VKD_SD_HAVE_VAE
    tu_case(t, "key maps vs diffusers' table: every SD VAE parameter");
    vkd_params p = {0};
    vkd_vae m;
    vkd_error err = {0};
    vkd_status st = vkd_vae_declare(&m, &p, "", &(vkd_vae_desc){0}, &err);
    if (!tu_check(t, st == VKD_OK, "declare the SD VAE: %s", st ? err.msg : "ok")) return;
    vkd_sd_arch a = {0};
    vkd_sd_vae_arch_default(&a.vae);
    vkd_sd_keymap km = {.arch = &a};
    size_t bad = 0;
    char first[1400] = "";
    char(*names)[VKD_PARAM_NAME_MAX * 2] = calloc(p.count, sizeof *names);
    for (uint32_t i = 0; i < p.count; i++) {
        vkd_param_source src;
        memset(&src, 0, sizeof src);
        char ref[512], want[600];
        vae_reference_name(p.items[i].name, ref, sizeof ref);
        snprintf(want, sizeof want, "first_stage_model.%s", ref);
        bool ok = vkd_sd_vae_key(&km, p.items[i].name, &src) && !strcmp(src.name, want) && !src.row_count;
        snprintf(names[i], sizeof names[i], "%s", src.name);
        if (!ok && !bad++) snprintf(first, sizeof first, "%s -> %s, diffusers: %s", p.items[i].name, src.name, want);
    }
    tu_check(t, bad == 0 && p.count > 200, "%u parameters, %zu differ (first: %s)", p.count, bad, first);
    size_t dup = 0;
    for (uint32_t i = 0; i < p.count; i++)
        for (uint32_t j = i + 1; j < p.count; j++) dup += !strcmp(names[i], names[j]);
    tu_check(t, dup == 0, "no two parameters share an original name (%zu do)", dup);
    free(names);
    vkd_params_free(&p);
#else
    (void)t;
#endif
}

// diffusers' convert_diffusers_to_original_stable_diffusion.py UNet tables (4 levels, 2
// layers per block), applied as that script does: exact names, then the resnet layer names
// for keys with "resnets", then the block prefixes.
static void unet_reference_name(const char* hf, char* out, size_t cap) {
    static rep layer[96];
    static int n = 0;
    if (!n) {
        for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 2; j++) {
                snprintf(layer[n].sd, 96, "input_blocks.%d.0.", 3 * i + j + 1);
                snprintf(layer[n++].hf, 96, "down_blocks.%d.resnets.%d.", i, j);
                if (i < 3) {
                    snprintf(layer[n].sd, 96, "input_blocks.%d.1.", 3 * i + j + 1);
                    snprintf(layer[n++].hf, 96, "down_blocks.%d.attentions.%d.", i, j);
                }
            }
            for (int j = 0; j < 3; j++) {
                snprintf(layer[n].sd, 96, "output_blocks.%d.0.", 3 * i + j);
                snprintf(layer[n++].hf, 96, "up_blocks.%d.resnets.%d.", i, j);
                if (i > 0) {
                    snprintf(layer[n].sd, 96, "output_blocks.%d.1.", 3 * i + j);
                    snprintf(layer[n++].hf, 96, "up_blocks.%d.attentions.%d.", i, j);
                }
            }
            if (i < 3) {
                snprintf(layer[n].sd, 96, "input_blocks.%d.0.op.", 3 * (i + 1));
                snprintf(layer[n++].hf, 96, "down_blocks.%d.downsamplers.0.conv.", i);
                snprintf(layer[n].sd, 96, "output_blocks.%d.%d.", 3 * i + 2, i == 0 ? 1 : 2);
                snprintf(layer[n++].hf, 96, "up_blocks.%d.upsamplers.0.", i);
            }
        }
        snprintf(layer[n].sd, 96, "middle_block.1."), snprintf(layer[n++].hf, 96, "mid_block.attentions.0.");
        for (int j = 0; j < 2; j++)
            snprintf(layer[n].sd, 96, "middle_block.%d.", 2 * j), snprintf(layer[n++].hf, 96, "mid_block.resnets.%d.", j);
    }
    static const char* exact[][2] = {
        {"time_embed.0.weight", "time_embedding.linear_1.weight"}, {"time_embed.0.bias", "time_embedding.linear_1.bias"},
        {"time_embed.2.weight", "time_embedding.linear_2.weight"}, {"time_embed.2.bias", "time_embedding.linear_2.bias"},
        {"input_blocks.0.0.weight", "conv_in.weight"},             {"input_blocks.0.0.bias", "conv_in.bias"},
        {"out.0.weight", "conv_norm_out.weight"},                  {"out.0.bias", "conv_norm_out.bias"},
        {"out.2.weight", "conv_out.weight"},                       {"out.2.bias", "conv_out.bias"}};
    static const char* resnet[][2] = {{"in_layers.0", "norm1"},     {"in_layers.2", "conv1"},
                                      {"out_layers.0", "norm2"},    {"out_layers.3", "conv2"},
                                      {"emb_layers.1", "time_emb_proj"}, {"skip_connection", "conv_shortcut"}};
    snprintf(out, cap, "%s", hf);
    for (size_t k = 0; k < sizeof exact / sizeof exact[0]; k++)
        if (!strcmp(hf, exact[k][1])) snprintf(out, cap, "%s", exact[k][0]);
    if (strstr(hf, "resnets"))
        for (size_t k = 0; k < sizeof resnet / sizeof resnet[0]; k++) replace_all(out, cap, resnet[k][1], resnet[k][0]);
    for (int k = 0; k < n; k++) replace_all(out, cap, layer[k].hf, layer[k].sd);
}

// Every parameter of an SD 1.5-sized UNet (as the UNet module declares it) maps to the name
// diffusers' table gives, and no two parameters share a name.
static void keys_vs_diffusers_unet(tu_ctx* t) {
#ifdef VKD_SD_HAVE_UNET
    tu_case(t, "key maps vs diffusers' table: every SD 1.5 UNet parameter");
    vkd_sd_arch a = {0};
    vkd_sd_unet_arch_default(&a.unet);
    vkd_unet_desc ud;
    vkd_sd_unet_desc(&a.unet, &ud);
    vkd_params p = {0};
    vkd_unet* m = calloc(1, sizeof(*m));
    vkd_error err = {0};
    vkd_status st = vkd_unet_declare(m, &p, NULL, "", &ud, &err);
    if (tu_check(t, st == VKD_OK, "declare the SD 1.5 UNet: %s", st ? err.msg : "ok")) {
        uint64_t total = 0;
        for (uint32_t i = 0; i < p.count; i++) total += p.items[i].count;
        tu_check(t, total == 859520964ull, "SD 1.5 UNet: %llu parameters (diffusers: 859520964)",
                 (unsigned long long)total);
        vkd_sd_keymap km = {.arch = &a};
        size_t bad = 0;
        char first[1400] = "";
        char(*names)[VKD_PARAM_NAME_MAX * 2] = calloc(p.count, sizeof *names);
        for (uint32_t i = 0; i < p.count; i++) {
            vkd_param_source src;
            memset(&src, 0, sizeof src);
            char ref[512], want[600];
            unet_reference_name(p.items[i].name, ref, sizeof ref);
            snprintf(want, sizeof want, "model.diffusion_model.%s", ref);
            bool ok = vkd_sd_unet_key(&km, p.items[i].name, &src) && !strcmp(src.name, want) && !src.row_count;
            snprintf(names[i], sizeof names[i], "%s", src.name);
            if (!ok && !bad++)
                snprintf(first, sizeof first, "%s -> %s, diffusers: %s", p.items[i].name, src.name, want);
        }
        tu_check(t, bad == 0 && p.count > 600, "%u parameters, %zu differ (first: %s)", p.count, bad, first);
        size_t dup = 0;
        for (uint32_t i = 0; i < p.count; i++)
            for (uint32_t j = i + 1; j < p.count; j++) dup += !strcmp(names[i], names[j]);
        tu_check(t, dup == 0, "no two parameters share an original name (%zu do)", dup);
        free(names);
    }
    vkd_params_free(&p);
    free(m);
#else
    (void)t;
#endif
}

static char* fixture_dir(void) {
    static char dir[1024];
    tu_fixture_path(dir, sizeof dir, "");
    size_t n = strlen(dir);
    if (n && dir[n - 1] == '/') dir[n - 1] = 0;
    return dir;
}

static void configs(tu_ctx* t, vkd_sd_arch* a) {
    tu_case(t, "sd-tiny configs");
    vkd_error err = {0};
    vkd_status st = vkd_sd_arch_load_dir(a, fixture_dir(), &err);
    if (!tu_check(t, st == VKD_OK, "load %s: %s", fixture_dir(), st ? err.msg : "ok")) return;
    const vkd_sd_unet_arch* u = &a->unet;
    tu_check(t, a->has_unet && a->has_vae && a->has_text && a->version == VKD_SD_VERSION_1, "components, SD1");
    tu_check(t, u->in_channels == 4 && u->out_channels == 4 && u->levels == 2 && u->block_out_channels[0] == 32 &&
                    u->block_out_channels[1] == 64 && u->layers_per_block == 1,
             "unet channels/levels/layers");
    tu_check(t, u->down_attn[0] && !u->down_attn[1] && !u->up_attn[0] && u->up_attn[1] && u->mid_attn,
             "unet block types");
    tu_check(t, u->heads[0] == 8 && u->heads[1] == 8 && u->cross_attention_dim == 32 && !u->use_linear_projection &&
                    u->norm_num_groups == 32 && u->norm_eps == 1e-5f && u->flip_sin_to_cos && u->freq_shift == 0 &&
                    u->time_embed_dim == 128 && u->transformer_layers[0] == 1 && u->sample_size == 8,
             "unet heads (attention_head_dim = heads), cross dim, conv proj, norms, time embedding");
    const vkd_sd_vae_arch* v = &a->vae;
    tu_check(t, v->in_channels == 3 && v->out_channels == 3 && v->latent_channels == 4 && v->levels == 2 &&
                    v->block_out_channels[1] == 64 && v->layers_per_block == 1 && v->scaling_factor == 0.18215f &&
                    v->mid_attn && v->sample_size == 16,
             "vae");
    const vkd_sd_text_arch* x = &a->text;
    tu_check(t, x->vocab_size == 1000 && x->hidden_size == 32 && x->intermediate_size == 37 && x->num_layers == 2 &&
                    x->num_heads == 4 && x->max_positions == 77 && x->act == VKD_SD_ACT_QUICK_GELU &&
                    x->layer_norm_eps == 1e-5f && x->eos_id == 2,
             "text encoder");
    const vkd_sd_sched_arch* s = &a->sched;
    tu_check(t, s->num_train_timesteps == 1000 && s->beta_start == 0.00085 && s->beta_end == 0.012 &&
                    s->beta_schedule == VKD_SD_BETA_SCALED_LINEAR && s->prediction == VKD_SD_PREDICTION_EPSILON &&
                    s->steps_offset == 1 && s->timestep_spacing == VKD_SD_SPACING_LEADING && !s->clip_sample,
             "scheduler");

    tu_case(t, "config parsing: SD2 heads and errors");
    vkd_sd_unet_arch ua;
    st = vkd_sd_unet_arch_parse(&ua,
                                "{\"block_out_channels\":[320,640,1280,1280],\"attention_head_dim\":[5,10,20,20],"
                                "\"use_linear_projection\":true,\"cross_attention_dim\":1024,\"upcast_attention\":true,"
                                "\"sample_size\":96}",
                                "sd2/unet/config.json", &err);
    tu_check(t, !st && ua.heads[0] == 5 && ua.heads[3] == 20 && ua.block_out_channels[1] / ua.heads[1] == 64 &&
                    ua.use_linear_projection && ua.upcast_attention && ua.down_attn[2] && !ua.down_attn[3],
             "SD2 unet: attention_head_dim list = heads of dim 64: %s", st ? err.msg : "ok");
    st = vkd_sd_unet_arch_parse(&ua, "{\"num_attention_heads\":4,\"attention_head_dim\":8}", "x.json", &err);
    tu_check(t, !st && ua.heads[2] == 4, "num_attention_heads wins over attention_head_dim");
    st = vkd_sd_unet_arch_parse(&ua, "{\"act_fn\":\"gelu\"}", "u/config.json", &err);
    tu_check(t, st == VKD_ERR_UNSUPPORTED && has(err.msg, "u/config.json") && has(err.msg, "act_fn") &&
                    has(err.msg, "gelu"),
             "unsupported option names file, key, value: %s", err.msg);
    st = vkd_sd_unet_arch_parse(&ua, "{\"down_block_types\":[\"CrossAttnDownBlock2D\",\"SimpleDownBlock\"]}",
                                "u/config.json", &err);
    tu_check(t, st == VKD_ERR_UNSUPPORTED && has(err.msg, "SimpleDownBlock"), "unknown block type: %s", err.msg);
    st = vkd_sd_unet_arch_parse(&ua, "{\"block_out_channels\":[32,64], \"attention_head_dim\":[8]}", "u.json", &err);
    tu_check(t, st == VKD_ERR_INVALID && has(err.msg, "attention_head_dim"), "per-level list of the wrong length: %s",
             err.msg);
    st = vkd_sd_unet_arch_parse(&ua, "{\"layers_per_block\": 2,", "u.json", &err);
    tu_check(t, st == VKD_ERR_INVALID && has(err.msg, "u.json") && has(err.msg, "JSON"), "bad JSON: %s", err.msg);
    st = vkd_sd_unet_arch_parse(&ua, "{\"block_out_channels\":[48,64]}", "u.json", &err);
    tu_check(t, st == VKD_ERR_INVALID && has(err.msg, "norm_num_groups"), "channels vs groups: %s", err.msg);
    vkd_sd_text_arch ta;
    st = vkd_sd_text_arch_parse(&ta, "{\"hidden_act\":\"gelu\",\"hidden_size\":1024,\"num_attention_heads\":16,"
                                     "\"num_hidden_layers\":23}", "t.json", &err);
    tu_check(t, !st && ta.act == VKD_SD_ACT_GELU && ta.num_layers == 23, "SD2 text encoder config");
    st = vkd_sd_text_arch_parse(&ta, "{\"hidden_act\":\"relu\"}", "t.json", &err);
    tu_check(t, st == VKD_ERR_UNSUPPORTED && has(err.msg, "hidden_act"), "text act: %s", err.msg);
    vkd_sd_sched_arch sa;
    st = vkd_sd_sched_arch_parse(&sa, "{\"prediction_type\":\"v_prediction\",\"timestep_spacing\":\"trailing\"}",
                                 "s.json", &err);
    tu_check(t, !st && sa.prediction == VKD_SD_PREDICTION_V && sa.timestep_spacing == VKD_SD_SPACING_TRAILING,
             "v-prediction scheduler");
    vkd_sd_prediction p;
    tu_check(t, vkd_sd_prediction_parse("v", &p) && p == VKD_SD_PREDICTION_V && vkd_sd_prediction_parse("epsilon", &p) &&
                    p == VKD_SD_PREDICTION_EPSILON && !vkd_sd_prediction_parse("x0", &p),
             "prediction names");
    vkd_sd_arch none;
    st = vkd_sd_arch_load_dir(&none, "/nonexistent-dir", &err);
    tu_check(t, st == VKD_ERR_INVALID && has(err.msg, "/nonexistent-dir"), "not a diffusers folder: %s", err.msg);
}

// Declares every tensor of a diffusers file (canonical names and shapes), loads it from that
// file and, through the key map, from the single file; both must agree (F16 files: equal to
// the F16 rounding of the original).
static void roundtrip_component(tu_ctx* t, const char* rel, const vkd_safetensors* single, vkd_params_rename_fn fn,
                                const vkd_sd_keymap* km, bool f16) {
    char path[1024];
    tu_fixture_path(path, sizeof path, rel);
    vkd_safetensors* f = NULL;
    vkd_error err = {0};
    if (!tu_check(t, vkd_safetensors_open(path, &f, &err) == VKD_OK, "open %s: %s", path, err.msg)) return;
    vkd_params a = {0}, b = {0};
    for (size_t i = 0; i < vkd_safetensors_count(f); i++) {
        const vkd_tensor_info* ti = vkd_safetensors_at(f, i);
        vkd_params_add(&a, ti->name, ti->ndim, ti->shape);
        vkd_params_add(&b, ti->name, ti->ndim, ti->shape);
    }
    vkd_status st = vkd_params_alloc(t->gpu, &a, false, &err);
    if (!st) st = vkd_params_alloc(t->gpu, &b, false, &err);
    if (!st) st = vkd_params_load(&a, f, NULL, &err);
    tu_check(t, st == VKD_OK, "load %s: %s", rel, st ? err.msg : "ok");
    if (!st) st = vkd_params_load(&b, single, &(vkd_params_load_desc){.rename = fn, .user = (void*)km}, &err);
    tu_check(t, st == VKD_OK, "load %u tensors through the key map: %s", b.count, st ? err.msg : "ok");
    size_t bad = 0;
    const char* first = "";
    for (uint32_t i = 0; i < a.count && !st; i++) {
        uint64_t c = a.items[i].count;
        float* x = malloc(c * sizeof(float));
        float* y = malloc(c * sizeof(float));
        vkd_params_download(&a, i, false, x, c, &err);
        vkd_params_download(&b, i, false, y, c, &err);
        bool same = true;
        for (uint64_t k = 0; k < c && same; k++) same = (f16 ? vkd_f16_to_f32(vkd_f32_to_f16(x[k])) : x[k]) == y[k];
        if (!same && !bad++) first = a.items[i].name;
        free(x);
        free(y);
    }
    if (!st) tu_check(t, bad == 0, "%s: all %u parameters equal (%zu differ, first %s)", rel, a.count, bad, first);
    vkd_params_free(&a);
    vkd_params_free(&b);
    vkd_safetensors_close(f);
}

static void single_file(tu_ctx* t, const vkd_sd_arch* cfg) {
    tu_case(t, "single file (SD1 names) written from the folder");
    vkd_error err = {0};
    char out[256], out_oc[256];
    snprintf(out, sizeof out, "/tmp/vkd_test_sd_load_%ld.safetensors", (long)getpid());
    snprintf(out_oc, sizeof out_oc, "/tmp/vkd_test_sd_load_oc_%ld.safetensors", (long)getpid());
    vkd_status st = vkd_sd_write_single_file(fixture_dir(), out, NULL, &err);
    vkd_safetensors* f = NULL;
    if (!st) st = vkd_safetensors_open(out, &f, &err);
    if (!tu_check(t, st == VKD_OK, "write and open: %s", st ? err.msg : "ok")) {
        remove(out);
        return;
    }
    size_t expect = 208 + 124 + 36;  // every weight of the three files, one name each
    tu_check(t, vkd_safetensors_count(f) == expect, "%zu tensors (expected %zu)", vkd_safetensors_count(f), expect);
    const vkd_tensor_info* q = vkd_safetensors_find(f, "first_stage_model.decoder.mid.attn_1.q.weight");
    tu_check(t, q && q->ndim == 4 && q->shape[2] == 1 && q->shape[3] == 1, "VAE mid attention stored as 1x1 conv");

    vkd_sd_arch inf;
    st = vkd_sd_arch_infer(&inf, f, VKD_SD_PREDICTION_V, &err);
    tu_check(t, st == VKD_OK, "infer: %s", st ? err.msg : "ok");
    if (!st) {
        const vkd_sd_unet_arch* u = &inf.unet;
        tu_check(t, inf.version == VKD_SD_VERSION_1 && inf.has_unet && inf.has_vae && inf.has_text, "SD1, all parts");
        tu_check(t, u->levels == 2 && u->layers_per_block == 1 && u->block_out_channels[0] == 32 &&
                        u->block_out_channels[1] == 64 && u->down_attn[0] && !u->down_attn[1] && !u->up_attn[0] &&
                        u->up_attn[1] && u->mid_attn && u->cross_attention_dim == 32 && !u->use_linear_projection &&
                        u->heads[0] == 8 && u->heads[1] == 8 && u->in_channels == 4 && u->out_channels == 4 &&
                        u->time_embed_dim == 128 && u->transformer_layers[0] == 1,
                 "unet inferred: 2 levels x 1 layer, [32,64], attention pattern, cross 32, conv proj_in, 8 heads");
        tu_check(t, inf.vae.levels == 2 && inf.vae.layers_per_block == 1 && inf.vae.block_out_channels[0] == 32 &&
                        inf.vae.block_out_channels[1] == 64 && inf.vae.latent_channels == 4 && inf.vae.in_channels == 3 &&
                        inf.vae.out_channels == 3 && inf.vae.mid_attn,
                 "vae inferred");
        tu_check(t, inf.text.vocab_size == 1000 && inf.text.hidden_size == 32 && inf.text.num_layers == 2 &&
                        inf.text.intermediate_size == 37 && inf.text.max_positions == 77 && inf.text.num_heads == 0 &&
                        inf.text.act == VKD_SD_ACT_QUICK_GELU,
                 "text inferred (heads unknown for width 32)");
        tu_check(t, inf.sched.prediction == VKD_SD_PREDICTION_EPSILON,
                 "prediction from the file's metadata wins over the fallback");
        st = vkd_sd_arch_check_compatible(cfg, &inf, out, &err);
        tu_check(t, st == VKD_OK, "folder config compatible with the file: %s", st ? err.msg : "ok");
        vkd_sd_arch other = *cfg;
        other.unet.block_out_channels[1] = 96;
        st = vkd_sd_arch_check_compatible(&other, &inf, out, &err);
        tu_check(t, st == VKD_ERR_INVALID && has(err.msg, out) && has(err.msg, "block_out_channels[1]") &&
                        has(err.msg, "64") && has(err.msg, "96"),
                 "incompatible config: %s", err.msg);
    }

    vkd_sd_keymap km;
    vkd_sd_keymap_for_file(&km, cfg, f);
    roundtrip_component(t, "unet/diffusion_pytorch_model.safetensors", f, vkd_sd_rename_unet, &km, false);
    roundtrip_component(t, "vae/diffusion_pytorch_model.safetensors", f, vkd_sd_rename_vae, &km, false);
    roundtrip_component(t, "text_encoder/model.safetensors", f, vkd_sd_rename_text, &km, false);

    tu_case(t, "single-file errors name the file and the original tensor");
    vkd_params p = {0};
    vkd_params_add(&p, "down_blocks.0.resnets.0.conv1.weight", 4, (int64_t[]){32, 32, 1, 3});
    vkd_params_alloc(t->gpu, &p, false, &err);
    st = vkd_params_load(&p, f, &(vkd_params_load_desc){.rename = vkd_sd_rename_unet, .user = &km}, &err);
    tu_check(t, st == VKD_ERR_INVALID && has(err.msg, out) &&
                    has(err.msg, "model.diffusion_model.input_blocks.1.0.in_layers.2.weight") &&
                    has(err.msg, "[32,32,3,3]") && has(err.msg, "[32,32,1,3]"),
             "wrong shape: %s", err.msg);
    vkd_params_free(&p);
    vkd_params_add(&p, "down_blocks.1.attentions.0.norm.weight", 1, (int64_t[]){64});
    vkd_params_alloc(t->gpu, &p, false, &err);
    st = vkd_params_load(&p, f, &(vkd_params_load_desc){.rename = vkd_sd_rename_unet, .user = &km}, &err);
    tu_check(t, st == VKD_ERR_INVALID && has(err.msg, out) && has(err.msg, "down_blocks.1.attentions.0.norm.weight"),
             "no counterpart: %s", err.msg);
    vkd_params_free(&p);
    vkd_params_add(&p, "text_model.encoder.layers.2.mlp.fc1.weight", 2, (int64_t[]){37, 32});
    vkd_params_alloc(t->gpu, &p, false, &err);
    st = vkd_params_load(&p, f, &(vkd_params_load_desc){.rename = vkd_sd_rename_text, .user = &km}, &err);
    tu_check(t, st == VKD_ERR_INVALID && has(err.msg, out) && has(err.msg, "missing") &&
                    has(err.msg, "cond_stage_model.transformer.text_model.encoder.layers.2.mlp.fc1.weight"),
             "missing tensor: %s", err.msg);
    vkd_params_free(&p);
    vkd_safetensors_close(f);
    remove(out);

    tu_case(t, "single file, SD2 OpenCLIP text layout, F16");
    vkd_sd_write_desc wd = {.text_layout = VKD_SD_TEXT_OPENCLIP, .half = true, .prediction = "v"};
    st = vkd_sd_write_single_file(fixture_dir(), out_oc, &wd, &err);
    f = NULL;
    if (!st) st = vkd_safetensors_open(out_oc, &f, &err);
    if (!tu_check(t, st == VKD_OK, "write and open: %s", st ? err.msg : "ok")) {
        remove(out_oc);
        return;
    }
    const vkd_tensor_info* ip = vkd_safetensors_find(f, "cond_stage_model.model.transformer.resblocks.1.attn.in_proj_weight");
    tu_check(t, ip && ip->dtype == VKD_DTYPE_F16 && ip->shape[0] == 96 && ip->shape[1] == 32, "fused in_proj [96,32] F16");
    st = vkd_sd_arch_infer(&inf, f, VKD_SD_PREDICTION_EPSILON, &err);
    tu_check(t, !st && inf.version == VKD_SD_VERSION_2 && inf.text.act == VKD_SD_ACT_GELU && inf.text.num_layers == 1 &&
                    inf.text.file_layers == 2 && inf.text.pad_id == 0 && inf.sched.prediction == VKD_SD_PREDICTION_V &&
                    inf.unet.use_linear_projection == false,
             "inferred SD2 (OpenCLIP): gelu, last resblock unused, pad 0, v-prediction from metadata: %s",
             st ? err.msg : "ok");
    if (!st) {
        st = vkd_sd_arch_check_compatible(cfg, &inf, out_oc, &err);
        tu_check(t, st == VKD_OK, "folder config (2 layers) compatible with 2 resblocks: %s", st ? err.msg : "ok");
    }
    vkd_sd_keymap_for_file(&km, cfg, f);
    tu_check(t, km.text_layout == VKD_SD_TEXT_OPENCLIP, "keymap detects the OpenCLIP layout");
    roundtrip_component(t, "text_encoder/model.safetensors", f, vkd_sd_rename_text, &km, true);
    roundtrip_component(t, "unet/diffusion_pytorch_model.safetensors", f, vkd_sd_rename_unet, &km, true);
    vkd_safetensors_close(f);
    remove(out_oc);
}

// Parameter sets declared from the same desc: equal values, parameter by parameter.
static bool same_sets(tu_ctx* t, const char* what, const vkd_params* a, const vkd_params* b) {
    if (a->count != b->count || !a->count)
        return tu_check(t, false, "%s: %u vs %u parameters", what, a->count, b->count);
    size_t bad = 0;
    const char* first = "";
    vkd_error err = {0};
    for (uint32_t i = 0; i < a->count; i++) {
        uint64_t c = a->items[i].count;
        float* x = malloc(c * sizeof(float));
        float* y = malloc(c * sizeof(float));
        bool same = strcmp(a->items[i].name, b->items[i].name) == 0 && c == b->items[i].count &&
                    !vkd_params_download(a, i, false, x, c, &err) && !vkd_params_download(b, i, false, y, c, &err) &&
                    !memcmp(x, y, c * sizeof(float));
        if (!same && !bad++) first = a->items[i].name;
        free(x);
        free(y);
    }
    return tu_check(t, bad == 0, "%s: %u parameters equal (%zu differ, first %s)", what, a->count, bad, first);
}

// Writes `src` without tensor `drop` to `dst`.
static vkd_status copy_without(const char* src, const char* dst, const char* drop, vkd_error* err) {
    vkd_safetensors* f = NULL;
    vkd_status st = vkd_safetensors_open(src, &f, err);
    if (st) return st;
    size_t n = vkd_safetensors_count(f), k = 0;
    vkd_tensor_write* w = calloc(n, sizeof(*w));
    for (size_t i = 0; i < n; i++) {
        const vkd_tensor_info* ti = vkd_safetensors_at(f, i);
        if (!strcmp(ti->name, drop)) continue;
        w[k] = (vkd_tensor_write){.name = ti->name, .dtype = ti->dtype, .ndim = ti->ndim, .data = ti->data};
        memcpy(w[k].shape, ti->shape, sizeof w[k].shape);
        k++;
    }
    st = vkd_safetensors_write(dst, w, k, NULL, err);
    free(w);
    vkd_safetensors_close(f);
    return st;
}

static void model_load(tu_ctx* t) {
    tu_case(t, "vkd_sd_load: folder and single file");
    vkd_error err = {0};
    bool no_unet = true;
#ifdef VKD_SD_HAVE_UNET
    no_unet = false;
#endif
    char single[256], broken[256];
    snprintf(single, sizeof single, "/tmp/vkd_test_sd_model_%ld.safetensors", (long)getpid());
    snprintf(broken, sizeof broken, "/tmp/vkd_test_sd_model_broken_%ld.safetensors", (long)getpid());
    vkd_sd_model *a = NULL, *b = NULL, *c = NULL;
    vkd_status st = vkd_sd_load(t->gpu, fixture_dir(), &(vkd_sd_load_desc){.no_unet = no_unet}, &a, &err);
    tu_check(t, st == VKD_OK, "folder: %s", st ? err.msg : "ok");
    if (!st) st = vkd_sd_write_single_file(fixture_dir(), single, NULL, &err);
    if (!st) {
        vkd_sd_load_desc ld = {.no_unet = no_unet, .config_dir = fixture_dir()};
        st = vkd_sd_load(t->gpu, single, &ld, &b, &err);
        tu_check(t, st == VKD_OK && b->single_file, "single file with the folder's configs: %s", st ? err.msg : "ok");
    }
    if (!st) {
        same_sets(t, "text encoder, single file vs folder", &a->text_p, &b->text_p);
        same_sets(t, "vae, single file vs folder", &a->vae_p, &b->vae_p);
#ifdef VKD_SD_HAVE_UNET
        same_sets(t, "unet, single file vs folder", &a->unet_p, &b->unet_p);
#endif
#ifdef VKD_SD_HAVE_SCHEDULER
        tu_check(t, a->has_sched && b->has_sched && a->sched.d.prediction_type == VKD_PREDICT_EPSILON &&
                        !memcmp(a->sched.alphas_cumprod, b->sched.alphas_cumprod, 1000 * sizeof(float)),
                 "scheduler from the folder config in both");
#endif
        // Without a config: the text encoder's heads (width 32) cannot be inferred.
        st = vkd_sd_load(t->gpu, single, &(vkd_sd_load_desc){.no_unet = no_unet}, &c, &err);
        tu_check(t, st == VKD_ERR_UNSUPPORTED && has(err.msg, "heads") && has(err.msg, "config"),
                 "inferred text encoder of width 32: %s", err.msg);
        st = vkd_sd_load(t->gpu, single, &(vkd_sd_load_desc){.no_unet = no_unet, .no_text = true, .prediction = "v"},
                         &c, &err);
        tu_check(t, st == VKD_OK, "VAE from the inferred architecture: %s", st ? err.msg : "ok");
        if (!st) {
            same_sets(t, "vae (inferred arch) vs folder", &a->vae_p, &c->vae_p);
#ifdef VKD_SD_HAVE_UNET
            same_sets(t, "unet (inferred arch: 8 heads, conv proj_in) vs folder", &a->unet_p, &c->unet_p);
            tu_check(t, c->unet.d.heads[0] == 8 && c->unet.d.num_blocks == 2 && !c->unet.d.linear_projection &&
                            c->unet.d.cross_attention_dim == 32,
                     "inferred unet desc: %u blocks, %u heads, cross %u", c->unet.d.num_blocks, c->unet.d.heads[0],
                     c->unet.d.cross_attention_dim);
#endif
            tu_check(t, c->arch.sched.prediction == VKD_SD_PREDICTION_V && !c->arch.has_text, "prediction override");
#ifdef VKD_SD_HAVE_SCHEDULER
            tu_check(t, c->has_sched && c->sched.d.prediction_type == VKD_PREDICT_V, "scheduler gets v-prediction");
#endif
        }
        vkd_sd_free(c);
        c = NULL;
        st = copy_without(single, broken, "first_stage_model.decoder.up.0.block.1.conv2.weight", &err);
        if (!st) {
            vkd_sd_load_desc ld = {.no_unet = no_unet, .config_dir = fixture_dir()};
            st = vkd_sd_load(t->gpu, broken, &ld, &c, &err);
            tu_check(t, st == VKD_ERR_INVALID && has(err.msg, broken) &&
                            has(err.msg, "first_stage_model.decoder.up.0.block.1.conv2.weight") && has(err.msg, "[32,32,3,3]"),
                     "missing tensor names the file, the original name and the shape: %s", err.msg);
            vkd_sd_free(c);
        }
    }
    st = vkd_sd_load(t->gpu, "/nonexistent.safetensors", NULL, &c, &err);
    tu_check(t, st != VKD_OK && has(err.msg, "/nonexistent.safetensors"), "missing file: %s", err.msg);
    vkd_sd_free(a);
    vkd_sd_free(b);
    remove(single);
    remove(broken);
}

void test_sd_load(tu_ctx* t) {
    keys_sd15(t);
    keys_vs_diffusers_vae(t);
    keys_vs_diffusers_unet(t);
    vkd_sd_arch cfg;
    configs(t, &cfg);
    single_file(t, &cfg);
    model_load(t);
}
