// The Gaussian model container: layout and views, host round trips, capacity growth that
// keeps every state, the per-group Adam step against the float64 reference, zero_grad,
// opacity reset, adaptive density control against its C reference (which Gaussians clone,
// split, prune; split children against the same counter-based samples, and their
// distribution), and the sphere initialisation's statistics.
#include "harness.h"
#include "vkdream/gaussians.h"
#include "vkdream/nn/adam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static vkd_gaussians* make(tu_ctx* t, const vkd_gaussians_desc* d) {
    vkd_gaussians* g = NULL;
    vkd_error err = {0};
    vkd_status st = vkd_gaussians_create(t->gpu, d, &g, &err);
    tu_check(t, st == VKD_OK, "create%s%s", st ? ": " : "", st ? err.msg : "");
    return st ? NULL : g;
}

static bool ok_status(tu_ctx* t, vkd_status st, const vkd_error* err, const char* what) {
    return tu_check(t, st == VKD_OK, "%s%s%s", what, st ? ": " : "", st ? err->msg : "");
}

static double* to_d(const float* x, size_t n) {
    double* d = tu_alloc_d(n);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static bool check_bits(tu_ctx* t, const char* what, const float* got, const float* want, size_t n) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], 4)) {
            if (!bad) first = i;
            bad++;
        }
    return tu_check(t, bad == 0, "%s: n=%zu, %zu differ (first at %zu: %.9g vs %.9g)", what, n, bad, first,
                    bad ? got[first] : 0.0, bad ? want[first] : 0.0);
}

static bool close_f(tu_ctx* t, const char* what, const float* got, const double* ref, size_t n, double rtol,
                    double atol) {
    if (n == 0) return tu_check(t, true, "%s: empty", what);
    double* g = to_d(got, n);
    bool ok = tu_check_close(t, what, g, ref, n, rtol, atol);
    free(g);
    return ok;
}

static size_t floats(uint32_t count, int deg) { return (size_t)count * vkd_gaussians_row_floats(deg); }

// Random host state: parameters, and optionally moments (v >= 0).
static void fill_random(tu_ctx* t, vkd_gaussians_host* h, double lo, double hi) {
    for (size_t i = 0; i < floats(h->count, h->sh_degree); i++) h->data[i] = (float)tu_uniform(t, lo, hi);
}

static vkd_gaussians_host host(uint32_t n, int deg) {
    vkd_gaussians_host h;
    vkd_gaussians_host_alloc(&h, n, deg, NULL);
    return h;
}

// Writes a packed host array into the gradient buffer (through a staging tu_buf and one copy
// per group), in stream order.
static void set_grads(tu_ctx* t, vkd_gaussians* g, const vkd_gaussians_host* h) {
    tu_buf b = tu_upload_f(t, h->data, floats(h->count, h->sh_degree));
    vkd_addr dst = vkd_gaussians_buffer_addr(g, VKD_GAUSSIANS_GRADS);
    for (int grp = 0; grp < VKD_GAUSSIANS_GROUP_COUNT; grp++) {
        uint32_t w = vkd_gaussians_group_width(grp, h->sh_degree);
        vkd_stream_copy(t->s, dst + 4 * vkd_gaussians_group_offset(grp, vkd_gaussians_capacity(g), h->sh_degree),
                        b.addr + 4 * vkd_gaussians_group_offset(grp, h->count, h->sh_degree), h->count * w);
    }
    tu_run(t);
    tu_free(t, &b);
}

// radius NULL: leaves the max radius statistic as it is.
static void set_stats(tu_ctx* t, vkd_gaussians* g, const float* grad2d, const float* vis, const float* radius,
                      uint32_t n) {
    tu_buf a = tu_upload_f(t, grad2d, n), b = tu_upload_f(t, vis, n);
    vkd_splat_densify_stats st;
    vkd_gaussians_stats(g, &st);
    vkd_stream_copy(t->s, st.grad2d_norm, a.addr, n);
    vkd_stream_copy(t->s, st.vis_count, b.addr, n);
    if (radius) {
        tu_buf c = tu_upload_f(t, radius, n);
        vkd_stream_copy(t->s, st.max_radius, c.addr, n);
        tu_run(t);
        tu_free(t, &c);
    }
    tu_run(t);
    tu_free(t, &a);
    tu_free(t, &b);
}

static vkd_gaussians_host get(tu_ctx* t, vkd_gaussians* g, vkd_gaussians_buffer which) {
    vkd_gaussians_host h;
    vkd_error err = {0};
    ok_status(t, vkd_gaussians_download(g, t->s, which, &h, &err), &err, "download");
    return h;
}

// ---------------------------------------------------------------------------

static void layout(tu_ctx* t, int deg) {
    tu_case(t, "layout deg=%d", deg);
    vkd_gaussians* g = make(t, &(vkd_gaussians_desc){.capacity = 100, .sh_degree = deg});
    if (!g) return;
    uint32_t cap = vkd_gaussians_capacity(g), K = (uint32_t)((deg + 1) * (deg + 1));
    tu_check(t, cap == 128 && vkd_gaussians_count(g) == 0, "capacity 100 rounds up to 128 (got %u)", cap);
    tu_check(t, vkd_gaussians_row_floats(deg) == 11 + 3 * K, "row floats");
    vkd_splat_params p;
    vkd_splat_grads gr, m, v;
    vkd_gaussians_params(g, &p);
    vkd_gaussians_grads(g, &gr);
    vkd_gaussians_moments(g, &m, &v);
    bool ok = p.log_scales - p.means == 12ull * cap && p.quats - p.log_scales == 12ull * cap &&
              p.opacity_logits - p.quats == 16ull * cap && p.sh - p.opacity_logits == 4ull * cap;
    ok &= p.means == vkd_gaussians_buffer_addr(g, VKD_GAUSSIANS_PARAMS) &&
          gr.means == vkd_gaussians_buffer_addr(g, VKD_GAUSSIANS_GRADS) &&
          m.sh - m.means == 4ull * 11 * cap && v.means == vkd_gaussians_buffer_addr(g, VKD_GAUSSIANS_ADAM_V);
    ok &= p.sh_stride == K && p.sh_degree == deg && p.count == 0;
    tu_check(t, ok, "views point at contiguous (cap, width) groups");
    // The default desc.
    vkd_gaussians* d = make(t, NULL);
    if (d) {
        double lr[6];
        vkd_gaussians_learning_rates(d, 1, lr);
        tu_check(t, vkd_gaussians_capacity(d) == 4096 && vkd_gaussians_sh_degree(d) == 0 &&
                        vkd_gaussians_scene_extent(d) == 1.0f,
                 "defaults: capacity 4096, degree 0, extent 1");
        tu_check(t, lr[1] == 5e-3f && lr[2] == 1e-3f && lr[3] == 0.05f && lr[4] == 5e-3f && lr[5] == 5e-3f / 20,
                 "default rates: scaling 5e-3, rotation 1e-3, opacity 0.05, feature 5e-3, rest feature/20");
        double want = exp(log(1.6e-4f) * (1 - 1 / 30000.0) + log(1.6e-6f) / 30000.0);
        tu_check(t, fabs(lr[0] / want - 1) < 1e-12, "position lr at step 1: %.9g vs %.9g", lr[0], want);
        vkd_gaussians_learning_rates(d, 30000, lr);
        double lr2[6];
        vkd_gaussians_learning_rates(d, 90000, lr2);
        tu_check(t, fabs(lr[0] / 1.6e-6f - 1) < 1e-9 && lr2[0] == lr[0], "position lr anneals to 1.6e-6 and stays");
        vkd_gaussians_destroy(d);
    }
    vkd_error err = {0};
    vkd_gaussians* bad = NULL;
    vkd_status st = vkd_gaussians_create(t->gpu, &(vkd_gaussians_desc){.sh_degree = 4}, &bad, &err);
    tu_check(t, st == VKD_ERR_INVALID && strstr(err.msg, "sh_degree"), "degree 4 rejected: %s", err.msg);
    vkd_gaussians_destroy(g);
}

