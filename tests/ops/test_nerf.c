// The assembled NeRF (vkd_nerf) against a float64 pipeline built from the stage references
// (rays, march, field, normals, shading, background MLP, compositing and their backwards): images,
// sample counts, parameter gradients and regulariser losses for each shading / normals /
// background / chunking / occupancy configuration; the per-group Adam step against the Adam
// reference; progressive levels; the occupancy update and the density grid against the
// references; and argument errors. The stages' own references and finite-difference checks live
// in test_hashgrid.c, test_mlp.c, test_volrend.c and test_occgrid.c.
#include "harness.h"
#include "vkdream/nerf.h"
#include "vkdream/nn/adam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// n floats at a device address (through a copy into a checked buffer).
static double* fetch(tu_ctx* t, vkd_addr addr, size_t n) {
    tu_buf b = tu_alloc(t, n);
    vkd_stream_copy(t->s, b.addr, addr, (uint32_t)n);
    tu_run(t);
    double* h = tu_download_d(t, b);
    tu_free(t, &b);
    return h;
}

static uint32_t* fetch_u32(tu_ctx* t, vkd_addr addr, size_t n) {
    tu_buf b = tu_alloc(t, n);
    vkd_stream_copy(t->s, b.addr, addr, (uint32_t)n);
    tu_run(t);
    uint32_t* h = malloc(4 * n + 4);
    vkd_error err = {0};
    vkd_buffer_download(t->gpu, &b.b, 0, h, 4 * n, &err);
    tu_free(t, &b);
    return h;
}

static bool ok_status(tu_ctx* t, vkd_status st, const vkd_error* err, const char* what) {
    if (st == VKD_OK) return true;
    return tu_check(t, false, "%s: %s", what, err->msg);
}

// ---------------------------------------------------------------------------
// Spherical-harmonics encoding

static void sh_case(tu_ctx* t, uint32_t n) {
    tu_case(t, "background SH encoding n=%u", n);
    double* d = tu_alloc_d(3 * n);
    for (uint32_t i = 0; i < n; i++) {
        double len = 0;
        for (int k = 0; k < 3; k++) d[3 * i + k] = tu_normal(t), len += d[3 * i + k] * d[3 * i + k];
        for (int k = 0; k < 3; k++) d[3 * i + k] /= sqrt(len);
    }
    tu_round_f32(d, 3 * n);
    double* ref = tu_alloc_d(9 * (size_t)n);
    vkd_ref_nerf_sh_encode(ref, d, n);
    tu_buf gd = tu_upload_d(t, d, 3 * n), out = tu_alloc(t, 9 * (size_t)n);
    vkd_nerf_sh_encode(t->s, out.addr, gd.addr, n);
    if (tu_run(t)) tu_expect_buf(t, "sh", out, ref, 1e-6, 1e-7);
    // Spot values of the formula (independent of the reference): the +z direction.
    double z[3] = {0, 0, 1}, e[9];
    vkd_ref_nerf_sh_encode(e, z, 1);
    tu_check(t, fabs(e[2] - 0.48860251190291987) < 1e-15 && fabs(e[6] - 0.63078313050504) < 1e-12 && e[1] == 0,
             "SH(+z): Y_1^0 = %.8f, Y_2^0 = %.8f", e[2], e[6]);
    free(d), free(ref);
    tu_free(t, &gd), tu_free(t, &out);
}

// ---------------------------------------------------------------------------
// Render + backward against the composed float64 references

typedef struct render_cfg {
    const char* name;
    vkd_volrend_shading shading;
    vkd_nerf_normals normals;
    vkd_nerf_background_kind bg;
    vkd_nerf_mlp_layout layout;
    uint32_t chunk;  // 0 = default (one chunk)
    bool grid;       // update the occupancy grid before rendering (empty cells skipped)
    bool normals_img;
    bool stratified;
    bool lights;       // explicit lights (else the cameras' centers)
    bool override_bg;  // a solid color for this render
    vkd_nerf_regularisers reg;
} render_cfg;

#define VIEWS 2
#define IMG_W 7
#define IMG_H 5

static vkd_nerf_desc small_desc(const render_cfg* c) {
    return (vkd_nerf_desc){
        .field = {.grid = {.levels = 4, .log2_table = 10, .base_resolution = 4, .per_level_scale = 1.8f},
                  .hidden = 16,
                  .mlp_layout = c->layout,
                  .seed = 7},
        .num_steps = 32,
        .normals = c->normals,
        .background = c->bg,
        .bg_color = {0.2f, 0.5f, 0.9f},
        .grid_resolution = 16,
        .no_grid = !c->grid,
        .chunk = c->chunk,
        .bg_hidden = 8,
    };
}

