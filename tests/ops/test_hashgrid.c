// Hash encoding and the hash-grid NeRF field (vkdream/hashgrid.h): GPU vs the float64 reference,
// the reference backward vs central finite differences of the reference forward, accumulation,
// level unlocking, dense and hashed levels, points on cell boundaries and outside [0, 1]^3.
//
// Float32 limits the GPU's fractional cell position on level l to about s_l * 2^-23 (s_l up to
// 4096 with the default grid), so comparisons allow an error proportional to s_l on each level.
#include "harness.h"
#include "vkdream/hashgrid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


static double max_abs(const double* x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

// Error of the GPU's fractional position on a level (float32 rounding of u and of s u + 0.5).
static double frac_err(const vkd_hashgrid_desc* d, uint32_t level) {
    return 2.4e-7 * (vkd_hashgrid_level_info(d, level).scale + 1);
}

// Passes when |got - ref| <= tol[i] everywhere (and got is finite).
static bool check_tol(tu_ctx* t, const char* what, const double* got, const double* ref, const double* tol, size_t n) {
    size_t worst = 0, bad = 0;
    double ratio = 0, max_err = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs(got[i] - ref[i]);
        if (!isfinite(got[i]) || e > tol[i]) bad++;
        if (!isfinite(got[i]) || e / tol[i] > ratio) ratio = isfinite(got[i]) ? e / tol[i] : INFINITY, worst = i;
        if (isfinite(tol[i])) max_err = fmax(max_err, e);
    }
    return tu_check(t, bad == 0 && n > 0, "%s: n=%zu max|d|=%.3g, worst at %zu (got %.7g ref %.7g tol %.3g), %zu over",
                    what, n, max_err, worst, n ? got[worst] : 0.0, n ? ref[worst] : 0.0, n ? tol[worst] : 0.0, bad);
}

static bool expect_tol(tu_ctx* t, const char* what, tu_buf b, const double* ref, const double* tol) {
    double* got = tu_download_d(t, b);
    bool ok = check_tol(t, what, got, ref, tol, b.n);
    free(got);
    return ok;
}

// The lattice cell and fraction of u on a level, in float64 (as the reference).
static void cell_of(const vkd_hashgrid_level* lv, const double u[3], uint32_t cell[3], double frac[3]) {
    for (int k = 0; k < 3; k++) {
        double pf = (double)lv->scale * u[k] + 0.5, fl = floor(pf);
        frac[k] = pf - fl;
        cell[k] = (uint32_t)(int64_t)fl;
    }
}

static uint64_t entry_of(const vkd_hashgrid_level* lv, const uint32_t cell[3], uint32_t c) {
    uint32_t x = cell[0] + (c & 1), y = cell[1] + ((c >> 1) & 1), z = cell[2] + ((c >> 2) & 1);
    uint32_t i = lv->hashed ? (x ^ (y * 2654435761u) ^ (z * 805459861u))
                            : (x + y * lv->resolution + z * (lv->resolution * lv->resolution));
    return lv->offset + i % lv->size;
}

static void to_u(const vkd_hashgrid_desc* d, const double* x, double u[3]) {
    for (int k = 0; k < 3; k++) u[k] = x[k] * d->input_scale + d->input_offset;
}

// Smallest distance of a fractional position to a cell face over the active levels.
static double min_face_dist(const vkd_hashgrid_desc* d, const double* x) {
    double u[3], m = 1;
    to_u(d, x, u);
    for (uint32_t l = 0; l < d->active_levels; l++) {
        vkd_hashgrid_level lv = vkd_hashgrid_level_info(d, l);
        uint32_t cell[3];
        double fr[3];
        cell_of(&lv, u, cell, fr);
        for (int k = 0; k < 3; k++) m = fmin(m, fmin(fr[k], 1 - fr[k]));
    }
    return m;
}

