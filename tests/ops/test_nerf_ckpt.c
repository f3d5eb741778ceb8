// NeRF checkpoints: a trained model (moments, occupancy grid, progressive levels, step count) saved
// and loaded back renders bit-identically, keeps its moments and desc, and saves the same file
// again; damaged files (missing / reshaped / retyped / extra tensors, bad metadata) are refused
// with messages naming the file and the tensor or key.
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "vkdream/nerf.h"
#include "vkdream/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[512];
static char made[16][64];
static int nmade;

static const char* path_of(const char* name) {
    static char p[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    bool known = false;
    for (int i = 0; i < nmade; i++) known |= !strcmp(made[i], name);
    if (!known && nmade < 16) snprintf(made[nmade++], sizeof made[0], "%s", name);
    return p[k];
}

static bool ok_status(tu_ctx* t, vkd_status st, const vkd_error* err, const char* what) {
    if (st == VKD_OK) return true;
    return tu_check(t, false, "%s: %s", what, err->msg);
}

static double* fetch(tu_ctx* t, vkd_addr addr, size_t n) {
    tu_buf b = tu_alloc(t, n);
    vkd_stream_copy(t->s, b.addr, addr, (uint32_t)n);
    tu_run(t);
    double* h = tu_download_d(t, b);
    tu_free(t, &b);
    return h;
}

#define VIEWS 2
#define IMG 9
#define RAYS (VIEWS * IMG * IMG)

static void make_cams(vkd_camera cams[VIEWS]) {
    for (int v = 0; v < VIEWS; v++)
        cams[v] = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 40.0f + 130.0f * (float)v,
                                                     .elevation_deg = 15.0f,
                                                     .distance = 2.5f,
                                                     .width = IMG,
                                                     .height = IMG});
}

static vkd_nerf_desc ckpt_desc(bool variant) {
    vkd_nerf_desc d = {
        .field = {.grid = {.levels = 5, .log2_table = 10, .base_resolution = 4, .per_level_scale = 1.6f},
                  .hidden = 16,
                  .seed = 21},
        .num_steps = 48,
        .grid_resolution = 16,
        .grid_update_every = 2,
        .bg_hidden = 8,
        .start_level = 3,
        .start_step = 1,
        .update_steps = 2,
        .lr = {.grid = 0.03f},
    };
    if (variant) {
        d.field.mlp_layout = VKD_NERF_MLP_SHARED;
        d.field.bound = 1.5f;
        d.field.density_bias = VKD_NERF_BIAS_BLOB_DREAMFUSION;
        d.background = VKD_NERF_BG_SOLID;
        d.bg_color[0] = 1, d.bg_color[1] = 0.5f;
        d.no_grid = true;
        d.normals = VKD_NERF_NORMALS_ANALYTIC;
        d.start_level = 0;
    }
    return d;
}

// A few training steps so the moments, grid and level state are non-trivial.
static bool train(tu_ctx* t, vkd_nerf* n, int steps) {
    vkd_error err = {0};
    vkd_camera cams[VIEWS];
    make_cams(cams);
    tu_buf rgb = tu_alloc(t, 3 * RAYS);
    double* g = tu_alloc_d(3 * RAYS);
    tu_fill_normal(t, g, 3 * RAYS, 1);
    tu_buf G = tu_upload_d(t, g, 3 * RAYS);
    bool ok = true;
    for (int step = 0; ok && step < steps; step++) {
        vkd_volrend_image out = {.rgb = rgb.addr}, dout = {.rgb = G.addr};
        vkd_nerf_render_desc rd = {.shading = VKD_VOLREND_SHADE_LAMBERTIAN, .stratified = true, .seed = (uint32_t)step};
        vkd_nerf_regularisers reg = {.sparsity = 0.5f, .orientation = 0.5f};
        ok = ok_status(t, vkd_nerf_update_occupancy(n, t->s, (uint32_t)step, &err), &err, "occupancy") &&
             ok_status(t, vkd_nerf_render(n, t->s, &out, cams, VIEWS, &rd, &err), &err, "render") &&
             ok_status(t, vkd_nerf_backward(n, t->s, &dout, &reg, &err), &err, "backward");
        vkd_nerf_step(n, t->s);
        vkd_nerf_zero_grad(n, t->s);
    }
    ok = ok && tu_run(t);
    free(g);
    tu_free(t, &rgb), tu_free(t, &G);
    return ok;
}

