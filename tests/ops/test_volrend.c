// Volume rendering: rays, marching, compositing, normals, shading and regularisers, each GPU
// kernel against the float64 reference and every backward against central finite differences
// of the reference; plus an end-to-end analytic check (a constant-density sphere through the
// occupancy grid, the marcher and the compositor gives opacity 1 - exp(-sigma * chord)).
// VKD_VOLREND_BENCH=1 adds a timing of marching + compositing forward and backward.
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "vkdream/volrend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// ---------------------------------------------------------------------------
// Helpers

static uint32_t* download_u32(tu_ctx* t, tu_buf b, size_t n) {
    uint32_t* x = calloc(n ? n : 1, sizeof *x);
    vkd_error e = {0};
    if (n && vkd_buffer_download(t->gpu, &b.b, 0, x, n * 4, &e)) tu_check(t, false, "download: %s", e.msg);
    return x;
}

static tu_buf upload_u32(tu_ctx* t, const uint32_t* x, size_t n) {
    tu_buf b = tu_alloc(t, n);
    vkd_error e = {0};
    if (n && vkd_buffer_upload(t->gpu, &b.b, 0, x, n * 4, &e)) tu_check(t, false, "upload: %s", e.msg);
    return b;
}

// Rounds to float32 so a reference sees exactly what the GPU reads.

static double* dup_d(const double* x, size_t n) {
    double* y = tu_alloc_d(n);
    if (n) memcpy(y, x, n * sizeof *y);
    return y;
}

// Checks a reference backward against central differences of the scalar `f` over a subset of
// x's entries (all when n <= max_probe), then restores x.
static void fd_check(tu_ctx* t, const char* what, tu_scalar_fn f, void* user, double* x, size_t n,
                     const double* grad, size_t max_probe, double h, double rtol) {
    size_t probes = n < max_probe ? n : max_probe;
    double* got = tu_alloc_d(probes);
    double* want = tu_alloc_d(probes);
    for (size_t k = 0; k < probes; k++) {
        size_t i = probes == n ? k : (size_t)tu_uniform(t, 0, (double)n - 1e-9);
        tu_fd_grad(f, user, x + i, 1, h, &want[k]);
        got[k] = grad[i];
    }
    char name[128];
    snprintf(name, sizeof name, "ref %s vs central differences", what);
    tu_check_close(t, name, got, want, probes, rtol, 1e-8);
    free(got);
    free(want);
}

static vkd_camera test_camera(double az, double el, double dist, int w, int h, double fov) {
    return vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = (float)az, .elevation_deg = (float)el,
                                              .distance = (float)dist, .fov_y_deg = (float)fov, .width = w,
                                              .height = h});
}

// ---------------------------------------------------------------------------
// Rays

static void rays_case(tu_ctx* t, const vkd_camera* cams, uint32_t views, float radius) {
    tu_case(t, "rays %ux%dx%d R=%g", views, cams[0].width, cams[0].height, radius);
    size_t n = (size_t)views * cams[0].width * cams[0].height;
    tu_buf o = tu_alloc(t, 3 * n), d = tu_alloc(t, 3 * n), nf = tu_alloc(t, 2 * n);
    vkd_volrend_rays(t->s, o.addr, d.addr, nf.addr, cams, views, radius);
    tu_run(t);
    double *ro = tu_alloc_d(3 * n), *rd = tu_alloc_d(3 * n), *rnf = tu_alloc_d(2 * n);
    vkd_ref_volrend_rays(ro, rd, rnf, cams, views, radius);
    tu_expect_buf(t, "origins", o, ro, 1e-5, 1e-5);
    tu_expect_buf(t, "dirs", d, rd, 1e-5, 1e-6);
    // t_near / t_far: near-tangent rays amplify float rounding (dt = d(disc) / 2 sqrt(disc)),
    // so only rays that clearly hit or clearly miss are compared tightly.
    double* g = tu_download_d(t, nf);
    size_t grazing = 0, hits = 0;
    for (size_t r = 0; r < n; r++) {
        double b = 0, c = -(double)radius * radius;
        for (int i = 0; i < 3; i++) b += ro[3 * r + i] * rd[3 * r + i], c += ro[3 * r + i] * ro[3 * r + i];
        double disc = b * b - c;
        if (fabs(disc) < 1e-3) {
            g[2 * r] = rnf[2 * r], g[2 * r + 1] = rnf[2 * r + 1];
            grazing++;
        }
        hits += rnf[2 * r + 1] > 0;
    }
    tu_check_close(t, "near_far", g, rnf, 2 * n, 1e-5, 2e-5);
    tu_check(t, hits > 0 && hits <= n, "%zu of %zu rays hit the sphere (%zu grazing)", hits, n, grazing);
    free(g);
    free(ro);
    free(rd);
    free(rnf);
    tu_free(t, &o);
    tu_free(t, &d);
    tu_free(t, &nf);
}

static void rays_tests(tu_ctx* t) {
    vkd_camera a[3] = {test_camera(30, 15, 3.0, 7, 5, 49.1), test_camera(-120, -20, 2.5, 7, 5, 70),
                       test_camera(200, 60, 4.0, 7, 5, 40)};
    rays_case(t, a, 3, 1.0f);
    // A camera inside the sphere (t_near = 0), odd sizes, a non-default radius.
    vkd_camera b[2] = {test_camera(10, 5, 0.5, 33, 17, 90), test_camera(100, 30, 3.0, 33, 17, 60)};
    b[1].cx += 3.5f;
    b[1].fx *= 1.3f;
    rays_case(t, b, 2, 1.5f);
    vkd_camera c = test_camera(0, 0, 3.0, 1, 1, 30);
    rays_case(t, &c, 1, 1.0f);
}

// ---------------------------------------------------------------------------
// Marching

static uint32_t* random_bits(tu_ctx* t, uint32_t res, double p) {
    uint32_t cells = res * res * res, words = (cells + 31) / 32;
    uint32_t* bits = calloc(words, 4);
    for (uint32_t c = 0; c < cells; c++)
        if (tu_uniform(t, 0, 1) < p) bits[c >> 5] |= 1u << (c & 31);
    return bits;
}

static bool cell_on(const uint32_t* bits, uint32_t res, double radius, const double* p) {
    int c[3];
    for (int i = 0; i < 3; i++) {
        int v = (int)floor((p[i] + radius) * res / (2 * radius));
        c[i] = v < 0 ? 0 : v >= (int)res ? (int)res - 1 : v;
    }
    uint32_t idx = ((uint32_t)c[0] * res + (uint32_t)c[1]) * res + (uint32_t)c[2];
    return (bits[idx >> 5] >> (idx & 31)) & 1u;
}

