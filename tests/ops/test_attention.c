// attention: GPU forward (out, lse) and backward (dq, dk, dv, delta) vs the float64 reference,
// the reference backward vs central finite differences of the reference forward, accumulation
// into prefilled gradients, each gradient alone, q/k/v as slices of one fused qkv tensor,
// padded and misaligned layouts, causal and cross attention, large logits, every built-in
// kernel configuration, the benchmark's float32 CPU version, and argument checks.
#include "harness.h"
#include "vkdream/nn/attention.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef enum layout {
    PACKED,   // separate (B, T, H*D) tensors
    FUSED,    // q, k, v (and dq, dk, dv) are column slices of one (B, T, 3*H*D) tensor (Tq = Tk);
              // out and dout have padded rows
    STRIDED,  // separate tensors with padded rows (even strides), starting 2 floats into their buffers
    PADDED,   // separate tensors with odd row strides, starting 1 float into their buffers: the
              // kernels' scalar path (the others move pairs of floats)
} layout;

typedef struct shape {
    uint32_t B, H, Tq, Tk, D;
    bool causal;
    layout lay;
    uint32_t config;
    double qk_std;     // spread of q and k (large: huge logits)
    size_t fd_count;   // finite-difference probes per tensor (SIZE_MAX: all)
    bool alone;        // also run each gradient alone
} shape;

// A host/device tensor view: element (b, t, c) of a (B, T, ld) sequence at off + (b*T + t)*ld + c
// of a store that may be shared with other views (the fused layout).
typedef struct store {
    double* h;
    size_t n;
} store;

typedef struct view {
    store* st;
    size_t off;
    uint32_t T, ld;
} view;

static double* at(view v) { return v.st->h + v.off; }

// Closure for the finite differences: L = sum(out * g) of the reference forward.
typedef struct fd_ctx {
    const vkd_attention_desc* d;
    view q, k, v;
    double *out, *g;
    size_t n_out;
} fd_ctx;

static double loss(void* user) {
    fd_ctx* f = user;
    vkd_ref_attention_forward(f->out, NULL, at(f->q), at(f->k), at(f->v), f->d);
    return tu_dot(f->out, f->g, f->n_out);
}

// Reference gradient (in grad, laid out like x) vs central differences at `count` random
// elements of the (B, T, H*D) view x (all when count covers it).
static void fd_check(tu_ctx* t, const char* what, fd_ctx* f, view x, const double* grad, uint32_t B, uint32_t HD,
                     size_t count) {
    const size_t total = (size_t)B * x.T * HD;
    const size_t m = count < total ? count : total;
    double* got = tu_alloc_d(m);
    double* want = tu_alloc_d(m);
    for (size_t j = 0; j < m; j++) {
        size_t e = m == total ? j : (size_t)tu_uniform(t, 0, (double)total) % total;
        size_t pos = x.off + (e / HD) * x.ld + e % HD;
        tu_fd_grad(loss, f, x.st->h + pos, 1, 1e-5, &got[j]);
        want[j] = grad[pos];
    }
    char name[96];
    snprintf(name, sizeof name, "%s ref vs finite differences (%zu of %zu)", what, m, total);
    tu_check_close(t, name, got, want, m, 1e-6, 1e-9);
    free(got);
    free(want);
}

// Expected contents of a store after an op wrote (or added) `val` into view v: `base`
// everywhere, plus (add) or replaced by (!add) val at the view's elements.
static void expect_view(double* dst, const double* base, size_t n, view v, const double* val, uint32_t B, uint32_t HD,
                        bool add) {
    memcpy(dst, base, n * sizeof *dst);
    for (size_t r = 0; r < (size_t)B * v.T; r++)
        for (uint32_t c = 0; c < HD; c++) {
            size_t pos = v.off + r * v.ld + c;
            dst[pos] = (add ? base[pos] : 0.0) + val[pos];
        }
}

