// Compute triangle rasterizer (include/vkdream/raster.h) against its float64 reference: random
// overlapping triangles, a closed cube, every shading, partial 16x16 tiles, triangles behind the
// near plane, off screen and degenerate, an empty mesh, and run-to-run determinism of the ids.
#include "harness.h"
#include "vkdream/raster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct mesh_case {
    uint32_t nv, nt;
    double *pos, *nrm, *col, *fcol;
    uint32_t* idx;
} mesh_case;

static void mesh_free(mesh_case* m) {
    free(m->pos);
    free(m->nrm);
    free(m->col);
    free(m->fcol);
    free(m->idx);
}

// Random triangles around the origin (each with its own three vertices), unit normals.
static mesh_case random_mesh(tu_ctx* t, uint32_t nt, double spread, double size) {
    mesh_case m = {.nv = 3 * nt, .nt = nt};
    m.pos = tu_alloc_d(9 * (size_t)nt);
    m.nrm = tu_alloc_d(9 * (size_t)nt);
    m.col = tu_alloc_d(9 * (size_t)nt);
    m.fcol = tu_alloc_d(3 * (size_t)nt);
    m.idx = calloc(3 * (size_t)nt + 1, sizeof *m.idx);
    for (uint32_t i = 0; i < nt; i++) {
        double c[3];
        for (int k = 0; k < 3; k++) c[k] = spread * tu_normal(t);
        for (int v = 0; v < 3; v++) {
            double n[3], l = 0;
            for (int k = 0; k < 3; k++) {
                m.pos[9 * i + 3 * v + k] = c[k] + size * tu_uniform(t, -1, 1);
                n[k] = tu_normal(t);
                l += n[k] * n[k];
                m.col[9 * i + 3 * v + k] = tu_uniform(t, 0, 1);
            }
            for (int k = 0; k < 3; k++) m.nrm[9 * i + 3 * v + k] = n[k] / sqrt(l);
            m.idx[3 * i + v] = 3 * i + v;
        }
        for (int k = 0; k < 3; k++) m.fcol[3 * i + k] = tu_uniform(t, 0, 1);
    }
    tu_round_f32(m.pos, 9 * (size_t)nt);
    tu_round_f32(m.nrm, 9 * (size_t)nt);
    tu_round_f32(m.col, 9 * (size_t)nt);
    tu_round_f32(m.fcol, 3 * (size_t)nt);
    return m;
}

// A closed cube of half-size h (8 shared vertices, 12 triangles, outward winding), one color per face.
static mesh_case cube_mesh(double h) {
    static const uint32_t faces[12][3] = {{0, 2, 1}, {0, 3, 2}, {4, 5, 6}, {4, 6, 7}, {0, 1, 5}, {0, 5, 4},
                                          {2, 3, 7}, {2, 7, 6}, {1, 2, 6}, {1, 6, 5}, {0, 4, 7}, {0, 7, 3}};
    mesh_case m = {.nv = 8, .nt = 12};
    m.pos = tu_alloc_d(24);
    m.fcol = tu_alloc_d(36);
    m.idx = calloc(36, sizeof *m.idx);
    for (int v = 0; v < 8; v++) {
        m.pos[3 * v] = (v & 1) ^ ((v >> 1) & 1) ? h : -h;
        m.pos[3 * v + 1] = v & 2 ? h : -h;
        m.pos[3 * v + 2] = v & 4 ? h : -h;
    }
    for (int f = 0; f < 12; f++) {
        for (int k = 0; k < 3; k++) m.idx[3 * f + k] = faces[f][k];
        m.fcol[3 * f] = 0.2 + 0.15 * (f / 2);
        m.fcol[3 * f + 1] = 0.9 - 0.1 * (f / 2);
        m.fcol[3 * f + 2] = 0.5;
    }
    return m;
}

static tu_buf upload_u32(tu_ctx* t, const uint32_t* x, size_t n) {
    tu_buf b = tu_alloc(t, n);
    vkd_error e = {0};
    if (n) tu_check(t, vkd_buffer_upload(t->gpu, &b.b, 0, x, n * 4, &e) == VKD_OK, "upload indices %s", e.msg);
    return b;
}

typedef struct opts {
    bool normals, colors, face_colors;
    vkd_raster_shade shade;
} opts;

