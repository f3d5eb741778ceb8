// Gaussian splatting backward: GPU gradients (rasterizer backward with atomics, projection
// backward) against the float64 reference backward, both against central finite differences of
// the reference forward, accumulation into pre-filled buffers, linearity in the cotangent, the
// compare-and-swap fallback, and the densification statistics (max 2D radius included). The
// normals image's gradient goes through the same checks.
#include "test_splat_scene.h"

enum { GROUP_MEANS, GROUP_SCALES, GROUP_QUATS, GROUP_OPACITY, GROUP_SH, GROUPS };
static const char* group_names[GROUPS] = {"means", "log_scales", "quats", "opacity_logits", "sh"};
// The densification statistics follow the groups in a grad_set.
enum { STAT_GRAD2D = GROUPS, STAT_VIS, STAT_RADIUS, GRAD_SET };
static const char* stat_names[3] = {"grad2d_norm", "vis_count", "max_radius"};

typedef struct cotangent {
    double *rgb, *alpha, *depth, *normal;  // NULL = no gradient for that output
    tu_buf g_rgb, g_alpha, g_depth, g_normal;
} cotangent;

static cotangent cotangent_make(tu_ctx* t, const scene* s, bool rgb, bool alpha, bool depth, bool normal) {
    cotangent c;
    memset(&c, 0, sizeof c);
    size_t px = scene_pixels(s);
    if (rgb) {
        c.rgb = tu_alloc_d(3 * px);
        tu_fill_normal(t, c.rgb, 3 * px, 1.0);
        scene_round(c.rgb, 3 * px);
        c.g_rgb = tu_upload_d(t, c.rgb, 3 * px);
    }
    if (alpha) {
        c.alpha = tu_alloc_d(px);
        tu_fill_normal(t, c.alpha, px, 1.0);
        scene_round(c.alpha, px);
        c.g_alpha = tu_upload_d(t, c.alpha, px);
    }
    if (depth) {
        c.depth = tu_alloc_d(px);
        tu_fill_normal(t, c.depth, px, 0.3);
        scene_round(c.depth, px);
        c.g_depth = tu_upload_d(t, c.depth, px);
    }
    if (normal) {
        c.normal = tu_alloc_d(3 * px);
        tu_fill_normal(t, c.normal, 3 * px, 1.0);
        scene_round(c.normal, 3 * px);
        c.g_normal = tu_upload_d(t, c.normal, 3 * px);
    }
    return c;
}

static void cotangent_free(tu_ctx* t, cotangent* c) {
    free(c->rgb);
    free(c->alpha);
    free(c->depth);
    free(c->normal);
    if (c->g_rgb.n) tu_free(t, &c->g_rgb);
    if (c->g_alpha.n) tu_free(t, &c->g_alpha);
    if (c->g_depth.n) tu_free(t, &c->g_depth);
    if (c->g_normal.n) tu_free(t, &c->g_normal);
}

static vkd_splat_outputs cotangent_outputs(const cotangent* c) {
    return (vkd_splat_outputs){.rgb = c->rgb ? c->g_rgb.addr : 0, .alpha = c->alpha ? c->g_alpha.addr : 0,
                               .depth = c->depth ? c->g_depth.addr : 0, .normal = c->normal ? c->g_normal.addr : 0};
}

static size_t group_size(const scene* s, int g) {
    size_t n = s->d.n;
    switch (g) {
    case GROUP_MEANS: return 3 * n;
    case GROUP_SCALES: return 3 * n;
    case GROUP_QUATS: return 4 * n;
    case GROUP_OPACITY: return n;
    default: return n * s->K * 3;
    }
}

static double* group_params(scene* s, int g) {
    double* p[GROUPS] = {s->means, s->log_scales, s->quats, s->logits, s->sh};
    return p[g];
}

// Gradient buffers for every group plus the three densification statistics, all pre-filled with
// random values so the checks also prove the backward adds (+=) or takes the max instead of
// overwriting.
typedef struct grad_set {
    double* prefill[GRAD_SET];
    tu_buf buf[GRAD_SET];
    size_t n[GRAD_SET];
} grad_set;

