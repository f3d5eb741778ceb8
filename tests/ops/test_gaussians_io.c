// Gaussian model I/O through the device: 3DGS .ply save / load (bit-exact, SH degree from the
// file), checkpoints that restore parameters, moments, statistics and the step bit for bit
// (and training continues identically), saves that fail without touching the previous file,
// checkpoint errors, and initialisation from an OBJ mesh.
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "vkdream/gaussians.h"
#include "vkdream/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static char made[32][64];
static int nmade;

static const char* path_of(const char* name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    bool known = false;
    for (int i = 0; i < nmade; i++) known |= !strcmp(made[i], name);
    if (!known && nmade < 32) snprintf(made[nmade++], sizeof made[0], "%s", name);
    return buf[k];
}

static bool ok_status(tu_ctx* t, vkd_status st, const vkd_error* err, const char* what) {
    return tu_check(t, st == VKD_OK, "%s%s%s", what, st ? ": " : "", st ? err->msg : "");
}

static size_t floats(uint32_t count, int deg) { return (size_t)count * vkd_gaussians_row_floats(deg); }

static vkd_gaussians_host host(uint32_t n, int deg) {
    vkd_gaussians_host h;
    vkd_gaussians_host_alloc(&h, n, deg, NULL);
    return h;
}

static void fill_random(tu_ctx* t, vkd_gaussians_host* h, double lo, double hi) {
    for (size_t i = 0; i < floats(h->count, h->sh_degree); i++) h->data[i] = (float)tu_uniform(t, lo, hi);
}

static vkd_gaussians_host get(tu_ctx* t, vkd_gaussians* g, vkd_gaussians_buffer which) {
    vkd_gaussians_host h;
    vkd_error err = {0};
    ok_status(t, vkd_gaussians_download(g, t->s, which, &h, &err), &err, "download");
    return h;
}

static bool same_bits(tu_ctx* t, const char* what, const float* a, const float* b, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += memcmp(&a[i], &b[i], 4) != 0;
    return tu_check(t, bad == 0, "%s: %zu of %zu floats differ", what, bad, n);
}

static bool all_zero(const float* a, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != 0) return false;
    return true;
}

static void set_grads(tu_ctx* t, vkd_gaussians* g, const vkd_gaussians_host* h) {
    tu_buf b = tu_upload_f(t, h->data, floats(h->count, h->sh_degree));
    vkd_addr dst = vkd_gaussians_buffer_addr(g, VKD_GAUSSIANS_GRADS);
    for (int grp = 0; grp < VKD_GAUSSIANS_GROUP_COUNT; grp++)
        vkd_stream_copy(t->s, dst + 4 * vkd_gaussians_group_offset(grp, vkd_gaussians_capacity(g), h->sh_degree),
                        b.addr + 4 * vkd_gaussians_group_offset(grp, h->count, h->sh_degree),
                        h->count * vkd_gaussians_group_width(grp, h->sh_degree));
    tu_run(t);
    tu_free(t, &b);
}

static void set_stats(tu_ctx* t, vkd_gaussians* g, const float* a, const float* b, const float* c, uint32_t n) {
    tu_buf x = tu_upload_f(t, a, n), y = tu_upload_f(t, b, n), z = tu_upload_f(t, c, n);
    vkd_splat_densify_stats st;
    vkd_gaussians_stats(g, &st);
    vkd_stream_copy(t->s, st.grad2d_norm, x.addr, n);
    vkd_stream_copy(t->s, st.vis_count, y.addr, n);
    vkd_stream_copy(t->s, st.max_radius, z.addr, n);
    tu_run(t);
    tu_free(t, &x);
    tu_free(t, &y);
    tu_free(t, &z);
}

// ---------------------------------------------------------------------------

