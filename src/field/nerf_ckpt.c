// NeRF checkpoints: parameters, Adam moments and the occupancy grid in a safetensors file, the
// vkd_nerf_desc and the step count in its metadata.
#include "field/nerf_internal.h"
#include "vkdream/safetensors.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT "vkdream-nerf"
#define VERSION "1"

static_assert(sizeof(vkd_nerf_normals) == sizeof(uint32_t) && sizeof(vkd_nerf_background_kind) == sizeof(uint32_t) &&
                  sizeof(vkd_nerf_mlp_layout) == sizeof(uint32_t) &&
                  sizeof(vkd_nerf_density_activation) == sizeof(uint32_t) &&
                  sizeof(vkd_nerf_density_bias) == sizeof(uint32_t),
              "enums are stored as 32-bit integers");

// ---------------------------------------------------------------------------
// The desc as metadata: one key per field.

typedef enum meta_kind { M_U32, M_U64, M_F32, M_BOOL } meta_kind;
typedef struct meta_field {
    const char* key;
    meta_kind kind;
    size_t off;
} meta_field;

#define MF(key, kind, member) \
    { key, kind, offsetof(vkd_nerf_desc, member) }
static const meta_field meta_fields[] = {
    MF("field.levels", M_U32, field.grid.levels),
    MF("field.features", M_U32, field.grid.features),
    MF("field.log2_table", M_U32, field.grid.log2_table),
    MF("field.base_resolution", M_U32, field.grid.base_resolution),
    MF("field.per_level_scale", M_F32, field.grid.per_level_scale),
    MF("field.cas_atomics", M_BOOL, field.grid.cas_atomics),
    MF("field.bound", M_F32, field.bound),
    MF("field.hidden", M_U32, field.hidden),
    MF("field.hidden_layers", M_U32, field.hidden_layers),
    MF("field.mlp_bias", M_BOOL, field.mlp_bias),
    MF("field.mlp_layout", M_U32, field.mlp_layout),
    MF("field.density_activation", M_U32, field.density_activation),
    MF("field.density_bias", M_U32, field.density_bias),
    MF("field.blob_density", M_F32, field.blob_density),
    MF("field.blob_radius", M_F32, field.blob_radius),
    MF("field.seed", M_U64, field.seed),
    MF("num_steps", M_U32, num_steps),
    MF("normals", M_U32, normals),
    MF("normal_eps", M_F32, normal_eps),
    MF("grid_resolution", M_U32, grid_resolution),
    MF("grid_update_every", M_U32, grid_update_every),
    MF("grid_warmup_steps", M_U32, grid_warmup_steps),
    MF("grid_decay", M_F32, grid_decay),
    MF("grid_threshold", M_F32, grid_threshold),
    MF("no_grid", M_BOOL, no_grid),
    MF("start_level", M_U32, start_level),
    MF("start_step", M_U32, start_step),
    MF("update_steps", M_U32, update_steps),
    MF("background", M_U32, background),
    MF("bg_color.r", M_F32, bg_color[0]),
    MF("bg_color.g", M_F32, bg_color[1]),
    MF("bg_color.b", M_F32, bg_color[2]),
    MF("bg_hidden", M_U32, bg_hidden),
    MF("bg_hidden_layers", M_U32, bg_hidden_layers),
    MF("bg_seed", M_U64, bg_seed),
    MF("lr.grid", M_F32, lr.grid),
    MF("lr.density_mlp", M_F32, lr.density_mlp),
    MF("lr.feature_mlp", M_F32, lr.feature_mlp),
    MF("lr.background", M_F32, lr.background),
    MF("lr.beta1", M_F32, lr.beta1),
    MF("lr.beta2", M_F32, lr.beta2),
    MF("lr.eps", M_F32, lr.eps),
    MF("chunk", M_U32, chunk),
};
#define META_COUNT (sizeof meta_fields / sizeof meta_fields[0])