// Upload / download round trip, and growth that keeps params, grads, moments and statistics.
static void growth(tu_ctx* t, int deg, uint32_t n, uint32_t new_cap) {
    tu_case(t, "growth deg=%d n=%u cap->%u", deg, n, new_cap);
    vkd_gaussians* g = make(t, &(vkd_gaussians_desc){.capacity = n, .sh_degree = deg});
    if (!g) return;
    vkd_error err = {0};
    vkd_gaussians_host p = host(n, deg), m = host(n, deg), v = host(n, deg), gr = host(n, deg);
    fill_random(t, &p, -2, 2);
    fill_random(t, &m, -1, 1);
    fill_random(t, &v, 0, 1);
    fill_random(t, &gr, -3, 3);
    float* s2d = malloc((n + 1) * sizeof(float));
    float* svis = malloc((n + 1) * sizeof(float));
    float* srad = malloc((n + 1) * sizeof(float));
    for (uint32_t i = 0; i < n; i++)
        s2d[i] = (float)tu_uniform(t, 0, 1), svis[i] = (float)(i % 5), srad[i] = (float)floor(tu_uniform(t, 0, 50));
    ok_status(t, vkd_gaussians_upload(g, t->s, &p, &m, &v, &err), &err, "upload");
    tu_check(t, vkd_gaussians_count(g) == n, "count after upload");
    vkd_gaussians_host z = get(t, g, VKD_GAUSSIANS_GRADS);
    double* zero = tu_alloc_d(floats(n, deg) + 1);
    close_f(t, "grads zero after upload", z.data, zero, floats(n, deg), 0, 0);
    vkd_gaussians_host_free(&z);
    set_grads(t, g, &gr);
    set_stats(t, g, s2d, svis, srad, n);
    uint32_t cap0 = vkd_gaussians_capacity(g);
    ok_status(t, vkd_gaussians_reserve(g, t->s, new_cap, &err), &err, "reserve");
    tu_check(t, vkd_gaussians_capacity(g) >= new_cap && vkd_gaussians_capacity(g) % 64 == 0 &&
                    vkd_gaussians_capacity(g) > cap0 && vkd_gaussians_count(g) == n,
             "capacity %u -> %u, count %u kept", cap0, vkd_gaussians_capacity(g), vkd_gaussians_count(g));
    const vkd_gaussians_host* want[4] = {&p, &gr, &m, &v};
    const char* names[4] = {"params", "grads", "adam m", "adam v"};
    for (int b = 0; b < 4; b++) {
        vkd_gaussians_host h = get(t, g, (vkd_gaussians_buffer)b);
        check_bits(t, names[b], h.data, want[b]->data, floats(n, deg));
        vkd_gaussians_host_free(&h);
    }
    float* got2d = malloc((n + 1) * sizeof(float));
    float* gotvis = malloc((n + 1) * sizeof(float));
    float* gotrad = malloc((n + 1) * sizeof(float));
    ok_status(t, vkd_gaussians_download_stats(g, t->s, got2d, gotvis, gotrad, &err), &err, "download stats");
    check_bits(t, "stats grad2d", got2d, s2d, n);
    check_bits(t, "stats vis", gotvis, svis, n);
    check_bits(t, "stats max radius", gotrad, srad, n);
    // The views moved with the buffers.
    vkd_splat_params sp;
    vkd_gaussians_params(g, &sp);
    tu_check(t, sp.means == vkd_gaussians_buffer_addr(g, VKD_GAUSSIANS_PARAMS) &&
                    sp.log_scales - sp.means == 12ull * vkd_gaussians_capacity(g) && sp.count == n,
             "views follow the new layout");
    // A smaller reserve is a no-op.
    uint32_t cap1 = vkd_gaussians_capacity(g);
    ok_status(t, vkd_gaussians_reserve(g, t->s, 1, &err), &err, "reserve smaller");
    tu_check(t, vkd_gaussians_capacity(g) == cap1, "reserve never shrinks");
    // Mismatched uploads are rejected.
    vkd_gaussians_host other = host(n, deg == 3 ? 0 : deg + 1);
    vkd_status st = vkd_gaussians_upload(g, t->s, &other, NULL, NULL, &err);
    tu_check(t, st == VKD_ERR_INVALID && strstr(err.msg, "SH degree"), "degree mismatch rejected: %s", err.msg);
    vkd_gaussians_host_free(&other);
    free(zero), free(s2d), free(svis), free(srad), free(got2d), free(gotvis), free(gotrad);
    vkd_gaussians_host_free(&p), vkd_gaussians_host_free(&m), vkd_gaussians_host_free(&v), vkd_gaussians_host_free(&gr);
    vkd_gaussians_destroy(g);
}