static grad_set grads_make(tu_ctx* t, const scene* s, bool prefill) {
    grad_set g;
    memset(&g, 0, sizeof g);
    for (int k = 0; k < GRAD_SET; k++) {
        g.n[k] = k < GROUPS ? group_size(s, k) : s->d.n;
        g.prefill[k] = tu_alloc_d(g.n[k]);
        if (prefill) tu_fill_normal(t, g.prefill[k], g.n[k], 1.0);
        if (prefill && k == STAT_VIS)  // visibility counts: whole numbers, so adding stays exact
            for (size_t i = 0; i < g.n[k]; i++) g.prefill[k][i] = floor(tu_uniform(t, 0, 8));
        if (prefill && k == STAT_RADIUS)  // radii seen before: some above, some below this call's
            for (size_t i = 0; i < g.n[k]; i++) g.prefill[k][i] = floor(tu_uniform(t, 0, 12));
        scene_round(g.prefill[k], g.n[k]);
        g.buf[k] = tu_upload_d(t, g.prefill[k], g.n[k]);
    }
    return g;
}

static void grads_free(tu_ctx* t, grad_set* g) {
    for (int k = 0; k < GRAD_SET; k++) {
        free(g->prefill[k]);
        tu_free(t, &g->buf[k]);
    }
}

static vkd_splat_grads grads_gpu(const grad_set* g) {
    return (vkd_splat_grads){.means = g->buf[GROUP_MEANS].addr, .log_scales = g->buf[GROUP_SCALES].addr,
                             .quats = g->buf[GROUP_QUATS].addr, .opacity_logits = g->buf[GROUP_OPACITY].addr,
                             .sh = g->buf[GROUP_SH].addr};
}

static vkd_splat_densify_stats stats_gpu(const grad_set* g) {
    return (vkd_splat_densify_stats){.grad2d_norm = g->buf[STAT_GRAD2D].addr, .vis_count = g->buf[STAT_VIS].addr,
                                     .max_radius = g->buf[STAT_RADIUS].addr};
}

// Downloads a gradient buffer minus its pre-fill: what the backward added. The max radius is
// not additive: it comes back as it is.
static double* grads_added(tu_ctx* t, const grad_set* g, int k) {
    double* got = tu_download_d(t, g->buf[k]);
    if (k != STAT_RADIUS)
        for (size_t i = 0; i < g->n[k]; i++) got[i] -= g->prefill[k][i];
    return got;
}

// The reference's statistics start from the same state as the GPU's: zero for the sums (the test
// compares what was added), the pre-fill for the max.
static void ref_stats_init(double* ref[GRAD_SET], const grad_set* g) {
    memcpy(ref[STAT_RADIUS], g->prefill[STAT_RADIUS], g->n[STAT_RADIUS] * sizeof(double));
}

// normals: render the normals image in the forward (needed when c has a normal cotangent).
static bool run_forward_backward(tu_ctx* t, vkd_splat_ctx* ctx, scene* s, const cotangent* c, grad_set* g,
                                 bool stats, bool normals) {
    vkd_error e = {0};
    tu_buf nimg = tu_alloc(t, 3 * scene_pixels(s));
    vkd_splat_outputs out = {.normal = normals ? nimg.addr : 0};
    vkd_status st = vkd_splat_forward(ctx, t->s, &out, &s->p, s->cams, s->d.views, s->bgf, &e);
    if (tu_check(t, st == VKD_OK, "vkd_splat_forward%s%s", st ? ": " : "", st ? e.msg : "")) {
        vkd_splat_grads gg = grads_gpu(g);
        vkd_splat_outputs dout = cotangent_outputs(c);
        vkd_splat_densify_stats sg = stats_gpu(g);
        st = vkd_splat_backward(ctx, t->s, &gg, stats ? &sg : NULL, &dout, &s->p, s->cams, s->d.views, &e);
        tu_check(t, st == VKD_OK, "vkd_splat_backward%s%s", st ? ": " : "", st ? e.msg : "");
    }
    bool ok = !st && tu_run(t);
    tu_free(t, &nimg);
    return ok;
}