// Points: random in [0, 1]^3 (in u), on cell faces of every level, the corners of the cube, and a
// few just outside it (negative cells wrap like tiny-cuda-nn's uint32 arithmetic).
static double* make_points(tu_ctx* t, const vkd_hashgrid_desc* d, uint32_t n, bool boundaries) {
    double* x = tu_alloc_d(3 * (size_t)n);
    for (uint32_t i = 0; i < n; i++) {
        double u[3];
        for (int k = 0; k < 3; k++) u[k] = tu_uniform(t, 0, 1);
        if (boundaries) {
            uint32_t kind = i % 8;
            if (kind == 1 || kind == 2) {  // a face of level l along one or all axes
                vkd_hashgrid_level lv = vkd_hashgrid_level_info(d, (i / 8) % d->levels);
                for (int k = 0; k < 3; k++) {
                    if (kind == 1 && k != (int)(i / 8) % 3) continue;
                    double m = floor(tu_uniform(t, 1, lv.scale + 0.999));
                    u[k] = (m - 0.5) / lv.scale;
                }
            } else if (kind == 3) {
                for (int k = 0; k < 3; k++) u[k] = ((i / 8) >> k) & 1;
            } else if (kind == 4 && i % 64 == 4) {
                for (int k = 0; k < 3; k++) u[k] = tu_uniform(t, -0.05, 1.05);
            }
        }
        for (int k = 0; k < 3; k++) x[3 * i + k] = (u[k] - d->input_offset) / d->input_scale;
    }
    tu_round_f32(x, 3 * (size_t)n);
    return x;
}

typedef struct enc_fd {
    const vkd_hashgrid_desc* d;
    const double *x, *table, *g;
    double* out;
    uint32_t n;
} enc_fd;

static double enc_loss(void* user) {
    enc_fd* c = user;
    vkd_ref_hashgrid_forward(c->out, c->x, c->table, c->n, c->d);
    return tu_dot(c->out, c->g, (size_t)c->n * c->d->levels * c->d->features);
}

// Central differences of f at `count` indices of v (idx, or random ones when NULL) vs grad.
static void fd_probe(tu_ctx* t, const char* what, tu_scalar_fn f, void* user, double* v, size_t len, const size_t* idx,
                     size_t count, const double* grad, double h, double rtol) {
    double max_err = 0, max_g = 0;
    size_t worst = 0;
    for (size_t p = 0; p < count; p++) {
        size_t i = idx ? idx[p] : (size_t)tu_uniform(t, 0, (double)len);
        double v0 = v[i];
        v[i] = v0 + h;
        double fp = f(user);
        v[i] = v0 - h;
        double fm = f(user);
        v[i] = v0;
        double e = fabs((fp - fm) / (2 * h) - grad[i]);
        if (e > max_err) max_err = e, worst = i;
        max_g = fmax(max_g, fabs(grad[i]));
    }
    tu_check(t, max_err <= rtol * (1 + max_g),
             "%s: reference backward vs FD (%zu probes): max|d| = %.3g at %zu, max|g| %.3g", what, count, max_err,
             worst, max_g);
}