// Position lr of the test's own: 3DGS's get_expon_lr_func.
static double expon_lr(double init, double final, double delay_mult, uint32_t delay_steps, uint32_t max_steps,
                       uint32_t step) {
    double delay = 1;
    if (delay_steps > 0)
        delay = delay_mult + (1 - delay_mult) * sin(0.5 * 3.141592653589793 * fmin((double)step / delay_steps, 1));
    double u = fmin((double)step / max_steps, 1);
    return delay * exp(log(init) * (1 - u) + log(final) * u);
}

static void adam(tu_ctx* t, int deg, uint32_t n, bool freeze_rotation) {
    tu_case(t, "adam deg=%d n=%u%s", deg, n, freeze_rotation ? " frozen rotation" : "");
    const float extent = 2.5f;
    vkd_gaussians_lr lr = {.position_max_steps = 10, .position_delay_steps = 4, .position_delay_mult = 0.02f,
                           .feature = 0.01f, .rotation = freeze_rotation ? -1.0f : 0};
    vkd_gaussians* g = make(t, &(vkd_gaussians_desc){.capacity = n + 5, .sh_degree = deg, .scene_extent = extent,
                                                     .lr = lr});
    if (!g) return;
    vkd_error err = {0};
    size_t F = floats(n, deg);
    vkd_gaussians_host p = host(n, deg), m = host(n, deg), v = host(n, deg), gr = host(n, deg);
    fill_random(t, &p, -1, 1);
    fill_random(t, &m, -1e-3, 1e-3);
    fill_random(t, &v, 0, 1e-6);
    ok_status(t, vkd_gaussians_upload(g, t->s, &p, &m, &v, &err), &err, "upload");
    double* rp = to_d(p.data, F);
    double* rm = to_d(m.data, F);
    double* rv = to_d(v.data, F);
    double* rg = tu_alloc_d(F);
    uint32_t K = (uint32_t)((deg + 1) * (deg + 1));
    for (uint32_t step = 1; step <= 3; step++) {
        fill_random(t, &gr, -1e-2, 1e-2);
        for (size_t i = 0; i < F; i++) rg[i] = gr.data[i];
        set_grads(t, g, &gr);
        vkd_gaussians_step(g, t->s);
        tu_run(t);
        // The expected rates, from the test's own formula.
        double want[6] = {expon_lr(1.6e-4f * (double)extent, 1.6e-6f * (double)extent, 0.02f, 4, 10, step),
                          5e-3f, freeze_rotation ? -1.0 : (double)1e-3f, 0.05f, 0.01f, 0.01f / 20};
        double got[6];
        vkd_gaussians_learning_rates(g, step, got);
        bool rates = true;
        for (int k = 0; k < 6; k++) rates &= fabs(got[k] - want[k]) <= 1e-12 * fabs(want[k]);
        tu_check(t, rates, "rates at step %u: position %.9g (want %.9g)", step, got[0], want[0]);
        for (int grp = 0; grp < VKD_GAUSSIANS_GROUP_COUNT; grp++) {
            uint32_t w = vkd_gaussians_group_width(grp, deg);
            size_t off = vkd_gaussians_group_offset(grp, n, deg);
            if (want[grp] < 0) continue;  // frozen
            for (size_t e = 0; e < (size_t)n * w; e++) {
                bool rest = grp == VKD_GAUSSIANS_SH && (e / 3) % K != 0;
                vkd_adam_desc d = {.lr = (float)want[rest ? 5 : grp], .eps = 1e-15f};
                vkd_ref_adam_step(rp + off + e, rm + off + e, rv + off + e, rg + off + e, NULL, 1, step, &d);
            }
        }
    }
    tu_check(t, vkd_gaussians_step_count(g) == 3, "step count 3");
    vkd_gaussians_host hp = get(t, g, VKD_GAUSSIANS_PARAMS), hm = get(t, g, VKD_GAUSSIANS_ADAM_M),
                       hv = get(t, g, VKD_GAUSSIANS_ADAM_V);
    close_f(t, "params", hp.data, rp, F, 1e-5, 1e-6);
    close_f(t, "adam m", hm.data, rm, F, 1e-5, 1e-9);
    close_f(t, "adam v", hv.data, rv, F, 1e-5, 1e-12);
    if (freeze_rotation) {
        size_t off = vkd_gaussians_group_offset(VKD_GAUSSIANS_QUATS, n, deg);
        check_bits(t, "frozen rotations unchanged", hp.data + off, p.data + off, 4 * (size_t)n);
        check_bits(t, "frozen rotation moments unchanged", hm.data + off, m.data + off, 4 * (size_t)n);
    }
    // Each group moved by its own rate: the first step's update is lr * sign(g) (|m / sqrt v| = 1 at
    // t = 1 from zero moments), so this also pins the rate of each group.
    // zero_grad clears every gradient of the first count rows.
    vkd_gaussians_zero_grad(g, t->s);
    tu_run(t);
    vkd_gaussians_host hg = get(t, g, VKD_GAUSSIANS_GRADS);
    double* zero = tu_alloc_d(F + 1);
    close_f(t, "zero_grad", hg.data, zero, F, 0, 0);
    free(zero);
    vkd_gaussians_host_free(&hg);
    vkd_gaussians_host_free(&hp), vkd_gaussians_host_free(&hm), vkd_gaussians_host_free(&hv);
    free(rp), free(rm), free(rv), free(rg);
    vkd_gaussians_host_free(&p), vkd_gaussians_host_free(&m), vkd_gaussians_host_free(&v), vkd_gaussians_host_free(&gr);
    vkd_gaussians_destroy(g);
}

