// Stable Diffusion architecture descriptions from diffusers configs; see
// include/vkdream/prior/sd_arch.h. Shape inference for single files is in sd_config_infer.c.
#define _POSIX_C_SOURCE 200809L
#include "vkdream/prior/sd_arch.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void vkd_sd_unet_arch_default(vkd_sd_unet_arch* a) {
    memset(a, 0, sizeof(*a));
    a->in_channels = 4;
    a->out_channels = 4;
    a->levels = 4;
    static const int ch[4] = {320, 640, 1280, 1280};
    for (int i = 0; i < 4; i++) {
        a->block_out_channels[i] = ch[i];
        a->down_attn[i] = i < 3;
        a->up_attn[i] = i > 0;
        a->heads[i] = 8;
        a->transformer_layers[i] = 1;
    }
    a->layers_per_block = 2;
    a->mid_attn = true;
    a->cross_attention_dim = 768;
    a->norm_num_groups = 32;
    a->norm_eps = 1e-5f;
    a->flip_sin_to_cos = true;
    a->freq_shift = 0;
    a->time_embed_dim = 4 * 320;
    a->sample_size = 64;
}

void vkd_sd_vae_arch_default(vkd_sd_vae_arch* a) {
    memset(a, 0, sizeof(*a));
    a->in_channels = 3;
    a->out_channels = 3;
    a->latent_channels = 4;
    a->levels = 4;
    static const int ch[4] = {128, 256, 512, 512};
    for (int i = 0; i < 4; i++) a->block_out_channels[i] = ch[i];
    a->layers_per_block = 2;
    a->norm_num_groups = 32;
    a->mid_attn = true;
    a->scaling_factor = 0.18215f;
    a->sample_size = 512;
}

void vkd_sd_text_arch_default(vkd_sd_text_arch* a) {
    memset(a, 0, sizeof(*a));
    a->vocab_size = 49408;
    a->hidden_size = 768;
    a->intermediate_size = 3072;
    a->num_layers = 12;
    a->num_heads = 12;
    a->max_positions = 77;
    a->act = VKD_SD_ACT_QUICK_GELU;
    a->layer_norm_eps = 1e-5f;
    a->bos_id = 0;
    a->eos_id = 2;
    a->pad_id = 1;
}

void vkd_sd_sched_arch_default(vkd_sd_sched_arch* a) {
    memset(a, 0, sizeof(*a));
    a->num_train_timesteps = 1000;
    a->beta_start = 0.00085;
    a->beta_end = 0.012;
    a->beta_schedule = VKD_SD_BETA_SCALED_LINEAR;
    a->prediction = VKD_SD_PREDICTION_EPSILON;
    a->steps_offset = 1;
    a->timestep_spacing = VKD_SD_SPACING_LEADING;
}

bool vkd_sd_prediction_parse(const char* s, vkd_sd_prediction* out) {
    if (!s) return false;
    if (!strcmp(s, "epsilon") || !strcmp(s, "eps")) *out = VKD_SD_PREDICTION_EPSILON;
    else if (!strcmp(s, "v_prediction") || !strcmp(s, "v") || !strcmp(s, "v-prediction")) *out = VKD_SD_PREDICTION_V;
    else if (!strcmp(s, "sample")) *out = VKD_SD_PREDICTION_SAMPLE;
    else return false;
    return true;
}

const char* vkd_sd_prediction_name(vkd_sd_prediction p) {
    switch (p) {
    case VKD_SD_PREDICTION_EPSILON: return "epsilon";
    case VKD_SD_PREDICTION_V: return "v_prediction";
    case VKD_SD_PREDICTION_SAMPLE: return "sample";
    }
    return "unknown";
}

vkd_status vkd_sd_read_text(const char* path, char** out, size_t* size, vkd_error* err) {
    *out = NULL;
    FILE* f = fopen(path, "rb");
    if (!f) return vkd_error_set(err, VKD_ERR_IO, "%s: cannot open", path);
    char* buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 65536;
            char* nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, 4096, f);
        n += got;
        if (got < 4096) break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return vkd_error_set(err, VKD_ERR_IO, "%s: read error", path);
    }
    buf[n] = 0;
    *out = buf;
    if (size) *size = n;
    return VKD_OK;
}