static void ply_device(tu_ctx* t, int deg, uint32_t n) {
    tu_case(t, "ply save/load deg=%d n=%u", deg, n);
    vkd_error err = {0};
    vkd_gaussians* g = NULL;
    if (!ok_status(t, vkd_gaussians_create(t->gpu, &(vkd_gaussians_desc){.sh_degree = deg, .capacity = 64}, &g, &err),
                   &err, "create"))
        return;
    vkd_gaussians_host p = host(n, deg), m = host(n, deg);
    fill_random(t, &p, -3, 3);
    fill_random(t, &m, -1, 1);
    ok_status(t, vkd_gaussians_upload(g, t->s, &p, &m, &m, &err), &err, "upload");
    const char* path = path_of("model.ply");
    ok_status(t, vkd_gaussians_save_ply(g, t->s, path, &err), &err, "save_ply");
    vkd_gaussians* r = NULL;
    if (ok_status(t, vkd_gaussians_load_ply(t->gpu, t->s, path, NULL, &r, &err), &err, "load_ply")) {
        tu_check(t, vkd_gaussians_count(r) == n && vkd_gaussians_sh_degree(r) == deg && vkd_gaussians_step_count(r) == 0,
                 "count %u, degree %d inferred from the file", vkd_gaussians_count(r), vkd_gaussians_sh_degree(r));
        vkd_gaussians_host hp = get(t, r, VKD_GAUSSIANS_PARAMS), hm = get(t, r, VKD_GAUSSIANS_ADAM_M);
        if (hp.count == n) same_bits(t, "params after save/load", hp.data, p.data, floats(n, deg));
        tu_check(t, all_zero(hm.data, floats(hm.count, deg)), "fresh moments");
        vkd_gaussians_host_free(&hp), vkd_gaussians_host_free(&hm);
        vkd_gaussians_destroy(r);
    }
    // Into a higher degree: the file's coefficients, the extra bands zero.
    if (deg < 3 &&
        ok_status(t, vkd_gaussians_load_ply(t->gpu, t->s, path, &(vkd_gaussians_desc){.sh_degree = 3}, &r, &err), &err,
                  "load_ply into degree 3")) {
        vkd_gaussians_host hp = get(t, r, VKD_GAUSSIANS_PARAMS);
        uint32_t Kf = (uint32_t)((deg + 1) * (deg + 1));
        bool ok = vkd_gaussians_sh_degree(r) == 3 && hp.count == n &&
                  !memcmp(hp.data, p.data, (size_t)n * 11 * sizeof(float));
        for (uint32_t i = 0; ok && i < n; i++)
            for (uint32_t k = 0; k < 16 * 3; k++)
                ok &= hp.sh[i * 48 + k] == (k < 3 * Kf ? p.sh[i * 3 * Kf + k] : 0.0f);
        tu_check(t, ok, "degree %d file padded to degree 3", deg);
        vkd_gaussians_host_free(&hp);
        vkd_gaussians_destroy(r);
    }
    vkd_gaussians_host_free(&p), vkd_gaussians_host_free(&m);
    vkd_gaussians_destroy(g);
}