// From zero moments, Adam's first step moves every parameter by exactly lr * sign(grad)
// (up to eps): a direct check that each group got its own rate.
static void adam_first_step(tu_ctx* t) {
    tu_case(t, "adam first step rates");
    const int deg = 1;
    const uint32_t n = 9;
    vkd_gaussians* g = make(t, &(vkd_gaussians_desc){.sh_degree = deg, .scene_extent = 3});
    if (!g) return;
    vkd_error err = {0};
    vkd_gaussians_host p = host(n, deg), gr = host(n, deg);
    fill_random(t, &p, -1, 1);
    for (size_t i = 0; i < floats(n, deg); i++) gr.data[i] = (i % 2 ? 1.f : -1.f) * (float)tu_uniform(t, 0.1, 2);
    ok_status(t, vkd_gaussians_upload(g, t->s, &p, NULL, NULL, &err), &err, "upload");
    set_grads(t, g, &gr);
    vkd_gaussians_step(g, t->s);
    tu_run(t);
    vkd_gaussians_host hp = get(t, g, VKD_GAUSSIANS_PARAMS);
    const double rate[6] = {1.6e-4f * 3.0 * exp((log(1.6e-6f) - log(1.6e-4f)) / 30000), 5e-3, 1e-3, 0.05, 5e-3,
                            5e-3 / 20};
    bool ok = true;
    double worst = 0;
    for (int grp = 0; grp < VKD_GAUSSIANS_GROUP_COUNT; grp++) {
        uint32_t w = vkd_gaussians_group_width(grp, deg);
        size_t off = vkd_gaussians_group_offset(grp, n, deg);
        for (size_t e = 0; e < (size_t)n * w; e++) {
            bool rest = grp == VKD_GAUSSIANS_SH && (e / 3) % 4 != 0;
            double lr = rate[rest ? 5 : grp];
            double moved = (double)hp.data[off + e] - p.data[off + e];
            double want = gr.data[off + e] > 0 ? -lr : lr;
            double d = fabs(moved - want) / lr;
            worst = fmax(worst, d);
            ok &= d < 2e-3;  // float rounding of params ~1 against updates down to 2.5e-4
        }
    }
    tu_check(t, ok, "first step = -lr * sign(grad) per group (worst relative error %.3g)", worst);
    vkd_gaussians_host_free(&hp), vkd_gaussians_host_free(&p), vkd_gaussians_host_free(&gr);
    vkd_gaussians_destroy(g);
}

static void reset_opacity(tu_ctx* t) {
    tu_case(t, "reset opacity");
    const uint32_t n = 300;
    vkd_gaussians* g = make(t, &(vkd_gaussians_desc){.sh_degree = 0});
    if (!g) return;
    vkd_error err = {0};
    vkd_gaussians_host p = host(n, 0), m = host(n, 0), v = host(n, 0);
    fill_random(t, &p, -8, 8);
    fill_random(t, &m, -1, 1);
    fill_random(t, &v, 0, 1);
    ok_status(t, vkd_gaussians_upload(g, t->s, &p, &m, &v, &err), &err, "upload");
    vkd_gaussians_reset_opacity(g, t->s, 0);
    tu_run(t);
    vkd_gaussians_host hp = get(t, g, VKD_GAUSSIANS_PARAMS), hm = get(t, g, VKD_GAUSSIANS_ADAM_M),
                       hv = get(t, g, VKD_GAUSSIANS_ADAM_V);
    float cap = (float)log(0.01 / 0.99);
    bool ok = true, moments = true;
    for (uint32_t i = 0; i < n; i++) {
        float want = p.opacity_logits[i] < cap ? p.opacity_logits[i] : cap;
        ok &= hp.opacity_logits[i] == want;
        moments &= hm.opacity_logits[i] == 0 && hv.opacity_logits[i] == 0;
    }
    tu_check(t, ok, "logit = min(logit, logit(0.01)), lower ones bit-exact");
    tu_check(t, moments, "opacity moments zeroed");
    size_t before = vkd_gaussians_group_offset(VKD_GAUSSIANS_OPACITY, n, 0);
    check_bits(t, "other params untouched", hp.data, p.data, before);
    check_bits(t, "other m untouched", hm.data, m.data, before);
    check_bits(t, "sh untouched", hp.sh, p.sh, 3 * (size_t)n);
    vkd_gaussians_host_free(&hp), vkd_gaussians_host_free(&hm), vkd_gaussians_host_free(&hv);
    vkd_gaussians_host_free(&p), vkd_gaussians_host_free(&m), vkd_gaussians_host_free(&v);
    vkd_gaussians_destroy(g);
}

// ---------------------------------------------------------------------------
// Densification

// Categories by design (extent E, defaults: threshold 2e-4, percent_dense 0.01, min opacity
// 0.005, max scale 0.1; the screen prune at 20 px when on), each well away from every threshold.
// Gaussians not in a *_SCREEN category have max 2D radii of at most 15 px.
enum {
    C_KEEP,        // low gradient, small
    C_CLONE,       // high gradient, max scale 0.005 E
    C_SPLIT,       // high gradient, max scale 0.05 E
    C_PRUNE_OPAC,  // opacity 0.002
    C_PRUNE_SIZE,  // max scale 0.2 E, low gradient
    C_SPLIT_BIG,   // high gradient, max scale 0.2 E: children 0.125 E still too big
    C_CLONE_LOW,   // high gradient, small, opacity 0.003: neither it nor its clone survive
    C_UNSEEN,      // never visible, accumulated nothing
    C_SPLIT_SAVE,  // high gradient, max scale 0.12 E: itself too big, children 0.075 E fine
    C_PRUNE_SCREEN,// low gradient, small, 35 px on screen
    C_SPLIT_SCREEN,// high gradient, max scale 0.05 E (split), 40 px: the children inherit it
    C_CLONE_SCREEN,// high gradient, small (clone), 25 px: neither it nor its clone survive
    C_COUNT
};

static void make_category(tu_ctx* t, vkd_gaussians_host* h, float* g2d, float* vis, float* radius, uint32_t i,
                          int cat, double E) {
    static const double max_scale[C_COUNT] = {0.004, 0.005, 0.05, 0.003, 0.2, 0.2, 0.004, 0.006, 0.12,
                                              0.004, 0.05, 0.005};
    static const double opacity[C_COUNT] = {0.5, 0.6, 0.4, 0.002, 0.7, 0.5, 0.003, 0.3, 0.8, 0.6, 0.5, 0.4};
    static const bool high[C_COUNT] = {false, true, true, false, false, true, true, false, true, false, true, true};
    static const double screen[C_COUNT] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 35, 40, 25};
    int axis = (int)(i % 3);
    for (int k = 0; k < 3; k++) {
        double s = k == axis ? max_scale[cat] : max_scale[cat] * tu_uniform(t, 0.2, 0.7);
        h->log_scales[3 * (size_t)i + k] = (float)log(s * E);
    }
    double o = opacity[cat] * tu_uniform(t, 0.9, 1.1);
    h->opacity_logits[i] = (float)log(o / (1 - o));
    float views = cat == C_UNSEEN ? 0.0f : (float)(1 + i % 4);
    double avg = high[cat] ? tu_uniform(t, 3e-4, 1e-3) : tu_uniform(t, 0, 1.2e-4);
    vis[i] = views;
    g2d[i] = cat == C_UNSEEN ? 0.0f : (float)(avg * views);
    radius[i] = cat == C_UNSEEN ? 0.0f : screen[cat] > 0 ? (float)screen[cat] : (float)floor(tu_uniform(t, 1, 16));
}