static void march_case(tu_ctx* t, uint32_t views, int w, int h, uint32_t res, double occupied_p,
                       uint32_t num_steps, bool stratified) {
    tu_case(t, "march %ux%dx%d grid %u^3 p=%.2f steps=%u %s", views, w, h, res, occupied_p, num_steps,
            stratified ? "stratified" : "eval");
    vkd_camera cams[4];
    for (uint32_t b = 0; b < views; b++) cams[b] = test_camera(40.0 + 95 * b, 20 - 15.0 * b, 2.2 + 0.4 * b, w, h, 60);
    uint32_t rays = views * (uint32_t)(w * h);
    float radius = 1.0f;
    tu_buf o = tu_alloc(t, 3 * rays), d = tu_alloc(t, 3 * rays), nf = tu_alloc(t, 2 * rays);
    vkd_volrend_rays(t->s, o.addr, d.addr, nf.addr, cams, views, radius);
    uint32_t* bits = res ? random_bits(t, res, occupied_p) : NULL;
    uint32_t words = res ? (res * res * res + 31) / 32 : 1;
    tu_buf gbits = bits ? upload_u32(t, bits, words) : tu_alloc(t, 1);
    vkd_volrend_march_desc desc = {.radius = radius, .num_steps = num_steps, .stratified = stratified,
                                   .seed = 1234u + res, .grid_bits = bits ? gbits.addr : 0, .grid_res = res};
    tu_buf offsets = tu_alloc(t, rays + 1);
    uint64_t scratch_bytes = vkd_volrend_march_scratch_bytes(rays);
    tu_buf scratch = tu_alloc(t, scratch_bytes / 4 + 1);
    vkd_volrend_march_count(t->s, offsets.addr, o.addr, d.addr, nf.addr, rays, &desc, scratch.addr);
    tu_run(t);
    uint32_t* goff = download_u32(t, offsets, rays + 1);
    uint32_t N = goff[rays];

    double *ro = tu_download_d(t, o), *rd = tu_download_d(t, d), *rnf = tu_download_d(t, nf);
    uint32_t* roff = calloc(rays + 1, 4);
    uint64_t RN = vkd_ref_volrend_march(roff, NULL, NULL, NULL, NULL, ro, rd, rnf, rays, &desc, bits);
    tu_check(t, RN == N, "sample count: GPU %u, reference %llu", N, (unsigned long long)RN);
    tu_check(t, !memcmp(goff, roff, (rays + 1) * 4), "per-ray offsets identical");
    size_t M = RN > N ? RN : N;
    double *rp = tu_alloc_d(3 * M), *rsd = tu_alloc_d(3 * M), *riv = tu_alloc_d(2 * M);
    uint32_t* rray = calloc(M ? M : 1, 4);
    vkd_ref_volrend_march(roff, rp, rsd, riv, rray, ro, rd, rnf, rays, &desc, bits);

    tu_buf pos = tu_alloc(t, 3 * (size_t)N), sd = tu_alloc(t, 3 * (size_t)N), iv = tu_alloc(t, 2 * (size_t)N),
           ray = tu_alloc(t, N);
    vkd_volrend_samples out = {.positions = pos.addr, .dirs = sd.addr, .intervals = iv.addr, .ray = ray.addr};
    vkd_volrend_march_emit(t->s, &out, offsets.addr, o.addr, d.addr, nf.addr, rays, &desc);
    tu_run(t);
    if (N == RN && N > 0) {
        tu_expect_buf(t, "positions", pos, rp, 0, 1e-6);
        tu_expect_buf(t, "dirs", sd, rsd, 0, 1e-7);
        tu_expect_buf(t, "intervals", iv, riv, 0, 1e-6);
        uint32_t* gray = download_u32(t, ray, N);
        tu_check(t, !memcmp(gray, rray, (size_t)N * 4), "ray indices identical");
        free(gray);
        // The samples lie in occupied cells, inside the sphere, on each ray, in order.
        double* gp = tu_download_d(t, pos);
        double* giv = tu_download_d(t, iv);
        size_t bad_cell = 0, bad_geom = 0;
        for (uint32_t r = 0; r < rays; r++) {
            for (uint32_t i = roff[r]; i < roff[r + 1]; i++) {
                const double* p = gp + 3 * (size_t)i;
                if (bits && !cell_on(bits, res, radius, p)) bad_cell++;
                double len = sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]);
                double tm = giv[2 * i];
                bool ok = len <= radius * (1 + 1e-5) && tm >= rnf[2 * r] && tm < rnf[2 * r + 1] &&
                          (i == roff[r] || tm > giv[2 * (i - 1)]);
                for (int k = 0; k < 3; k++) ok &= fabs(ro[3 * r + k] + tm * rd[3 * r + k] - p[k]) < 1e-5;
                bad_geom += !ok;
            }
        }
        tu_check(t, bad_cell == 0, "samples in empty cells: %zu", bad_cell);
        tu_check(t, bad_geom == 0, "samples off their ray, outside the sphere or out of order: %zu", bad_geom);
        free(gp);
        free(giv);
    } else {
        tu_check(t, N == RN, "emit skipped: counts differ or are zero (N = %u)", N);
    }
    if (bits) {
        // Empty cells were skipped: the full lattice has more candidates.
        vkd_volrend_march_desc all = desc;
        all.grid_bits = 0;
        uint64_t full = vkd_ref_volrend_march(roff, NULL, NULL, NULL, NULL, ro, rd, rnf, rays, &all, NULL);
        tu_check(t, occupied_p >= 1.0 ? full == N : full > N, "occupied-only %u of %llu lattice samples", N,
                 (unsigned long long)full);
    }
    free(goff);
    free(roff);
    free(ro);
    free(rd);
    free(rnf);
    free(rp);
    free(rsd);
    free(riv);
    free(rray);
    free(bits);
    tu_free(t, &pos);
    tu_free(t, &sd);
    tu_free(t, &iv);
    tu_free(t, &ray);
    tu_free(t, &offsets);
    tu_free(t, &scratch);
    tu_free(t, &gbits);
    tu_free(t, &o);
    tu_free(t, &d);
    tu_free(t, &nf);
}

static void march_tests(tu_ctx* t) {
    march_case(t, 2, 13, 11, 16, 0.3, 256, true);
    march_case(t, 1, 7, 9, 0, 1.0, 64, false);
    march_case(t, 3, 9, 5, 32, 0.6, 200, true);
    march_case(t, 1, 17, 16, 8, 1.0, 128, true);
    if (!t->quick) march_case(t, 1, 48, 40, 64, 0.1, 512, true);
}

// ---------------------------------------------------------------------------
// Compositing

typedef struct comp_data {
    uint32_t rays, rpv;
    size_t N;
    uint32_t* offsets;
    double *sigma, *rgb, *iv, *nrm, *bg;       // inputs
    double *g_rgb, *g_op, *g_depth, *g_nrm;    // cotangents
    double *o_rgb, *o_op, *o_depth, *o_nrm;    // scratch outputs for the finite differences
} comp_data;

static double comp_loss(void* user) {
    comp_data* c = user;
    vkd_ref_volrend_composite_forward(c->o_rgb, c->o_op, c->o_depth, c->o_nrm, NULL, c->offsets, c->sigma, c->rgb,
                                      c->iv, c->nrm, c->bg, c->rays, c->rpv);
    return tu_dot(c->o_rgb, c->g_rgb, 3 * (size_t)c->rays) + tu_dot(c->o_op, c->g_op, c->rays) +
           tu_dot(c->o_depth, c->g_depth, c->rays) + tu_dot(c->o_nrm, c->g_nrm, 3 * (size_t)c->rays);
}