static void encoding_case(tu_ctx* t, const char* name, vkd_hashgrid_desc desc, uint32_t n, bool fd) {
    vkd_hashgrid_desc d;
    vkd_hashgrid_resolve(&desc, &d, NULL);
    tu_case(t, "encoding %s n=%u L=%u F=%u T=2^%u base=%u pls=%.4g active=%u%s", name, n, d.levels, d.features,
            d.log2_table, d.base_resolution, d.per_level_scale, d.active_levels, d.cas_atomics ? " cas" : "");
    uint32_t W = d.levels * d.features, F = d.features;
    size_t P = vkd_hashgrid_param_count(&d), no = (size_t)n * W;
    uint32_t dense = 0, hashed = 0;
    for (uint32_t l = 0; l < d.levels; l++) vkd_hashgrid_level_info(&d, l).hashed ? hashed++ : dense++;
    tu_check(t, P > 0, "table of %zu floats: %u dense and %u hashed levels", P, dense, hashed);

    double* table = tu_alloc_d(P);
    tu_fill_uniform(t, table, P, -1, 1);
    tu_round_f32(table, P);
    double* x = make_points(t, &d, n, true);
    double* g = tu_alloc_d(no);
    tu_fill_normal(t, g, no, 1.0);
    tu_round_f32(g, no);
    double* dt_pre = tu_alloc_d(P);
    tu_fill_uniform(t, dt_pre, P, -1, 1);
    tu_round_f32(dt_pre, P);
    double* dx_pre = tu_alloc_d(3 * (size_t)n);
    tu_fill_normal(t, dx_pre, 3 * (size_t)n, 1.0);
    tu_round_f32(dx_pre, 3 * (size_t)n);

    tu_buf gt = tu_upload_d(t, table, P), gx = tu_upload_d(t, x, 3 * (size_t)n), gout = tu_alloc(t, no);
    tu_buf gg = tu_upload_d(t, g, no), gdt = tu_upload_d(t, dt_pre, P), gdx = tu_upload_d(t, dx_pre, 3 * (size_t)n);
    vkd_hashgrid_forward(t->s, gout.addr, gx.addr, gt.addr, n, &d);
    vkd_hashgrid_backward(t->s, gdx.addr, gdt.addr, gg.addr, gx.addr, gt.addr, n, &d);
    tu_run(t);

    // Forward, with the float32 allowance per level.
    double* out = tu_alloc_d(no);
    vkd_ref_hashgrid_forward(out, x, table, n, &d);
    double* tol = tu_alloc_d(P > no ? P : no);
    double mo = max_abs(out, no);
    for (size_t i = 0; i < no; i++) tol[i] = 1e-6 + 2e-6 * mo + 6 * frac_err(&d, (uint32_t)(i % W) / F);
    expect_tol(t, "out", gout, out, tol);
    bool zeros = true;
    for (size_t i = 0; i < no; i++)
        if ((i % W) / F >= d.active_levels && out[i] != 0) zeros = false;
    tu_check(t, zeros, "locked levels output 0 (reference)");

    // Table gradient: reference + prefill; the allowance is 3 frac_err |g| per contribution.
    double* dtab = tu_alloc_d(P);
    double* dx = tu_alloc_d(3 * (size_t)n);
    vkd_ref_hashgrid_backward(dx, dtab, g, x, table, n, &d);
    double* ref = tu_alloc_d(P);
    double mt = max_abs(dtab, P);
    for (size_t i = 0; i < P; i++) ref[i] = dt_pre[i] + dtab[i], tol[i] = 1e-6 + 2e-6 * (1 + mt);
    for (uint32_t i = 0; i < n; i++) {
        double u[3];
        to_u(&d, x + 3 * i, u);
        for (uint32_t l = 0; l < d.active_levels; l++) {
            vkd_hashgrid_level lv = vkd_hashgrid_level_info(&d, l);
            uint32_t cell[3];
            double fr[3];
            cell_of(&lv, u, cell, fr);
            for (uint32_t c = 0; c < 8; c++)
                for (uint32_t f = 0; f < F; f++)
                    tol[entry_of(&lv, cell, c) * F + f] += 3 * frac_err(&d, l) * fabs(g[(size_t)i * W + l * F + f]);
        }
    }
    expect_tol(t, "d_table (accumulated)", gdt, ref, tol);
    bool locked = true;
    uint64_t first_locked = d.active_levels < d.levels ? vkd_hashgrid_level_info(&d, d.active_levels).offset * F : P;
    for (size_t i = first_locked; i < P; i++)
        if (dtab[i] != 0) locked = false;
    tu_check(t, locked, "locked levels get no table gradient (reference)");

    // Positions gradient.
    double* rx = tu_alloc_d(3 * (size_t)n);
    for (size_t i = 0; i < 3 * (size_t)n; i++) rx[i] = dx_pre[i] + dx[i];
    double mx = max_abs(dx, 3 * (size_t)n);
    double fe = d.active_levels ? frac_err(&d, d.active_levels - 1) : 0;
    for (size_t i = 0; i < 3 * (size_t)n; i++) tol[i] = 1e-5 + (2e-5 + 12 * fe) * (1 + mx);
    // Points on a face have a one-sided derivative: the GPU and the reference may pick either side.
    for (uint32_t i = 0; i < n; i++)
        if (min_face_dist(&d, x + 3 * i) < 4 * fe + 1e-6)
            for (int k = 0; k < 3; k++) tol[3 * i + k] = INFINITY;
    expect_tol(t, "d_positions (accumulated, off faces)", gdx, rx, tol);

    if (fd) {
        // d table vs FD on touched entries and random ones (the forward is linear in the table).
        uint32_t nf = n < 64 ? n : 64;
        double* gf = tu_alloc_d(P);
        double* xf = tu_alloc_d(3 * (size_t)nf);
        vkd_ref_hashgrid_backward(xf, gf, g, x, table, nf, &d);
        size_t idx[96], cnt = 0;
        for (size_t i = 0; i < P && cnt < 64; i += 1 + P / 4096)
            if (gf[i] != 0) idx[cnt++] = i;
        while (cnt < 96) idx[cnt++] = (size_t)tu_uniform(t, 0, (double)P);
        double* of = tu_alloc_d((size_t)nf * W);
        enc_fd c = {.d = &d, .x = x, .table = table, .g = g, .out = of, .n = nf};
        fd_probe(t, "d_table", enc_loss, &c, table, P, idx, cnt, gf, 1e-4, 1e-8);
        // d positions vs FD at points away from every face (the encoding is multilinear inside a cell).
        cnt = 0;
        for (uint32_t i = 0; i < nf && cnt < 96; i++)
            if (min_face_dist(&d, x + 3 * i) > 1e-3)
                for (int k = 0; k < 3 && cnt < 96; k++) idx[cnt++] = 3 * i + k;
        double h = 1e-7 / fabs(d.input_scale);
        fd_probe(t, "d_positions", enc_loss, &c, x, 3 * (size_t)nf, idx, cnt, xf, h, 1e-6);
        tu_check(t, cnt >= (nf >= 16 ? 24u : 1u), "%zu position probes off faces", cnt);
        free(gf);
        free(xf);
        free(of);
    }

    free(table);
    free(x);
    free(g);
    free(dt_pre);
    free(dx_pre);
    free(out);
    free(tol);
    free(dtab);
    free(dx);
    free(ref);
    free(rx);
    tu_buf* bufs[] = {&gt, &gx, &gout, &gg, &gdt, &gdx};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) tu_free(t, bufs[i]);
}