static void meta_format(const vkd_nerf_desc* d, const meta_field* f, char* out, size_t size) {
    const char* p = (const char*)d + f->off;
    uint32_t u;
    uint64_t q;
    float x;
    bool b;
    switch (f->kind) {
        case M_U32:
            memcpy(&u, p, 4);
            snprintf(out, size, "%u", u);
            break;
        case M_U64:
            memcpy(&q, p, 8);
            snprintf(out, size, "%llu", (unsigned long long)q);
            break;
        case M_F32:
            memcpy(&x, p, 4);
            snprintf(out, size, "%.9g", (double)x);
            break;
        case M_BOOL:
            memcpy(&b, p, sizeof b);
            snprintf(out, size, "%d", b ? 1 : 0);
            break;
    }
}

static vkd_status meta_parse(const vkd_safetensors* st, const meta_field* f, void* base, vkd_error* err) {
    const char* v = vkd_safetensors_metadata(st, f->key);
    static const char* const expect[] = {"an integer 0..2^32-1", "an integer 0..2^64-1", "a finite number", "0 or 1"};
    char* p = (char*)base + f->off;
    char* end = NULL;
    errno = 0;
    bool ok = v && *v && !(f->kind != M_F32 && v[0] == '-');
    if (ok && f->kind == M_F32) {
        double x = strtod(v, &end);
        ok = !*end && isfinite(x) && fabs(x) <= 3.4e38;
        float y = (float)x;
        if (ok) memcpy(p, &y, 4);
    } else if (ok) {
        unsigned long long x = strtoull(v, &end, 10);
        ok = !*end && !errno && (f->kind == M_U64 || x <= (f->kind == M_BOOL ? 1 : UINT32_MAX));
        uint32_t u = (uint32_t)x;
        uint64_t q = x;
        bool b = x != 0;
        if (ok && f->kind == M_U32) memcpy(p, &u, 4);
        if (ok && f->kind == M_U64) memcpy(p, &q, 8);
        if (ok && f->kind == M_BOOL) memcpy(p, &b, sizeof b);
    }
    if (ok) return VKD_OK;
    return vkd_error_set(err, VKD_ERR_INVALID, "'%s': metadata '%s' is %s%s%s, expected %s", vkd_safetensors_path(st),
                         f->key, v ? "'" : "missing", v ? v : "", v ? "'" : "", expect[f->kind]);
}

// ---------------------------------------------------------------------------
// Tensors: (name, device buffer, offset, count) for the parameters and both moments.

typedef struct tensor_slot {
    char name[48];
    int which;            // 0 params, 1 Adam m, 2 Adam v
    bool bg;              // background (else field) buffers
    uint64_t off, count;  // floats into the flat buffer
} tensor_slot;

static size_t list_slots(vkd_nerf* n, tensor_slot* out) {
    const vkd_nerf_field_layout* l = vkd_nerf_field_layout_of(n->field);
    const char* groups[3] = {"grid", "density_mlp", "feature_mlp"};
    uint64_t off[3] = {l->grid_offset, l->density_mlp_offset, l->feature_mlp_offset};
    uint64_t cnt[3] = {l->grid_count, l->density_mlp_count, l->feature_mlp_count};
    const char* prefix[3] = {"params", "adam_m", "adam_v"};
    size_t k = 0;
    for (int p = 0; p < 3; p++) {
        for (int g = 0; g < 3; g++) {
            if (!cnt[g]) continue;
            tensor_slot* t = &out[k++];
            snprintf(t->name, sizeof t->name, "%s.%s", prefix[p], groups[g]);
            t->which = p;
            t->bg = false;
            t->off = off[g];
            t->count = cnt[g];
        }
        if (n->bg_count) {
            tensor_slot* t = &out[k++];
            snprintf(t->name, sizeof t->name, "%s.background", prefix[p]);
            t->which = p;
            t->bg = true;
            t->off = 0;
            t->count = n->bg_count;
        }
    }
    return k;
}

// Host copies of the three flat field buffers and three background buffers.
typedef struct host_state {
    float* field[3];  // params, m, v: (total,)
    float* bg[3];     // (bg_count,)
    float* grid_density;
    uint32_t* grid_bits;
} host_state;