// screen: the screen-space prune is on (a threshold is given and size pruning is not disabled).
static uint32_t expected_flags(int cat, bool size_prune, bool prune_only, bool screen) {
    const uint32_t K = VKD_GAUSSIANS_KEEP, C = VKD_GAUSSIANS_CLONE, S = VKD_GAUSSIANS_SPLIT,
                   CH = VKD_GAUSSIANS_CHILDREN;
    if (prune_only) {
        switch (cat) {
        case C_PRUNE_OPAC: case C_CLONE_LOW: return 0;
        case C_PRUNE_SIZE: case C_SPLIT_BIG: case C_SPLIT_SAVE: return size_prune ? 0 : K;
        case C_PRUNE_SCREEN: case C_SPLIT_SCREEN: case C_CLONE_SCREEN: return screen ? 0 : K;
        default: return K;
        }
    }
    switch (cat) {
    case C_KEEP: case C_UNSEEN: return K;
    case C_CLONE: return K | C;
    case C_SPLIT: return S | CH;
    case C_PRUNE_OPAC: case C_CLONE_LOW: return 0;
    case C_PRUNE_SIZE: return size_prune ? 0 : K;
    case C_SPLIT_BIG: return size_prune ? S : S | CH;
    case C_SPLIT_SAVE: return S | CH;
    case C_PRUNE_SCREEN: return screen ? 0 : K;
    case C_SPLIT_SCREEN: return screen ? S : S | CH;
    case C_CLONE_SCREEN: return screen ? 0 : K | C;
    }
    return 0;
}

// only_cat: -1 = i % C_COUNT, else every Gaussian in that category. max_screen: the screen-space
// threshold in pixels (0 = off).
static void densify(tu_ctx* t, int deg, uint32_t n, int only_cat, bool size_prune, bool prune_only, uint32_t cap,
                    float max_screen) {
    tu_case(t, "densify deg=%d n=%u cat=%d size_prune=%d prune_only=%d cap=%u max_screen=%g", deg, n, only_cat,
            size_prune, prune_only, cap, (double)max_screen);
    const double E = 2.0;
    vkd_gaussians* g = make(t, &(vkd_gaussians_desc){.capacity = cap, .sh_degree = deg, .scene_extent = (float)E,
                                                     .seed = 99});
    if (!g) return;
    vkd_error err = {0};
    size_t F = floats(n, deg);
    vkd_gaussians_host p = host(n, deg), m = host(n, deg), v = host(n, deg), gr = host(n, deg);
    fill_random(t, &p, -1, 1);
    fill_random(t, &m, -1, 1);
    fill_random(t, &v, 0, 1);
    fill_random(t, &gr, -1, 1);
    float* g2d = malloc((n + 1) * sizeof(float));
    float* vis = malloc((n + 1) * sizeof(float));
    float* rad = malloc((n + 1) * sizeof(float));
    int* cats = malloc((n + 1) * sizeof(int));
    for (uint32_t i = 0; i < n; i++) {
        cats[i] = only_cat >= 0 ? only_cat : (int)(i % C_COUNT);
        make_category(t, &p, g2d, vis, rad, i, cats[i], E);
    }
    ok_status(t, vkd_gaussians_upload(g, t->s, &p, &m, &v, &err), &err, "upload");
    set_grads(t, g, &gr);
    set_stats(t, g, g2d, vis, rad, n);

    // The reference on the same inputs (as the device holds them: float values).
    double *dp = to_d(p.data, F), *dm = to_d(m.data, F), *dv = to_d(v.data, F), *dg = to_d(gr.data, F);
    double *d2d = to_d(g2d, n), *dvis = to_d(vis, n), *drad = to_d(rad, n);
    double *op = tu_alloc_d(2 * F), *om = tu_alloc_d(2 * F), *ov = tu_alloc_d(2 * F), *og = tu_alloc_d(2 * F);
    uint32_t* flags = malloc((n + 1) * sizeof *flags);
    vkd_gaussians_densify_desc desc = {.no_size_prune = !size_prune, .prune_only = prune_only,
                                       .max_screen_radius = max_screen};
    uint32_t seed = vkd_gaussians_densify_seed(g);
    uint32_t want_n = vkd_ref_gaussians_densify(op, og, om, ov, flags, dp, dg, dm, dv, d2d, dvis, drad, n, deg, E,
                                                &desc, seed);
    size_t wrong = 0;
    bool screen = size_prune && max_screen > 0;
    for (uint32_t i = 0; i < n; i++) wrong += flags[i] != expected_flags(cats[i], size_prune, prune_only, screen);
    tu_check(t, wrong == 0, "reference decisions match the designed categories (%zu wrong)", wrong);

    ok_status(t, vkd_gaussians_densify(g, t->s, &desc, &err), &err, "densify");
    uint32_t got_n = vkd_gaussians_count(g);
    tu_check(t, got_n == want_n, "count %u -> %u (reference %u), capacity %u", n, got_n, want_n,
             vkd_gaussians_capacity(g));
    tu_check(t, vkd_gaussians_capacity(g) >= got_n, "capacity holds the result");
    tu_check(t, vkd_gaussians_densify_seed(g) != seed, "the next call draws new samples");
    if (got_n == want_n) {
        size_t F2 = floats(want_n, deg);
        vkd_gaussians_host hp = get(t, g, VKD_GAUSSIANS_PARAMS), hg = get(t, g, VKD_GAUSSIANS_GRADS),
                           hm = get(t, g, VKD_GAUSSIANS_ADAM_M), hv = get(t, g, VKD_GAUSSIANS_ADAM_V);
        if (want_n == 0) {
            tu_check(t, true, "everything pruned");
        } else {
            // Children's means go through exp / cos / log in float on the device.
            close_f(t, "params", hp.data, op, F2, 2e-6, 2e-6);
            close_f(t, "grads (survivors keep, new ones zero)", hg.data, og, F2, 0, 0);
            close_f(t, "adam m", hm.data, om, F2, 0, 0);
            close_f(t, "adam v", hv.data, ov, F2, 0, 0);
            float* s2 = malloc(want_n * sizeof(float));
            float* s3 = malloc(want_n * sizeof(float));
            float* s4 = malloc(want_n * sizeof(float));
            ok_status(t, vkd_gaussians_download_stats(g, t->s, s2, s3, s4, &err), &err, "stats");
            double* zero = tu_alloc_d(want_n);
            close_f(t, "stats grad2d zeroed", s2, zero, want_n, 0, 0);
            close_f(t, "stats vis zeroed", s3, zero, want_n, 0, 0);
            close_f(t, "stats max radius zeroed", s4, zero, want_n, 0, 0);
            free(zero), free(s2), free(s3), free(s4);
        }
        vkd_gaussians_host_free(&hp), vkd_gaussians_host_free(&hg), vkd_gaussians_host_free(&hm),
            vkd_gaussians_host_free(&hv);
    }
    free(dp), free(dm), free(dv), free(dg), free(d2d), free(dvis), free(drad), free(op), free(om), free(ov), free(og);
    free(flags), free(g2d), free(vis), free(rad), free(cats);
    vkd_gaussians_host_free(&p), vkd_gaussians_host_free(&m), vkd_gaussians_host_free(&v), vkd_gaussians_host_free(&gr);
    vkd_gaussians_destroy(g);
}