static void test_hashgrid_field(tu_ctx* t);

void test_hashgrid(tu_ctx* t) {
    // Small grids: dense and hashed levels, every feature count, FD checks.
    vkd_hashgrid_desc small = {
        .levels = 6, .features = 2, .log2_table = 12, .base_resolution = 4, .per_level_scale = 2.0f};
    encoding_case(t, "small", small, 1, true);
    encoding_case(t, "small", small, 7, true);
    encoding_case(t, "small", small, 1003, true);
    for (uint32_t f = 1; f <= 8; f *= 2) {
        vkd_hashgrid_desc d = {
            .levels = 5, .features = f, .log2_table = 10, .base_resolution = 3, .per_level_scale = 1.7f};
        encoding_case(t, "features", d, 33, f == 8);
    }
    vkd_hashgrid_desc locked = small;
    locked.active_levels = 3;
    encoding_case(t, "unlocking", locked, 257, true);
    vkd_hashgrid_desc mapped = {.levels = 8,
                                .log2_table = 14,
                                .base_resolution = 16,
                                .per_level_scale = (float)vkd_hashgrid_per_level_scale(8, 16, 256),
                                .input_scale = 0.25f,
                                .input_offset = 0.5f};
    encoding_case(t, "mapped [-2,2]", mapped, 300, true);
    vkd_hashgrid_desc cas = small;
    cas.cas_atomics = true;
    encoding_case(t, "small", cas, 1003, false);
    // threestudio's defaults: 16 levels (5 dense), 2^19 entries, resolution 16 .. 4096.
    vkd_hashgrid_desc def = {0};
    encoding_case(t, "default", def, t->quick ? 500 : 3001, true);
    def.active_levels = 8;
    encoding_case(t, "default", def, 200, false);
    test_hashgrid_field(t);
}

// ---------------------------------------------------------------------------
// The NeRF field

typedef struct field_fd {
    const vkd_nerf_field_desc* d;
    const double *params, *x, *gd, *gc;
    double *dens, *rgb;
    uint32_t n;
} field_fd;

static double field_loss(void* user) {
    field_fd* c = user;
    vkd_ref_nerf_field_forward(c->dens, c->gc ? c->rgb : NULL, c->params, c->x, c->n, c->d);
    return tu_dot(c->dens, c->gd, c->n) + (c->gc ? tu_dot(c->rgb, c->gc, 3 * (size_t)c->n) : 0);
}