// Random rays: 0..max_samples samples each, increasing t with random dt; `dense` rays get
// large densities so that early termination (T < 1e-4) happens inside them.
static comp_data comp_make(tu_ctx* t, uint32_t views, uint32_t rpv, uint32_t max_samples) {
    comp_data c = {.rays = views * rpv, .rpv = rpv};
    c.offsets = calloc(c.rays + 1, 4);
    for (uint32_t r = 0; r < c.rays; r++) {
        uint32_t k = (uint32_t)tu_uniform(t, 0, max_samples + 0.999);
        if (r % 7 == 3) k = 0;
        c.offsets[r + 1] = c.offsets[r] + k;
    }
    c.N = c.offsets[c.rays];
    size_t N = c.N;
    c.sigma = tu_alloc_d(N), c.rgb = tu_alloc_d(3 * N), c.iv = tu_alloc_d(2 * N), c.nrm = tu_alloc_d(3 * N);
    c.bg = tu_alloc_d(3 * (size_t)c.rays);
    for (uint32_t r = 0; r < c.rays; r++) {
        int kind = r % 4;  // 0: thin, 1: medium, 2: dense (terminates), 3: tiny densities (series branch)
        double tt = tu_uniform(t, 1.0, 2.0);
        for (uint32_t i = c.offsets[r]; i < c.offsets[r + 1]; i++) {
            double dt = tu_uniform(t, 0.01, 0.1);
            tt += dt;
            c.iv[2 * i] = tt, c.iv[2 * i + 1] = dt;
            double smax = kind == 0 ? 3 : kind == 1 ? 20 : kind == 2 ? 300 : 0.2;
            c.sigma[i] = tu_uniform(t, 0, smax);
        }
    }
    tu_fill_uniform(t, c.rgb, 3 * N, 0, 1);
    tu_fill_normal(t, c.nrm, 3 * N, 1);
    tu_fill_uniform(t, c.bg, 3 * (size_t)c.rays, 0, 1);
    tu_round_f32(c.sigma, N), tu_round_f32(c.rgb, 3 * N), tu_round_f32(c.iv, 2 * N), tu_round_f32(c.nrm, 3 * N);
    tu_round_f32(c.bg, 3 * (size_t)c.rays);
    size_t R = c.rays;
    c.g_rgb = tu_alloc_d(3 * R), c.g_op = tu_alloc_d(R), c.g_depth = tu_alloc_d(R), c.g_nrm = tu_alloc_d(3 * R);
    tu_fill_normal(t, c.g_rgb, 3 * R, 1), tu_fill_normal(t, c.g_op, R, 1), tu_fill_normal(t, c.g_depth, R, 0.3);
    tu_fill_normal(t, c.g_nrm, 3 * R, 1);
    tu_round_f32(c.g_rgb, 3 * R), tu_round_f32(c.g_op, R), tu_round_f32(c.g_depth, R), tu_round_f32(c.g_nrm, 3 * R);
    c.o_rgb = tu_alloc_d(3 * R), c.o_op = tu_alloc_d(R), c.o_depth = tu_alloc_d(R), c.o_nrm = tu_alloc_d(3 * R);
    return c;
}

static void comp_free(comp_data* c) {
    double* p[] = {c->sigma, c->rgb, c->iv, c->nrm, c->bg, c->g_rgb, c->g_op, c->g_depth, c->g_nrm,
                   c->o_rgb, c->o_op, c->o_depth, c->o_nrm};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
    free(c->offsets);
}

