// diffusers vae/config.json -> vkd_vae_desc; see include/vkdream/prior/vae.h.
#include "vkdream/prior/vae.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static vkd_status get_uint(const cJSON* root, const char* key, uint32_t* out, const char* what, vkd_error* err) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return VKD_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > 65536 || v->valuedouble != floor(v->valuedouble))
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: \"%s\" must be an integer in 1..65536", what, key);
    *out = (uint32_t)v->valuedouble;
    return VKD_OK;
}

static vkd_status get_float(const cJSON* root, const char* key, float* out, const char* what, vkd_error* err) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return VKD_OK;
    if (!cJSON_IsNumber(v)) return vkd_error_set(err, VKD_ERR_INVALID, "%s: \"%s\" must be a number", what, key);
    *out = (float)v->valuedouble;
    return VKD_OK;
}

// Every entry of the array `key` (when present) must equal `want`; returns its length in *n.
static vkd_status check_types(const cJSON* root, const char* key, const char* want, uint32_t* n, const char* what,
                              vkd_error* err) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, key);
    *n = 0;
    if (!v) return VKD_OK;
    if (!cJSON_IsArray(v)) return vkd_error_set(err, VKD_ERR_INVALID, "%s: \"%s\" must be an array", what, key);
    const cJSON* it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsString(it) || strcmp(it->valuestring, want))
            return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: \"%s\" entry %u is %s%s%s; only %s is supported", what,
                                 key, *n, cJSON_IsString(it) ? "\"" : "", cJSON_IsString(it) ? it->valuestring : "not a string",
                                 cJSON_IsString(it) ? "\"" : "", want);
        (*n)++;
    }
    return VKD_OK;
}

vkd_status vkd_vae_config_parse(const char* json, size_t len, const char* what, vkd_vae_desc* d, vkd_error* err) {
    if (!what) what = "vae config";
    cJSON* root = cJSON_ParseWithLength(json, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: not a JSON object", what);
    }
    vkd_status st = VKD_OK;
    const cJSON* cls = cJSON_GetObjectItemCaseSensitive(root, "_class_name");
    if (cls && (!cJSON_IsString(cls) || strcmp(cls->valuestring, "AutoencoderKL")))
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: _class_name is %s, expected AutoencoderKL", what,
                           cJSON_IsString(cls) ? cls->valuestring : "not a string");
    const cJSON* act = cJSON_GetObjectItemCaseSensitive(root, "act_fn");
    if (!st && act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu")))
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: act_fn %s is not supported (only silu)", what,
                           cJSON_IsString(act) ? act->valuestring : "(not a string)");
    if (!st) st = get_uint(root, "in_channels", &d->in_channels, what, err);
    if (!st) st = get_uint(root, "out_channels", &d->out_channels, what, err);
    if (!st) st = get_uint(root, "latent_channels", &d->latent_channels, what, err);
    if (!st) st = get_uint(root, "layers_per_block", &d->layers_per_block, what, err);
    if (!st) st = get_uint(root, "norm_num_groups", &d->norm_num_groups, what, err);
    const cJSON* ss = cJSON_GetObjectItemCaseSensitive(root, "sample_size");
    if (!st && cJSON_IsArray(ss)) { // some configs give [H, W]
        const cJSON* first = cJSON_GetArrayItem(ss, 0);
        if (cJSON_IsNumber(first) && first->valuedouble >= 1) d->sample_size = (uint32_t)first->valuedouble;
    } else if (!st) {
        st = get_uint(root, "sample_size", &d->sample_size, what, err);
    }
    if (!st) st = get_float(root, "scaling_factor", &d->scaling_factor, what, err);
    if (!st) st = get_float(root, "shift_factor", &d->shift_factor, what, err);
    const cJSON* bo = cJSON_GetObjectItemCaseSensitive(root, "block_out_channels");
    if (!st && bo) {
        int n = cJSON_IsArray(bo) ? cJSON_GetArraySize(bo) : -1;
        if (n < 1 || n > VKD_VAE_MAX_BLOCKS) {
            st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: block_out_channels must be an array of 1..%d entries", what,
                               VKD_VAE_MAX_BLOCKS);
        } else {
            memset(d->block_out_channels, 0, sizeof d->block_out_channels);
            d->num_blocks = (uint32_t)n;
            for (int i = 0; i < n && !st; i++) {
                const cJSON* it = cJSON_GetArrayItem(bo, i);
                if (!cJSON_IsNumber(it) || it->valuedouble < 1 || it->valuedouble != floor(it->valuedouble))
                    st = vkd_error_set(err, VKD_ERR_INVALID, "%s: block_out_channels[%d] is not a positive integer",
                                       what, i);
                else
                    d->block_out_channels[i] = (uint32_t)it->valuedouble;
            }
        }
    }
    uint32_t ndown = 0, nup = 0;
    if (!st) st = check_types(root, "down_block_types", "DownEncoderBlock2D", &ndown, what, err);
    if (!st) st = check_types(root, "up_block_types", "UpDecoderBlock2D", &nup, what, err);
    uint32_t nb = d->num_blocks ? d->num_blocks : 4;
    if (!st && ((ndown && ndown != nb) || (nup && nup != nb)))
        st = vkd_error_set(err, VKD_ERR_INVALID, "%s: %u down and %u up block types for %u block_out_channels", what,
                           ndown, nup, nb);
    const cJSON* ma = cJSON_GetObjectItemCaseSensitive(root, "mid_block_add_attention");
    if (!st && ma) {
        if (!cJSON_IsBool(ma))
            st = vkd_error_set(err, VKD_ERR_INVALID, "%s: mid_block_add_attention must be true or false", what);
        else
            d->no_mid_attention = cJSON_IsFalse(ma);
    }
    const cJSON* uq = cJSON_GetObjectItemCaseSensitive(root, "use_quant_conv");
    const cJSON* upq = cJSON_GetObjectItemCaseSensitive(root, "use_post_quant_conv");
    if (!st && (cJSON_IsFalse(uq) || cJSON_IsFalse(upq)))
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: use_quant_conv / use_post_quant_conv false is not supported",
                           what);
    cJSON_Delete(root);
    return st;
}

vkd_status vkd_vae_config_load(const char* path, vkd_vae_desc* d, vkd_error* err) {
    FILE* f = fopen(path, "rb");
    if (!f) return vkd_error_set(err, VKD_ERR_IO, "%s: cannot open the VAE config", path);
    char* buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > ((size_t)16 << 20)) {
                free(buf);
                fclose(f);
                return vkd_error_set(err, VKD_ERR_INVALID, "%s: larger than 16 MiB, not a config", path);
            }
            char* nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return vkd_error_set(err, VKD_ERR_IO, "%s: read error", path);
    }
    vkd_status st = vkd_vae_config_parse(buf, len, path, d, err);
    free(buf);
    return st;
}