// Smallest |pre-activation| of an MLP's hidden units for one encoded row.
static double min_preact(const double* enc, const double* params, const vkd_mlp_desc* m) {
    double a[VKD_MLP_MAX_WIDTH], z[VKD_MLP_MAX_WIDTH], best = INFINITY;
    memcpy(a, enc, m->in * sizeof *a);
    uint32_t in = m->in;
    for (uint32_t l = 0; l < (m->hidden_layers ? m->hidden_layers : 1); l++) {
        uint64_t wo, bo;
        vkd_mlp_layer_offsets(m, l, &wo, &bo);
        uint32_t h = m->hidden ? m->hidden : 64;
        for (uint32_t j = 0; j < h; j++) {
            z[j] = m->bias ? params[bo + j] : 0;
            for (uint32_t k = 0; k < in; k++) z[j] += params[wo + (uint64_t)j * in + k] * a[k];
            best = fmin(best, fabs(z[j]));
        }
        for (uint32_t j = 0; j < h; j++) a[j] = fmax(z[j], 0);
        in = h;
    }
    return best;
}

// Random points in [-0.95 bound, 0.95 bound]^3 away from cell faces and ReLU kinks (where float32
// rounding may pick the other side and change a gradient by O(1)).
static double kink_margin(const vkd_nerf_field_desc* d, const vkd_nerf_field_layout* l, const double* params,
                          const double* x) {
    double enc[VKD_HASHGRID_MAX_LEVELS * 8];
    vkd_ref_hashgrid_forward(enc, x, params + l->grid_offset, 1, &d->grid);
    double m = min_preact(enc, params + l->density_mlp_offset, &l->density_mlp);
    if (l->feature_mlp_count) m = fmin(m, min_preact(enc, params + l->feature_mlp_offset, &l->feature_mlp));
    return m;
}

// Also keeps the finite-difference offsets (fd_eps > 0) of every point away from the kinks.
static double* field_points(tu_ctx* t, const vkd_nerf_field_desc* d, const double* params, uint32_t n, double fd_eps) {
    vkd_nerf_field_layout l;
    vkd_nerf_field_get_layout(d, &l);
    double* x = tu_alloc_d(3 * (size_t)n);
    for (uint32_t i = 0; i < n; i++) {
        for (int tries = 0; tries < 1000; tries++) {
            for (int k = 0; k < 3; k++) x[3 * i + k] = (float)tu_uniform(t, -0.95 * d->bound, 0.95 * d->bound);
            if (min_face_dist(&d->grid, x + 3 * i) < 2e-3) continue;
            double m = kink_margin(d, &l, params, x + 3 * i);
            for (int k = 0; k < 3 && fd_eps > 0; k++)
                for (int side = 0; side < 2; side++) {
                    double y[3] = {x[3 * i], x[3 * i + 1], x[3 * i + 2]};
                    y[k] = (float)((float)y[k] + (float)(side ? -fd_eps : fd_eps));
                    m = fmin(m, kink_margin(d, &l, params, y));
                }
            if (m > 1e-3) break;
        }
    }
    return x;
}