static void composite_case(tu_ctx* t, uint32_t views, uint32_t rpv, uint32_t max_samples, bool with_bg) {
    tu_case(t, "composite %ux%u rays, <= %u samples%s", views, rpv, max_samples, with_bg ? ", bg" : "");
    comp_data c = comp_make(t, views, rpv, max_samples);
    size_t N = c.N, R = c.rays;
    if (!with_bg) free(c.bg), c.bg = NULL;
    tu_buf off = upload_u32(t, c.offsets, R + 1);
    tu_buf sig = tu_upload_d(t, c.sigma, N), rgb = tu_upload_d(t, c.rgb, 3 * N), iv = tu_upload_d(t, c.iv, 2 * N),
           nrm = tu_upload_d(t, c.nrm, 3 * N);
    tu_buf bg = with_bg ? tu_upload_d(t, c.bg, 3 * R) : tu_alloc(t, 1);
    tu_buf o_rgb = tu_alloc(t, 3 * R), o_op = tu_alloc(t, R), o_depth = tu_alloc(t, R), o_nrm = tu_alloc(t, 3 * R),
           o_w = tu_alloc(t, N);
    vkd_volrend_image img = {o_rgb.addr, o_op.addr, o_depth.addr, o_nrm.addr};
    vkd_volrend_composite_forward(t->s, &img, o_w.addr, off.addr, sig.addr, rgb.addr, iv.addr, nrm.addr,
                                  with_bg ? bg.addr : 0, (uint32_t)R, rpv);
    tu_run(t);
    double* w_ref = tu_alloc_d(N);
    vkd_ref_volrend_composite_forward(c.o_rgb, c.o_op, c.o_depth, c.o_nrm, w_ref, c.offsets, c.sigma, c.rgb, c.iv,
                                      c.nrm, c.bg, (uint32_t)R, rpv);
    tu_expect_buf(t, "rgb", o_rgb, c.o_rgb, 1e-5, 1e-6);
    tu_expect_buf(t, "opacity", o_op, c.o_op, 1e-5, 1e-6);
    tu_expect_buf(t, "depth", o_depth, c.o_depth, 1e-5, 1e-6);
    tu_expect_buf(t, "normals", o_nrm, c.o_nrm, 1e-5, 1e-6);
    tu_expect_buf(t, "weights", o_w, w_ref, 1e-5, 1e-7);
    size_t terminated = 0;
    for (size_t i = 0; i < N; i++) terminated += w_ref[i] == 0 && c.sigma[i] > 0;
    if (R >= 8) tu_check(t, terminated > 0, "early termination exercised (%zu samples after T < 1e-4)", terminated);

    // Backward into prefilled gradients (accumulation), vs the reference.
    double *d_sig = tu_alloc_d(N), *d_rgb = tu_alloc_d(3 * N), *d_iv = tu_alloc_d(2 * N), *d_nrm = tu_alloc_d(3 * N),
           *d_bg = tu_alloc_d(3 * R);
    tu_fill_normal(t, d_sig, N, 1), tu_fill_normal(t, d_rgb, 3 * N, 1), tu_fill_normal(t, d_iv, 2 * N, 1);
    tu_fill_normal(t, d_nrm, 3 * N, 1), tu_fill_normal(t, d_bg, 3 * R, 1);
    tu_round_f32(d_sig, N), tu_round_f32(d_rgb, 3 * N), tu_round_f32(d_iv, 2 * N), tu_round_f32(d_nrm, 3 * N);
    tu_round_f32(d_bg, 3 * R);
    tu_buf gd_sig = tu_upload_d(t, d_sig, N), gd_rgb = tu_upload_d(t, d_rgb, 3 * N),
           gd_iv = tu_upload_d(t, d_iv, 2 * N), gd_nrm = tu_upload_d(t, d_nrm, 3 * N),
           gd_bg = tu_upload_d(t, d_bg, 3 * R);
    tu_buf g_rgb = tu_upload_d(t, c.g_rgb, 3 * R), g_op = tu_upload_d(t, c.g_op, R),
           g_depth = tu_upload_d(t, c.g_depth, R), g_nrm = tu_upload_d(t, c.g_nrm, 3 * R);
    vkd_volrend_image dout = {g_rgb.addr, g_op.addr, g_depth.addr, g_nrm.addr};
    vkd_volrend_composite_backward(t->s, gd_sig.addr, gd_rgb.addr, gd_iv.addr, gd_nrm.addr,
                                   with_bg ? gd_bg.addr : 0, &dout, off.addr, sig.addr, rgb.addr, iv.addr, nrm.addr,
                                   with_bg ? bg.addr : 0, (uint32_t)R, rpv);
    tu_run(t);
    double *r_sig = tu_alloc_d(N), *r_rgb = tu_alloc_d(3 * N), *r_iv = tu_alloc_d(2 * N), *r_nrm = tu_alloc_d(3 * N),
           *r_bg = tu_alloc_d(3 * R);
    vkd_ref_volrend_composite_backward(r_sig, r_rgb, r_iv, r_nrm, r_bg, c.g_rgb, c.g_op, c.g_depth, c.g_nrm,
                                       c.offsets, c.sigma, c.rgb, c.iv, c.nrm, c.bg, (uint32_t)R, rpv);
    double *a_sig = dup_d(d_sig, N), *a_rgb = dup_d(d_rgb, 3 * N), *a_iv = dup_d(d_iv, 2 * N),
           *a_nrm = dup_d(d_nrm, 3 * N), *a_bg = dup_d(d_bg, 3 * R);
    for (size_t i = 0; i < N; i++) a_sig[i] += r_sig[i];
    for (size_t i = 0; i < 3 * N; i++) a_rgb[i] += r_rgb[i], a_nrm[i] += r_nrm[i];
    for (size_t i = 0; i < 2 * N; i++) a_iv[i] += r_iv[i];
    for (size_t i = 0; i < 3 * R; i++) a_bg[i] += with_bg ? r_bg[i] : 0;
    tu_expect_buf(t, "d_sigma (accumulated)", gd_sig, a_sig, 1e-4, 2e-5);
    tu_expect_buf(t, "d_rgb (accumulated)", gd_rgb, a_rgb, 1e-4, 1e-5);
    tu_expect_buf(t, "d_intervals (accumulated)", gd_iv, a_iv, 1e-4, 2e-5);
    tu_expect_buf(t, "d_normals (accumulated)", gd_nrm, a_nrm, 1e-4, 1e-5);
    tu_expect_buf(t, "d_bg (accumulated)", gd_bg, a_bg, 1e-4, 1e-5);

    // The reference backward against central differences of the reference forward.
    size_t probe = t->quick ? 40 : 120;
    fd_check(t, "d_sigma", comp_loss, &c, c.sigma, N, r_sig, probe, 1e-6, 1e-6);
    fd_check(t, "d_rgb", comp_loss, &c, c.rgb, 3 * N, r_rgb, probe, 1e-6, 1e-6);
    fd_check(t, "d_intervals (t, dt)", comp_loss, &c, c.iv, 2 * N, r_iv, probe, 1e-6, 1e-6);
    fd_check(t, "d_normals", comp_loss, &c, c.nrm, 3 * N, r_nrm, probe, 1e-6, 1e-6);
    if (with_bg) fd_check(t, "d_bg", comp_loss, &c, c.bg, 3 * R, r_bg, probe, 1e-6, 1e-6);

    // Gradients skipped (0 addresses) and partial cotangents: only d_sigma with d rgb alone.
    tu_buf gd2 = tu_zeros(t, N);
    vkd_volrend_image dout_rgb = {.rgb = g_rgb.addr};
    vkd_volrend_composite_backward(t->s, gd2.addr, 0, 0, 0, 0, &dout_rgb, off.addr, sig.addr, rgb.addr, iv.addr, 0,
                                   with_bg ? bg.addr : 0, (uint32_t)R, rpv);
    tu_run(t);
    double* r2 = tu_alloc_d(N);
    vkd_ref_volrend_composite_backward(r2, NULL, NULL, NULL, NULL, c.g_rgb, NULL, NULL, NULL, c.offsets, c.sigma,
                                       c.rgb, c.iv, NULL, c.bg, (uint32_t)R, rpv);
    tu_expect_buf(t, "d_sigma from d rgb only", gd2, r2, 1e-4, 2e-5);
    free(r2);
    tu_free(t, &gd2);

    double* frees[] = {w_ref, d_sig, d_rgb, d_iv, d_nrm, d_bg, r_sig, r_rgb, r_iv, r_nrm, r_bg,
                       a_sig, a_rgb, a_iv,  a_nrm, a_bg};
    for (size_t i = 0; i < sizeof frees / sizeof frees[0]; i++) free(frees[i]);
    tu_buf* bufs[] = {&off,   &sig,    &rgb,    &iv,     &nrm,   &bg,    &o_rgb, &o_op,   &o_depth, &o_nrm, &o_w,
                      &gd_sig, &gd_rgb, &gd_iv, &gd_nrm, &gd_bg, &g_rgb, &g_op, &g_depth, &g_nrm};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) tu_free(t, bufs[i]);
    comp_free(&c);
}

static void composite_tests(tu_ctx* t) {
    composite_case(t, 1, 1, 9, true);
    composite_case(t, 2, 15, 40, true);
    composite_case(t, 3, 7, 33, false);
    composite_case(t, 1, 257, 150, true);
}

// ---------------------------------------------------------------------------
// Normals

typedef struct vec_fd {
    double* x;
    const double* g;
    double* out;
    size_t n;
    double eps;
    // shading
    const double *albedo, *normals, *positions, *lights, *dirs, *weights;
    double *albedo_m, *normals_m;
    const uint32_t* ray;
    uint32_t rpv;
    const vkd_volrend_shade_desc* shade;
    vkd_volrend_opacity_loss kind;
    double scale;
} vec_fd;

static double normals_loss(void* user) {
    vec_fd* v = user;
    vkd_ref_volrend_normals_forward(v->out, v->x, v->n, v->eps);
    return tu_dot(v->out, v->g, 3 * v->n);
}

static void normals_case(tu_ctx* t, size_t n, float eps) {
    tu_case(t, "normals n=%zu eps=%g", n, eps);
    double *g = tu_alloc_d(3 * n), *dn = tu_alloc_d(3 * n), *pre = tu_alloc_d(3 * n);
    tu_fill_normal(t, g, 3 * n, 1.0);
    tu_fill_normal(t, dn, 3 * n, 1.0);
    tu_fill_normal(t, pre, 3 * n, 1.0);
    tu_round_f32(g, 3 * n), tu_round_f32(dn, 3 * n), tu_round_f32(pre, 3 * n);
    tu_buf gg = tu_upload_d(t, g, 3 * n), gdn = tu_upload_d(t, dn, 3 * n), gout = tu_alloc(t, 3 * n),
           gdg = tu_upload_d(t, pre, 3 * n);
    vkd_volrend_normals_forward(t->s, gout.addr, gg.addr, (uint32_t)n, eps);
    vkd_volrend_normals_backward(t->s, gdg.addr, gdn.addr, gg.addr, (uint32_t)n, eps);
    tu_run(t);
    double* ref = tu_alloc_d(3 * n);
    vkd_ref_volrend_normals_forward(ref, g, n, eps);
    tu_expect_buf(t, "normals", gout, ref, 1e-5, 1e-6);
    double* dref = tu_alloc_d(3 * n);
    vkd_ref_volrend_normals_backward(dref, dn, g, n, eps);
    for (size_t i = 0; i < 3 * n; i++) pre[i] += dref[i];
    tu_expect_buf(t, "d_grad (accumulated)", gdg, pre, 1e-4, 1e-5);
    vec_fd v = {.x = g, .g = dn, .out = tu_alloc_d(3 * n), .n = n, .eps = eps > 0 ? eps : 1e-12};
    fd_check(t, "d_grad", normals_loss, &v, g, 3 * n, dref, 90, 1e-6, 1e-6);
    free(v.out);
    free(g), free(dn), free(pre), free(ref), free(dref);
    tu_free(t, &gg), tu_free(t, &gdn), tu_free(t, &gout), tu_free(t, &gdg);
}