typedef struct fd_closure {
    scene* s;
    const cotangent* c;
    double *rgb, *alpha, *depth, *normal;
} fd_closure;

static double ref_loss(void* user) {
    fd_closure* f = user;
    const scene* s = f->s;
    vkd_ref_splat_forward(f->rgb, f->alpha, f->depth, f->normal, &s->rp, s->cams, s->d.views, s->bg);
    size_t px = scene_pixels(s);
    double L = 0;
    if (f->c->rgb) L += tu_dot(f->rgb, f->c->rgb, 3 * px);
    if (f->c->alpha) L += tu_dot(f->alpha, f->c->alpha, px);
    if (f->c->depth) L += tu_dot(f->depth, f->c->depth, px);
    if (f->c->normal) L += tu_dot(f->normal, f->c->normal, 3 * px);
    return L;
}

// Finite differences of the reference forward on a subset of one group's parameters (the one
// with the largest gradient first, then random ones), against the reference and the GPU
// gradients. The loss has jumps (a pixel's alpha crossing the 1/255 cut, a tile rectangle
// gaining a tile); when the two one-sided differences disagree a jump lies within h on one
// side, and the second-order one-sided difference on the other (smooth) side is used.
static double fd_at(fd_closure* f, double* x, double L0, double h, bool* one_sided) {
    double x0 = *x, L[4];
    const double offs[4] = {-2, -1, 1, 2};
    for (int q = 1; q < 3; q++) {
        *x = x0 + offs[q] * h;
        L[q] = ref_loss(f);
    }
    *x = x0;
    double right = (L[2] - L0) / h, left = (L0 - L[1]) / h;
    *one_sided = false;
    if (fabs(right - left) <= 1e-2 * (1 + fabs(right) + fabs(left))) return (L[2] - L[1]) / (2 * h);
    for (int q = 0; q < 4; q += 3) {
        *x = x0 + offs[q] * h;
        L[q] = ref_loss(f);
    }
    *x = x0;
    *one_sided = true;
    // The smooth side is the one whose two steps agree.
    double dr = fabs((L[3] - L[2]) - (L[2] - L0)), dl = fabs((L[1] - L[0]) - (L0 - L[1]));
    if (dr <= dl) return (-3 * L0 + 4 * L[2] - L[3]) / (2 * h);
    return (3 * L0 - 4 * L[1] + L[0]) / (2 * h);
}

static void check_fd(tu_ctx* t, scene* s, const cotangent* c, int k, const double* ref, const double* gpu) {
    size_t n = group_size(s, k);
    if (!n) return;
    enum { SUBSET = 10 };
    size_t idx[SUBSET], m = 0, top = 0;
    for (size_t i = 1; i < n; i++)
        if (fabs(ref[i]) > fabs(ref[top])) top = i;
    idx[m++] = top;
    while (m < SUBSET && m < n) {
        size_t i = (size_t)tu_uniform(t, 0, (double)n);
        if (i >= n) i = n - 1;
        bool dup = false;
        for (size_t j = 0; j < m; j++) dup |= idx[j] == i;
        if (!dup) idx[m++] = i;
    }
    size_t px = scene_pixels(s);
    fd_closure f = {s, c, tu_alloc_d(3 * px), tu_alloc_d(px), tu_alloc_d(px), tu_alloc_d(3 * px)};
    double fd[SUBSET], r[SUBSET], g[SUBSET];
    double* x = group_params(s, k);
    double L0 = ref_loss(&f);
    size_t one_sided = 0;
    for (size_t j = 0; j < m; j++) {
        bool os;
        fd[j] = fd_at(&f, &x[idx[j]], L0, 1e-6, &os);
        one_sided += os;
        r[j] = ref[idx[j]];
        g[j] = gpu[idx[j]];
    }
    char what[128];
    snprintf(what, sizeof what, "%s: reference vs finite differences (%zu one-sided at a jump)", group_names[k],
             one_sided);
    tu_check_close(t, what, r, fd, m, 1e-5, 1e-6);
    snprintf(what, sizeof what, "%s: GPU vs finite differences", group_names[k]);
    tu_check_close(t, what, g, fd, m, 5e-4, 1e-5);
    free(f.rgb);
    free(f.alpha);
    free(f.depth);
    free(f.normal);
}