static void make_cams(vkd_camera cams[VIEWS]) {
    cams[0] = vkd_camera_orbit(
        &(vkd_orbit_desc){.azimuth_deg = 30, .elevation_deg = 20, .distance = 2.5f, .width = IMG_W, .height = IMG_H});
    cams[1] = vkd_camera_orbit(&(vkd_orbit_desc){
        .azimuth_deg = -100, .elevation_deg = -15, .distance = 2.2f, .width = IMG_W, .height = IMG_H});
}

// Random hash-table entries so the field is far from its near-zero initial features.
static void randomize_field(tu_ctx* t, vkd_nerf* n) {
    vkd_nerf_field* f = vkd_nerf_field_of(n);
    const vkd_nerf_field_layout* l = vkd_nerf_field_layout_of(f);
    float* p = malloc(l->total * sizeof *p);
    vkd_error err = {0};
    vkd_nerf_field_download_params(f, p, &err);
    for (uint64_t i = 0; i < l->grid_count; i++) p[l->grid_offset + i] = (float)tu_uniform(t, -1, 1);
    vkd_nerf_field_upload_params(f, p, &err);
    free(p);
}

// The float64 pipeline's state for one render.
typedef struct ref_pipe {
    uint32_t rays, rpv, N;
    uint32_t *offsets, *ray;
    double *o, *d, *nf, *pos, *sdirs, *iv;
    double *params, *bgp, *sigma, *albedo, *grad, *normals, *color, *sh, *bg, *lights;
    double *rgb, *op, *depth, *nimg, *weights;
} ref_pipe;

static void ref_free(ref_pipe* r) {
    void* p[] = {r->offsets, r->ray,    r->o,     r->d,      r->nf,    r->pos,     r->sdirs,  r->iv,
                 r->params,  r->bgp,    r->sigma, r->albedo, r->grad,  r->normals, r->color,  r->sh,
                 r->bg,      r->lights, r->rgb,   r->op,     r->depth, r->nimg,    r->weights};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
}

static void ref_render(tu_ctx* t, ref_pipe* r, vkd_nerf* n, const vkd_camera* cams, const render_cfg* c,
                       const vkd_nerf_render_desc* rd, const float* light_pos) {
    const vkd_nerf_desc* d = vkd_nerf_desc_of(n);
    vkd_nerf_field* f = vkd_nerf_field_of(n);
    const vkd_nerf_field_desc* fd = vkd_nerf_field_desc_of(f);
    memset(r, 0, sizeof *r);
    r->rpv = IMG_W * IMG_H;
    r->rays = VIEWS * r->rpv;
    uint32_t R = r->rays;
    r->o = tu_alloc_d(3 * R), r->d = tu_alloc_d(3 * R), r->nf = tu_alloc_d(2 * R);
    vkd_ref_volrend_rays(r->o, r->d, r->nf, cams, VIEWS, fd->bound);
    // The marcher is exact in float32 on both sides: start from the rays the GPU marched.
    tu_round_f32(r->o, 3 * R), tu_round_f32(r->d, 3 * R), tu_round_f32(r->nf, 2 * R);
    vkd_volrend_march_desc md = {
        .radius = fd->bound, .num_steps = d->num_steps, .stratified = rd->stratified, .seed = rd->seed};
    uint32_t* bits = NULL;
    vkd_occgrid* g = vkd_nerf_occgrid(n);
    if (g) {
        uint32_t res = vkd_occgrid_resolution(g);
        md.grid_res = res;
        bits = fetch_u32(t, vkd_occgrid_bits(g), ((size_t)res * res * res + 31) / 32);
    }
    r->offsets = calloc(R + 1, sizeof *r->offsets);
    uint64_t N = vkd_ref_volrend_march(r->offsets, NULL, NULL, NULL, NULL, r->o, r->d, r->nf, R, &md, bits);
    r->N = (uint32_t)N;
    r->pos = tu_alloc_d(3 * N + 3), r->sdirs = tu_alloc_d(3 * N + 3), r->iv = tu_alloc_d(2 * N + 2);
    r->ray = calloc(N + 1, sizeof *r->ray);
    vkd_ref_volrend_march(r->offsets, r->pos, r->sdirs, r->iv, r->ray, r->o, r->d, r->nf, R, &md, bits);
    free(bits);
    tu_round_f32(r->pos, 3 * N);  // the GPU samples are float32
    tu_round_f32(r->iv, 2 * N);

    uint64_t total = vkd_nerf_field_layout_of(f)->total;
    r->params = fetch(t, vkd_nerf_field_params(f), total);
    r->sigma = tu_alloc_d(N + 1), r->albedo = tu_alloc_d(3 * N + 3), r->grad = tu_alloc_d(3 * N + 3);
    r->normals = tu_alloc_d(3 * N + 3), r->color = tu_alloc_d(3 * N + 3);
    vkd_ref_nerf_field_forward(r->sigma, r->albedo, r->params, r->pos, N, fd);
    bool lit = c->shading != VKD_VOLREND_SHADE_ALBEDO, has_normals = lit || c->normals_img;
    if (has_normals) {
        if (c->normals == VKD_NERF_NORMALS_FINITE_DIFFERENCE) {
            vkd_ref_nerf_field_fd_grad_forward(r->grad, r->params, r->pos, N, d->normal_eps, fd);
        } else {
            double* ones = tu_alloc_d(N + 1);
            for (uint64_t i = 0; i < N; i++) ones[i] = 1;
            vkd_ref_nerf_field_backward(NULL, r->grad, ones, NULL, r->params, r->pos, N, fd);
            free(ones);
        }
        vkd_ref_volrend_normals_forward(r->normals, r->grad, N, 0);
    }
    r->lights = tu_alloc_d(3 * VIEWS);
    for (int v = 0; v < VIEWS; v++) {
        float cp[3];
        vkd_camera_position(&cams[v], cp);
        for (int k = 0; k < 3; k++) r->lights[3 * v + k] = light_pos ? light_pos[3 * v + k] : cp[k];
    }
    vkd_volrend_shade_desc sd = {.mode = c->shading};
    vkd_ref_volrend_shade_forward(r->color, r->albedo, r->normals, r->pos, r->ray, r->lights, N, r->rpv, &sd);
    r->bg = tu_alloc_d(3 * R);
    if (c->bg == VKD_NERF_BG_MLP && !c->override_bg) {
        r->sh = tu_alloc_d(9 * R);
        vkd_ref_nerf_sh_encode(r->sh, r->d, R);
        r->bgp = fetch(t, vkd_nerf_background_params(n), vkd_nerf_background_count(n));
        vkd_ref_mlp_forward(r->bg, r->sh, r->bgp, R, vkd_nerf_background_mlp(n));
    } else {
        for (uint32_t i = 0; i < R; i++)
            for (int k = 0; k < 3; k++) r->bg[3 * i + k] = c->override_bg ? rd->bg_color[k] : d->bg_color[k];
    }
    r->rgb = tu_alloc_d(3 * R), r->op = tu_alloc_d(R), r->depth = tu_alloc_d(R), r->nimg = tu_alloc_d(3 * R);
    r->weights = tu_alloc_d(N + 1);
    vkd_ref_volrend_composite_forward(r->rgb, r->op, r->depth, r->nimg, r->weights, r->offsets, r->sigma, r->color,
                                      r->iv, has_normals ? r->normals : NULL, r->bg, R, r->rpv);
}