// Builds a container with every kind of state: parameters, moments and statistics, two Adam
// steps, a densification, an active SH degree below the maximum.
static vkd_gaussians* busy(tu_ctx* t, int deg, uint32_t n) {
    vkd_error err = {0};
    vkd_gaussians* g = NULL;
    vkd_gaussians_desc d = {.sh_degree = deg, .capacity = 64, .scene_extent = 1.75f, .seed = 1234};
    if (!ok_status(t, vkd_gaussians_create(t->gpu, &d, &g, &err), &err, "create")) return NULL;
    vkd_gaussians_host p = host(n, deg), gr = host(n, deg);
    fill_random(t, &p, -2, 2);
    // Scales between clone and split sizes, none big enough to be pruned.
    for (size_t i = 0; i < 3 * (size_t)n; i++) p.log_scales[i] = (float)tu_uniform(t, log(0.005), log(0.05));
    ok_status(t, vkd_gaussians_upload(g, t->s, &p, NULL, NULL, &err), &err, "upload");
    float* a = malloc(n * sizeof(float));
    float* b = malloc(n * sizeof(float));
    float* r = malloc(n * sizeof(float));
    for (int step = 0; step < 2; step++) {
        fill_random(t, &gr, -1, 1);
        set_grads(t, g, &gr);
        vkd_gaussians_step(g, t->s);
    }
    for (uint32_t i = 0; i < n; i++) a[i] = (float)tu_uniform(t, 0, 1e-3), b[i] = (float)(1 + i % 3), r[i] = 5;
    set_stats(t, g, a, b, r, n);
    ok_status(t, vkd_gaussians_densify(g, t->s, NULL, &err), &err, "densify");
    uint32_t c = vkd_gaussians_count(g);
    tu_check(t, c > n, "densify grew %u -> %u", n, c);
    float* a2 = malloc((c + 1) * sizeof(float));
    float* b2 = malloc((c + 1) * sizeof(float));
    float* r2 = malloc((c + 1) * sizeof(float));
    for (uint32_t i = 0; i < c; i++)
        a2[i] = (float)tu_uniform(t, 0, 1), b2[i] = (float)(i % 7), r2[i] = (float)floor(tu_uniform(t, 0, 40));
    set_stats(t, g, a2, b2, r2, c);
    vkd_gaussians_set_active_sh_degree(g, deg > 0 ? deg - 1 : 0);
    free(a), free(b), free(r), free(a2), free(b2), free(r2);
    vkd_gaussians_host_free(&p), vkd_gaussians_host_free(&gr);
    return g;
}

static void compare_state(tu_ctx* t, vkd_gaussians* a, vkd_gaussians* b, const char* what) {
    uint32_t n = vkd_gaussians_count(a);
    int deg = vkd_gaussians_sh_degree(a);
    tu_check(t, vkd_gaussians_count(b) == n && vkd_gaussians_sh_degree(b) == deg &&
                    vkd_gaussians_step_count(b) == vkd_gaussians_step_count(a) &&
                    vkd_gaussians_active_sh_degree(b) == vkd_gaussians_active_sh_degree(a) &&
                    vkd_gaussians_scene_extent(b) == vkd_gaussians_scene_extent(a) &&
                    vkd_gaussians_densify_seed(b) == vkd_gaussians_densify_seed(a),
             "%s: count %u/%u, step %u/%u, active degree, extent, densify seed", what, vkd_gaussians_count(b), n,
             vkd_gaussians_step_count(b), vkd_gaussians_step_count(a));
    if (vkd_gaussians_count(b) != n) return;
    const char* names[4] = {"params", NULL, "adam m", "adam v"};
    for (int k = 0; k < 4; k++) {
        if (!names[k]) continue;
        vkd_gaussians_host ha = get(t, a, (vkd_gaussians_buffer)k), hb = get(t, b, (vkd_gaussians_buffer)k);
        char w[128];
        snprintf(w, sizeof w, "%s: %s", what, names[k]);
        same_bits(t, w, hb.data, ha.data, floats(n, deg));
        vkd_gaussians_host_free(&ha), vkd_gaussians_host_free(&hb);
    }
    float* s[6];
    for (int k = 0; k < 6; k++) s[k] = malloc((n + 1) * sizeof(float));
    vkd_error err = {0};
    ok_status(t, vkd_gaussians_download_stats(a, t->s, s[0], s[1], s[2], &err), &err, "stats a");
    ok_status(t, vkd_gaussians_download_stats(b, t->s, s[3], s[4], s[5], &err), &err, "stats b");
    same_bits(t, "statistics grad2d", s[3], s[0], n);
    same_bits(t, "statistics vis", s[4], s[1], n);
    same_bits(t, "statistics max radius", s[5], s[2], n);
    for (int k = 0; k < 6; k++) free(s[k]);
}