static void run_case(tu_ctx* t, const char* label, shape s) {
    tu_case(t, "%s B=%u H=%u Tq=%u Tk=%u D=%u%s%s config=%u", label, s.B, s.H, s.Tq, s.Tk, s.D,
            s.causal ? " causal" : "",
            s.lay == FUSED ? " fused-qkv" : s.lay == STRIDED ? " strided" : s.lay == PADDED ? " odd-strided" : "", s.config);
    const uint32_t HD = s.H * s.D;
    vkd_attention_desc d = {.B = s.B, .H = s.H, .Tq = s.Tq, .Tk = s.Tk, .D = s.D, .causal = s.causal,
                            .config = s.config};
    // Stores and views of the inputs (gradient stores mirror them).
    store sx[3] = {{0}}, so = {0};
    view q, k, v, o;
    int nx;
    if (s.lay == FUSED) {
        if (s.Tq != s.Tk) {
            tu_check(t, false, "test bug: the fused layout needs Tq == Tk");
            return;
        }
        nx = 1;
        sx[0].n = (size_t)s.B * s.Tq * 3 * HD;
        q = (view){&sx[0], 0, s.Tq, 3 * HD};
        k = (view){&sx[0], HD, s.Tk, 3 * HD};
        v = (view){&sx[0], 2 * HD, s.Tk, 3 * HD};
        o = (view){&so, 0, s.Tq, HD + 2};
    } else {
        nx = 3;
        // Row padding per tensor (odd or even strides) and the offset into the buffers.
        const uint32_t pad = s.lay == PADDED ? 1 : s.lay == STRIDED ? 2 : 0, off = pad;
        q = (view){&sx[0], off, s.Tq, HD + pad};
        k = (view){&sx[1], off, s.Tk, HD + 3 * pad};
        v = (view){&sx[2], off, s.Tk, HD + 2 * pad};
        o = (view){&so, off, s.Tq, HD + 5 * pad};
        for (int i = 0; i < 3; i++) {
            view w = i == 0 ? q : i == 1 ? k : v;
            sx[i].n = w.off + (size_t)s.B * w.T * w.ld;
        }
    }
    so.n = o.off + (size_t)s.B * s.Tq * o.ld;
    d.ldq = q.ld, d.ldk = k.ld, d.ldv = v.ld, d.ldo = o.ld;
    const size_t nl = (size_t)s.B * s.H * s.Tq;

    // Inputs: q, k with spread qk_std (the fused store's v columns are rescaled to 1), dout.
    for (int i = 0; i < nx; i++) {
        sx[i].h = tu_alloc_d(sx[i].n);
        tu_fill_normal(t, sx[i].h, sx[i].n, 1.0);
    }
    for (size_t r = 0; r < (size_t)s.B * s.Tq; r++)
        for (uint32_t c = 0; c < HD; c++) at(q)[r * q.ld + c] *= s.qk_std;
    for (size_t r = 0; r < (size_t)s.B * s.Tk; r++)
        for (uint32_t c = 0; c < HD; c++) at(k)[r * k.ld + c] *= s.qk_std;
    double* g = tu_alloc_d(so.n);  // dout, laid out like out
    tu_fill_normal(t, g, so.n, 1.0);
    so.h = tu_alloc_d(so.n);
    double* o_pre = tu_alloc_d(so.n);  // out's prior contents (the op must only touch its view)
    tu_fill_normal(t, o_pre, so.n, 1.0);
    double* lse = tu_alloc_d(nl);
    memcpy(so.h, o_pre, so.n * sizeof(double));
    vkd_ref_attention_forward(at(o), lse, at(q), at(k), at(v), &d);

    // Forward.
    tu_buf gx[3], g_o = tu_upload_d(t, o_pre, so.n), g_lse = tu_alloc(t, nl), g_g = tu_upload_d(t, g, so.n);
    for (int i = 0; i < nx; i++) gx[i] = tu_upload_d(t, sx[i].h, sx[i].n);
    const vkd_addr a_q = gx[0].addr + 4 * q.off, a_k = gx[nx == 1 ? 0 : 1].addr + 4 * k.off,
                   a_v = gx[nx == 1 ? 0 : 2].addr + 4 * v.off, a_o = g_o.addr + 4 * o.off,
                   a_g = g_g.addr + 4 * o.off;
    vkd_attention_forward(t->s, a_o, g_lse.addr, a_q, a_k, a_v, &d);
    tu_run(t);
    // Logits of size ~1e3 carry fp32 rounding errors of ~1e-4 (absolute), and so do the
    // probabilities (relative) computed from them: the tolerances follow (measured: out 3e-5,
    // delta 1e-5, gradients 2e-4 relative to their largest value).
    const bool large = s.qk_std > 1.0;
    tu_expect_buf(t, "out", g_o, so.h, large ? 2e-4 : 1e-5, 1e-6);
    tu_expect_buf(t, "lse", g_lse, lse, 1e-5, 1e-5);

    // Reference backward (into zeroed stores) and the expected accumulated results.
    store sd[3] = {{0}};
    view dq = q, dk = k, dv = v;
    for (int i = 0; i < nx; i++) sd[i] = (store){tu_alloc_d(sx[i].n), sx[i].n};
    dq.st = &sd[0], dk.st = &sd[nx == 1 ? 0 : 1], dv.st = &sd[nx == 1 ? 0 : 2];
    double* delta = tu_alloc_d(nl);
    const double* gdout = g + o.off;
    vkd_ref_attention_backward(at(dq), at(dk), at(dv), delta, gdout, at(q), at(k), at(v), at(o), lse, &d);

    // Backward into prefilled gradient stores: the op must add (and leave other columns alone).
    double* pre[3] = {0};
    tu_buf gd[3];
    for (int i = 0; i < nx; i++) {
        pre[i] = tu_alloc_d(sx[i].n);
        tu_fill_normal(t, pre[i], sx[i].n, 1.0);
        gd[i] = tu_upload_d(t, pre[i], sx[i].n);
    }
    tu_buf g_delta = tu_alloc(t, nl);
    const vkd_addr a_dq = gd[0].addr + 4 * q.off, a_dk = gd[nx == 1 ? 0 : 1].addr + 4 * k.off,
                   a_dv = gd[nx == 1 ? 0 : 2].addr + 4 * v.off;
    vkd_attention_backward(t->s, a_dq, a_dk, a_dv, g_delta.addr, a_g, a_q, a_k, a_v, a_o, g_lse.addr, &d);
    tu_run(t);
    tu_expect_buf(t, "delta", g_delta, delta, large ? 1e-4 : 1e-5, 1e-6);
    const double gtol = large ? 1e-3 : 1e-5;
    for (int i = 0; i < nx; i++) {
        double* e = tu_alloc_d(sx[i].n);
        memcpy(e, pre[i], sx[i].n * sizeof *e);
        for (size_t j = 0; j < sx[i].n; j++) e[j] += sd[i].h[j];  // zero outside the views
        const char* names[3] = {"dq (accumulated)", "dk (accumulated)", "dv (accumulated)"};
        tu_expect_buf(t, nx == 1 ? "dq|dk|dv in dqkv (accumulated)" : names[i], gd[i], e, gtol, 1e-6);
        free(e);
    }

    // Each gradient alone into zeros; dv needs neither out nor delta.
    if (s.alone) {
        view vs[3] = {dq, dk, dv};
        const char* names[3] = {"dq alone", "dk alone", "dv alone"};
        for (int which = 0; which < 3; which++) {
            store* st = &sd[nx == 1 ? 0 : which];
            tu_buf z = tu_zeros(t, st->n);
            const size_t off = which == 0 ? q.off : which == 1 ? k.off : v.off;
            vkd_addr a = z.addr + 4 * off;
            vkd_attention_backward(t->s, which == 0 ? a : 0, which == 1 ? a : 0, which == 2 ? a : 0,
                                   which == 2 ? 0 : g_delta.addr, a_g, a_q, a_k, a_v, which == 2 ? 0 : a_o,
                                   g_lse.addr, &d);
            tu_run(t);
            double* zero = tu_alloc_d(st->n);
            double* e = tu_alloc_d(st->n);
            expect_view(e, zero, st->n, vs[which], st->h, s.B, HD, true);
            tu_expect_buf(t, names[which], z, e, gtol, 1e-6);
            free(zero);
            free(e);
            tu_free(t, &z);
        }
    }

    // Reference backward vs finite differences of the reference forward.
    if (s.fd_count) {
        // L = sum(out * dout) over out's view: a dot product over the whole store with dout
        // zeroed outside the view (the padding columns of out2 stay 0 anyway).
        double* out2 = tu_alloc_d(so.n);
        double* gm = tu_alloc_d(so.n);
        for (size_t r = 0; r < (size_t)s.B * s.Tq; r++)
            for (uint32_t c = 0; c < HD; c++) gm[o.off + r * o.ld + c] = g[o.off + r * o.ld + c];
        fd_ctx f = {&d, q, k, v, out2 + o.off, gm + o.off, so.n - o.off};
        fd_check(t, "dq", &f, q, sd[0].h, s.B, HD, s.fd_count);
        fd_check(t, "dk", &f, k, sd[nx == 1 ? 0 : 1].h, s.B, HD, s.fd_count);
        fd_check(t, "dv", &f, v, sd[nx == 1 ? 0 : 2].h, s.B, HD, s.fd_count);
        free(gm);
        free(out2);
    }

    for (int i = 0; i < nx; i++) {
        tu_free(t, &gx[i]);
        tu_free(t, &gd[i]);
        free(sx[i].h);
        free(sd[i].h);
        free(pre[i]);
    }
    tu_free(t, &g_o);
    tu_free(t, &g_lse);
    tu_free(t, &g_g);
    tu_free(t, &g_delta);
    free(g);
    free(so.h);
    free(o_pre);
    free(lse);
    free(delta);
}