static void render_case(tu_ctx* t, const render_cfg* c) {
    static const char* shade_names[] = {"albedo", "lambertian", "textureless"};
    tu_case(t, "render+backward %s: %s, %s normals, %s bg, chunk %u%s%s%s", c->name, shade_names[c->shading],
            c->normals ? "analytic" : "fd", c->bg ? "solid" : "MLP", c->chunk, c->grid ? ", occupancy grid" : "",
            c->stratified ? ", stratified" : "", c->normals_img ? ", normals image" : "");
    vkd_error err = {0};
    vkd_nerf* n = NULL;
    vkd_nerf_desc desc = small_desc(c);
    if (!ok_status(t, vkd_nerf_create(t->gpu, &desc, &n, &err), &err, "create")) return;
    randomize_field(t, n);
    if (c->grid && !ok_status(t, vkd_nerf_update_occupancy(n, t->s, 0, &err), &err, "occupancy")) goto done;
    vkd_camera cams[VIEWS];
    make_cams(cams);
    static const float light_pos[3 * VIEWS] = {2.0f, 2.5f, 1.0f, -1.5f, 3.0f, -0.5f};
    static const float bg_override[3] = {0.7f, 0.1f, 0.3f};
    vkd_nerf_render_desc rd = {.shading = c->shading,
                               .stratified = c->stratified,
                               .seed = 41,
                               .lights = c->lights ? light_pos : NULL,
                               .bg_color = c->override_bg ? bg_override : NULL};
    uint32_t R = VIEWS * IMG_W * IMG_H;
    tu_buf rgb = tu_alloc(t, 3 * R), op = tu_alloc(t, R), depth = tu_alloc(t, R), nimg = tu_alloc(t, 3 * R);
    vkd_volrend_image out = {rgb.addr, op.addr, depth.addr, c->normals_img ? nimg.addr : 0};
    ref_pipe r;
    if (!ok_status(t, vkd_nerf_render(n, t->s, &out, cams, VIEWS, &rd, &err), &err, "render") || !tu_run(t)) {
        tu_free(t, &rgb), tu_free(t, &op), tu_free(t, &depth), tu_free(t, &nimg);
        goto done;
    }
    ref_render(t, &r, n, cams, c, &rd, c->lights ? light_pos : NULL);
    tu_check(t, vkd_nerf_sample_count(n) == r.N && r.N > 20, "samples: GPU %u, reference %u", vkd_nerf_sample_count(n),
             r.N);
    // Float32 field evaluation vs float64: the composited values differ by ~1e-6 relative.
    tu_expect_buf(t, "rgb", rgb, r.rgb, 1e-4, 1e-5);
    tu_expect_buf(t, "opacity", op, r.op, 1e-4, 1e-5);
    tu_expect_buf(t, "depth", depth, r.depth, 1e-4, 1e-5);
    if (c->normals_img) tu_expect_buf(t, "normals image", nimg, r.nimg, 1e-4, 1e-5);

    // Backward with random cotangents (+ regularisers) against the reference chain.
    bool lit = c->shading != VKD_VOLREND_SHADE_ALBEDO, has_normals = lit || c->normals_img;
    bool color = c->shading != VKD_VOLREND_SHADE_TEXTURELESS;
    double *g_rgb = tu_alloc_d(3 * R), *g_op = tu_alloc_d(R), *g_depth = tu_alloc_d(R), *g_n = tu_alloc_d(3 * R);
    tu_fill_normal(t, g_rgb, 3 * R, 1), tu_fill_normal(t, g_op, R, 0.5), tu_fill_normal(t, g_depth, R, 0.2);
    tu_fill_normal(t, g_n, 3 * R, 0.5);
    tu_round_f32(g_rgb, 3 * R), tu_round_f32(g_op, R), tu_round_f32(g_depth, R), tu_round_f32(g_n, 3 * R);
    tu_buf G_rgb = tu_upload_d(t, g_rgb, 3 * R), G_op = tu_upload_d(t, g_op, R), G_depth = tu_upload_d(t, g_depth, R);
    tu_buf G_n = tu_upload_d(t, g_n, 3 * R);
    vkd_volrend_image dout = {G_rgb.addr, G_op.addr, G_depth.addr, c->normals_img ? G_n.addr : 0};
    vkd_nerf_zero_grad(n, t->s);
    bool ran = ok_status(t, vkd_nerf_backward(n, t->s, &dout, &c->reg, &err), &err, "backward") && tu_run(t);

    uint32_t N = r.N;
    const vkd_nerf_desc* d = vkd_nerf_desc_of(n);
    const vkd_nerf_field_desc* fd = vkd_nerf_field_desc_of(vkd_nerf_field_of(n));
    double scale = 1.0 / R, losses[3] = {0, 0, 0};
    double* gop = malloc(R * sizeof *gop);
    memcpy(gop, g_op, R * sizeof *gop);
    if (c->reg.sparsity > 0) {
        losses[0] = vkd_ref_volrend_opacity_loss_forward(r.op, R, VKD_VOLREND_OPACITY_SQRT, scale, 0);
        vkd_ref_volrend_opacity_loss_backward(gop, c->reg.sparsity, r.op, R, VKD_VOLREND_OPACITY_SQRT, scale, 0);
    }
    if (c->reg.opaque > 0) {
        losses[1] = vkd_ref_volrend_opacity_loss_forward(r.op, R, VKD_VOLREND_OPACITY_ENTROPY, scale, 0);
        vkd_ref_volrend_opacity_loss_backward(gop, c->reg.opaque, r.op, R, VKD_VOLREND_OPACITY_ENTROPY, scale, 0);
    }
    double *d_sigma = tu_alloc_d(N + 1), *d_color = tu_alloc_d(3 * N + 3), *d_albedo = tu_alloc_d(3 * N + 3);
    double *d_nrm = tu_alloc_d(3 * N + 3), *d_grad = tu_alloc_d(3 * N + 3), *d_bg = tu_alloc_d(3 * R);
    if (c->reg.orientation > 0) {
        losses[2] = vkd_ref_volrend_orientation_loss_forward(r.weights, r.normals, r.sdirs, N, scale);
        vkd_ref_volrend_orientation_loss_backward(d_nrm, c->reg.orientation, r.weights, r.normals, r.sdirs, N, scale);
    }
    vkd_ref_volrend_composite_backward(d_sigma, lit ? d_color : d_albedo, NULL, has_normals ? d_nrm : NULL, d_bg, g_rgb,
                                       gop, g_depth, c->normals_img ? g_n : NULL, r.offsets, r.sigma, r.color, r.iv,
                                       has_normals ? r.normals : NULL, r.bg, R, r.rpv);
    vkd_volrend_shade_desc sd = {.mode = c->shading};
    if (lit)
        vkd_ref_volrend_shade_backward(color ? d_albedo : NULL, d_nrm, d_color, r.albedo, r.normals, r.pos, r.ray,
                                       r.lights, N, r.rpv, &sd);
    uint64_t total = vkd_nerf_field_layout_of(vkd_nerf_field_of(n))->total;
    double* d_params = tu_alloc_d(total);
    vkd_ref_nerf_field_backward(d_params, NULL, d_sigma, color ? d_albedo : NULL, r.params, r.pos, N, fd);
    if (has_normals && c->normals == VKD_NERF_NORMALS_FINITE_DIFFERENCE) {
        vkd_ref_volrend_normals_backward(d_grad, d_nrm, r.grad, N, 0);
        vkd_ref_nerf_field_fd_grad_backward(d_params, d_grad, r.params, r.pos, N, d->normal_eps, fd);
    }
    if (ran) {
        double* got = fetch(t, vkd_nerf_field_grads(vkd_nerf_field_of(n)), total);
        // Float32 chains of ~10 stages with atomic scatters into the table.
        tu_check_close(t, "field parameter gradients", got, d_params, total, 3e-4, 1e-7);
        double mx = 0;
        for (uint64_t i = 0; i < total; i++) mx = fmax(mx, fabs(d_params[i]));
        tu_check(t, mx > 1e-4, "reference gradients are not trivially zero (max %.3g)", mx);
        free(got);
        if (c->bg == VKD_NERF_BG_MLP) {
            uint64_t nb = vkd_nerf_background_count(n);
            double* ref_bg = tu_alloc_d(nb);
            if (!c->override_bg) vkd_ref_mlp_backward(NULL, ref_bg, d_bg, r.sh, r.bgp, R, vkd_nerf_background_mlp(n));
            double* got_bg = fetch(t, vkd_nerf_background_grads(n), nb);
            tu_check_close(t, "background gradients", got_bg, ref_bg, nb, 3e-4, 1e-7);
            free(ref_bg), free(got_bg);
        }
        float l[3] = {0, 0, 0};
        if (ok_status(t, vkd_nerf_regulariser_losses(n, l, &err), &err, "losses"))
            tu_check(t,
                     fabs(l[0] - losses[0]) <= 1e-5 * fabs(losses[0]) + 1e-7 &&
                         fabs(l[1] - losses[1]) <= 1e-4 * fabs(losses[1]) + 1e-7 &&
                         fabs(l[2] - losses[2]) <= 1e-4 * fabs(losses[2]) + 1e-7,
                     "regulariser losses GPU (%.6g, %.6g, %.6g) vs reference (%.6g, %.6g, %.6g)", l[0], l[1], l[2],
                     losses[0], losses[1], losses[2]);
    }
    free(g_rgb), free(g_op), free(g_depth), free(g_n), free(gop), free(d_sigma), free(d_color), free(d_albedo);
    free(d_nrm), free(d_grad), free(d_bg), free(d_params);
    tu_free(t, &G_rgb), tu_free(t, &G_op), tu_free(t, &G_depth), tu_free(t, &G_n);
    tu_free(t, &rgb), tu_free(t, &op), tu_free(t, &depth), tu_free(t, &nimg);
    ref_free(&r);
done:
    vkd_nerf_destroy(n);
}