static double* render_eval(tu_ctx* t, vkd_nerf* n) {
    vkd_error err = {0};
    vkd_camera cams[VIEWS];
    make_cams(cams);
    tu_buf rgb = tu_alloc(t, 3 * RAYS), op = tu_alloc(t, RAYS), nrm = tu_alloc(t, 3 * RAYS);
    vkd_volrend_image out = {.rgb = rgb.addr, .opacity = op.addr, .normals = nrm.addr};
    vkd_nerf_render_desc rd = {.shading = VKD_VOLREND_SHADE_LAMBERTIAN};
    double* h = NULL;
    if (ok_status(t, vkd_nerf_render(n, t->s, &out, cams, VIEWS, &rd, &err), &err, "render") && tu_run(t)) {
        h = tu_alloc_d(7 * RAYS);
        double *a = tu_download_d(t, rgb), *b = tu_download_d(t, op), *c = tu_download_d(t, nrm);
        memcpy(h, a, 3 * RAYS * sizeof *h), memcpy(h + 3 * RAYS, b, RAYS * sizeof *h);
        memcpy(h + 4 * RAYS, c, 3 * RAYS * sizeof *h);
        free(a), free(b), free(c);
    }
    tu_free(t, &rgb), tu_free(t, &op), tu_free(t, &nrm);
    return h;
}

// Every tensor's bytes and every metadata entry of two files are equal.
static void same_files(tu_ctx* t, const char* a, const char* b) {
    vkd_error err = {0};
    vkd_safetensors *fa = NULL, *fb = NULL;
    if (!ok_status(t, vkd_safetensors_open(a, &fa, &err), &err, "open first") ||
        !ok_status(t, vkd_safetensors_open(b, &fb, &err), &err, "open second")) {
        vkd_safetensors_close(fa);
        return;
    }
    size_t differ = 0, count = vkd_safetensors_count(fa);
    for (size_t i = 0; i < count; i++) {
        const vkd_tensor_info* x = vkd_safetensors_at(fa, i);
        const vkd_tensor_info* y = vkd_safetensors_find(fb, x->name);
        if (!y || y->nbytes != x->nbytes || memcmp(x->data, y->data, x->nbytes)) {
            differ++;
            tu_check(t, false, "tensor '%s' differs after save / load / save", x->name);
        }
    }
    tu_check(t, differ == 0 && count == vkd_safetensors_count(fb) && count >= 6,
             "%zu tensors identical after save / load / save", count);
    size_t mcount = vkd_safetensors_metadata_count(fa), mdiff = 0;
    for (size_t i = 0; i < mcount; i++) {
        const char* key;
        const char* v = vkd_safetensors_metadata_at(fa, i, &key);
        const char* w = vkd_safetensors_metadata(fb, key);
        if (!w || strcmp(v, w)) mdiff++, tu_check(t, false, "metadata '%s': '%s' vs '%s'", key, v, w ? w : "(missing)");
    }
    tu_check(t, mdiff == 0 && mcount == vkd_safetensors_metadata_count(fb) && mcount > 40,
             "%zu metadata entries identical", mcount);
    vkd_safetensors_close(fa);
    vkd_safetensors_close(fb);
}