// ---------------------------------------------------------------------------
// JSON helpers: every accessor names the file and key in its error.

typedef struct jctx {
    const char* path;
    vkd_error* err;
    vkd_status st;
} jctx;

static bool jfail(jctx* c, const char* fmt, ...) VKD_PRINTF(2, 3);
static bool jfail(jctx* c, const char* fmt, ...) {
    if (c->st) return false;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->st = vkd_error_set(c->err, VKD_ERR_INVALID, "%s: %s", c->path, msg);
    return false;
}
static bool junsup(jctx* c, const char* key, const char* value) {
    if (c->st) return false;
    c->st = vkd_error_set(c->err, VKD_ERR_UNSUPPORTED, "%s: \"%s\": %s is not supported", c->path, key, value);
    return false;
}

static const cJSON* jget(const cJSON* o, const char* key) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static void jint(jctx* c, const cJSON* o, const char* key, int* dst) {
    const cJSON* v = jget(o, key);
    if (!v) return;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble) {
        jfail(c, "\"%s\" must be an integer", key);
        return;
    }
    *dst = (int)v->valuedouble;
}
static void jpos(jctx* c, const cJSON* o, const char* key, int* dst) {
    jint(c, o, key, dst);
    if (!c->st && *dst <= 0) jfail(c, "\"%s\" must be positive (found %d)", key, *dst);
}
static void jfloat(jctx* c, const cJSON* o, const char* key, float* dst) {
    const cJSON* v = jget(o, key);
    if (!v) return;
    if (!cJSON_IsNumber(v)) {
        jfail(c, "\"%s\" must be a number", key);
        return;
    }
    *dst = (float)v->valuedouble;
}
static void jdouble(jctx* c, const cJSON* o, const char* key, double* dst) {
    const cJSON* v = jget(o, key);
    if (!v) return;
    if (!cJSON_IsNumber(v)) {
        jfail(c, "\"%s\" must be a number", key);
        return;
    }
    *dst = v->valuedouble;
}
static void jbool(jctx* c, const cJSON* o, const char* key, bool* dst) {
    const cJSON* v = jget(o, key);
    if (!v) return;
    if (!cJSON_IsBool(v)) {
        jfail(c, "\"%s\" must be true or false", key);
        return;
    }
    *dst = cJSON_IsTrue(v);
}
static const char* jstr(jctx* c, const cJSON* o, const char* key) {
    const cJSON* v = jget(o, key);
    if (!v) return NULL;
    if (!cJSON_IsString(v)) {
        jfail(c, "\"%s\" must be a string", key);
        return NULL;
    }
    return v->valuestring;
}
// A value that must be absent, null, or equal to `ok` (string) when given.
static void jstr_only(jctx* c, const cJSON* o, const char* key, const char* ok) {
    const char* s = jstr(c, o, key);
    if (s && strcmp(s, ok)) {
        char v[200];
        snprintf(v, sizeof v, "\"%.150s\" (only \"%s\")", s, ok);
        junsup(c, key, v);
    }
}
static void jnull_only(jctx* c, const cJSON* o, const char* key) {
    const cJSON* v = jget(o, key);
    if (!v) return;
    char* text = cJSON_PrintUnformatted(v);
    char msg[200];
    snprintf(msg, sizeof msg, "%.150s (only null)", text ? text : "?");
    free(text);
    junsup(c, key, msg);
}
static void jfalse_only(jctx* c, const cJSON* o, const char* key) {
    bool b = false;
    jbool(c, o, key, &b);
    if (b) junsup(c, key, "true (only false)");
}
static void jint_only(jctx* c, const cJSON* o, const char* key, int ok) {
    int v = ok;
    jint(c, o, key, &v);
    if (v != ok) {
        char msg[64];
        snprintf(msg, sizeof msg, "%d (only %d)", v, ok);
        junsup(c, key, msg);
    }
}