typedef struct grad_opts {
    bool rgb, alpha, depth, normal;  // which cotangents
    bool render_normals;             // the forward renders normals even without their cotangent
    bool fd;                         // finite differences on a subset
    bool stats;                      // densification statistics
} grad_opts;

static void grad_case(tu_ctx* t, vkd_splat_ctx* ctx, const char* label, scene_desc d, grad_opts o) {
    tu_case(t, "%s n=%u deg=%d views=%d %dx%d d_rgb=%d d_alpha=%d d_depth=%d d_normal=%d%s", label, d.n, d.deg,
            d.views, d.width, d.height, o.rgb, o.alpha, o.depth, o.normal,
            o.render_normals && !o.normal ? " (normals rendered)" : "");
    scene s = scene_make(t, &d);
    cotangent c = cotangent_make(t, &s, o.rgb, o.alpha, o.depth, o.normal);
    grad_set g = grads_make(t, &s, true);
    if (run_forward_backward(t, ctx, &s, &c, &g, o.stats, o.normal || o.render_normals)) {
        double* ref[GRAD_SET];
        for (int k = 0; k < GRAD_SET; k++) ref[k] = tu_alloc_d(g.n[k]);
        ref_stats_init(ref, &g);
        vkd_ref_splat_grads rg = {ref[GROUP_MEANS], ref[GROUP_SCALES], ref[GROUP_QUATS], ref[GROUP_OPACITY],
                                  ref[GROUP_SH]};
        vkd_ref_splat_stats rs = {ref[STAT_GRAD2D], ref[STAT_VIS], ref[STAT_RADIUS]};
        vkd_ref_splat_backward(&rg, &rs, c.rgb, c.alpha, c.depth, c.normal, &s.rp, s.cams, d.views, s.bg);
        double total = 0;
        for (int k = 0; k < GROUPS; k++) {
            double* got = grads_added(t, &g, k);
            char what[64];
            snprintf(what, sizeof what, "%s (GPU vs reference)", group_names[k]);
            tu_check_close(t, what, got, ref[k], g.n[k], 2e-4, 1e-5);
            for (size_t i = 0; i < g.n[k]; i++) total += fabs(ref[k][i]);
            if (o.fd) check_fd(t, &s, &c, k, ref[k], got);
            free(got);
        }
        if (d.n) tu_check(t, total > 0, "gradients are not all zero (sum |ref| = %.3g)", total);
        if (o.stats) {
            double* got = grads_added(t, &g, STAT_GRAD2D);
            tu_check_close(t, "grad2d_norm", got, ref[STAT_GRAD2D], g.n[STAT_GRAD2D], 2e-4, 1e-5);
            free(got);
            got = grads_added(t, &g, STAT_VIS);
            tu_check_close(t, "vis_count", got, ref[STAT_VIS], g.n[STAT_VIS], 0, 0);
            free(got);
            // Radii are whole pixel counts computed the same way: equal, not close.
            got = grads_added(t, &g, STAT_RADIUS);
            tu_check_close(t, "max_radius = max(pre-fill, radii)", got, ref[STAT_RADIUS], g.n[STAT_RADIUS], 0, 0);
            size_t raised = 0;
            for (size_t i = 0; i < g.n[STAT_RADIUS]; i++) raised += ref[STAT_RADIUS][i] > g.prefill[STAT_RADIUS][i];
            if (d.n >= 5) tu_check(t, raised > 0, "the call raised %zu of %u max radii", raised, d.n);
            free(got);
        } else {
            // Not requested: left exactly as they were.
            for (int k = STAT_GRAD2D; k < GRAD_SET; k++) {
                double* got = tu_download_d(t, g.buf[k]);
                char what[64];
                snprintf(what, sizeof what, "%s untouched", stat_names[k - STAT_GRAD2D]);
                tu_check_close(t, what, got, g.prefill[k], g.n[k], 0, 0);
                free(got);
            }
        }
        for (int k = 0; k < GRAD_SET; k++) free(ref[k]);
    }
    grads_free(t, &g);
    cotangent_free(t, &c);
    scene_free(t, &s);
}