// ---------------------------------------------------------------------------
// Adam per group, progressive levels

static void adam_case(tu_ctx* t) {
    tu_case(t, "Adam step per group (grid, density MLP, feature MLP, background), 2 steps");
    render_cfg c = {.shading = VKD_VOLREND_SHADE_ALBEDO};
    vkd_nerf_desc desc = small_desc(&c);
    desc.lr = (vkd_nerf_lr){.grid = 0.02f, .density_mlp = 0.003f, .feature_mlp = -1, .background = 0.005f};
    vkd_error err = {0};
    vkd_nerf* n = NULL;
    if (!ok_status(t, vkd_nerf_create(t->gpu, &desc, &n, &err), &err, "create")) return;
    vkd_camera cams[VIEWS];
    make_cams(cams);
    uint32_t R = VIEWS * IMG_W * IMG_H;
    tu_buf rgb = tu_alloc(t, 3 * R);
    double* g = tu_alloc_d(3 * R);
    tu_fill_normal(t, g, 3 * R, 1);
    tu_buf G = tu_upload_d(t, g, 3 * R);
    vkd_volrend_image out = {.rgb = rgb.addr}, dout = {.rgb = G.addr};
    bool ok = ok_status(t, vkd_nerf_render(n, t->s, &out, cams, VIEWS, NULL, &err), &err, "render") &&
              ok_status(t, vkd_nerf_backward(n, t->s, &dout, NULL, &err), &err, "backward") && tu_run(t);
    const vkd_nerf_field_layout* l = vkd_nerf_field_layout_of(vkd_nerf_field_of(n));
    uint64_t total = l->total, nb = vkd_nerf_background_count(n);
    double* p = ok ? fetch(t, vkd_nerf_field_params(vkd_nerf_field_of(n)), total) : NULL;
    double* gr = ok ? fetch(t, vkd_nerf_field_grads(vkd_nerf_field_of(n)), total) : NULL;
    double* bp = ok ? fetch(t, vkd_nerf_background_params(n), nb) : NULL;
    double* bg = ok ? fetch(t, vkd_nerf_background_grads(n), nb) : NULL;
    if (ok) {
        double *m = tu_alloc_d(total), *v = tu_alloc_d(total), *bm = tu_alloc_d(nb), *bv = tu_alloc_d(nb);
        const vkd_nerf_lr* lr = &vkd_nerf_desc_of(n)->lr;
        uint64_t off[3] = {l->grid_offset, l->density_mlp_offset, l->feature_mlp_offset};
        uint64_t cnt[3] = {l->grid_count, l->density_mlp_count, l->feature_mlp_count};
        float rate[3] = {0.02f, 0.003f, -1};
        // The gradients are not zeroed between the steps: both steps see the same ones.
        for (uint32_t step = 1; step <= 2; step++) {
            vkd_nerf_step(n, t->s);
            for (int k = 0; k < 3; k++) {
                if (rate[k] < 0) continue;
                vkd_adam_desc ad = {.lr = rate[k], .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-15f};
                vkd_ref_adam_step(p + off[k], m + off[k], v + off[k], gr + off[k], NULL, cnt[k], step, &ad);
            }
            vkd_adam_desc ab = {.lr = 0.005f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-15f};
            vkd_ref_adam_step(bp, bm, bv, bg, NULL, nb, step, &ab);
        }
        tu_check(t, lr->beta2 == 0.99f && lr->eps == 1e-15f, "threestudio's Adam defaults: beta2 %g, eps %g", lr->beta2,
                 lr->eps);
        tu_check(t, vkd_nerf_step_count(n) == 2, "step count %u", vkd_nerf_step_count(n));
        double* got = fetch(t, vkd_nerf_field_params(vkd_nerf_field_of(n)), total);
        tu_check_close(t, "field params after 2 steps", got, p, total, 1e-5, 1e-7);
        double* before_feat =
            fetch(t, vkd_nerf_field_params(vkd_nerf_field_of(n)) + 4 * l->feature_mlp_offset, l->feature_mlp_count);
        vkd_addr fm, fv, bmm, bvv;
        vkd_nerf_moments(n, &fm, &fv, &bmm, &bvv);
        double *gm = fetch(t, fm, total), *gv = fetch(t, fv, total);
        tu_check_close(t, "field Adam m", gm, m, total, 1e-5, 1e-12);
        tu_check_close(t, "field Adam v", gv, v, total, 1e-5, 1e-14);
        double* gotb = fetch(t, vkd_nerf_background_params(n), nb);
        tu_check_close(t, "background params after 2 steps", gotb, bp, nb, 1e-5, 1e-7);
        // Frozen (negative rate) feature MLP: unchanged and the gradient really was non-zero.
        double gmax = 0;
        for (uint64_t i = 0; i < l->feature_mlp_count; i++) gmax = fmax(gmax, fabs(gr[l->feature_mlp_offset + i]));
        tu_check_close(t, "frozen feature MLP", before_feat, p + l->feature_mlp_offset, l->feature_mlp_count, 0, 0);
        tu_check(t, gmax > 0, "feature MLP had gradients (max %.3g)", gmax);
        free(m), free(v), free(bm), free(bv), free(got), free(before_feat), free(gm), free(gv), free(gotb);
    }
    free(p), free(gr), free(bp), free(bg), free(g);
    tu_free(t, &rgb), tu_free(t, &G);
    vkd_nerf_destroy(n);
}