static void checkpoint(tu_ctx* t, int deg, uint32_t n) {
    tu_case(t, "checkpoint deg=%d n=%u", deg, n);
    vkd_gaussians* g = busy(t, deg, n);
    if (!g) return;
    vkd_error err = {0};
    const char* path = path_of("ckpt.safetensors");
    ok_status(t, vkd_gaussians_save_checkpoint(g, t->s, path, &err), &err, "save checkpoint");
    vkd_gaussians* r = NULL;
    if (ok_status(t, vkd_gaussians_load_checkpoint(t->gpu, t->s, path, NULL, &r, &err), &err, "load checkpoint")) {
        compare_state(t, g, r, "restored");
        // Training continues identically from both.
        uint32_t c = vkd_gaussians_count(g);
        vkd_gaussians_host gr = host(c, deg);
        fill_random(t, &gr, -1, 1);
        set_grads(t, g, &gr);
        set_grads(t, r, &gr);
        vkd_gaussians_step(g, t->s);
        vkd_gaussians_step(r, t->s);
        tu_run(t);
        compare_state(t, g, r, "one step later");
        vkd_gaussians_host_free(&gr);
        vkd_gaussians_destroy(r);
    }
    vkd_gaussians_destroy(g);
}

// A save that fails (here: the temporary file cannot be created) leaves the previous file.
static void failed_saves(tu_ctx* t) {
    tu_case(t, "failed saves keep the previous file");
    vkd_gaussians* g = busy(t, 1, 50);
    if (!g) return;
    vkd_error err = {0};
    const char* ck = path_of("keep.safetensors");
    const char* ply = path_of("keep.ply");
    ok_status(t, vkd_gaussians_save_checkpoint(g, t->s, ck, &err), &err, "first checkpoint");
    ok_status(t, vkd_gaussians_save_ply(g, t->s, ply, &err), &err, "first ply");
    uint32_t step0 = vkd_gaussians_step_count(g), n0 = vkd_gaussians_count(g);
    vkd_gaussians_step(g, t->s);  // the state moves on
    tu_run(t);
    char tmp1[600], tmp2[600];
    snprintf(tmp1, sizeof tmp1, "%s.tmp", ck);
    snprintf(tmp2, sizeof tmp2, "%s.tmp", ply);
    mkdir(tmp1, 0700);
    mkdir(tmp2, 0700);
    vkd_status st = vkd_gaussians_save_checkpoint(g, t->s, ck, &err);
    tu_check(t, st != VKD_OK && strstr(err.msg, ck), "checkpoint save fails, naming the file: %s", err.msg);
    st = vkd_gaussians_save_ply(g, t->s, ply, &err);
    tu_check(t, st != VKD_OK && strstr(err.msg, ply), "ply save fails, naming the file: %s", err.msg);
    rmdir(tmp1);
    rmdir(tmp2);
    vkd_gaussians* r = NULL;
    if (ok_status(t, vkd_gaussians_load_checkpoint(t->gpu, t->s, ck, NULL, &r, &err), &err, "previous checkpoint")) {
        tu_check(t, vkd_gaussians_step_count(r) == step0 && vkd_gaussians_count(r) == n0,
                 "previous checkpoint intact (step %u)", vkd_gaussians_step_count(r));
        vkd_gaussians_destroy(r);
    }
    if (ok_status(t, vkd_gaussians_load_ply(t->gpu, t->s, ply, NULL, &r, &err), &err, "previous ply")) {
        tu_check(t, vkd_gaussians_count(r) == n0, "previous ply intact");
        vkd_gaussians_destroy(r);
    }
    vkd_gaussians_destroy(g);
}