static void field_case(tu_ctx* t, const char* name, vkd_nerf_field_desc desc, uint32_t n, uint32_t active, bool fd) {
    vkd_nerf_field_desc d;
    vkd_error err = {0};
    if (!tu_check(t, vkd_nerf_field_resolve(&desc, &d, &err), "resolve: %s", err.msg)) return;
    tu_case(t, "field %s n=%u L=%u T=2^%u hidden=%ux%u layout=%d act=%d bias=%d active=%u", name, n, d.grid.levels,
            d.grid.log2_table, d.hidden, d.hidden_layers, (int)d.mlp_layout, (int)d.density_activation,
            (int)d.density_bias, active);
    vkd_nerf_field* f = NULL;
    if (!tu_check(t, vkd_nerf_field_create(t->gpu, &desc, &f, &err) == VKD_OK, "create: %s", err.msg)) return;
    vkd_nerf_field_set_active_levels(f, active);
    d = *vkd_nerf_field_desc_of(f);
    const vkd_nerf_field_layout* l = vkd_nerf_field_layout_of(f);
    size_t P = l->total;

    // Parameters: the initialisation, with a table large enough to matter next to the density bias.
    float* pf = malloc(P * sizeof *pf);
    vkd_nerf_field_init_params(pf, &d);
    double* params = tu_alloc_d(P);
    for (size_t i = 0; i < P; i++) params[i] = pf[i];
    for (size_t i = 0; i < l->grid_count; i++) params[l->grid_offset + i] = (float)tu_uniform(t, -1, 1);
    for (size_t i = 0; i < P; i++) pf[i] = (float)params[i];
    tu_check(t, vkd_nerf_field_upload_params(f, pf, &err) == VKD_OK, "upload params: %s", err.msg);

    double* x = field_points(t, &d, params, n, fd ? 0.01 : 0);
    double* gd = tu_alloc_d(n);
    double* gc = tu_alloc_d(3 * (size_t)n);
    tu_fill_normal(t, gd, n, 1.0);
    tu_fill_normal(t, gc, 3 * (size_t)n, 1.0);
    tu_round_f32(gd, n);
    tu_round_f32(gc, 3 * (size_t)n);
    double* dx_pre = tu_alloc_d(3 * (size_t)n);
    tu_fill_normal(t, dx_pre, 3 * (size_t)n, 1.0);
    tu_round_f32(dx_pre, 3 * (size_t)n);

    tu_buf gx = tu_upload_d(t, x, 3 * (size_t)n), gdens = tu_alloc(t, n), grgb = tu_alloc(t, 3 * (size_t)n);
    tu_buf gdens2 = tu_alloc(t, n), ggd = tu_upload_d(t, gd, n), ggc = tu_upload_d(t, gc, 3 * (size_t)n);
    tu_buf gdx = tu_upload_d(t, dx_pre, 3 * (size_t)n), ggrad = tu_alloc(t, 3 * (size_t)n), gdens3 = tu_alloc(t, n);
    tu_buf ws = tu_alloc(t, vkd_nerf_field_workspace_bytes(f, n) / 4);

    // Density only first (skips the color network), then the full pass twice: the gradients accumulate.
    vkd_nerf_field_zero_grad(f, t->s);
    vkd_nerf_field_forward(f, t->s, gdens2.addr, 0, gx.addr, n, ws.addr);
    vkd_nerf_field_forward(f, t->s, gdens.addr, grgb.addr, gx.addr, n, ws.addr);
    vkd_nerf_field_backward(f, t->s, gdx.addr, ggd.addr, ggc.addr, gx.addr, n, ws.addr);
    vkd_nerf_field_backward(f, t->s, gdx.addr, ggd.addr, ggc.addr, gx.addr, n, ws.addr);
    tu_run(t);
    vkd_nerf_field_density_grad(f, t->s, ggrad.addr, gdens3.addr, gx.addr, n, ws.addr);
    tu_run(t);

    double* dens = tu_alloc_d(n);
    double* rgb = tu_alloc_d(3 * (size_t)n);
    vkd_ref_nerf_field_forward(dens, rgb, params, x, n, &d);
    tu_expect_buf(t, "density", gdens, dens, 2e-5, 1e-6);
    tu_expect_buf(t, "density (density only)", gdens2, dens, 2e-5, 1e-6);
    tu_expect_buf(t, "density (density_grad)", gdens3, dens, 2e-5, 1e-6);
    tu_expect_buf(t, "rgb", grgb, rgb, 2e-5, 1e-6);

    double* dp = tu_alloc_d(P);
    double* dx = tu_alloc_d(3 * (size_t)n);
    vkd_ref_nerf_field_backward(dp, dx, gd, gc, params, x, n, &d);
    float* gpu_grads = malloc(P * sizeof *gpu_grads);
    tu_check(t, vkd_nerf_field_download_grads(f, gpu_grads, &err) == VKD_OK, "download grads: %s", err.msg);
    double* got = tu_alloc_d(P);
    double* ref = tu_alloc_d(P);
    for (size_t i = 0; i < P; i++) got[i] = gpu_grads[i], ref[i] = 2 * dp[i];
    tu_check_close(t, "d table (2 backwards)", got + l->grid_offset, ref + l->grid_offset, l->grid_count, 5e-5, 1e-6);
    tu_check_close(t, "d density MLP (2 backwards)", got + l->density_mlp_offset, ref + l->density_mlp_offset,
                   l->density_mlp_count, 2e-5, 1e-6);
    if (l->feature_mlp_count)
        tu_check_close(t, "d feature MLP (2 backwards)", got + l->feature_mlp_offset, ref + l->feature_mlp_offset,
                       l->feature_mlp_count, 2e-5, 1e-6);
    double* rx = tu_alloc_d(3 * (size_t)n);
    for (size_t i = 0; i < 3 * (size_t)n; i++) rx[i] = dx_pre[i] + 2 * dx[i];
    tu_expect_buf(t, "d positions (accumulated)", gdx, rx, 5e-5, 1e-5);

    // The density gradient (analytic normals): backward of density with d density = 1.
    double* ones = tu_alloc_d(n);
    for (uint32_t i = 0; i < n; i++) ones[i] = 1;
    double* grad = tu_alloc_d(3 * (size_t)n);
    vkd_ref_nerf_field_backward(NULL, grad, ones, NULL, params, x, n, &d);
    tu_expect_buf(t, "d density / d x", ggrad, grad, 5e-5, 1e-5);

    if (fd) {
        uint32_t nf = n < 16 ? n : 16;
        double* dpf = tu_alloc_d(P);
        double* dxf = tu_alloc_d(3 * (size_t)nf);
        vkd_ref_nerf_field_backward(dpf, dxf, gd, gc, params, x, nf, &d);
        double* fdens = tu_alloc_d(nf);
        double* frgb = tu_alloc_d(3 * (size_t)nf);
        field_fd c = {.d = &d, .params = params, .x = x, .gd = gd, .gc = gc, .dens = fdens, .rgb = frgb, .n = nf};
        size_t idx[64], cnt = 0;
        for (size_t i = l->grid_offset; i < l->grid_offset + l->grid_count && cnt < 32; i += 1 + l->grid_count / 2048)
            if (dpf[i] != 0) idx[cnt++] = i;
        fd_probe(t, "d table", field_loss, &c, params, P, idx, cnt, dpf, 1e-6, 1e-6);
        cnt = 0;
        while (cnt < 48) idx[cnt++] = l->density_mlp_offset + (size_t)tu_uniform(t, 0, (double)l->density_mlp_count);
        fd_probe(t, "d density MLP", field_loss, &c, params, P, idx, cnt, dpf, 1e-6, 1e-6);
        if (l->feature_mlp_count) {
            cnt = 0;
            while (cnt < 32)
                idx[cnt++] = l->feature_mlp_offset + (size_t)tu_uniform(t, 0, (double)l->feature_mlp_count);
            fd_probe(t, "d feature MLP", field_loss, &c, params, P, idx, cnt, dpf, 1e-6, 1e-6);
        }
        fd_probe(t, "d positions", field_loss, &c, x, 3 * (size_t)nf, NULL, 3 * (size_t)nf, dxf, 1e-7, 1e-6);

        // Finite-difference normals: gradient from six offsets, and its parameter gradients.
        const double eps = 0.01;
        tu_buf ws6 = tu_alloc(t, vkd_nerf_field_workspace_bytes(f, 6 * nf) / 4), gfd = tu_alloc(t, 3 * (size_t)nf);
        double* dg = tu_alloc_d(3 * (size_t)nf);
        tu_fill_normal(t, dg, 3 * (size_t)nf, 1.0);
        tu_round_f32(dg, 3 * (size_t)nf);
        tu_buf gdg = tu_upload_d(t, dg, 3 * (size_t)nf);
        vkd_nerf_field_zero_grad(f, t->s);
        vkd_nerf_field_fd_grad_forward(f, t->s, gfd.addr, gx.addr, nf, (float)eps, ws6.addr);
        vkd_nerf_field_fd_grad_backward(f, t->s, gdg.addr, nf, (float)eps, ws6.addr);
        tu_run(t);
        double* rg = tu_alloc_d(3 * (size_t)nf);
        vkd_ref_nerf_field_fd_grad_forward(rg, params, x, nf, eps, &d);
        tu_expect_buf(t, "fd gradient", gfd, rg, 2e-4, 1e-4);
        double* rdp = tu_alloc_d(P);
        vkd_ref_nerf_field_fd_grad_backward(rdp, dg, params, x, nf, eps, &d);
        tu_check(t, vkd_nerf_field_download_grads(f, gpu_grads, &err) == VKD_OK, "download grads: %s", err.msg);
        for (size_t i = 0; i < P; i++) got[i] = gpu_grads[i];
        tu_check_close(t, "fd gradient: d params", got, rdp, P, 2e-4, 1e-5);
        free(dg);
        free(rg);
        free(rdp);
        tu_free(t, &ws6);
        tu_free(t, &gfd);
        tu_free(t, &gdg);
        free(dpf);
        free(dxf);
        free(fdens);
        free(frgb);
    }

    free(pf);
    free(params);
    free(x);
    free(gd);
    free(gc);
    free(dx_pre);
    free(dens);
    free(rgb);
    free(dp);
    free(dx);
    free(gpu_grads);
    free(got);
    free(ref);
    free(rx);
    free(ones);
    free(grad);
    tu_buf* bufs[] = {&gx, &gdens, &grgb, &gdens2, &ggd, &ggc, &gdx, &ggrad, &gdens3, &ws};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) tu_free(t, bufs[i]);
    vkd_nerf_field_destroy(f);
}