// An int or a list of `n` ints (per level); *found says whether the key was present.
static void jint_levels(jctx* c, const cJSON* o, const char* key, int n, int* dst, bool* found) {
    const cJSON* v = jget(o, key);
    if (found) *found = v != NULL;
    if (!v) return;
    if (cJSON_IsNumber(v)) {
        for (int i = 0; i < n; i++) dst[i] = (int)v->valuedouble;
    } else if (cJSON_IsArray(v)) {
        if (cJSON_GetArraySize(v) != n) {
            jfail(c, "\"%s\" has %d entries, expected %d (one per block)", key, cJSON_GetArraySize(v), n);
            return;
        }
        for (int i = 0; i < n; i++) {
            const cJSON* e = cJSON_GetArrayItem(v, i);
            if (!cJSON_IsNumber(e)) {
                jfail(c, "\"%s\"[%d] must be an integer", key, i);
                return;
            }
            dst[i] = (int)e->valuedouble;
        }
    } else {
        jfail(c, "\"%s\" must be an integer or a list of integers", key);
        return;
    }
    for (int i = 0; i < n; i++)
        if (dst[i] <= 0) {
            jfail(c, "\"%s\"[%d] must be positive (found %d)", key, i, dst[i]);
            return;
        }
}

static int jint_list(jctx* c, const cJSON* o, const char* key, int* dst, int cap) {
    const cJSON* v = jget(o, key);
    if (!v) return -1;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 || cJSON_GetArraySize(v) > cap) {
        jfail(c, "\"%s\" must be a list of 1..%d integers", key, cap);
        return 0;
    }
    int n = cJSON_GetArraySize(v);
    for (int i = 0; i < n; i++) {
        const cJSON* e = cJSON_GetArrayItem(v, i);
        if (!cJSON_IsNumber(e) || e->valuedouble <= 0) {
            jfail(c, "\"%s\"[%d] must be a positive integer", key, i);
            return 0;
        }
        dst[i] = (int)e->valuedouble;
    }
    return n;
}

// Block type lists: each entry must be one of two names; flags[i] = (entry == yes).
static int jblock_types(jctx* c, const cJSON* o, const char* key, const char* no, const char* yes, bool* flags,
                        int cap) {
    const cJSON* v = jget(o, key);
    if (!v) return -1;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 || cJSON_GetArraySize(v) > cap) {
        jfail(c, "\"%s\" must be a list of 1..%d block types", key, cap);
        return 0;
    }
    int n = cJSON_GetArraySize(v);
    for (int i = 0; i < n; i++) {
        const cJSON* e = cJSON_GetArrayItem(v, i);
        if (!cJSON_IsString(e)) {
            jfail(c, "\"%s\"[%d] must be a string", key, i);
            return 0;
        }
        if (!strcmp(e->valuestring, yes)) flags[i] = true;
        else if (!strcmp(e->valuestring, no)) flags[i] = false;
        else {
            char msg[256];
            snprintf(msg, sizeof msg, "entry %d \"%.100s\" (only %s or %s)", i, e->valuestring, no, yes);
            junsup(c, key, msg);
            return 0;
        }
    }
    return n;
}

static cJSON* jparse(jctx* c, const char* json) {
    cJSON* root = cJSON_Parse(json);
    if (!root) {
        const char* at = cJSON_GetErrorPtr();
        jfail(c, "not valid JSON (near \"%.40s\")", at ? at : "");
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        jfail(c, "expected a JSON object");
        return NULL;
    }
    return root;
}

// ---------------------------------------------------------------------------