static void checkpoint_errors(tu_ctx* t) {
    tu_case(t, "checkpoint errors");
    vkd_error err = {0};
    vkd_gaussians* r = NULL;
    const char* missing = path_of("missing.safetensors");
    vkd_status st = vkd_gaussians_load_checkpoint(t->gpu, t->s, missing, NULL, &r, &err);
    tu_check(t, st != VKD_OK && !r && strstr(err.msg, missing), "missing file: %s", err.msg);
    // A safetensors file that is not a Gaussian checkpoint.
    const char* other = path_of("other.safetensors");
    float x[4] = {1, 2, 3, 4};
    vkd_tensor_write w = {.name = "weight", .dtype = VKD_DTYPE_F32, .ndim = 1, .shape = {4}, .data = x};
    const char* meta[] = {"format", "pt", NULL};
    vkd_safetensors_write(other, &w, 1, meta, &err);
    st = vkd_gaussians_load_checkpoint(t->gpu, t->s, other, NULL, &r, &err);
    tu_check(t, st == VKD_ERR_INVALID && strstr(err.msg, other) && strstr(err.msg, "vkdream-gaussians"),
             "foreign safetensors: %s", err.msg);
    // A checkpoint with one tensor missing, and one with a wrong shape: rewrite a real one.
    vkd_gaussians* g = busy(t, 2, 20);
    if (!g) return;
    const char* full = path_of("full.safetensors");
    ok_status(t, vkd_gaussians_save_checkpoint(g, t->s, full, &err), &err, "save");
    vkd_safetensors* sf = NULL;
    if (ok_status(t, vkd_safetensors_open(full, &sf, &err), &err, "open")) {
        size_t nt = vkd_safetensors_count(sf);
        vkd_tensor_write* ts = calloc(nt, sizeof *ts);
        const char* kv[64];
        size_t nkv = 0;
        for (size_t i = 0; i < vkd_safetensors_metadata_count(sf) && nkv < 62; i++) {
            const char* key;
            const char* val = vkd_safetensors_metadata_at(sf, i, &key);
            kv[nkv++] = key, kv[nkv++] = val;
        }
        kv[nkv] = NULL;
        size_t keep = 0;
        int64_t bad_shape[3] = {0};
        for (size_t i = 0; i < nt; i++) {
            const vkd_tensor_info* ti = vkd_safetensors_at(sf, i);
            if (!strcmp(ti->name, "adam_v.sh")) continue;
            ts[keep] = (vkd_tensor_write){.name = ti->name, .dtype = ti->dtype, .ndim = ti->ndim, .data = ti->data};
            memcpy(ts[keep].shape, ti->shape, sizeof ti->shape);
            keep++;
        }
        const char* cut = path_of("cut.safetensors");
        ok_status(t, vkd_safetensors_write(cut, ts, keep, kv, &err), &err, "write cut");
        st = vkd_gaussians_load_checkpoint(t->gpu, t->s, cut, NULL, &r, &err);
        tu_check(t, st != VKD_OK && !r && strstr(err.msg, cut) && strstr(err.msg, "adam_v.sh"),
                 "missing tensor named: %s", err.msg);
        // quats stored as (N, 3) + extra: reshape the tensor to a wrong but same-size shape.
        for (size_t i = 0; i < keep; i++)
            if (!strcmp(ts[i].name, "params.quats")) {
                bad_shape[0] = ts[i].shape[0] * 2, bad_shape[1] = 2;
                ts[i].shape[0] = bad_shape[0], ts[i].shape[1] = bad_shape[1];
            }
        const char* shaped = path_of("shape.safetensors");
        ok_status(t, vkd_safetensors_write(shaped, ts, keep, kv, &err), &err, "write shape");
        st = vkd_gaussians_load_checkpoint(t->gpu, t->s, shaped, NULL, &r, &err);
        tu_check(t, st != VKD_OK && !r && strstr(err.msg, "params.quats"), "wrong shape named: %s", err.msg);
        // A checkpoint from before stats.max_radius existed loads with that statistic zero.
        keep = 0;
        for (size_t i = 0; i < nt; i++) {
            const vkd_tensor_info* ti = vkd_safetensors_at(sf, i);
            if (!strcmp(ti->name, "stats.max_radius")) continue;
            ts[keep] = (vkd_tensor_write){.name = ti->name, .dtype = ti->dtype, .ndim = ti->ndim, .data = ti->data};
            memcpy(ts[keep].shape, ti->shape, sizeof ti->shape);
            keep++;
        }
        tu_check(t, keep == nt - 1, "the checkpoint has stats.max_radius");
        const char* old = path_of("old.safetensors");
        ok_status(t, vkd_safetensors_write(old, ts, keep, kv, &err), &err, "write old");
        if (ok_status(t, vkd_gaussians_load_checkpoint(t->gpu, t->s, old, NULL, &r, &err), &err, "load old")) {
            uint32_t n = vkd_gaussians_count(g);
            float* a = calloc(6 * (size_t)n + 1, sizeof(float));
            ok_status(t, vkd_gaussians_download_stats(g, t->s, a, a + n, NULL, &err), &err, "stats");
            ok_status(t, vkd_gaussians_download_stats(r, t->s, a + 2 * n, a + 3 * n, a + 4 * n, &err), &err, "stats");
            same_bits(t, "old checkpoint: grad2d", a + 2 * n, a, n);
            same_bits(t, "old checkpoint: vis", a + 3 * n, a + n, n);
            same_bits(t, "old checkpoint: max radius zero", a + 4 * n, a + 5 * n, n);
            free(a);
            vkd_gaussians_destroy(r);
        }
        free(ts);
        vkd_safetensors_close(sf);
    }
    vkd_gaussians_destroy(g);
}