static void levels_case(tu_ctx* t) {
    tu_case(t, "progressive level unlocking");
    render_cfg c = {0};
    vkd_nerf_desc desc = small_desc(&c);
    desc.start_level = 2, desc.start_step = 3, desc.update_steps = 2;
    vkd_error err = {0};
    vkd_nerf* n = NULL;
    if (!ok_status(t, vkd_nerf_create(t->gpu, &desc, &n, &err), &err, "create")) return;
    // threestudio: min(start_level + max(step - start_step, 0) // update_steps, n_levels)
    static const uint32_t want[10] = {2, 2, 2, 2, 2, 3, 3, 4, 4, 4};
    bool ok = true;
    for (uint32_t step = 0; step < 10; step++) {
        uint32_t got = vkd_nerf_field_active_levels(vkd_nerf_field_of(n));
        ok &= tu_check(t, got == want[step], "step %u: %u active levels, expected %u", step, got, want[step]);
        vkd_nerf_step(n, t->s);
    }
    tu_run(t);
    vkd_nerf_desc all = small_desc(&c);
    vkd_nerf_desc r;
    vkd_nerf_resolve(&all, &r, NULL);
    tu_check(t, vkd_nerf_active_levels_at(&r, 0) == 4, "without start_level every level is active");
    vkd_nerf_destroy(n);
}