// A normals cotangent needs a forward that rendered normals: refused with a message.
static void missing_normals(tu_ctx* t, vkd_splat_ctx* ctx) {
    tu_case(t, "d_normal without a normals forward");
    scene_desc d = {.n = 4, .deg = 0, .views = 1, .width = 16, .height = 16, .spread = 0.3, .scale_lo = 0.2,
                    .scale_hi = 0.4, .logit_lo = 0, .logit_hi = 1, .sh_scale = 0.3, .distance = 3};
    scene s = scene_make(t, &d);
    cotangent c = cotangent_make(t, &s, false, false, false, true);
    grad_set g = grads_make(t, &s, false);
    vkd_error e = {0};
    vkd_status st = vkd_splat_forward(ctx, t->s, NULL, &s.p, s.cams, 1, NULL, &e);
    vkd_splat_grads gg = grads_gpu(&g);
    vkd_splat_outputs dout = cotangent_outputs(&c);
    if (!st) st = vkd_splat_backward(ctx, t->s, &gg, NULL, &dout, &s.p, s.cams, 1, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "normal"), "refused: %s", e.msg);
    tu_run(t);
    grads_free(t, &g);
    cotangent_free(t, &c);
    scene_free(t, &s);
}

// The backward is linear in the cotangent: grad(c1 + 2 c2) = grad(c1) + 2 grad(c2), GPU only.
static void linearity(tu_ctx* t, vkd_splat_ctx* ctx) {
    scene_desc d = {.n = 120, .deg = 2, .views = 2, .width = 40, .height = 36, .spread = 0.7, .scale_lo = 0.05,
                    .scale_hi = 0.4, .logit_lo = -2, .logit_hi = 3, .sh_scale = 0.4, .distance = 3};
    tu_case(t, "linearity n=%u deg=%d", d.n, d.deg);
    scene s = scene_make(t, &d);
    cotangent c1 = cotangent_make(t, &s, true, true, true, true), c2 = cotangent_make(t, &s, true, true, true, true);
    cotangent c3 = cotangent_make(t, &s, true, true, true, true);
    size_t px = scene_pixels(&s);
    for (size_t i = 0; i < 3 * px; i++) c3.rgb[i] = c1.rgb[i] + 2 * c2.rgb[i];
    for (size_t i = 0; i < px; i++) c3.alpha[i] = c1.alpha[i] + 2 * c2.alpha[i];
    for (size_t i = 0; i < px; i++) c3.depth[i] = c1.depth[i] + 2 * c2.depth[i];
    for (size_t i = 0; i < 3 * px; i++) c3.normal[i] = c1.normal[i] + 2 * c2.normal[i];
    tu_free(t, &c3.g_rgb);
    tu_free(t, &c3.g_alpha);
    tu_free(t, &c3.g_depth);
    tu_free(t, &c3.g_normal);
    c3.g_rgb = tu_upload_d(t, c3.rgb, 3 * px);
    c3.g_alpha = tu_upload_d(t, c3.alpha, px);
    c3.g_depth = tu_upload_d(t, c3.depth, px);
    c3.g_normal = tu_upload_d(t, c3.normal, 3 * px);
    grad_set g1 = grads_make(t, &s, false), g2 = grads_make(t, &s, false), g3 = grads_make(t, &s, false);
    vkd_error e = {0};
    tu_buf nimg = tu_alloc(t, 3 * px);
    vkd_status st = vkd_splat_forward(ctx, t->s, &(vkd_splat_outputs){.normal = nimg.addr}, &s.p, s.cams, d.views,
                                      s.bgf, &e);
    const cotangent* cs[3] = {&c1, &c2, &c3};
    grad_set* gs[3] = {&g1, &g2, &g3};
    for (int r = 0; r < 3 && !st; r++) {
        vkd_splat_grads gg = grads_gpu(gs[r]);
        vkd_splat_outputs dout = cotangent_outputs(cs[r]);
        vkd_splat_densify_stats sg = {.grad2d_norm = gs[r]->buf[STAT_GRAD2D].addr};
        st = vkd_splat_backward(ctx, t->s, &gg, &sg, &dout, &s.p, s.cams, d.views, &e);
    }
    tu_check(t, st == VKD_OK, "forward + 3 backwards%s%s", st ? ": " : "", st ? e.msg : "");
    if (tu_run(t))
        for (int k = 0; k < GROUPS; k++) {
            double* a = grads_added(t, &g1, k);
            double* b = grads_added(t, &g2, k);
            double* sum = grads_added(t, &g3, k);
            for (size_t i = 0; i < g1.n[k]; i++) a[i] += 2 * b[i];
            char what[64];
            snprintf(what, sizeof what, "%s: grad(c1 + 2 c2) vs grad(c1) + 2 grad(c2)", group_names[k]);
            tu_check_close(t, what, sum, a, g1.n[k], 1e-4, 1e-6);
            free(a);
            free(b);
            free(sum);
        }
    tu_free(t, &nimg);
    grads_free(t, &g1);
    grads_free(t, &g2);
    grads_free(t, &g3);
    cotangent_free(t, &c1);
    cotangent_free(t, &c2);
    cotangent_free(t, &c3);
    scene_free(t, &s);
}