// ---------------------------------------------------------------------------
// OBJ initialisation

static void write_cube(const char* path, bool colors) {
    FILE* f = fopen(path, "w");
    for (int i = 0; i < 8; i++) {
        int x = i & 1 ? 1 : -1, y = i & 2 ? 1 : -1, z = i & 4 ? 1 : -1;
        if (colors) fprintf(f, "v %d %d %d %g %g %g\n", x, y, z, (x + 1) / 2.0, (y + 1) / 2.0, (z + 1) / 2.0);
        else fprintf(f, "v %d %d %d\n", x, y, z);
    }
    const int q[6][4] = {{1, 3, 4, 2}, {5, 6, 8, 7}, {1, 2, 6, 5}, {3, 7, 8, 4}, {1, 5, 7, 3}, {2, 4, 8, 6}};
    for (int k = 0; k < 6; k++) fprintf(f, "f %d %d %d %d\n", q[k][0], q[k][1], q[k][2], q[k][3]);
    fclose(f);
}

static void obj_init(tu_ctx* t, int deg, bool colors, float fit) {
    const uint32_t n = 3000;
    tu_case(t, "obj init deg=%d colors=%d fit=%g", deg, colors, (double)fit);
    const char* path = path_of(colors ? "cube_c.obj" : "cube.obj");
    write_cube(path, colors);
    vkd_error err = {0};
    vkd_gaussians* g = NULL;
    if (!ok_status(t, vkd_gaussians_create(t->gpu, &(vkd_gaussians_desc){.sh_degree = deg, .capacity = 64}, &g, &err),
                   &err, "create"))
        return;
    vkd_gaussians_mesh_desc d = {.count = n, .flatten = 0.1f, .fit_radius = fit, .seed = 11,
                                 .color = VKD_GAUSSIANS_COLOR_FIXED, .rgb = {0.2f, 0.4f, 0.6f}};
    if (!ok_status(t, vkd_gaussians_init_obj(g, t->s, path, &d, &err), &err, "init_obj")) {
        vkd_gaussians_destroy(g);
        return;
    }
    vkd_gaussians_host h = get(t, g, VKD_GAUSSIANS_PARAMS);
    tu_check(t, h.count == n, "count %u", h.count);
    double f = fit > 0 ? fit / sqrt(3.0) : 1.0;  // half the cube's diagonal is sqrt(3)
    double ls = log(sqrt(2 * 24 * f * f / (3.141592653589793 * n)));
    uint32_t K = (uint32_t)((deg + 1) * (deg + 1));
    bool surface = true, color = true, rot = true, scales = true, opac = true;
    for (uint32_t i = 0; i < h.count; i++) {
        double x[3];
        int at = -1;
        for (int k = 0; k < 3; k++) {
            x[k] = h.means[3 * i + k] / f;
            if (fabs(fabs(x[k]) - 1) < 1e-5) at = k;
        }
        surface &= at >= 0 && fabs(x[0]) <= 1 + 1e-5 && fabs(x[1]) <= 1 + 1e-5 && fabs(x[2]) <= 1 + 1e-5;
        if (at < 0) continue;
        const float* sh = h.sh + (size_t)i * 3 * K;
        for (int k = 0; k < 3; k++) {
            double c = sh[k] * VKD_SH_C0 + 0.5;
            double want = colors ? (x[k] + 1) / 2 : (double)d.rgb[k];
            color &= fabs(c - want) < 2e-5;
        }
        // The flat axis (local z) is the face normal: R's third column = +-e_at.
        const float* q = h.quats + 4 * i;
        double r = q[0], a = q[1], b = q[2], c = q[3];
        double col[3] = {2 * (a * c + r * b), 2 * (b * c - r * a), 1 - 2 * (a * a + b * b)};
        for (int k = 0; k < 3; k++) rot &= fabs(col[k] - (k == at ? (x[at] > 0 ? 1 : -1) : 0)) < 1e-5;
        scales &= fabs(h.log_scales[3 * i] - ls) < 1e-5 && fabs(h.log_scales[3 * i + 1] - ls) < 1e-5 &&
                  fabs(h.log_scales[3 * i + 2] - (ls + log(0.1))) < 1e-5;
        opac &= fabsf(h.opacity_logits[i] - (float)log(0.1 / 0.9)) < 1e-6f;
    }
    tu_check(t, surface, "means on the (scaled) cube surface");
    tu_check(t, color, colors ? "SH DC from the vertex colors" : "SH DC from the fallback rgb");
    tu_check(t, rot, "flat axis along the outward face normal");
    tu_check(t, scales, "scales sqrt(2 area / (pi n)), flat axis x 0.1");
    tu_check(t, opac, "opacity 0.1");
    vkd_gaussians_host_free(&h);
    vkd_gaussians_destroy(g);
}