// ---------------------------------------------------------------------------
// Occupancy update and density grid against the references

static void occupancy_case(tu_ctx* t, uint32_t step) {
    tu_case(t, "occupancy update at step %u (%s)", step, step < 256 ? "every cell" : "uniform + occupied cells");
    render_cfg c = {.grid = true};
    vkd_nerf_desc desc = small_desc(&c);
    desc.grid_resolution = 12;
    desc.chunk = 500;  // several field chunks
    vkd_error err = {0};
    vkd_nerf* n = NULL;
    if (!ok_status(t, vkd_nerf_create(t->gpu, &desc, &n, &err), &err, "create")) return;
    randomize_field(t, n);
    vkd_occgrid* g = vkd_nerf_occgrid(n);
    uint32_t res = 12, cells = res * res * res, words = (cells + 31) / 32;
    const vkd_nerf_desc* d = vkd_nerf_desc_of(n);
    const vkd_nerf_field_desc* fd = vkd_nerf_field_desc_of(vkd_nerf_field_of(n));
    double* params =
        fetch(t, vkd_nerf_field_params(vkd_nerf_field_of(n)), vkd_nerf_field_layout_of(vkd_nerf_field_of(n))->total);
    // A first warm-up update, then the one under test from the state it left.
    bool ok = ok_status(t, vkd_nerf_update_occupancy(n, t->s, 0, &err), &err, "first update") && tu_run(t);
    double* dens = ok ? fetch(t, vkd_occgrid_density(g), cells) : NULL;
    uint32_t* bits = ok ? fetch_u32(t, vkd_occgrid_bits(g), words) : NULL;
    ok = ok && ok_status(t, vkd_nerf_update_occupancy(n, t->s, step, &err), &err, "update") && tu_run(t);
    if (ok) {
        uint32_t m = vkd_occgrid_sample_count(g, step < d->grid_warmup_steps);
        double* pos = tu_alloc_d(3 * (size_t)m);
        uint32_t* ids = calloc(m, sizeof *ids);
        vkd_ref_occgrid_sample(pos, ids, bits, res, fd->bound, step < d->grid_warmup_steps, step);
        double* sdens = tu_alloc_d(m);
        vkd_ref_nerf_field_forward(sdens, NULL, params, pos, m, fd);
        vkd_occgrid_update_desc ud = {
            .decay = d->grid_decay,
            .threshold = d->grid_threshold,
            .occ_scale = vkd_volrend_step(&(vkd_volrend_march_desc){.radius = fd->bound, .num_steps = d->num_steps})};
        vkd_ref_occgrid_update(dens, bits, ids, sdens, m, res, &ud);
        double* got = fetch(t, vkd_occgrid_density(g), cells);
        uint32_t* gb = fetch_u32(t, vkd_occgrid_bits(g), words);
        tu_check_close(t, "density EMA", got, dens, cells, 1e-4, 1e-7);
        uint32_t differ = 0, occupied = 0;
        for (uint32_t i = 0; i < cells; i++) {
            bool a = gb[i / 32] >> (i % 32) & 1, b = bits[i / 32] >> (i % 32) & 1;
            differ += a != b;
            occupied += a;
        }
        tu_check(t, differ == 0, "occupancy bits: %u of %u cells differ", differ, cells);
        tu_check(t, occupied > 0 && occupied < cells, "%u of %u cells occupied", occupied, cells);
        free(pos), free(ids), free(sdens), free(got), free(gb);
    }
    // Between updates nothing is recorded.
    tu_check(t, vkd_nerf_update_occupancy(n, t->s, step + 1, &err) == VKD_OK, "no update at step %u", step + 1);
    free(params), free(dens), free(bits);
    vkd_nerf_destroy(n);
}