// Two scenes through one context on one stream with a single final submit: forward A, backward A,
// forward B (bigger: its scratch buffers grow while A's backward is still pending), backward B.
static void two_scenes(tu_ctx* t) {
    tu_case(t, "two scenes, one stream");
    vkd_splat_ctx* ctx = NULL;  // fresh, so scene B really grows the buffers
    vkd_error e = {0};
    if (!tu_check(t, vkd_splat_ctx_create(t->gpu, NULL, &ctx, &e) == VKD_OK, "context: %s", e.msg)) return;
    scene_desc da = {.n = 30, .deg = 1, .views = 2, .width = 24, .height = 20, .spread = 0.5, .scale_lo = 0.1,
                     .scale_hi = 0.4, .logit_lo = -1, .logit_hi = 2, .sh_scale = 0.4, .distance = 3};
    scene_desc db = {.n = 400, .deg = 2, .views = 3, .width = 50, .height = 45, .spread = 0.7, .scale_lo = 0.05,
                     .scale_hi = 0.3, .logit_lo = -1, .logit_hi = 3, .sh_scale = 0.4, .distance = 3};
    scene sa = scene_make(t, &da), sb = scene_make(t, &db);
    // Scene A without normals, scene B with them.
    cotangent ca = cotangent_make(t, &sa, true, true, true, false), cb = cotangent_make(t, &sb, true, true, true, true);
    tu_buf nimg = tu_alloc(t, 3 * scene_pixels(&sb));
    grad_set ga = grads_make(t, &sa, true), gb = grads_make(t, &sb, true);
    scene* ss[2] = {&sa, &sb};
    cotangent* cs[2] = {&ca, &cb};
    grad_set* gs[2] = {&ga, &gb};
    vkd_status st = VKD_OK;
    uint64_t bytes_a = 0;
    for (int k = 0; k < 2 && !st; k++) {
        vkd_splat_outputs out = {.normal = k == 1 ? nimg.addr : 0};
        st = vkd_splat_forward(ctx, t->s, &out, &ss[k]->p, ss[k]->cams, ss[k]->d.views, ss[k]->bgf, &e);
        vkd_splat_grads gg = grads_gpu(gs[k]);
        vkd_splat_outputs dout = cotangent_outputs(cs[k]);
        vkd_splat_densify_stats sg = stats_gpu(gs[k]);
        if (!st) st = vkd_splat_backward(ctx, t->s, &gg, &sg, &dout, &ss[k]->p, ss[k]->cams, ss[k]->d.views, &e);
        if (k == 0) bytes_a = vkd_splat_ctx_bytes(ctx);
    }
    tu_check(t, vkd_splat_ctx_bytes(ctx) > bytes_a, "scratch grew from %llu to %llu bytes",
             (unsigned long long)bytes_a, (unsigned long long)vkd_splat_ctx_bytes(ctx));
    tu_check(t, st == VKD_OK, "forward, backward, forward, backward%s%s", st ? ": " : "", st ? e.msg : "");
    if (tu_run(t))
        for (int k = 0; k < 2; k++) {
            double* ref[GRAD_SET];
            for (int q = 0; q < GRAD_SET; q++) ref[q] = tu_alloc_d(gs[k]->n[q]);
            ref_stats_init(ref, gs[k]);
            vkd_ref_splat_grads rg = {ref[0], ref[1], ref[2], ref[3], ref[4]};
            vkd_ref_splat_stats rs = {ref[STAT_GRAD2D], ref[STAT_VIS], ref[STAT_RADIUS]};
            vkd_ref_splat_backward(&rg, &rs, cs[k]->rgb, cs[k]->alpha, cs[k]->depth, cs[k]->normal, &ss[k]->rp,
                                   ss[k]->cams, ss[k]->d.views, ss[k]->bg);
            for (int q = 0; q < GRAD_SET; q++) {
                double* got = grads_added(t, gs[k], q);
                char what[64];
                snprintf(what, sizeof what, "scene %c: %s", 'A' + k,
                         q < GROUPS ? group_names[q] : stat_names[q - STAT_GRAD2D]);
                tu_check_close(t, what, got, ref[q], gs[k]->n[q], 2e-4, 1e-5);
                free(got);
                free(ref[q]);
            }
        }
    tu_free(t, &nimg);
    grads_free(t, &ga);
    grads_free(t, &gb);
    cotangent_free(t, &ca);
    cotangent_free(t, &cb);
    scene_free(t, &sa);
    scene_free(t, &sb);
    vkd_splat_ctx_destroy(ctx);
}