vkd_status vkd_sd_unet_arch_parse(vkd_sd_unet_arch* a, const char* json, const char* path, vkd_error* err) {
    jctx c = {.path = path ? path : "unet config", .err = err};
    cJSON* o = jparse(&c, json);
    if (!o) return c.st;
    vkd_sd_unet_arch_default(a);
    const char* cls = jstr(&c, o, "_class_name");
    if (cls && strcmp(cls, "UNet2DConditionModel")) junsup(&c, "_class_name", cls);
    jpos(&c, o, "in_channels", &a->in_channels);
    jpos(&c, o, "out_channels", &a->out_channels);
    int n = jint_list(&c, o, "block_out_channels", a->block_out_channels, VKD_SD_MAX_LEVELS);
    if (n > 0) a->levels = n;
    jpos(&c, o, "layers_per_block", &a->layers_per_block);
    bool down[VKD_SD_MAX_LEVELS] = {0}, up[VKD_SD_MAX_LEVELS] = {0};
    int nd = jblock_types(&c, o, "down_block_types", "DownBlock2D", "CrossAttnDownBlock2D", down, VKD_SD_MAX_LEVELS);
    int nu = jblock_types(&c, o, "up_block_types", "UpBlock2D", "CrossAttnUpBlock2D", up, VKD_SD_MAX_LEVELS);
    if (nd > 0 && nd != a->levels)
        jfail(&c, "\"down_block_types\" has %d entries but \"block_out_channels\" %d", nd, a->levels);
    if (nu > 0 && nu != a->levels)
        jfail(&c, "\"up_block_types\" has %d entries but \"block_out_channels\" %d", nu, a->levels);
    if (nd > 0)
        for (int i = 0; i < a->levels; i++) a->down_attn[i] = down[i];
    if (nu > 0)
        for (int i = 0; i < a->levels; i++) a->up_attn[i] = up[i];
    // A config with other levels but no block types: SD's pattern (no attention at the bottom).
    if (nd < 0)
        for (int i = 0; i < a->levels; i++) a->down_attn[i] = i < a->levels - 1;
    if (nu < 0)
        for (int i = 0; i < a->levels; i++) a->up_attn[i] = i > 0;
    const cJSON* mid = cJSON_GetObjectItemCaseSensitive(o, "mid_block_type");
    if (mid && cJSON_IsString(mid)) {
        if (!strcmp(mid->valuestring, "UNetMidBlock2DCrossAttn")) a->mid_attn = true;
        else junsup(&c, "mid_block_type", mid->valuestring);
    } else if (mid && cJSON_IsNull(mid)) {
        junsup(&c, "mid_block_type", "null (a UNet without mid block)");
    }
    // diffusers' naming quirk: attention_head_dim is the number of heads unless
    // num_attention_heads is given (SD1: 8 heads; SD2: [5,10,20,20] heads of dim 64).
    bool have_heads = false;
    jint_levels(&c, o, "num_attention_heads", a->levels, a->heads, &have_heads);
    if (!have_heads) jint_levels(&c, o, "attention_head_dim", a->levels, a->heads, NULL);
    const cJSON* tl = jget(o, "transformer_layers_per_block");
    if (tl && cJSON_IsArray(tl) && cJSON_GetArraySize(tl) > 0 && cJSON_IsArray(cJSON_GetArrayItem(tl, 0)))
        junsup(&c, "transformer_layers_per_block", "a list of lists");
    jint_levels(&c, o, "transformer_layers_per_block", a->levels, a->transformer_layers, NULL);
    const cJSON* cad = jget(o, "cross_attention_dim");
    if (cad && cJSON_IsArray(cad)) junsup(&c, "cross_attention_dim", "a list");
    jpos(&c, o, "cross_attention_dim", &a->cross_attention_dim);
    jbool(&c, o, "use_linear_projection", &a->use_linear_projection);
    jbool(&c, o, "upcast_attention", &a->upcast_attention);
    jpos(&c, o, "norm_num_groups", &a->norm_num_groups);
    jfloat(&c, o, "norm_eps", &a->norm_eps);
    jbool(&c, o, "flip_sin_to_cos", &a->flip_sin_to_cos);
    jfloat(&c, o, "freq_shift", &a->freq_shift);
    jpos(&c, o, "sample_size", &a->sample_size);
    a->time_embed_dim = 4 * a->block_out_channels[0];
    int ted = a->time_embed_dim;
    jint(&c, o, "time_embedding_dim", &ted);
    if (ted != a->time_embed_dim) {
        char msg[96];
        snprintf(msg, sizeof msg, "%d (only 4 * block_out_channels[0] = %d)", ted, a->time_embed_dim);
        junsup(&c, "time_embedding_dim", msg);
    }
    const char* ce = jstr(&c, o, "class_embed_type");
    if (ce) {
        if (!strcmp(ce, "projection")) {
            a->class_embed = VKD_SD_CLASS_EMBED_PROJECTION;
            jpos(&c, o, "projection_class_embeddings_input_dim", &a->class_embed_input_dim);
            if (!c.st && a->class_embed_input_dim <= 0)
                jfail(&c, "class_embed_type \"projection\" needs \"projection_class_embeddings_input_dim\"");
        } else {
            junsup(&c, "class_embed_type", ce);
        }
    }
    // Options this implementation does not have: rejected rather than silently ignored.
    jstr_only(&c, o, "act_fn", "silu");
    jstr_only(&c, o, "time_embedding_type", "positional");
    jstr_only(&c, o, "resnet_time_scale_shift", "default");
    jstr_only(&c, o, "attention_type", "default");
    jint_only(&c, o, "conv_in_kernel", 3);
    jint_only(&c, o, "conv_out_kernel", 3);
    jint_only(&c, o, "downsample_padding", 1);
    jnull_only(&c, o, "num_class_embeds");
    jnull_only(&c, o, "addition_embed_type");
    jnull_only(&c, o, "encoder_hid_dim");
    jnull_only(&c, o, "time_cond_proj_dim");
    jnull_only(&c, o, "timestep_post_act");
    jnull_only(&c, o, "time_embedding_act_fn");
    jnull_only(&c, o, "cross_attention_norm");
    jfalse_only(&c, o, "only_cross_attention");
    jfalse_only(&c, o, "dual_cross_attention");
    jfalse_only(&c, o, "center_input_sample");
    jfalse_only(&c, o, "class_embeddings_concat");
    jfalse_only(&c, o, "resnet_skip_time_act");
    float msf = 1, rosf = 1;
    jfloat(&c, o, "mid_block_scale_factor", &msf);
    jfloat(&c, o, "resnet_out_scale_factor", &rosf);
    if (msf != 1 || rosf != 1) junsup(&c, msf != 1 ? "mid_block_scale_factor" : "resnet_out_scale_factor", "!= 1");
    for (int i = 0; i < a->levels && !c.st; i++) {
        if (a->block_out_channels[i] % a->norm_num_groups)
            jfail(&c, "block_out_channels[%d] = %d is not a multiple of norm_num_groups %d", i,
                  a->block_out_channels[i], a->norm_num_groups);
        bool attn = a->down_attn[i] || a->up_attn[a->levels - 1 - i] || (i == a->levels - 1 && a->mid_attn);
        if (attn && a->block_out_channels[i] % a->heads[i])
            jfail(&c, "block_out_channels[%d] = %d is not a multiple of its %d attention heads", i,
                  a->block_out_channels[i], a->heads[i]);
    }
    cJSON_Delete(o);
    return c.st;
}