static void host_free(host_state* h) {
    for (int i = 0; i < 3; i++) free(h->field[i]), free(h->bg[i]);
    free(h->grid_density);
    free(h->grid_bits);
}

static vkd_status host_alloc(vkd_nerf* n, host_state* h, vkd_error* err) {
    memset(h, 0, sizeof *h);
    uint64_t total = vkd_nerf_field_layout_of(n->field)->total;
    bool ok = true;
    for (int i = 0; i < 3; i++) {
        ok = ok && (h->field[i] = malloc(total * sizeof(float)));
        ok = ok && (h->bg[i] = malloc((n->bg_count + 1) * sizeof(float)));
    }
    if (n->grid) {
        uint32_t r = vkd_occgrid_resolution(n->grid), cells = r * r * r;
        ok = ok && (h->grid_density = malloc((size_t)cells * 4)) &&
             (h->grid_bits = malloc(((size_t)cells + 31) / 32 * 4));
    }
    if (!ok) {
        host_free(h);
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    return VKD_OK;
}

static float* slot_host(host_state* h, const tensor_slot* t) {
    return (t->bg ? h->bg[t->which] : h->field[t->which]) + t->off;
}

// The grid's density and bits through a staging buffer (its buffers are only known by address).
static vkd_status grid_transfer(vkd_nerf* n, vkd_stream* s, host_state* h, bool upload, vkd_error* err) {
    uint32_t r = vkd_occgrid_resolution(n->grid);
    size_t cells = (size_t)r * r * r, words = (cells + 31) / 32;
    vkd_buffer tmp;
    vkd_status st = vkd_buffer_alloc(n->gpu, 4 * (cells + words), &tmp, err);
    if (st) return st;
    if (upload) {
        if (!(st = vkd_buffer_upload(n->gpu, &tmp, 0, h->grid_density, 4 * cells, err)) &&
            !(st = vkd_buffer_upload(n->gpu, &tmp, 4 * cells, h->grid_bits, 4 * words, err))) {
            vkd_stream_copy(s, vkd_occgrid_density(n->grid), tmp.addr, (uint32_t)cells);
            vkd_stream_copy(s, vkd_occgrid_bits(n->grid), tmp.addr + 4 * cells, (uint32_t)words);
            st = vkd_stream_submit(s, err);
        }
    } else {
        vkd_stream_copy(s, tmp.addr, vkd_occgrid_density(n->grid), (uint32_t)cells);
        vkd_stream_copy(s, tmp.addr + 4 * cells, vkd_occgrid_bits(n->grid), (uint32_t)words);
        if (!(st = vkd_stream_submit(s, err)) &&
            !(st = vkd_buffer_download(n->gpu, &tmp, 0, h->grid_density, 4 * cells, err)))
            st = vkd_buffer_download(n->gpu, &tmp, 4 * cells, h->grid_bits, 4 * words, err);
    }
    vkd_buffer_free(n->gpu, &tmp);
    return st;
}

vkd_status vkd_nerf_save_checkpoint(vkd_nerf* n, vkd_stream* s, const char* path, vkd_error* err) {
    host_state h;
    vkd_status st = vkd_stream_submit(s, err);
    if (!st) st = host_alloc(n, &h, err);
    if (st) return vkd_error_prefix(err, "nerf_save_checkpoint: ");
    uint64_t total = vkd_nerf_field_layout_of(n->field)->total;
    st = vkd_nerf_field_download_params(n->field, h.field[0], err);
    if (!st) st = vkd_buffer_download(n->gpu, &n->field_m, 0, h.field[1], total * 4, err);
    if (!st) st = vkd_buffer_download(n->gpu, &n->field_v, 0, h.field[2], total * 4, err);
    const vkd_buffer* bb[3] = {&n->bg_params, &n->bg_m, &n->bg_v};
    for (int i = 0; !st && n->bg_count && i < 3; i++)
        st = vkd_buffer_download(n->gpu, bb[i], 0, h.bg[i], n->bg_count * 4, err);
    if (!st && n->grid) st = grid_transfer(n, s, &h, false, err);
    if (!st) {
        tensor_slot slots[12];
        size_t ns = list_slots(n, slots);
        vkd_tensor_write t[14];
        for (size_t i = 0; i < ns; i++)
            t[i] = (vkd_tensor_write){.name = slots[i].name,
                                      .dtype = VKD_DTYPE_F32,
                                      .ndim = 1,
                                      .shape = {(int64_t)slots[i].count},
                                      .data = slot_host(&h, &slots[i])};
        size_t nt = ns;
        if (n->grid) {
            uint32_t r = vkd_occgrid_resolution(n->grid);
            int64_t cells = (int64_t)r * r * r;
            t[nt++] = (vkd_tensor_write){
                .name = "occgrid.density", .dtype = VKD_DTYPE_F32, .ndim = 1, .shape = {cells}, .data = h.grid_density};
            t[nt++] = (vkd_tensor_write){.name = "occgrid.bits",
                                         .dtype = VKD_DTYPE_U32,
                                         .ndim = 1,
                                         .shape = {(cells + 31) / 32},
                                         .data = h.grid_bits};
        }
        char values[META_COUNT][32], step[16];
        const char* meta[2 * META_COUNT + 7];
        size_t k = 0;
        meta[k++] = "format", meta[k++] = FORMAT, meta[k++] = "version", meta[k++] = VERSION;
        snprintf(step, sizeof step, "%u", n->step);
        meta[k++] = "step", meta[k++] = step;
        for (size_t i = 0; i < META_COUNT; i++) {
            meta_format(&n->desc, &meta_fields[i], values[i], sizeof values[i]);
            meta[k++] = meta_fields[i].key, meta[k++] = values[i];
        }
        meta[k] = NULL;
        st = vkd_safetensors_write(path, t, nt, meta, err);
    }
    host_free(&h);
    return st ? vkd_error_prefix(err, "nerf_save_checkpoint: ") : VKD_OK;
}

// ---------------------------------------------------------------------------
// Loading

static vkd_status read_desc(const vkd_safetensors* sf, vkd_nerf_desc* d, uint32_t* step, vkd_error* err) {
    const char* path = vkd_safetensors_path(sf);
    const char* fmt = vkd_safetensors_metadata(sf, "format");
    const char* ver = vkd_safetensors_metadata(sf, "version");
    if (!fmt || strcmp(fmt, FORMAT))
        return vkd_error_set(err, VKD_ERR_INVALID, "'%s': metadata format is '%s', expected '" FORMAT "'", path,
                             fmt ? fmt : "(missing)");
    if (!ver || strcmp(ver, VERSION))
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                             "'%s': checkpoint version '%s', this build reads version " VERSION, path,
                             ver ? ver : "(missing)");
    memset(d, 0, sizeof *d);
    static const meta_field step_field = {"step", M_U32, 0};
    vkd_status st = meta_parse(sf, &step_field, step, err);
    if (st) return st;
    for (size_t i = 0; i < META_COUNT; i++)
        if ((st = meta_parse(sf, &meta_fields[i], d, err))) return st;
    vkd_nerf_desc resolved;
    if (!vkd_nerf_resolve(d, &resolved, err)) return vkd_error_prefix(err, "'%s': the stored desc: ", path);
    return VKD_OK;
}