void test_splat_grad(tu_ctx* t) {
    vkd_splat_ctx *ctx = NULL, *cas = NULL;
    vkd_error e = {0};
    if (!tu_check(t, vkd_splat_ctx_create(t->gpu, NULL, &ctx, &e) == VKD_OK, "context: %s", e.msg)) return;
    // The compare-and-swap fallback, with one pixel per invocation (the GPU variant; the default on
    // llvmpipe is 16).
    vkd_splat_desc cas_desc = {.force_cas_atomics = true, .pixels_per_thread = 1};
    if (!tu_check(t, vkd_splat_ctx_create(t->gpu, &cas_desc, &cas, &e) == VKD_OK, "CAS context: %s", e.msg)) return;
    const grad_opts all_fd = {.rgb = true, .alpha = true, .depth = true, .normal = true, .fd = true, .stats = true};
    // Finite differences need smooth losses: a few large, soft, semi-transparent Gaussians (no
    // pixel near the 1/255 alpha cut or the T < 1e-4 stop), several of them over tile borders.
    for (int deg = 0; deg <= 3; deg += 3) {
        scene_desc soft = {.n = 5, .deg = deg, .views = 2, .width = 24, .height = 20, .spread = 0.5,
                           .scale_lo = 0.25, .scale_hi = 0.6, .logit_lo = -1.5, .logit_hi = 0.5, .sh_scale = 0.4,
                           .distance = 3};
        grad_case(t, ctx, "soft", soft, all_fd);
        soft.n = 1, soft.width = 32, soft.height = 24;
        grad_case(t, ctx, "single", soft, all_fd);
    }
    // Off-center Gaussians whose x/z or y/z hit the 1.3x field-of-view clamp of the EWA Jacobian.
    grad_case(t, ctx, "wide", (scene_desc){.n = 12, .deg = 1, .views = 2, .width = 32, .height = 24,
                                           .spread = 1.4, .scale_lo = 0.2, .scale_hi = 0.5, .logit_lo = -1.5,
                                           .logit_hi = 0.5, .sh_scale = 0.4, .distance = 3}, all_fd);
    // Bigger scenes against the reference only: small sharp Gaussians, saturated pixels (the
    // early stop), several batches per tile, some behind the cameras.
    const grad_opts all = {.rgb = true, .alpha = true, .depth = true, .normal = true, .stats = true};
    const grad_opts no_normals = {.rgb = true, .alpha = true, .depth = true, .stats = true};
    grad_case(t, ctx, "cloud", (scene_desc){.n = 60, .deg = 3, .views = 2, .width = 40, .height = 40, .spread = 0.8,
                                            .scale_lo = 0.05, .scale_hi = 0.4, .logit_lo = -2, .logit_hi = 3,
                                            .sh_scale = 0.4, .distance = 3}, all);
    grad_case(t, ctx, "dense", (scene_desc){.n = t->quick ? 400 : 1500, .deg = 1, .views = 2, .width = 48,
                                            .height = 33, .spread = 0.6, .scale_lo = 0.03, .scale_hi = 0.2,
                                            .logit_lo = 0, .logit_hi = 5, .sh_scale = 0.4, .distance = 3}, all);
    grad_case(t, ctx, "behind", (scene_desc){.n = 200, .deg = 0, .views = 3, .width = 32, .height = 24,
                                             .spread = 2.0, .scale_lo = 0.05, .scale_hi = 0.3, .logit_lo = -1,
                                             .logit_hi = 3, .sh_scale = 0.4, .distance = 3}, no_normals);
    // Partial cotangents: one output at a time.
    scene_desc mid = {.n = 20, .deg = 1, .views = 2, .width = 24, .height = 20, .spread = 0.5, .scale_lo = 0.2,
                      .scale_hi = 0.5, .logit_lo = -1.5, .logit_hi = 0.5, .sh_scale = 0.4, .distance = 3};
    grad_case(t, ctx, "rgb only", mid, (grad_opts){.rgb = true, .render_normals = true});
    grad_case(t, ctx, "alpha only", mid, (grad_opts){.alpha = true, .fd = true});
    grad_case(t, ctx, "depth only", mid, (grad_opts){.depth = true, .fd = true, .stats = true});
    grad_case(t, ctx, "normal only", mid, (grad_opts){.normal = true, .fd = true});
    mid.deg = 3, mid.n = 7;
    grad_case(t, ctx, "normal only", mid, (grad_opts){.normal = true, .fd = true, .stats = true});
    missing_normals(t, ctx);
    // The compare-and-swap fallback for devices without float atomics, one pixel per invocation.
    grad_case(t, cas, "cas ppt=1", (scene_desc){.n = 8, .deg = 3, .views = 2, .width = 24, .height = 20,
                                                .spread = 0.5, .scale_lo = 0.25, .scale_hi = 0.6, .logit_lo = -1.5,
                                                .logit_hi = 0.5, .sh_scale = 0.4, .distance = 3}, all_fd);
    grad_case(t, cas, "cas ppt=1", (scene_desc){.n = 60, .deg = 2, .views = 2, .width = 40, .height = 33, .spread = 0.6,
                                          .scale_lo = 0.05, .scale_hi = 0.4, .logit_lo = -2, .logit_hi = 3,
                                          .sh_scale = 0.4, .distance = 3}, all);
    linearity(t, ctx);
    two_scenes(t);
    vkd_splat_ctx_destroy(ctx);
    vkd_splat_ctx_destroy(cas);
}