// ---------------------------------------------------------------------------
// Shading

static double shade_loss(void* user) {
    vec_fd* v = user;
    vkd_ref_volrend_shade_forward(v->out, v->albedo_m, v->normals_m, v->positions, v->ray, v->lights, v->n, v->rpv,
                                  v->shade);
    return tu_dot(v->out, v->g, 3 * v->n);
}

static void shade_case(tu_ctx* t, size_t n, uint32_t views, vkd_volrend_shading mode, bool custom) {
    static const char* names[] = {"albedo", "lambertian", "textureless"};
    tu_case(t, "shade %s n=%zu views=%u%s", names[mode], n, views, custom ? " custom light" : "");
    uint32_t rpv = 5;
    double *alb = tu_alloc_d(3 * n), *nrm = tu_alloc_d(3 * n), *pos = tu_alloc_d(3 * n),
           *lights = tu_alloc_d(3 * views), *dc = tu_alloc_d(3 * n), *pa = tu_alloc_d(3 * n), *pn = tu_alloc_d(3 * n);
    uint32_t* ray = calloc(n, 4);
    tu_fill_uniform(t, alb, 3 * n, 0, 1);
    tu_fill_normal(t, nrm, 3 * n, 1);
    vkd_ref_volrend_normals_forward(nrm, nrm, n, 1e-12);  // unit normals, as the renderer feeds them
    tu_fill_uniform(t, pos, 3 * n, -1, 1);
    tu_fill_normal(t, lights, 3 * views, 3);
    tu_fill_normal(t, dc, 3 * n, 1), tu_fill_normal(t, pa, 3 * n, 1), tu_fill_normal(t, pn, 3 * n, 1);
    for (size_t i = 0; i < n; i++) ray[i] = (uint32_t)tu_uniform(t, 0, views * rpv - 1e-9);
    double* all[] = {alb, nrm, pos, lights, dc, pa, pn};
    size_t sizes[] = {3 * n, 3 * n, 3 * n, 3 * (size_t)views, 3 * n, 3 * n, 3 * n};
    for (int i = 0; i < 7; i++) tu_round_f32(all[i], sizes[i]);
    vkd_volrend_shade_desc desc = {.mode = mode};
    if (custom)
        desc = (vkd_volrend_shade_desc){.mode = mode, .ambient = {0.2f, 0.3f, 0.05f}, .diffuse = {0.5f, 0.8f, 1.1f}};
    tu_buf ga = tu_upload_d(t, alb, 3 * n), gn = tu_upload_d(t, nrm, 3 * n), gp = tu_upload_d(t, pos, 3 * n),
           gl = tu_upload_d(t, lights, 3 * views), gr = upload_u32(t, ray, n), gc = tu_alloc(t, 3 * n),
           gdc = tu_upload_d(t, dc, 3 * n), gda = tu_upload_d(t, pa, 3 * n), gdn = tu_upload_d(t, pn, 3 * n);
    vkd_volrend_shade_forward(t->s, gc.addr, ga.addr, gn.addr, gp.addr, gr.addr, gl.addr, (uint32_t)n, rpv, &desc);
    vkd_volrend_shade_backward(t->s, gda.addr, gdn.addr, gdc.addr, ga.addr, gn.addr, gp.addr, gr.addr, gl.addr,
                               (uint32_t)n, rpv, &desc);
    tu_run(t);
    double* ref = tu_alloc_d(3 * n);
    vkd_ref_volrend_shade_forward(ref, alb, nrm, pos, ray, lights, n, rpv, &desc);
    tu_expect_buf(t, "color", gc, ref, 1e-5, 1e-6);
    double *ra = tu_alloc_d(3 * n), *rn = tu_alloc_d(3 * n);
    vkd_ref_volrend_shade_backward(ra, rn, dc, alb, nrm, pos, ray, lights, n, rpv, &desc);
    for (size_t i = 0; i < 3 * n; i++) pa[i] += ra[i], pn[i] += rn[i];
    tu_expect_buf(t, "d_albedo (accumulated)", gda, pa, 1e-4, 1e-5);
    tu_expect_buf(t, "d_normals (accumulated)", gdn, pn, 1e-4, 1e-5);
    vec_fd v = {.g = dc, .out = tu_alloc_d(3 * n), .n = n, .positions = pos, .lights = lights, .ray = ray,
                .rpv = rpv, .shade = &desc, .albedo_m = alb, .normals_m = nrm};
    if (mode == VKD_VOLREND_SHADE_ALBEDO || mode == VKD_VOLREND_SHADE_LAMBERTIAN)
        fd_check(t, "d_albedo", shade_loss, &v, alb, 3 * n, ra, 90, 1e-6, 1e-6);
    if (mode != VKD_VOLREND_SHADE_ALBEDO) fd_check(t, "d_normals", shade_loss, &v, nrm, 3 * n, rn, 90, 1e-6, 1e-6);
    free(v.out);
    for (int i = 0; i < 7; i++) free(all[i]);
    free(ray), free(ref), free(ra), free(rn);
    tu_buf* bufs[] = {&ga, &gn, &gp, &gl, &gr, &gc, &gdc, &gda, &gdn};
    for (int i = 0; i < 9; i++) tu_free(t, bufs[i]);
}

// ---------------------------------------------------------------------------
// Regularisers

static double opacity_loss_fn(void* user) {
    vec_fd* v = user;
    return vkd_ref_volrend_opacity_loss_forward(v->x, v->n, v->kind, v->scale, v->eps);
}

static void opacity_loss_case(tu_ctx* t, size_t n, vkd_volrend_opacity_loss kind) {
    static const char* names[] = {"L1", "sqrt", "entropy"};
    tu_case(t, "opacity loss %s n=%zu", names[kind], n);
    double* o = tu_alloc_d(n);
    // Opacities in [0, 1] plus a few outside the entropy's clamp range (0 and 1 exactly).
    tu_fill_uniform(t, o, n, 0.002, 0.998);
    if (n > 4) o[1] = 0, o[3] = 1;
    tu_round_f32(o, n);
    double* pre = tu_alloc_d(n);
    tu_fill_normal(t, pre, n, 1);
    tu_round_f32(pre, n);
    double scale = 1.0 / (double)n, d_loss = 0.7;
    tu_buf go = tu_upload_d(t, o, n), gl = tu_alloc(t, 1), gd = tu_upload_d(t, pre, n);
    vkd_volrend_opacity_loss_forward(t->s, gl.addr, go.addr, (uint32_t)n, kind, (float)scale, 0);
    vkd_volrend_opacity_loss_backward(t->s, gd.addr, (float)d_loss, go.addr, (uint32_t)n, kind, (float)scale, 0);
    tu_run(t);
    double loss = vkd_ref_volrend_opacity_loss_forward(o, n, kind, (float)scale, 0);
    tu_expect_buf(t, "loss", gl, &loss, 1e-5, 1e-7);
    double* g = tu_alloc_d(n);
    vkd_ref_volrend_opacity_loss_backward(g, 1.0, o, n, kind, (float)scale, 0);
    for (size_t i = 0; i < n; i++) pre[i] += d_loss * g[i];
    tu_expect_buf(t, "d_opacity (accumulated)", gd, pre, 1e-5, 1e-7);
    // Probe only interior points: the clamp / |o| kinks have one-sided derivatives.
    vec_fd v = {.x = o, .n = n, .kind = kind, .scale = (float)scale,
                .eps = kind == VKD_VOLREND_OPACITY_ENTROPY ? (double)1e-3f : (double)0.01f};
    double* want = tu_alloc_d(n);
    double* got = tu_alloc_d(n);
    size_t m = 0;
    for (size_t i = 0; i < n && m < 64; i++) {
        if (o[i] < 0.01 || o[i] > 0.99) continue;
        tu_fd_grad(opacity_loss_fn, &v, o + i, 1, 1e-6, &want[m]);
        got[m++] = g[i];
    }
    tu_check_close(t, "ref d_opacity vs central differences", got, want, m, 1e-6, 1e-10);
    free(o), free(pre), free(g), free(want), free(got);
    tu_free(t, &go), tu_free(t, &gl), tu_free(t, &gd);
}