// Densities on a grid, evaluated in several chunks, vs the reference at the same vertices.
static void field_grid_case(tu_ctx* t, vkd_nerf_field_desc desc, uint32_t res, uint32_t chunk) {
    tu_case(t, "field density grid res=%u chunk=%u", res, chunk);
    vkd_nerf_field* f = NULL;
    vkd_error err = {0};
    if (!tu_check(t, vkd_nerf_field_create(t->gpu, &desc, &f, &err) == VKD_OK, "create: %s", err.msg)) return;
    const vkd_nerf_field_desc* d = vkd_nerf_field_desc_of(f);
    size_t P = vkd_nerf_field_layout_of(f)->total, total = (size_t)res * res * res;
    float* pf = malloc(P * sizeof *pf);
    tu_check(t, vkd_nerf_field_download_params(f, pf, &err) == VKD_OK, "download params: %s", err.msg);
    double* params = tu_alloc_d(P);
    for (size_t i = 0; i < P; i++) params[i] = pf[i];
    tu_buf out = tu_alloc(t, total), ws = tu_alloc(t, vkd_nerf_field_workspace_bytes(f, chunk) / 4);
    float bound = 0.8f * d->bound;
    vkd_nerf_field_density_grid(f, t->s, out.addr, res, bound, ws.addr, chunk);
    tu_run(t);
    double* x = tu_alloc_d(3 * total);
    for (size_t v = 0; v < total; v++) {
        size_t c[3] = {v / ((size_t)res * res), (v / res) % res, v % res};
        for (int k = 0; k < 3; k++) x[3 * v + k] = (float)(-bound + c[k] * (2.0f * bound / (float)(res - 1)));
    }
    double* ref = tu_alloc_d(total);
    vkd_ref_nerf_field_forward(ref, NULL, params, x, total, d);
    tu_expect_buf(t, "density grid", out, ref, 1e-4, 1e-5);
    free(pf);
    free(params);
    free(x);
    free(ref);
    tu_free(t, &out);
    tu_free(t, &ws);
    vkd_nerf_field_destroy(f);
}