// The benchmark's plain-C float32 attention vs the float64 reference.
static void cpu_f32(tu_ctx* t, uint32_t B, uint32_t H, uint32_t Tq, uint32_t Tk, uint32_t D, bool causal) {
    tu_case(t, "cpu f32 B=%u H=%u Tq=%u Tk=%u D=%u%s", B, H, Tq, Tk, D, causal ? " causal" : "");
    const size_t nq = (size_t)B * Tq * H * D, nk = (size_t)B * Tk * H * D, nl = (size_t)B * H * Tq;
    const vkd_attention_desc d = {.B = B, .H = H, .Tq = Tq, .Tk = Tk, .D = D, .causal = causal};
    double *q = tu_alloc_d(nq), *k = tu_alloc_d(nk), *v = tu_alloc_d(nk), *g = tu_alloc_d(nq);
    tu_fill_normal(t, q, nq, 1.0);
    tu_fill_normal(t, k, nk, 1.0);
    tu_fill_normal(t, v, nk, 1.0);
    tu_fill_normal(t, g, nq, 1.0);
    // Round the inputs to float32 first, so both sides see the same numbers.
    float *fq = malloc(nq * sizeof *fq), *fk = malloc(nk * sizeof *fk), *fv = malloc(nk * sizeof *fv),
          *fg = malloc(nq * sizeof *fg), *fo = malloc(nq * sizeof *fo), *fl = malloc(nl * sizeof *fl),
          *fdq = calloc(nq, sizeof *fdq), *fdk = calloc(nk, sizeof *fdk), *fdv = calloc(nk, sizeof *fdv);
    for (size_t i = 0; i < nq; i++) q[i] = fq[i] = (float)q[i], g[i] = fg[i] = (float)g[i];
    for (size_t i = 0; i < nk; i++) k[i] = fk[i] = (float)k[i], v[i] = fv[i] = (float)v[i];
    double *o = tu_alloc_d(nq), *l = tu_alloc_d(nl), *dq = tu_alloc_d(nq), *dk = tu_alloc_d(nk), *dv = tu_alloc_d(nk);
    vkd_ref_attention_forward(o, l, q, k, v, &d);
    vkd_ref_attention_backward(dq, dk, dv, NULL, g, q, k, v, o, l, &d);
    bool ok = vkd_cpu_attention_forward_f32(fo, fl, fq, fk, fv, B, H, Tq, Tk, D, causal) &&
              vkd_cpu_attention_backward_f32(fdq, fdk, fdv, fg, fq, fk, fv, fo, fl, B, H, Tq, Tk, D, causal);
    tu_check(t, ok, "ran");
    double* got = tu_alloc_d(nq > nk ? nq : nk);
    const struct { const char* what; const float* f; const double* ref; size_t n; } cmp[] = {
        {"out", fo, o, nq}, {"lse", fl, l, nl}, {"dq", fdq, dq, nq}, {"dk", fdk, dk, nk}, {"dv", fdv, dv, nk}};
    for (size_t c = 0; c < sizeof cmp / sizeof cmp[0]; c++) {
        for (size_t i = 0; i < cmp[c].n; i++) got[i] = cmp[c].f[i];
        tu_check_close(t, cmp[c].what, got, cmp[c].ref, cmp[c].n, 1e-5, 1e-6);
    }
    free(got);
    float* fs[] = {fq, fk, fv, fg, fo, fl, fdq, fdk, fdv};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++) free(fs[i]);
    double* ds[] = {q, k, v, g, o, l, dq, dk, dv};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) free(ds[i]);
}