static vkd_status read_f32(const vkd_safetensors* sf, const char* name, float* dst, uint64_t count, vkd_error* err) {
    int64_t shape[1] = {(int64_t)count};
    vkd_status st = vkd_safetensors_expect(sf, name, 1, shape, NULL, err);
    if (!st) st = vkd_safetensors_read_f32(sf, name, dst, count, err);
    return st;
}

static vkd_status read_bits(const vkd_safetensors* sf, uint32_t* dst, uint64_t words, vkd_error* err) {
    int64_t shape[1] = {(int64_t)words};
    const vkd_tensor_info* t;
    vkd_status st = vkd_safetensors_expect(sf, "occgrid.bits", 1, shape, &t, err);
    if (st) return st;
    if (t->dtype != VKD_DTYPE_U32)
        return vkd_error_set(err, VKD_ERR_INVALID, "'%s': tensor 'occgrid.bits' has dtype %s, expected U32",
                             vkd_safetensors_path(sf), vkd_dtype_name(t->dtype));
    memcpy(dst, t->data, t->nbytes);
    return VKD_OK;
}

static vkd_status load_state(vkd_nerf* n, vkd_stream* s, const vkd_safetensors* sf, vkd_error* err) {
    tensor_slot slots[12];
    size_t ns = list_slots(n, slots);
    size_t expected = ns + (n->grid ? 2 : 0);
    // Every stored tensor must be one this desc expects (a checkpoint of another layout fails here).
    for (size_t i = 0; i < vkd_safetensors_count(sf); i++) {
        const char* name = vkd_safetensors_at(sf, i)->name;
        bool known = n->grid && (!strcmp(name, "occgrid.density") || !strcmp(name, "occgrid.bits"));
        for (size_t k = 0; !known && k < ns; k++) known = !strcmp(name, slots[k].name);
        if (!known)
            return vkd_error_set(err, VKD_ERR_INVALID,
                                 "'%s': unexpected tensor '%s' for the stored desc (%zu expected)",
                                 vkd_safetensors_path(sf), name, expected);
    }
    host_state h;
    vkd_status st = host_alloc(n, &h, err);
    if (st) return st;
    uint64_t total = vkd_nerf_field_layout_of(n->field)->total;
    // Gaps between the groups (alignment padding) are zero.
    for (int i = 0; i < 3; i++) memset(h.field[i], 0, total * sizeof(float));
    for (size_t k = 0; !st && k < ns; k++)
        st = read_f32(sf, slots[k].name, slot_host(&h, &slots[k]), slots[k].count, err);
    if (!st && n->grid) {
        uint32_t r = vkd_occgrid_resolution(n->grid);
        uint64_t cells = (uint64_t)r * r * r;
        st = read_f32(sf, "occgrid.density", h.grid_density, cells, err);
        if (!st) st = read_bits(sf, h.grid_bits, (cells + 31) / 32, err);
    }
    if (!st) st = vkd_nerf_field_upload_params(n->field, h.field[0], err);
    if (!st) st = vkd_buffer_upload(n->gpu, &n->field_m, 0, h.field[1], total * 4, err);
    if (!st) st = vkd_buffer_upload(n->gpu, &n->field_v, 0, h.field[2], total * 4, err);
    const vkd_buffer* bb[3] = {&n->bg_params, &n->bg_m, &n->bg_v};
    for (int i = 0; !st && n->bg_count && i < 3; i++)
        st = vkd_buffer_upload(n->gpu, bb[i], 0, h.bg[i], n->bg_count * 4, err);
    if (!st && n->grid) st = grid_transfer(n, s, &h, true, err);
    host_free(&h);
    return st;
}

vkd_status vkd_nerf_load_checkpoint(vkd_gpu* gpu, const char* path, vkd_nerf** out, vkd_error* err) {
    *out = NULL;
    vkd_safetensors* sf;
    vkd_status st = vkd_safetensors_open(path, &sf, err);
    if (st) return vkd_error_prefix(err, "nerf_load_checkpoint: ");
    vkd_nerf_desc d;
    uint32_t step = 0;
    vkd_nerf* n = NULL;
    vkd_stream* s = NULL;
    st = read_desc(sf, &d, &step, err);
    if (!st) st = vkd_nerf_create_raw(gpu, &d, false, &n, err);
    if (!st) st = vkd_stream_create(gpu, &s, err);
    if (!st) st = load_state(n, s, sf, err);
    vkd_stream_destroy(s);
    vkd_safetensors_close(sf);
    if (st) {
        vkd_nerf_destroy(n);
        return vkd_error_prefix(err, "nerf_load_checkpoint: ");
    }
    n->step = step;
    vkd_nerf_apply_levels(n);
    *out = n;
    return VKD_OK;
}