static double orient_loss_fn(void* user) {
    vec_fd* v = user;
    return vkd_ref_volrend_orientation_loss_forward(v->weights, v->x, v->dirs, v->n, v->scale);
}

static void orient_loss_case(tu_ctx* t, size_t n) {
    tu_case(t, "orientation loss n=%zu", n);
    double *w = tu_alloc_d(n), *nrm = tu_alloc_d(3 * n), *d = tu_alloc_d(3 * n), *pre = tu_alloc_d(3 * n);
    tu_fill_uniform(t, w, n, 0, 1);
    tu_fill_normal(t, nrm, 3 * n, 1);
    vkd_ref_volrend_normals_forward(nrm, nrm, n, 1e-12);
    tu_fill_normal(t, d, 3 * n, 1);
    vkd_ref_volrend_normals_forward(d, d, n, 1e-12);
    tu_fill_normal(t, pre, 3 * n, 1);
    tu_round_f32(w, n), tu_round_f32(nrm, 3 * n), tu_round_f32(d, 3 * n), tu_round_f32(pre, 3 * n);
    double scale = 0.25, d_loss = 1.5;
    tu_buf gw = tu_upload_d(t, w, n), gn = tu_upload_d(t, nrm, 3 * n), gdir = tu_upload_d(t, d, 3 * n),
           gl = tu_alloc(t, 1), gd = tu_upload_d(t, pre, 3 * n);
    vkd_volrend_orientation_loss_forward(t->s, gl.addr, gw.addr, gn.addr, gdir.addr, (uint32_t)n, (float)scale);
    vkd_volrend_orientation_loss_backward(t->s, gd.addr, (float)d_loss, gw.addr, gn.addr, gdir.addr, (uint32_t)n,
                                          (float)scale);
    tu_run(t);
    double loss = vkd_ref_volrend_orientation_loss_forward(w, nrm, d, n, scale);
    tu_expect_buf(t, "loss", gl, &loss, 1e-5, 1e-7);
    double* g = tu_alloc_d(3 * n);
    vkd_ref_volrend_orientation_loss_backward(g, 1.0, w, nrm, d, n, scale);
    for (size_t i = 0; i < 3 * n; i++) pre[i] += d_loss * g[i];
    tu_expect_buf(t, "d_normals (accumulated)", gd, pre, 1e-5, 1e-6);
    vec_fd v = {.x = nrm, .n = n, .weights = w, .dirs = d, .scale = scale};
    fd_check(t, "d_normals", orient_loss_fn, &v, nrm, 3 * n, g, 90, 1e-6, 1e-6);
    free(w), free(nrm), free(d), free(pre), free(g);
    tu_free(t, &gw), tu_free(t, &gn), tu_free(t, &gdir), tu_free(t, &gl), tu_free(t, &gd);
}

// ---------------------------------------------------------------------------
// End to end: a sphere of radius r0 and constant density sigma, rendered through the occupancy
// grid, the marcher and the compositor, against the closed form 1 - exp(-sigma * chord).

static double sphere_density(const double* p, double r0, double sigma) {
    return p[0] * p[0] + p[1] * p[1] + p[2] * p[2] < r0 * r0 ? sigma : 0.0;
}

// Evaluates the analytic density at n positions of a device buffer into a new device buffer.
static tu_buf eval_density(tu_ctx* t, tu_buf pos, size_t n, double r0, double sigma) {
    double* p = tu_download_d(t, pos);
    double* s = tu_alloc_d(n);
    for (size_t i = 0; i < n; i++) s[i] = sphere_density(p + 3 * i, r0, sigma);
    tu_buf b = tu_upload_d(t, s, n);
    free(p), free(s);
    return b;
}

// Marches the rays with desc, evaluates the sphere's density at the samples and composites;
// returns N and the opacity and depth images (float64 host arrays).
static uint32_t render_sphere(tu_ctx* t, const vkd_volrend_march_desc* desc, tu_buf o, tu_buf d, tu_buf nf,
                              uint32_t rays, double r0, double sigma, double** opacity, double** depth) {
    tu_buf off = tu_alloc(t, rays + 1);
    tu_buf scratch = tu_alloc(t, vkd_volrend_march_scratch_bytes(rays) / 4 + 1);
    vkd_volrend_march_count(t->s, off.addr, o.addr, d.addr, nf.addr, rays, desc, scratch.addr);
    tu_run(t);
    uint32_t* offs = download_u32(t, off, rays + 1);
    uint32_t N = offs[rays];
    free(offs);
    tu_buf pos = tu_alloc(t, 3 * (size_t)N), iv = tu_alloc(t, 2 * (size_t)N);
    vkd_volrend_samples smp = {.positions = pos.addr, .intervals = iv.addr};
    vkd_volrend_march_emit(t->s, &smp, off.addr, o.addr, d.addr, nf.addr, rays, desc);
    tu_run(t);
    tu_buf sig = eval_density(t, pos, N, r0, sigma);
    tu_buf rgb = tu_zeros(t, 3 * (size_t)N), op = tu_alloc(t, rays), dp = tu_alloc(t, rays);
    vkd_volrend_image img = {.opacity = op.addr, .depth = dp.addr};
    vkd_volrend_composite_forward(t->s, &img, 0, off.addr, sig.addr, rgb.addr, iv.addr, 0, 0, rays, rays);
    tu_run(t);
    *opacity = tu_download_d(t, op);
    *depth = tu_download_d(t, dp);
    tu_buf* bufs[] = {&off, &scratch, &pos, &iv, &sig, &rgb, &op, &dp};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) tu_free(t, bufs[i]);
    return N;
}