static void density_grid_case(tu_ctx* t, uint32_t res, uint32_t chunk) {
    tu_case(t, "density grid res=%u chunk=%u", res, chunk);
    render_cfg c = {0};
    vkd_nerf_desc desc = small_desc(&c);
    desc.chunk = chunk;
    vkd_error err = {0};
    vkd_nerf* n = NULL;
    if (!ok_status(t, vkd_nerf_create(t->gpu, &desc, &n, &err), &err, "create")) return;
    randomize_field(t, n);
    vkd_nerf_field* f = vkd_nerf_field_of(n);
    size_t total = (size_t)res * res * res;
    tu_buf out = tu_alloc(t, total);
    if (ok_status(t, vkd_nerf_density_grid(n, t->s, out.addr, res, 0, &err), &err, "density grid") && tu_run(t)) {
        double* params = fetch(t, vkd_nerf_field_params(f), vkd_nerf_field_layout_of(f)->total);
        double* pos = tu_alloc_d(3 * total);
        double b = vkd_nerf_field_desc_of(f)->bound;
        for (uint32_t i = 0; i < res; i++)
            for (uint32_t j = 0; j < res; j++)
                for (uint32_t k = 0; k < res; k++) {
                    size_t at = ((size_t)i * res + j) * res + k;
                    uint32_t ijk[3] = {i, j, k};
                    for (int a = 0; a < 3; a++) pos[3 * at + a] = (float)(-b + 2 * b * ijk[a] / (res - 1));
                }
        double* ref = tu_alloc_d(total);
        vkd_ref_nerf_field_forward(ref, NULL, params, pos, total, vkd_nerf_field_desc_of(f));
        tu_expect_buf(t, "densities", out, ref, 1e-4, 1e-5);
        free(params), free(pos), free(ref);
    }
    tu_free(t, &out);
    vkd_nerf_destroy(n);
}