// Every one of n identical anisotropic, rotated Gaussians splits: the 2n children must be
// distributed as N(mean, R S^2 R^T), with scales / 1.6.
static void split_distribution(tu_ctx* t) {
    const uint32_t n = 4000;
    tu_case(t, "split distribution n=%u", n);
    vkd_gaussians* g = make(t, &(vkd_gaussians_desc){.capacity = n, .seed = 5});
    if (!g) return;
    vkd_error err = {0};
    vkd_gaussians_host p = host(n, 0);
    const double mean[3] = {1, -2, 0.5}, s[3] = {0.05, 0.02, 0.035};
    double q[4] = {0.8, 0.3, -0.4, 0.5};  // not normalized on purpose
    float* g2d = malloc(n * sizeof(float));
    float* vis = malloc(n * sizeof(float));
    for (uint32_t i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) p.means[3 * i + k] = (float)mean[k], p.log_scales[3 * i + k] = (float)log(s[k]);
        for (int k = 0; k < 4; k++) p.quats[4 * i + k] = (float)q[k];
        p.opacity_logits[i] = 0;
        g2d[i] = 1e-3f, vis[i] = 1;
    }
    ok_status(t, vkd_gaussians_upload(g, t->s, &p, NULL, NULL, &err), &err, "upload");
    set_stats(t, g, g2d, vis, NULL, n);
    ok_status(t, vkd_gaussians_densify(g, t->s, NULL, &err), &err, "densify");
    uint32_t c = vkd_gaussians_count(g);
    tu_check(t, c == 2 * n, "all split: %u children", c);
    if (c == 2 * n) {
        vkd_gaussians_host h = get(t, g, VKD_GAUSSIANS_PARAMS);
        double mu[3] = {0}, cov[9] = {0};
        for (uint32_t j = 0; j < c; j++)
            for (int a = 0; a < 3; a++) mu[a] += (h.means[3 * j + a] - mean[a]) / c;
        for (uint32_t j = 0; j < c; j++)
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++)
                    cov[3 * a + b] += (h.means[3 * j + a] - mean[a]) * (h.means[3 * j + b] - mean[b]) / c;
        double qn = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
        double r = q[0] / qn, x = q[1] / qn, y = q[2] / qn, z = q[3] / qn;
        double R[9] = {1 - 2 * (y * y + z * z), 2 * (x * y - r * z), 2 * (x * z + r * y),
                       2 * (x * y + r * z), 1 - 2 * (x * x + z * z), 2 * (y * z - r * x),
                       2 * (x * z - r * y), 2 * (y * z + r * x), 1 - 2 * (x * x + y * y)};
        double sigma[9] = {0};
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++)
                for (int k = 0; k < 3; k++) sigma[3 * a + b] += R[3 * a + k] * s[k] * s[k] * R[3 * b + k];
        bool mean_ok = true, cov_ok = true;
        for (int a = 0; a < 3; a++) mean_ok &= fabs(mu[a]) < 5 * sqrt(sigma[4 * a] / c);
        double worst = 0;
        for (int k = 0; k < 9; k++) worst = fmax(worst, fabs(cov[k] - sigma[k]) / (s[0] * s[0]));
        cov_ok = worst < 0.08;  // ~5 standard errors of a covariance from 8000 samples
        tu_check(t, mean_ok, "children mean = parent mean (offset %.3g %.3g %.3g)", mu[0], mu[1], mu[2]);
        tu_check(t, cov_ok, "children covariance = R S^2 R^T (worst %.3g of s_max^2)", worst);
        bool scales = true, rest = true;
        for (uint32_t j = 0; j < c; j++) {
            for (int k = 0; k < 3; k++) scales &= fabs(h.log_scales[3 * j + k] - (log(s[k]) - log(1.6))) < 1e-5;
            for (int k = 0; k < 4; k++) rest &= h.quats[4 * j + k] == (float)q[k];
            rest &= h.opacity_logits[j] == 0;
        }
        tu_check(t, scales, "children scales = parent / 1.6");
        tu_check(t, rest, "children keep rotation and opacity");
        vkd_gaussians_host_free(&h);
    }
    free(g2d), free(vis);
    vkd_gaussians_host_free(&p);
    vkd_gaussians_destroy(g);
}