vkd_status vkd_sd_vae_arch_parse(vkd_sd_vae_arch* a, const char* json, const char* path, vkd_error* err) {
    jctx c = {.path = path ? path : "vae config", .err = err};
    cJSON* o = jparse(&c, json);
    if (!o) return c.st;
    vkd_sd_vae_arch_default(a);
    const char* cls = jstr(&c, o, "_class_name");
    if (cls && strcmp(cls, "AutoencoderKL")) junsup(&c, "_class_name", cls);
    jpos(&c, o, "in_channels", &a->in_channels);
    jpos(&c, o, "out_channels", &a->out_channels);
    jpos(&c, o, "latent_channels", &a->latent_channels);
    int n = jint_list(&c, o, "block_out_channels", a->block_out_channels, VKD_SD_MAX_LEVELS);
    if (n > 0) a->levels = n;
    jpos(&c, o, "layers_per_block", &a->layers_per_block);
    jpos(&c, o, "norm_num_groups", &a->norm_num_groups);
    jfloat(&c, o, "scaling_factor", &a->scaling_factor);
    jpos(&c, o, "sample_size", &a->sample_size);
    jbool(&c, o, "mid_block_add_attention", &a->mid_attn);
    bool flags[VKD_SD_MAX_LEVELS];
    int nd = jblock_types(&c, o, "down_block_types", "DownEncoderBlock2D", "DownEncoderBlock2D", flags,
                          VKD_SD_MAX_LEVELS);
    int nu = jblock_types(&c, o, "up_block_types", "UpDecoderBlock2D", "UpDecoderBlock2D", flags, VKD_SD_MAX_LEVELS);
    if ((nd > 0 && nd != a->levels) || (nu > 0 && nu != a->levels))
        jfail(&c, "block type lists (%d down, %d up) do not match \"block_out_channels\" (%d)", nd, nu, a->levels);
    jstr_only(&c, o, "act_fn", "silu");
    jnull_only(&c, o, "shift_factor");
    jnull_only(&c, o, "latents_mean");
    bool uq = true, upq = true;
    jbool(&c, o, "use_quant_conv", &uq);
    jbool(&c, o, "use_post_quant_conv", &upq);
    if (!uq || !upq) junsup(&c, !uq ? "use_quant_conv" : "use_post_quant_conv", "false");
    for (int i = 0; i < a->levels && !c.st; i++)
        if (a->block_out_channels[i] % a->norm_num_groups)
            jfail(&c, "block_out_channels[%d] = %d is not a multiple of norm_num_groups %d", i,
                  a->block_out_channels[i], a->norm_num_groups);
    cJSON_Delete(o);
    return c.st;
}