static void roundtrip(tu_ctx* t, bool variant) {
    tu_case(t, "checkpoint round trip (%s)",
            variant ? "shared MLP, solid bg, no grid, bound 1.5"
                    : "separate MLPs, MLP bg, occupancy grid, progressive levels");
    vkd_error err = {0};
    vkd_nerf *n = NULL, *m = NULL;
    vkd_nerf_desc d = ckpt_desc(variant);
    const char* p1 = path_of(variant ? "b1.safetensors" : "a1.safetensors");
    const char* p2 = path_of(variant ? "b2.safetensors" : "a2.safetensors");
    if (!ok_status(t, vkd_nerf_create(t->gpu, &d, &n, &err), &err, "create") || !train(t, n, 5)) goto done;
    if (!ok_status(t, vkd_nerf_save_checkpoint(n, t->s, p1, &err), &err, "save") ||
        !ok_status(t, vkd_nerf_load_checkpoint(t->gpu, p1, &m, &err), &err, "load"))
        goto done;
    tu_check(t, vkd_nerf_step_count(m) == 5, "step count %u", vkd_nerf_step_count(m));
    uint32_t la = vkd_nerf_field_active_levels(vkd_nerf_field_of(n)),
             lb = vkd_nerf_field_active_levels(vkd_nerf_field_of(m));
    tu_check(t, la == lb && (variant || la == 5), "active levels %u vs %u", la, lb);
    const vkd_nerf_desc *da = vkd_nerf_desc_of(n), *db = vkd_nerf_desc_of(m);
    tu_check(t,
             da->field.bound == db->field.bound && da->field.mlp_layout == db->field.mlp_layout &&
                 da->background == db->background && da->no_grid == db->no_grid && da->lr.grid == db->lr.grid &&
                 da->bg_color[1] == db->bg_color[1] &&
                 da->field.grid.per_level_scale == db->field.grid.per_level_scale && da->field.seed == db->field.seed &&
                 da->normals == db->normals,
             "desc restored (bound %g, layout %d, background %d, lr.grid %g)", db->field.bound,
             (int)db->field.mlp_layout, (int)db->background, db->lr.grid);
    double *ra = render_eval(t, n), *rb = render_eval(t, m);
    if (ra && rb) tu_check_close(t, "render after load (rgb, opacity, normals)", rb, ra, 7 * RAYS, 0, 0);
    free(ra), free(rb);
    vkd_addr ma[4], mb[4];
    vkd_nerf_moments(n, &ma[0], &ma[1], &ma[2], &ma[3]);
    vkd_nerf_moments(m, &mb[0], &mb[1], &mb[2], &mb[3]);
    uint64_t total = vkd_nerf_field_layout_of(vkd_nerf_field_of(n))->total, nb = vkd_nerf_background_count(n);
    for (int k = 0; k < 4; k++) {
        uint64_t cnt = k < 2 ? total : nb;
        if (!cnt) continue;
        double *x = fetch(t, ma[k], cnt), *y = fetch(t, mb[k], cnt);
        double big = 0;
        for (uint64_t i = 0; i < cnt; i++) big = fmax(big, fabs(x[i]));
        tu_check(t, big > 0, "moment %d is non-zero before saving (max %.3g)", k, big);
        tu_check_close(t, k % 2 ? "Adam v" : "Adam m", y, x, cnt, 0, 0);
        free(x), free(y);
    }
    if (ok_status(t, vkd_nerf_save_checkpoint(m, t->s, p2, &err), &err, "save again")) same_files(t, p1, p2);
done:
    vkd_nerf_destroy(n);
    vkd_nerf_destroy(m);
}

// ---------------------------------------------------------------------------
// Damaged files: rewrite a good checkpoint with one change.

typedef struct damage {
    const char* skip;     // drop this tensor
    const char* reshape;  // this tensor loses its last 8 elements
    const char* retype;   // this tensor becomes F32 (from U32) with the same element count
    const char* extra;    // add this tensor
    const char* key;      // set this metadata key ...
    const char* value;    // ... to this value
} damage;

static bool rewrite(tu_ctx* t, const char* src, const char* dst, const damage* dm) {
    vkd_error err = {0};
    vkd_safetensors* sf;
    if (!ok_status(t, vkd_safetensors_open(src, &sf, &err), &err, "open good file")) return false;
    size_t n = vkd_safetensors_count(sf), k = 0;
    vkd_tensor_write* tw = calloc(n + 1, sizeof *tw);
    float* converted = NULL;
    for (size_t i = 0; i < n; i++) {
        const vkd_tensor_info* x = vkd_safetensors_at(sf, i);
        if (dm->skip && !strcmp(x->name, dm->skip)) continue;
        vkd_tensor_write w = {.name = x->name, .dtype = x->dtype, .ndim = x->ndim, .data = x->data};
        memcpy(w.shape, x->shape, sizeof w.shape);
        if (dm->reshape && !strcmp(x->name, dm->reshape)) w.shape[x->ndim - 1] -= 8;
        if (dm->retype && !strcmp(x->name, dm->retype)) {
            converted = malloc(x->numel * sizeof *converted);
            for (uint64_t j = 0; j < x->numel; j++) converted[j] = (float)((const uint32_t*)x->data)[j];
            w.dtype = VKD_DTYPE_F32;
            w.data = converted;
        }
        tw[k++] = w;
    }
    static const float extra[4] = {1, 2, 3, 4};
    if (dm->extra)
        tw[k++] = (vkd_tensor_write){.name = dm->extra, .dtype = VKD_DTYPE_F32, .ndim = 1, .shape = {4}, .data = extra};
    size_t mc = vkd_safetensors_metadata_count(sf);
    const char** meta = calloc(2 * mc + 1, sizeof *meta);
    for (size_t i = 0; i < mc; i++) {
        const char* key;
        const char* v = vkd_safetensors_metadata_at(sf, i, &key);
        meta[2 * i] = key;
        meta[2 * i + 1] = dm->key && !strcmp(key, dm->key) ? dm->value : v;
    }
    bool ok = ok_status(t, vkd_safetensors_write(dst, tw, k, meta, &err), &err, "write damaged file");
    free(tw), free(meta), free(converted);
    vkd_safetensors_close(sf);
    return ok;
}