static void obj_errors(tu_ctx* t) {
    tu_case(t, "obj init errors");
    vkd_error err = {0};
    vkd_gaussians* g = NULL;
    if (!ok_status(t, vkd_gaussians_create(t->gpu, NULL, &g, &err), &err, "create")) return;
    const char* missing = path_of("nothing.obj");
    vkd_status st = vkd_gaussians_init_obj(g, t->s, missing, NULL, &err);
    tu_check(t, st == VKD_ERR_IO && strstr(err.msg, missing), "missing OBJ named: %s", err.msg);
    const char* corrupt = path_of("corrupt.obj");
    FILE* f = fopen(corrupt, "w");
    fputs("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\nf 4 5 6\n", f);
    fclose(f);
    st = vkd_gaussians_init_obj(g, t->s, corrupt, NULL, &err);
    tu_check(t, st == VKD_ERR_INVALID && strstr(err.msg, corrupt), "bad face index named: %s", err.msg);
    tu_check(t, vkd_gaussians_count(g) == 0, "a failed init leaves the container as it was");
    vkd_gaussians_destroy(g);
}

void test_gaussians_io(tu_ctx* t) {
    const char* tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/vkd_gaussians_ops_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        tu_check(t, false, "mkdtemp %s", dir);
        return;
    }
    for (int deg = 0; deg <= 3; deg++) ply_device(t, deg, deg == 2 ? 1 : 77);
    checkpoint(t, 0, 60);
    checkpoint(t, 3, 200);
    failed_saves(t);
    checkpoint_errors(t);
    obj_init(t, 0, true, 0);
    obj_init(t, 2, false, 1.5f);
    obj_errors(t);
    for (int i = 0; i < nmade; i++) remove(path_of(made[i]));
    rmdir(dir);
}
