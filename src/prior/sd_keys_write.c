// A diffusers folder -> one original-format single-file checkpoint, through the same key
// maps the loader uses (so the converter is the loader's test); see sd_arch.h.
#define _POSIX_C_SOURCE 200809L
#include "vkdream/prior/sd_arch.h"
#include "vkdream/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct out_tensor {
    char* name;
    vkd_dtype dtype;
    int ndim;
    int64_t shape[VKD_MAX_DIMS];
    const void* data;   // borrowed from the mapped source, or `owned`
    void* owned;
    int64_t rows_filled; // fused tensors: rows written so far
} out_tensor;

typedef struct writer {
    out_tensor* t;
    size_t n, cap;
    bool half;
} writer;

static out_tensor* find_out(writer* w, const char* name) {
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->t[i].name, name)) return &w->t[i];
    return NULL;
}

static out_tensor* add_out(writer* w, const char* name, vkd_error* err) {
    if (find_out(w, name)) {
        vkd_error_set(err, VKD_ERR_INVALID, "two tensors map to '%s'", name);
        return NULL;
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        out_tensor* t = realloc(w->t, cap * sizeof(*t));
        if (!t) {
            vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
            return NULL;
        }
        w->t = t;
        w->cap = cap;
    }
    out_tensor* o = &w->t[w->n++];
    memset(o, 0, sizeof(*o));
    o->name = strdup(name);
    if (!o->name) {
        w->n--;
        vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
        return NULL;
    }
    return o;
}

// Converts `count` elements of a source tensor to the output dtype at dst.
static vkd_status convert(const vkd_safetensors* f, const vkd_tensor_info* ti, bool half, void* dst,
                          vkd_error* err) {
    if (half) return vkd_safetensors_read_f16(f, ti->name, dst, ti->numel, err);
    return vkd_safetensors_read_f32(f, ti->name, dst, ti->numel, err);
}

static bool is_float(vkd_dtype d) {
    return d == VKD_DTYPE_F32 || d == VKD_DTYPE_F16 || d == VKD_DTYPE_BF16 || d == VKD_DTYPE_F64;
}

typedef bool (*key_fn)(const vkd_sd_keymap* km, const char* canonical, vkd_param_source* src);

static vkd_status add_file(writer* w, const vkd_safetensors* f, const vkd_sd_keymap* km, key_fn key, bool vae,
                           vkd_error* err) {
    const char* path = vkd_safetensors_path(f);
    vkd_dtype odt = w->half ? VKD_DTYPE_F16 : VKD_DTYPE_F32;
    size_t esize = vkd_dtype_size(odt);
    for (size_t i = 0; i < vkd_safetensors_count(f); i++) {
        const vkd_tensor_info* ti = vkd_safetensors_at(f, i);
        // transformers' position_ids is a buffer, not a weight (original files drop it too).
        if (strstr(ti->name, "position_ids")) continue;
        if (!is_float(ti->dtype))
            return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s", path, ti->name,
                                 vkd_dtype_name(ti->dtype));
        vkd_param_source src;
        memset(&src, 0, sizeof src);
        if (!key(km, ti->name, &src))
            return vkd_error_set(err, VKD_ERR_INVALID,
                                 "%s: tensor '%s' has no counterpart in the original single-file layout for this "
                                 "architecture",
                                 path, ti->name);
        if (ti->ndim < 1 || ti->ndim > 4)
            return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dims", path, ti->name, ti->ndim);
        if (src.row_count) {
            // A block of rows of a fused tensor (OpenCLIP in_proj): three sources, one output.
            if (ti->shape[0] != src.row_count)
                return vkd_error_set(err, VKD_ERR_INVALID, "%s: tensor '%s' has %lld rows, expected %lld", path,
                                     ti->name, (long long)ti->shape[0], (long long)src.row_count);
            out_tensor* o = find_out(w, src.name);
            int64_t total_rows = 3 * src.row_count;
            uint64_t row = ti->numel / (uint64_t)ti->shape[0];
            if (!o) {
                if (!(o = add_out(w, src.name, err))) return vkd_error_prefix(err, "%s: ", path);
                o->dtype = odt;
                o->ndim = ti->ndim;
                for (int d = 0; d < ti->ndim; d++) o->shape[d] = ti->shape[d];
                o->shape[0] = total_rows;
                o->owned = calloc((size_t)total_rows * row, esize);
                if (!o->owned) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
                o->data = o->owned;
            }
            if (o->shape[0] != total_rows || src.row_begin + src.row_count > total_rows)
                return vkd_error_set(err, VKD_ERR_INVALID, "%s: tensor '%s' does not fit rows %lld.. of '%s'", path,
                                     ti->name, (long long)src.row_begin, src.name);
            vkd_status st = convert(f, ti, w->half, (char*)o->owned + (size_t)src.row_begin * row * esize, err);
            if (st) return st;
            o->rows_filled += src.row_count;
            continue;
        }
        out_tensor* o = add_out(w, src.name, err);
        if (!o) return vkd_error_prefix(err, "%s: tensor '%s': ", path, ti->name);
        o->dtype = odt;
        o->ndim = ti->ndim;
        for (int d = 0; d < ti->ndim; d++) o->shape[d] = ti->shape[d];
        // Original VAEs store the mid-block attention projections as 1x1 convs.
        if (vae && ti->ndim == 2 && strstr(src.name, ".mid.attn_1.") && strstr(src.name, ".weight")) {
            o->ndim = 4;
            o->shape[2] = o->shape[3] = 1;
        }
        if (ti->dtype == odt) {
            o->data = ti->data;  // the mapping stays open until the write
        } else {
            o->owned = malloc(ti->numel * esize + 1);
            if (!o->owned) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
            vkd_status st = convert(f, ti, w->half, o->owned, err);
            if (st) return st;
            o->data = o->owned;
        }
    }
    return VKD_OK;
}