vkd_status vkd_sd_text_arch_parse(vkd_sd_text_arch* a, const char* json, const char* path, vkd_error* err) {
    jctx c = {.path = path ? path : "text encoder config", .err = err};
    cJSON* o = jparse(&c, json);
    if (!o) return c.st;
    vkd_sd_text_arch_default(a);
    const char* mt = jstr(&c, o, "model_type");
    if (mt && strcmp(mt, "clip_text_model")) junsup(&c, "model_type", mt);
    jpos(&c, o, "vocab_size", &a->vocab_size);
    jpos(&c, o, "hidden_size", &a->hidden_size);
    jpos(&c, o, "intermediate_size", &a->intermediate_size);
    jpos(&c, o, "num_hidden_layers", &a->num_layers);
    jpos(&c, o, "num_attention_heads", &a->num_heads);
    jpos(&c, o, "max_position_embeddings", &a->max_positions);
    jfloat(&c, o, "layer_norm_eps", &a->layer_norm_eps);
    jint(&c, o, "bos_token_id", &a->bos_id);
    jint(&c, o, "eos_token_id", &a->eos_id);
    jint(&c, o, "pad_token_id", &a->pad_id);
    const char* act = jstr(&c, o, "hidden_act");
    if (act) {
        if (!strcmp(act, "quick_gelu")) a->act = VKD_SD_ACT_QUICK_GELU;
        else if (!strcmp(act, "gelu")) a->act = VKD_SD_ACT_GELU;
        else junsup(&c, "hidden_act", act);
    }
    if (!c.st && a->hidden_size % a->num_heads)
        jfail(&c, "hidden_size %d is not a multiple of num_attention_heads %d", a->hidden_size, a->num_heads);
    cJSON_Delete(o);
    return c.st;
}

vkd_status vkd_sd_sched_arch_parse(vkd_sd_sched_arch* a, const char* json, const char* path, vkd_error* err) {
    jctx c = {.path = path ? path : "scheduler config", .err = err};
    cJSON* o = jparse(&c, json);
    if (!o) return c.st;
    vkd_sd_sched_arch_default(a);
    jpos(&c, o, "num_train_timesteps", &a->num_train_timesteps);
    jdouble(&c, o, "beta_start", &a->beta_start);
    jdouble(&c, o, "beta_end", &a->beta_end);
    jint(&c, o, "steps_offset", &a->steps_offset);
    jbool(&c, o, "clip_sample", &a->clip_sample);
    jbool(&c, o, "rescale_betas_zero_snr", &a->rescale_betas_zero_snr);
    const char* bs = jstr(&c, o, "beta_schedule");
    if (bs) {
        if (!strcmp(bs, "scaled_linear")) a->beta_schedule = VKD_SD_BETA_SCALED_LINEAR;
        else if (!strcmp(bs, "linear")) a->beta_schedule = VKD_SD_BETA_LINEAR;
        else if (!strcmp(bs, "squaredcos_cap_v2")) a->beta_schedule = VKD_SD_BETA_SQUAREDCOS_CAP_V2;
        else junsup(&c, "beta_schedule", bs);
    }
    const char* pt = jstr(&c, o, "prediction_type");
    if (pt && !vkd_sd_prediction_parse(pt, &a->prediction)) junsup(&c, "prediction_type", pt);
    const char* ts = jstr(&c, o, "timestep_spacing");
    if (ts) {
        if (!strcmp(ts, "leading")) a->timestep_spacing = VKD_SD_SPACING_LEADING;
        else if (!strcmp(ts, "trailing")) a->timestep_spacing = VKD_SD_SPACING_TRAILING;
        else if (!strcmp(ts, "linspace")) a->timestep_spacing = VKD_SD_SPACING_LINSPACE;
        else junsup(&c, "timestep_spacing", ts);
    }
    jnull_only(&c, o, "trained_betas");
    cJSON_Delete(o);
    return c.st;
}