static void sphere_case(tu_ctx* t, int size, uint32_t num_steps, uint32_t res) {
    tu_case(t, "analytic sphere %dx%d steps=%u grid %u^3", size, size, num_steps, res);
    const double r0 = 0.6, sigma = 3.0;
    float radius = 1.0f;
    vkd_occgrid* grid = NULL;
    vkd_error err = {0};
    if (!tu_check(t, vkd_occgrid_create(t->gpu, &(vkd_occgrid_desc){.resolution = res, .radius = radius}, &grid,
                                        &err) == VKD_OK,
                  "occgrid_create: %s", err.msg))
        return;
    vkd_occgrid_reset(grid, t->s);
    // Warm-up rounds over every cell, then rounds over uniform + occupied cells, as in training.
    for (int round = 0; round < 8; round++) {
        bool all = round < 4;
        uint32_t m = vkd_occgrid_sample_count(grid, all);
        tu_buf pos = tu_alloc(t, 3 * (size_t)m);
        vkd_occgrid_sample(grid, t->s, pos.addr, all, 77u + (uint32_t)round);
        tu_run(t);
        // A conservative oracle (the sphere grown by a cell diagonal), so every cell the sphere
        // touches ends up occupied and skipping empty cells must not change the picture.
        tu_buf dens = eval_density(t, pos, m, r0 + sqrt(3.0) * 2.0 * radius / res, sigma);
        vkd_occgrid_update(grid, t->s, dens.addr, &(vkd_occgrid_update_desc){0});
        tu_run(t);
        tu_free(t, &pos);
        tu_free(t, &dens);
    }
    vkd_camera cam = test_camera(35, 25, 2.5, size, size, 50);
    uint32_t rays = (uint32_t)(size * size);
    tu_buf o = tu_alloc(t, 3 * rays), d = tu_alloc(t, 3 * rays), nf = tu_alloc(t, 2 * rays);
    vkd_volrend_rays(t->s, o.addr, d.addr, nf.addr, &cam, 1, radius);
    vkd_volrend_march_desc desc = {.radius = radius, .num_steps = num_steps, .stratified = true, .seed = 5,
                                   .grid_bits = vkd_occgrid_bits(grid), .grid_res = res};
    vkd_volrend_march_desc desc_all = desc;
    desc_all.grid_bits = 0;
    double *gop, *gdepth, *op_all, *depth_all;
    uint32_t N = render_sphere(t, &desc, o, d, nf, rays, r0, sigma, &gop, &gdepth);
    uint32_t N_all = render_sphere(t, &desc_all, o, d, nf, rays, r0, sigma, &op_all, &depth_all);
    tu_check(t, N > 0 && N * 2 < N_all, "occupancy grid skips empty space: %u of %u samples", N, N_all);
    // Every cell the sphere touches is occupied, so skipping must not change the picture.
    tu_check_close(t, "opacity with the grid vs without", gop, op_all, rays, 1e-6, 1e-6);
    tu_check_close(t, "depth with the grid vs without", gdepth, depth_all, rays, 1e-6, 1e-6);
    double *ro = tu_download_d(t, o), *rd = tu_download_d(t, d);
    double step = vkd_volrend_step(&desc);
    double max_err = 0, sum_err = 0, max_depth_err = 0, depth_tol = 0;
    uint32_t hits = 0;
    for (uint32_t r = 0; r < rays; r++) {
        double b = 0, oo = 0;
        for (int k = 0; k < 3; k++) b += ro[3 * r + k] * rd[3 * r + k], oo += ro[3 * r + k] * ro[3 * r + k];
        double h2 = r0 * r0 - (oo - b * b);  // squared half chord
        double chord = h2 > 0 ? 2 * sqrt(h2) : 0;
        double want = 1 - exp(-sigma * chord);
        double e = fabs(gop[r] - want);
        max_err = fmax(max_err, e);
        sum_err += e;
        hits += chord > 0;
        if (chord > 0) {
            // Expected depth: integral of t sigma exp(-sigma (t - t0)) over the chord. The
            // lattice moves the entry by up to dt / 2 and the optical depth by up to sigma dt.
            double t0 = -b - sqrt(h2), L = chord;
            double want_d = t0 * want + (1 - exp(-sigma * L) * (1 + sigma * L)) / sigma;
            double err = fabs(gdepth[r] - want_d), tol = (t0 + L) * sigma * step + step;
            if (depth_tol == 0 || err - tol > max_depth_err - depth_tol) max_depth_err = err, depth_tol = tol;
        }
    }
    // The midpoints inside a chord of length L number L / dt rounded up or down: the optical
    // depth is off by at most sigma dt.
    double tol = sigma * step * 1.01 + 1e-5;
    tu_check(t, hits > rays / 8, "%u of %u rays cross the sphere", hits, rays);
    tu_check(t, max_err <= tol, "opacity vs 1 - exp(-sigma chord): max |d| %.4g (tol %.4g), mean %.3g", max_err,
             tol, sum_err / rays);
    tu_check(t, sum_err / rays <= 0.25 * tol, "mean opacity error %.3g <= %.3g", sum_err / rays, 0.25 * tol);
    tu_check(t, depth_tol > 0 && max_depth_err <= depth_tol, "depth vs closed form: worst |d| %.4g (tol %.4g)",
             max_depth_err, depth_tol);
    free(gop), free(gdepth), free(op_all), free(depth_all), free(ro), free(rd);
    tu_free(t, &o), tu_free(t, &d), tu_free(t, &nf);
    vkd_occgrid_destroy(grid);
}