// ---------------------------------------------------------------------------
// Errors

static void error_cases(tu_ctx* t) {
    tu_case(t, "argument errors");
    vkd_error err = {0};
    vkd_nerf* n = NULL;
    vkd_nerf_desc bad = {.grid_decay = 2};
    tu_check(t, vkd_nerf_create(t->gpu, &bad, &n, &err) == VKD_ERR_INVALID && strstr(err.msg, "grid_decay"),
             "bad desc rejected: %s", err.msg);
    bad = (vkd_nerf_desc){.bg_hidden = 10};
    tu_check(t, vkd_nerf_create(t->gpu, &bad, &n, &err) == VKD_ERR_INVALID && strstr(err.msg, "bg_hidden"),
             "bad background width rejected: %s", err.msg);
    render_cfg c = {0};
    vkd_nerf_desc desc = small_desc(&c);
    if (!ok_status(t, vkd_nerf_create(t->gpu, &desc, &n, &err), &err, "create")) return;
    vkd_volrend_image none = {0};
    tu_check(t, vkd_nerf_backward(n, t->s, &none, NULL, &err) == VKD_ERR_INVALID && strstr(err.msg, "no render"),
             "backward before render: %s", err.msg);
    vkd_camera cams[VIEWS];
    make_cams(cams);
    cams[1].width = 9;
    tu_check(t,
             vkd_nerf_render(n, t->s, &none, cams, VIEWS, NULL, &err) == VKD_ERR_INVALID && strstr(err.msg, "camera 1"),
             "mismatched cameras: %s", err.msg);
    make_cams(cams);
    tu_buf rgb = tu_alloc(t, 3 * VIEWS * IMG_W * IMG_H);
    vkd_volrend_image out = {.rgb = rgb.addr};
    if (ok_status(t, vkd_nerf_render(n, t->s, &out, cams, VIEWS, NULL, &err), &err, "render")) {
        vkd_nerf_regularisers reg = {.orientation = 1};
        tu_check(t, vkd_nerf_backward(n, t->s, &out, &reg, &err) == VKD_ERR_INVALID && strstr(err.msg, "normals"),
                 "orientation loss without normals: %s", err.msg);
        reg = (vkd_nerf_regularisers){.sparsity = -1};
        tu_check(t, vkd_nerf_backward(n, t->s, &out, &reg, &err) == VKD_ERR_INVALID && strstr(err.msg, "sparsity"),
                 "negative weight: %s", err.msg);
    }
    tu_run(t);
    tu_free(t, &rgb);
    vkd_nerf_destroy(n);
}

void test_nerf(tu_ctx* t) {
    sh_case(t, 1);
    sh_case(t, 333);
    const vkd_nerf_regularisers regs = {.sparsity = 0.7f, .opaque = 0.4f, .orientation = 2.0f};
    const render_cfg cfgs[] = {
        {.name = "plain", .shading = VKD_VOLREND_SHADE_ALBEDO},
        {.name = "lit",
         .shading = VKD_VOLREND_SHADE_LAMBERTIAN,
         .lights = true,
         .normals_img = true,
         .stratified = true,
         .reg = regs},
        {.name = "chunked", .shading = VKD_VOLREND_SHADE_LAMBERTIAN, .chunk = 97, .grid = true, .reg = regs},
        {.name = "textureless",
         .shading = VKD_VOLREND_SHADE_TEXTURELESS,
         .bg = VKD_NERF_BG_SOLID,
         .chunk = 300,
         .grid = true,
         .reg = {.orientation = 1}},
        {.name = "analytic",
         .shading = VKD_VOLREND_SHADE_LAMBERTIAN,
         .normals = VKD_NERF_NORMALS_ANALYTIC,
         .layout = VKD_NERF_MLP_SHARED,
         .normals_img = true,
         .chunk = 64,
         .reg = {.sparsity = 1}},
        {.name = "bg override",
         .shading = VKD_VOLREND_SHADE_ALBEDO,
         .override_bg = true,
         .grid = true,
         .stratified = true},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) render_case(t, &cfgs[i]);
    adam_case(t);
    levels_case(t);
    occupancy_case(t, 0);
    occupancy_case(t, 512);
    density_grid_case(t, 5, 40);
    density_grid_case(t, 9, 0);
    error_cases(t);
}