// ---------------------------------------------------------------------------

static bool file_exists(const char* path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

typedef vkd_status (*parse_fn)(void* a, const char* json, const char* path, vkd_error* err);

static vkd_status parse_file(const char* path, void* a, parse_fn fn, vkd_error* err) {
    char* text = NULL;
    vkd_status st = vkd_sd_read_text(path, &text, NULL, err);
    if (!st) st = fn(a, text, path, err);
    free(text);
    return st;
}

static vkd_status parse_unet(void* a, const char* j, const char* p, vkd_error* e) {
    return vkd_sd_unet_arch_parse(a, j, p, e);
}
static vkd_status parse_vae(void* a, const char* j, const char* p, vkd_error* e) {
    return vkd_sd_vae_arch_parse(a, j, p, e);
}
static vkd_status parse_text(void* a, const char* j, const char* p, vkd_error* e) {
    return vkd_sd_text_arch_parse(a, j, p, e);
}
static vkd_status parse_sched(void* a, const char* j, const char* p, vkd_error* e) {
    return vkd_sd_sched_arch_parse(a, j, p, e);
}

// model_index.json lists components as "name": [library, class] or [null, null].
static vkd_status check_model_index(const char* dir, const vkd_sd_arch* a, vkd_error* err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/model_index.json", dir);
    if (!file_exists(path)) return VKD_OK;
    char* text = NULL;
    vkd_status st = vkd_sd_read_text(path, &text, NULL, err);
    if (st) return st;
    jctx c = {.path = path, .err = err};
    cJSON* o = jparse(&c, text);
    free(text);
    if (!o) return c.st;
    struct {
        const char* name;
        bool have;
    } comp[] = {{"unet", a->has_unet}, {"vae", a->has_vae}, {"text_encoder", a->has_text}};
    for (int i = 0; i < 3 && !c.st; i++) {
        const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, comp[i].name);
        bool listed = v && cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2 &&
                      cJSON_IsString(cJSON_GetArrayItem(v, 1));
        if (listed && !comp[i].have)
            jfail(&c, "lists \"%s\" but %s/%s/config.json is missing", comp[i].name, dir, comp[i].name);
    }
    cJSON_Delete(o);
    return c.st;
}

vkd_status vkd_sd_arch_load_dir(vkd_sd_arch* a, const char* dir, vkd_error* err) {
    memset(a, 0, sizeof(*a));
    vkd_sd_unet_arch_default(&a->unet);
    vkd_sd_vae_arch_default(&a->vae);
    vkd_sd_text_arch_default(&a->text);
    vkd_sd_sched_arch_default(&a->sched);
    char path[4096];
    vkd_status st = VKD_OK;
    snprintf(path, sizeof path, "%s/unet/config.json", dir);
    if (file_exists(path)) {
        a->has_unet = true;
        if ((st = parse_file(path, &a->unet, parse_unet, err))) return st;
    }
    snprintf(path, sizeof path, "%s/vae/config.json", dir);
    if (file_exists(path)) {
        a->has_vae = true;
        if ((st = parse_file(path, &a->vae, parse_vae, err))) return st;
    }
    snprintf(path, sizeof path, "%s/text_encoder/config.json", dir);
    if (file_exists(path)) {
        a->has_text = true;
        if ((st = parse_file(path, &a->text, parse_text, err))) return st;
    }
    snprintf(path, sizeof path, "%s/scheduler/scheduler_config.json", dir);
    if (file_exists(path) && (st = parse_file(path, &a->sched, parse_sched, err))) return st;
    if (!a->has_unet && !a->has_vae && !a->has_text)
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "%s: not a diffusers folder: none of unet/config.json, vae/config.json, "
                             "text_encoder/config.json exists",
                             dir);
    // SD2's text encoder is OpenCLIP-H (gelu, 1024 wide); its UNet attends over 1024 dims.
    bool sd2 = (a->has_text && a->text.act == VKD_SD_ACT_GELU) ||
               (a->has_unet && a->unet.cross_attention_dim == 1024 && a->unet.use_linear_projection);
    a->version = sd2 ? VKD_SD_VERSION_2 : VKD_SD_VERSION_1;
    return check_model_index(dir, a, err);
}