// Recording-time argument checks: the stream reports the first error at submit.
static void bad_args(tu_ctx* t) {
    tu_case(t, "bad arguments");
    tu_buf a = tu_zeros(t, 256);
    vkd_error e = {0};
    vkd_attention_forward(t->s, a.addr, 0, a.addr, a.addr, a.addr, &(vkd_attention_desc){.B = 1, .H = 1, .Tq = 2});
    vkd_status st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "attention_forward") && strstr(e.msg, "D=0"),
             "D = 0 is rejected: %s", e.msg);
    vkd_attention_forward(t->s, a.addr, 0, a.addr, a.addr, a.addr,
                          &(vkd_attention_desc){.B = 1, .H = 2, .Tq = 2, .D = 8, .ldk = 9});
    st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "ldk=9"), "a row stride below H*D is rejected: %s", e.msg);
    vkd_attention_forward(t->s, a.addr, 0, a.addr, a.addr, a.addr,
                          &(vkd_attention_desc){.B = 1, .H = 1, .Tq = 2, .D = 300});
    st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "D=300"), "a head dim above the limit is rejected: %s", e.msg);
    vkd_attention_desc d = {.B = 1, .H = 1, .Tq = 2, .D = 8};
    vkd_attention_backward(t->s, a.addr, 0, 0, 0, a.addr, a.addr, a.addr, a.addr, a.addr, a.addr, &d);
    st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "attention_backward") && strstr(e.msg, "delta"),
             "dq without a delta buffer is rejected: %s", e.msg);
    vkd_attention_backward(t->s, 0, 0, a.addr, 0, a.addr, a.addr, a.addr, a.addr, 0, 0, &d);
    st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "lse"), "dv without lse is rejected: %s", e.msg);
    tu_free(t, &a);
}