// Renders m on the GPU and with the reference; ids and images must agree except at a few
// pixels whose coverage or wireframe test sits on a float32 rounding edge.
static void check_render(tu_ctx* t, vkd_raster_ctx* ctx, const mesh_case* m, const vkd_camera* cam, opts o,
                         double min_coverage) {
    int W = cam->width, H = cam->height;
    size_t px = (size_t)W * H;
    tu_buf pos = tu_upload_d(t, m->pos, 3 * (size_t)m->nv);
    tu_buf nrm = o.normals ? tu_upload_d(t, m->nrm, 3 * (size_t)m->nv) : tu_zeros(t, 1);
    tu_buf col = o.colors ? tu_upload_d(t, m->col, 3 * (size_t)m->nv) : tu_zeros(t, 1);
    tu_buf fcol = o.face_colors ? tu_upload_d(t, m->fcol, 3 * (size_t)m->nt) : tu_zeros(t, 1);
    tu_buf idx = upload_u32(t, m->idx, 3 * (size_t)m->nt);
    tu_buf rgb = tu_alloc(t, 3 * px), alpha = tu_alloc(t, px), depth = tu_alloc(t, px);
    vkd_raster_mesh gm = {
        .positions = pos.addr, .normals = o.normals ? nrm.addr : 0, .colors = o.colors ? col.addr : 0,
        .face_colors = o.face_colors ? fcol.addr : 0, .indices = idx.addr, .vertex_count = m->nv,
        .triangle_count = m->nt,
    };
    float bg[3] = {0.1f, 0.2f, 0.3f};
    double bgd[3] = {0.1f, 0.2f, 0.3f};
    vkd_raster_outputs out = {.rgb = rgb.addr, .alpha = alpha.addr, .depth = depth.addr};
    vkd_error e = {0};
    vkd_status st = vkd_raster_forward(ctx, t->s, &out, &gm, cam, o.shade, bg, &e);
    tu_check(t, st == VKD_OK, "vkd_raster_forward %s", e.msg);
    tu_run(t);
    uint32_t* ids = malloc(px * 4);
    uint32_t* ids2 = malloc(px * 4);
    const vkd_buffer* ib = vkd_raster_ctx_ids(ctx);
    tu_check(t, ib && vkd_buffer_download(t->gpu, ib, 0, ids, px * 4, &e) == VKD_OK, "download ids %s", e.msg);
    // Determinism: the same frame again gives the same visibility buffer bit for bit.
    st = vkd_raster_forward(ctx, t->s, &out, &gm, cam, o.shade, bg, &e);
    tu_run(t);
    tu_check(t, vkd_buffer_download(t->gpu, ib, 0, ids2, px * 4, &e) == VKD_OK, "download ids again");
    tu_check(t, memcmp(ids, ids2, px * 4) == 0, "ids identical across runs");

    double* r_rgb = tu_alloc_d(3 * px);
    double* r_alpha = tu_alloc_d(px);
    double* r_depth = tu_alloc_d(px);
    uint32_t* r_ids = malloc(px * 4);
    vkd_ref_raster_mesh rm = {
        .positions = m->pos, .normals = o.normals ? m->nrm : NULL, .colors = o.colors ? m->col : NULL,
        .face_colors = o.face_colors ? m->fcol : NULL, .indices = m->idx, .vertex_count = m->nv,
        .triangle_count = m->nt,
    };
    vkd_ref_raster_forward(r_rgb, r_alpha, r_depth, r_ids, &rm, cam, o.shade, bgd);
    double* g_rgb = tu_download_d(t, rgb);
    double* g_alpha = tu_download_d(t, alpha);
    double* g_depth = tu_download_d(t, depth);
    size_t id_diff = 0, val_diff = 0, covered = 0;
    double max_err = 0;
    for (size_t i = 0; i < px; i++) {
        covered += r_ids[i] != 0xFFFFFFFFu;
        if (ids[i] != r_ids[i]) {
            id_diff++;
            continue;
        }
        double err = fabs(g_alpha[i] - r_alpha[i]) + fabs(g_depth[i] - r_depth[i]) / fmax(1.0, fabs(r_depth[i]));
        double cerr = 0;
        for (int k = 0; k < 3; k++) cerr = fmax(cerr, fabs(g_rgb[k * px + i] - r_rgb[k * px + i]));
        if (!isfinite(g_rgb[i]) || err > 1e-4 || cerr > 1e-3) val_diff++;
        else max_err = fmax(max_err, fmax(err, cerr));
    }
    size_t allowed = 2 + px / 200;  // 0.5%: pixel centers on an edge, depth ties across precisions
    tu_check(t, id_diff <= allowed, "visible triangle differs at %zu of %zu pixels (allowed %zu)", id_diff, px, allowed);
    tu_check(t, val_diff <= allowed, "rgb/alpha/depth differ at %zu pixels with the same triangle (max err elsewhere %.2e)",
             val_diff, max_err);
    tu_check(t, (double)covered >= min_coverage * (double)px, "reference covers %zu of %zu pixels (want >= %.0f%%)",
             covered, px, 100 * min_coverage);
    free(ids);
    free(ids2);
    free(r_ids);
    free(r_rgb);
    free(r_alpha);
    free(r_depth);
    free(g_rgb);
    free(g_alpha);
    free(g_depth);
    tu_free(t, &pos);
    tu_free(t, &nrm);
    tu_free(t, &col);
    tu_free(t, &fcol);
    tu_free(t, &idx);
    tu_free(t, &rgb);
    tu_free(t, &alpha);
    tu_free(t, &depth);
}

static vkd_camera orbit(float az, float el, float dist, int w, int h) {
    vkd_orbit_desc od = {.azimuth_deg = az, .elevation_deg = el, .distance = dist, .fov_y_deg = 50, .width = w,
                         .height = h, .near_plane = 0.1f};
    return vkd_camera_orbit(&od);
}