// ---------------------------------------------------------------------------

static vkd_status mismatch(vkd_error* err, const char* path, const char* field, long long cfg, long long found) {
    return vkd_error_set(err, VKD_ERR_INVALID,
                         "%s: %s is %lld in the weights but %lld in the config: these weights belong to another "
                         "architecture",
                         path, field, found, cfg);
}

vkd_status vkd_sd_arch_check_compatible(const vkd_sd_arch* c, const vkd_sd_arch* f, const char* path,
                                        vkd_error* err) {
    char field[128];
#define CHECK(name, a, b)                                                        \
    do {                                                                         \
        if ((long long)(a) != (long long)(b)) return mismatch(err, path, name, (long long)(a), (long long)(b)); \
    } while (0)
    if (c->has_unet && f->has_unet) {
        const vkd_sd_unet_arch *u = &c->unet, *v = &f->unet;
        CHECK("unet in_channels", u->in_channels, v->in_channels);
        CHECK("unet out_channels", u->out_channels, v->out_channels);
        CHECK("unet levels (len(block_out_channels))", u->levels, v->levels);
        CHECK("unet layers_per_block", u->layers_per_block, v->layers_per_block);
        CHECK("unet cross_attention_dim", u->cross_attention_dim, v->cross_attention_dim);
        CHECK("unet use_linear_projection", u->use_linear_projection, v->use_linear_projection);
        CHECK("unet mid-block attention", u->mid_attn, v->mid_attn);
        CHECK("unet class embedding", u->class_embed, v->class_embed);
        for (int i = 0; i < u->levels; i++) {
            snprintf(field, sizeof field, "unet block_out_channels[%d]", i);
            CHECK(field, u->block_out_channels[i], v->block_out_channels[i]);
            snprintf(field, sizeof field, "unet down_blocks.%d attention", i);
            CHECK(field, u->down_attn[i], v->down_attn[i]);
            snprintf(field, sizeof field, "unet up_blocks.%d attention", i);
            CHECK(field, u->up_attn[i], v->up_attn[i]);
            if (u->down_attn[i]) {
                snprintf(field, sizeof field, "unet transformer_layers_per_block[%d]", i);
                CHECK(field, u->transformer_layers[i], v->transformer_layers[i]);
            }
        }
    }
    if (c->has_vae && f->has_vae) {
        const vkd_sd_vae_arch *u = &c->vae, *v = &f->vae;
        CHECK("vae in_channels", u->in_channels, v->in_channels);
        CHECK("vae out_channels", u->out_channels, v->out_channels);
        CHECK("vae latent_channels", u->latent_channels, v->latent_channels);
        CHECK("vae levels", u->levels, v->levels);
        CHECK("vae layers_per_block", u->layers_per_block, v->layers_per_block);
        CHECK("vae mid-block attention", u->mid_attn, v->mid_attn);
        for (int i = 0; i < u->levels; i++) {
            snprintf(field, sizeof field, "vae block_out_channels[%d]", i);
            CHECK(field, u->block_out_channels[i], v->block_out_channels[i]);
        }
    }
    if (c->has_text && f->has_text) {
        const vkd_sd_text_arch *u = &c->text, *v = &f->text;
        CHECK("text encoder vocab_size", u->vocab_size, v->vocab_size);
        CHECK("text encoder hidden_size", u->hidden_size, v->hidden_size);
        CHECK("text encoder intermediate_size", u->intermediate_size, v->intermediate_size);
        CHECK("text encoder max_position_embeddings", u->max_positions, v->max_positions);
        // A file may hold more layers than the config uses (OpenCLIP's unused last block).
        int in_file = v->file_layers ? v->file_layers : v->num_layers;
        if (in_file < u->num_layers) CHECK("text encoder layers", u->num_layers, in_file);
    }
#undef CHECK
    return VKD_OK;
}