void test_attention(tu_ctx* t) {
    const size_t ALL = SIZE_MAX;
    // label, {B, H, Tq, Tk, D, causal, layout, config, qk_std, fd_count, alone}
    run_case(t, "single", (shape){1, 1, 1, 1, 4, false, PACKED, 0, 1.0, ALL, true});
    run_case(t, "self", (shape){2, 1, 7, 7, 8, false, PACKED, 0, 1.0, ALL, true});
    run_case(t, "self causal", (shape){2, 2, 7, 7, 4, true, PACKED, 0, 1.0, ALL, false});
    run_case(t, "self", (shape){2, 8, 33, 33, 40, false, PACKED, 0, 1.0, 12, true});
    run_case(t, "self causal", (shape){2, 8, 77, 77, 64, true, PACKED, 0, 1.0, 6, false});
    run_case(t, "cross", (shape){2, 8, 130, 77, 40, false, PACKED, 0, 1.0, 4, true});
    run_case(t, "cross causal Tk > Tq", (shape){1, 2, 7, 130, 64, true, PACKED, 0, 1.0, 8, true});
    run_case(t, "cross Tq = 1", (shape){2, 2, 1, 33, 8, false, PACKED, 0, 1.0, ALL, false});
    run_case(t, "cross Tk = 1", (shape){1, 2, 130, 1, 4, false, PADDED, 0, 1.0, 16, true});
    run_case(t, "fused", (shape){2, 2, 33, 33, 40, true, FUSED, 0, 1.0, 8, true});
    run_case(t, "fused", (shape){2, 8, 130, 130, 8, false, FUSED, 0, 1.0, 8, false});
    run_case(t, "strided", (shape){2, 2, 33, 7, 40, false, STRIDED, 0, 1.0, 8, true});
    run_case(t, "strided causal", (shape){1, 3, 77, 77, 64, true, STRIDED, 0, 1.0, 0, false});
    run_case(t, "odd strides", (shape){2, 2, 33, 77, 8, true, PADDED, 0, 1.0, 8, true});
    run_case(t, "odd head dim", (shape){2, 2, 17, 9, 5, true, PACKED, 0, 1.0, ALL, true});
    // Logits of order 1e3: the online softmax must neither overflow nor lose the row.
    run_case(t, "large logits", (shape){2, 2, 77, 77, 8, false, PACKED, 0, 30.0, 0, false});
    run_case(t, "large logits causal", (shape){1, 2, 77, 77, 40, true, FUSED, 0, 30.0, 0, false});
    if (!t->quick) run_case(t, "self", (shape){2, 8, 130, 130, 64, false, PACKED, 0, 1.0, 0, false});
    // SD's largest head dim (20 octets: 4 invocations per row on GPUs, smaller blocks to fit).
    if (!t->quick) run_case(t, "head dim 160", (shape){1, 2, 33, 17, 160, true, PACKED, 0, 1.0, 4, true});
    // The CPU (1) and GPU (2) configurations on any device (one of them is the default above),
    // with several invocations per row on GPUs (D = 64: 2), and the coverage configuration (3:
    // 3 rows per invocation, blocks of 5, one invocation per octet, partial subgroups).
    run_case(t, "config", (shape){2, 2, 77, 33, 64, true, PACKED, 1, 1.0, 0, true});
    run_case(t, "config", (shape){2, 2, 77, 33, 64, true, PACKED, 2, 1.0, 0, true});
    if (!t->quick) run_case(t, "config", (shape){1, 2, 33, 17, 160, false, PACKED, 2, 1.0, 0, false});
    run_case(t, "config", (shape){2, 3, 33, 130, 12, false, PADDED, 3, 1.0, 0, true});
    run_case(t, "config", (shape){1, 2, 130, 77, 40, true, PADDED, 3, 1.0, 0, false});
    cpu_f32(t, 2, 2, 33, 17, 40, false);
    cpu_f32(t, 1, 3, 17, 33, 8, true);
    bad_args(t);
}