static void expect_refused(tu_ctx* t, const char* good, const char* what, const damage* dm, const char* needle) {
    const char* bad = path_of("bad.safetensors");
    if (!rewrite(t, good, bad, dm)) return;
    vkd_error err = {0};
    vkd_nerf* n = NULL;
    vkd_status st = vkd_nerf_load_checkpoint(t->gpu, bad, &n, &err);
    tu_check(t, st != VKD_OK && !n && strstr(err.msg, needle) && strstr(err.msg, bad), "%s: [%s] %s", what,
             vkd_status_name(st), err.msg);
    vkd_nerf_destroy(n);
}

static void bad_files(tu_ctx* t) {
    tu_case(t, "damaged checkpoints are refused with the tensor or key named");
    vkd_error err = {0};
    vkd_nerf* n = NULL;
    vkd_nerf_desc d = ckpt_desc(false);
    char good[600];  // path_of's buffers are reused
    snprintf(good, sizeof good, "%s", path_of("good.safetensors"));
    if (!ok_status(t, vkd_nerf_create(t->gpu, &d, &n, &err), &err, "create") ||
        !ok_status(t, vkd_nerf_save_checkpoint(n, t->s, good, &err), &err, "save")) {
        vkd_nerf_destroy(n);
        return;
    }
    vkd_nerf_destroy(n);
    expect_refused(t, good, "missing tensor", &(damage){.skip = "adam_v.density_mlp"}, "'adam_v.density_mlp'");
    expect_refused(t, good, "missing background", &(damage){.skip = "params.background"}, "'params.background'");
    expect_refused(t, good, "wrong shape", &(damage){.reshape = "params.grid"}, "'params.grid' has shape");
    expect_refused(t, good, "wrong grid shape", &(damage){.reshape = "occgrid.density"}, "'occgrid.density'");
    expect_refused(t, good, "bits not U32", &(damage){.retype = "occgrid.bits"}, "'occgrid.bits' has dtype F32");
    expect_refused(t, good, "extra tensor", &(damage){.extra = "params.extra"}, "unexpected tensor 'params.extra'");
    expect_refused(t, good, "bad number", &(damage){.key = "field.levels", .value = "sixteen"}, "'field.levels'");
    expect_refused(t, good, "negative count", &(damage){.key = "num_steps", .value = "-4"}, "'num_steps'");
    expect_refused(t, good, "invalid desc", &(damage){.key = "grid_decay", .value = "3"}, "grid_decay");
    expect_refused(t, good, "other layout", &(damage){.key = "field.mlp_layout", .value = "1"},
                   "feature_mlp' for the stored desc");
    expect_refused(t, good, "other format", &(damage){.key = "format", .value = "vkdream-gaussians"}, "format");
    expect_refused(t, good, "newer version", &(damage){.key = "version", .value = "2"}, "version '2'");
    const char* missing = path_of("does-not-exist.safetensors");
    vkd_status st = vkd_nerf_load_checkpoint(t->gpu, missing, &n, &err);
    tu_check(t, st == VKD_ERR_IO && !n && strstr(err.msg, missing), "missing file: [%s] %s", vkd_status_name(st),
             err.msg);
}

void test_nerf_ckpt(tu_ctx* t) {
    const char* tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/vkd_nerf_ckpt_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        tu_check(t, false, "mkdtemp %s", dir);
        return;
    }
    roundtrip(t, false);
    roundtrip(t, true);
    bad_files(t);
    for (int i = 0; i < nmade; i++) remove(path_of(made[i]));
    rmdir(dir);
}