static void test_hashgrid_field(tu_ctx* t) {
    vkd_hashgrid_desc small = {
        .levels = 6, .features = 2, .log2_table = 11, .base_resolution = 4, .per_level_scale = 1.8f};
    vkd_nerf_field_desc sep = {.grid = small, .bound = 1.5f, .hidden = 32, .seed = 7};
    field_case(t, "separate", sep, 7, 6, true);
    field_case(t, "separate", sep, 1003, 4, true);
    vkd_nerf_field_desc shared = {.grid = small,
                                  .bound = 1.0f,
                                  .hidden_layers = 2,
                                  .mlp_bias = true,
                                  .mlp_layout = VKD_NERF_MLP_SHARED,
                                  .density_activation = VKD_NERF_DENSITY_EXP,
                                  .density_bias = VKD_NERF_BIAS_BLOB_DREAMFUSION,
                                  .blob_density = 1.5f,
                                  .blob_radius = 0.4f,
                                  .seed = 8};
    field_case(t, "shared", shared, 1, 6, true);
    field_case(t, "shared", shared, 333, 6, true);
    vkd_nerf_field_desc trunc = sep;
    trunc.density_activation = VKD_NERF_DENSITY_TRUNC_EXP;
    trunc.density_bias = VKD_NERF_BIAS_CONSTANT;
    trunc.blob_density = -1;
    field_case(t, "trunc_exp", trunc, 65, 6, true);
    // threestudio's implicit-volume defaults.
    vkd_nerf_field_desc def = {.bound = 1.0f, .seed = 9};
    field_case(t, "default", def, t->quick ? 200 : 1003, 8, false);
    field_grid_case(t, sep, 9, 100);
}