// The screen-space size statistic end to end: the renderer's backward tracks each Gaussian's
// largest 2D radius over views and calls (against the reference renderer), reset_stats clears
// it, and densify with max_screen_radius prunes exactly the ones above it.
static void screen_prune(tu_ctx* t) {
    tu_case(t, "screen-space prune end to end");
    const uint32_t n = 12;
    vkd_gaussians* g = make(t, &(vkd_gaussians_desc){.sh_degree = 0, .capacity = 64});
    vkd_splat_ctx* ctx = NULL;
    vkd_error err = {0};
    if (!g || !ok_status(t, vkd_splat_ctx_create(t->gpu, NULL, &ctx, &err), &err, "splat context")) {
        vkd_gaussians_destroy(g);
        return;
    }
    vkd_gaussians_host h = host(n, 0);
    for (uint32_t i = 0; i < n; i++) {
        // Radii from ~2 to ~60 pixels at 64x48 from distance 2.5 to 3.5.
        double s = 0.03 * pow(1.4, (double)i);
        for (int k = 0; k < 3; k++) {
            h.means[3 * i + k] = (float)(0.4 * tu_normal(t));
            h.log_scales[3 * i + k] = (float)log(s * tu_uniform(t, 0.7, 1.0));
        }
        for (int k = 0; k < 4; k++) h.quats[4 * i + k] = (float)tu_normal(t);
        h.opacity_logits[i] = (float)tu_uniform(t, -1, 1);
    }
    ok_status(t, vkd_gaussians_upload(g, t->s, &h, NULL, NULL, &err), &err, "upload");
    vkd_camera cams[3];
    for (int b = 0; b < 3; b++)
        cams[b] = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 120.0f * b + 10, .elevation_deg = 20.0f * b - 10,
                                                     .distance = 2.5f + 0.5f * b, .width = 64, .height = 48});
    double *dp = to_d(h.data, floats(n, 0)), *ref_rad = tu_alloc_d(n);
    vkd_ref_splat_params rp = {.means = dp, .log_scales = dp + 3 * n, .quats = dp + 6 * n, .opacity_logits = dp + 10 * n,
                               .sh = dp + 11 * n, .count = n, .sh_degree = 0};
    vkd_ref_splat_stats rs = {.max_radius = ref_rad};
    // Two calls, views {0, 1} then {2}: the statistic is the max over all three views.
    const int first[2] = {0, 2}, views[2] = {2, 1};
    vkd_splat_params p;
    vkd_splat_densify_stats stats;
    vkd_gaussians_params(g, &p);
    vkd_gaussians_stats(g, &stats);
    vkd_status st = VKD_OK;
    for (int c = 0; c < 2 && !st; c++) {
        st = vkd_splat_forward(ctx, t->s, NULL, &p, cams + first[c], views[c], NULL, &err);
        // No cotangent: only the statistics are wanted.
        if (!st) st = vkd_splat_backward(ctx, t->s, NULL, &stats, NULL, &p, cams + first[c], views[c], &err);
        vkd_ref_splat_backward(&(vkd_ref_splat_grads){0}, &rs, NULL, NULL, NULL, NULL, &rp, cams + first[c], views[c],
                               NULL);
    }
    ok_status(t, st, &err, "forward + backward with statistics");
    float* got = malloc(n * sizeof(float));
    ok_status(t, vkd_gaussians_download_stats(g, t->s, NULL, NULL, got, &err), &err, "download max radius");
    close_f(t, "max radius over 3 views in 2 calls vs reference", got, ref_rad, n, 0, 0);
    uint32_t big = 0, keep = 0;
    for (uint32_t i = 0; i < n; i++) big += ref_rad[i] > 20, keep += ref_rad[i] > 0 && ref_rad[i] <= 20;
    tu_check(t, big >= 2 && keep >= 2, "scene has %u Gaussians above 20 px and %u visible ones below", big, keep);
    // Densify with only the screen-space rule able to fire.
    vkd_gaussians_densify_desc dd = {.grad_threshold = 1e3f, .max_scale = 1e3f, .max_screen_radius = 20};
    ok_status(t, vkd_gaussians_densify(g, t->s, &dd, &err), &err, "densify");
    uint32_t c = vkd_gaussians_count(g);
    tu_check(t, c == n - big, "%u of %u Gaussians left after the screen-space prune (want %u)", c, n, n - big);
    if (c == n - big) {
        vkd_gaussians_host hp = get(t, g, VKD_GAUSSIANS_PARAMS);
        bool same = true;
        for (uint32_t i = 0, j = 0; i < n; i++) {
            if (ref_rad[i] > 20) continue;
            for (int k = 0; k < 3; k++) same &= hp.means[3 * j + k] == h.means[3 * i + k];
            j++;
        }
        tu_check(t, same, "the survivors are the small ones, in order");
        vkd_gaussians_host_free(&hp);
    }
    // Statistics again, then reset_stats clears the max radius with the others.
    vkd_gaussians_params(g, &p);
    vkd_gaussians_stats(g, &stats);
    st = vkd_splat_forward(ctx, t->s, NULL, &p, cams, 3, NULL, &err);
    if (!st) st = vkd_splat_backward(ctx, t->s, NULL, &stats, NULL, &p, cams, 3, &err);
    ok_status(t, st, &err, "statistics after densify");
    ok_status(t, vkd_gaussians_download_stats(g, t->s, NULL, NULL, got, &err), &err, "download");
    double seen = 0;
    for (uint32_t i = 0; i < c; i++) seen = fmax(seen, got[i]);
    tu_check(t, seen > 0 && seen <= 20, "survivors tracked again (largest %.0f px)", seen);
    vkd_gaussians_reset_stats(g, t->s);
    tu_run(t);
    ok_status(t, vkd_gaussians_download_stats(g, t->s, NULL, NULL, got, &err), &err, "download");
    double* zero = tu_alloc_d(n);
    close_f(t, "max radius after reset_stats", got, zero, c, 0, 0);
    free(zero), free(got), free(dp), free(ref_rad);
    vkd_gaussians_host_free(&h);
    vkd_splat_ctx_destroy(ctx);
    vkd_gaussians_destroy(g);
}

// ---------------------------------------------------------------------------
// Sphere initialisation