// ---------------------------------------------------------------------------
// Timing (VKD_VOLREND_BENCH=1): samples/s of marching + compositing forward + backward.

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void bench_case(tu_ctx* t, int size, uint32_t num_steps, bool full_grid) {
    tu_case(t, "bench %dx%d steps=%u %s", size, size, num_steps, full_grid ? "all cells occupied" : "sphere grid");
    uint32_t res = 128;
    vkd_occgrid* grid = NULL;
    vkd_error err = {0};
    if (vkd_occgrid_create(t->gpu, &(vkd_occgrid_desc){.resolution = res}, &grid, &err)) {
        tu_check(t, false, "occgrid_create: %s", err.msg);
        return;
    }
    vkd_occgrid_reset(grid, t->s);
    if (!full_grid) {
        uint32_t m = vkd_occgrid_sample_count(grid, true);
        tu_buf pos = tu_alloc(t, 3 * (size_t)m);
        vkd_occgrid_sample(grid, t->s, pos.addr, true, 1);
        tu_run(t);
        tu_buf dens = eval_density(t, pos, m, 0.6, 3.0);
        vkd_occgrid_update(grid, t->s, dens.addr, NULL);
        tu_run(t);
        tu_free(t, &pos), tu_free(t, &dens);
    }
    vkd_camera cam = test_camera(35, 25, 2.5, size, size, 50);
    uint32_t rays = (uint32_t)(size * size);
    tu_buf o = tu_alloc(t, 3 * rays), d = tu_alloc(t, 3 * rays), nf = tu_alloc(t, 2 * rays);
    tu_buf off = tu_alloc(t, rays + 1);
    tu_buf scratch = tu_alloc(t, vkd_volrend_march_scratch_bytes(rays) / 4 + 1);
    vkd_volrend_rays(t->s, o.addr, d.addr, nf.addr, &cam, 1, 1.0f);
    tu_run(t);
    vkd_volrend_march_desc desc = {.num_steps = num_steps, .stratified = true, .grid_bits = vkd_occgrid_bits(grid),
                                   .grid_res = res};
    // Buffers for the worst case (every lattice point), so each iteration only reads the count.
    size_t cap = (size_t)rays * (size_t)(2.0 / vkd_volrend_step(&desc) + 2);
    tu_buf pos = tu_alloc(t, 3 * cap), sd = tu_alloc(t, 3 * cap), iv = tu_alloc(t, 2 * cap), ray = tu_alloc(t, cap);
    tu_buf sig = tu_alloc(t, cap), rgb = tu_alloc(t, 3 * cap), dsig = tu_zeros(t, cap), drgb = tu_zeros(t, 3 * cap);
    vkd_stream_fill(t->s, sig.addr, (uint32_t)cap, 0x40000000u);  // sigma = 2
    vkd_stream_fill(t->s, rgb.addr, (uint32_t)(3 * cap), 0x3f000000u);
    tu_buf img_rgb = tu_alloc(t, 3 * rays), img_op = tu_alloc(t, rays), img_d = tu_alloc(t, rays);
    tu_buf g_rgb = tu_alloc(t, 3 * rays), g_op = tu_alloc(t, rays);
    vkd_stream_fill(t->s, g_rgb.addr, 3 * rays, 0x3f800000u);
    vkd_stream_fill(t->s, g_op.addr, rays, 0x3f800000u);
    tu_run(t);
    int iters = 5;
    double t0 = 0, samples = 0;
    for (int it = -1; it < iters; it++) {  // iteration -1 warms the pipelines up
        if (it == 0) t0 = now_s();
        desc.seed = (uint32_t)it;
        vkd_volrend_march_count(t->s, off.addr, o.addr, d.addr, nf.addr, rays, &desc, scratch.addr);
        vkd_error e = {0};
        vkd_stream_submit(t->s, &e);
        uint32_t N = 0;
        vkd_buffer_download(t->gpu, &off.b, (size_t)rays * 4, &N, 4, &e);
        vkd_volrend_samples smp = {pos.addr, sd.addr, iv.addr, ray.addr};
        vkd_volrend_march_emit(t->s, &smp, off.addr, o.addr, d.addr, nf.addr, rays, &desc);
        vkd_volrend_image img = {img_rgb.addr, img_op.addr, img_d.addr, 0};
        vkd_volrend_composite_forward(t->s, &img, 0, off.addr, sig.addr, rgb.addr, iv.addr, 0, 0, rays, rays);
        vkd_volrend_image dout = {.rgb = g_rgb.addr, .opacity = g_op.addr};
        vkd_volrend_composite_backward(t->s, dsig.addr, drgb.addr, 0, 0, 0, &dout, off.addr, sig.addr, rgb.addr,
                                       iv.addr, 0, 0, rays, rays);
        vkd_stream_submit(t->s, &e);
        if (it >= 0) samples += N;
    }
    double dt = now_s() - t0;
    printf("volrend bench %dx%d, %u steps/ray (dt %.4g), %s: %.0f samples/iteration, %.2f ms/iteration, "
           "%.3g samples/s (march + composite fwd + bwd)\n",
           size, size, num_steps, vkd_volrend_step(&desc), full_grid ? "all cells occupied" : "sphere r=0.6 grid",
           samples / iters, 1e3 * dt / iters, samples / dt);
    tu_check(t, samples > 0, "bench ran");
    tu_buf* bufs[] = {&o, &d, &nf, &off, &scratch, &pos, &sd, &iv, &ray, &sig, &rgb, &dsig, &drgb,
                      &img_rgb, &img_op, &img_d, &g_rgb, &g_op};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) tu_free(t, bufs[i]);
    vkd_occgrid_destroy(grid);
}

// ---------------------------------------------------------------------------
// Solid backgrounds and argument checking

static void fill_bg_case(tu_ctx* t, uint32_t rays) {
    tu_case(t, "fill_bg rays=%u", rays);
    tu_buf bg = tu_alloc(t, 3 * (size_t)rays);
    const float rgb[3] = {0.25f, -1.5f, 3.0f};
    vkd_volrend_fill_bg(t->s, bg.addr, rays, rgb);
    tu_run(t);
    double* ref = tu_alloc_d(3 * (size_t)rays);
    for (size_t i = 0; i < 3 * (size_t)rays; i++) ref[i] = rgb[i % 3];
    tu_expect_buf(t, "bg", bg, ref, 0, 0);
    free(ref);
    tu_free(t, &bg);
}

static void expect_rejected(tu_ctx* t, const char* what, const char* needle) {
    vkd_error e = {0};
    vkd_status st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, needle), "%s rejected: \"%s\"", what, e.msg);
}

static void error_cases(tu_ctx* t) {
    tu_case(t, "bad arguments");
    tu_buf b = tu_alloc(t, 64);
    vkd_addr a = b.addr;
    vkd_volrend_image img = {.rgb = a};
    vkd_volrend_composite_forward(t->s, &img, 0, a, a, a, a, 0, 0, 5, 2);
    expect_rejected(t, "rays not a multiple of rays_per_view", "volrend_composite_forward: rays = 5");
    img.normals = a;
    vkd_volrend_composite_forward(t->s, &img, 0, a, a, a, a, 0, 0, 4, 2);
    expect_rejected(t, "normal image without per-sample normals", "out->normals");
    vkd_volrend_march_desc d = {.grid_bits = a};
    vkd_volrend_march_count(t->s, a, a, a, a, 4, &d, a);
    expect_rejected(t, "grid bits without a resolution", "volrend_march_count: grid_res = 0");
    d = (vkd_volrend_march_desc){.step = -1};
    vkd_volrend_march_emit(t->s, &(vkd_volrend_samples){.positions = a}, a, a, a, a, 4, &d);
    expect_rejected(t, "negative step", "volrend_march_emit: step");
    vkd_volrend_shade_forward(t->s, a, a, a, a, a, a, 4, 2, &(vkd_volrend_shade_desc){.mode = 7});
    expect_rejected(t, "unknown shading mode", "volrend_shade_forward: mode = 7");
    vkd_volrend_shade_forward(t->s, a, a, 0, a, a, a, 4, 2, &(vkd_volrend_shade_desc){.mode = 1});
    expect_rejected(t, "lambertian without normals", "volrend_shade_forward");
    vkd_volrend_opacity_loss_forward(t->s, a, a, 4, (vkd_volrend_opacity_loss)9, 1, 0);
    expect_rejected(t, "unknown opacity loss", "kind = 9");
    vkd_camera cams[2] = {test_camera(0, 0, 3, 8, 8, 50), test_camera(0, 0, 3, 8, 9, 50)};
    vkd_volrend_rays(t->s, a, a, a, cams, 2, 1);
    expect_rejected(t, "cameras of different sizes", "volrend_rays: camera 1 is 8x9");
    tu_free(t, &b);
}

// ---------------------------------------------------------------------------

void test_volrend(tu_ctx* t) {
    fill_bg_case(t, 1);
    fill_bg_case(t, 1000);
    error_cases(t);
    rays_tests(t);
    march_tests(t);
    composite_tests(t);
    normals_case(t, 1, 0);
    normals_case(t, 77, 0);
    normals_case(t, 40, 0.9f);  // many gradients shorter than eps: the clamped branch
    for (int m = 0; m < 3; m++) {
        shade_case(t, 33, 2, (vkd_volrend_shading)m, false);
        shade_case(t, 300, 3, (vkd_volrend_shading)m, m == 1);
    }
    for (int k = 0; k < 3; k++) {
        opacity_loss_case(t, 1, (vkd_volrend_opacity_loss)k);
        opacity_loss_case(t, 1000, (vkd_volrend_opacity_loss)k);
    }
    orient_loss_case(t, 1);
    orient_loss_case(t, 513);
    sphere_case(t, 24, 512, 32);
    if (!t->quick) sphere_case(t, 40, 256, 64);
    const char* b = getenv("VKD_VOLREND_BENCH");
    if (b && *b && strcmp(b, "0")) {
        bench_case(t, 64, 256, true);
        bench_case(t, 64, 256, false);
    }
}