void test_raster(tu_ctx* t) {
    vkd_raster_ctx* ctx = NULL;
    vkd_error e = {0};
    if (!tu_check(t, vkd_raster_ctx_create(t->gpu, &ctx, &e) == VKD_OK, "create %s", e.msg)) return;

    static const struct {
        uint32_t nt;
        int w, h;
        opts o;
    } rnd[] = {
        {1, 7, 5, {.colors = true, .normals = true}},
        {33, 37, 29, {.colors = true, .normals = true}},
        {33, 37, 29, {.face_colors = true, .shade = VKD_RASTER_NORMALS}},
        {60, 64, 48, {.shade = VKD_RASTER_WIREFRAME}},
        {200, 97, 71, {.normals = true, .face_colors = true, .shade = VKD_RASTER_NORMALS}},
    };
    for (size_t c = 0; c < sizeof rnd / sizeof rnd[0]; c++) {
        tu_case(t, "random %u triangles %dx%d shade %d", rnd[c].nt, rnd[c].w, rnd[c].h, (int)rnd[c].o.shade);
        mesh_case m = random_mesh(t, rnd[c].nt, rnd[c].nt == 1 ? 0.0 : 0.35, 0.5);
        vkd_camera cam = orbit((float)tu_uniform(t, -180, 180), (float)tu_uniform(t, -30, 60), 3.0f, rnd[c].w,
                               rnd[c].h);
        check_render(t, ctx, &m, &cam, rnd[c].o, rnd[c].nt == 1 ? 0.0 : 0.05);
        mesh_free(&m);
    }

    static const vkd_raster_shade shades[] = {VKD_RASTER_LIT, VKD_RASTER_NORMALS, VKD_RASTER_WIREFRAME};
    for (int k = 0; k < 3; k++) {
        tu_case(t, "closed cube shade %d", (int)shades[k]);
        mesh_case m = cube_mesh(0.6);
        vkd_camera cam = orbit(30.0f + 40 * k, 25.0f, 3.0f, 80, 60);
        check_render(t, ctx, &m, &cam, (opts){.face_colors = true, .shade = shades[k]}, 0.15);
        // Closed and convex: every pixel the silhouette covers has a triangle (no cracks on
        // shared edges), i.e. the GPU's coverage equals the reference's up to edge pixels.
        mesh_free(&m);
    }

    tu_case(t, "near plane, off screen, degenerate");
    {
        mesh_case m = random_mesh(t, 4, 0.0, 0.3);
        // Triangle 0 straddles the camera (behind the near plane), 1 far off to the side,
        // 2 degenerate (all vertices equal); 3 stays visible.
        vkd_camera cam = orbit(0, 0, 3.0f, 40, 30);
        float cp[3];
        vkd_camera_position(&cam, cp);
        for (int v = 0; v < 3; v++) {
            for (int k = 0; k < 3; k++) m.pos[3 * v + k] = cp[k] + (v - 1) * 0.2 * (k == 0);
            m.pos[9 + 3 * v] += 40.0;
            for (int k = 0; k < 3; k++) m.pos[18 + 3 * v + k] = m.pos[18 + k];
            for (int k = 0; k < 3; k++) m.pos[27 + 3 * v + k] = k == 2 ? 0.1 * v : (v == k + 1 ? 0.8 : -0.4);
        }
        tu_round_f32(m.pos, 36);
        check_render(t, ctx, &m, &cam, (opts){.colors = true}, 0.01);
        mesh_free(&m);
    }

    tu_case(t, "empty mesh");
    {
        mesh_case m = {0};
        m.pos = tu_alloc_d(3);
        m.idx = calloc(3, sizeof *m.idx);
        vkd_camera cam = orbit(0, 0, 3.0f, 19, 17);
        check_render(t, ctx, &m, &cam, (opts){0}, 0.0);
        mesh_free(&m);
    }

    tu_case(t, "bad arguments");
    {
        vkd_raster_mesh gm = {.triangle_count = 3};
        vkd_camera cam = orbit(0, 0, 3.0f, 8, 8);
        vkd_raster_outputs out = {0};
        vkd_status st = vkd_raster_forward(ctx, t->s, &out, &gm, &cam, VKD_RASTER_LIT, NULL, &e);
        tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "positions"), "missing positions refused: %s", e.msg);
        st = vkd_raster_forward(ctx, t->s, &out, &(vkd_raster_mesh){0}, &cam, (vkd_raster_shade)7, NULL, &e);
        tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "shade"), "bad shade refused: %s", e.msg);
        cam.width = 0;
        st = vkd_raster_forward(ctx, t->s, &out, &(vkd_raster_mesh){0}, &cam, VKD_RASTER_LIT, NULL, &e);
        tu_check(t, st == VKD_ERR_INVALID, "zero-size camera refused: %s", e.msg);
    }
    tu_run(t);
    vkd_raster_ctx_destroy(ctx);
}