static void sphere(tu_ctx* t, int deg, vkd_gaussians_color color) {
    const uint32_t n = 20000;
    tu_case(t, "sphere init deg=%d color=%d", deg, (int)color);
    vkd_gaussians* g = make(t, &(vkd_gaussians_desc){.capacity = 64, .sh_degree = deg});
    if (!g) return;
    vkd_error err = {0};
    const float center[3] = {0.5f, -1, 2}, radius = 2, rgb[3] = {0.9f, 0.1f, 0.25f};
    vkd_gaussians_sphere_desc d = {.count = n, .radius = radius, .center = {center[0], center[1], center[2]},
                                   .color = color, .rgb = {rgb[0], rgb[1], rgb[2]}, .seed = 3};
    ok_status(t, vkd_gaussians_init_sphere(g, t->s, &d, &err), &err, "init sphere");
    tu_check(t, vkd_gaussians_count(g) == n && vkd_gaussians_capacity(g) >= n && vkd_gaussians_step_count(g) == 0,
             "count %u, capacity grew to %u", vkd_gaussians_count(g), vkd_gaussians_capacity(g));
    vkd_gaussians_host h = get(t, g, VKD_GAUSSIANS_PARAMS);
    if (h.count != n) return;
    double mu[3] = {0}, r2 = 0;
    uint32_t inside = 0, half = 0;
    for (uint32_t i = 0; i < n; i++) {
        double d2 = 0;
        for (int k = 0; k < 3; k++) {
            double x = h.means[3 * i + k] - center[k];
            mu[k] += x / n;
            d2 += x * x;
        }
        inside += d2 <= radius * radius * (1 + 1e-6);
        half += d2 < radius * radius / 4;
        r2 += d2 / n;
    }
    tu_check(t, inside == n, "all points in the ball (%u of %u)", inside, n);
    // Uniform in the ball: mean = center, E|x|^2 = 3/5 r^2, P(|x| < r/2) = 1/8.
    double sd = radius / sqrt(5.0 * n);
    tu_check(t, fabs(mu[0]) < 5 * sd && fabs(mu[1]) < 5 * sd && fabs(mu[2]) < 5 * sd, "mean = center (%.3g %.3g %.3g)",
             mu[0], mu[1], mu[2]);
    tu_check(t, fabs(r2 / (0.6 * radius * radius) - 1) < 0.02, "E|x - c|^2 = 3/5 r^2 (%.4g)", r2);
    tu_check(t, fabs(half / (double)n - 0.125) < 5 * sqrt(0.125 * 0.875 / n), "P(|x - c| < r/2) = 1/8 (%.4f)",
             half / (double)n);
    // Scale heuristic: 1.2129 r / n^(1/3), and it matches what 3DGS's init measures (RMS of the
    // 3 nearest neighbour distances) on the central points, away from the boundary.
    float want_ls = (float)log(1.2129 * radius / cbrt((double)n));
    bool iso = true, quats = true, opac = true, dc = true, rest = true;
    uint32_t K = (uint32_t)((deg + 1) * (deg + 1));
    double dcmean[3] = {0};
    for (uint32_t i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) iso &= h.log_scales[3 * i + k] == want_ls;
        quats &= h.quats[4 * i] == 1 && h.quats[4 * i + 1] == 0 && h.quats[4 * i + 2] == 0 && h.quats[4 * i + 3] == 0;
        opac &= fabsf(h.opacity_logits[i] - (float)log(0.1 / 0.9)) < 1e-6f;
        const float* sh = h.sh + (size_t)i * K * 3;
        for (int k = 0; k < 3; k++) {
            double c = sh[k] * VKD_SH_C0 + 0.5;
            dcmean[k] += c / n;
            if (color == VKD_GAUSSIANS_COLOR_FIXED) dc &= fabs(c - rgb[k]) < 1e-6;
            else if (color == VKD_GAUSSIANS_COLOR_GRAY) dc &= sh[k] == 0;
            else dc &= c >= -1e-6 && c <= 1 + 1e-6;
        }
        for (uint32_t k = 3; k < 3 * K; k++) rest &= sh[k] == 0;
    }
    if (color == VKD_GAUSSIANS_COLOR_RANDOM)
        dc &= fabs(dcmean[0] - 0.5) < 0.01 && fabs(dcmean[1] - 0.5) < 0.01 && fabs(dcmean[2] - 0.5) < 0.01;
    tu_check(t, iso, "isotropic log scale = log(1.2129 r / n^(1/3))");
    tu_check(t, quats, "identity rotations");
    tu_check(t, opac, "opacity 0.1");
    tu_check(t, dc, "SH DC = (rgb - 0.5) / C0 for the color mode");
    tu_check(t, rest, "higher SH bands zero");
    if (deg == 0 && color == VKD_GAUSSIANS_COLOR_GRAY) {
        // Brute-force 3-NN on the points within r/2 of the center (against all points).
        double acc = 0;
        uint32_t used = 0;
        for (uint32_t i = 0; i < n && used < 300; i++) {
            double d2c = 0;
            for (int k = 0; k < 3; k++) d2c += (h.means[3 * i + k] - center[k]) * (h.means[3 * i + k] - center[k]);
            if (d2c > radius * radius / 4) continue;
            double best[3] = {1e30, 1e30, 1e30};
            for (uint32_t j = 0; j < n; j++) {
                if (j == i) continue;
                double e = 0;
                for (int k = 0; k < 3; k++) e += (h.means[3 * i + k] - h.means[3 * j + k]) * (h.means[3 * i + k] - h.means[3 * j + k]);
                if (e < best[2]) {
                    best[2] = e;
                    for (int k = 2; k > 0 && best[k] < best[k - 1]; k--) {
                        double tmp = best[k];
                        best[k] = best[k - 1], best[k - 1] = tmp;
                    }
                }
            }
            acc += (best[0] + best[1] + best[2]) / 3;
            used++;
        }
        double measured = sqrt(acc / used), predicted = exp(want_ls);
        tu_check(t, fabs(measured / predicted - 1) < 0.1, "3-NN RMS distance %.4g vs heuristic %.4g", measured,
                 predicted);
    }
    vkd_gaussians_host_free(&h);
    // Bad arguments.
    vkd_status st = vkd_gaussians_init_sphere(g, t->s, &(vkd_gaussians_sphere_desc){.opacity = 1.5f}, &err);
    tu_check(t, st == VKD_ERR_INVALID && strstr(err.msg, "opacity"), "opacity 1.5 rejected: %s", err.msg);
    vkd_gaussians_destroy(g);
}

void test_gaussians(tu_ctx* t) {
    for (int deg = 0; deg <= 3; deg++) layout(t, deg);
    growth(t, 0, 1, 65);
    growth(t, 1, 37, 200);
    growth(t, 3, 130, 1000);
    adam(t, 0, 5, false);
    adam(t, 3, 37, false);
    adam(t, 1, 70, true);
    adam_first_step(t);
    reset_opacity(t);
    densify(t, 1, C_COUNT * 37, -1, true, false, 0, 20);
    densify(t, 3, C_COUNT * 37, -1, true, false, 0, 0);   // screen-space prune off
    densify(t, 0, C_COUNT * 37, -1, false, false, 0, 20); // no_size_prune turns it off too
    densify(t, 2, C_COUNT * 37, -1, true, true, 0, 20);
    densify(t, 3, 100, C_CLONE, true, false, 100, 20);        // doubles: grows the capacity
    densify(t, 0, 64, C_PRUNE_OPAC, true, false, 64, 0);      // everything pruned
    densify(t, 0, 1, C_SPLIT, true, false, 1, 0);
    densify(t, 1, 50, C_SPLIT_SCREEN, true, false, 64, 20);   // all split, every child pruned
    if (!t->quick) densify(t, 0, 9000, -1, true, false, 0, 20); // a multi-level scan (> 4096)
    split_distribution(t);
    screen_prune(t);
    sphere(t, 0, VKD_GAUSSIANS_COLOR_GRAY);
    sphere(t, 3, VKD_GAUSSIANS_COLOR_FIXED);
    sphere(t, 1, VKD_GAUSSIANS_COLOR_RANDOM);
}