vkd_status vkd_sd_write_single_file(const char* dir, const char* out_path, const vkd_sd_write_desc* desc,
                                    vkd_error* err) {
    vkd_sd_write_desc d = desc ? *desc : (vkd_sd_write_desc){0};
    vkd_sd_arch arch;
    vkd_status st = vkd_sd_arch_load_dir(&arch, dir, err);
    if (st) return st;
    vkd_sd_prediction pred = arch.sched.prediction;
    if (d.prediction && !vkd_sd_prediction_parse(d.prediction, &pred))
        return vkd_error_set(err, VKD_ERR_INVALID, "unknown prediction type '%s' (epsilon, v or sample)",
                             d.prediction);
    vkd_sd_keymap km = {.arch = &arch, .text_layout = d.text_layout};
    writer w = {.half = d.half};
    struct {
        bool have;
        const char* file;
        key_fn key;
    } comp[3] = {
        {arch.has_unet, "unet/diffusion_pytorch_model.safetensors", vkd_sd_unet_key},
        {arch.has_vae, "vae/diffusion_pytorch_model.safetensors", vkd_sd_vae_key},
        {arch.has_text, "text_encoder/model.safetensors", vkd_sd_text_key},
    };
    vkd_safetensors* files[3] = {0};
    for (int c = 0; c < 3 && !st; c++) {
        if (!comp[c].have) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, comp[c].file);
        if ((st = vkd_safetensors_open(path, &files[c], err))) break;
        st = add_file(&w, files[c], &km, comp[c].key, c == 1, err);
    }
    for (size_t i = 0; i < w.n && !st; i++)
        if (w.t[i].rows_filled && w.t[i].rows_filled != w.t[i].shape[0])
            st = vkd_error_set(err, VKD_ERR_INVALID, "%s/text_encoder/model.safetensors: only %lld of %lld rows of "
                               "'%s' (q, k, v) are present", dir, (long long)w.t[i].rows_filled,
                               (long long)w.t[i].shape[0], w.t[i].name);
    if (!st) {
        vkd_tensor_write* tw = calloc(w.n ? w.n : 1, sizeof(*tw));
        if (!tw) {
            st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
        } else {
            for (size_t i = 0; i < w.n; i++) {
                tw[i] = (vkd_tensor_write){.name = w.t[i].name, .dtype = w.t[i].dtype, .ndim = w.t[i].ndim,
                                           .data = w.t[i].data};
                for (int k = 0; k < w.t[i].ndim; k++) tw[i].shape[k] = w.t[i].shape[k];
            }
            const char* meta[] = {"format", "pt", "prediction_type", vkd_sd_prediction_name(pred),
                                  "vkdream.converted_from", dir, NULL};
            st = vkd_safetensors_write(out_path, tw, w.n, meta, err);
            free(tw);
        }
    }
    for (size_t i = 0; i < w.n; i++) {
        free(w.t[i].name);
        free(w.t[i].owned);
    }
    free(w.t);
    for (int c = 0; c < 3; c++)
        if (files[c]) vkd_safetensors_close(files[c]);
    return st;
}
