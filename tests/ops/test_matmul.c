// Batched matmul: GPU forward and backward against the float64 reference, the reference
// backward against finite differences, accumulation into pre-filled gradients, strided and
// head-interleaved batches, broadcast operands, every tile configuration, fp16 operands, bad arguments.
#include "harness.h"
#include "vkdream/nn/matmul.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct mm_case {
    vkd_matmul_desc d;
    bool bias;          // pass a bias ((N,) or (M,) with d.bias_rows)
    size_t off;         // element offset of every matrix inside its buffer (1 = not 16-byte aligned)
    bool fd;            // finite-difference the reference backward (small cases)
    bool nan_c;         // pre-fill C with NaN: with beta = 0 it must never be read
    bool skip_da;       // pass da = 0 to the backward (also when d.a_f16: fp16 operands have no gradient)
    bool fwd_only;      // no backward (it runs other kernel variants)
} mm_case;

// Elements a strided batch of rows x cols matrices spans from its first element.
static size_t extent(const vkd_matmul_desc* r, int64_t s, int64_t s2, int32_t rows, int32_t cols, int32_t ld) {
    int64_t last = (int64_t)(r->batch_outer - 1) * s2 + (int64_t)(r->batch - 1) * s;
    return (size_t)(last + (int64_t)(rows - 1) * ld + cols);
}

typedef struct fd_ctx {
    const vkd_matmul_desc* d;
    double *a, *b, *bias, *c, *c0, *g;
    size_t nc;
} fd_ctx;

// L = sum(C * g) with C = op(A) op(B) + bias (beta's term does not depend on A, B, bias).
static double fd_loss(void* user) {
    fd_ctx* f = user;
    memcpy(f->c, f->c0, f->nc * sizeof *f->c);
    vkd_ref_matmul_forward(f->c, f->a, f->b, f->bias, f->d);
    return tu_dot(f->c, f->g, f->nc);
}

// Finite differences of the reference at up to 40 random indices of x against grad.
static void fd_check(tu_ctx* t, const char* what, fd_ctx* f, double* x, size_t n, const double* grad) {
    size_t picks = n < 40 ? n : 40;
    double* fd = tu_alloc_d(picks);
    double* an = tu_alloc_d(picks);
    for (size_t i = 0; i < picks; i++) {
        size_t idx = n <= 40 ? i : (size_t)tu_uniform(t, 0, (double)n) % n;
        double g;
        tu_fd_grad(fd_loss, f, &x[idx], 1, 1e-6, &g);
        fd[i] = g;
        an[i] = grad[idx];
    }
    tu_check_close(t, what, an, fd, picks, 1e-6, 1e-7);
    free(fd);
    free(an);
}

// One case's operands on the host (float64) and the device; every matrix starts at element
// `off` of its buffer.
typedef struct mm_data {
    const mm_case* mc;
    size_t off, na, nb, nc, nbias;
    double *a, *b, *c0, *bias;
    tu_buf ga, gb, gc, gbias;
    vkd_addr a0, b0;    // element `off` of A and B (2 or 4 bytes per element)
} mm_data;

static void check_forward(tu_ctx* t, mm_data* m) {
    const mm_case* mc = m->mc;
    const size_t off = m->off, nc = m->nc;
    vkd_matmul_forward(t->s, m->gc.addr + 4 * off, m->a0, m->b0, mc->bias ? m->gbias.addr : 0, &mc->d);
    tu_run(t);
    double* c = tu_alloc_d(nc);
    memcpy(c, m->c0, nc * sizeof *c);
    vkd_ref_matmul_forward(c + off, m->a + off, m->b + off, mc->bias ? m->bias : NULL, &mc->d);
    double* got = tu_download_d(t, m->gc);
    if (mc->nan_c) {
        // Elements outside the matrix stay NaN on both sides; inside, none may be NaN.
        size_t nan_inside = 0;
        for (size_t i = 0; i < nc; i++) {
            if (isnan(c[i]) && isnan(got[i])) c[i] = got[i] = 0.0;
            else if (isnan(got[i])) nan_inside++;
        }
        tu_check(t, nan_inside == 0, "beta = 0 never reads C: %zu NaN outputs", nan_inside);
    }
    tu_check_close(t, "c", got, c, nc, 2e-5, 1e-6);
    free(got);
    free(c);
}

// Backward into random pre-filled gradients (they must accumulate), then the reference
// backward against finite differences of the reference forward.
static void check_backward(tu_ctx* t, mm_data* m) {
    const mm_case* mc = m->mc;
    const size_t off = m->off;
    double *g = tu_alloc_d(m->nc), *da = tu_alloc_d(m->na), *db = tu_alloc_d(m->nb), *dbias = tu_alloc_d(m->nbias);
    tu_fill_normal(t, g, m->nc, 1.0);
    tu_fill_normal(t, da, m->na, 1.0);
    tu_fill_normal(t, db, m->nb, 1.0);
    tu_fill_normal(t, dbias, m->nbias, 1.0);
    tu_buf gg = tu_upload_d(t, g, m->nc), gda = tu_upload_d(t, da, m->na), gdb = tu_upload_d(t, db, m->nb);
    tu_buf gdbias = tu_upload_d(t, dbias, m->nbias);
    const bool skip_da = mc->skip_da || mc->d.a_f16, skip_db = mc->d.b_f16;
    vkd_matmul_backward(t->s, skip_da ? 0 : gda.addr + 4 * off, skip_db ? 0 : gdb.addr + 4 * off,
                        mc->bias ? gdbias.addr : 0, gg.addr + 4 * off, m->a0, m->b0, &mc->d);
    tu_run(t);
    vkd_ref_matmul_backward(skip_da ? NULL : da + off, skip_db ? NULL : db + off, mc->bias ? dbias : NULL, g + off,
                            m->a + off, m->b + off, &mc->d);
    tu_expect_buf(t, skip_da ? "da untouched" : "da = prefill + grad", gda, da, 2e-5, 1e-6);
    tu_expect_buf(t, skip_db ? "db untouched" : "db = prefill + grad", gdb, db, 2e-5, 1e-6);
    tu_expect_buf(t, mc->bias ? "dbias = prefill + grad" : "dbias untouched", gdbias, dbias, 2e-5, 1e-6);

    if (mc->fd) {
        double *ra = tu_alloc_d(m->na), *rb = tu_alloc_d(m->nb), *rbias = tu_alloc_d(m->nbias);
        double *cs = tu_alloc_d(m->nc), *c0 = tu_alloc_d(m->nc);
        vkd_ref_matmul_backward(ra + off, rb + off, mc->bias ? rbias : NULL, g + off, m->a + off, m->b + off, &mc->d);
        for (size_t i = 0; i < m->nc; i++) c0[i] = isnan(m->c0[i]) ? 0.0 : m->c0[i];
        fd_ctx f = {.d = &mc->d, .a = m->a + off, .b = m->b + off, .bias = mc->bias ? m->bias : NULL,
                    .c = cs + off, .c0 = c0 + off, .g = g + off, .nc = m->nc - off};
        fd_check(t, "fd da", &f, m->a, m->na, ra);
        fd_check(t, "fd db", &f, m->b, m->nb, rb);
        if (mc->bias) fd_check(t, "fd dbias", &f, m->bias, m->nbias, rbias);
        free(ra), free(rb), free(rbias), free(cs), free(c0);
    }
    free(g), free(da), free(db), free(dbias);
    tu_free(t, &gg), tu_free(t, &gda), tu_free(t, &gdb), tu_free(t, &gdbias);
}

static void run_case(tu_ctx* t, const char* name, const mm_case* mc) {
    tu_case(t, "%s", name);
    vkd_matmul_desc r;
    char why[256];
    if (!tu_check(t, vkd_matmul_resolve(&mc->d, &r, "matmul", why, sizeof why), "resolve: %s", why)) return;
    const int32_t a_rows = r.trans_a ? r.K : r.M, a_cols = r.trans_a ? r.M : r.K;
    const int32_t b_rows = r.trans_b ? r.N : r.K, b_cols = r.trans_b ? r.K : r.N;
    mm_data m = {.mc = mc, .off = mc->off};
    m.na = m.off + extent(&r, r.stride_a, r.stride_a_outer, a_rows, a_cols, r.lda);
    m.nb = m.off + extent(&r, r.stride_b, r.stride_b_outer, b_rows, b_cols, r.ldb);
    m.nc = m.off + extent(&r, r.stride_c, r.stride_c_outer, r.M, r.N, r.ldc);
    m.nbias = r.bias_rows ? (size_t)r.M : (size_t)r.N;
    m.a = tu_alloc_d(m.na), m.b = tu_alloc_d(m.nb), m.c0 = tu_alloc_d(m.nc), m.bias = tu_alloc_d(m.nbias);
    tu_fill_normal(t, m.a, m.na, 1.0);
    tu_fill_normal(t, m.b, m.nb, 1.0);
    tu_fill_normal(t, m.c0, m.nc, 1.0);
    tu_fill_normal(t, m.bias, m.nbias, 1.0);
    if (mc->nan_c)
        for (size_t i = 0; i < m.nc; i++) m.c0[i] = NAN;
    // fp16 operands: the reference multiplies the same rounded values.
    m.ga = r.a_f16 ? tu_upload_half(t, m.a, m.na) : tu_upload_d(t, m.a, m.na);
    m.gb = r.b_f16 ? tu_upload_half(t, m.b, m.nb) : tu_upload_d(t, m.b, m.nb);
    m.a0 = m.ga.addr + (r.a_f16 ? 2 : 4) * m.off, m.b0 = m.gb.addr + (r.b_f16 ? 2 : 4) * m.off;
    m.gc = tu_upload_d(t, m.c0, m.nc);
    m.gbias = tu_upload_d(t, m.bias, m.nbias);

    check_forward(t, &m);
    if (!mc->fwd_only) check_backward(t, &m);

    free(m.a), free(m.b), free(m.c0), free(m.bias);
    tu_free(t, &m.ga), tu_free(t, &m.gb), tu_free(t, &m.gc), tu_free(t, &m.gbias);
}

static void shapes(tu_ctx* t) {
    char name[160];
    const int dims[][3] = {{1, 1, 1}, {7, 13, 5}, {33, 65, 17}, {3, 1, 9}, {64, 64, 64}, {40, 24, 36}};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
        for (int tr = 0; tr < 4; tr++) {
            const int M = dims[i][0], N = dims[i][1], K = dims[i][2];
            mm_case mc = {.d = {.M = M, .N = N, .K = K, .trans_a = tr & 1, .trans_b = tr >> 1},
                          .bias = i % 2 == 1, .fd = M * N * K <= 4000};
            snprintf(name, sizeof name, "%dx%dx%d ta=%d tb=%d%s", M, N, K, tr & 1, tr >> 1, mc.bias ? " bias" : "");
            run_case(t, name, &mc);
        }
    }
}

static void alpha_beta(tu_ctx* t) {
    // C = alpha A B + beta C, including C += A B (beta = 1) and a row bias.
    run_case(t, "alpha=0.5 beta=1 33x65x17", &(mm_case){.d = {.M = 33, .N = 65, .K = 17, .alpha = 0.5f, .beta = 1.0f},
                                                      .fd = true});
    run_case(t, "alpha=-2 beta=0.25 ta tb 20x12x8 bias",
             &(mm_case){.d = {.M = 20, .N = 12, .K = 8, .trans_a = true, .trans_b = true, .alpha = -2.0f,
                              .beta = 0.25f},
                        .bias = true, .fd = true});
    run_case(t, "row bias 9x31x6", &(mm_case){.d = {.M = 9, .N = 31, .K = 6, .bias_rows = true}, .bias = true,
                                             .fd = true});
    run_case(t, "beta=0 never reads C 24x40x12",
             &(mm_case){.d = {.M = 24, .N = 40, .K = 12}, .nan_c = true, .skip_da = true});
    run_case(t, "beta=0 never reads C unaligned 7x13x5",
             &(mm_case){.d = {.M = 7, .N = 13, .K = 5, .trans_b = true}, .nan_c = true, .off = 1});
}

static void strided(tu_ctx* t) {
    // Sub-matrix views: padded rows, not 16-byte aligned (scalar paths), and aligned (vector paths).
    for (int off = 0; off < 2; off++) {
        for (int tr = 0; tr < 4; tr++) {
            char name[128];
            snprintf(name, sizeof name, "ld padded off=%d ta=%d tb=%d", off, tr & 1, tr >> 1);
            run_case(t, name, &(mm_case){.d = {.M = 21, .N = 36, .K = 12, .trans_a = tr & 1, .trans_b = tr >> 1,
                                               .lda = 44, .ldb = 40, .ldc = 52},
                                         .off = (size_t)off, .bias = true, .fd = tr == 3});
        }
    }
    // Plain batch with packed strides, and with gaps between the entries.
    run_case(t, "batch 3 packed 10x9x7", &(mm_case){.d = {.M = 10, .N = 9, .K = 7, .batch = 3}, .fd = true});
    run_case(t, "batch 2x3 gaps ta 12x16x8",
             &(mm_case){.d = {.M = 12, .N = 16, .K = 8, .trans_a = true, .batch = 3, .batch_outer = 2,
                              .stride_a = 100, .stride_b = 132, .stride_c = 200, .stride_a_outer = 320,
                              .stride_b_outer = 400, .stride_c_outer = 640},
                        .bias = true, .fd = true});
}

// Attention-style batches: heads interleaved in (B, T, H*d) tensors, as q @ k^T and p @ v.
static void heads(tu_ctx* t) {
    const int B = 2, T = 33, H = 3, d = 8;
    vkd_matmul_desc qk = {.M = T, .N = T, .K = d, .trans_b = true, .batch = H, .batch_outer = B,
                          .lda = H * d, .ldb = H * d, .stride_a = d, .stride_b = d,
                          .stride_a_outer = (int64_t)T * H * d, .stride_b_outer = (int64_t)T * H * d,
                          .alpha = 0.35355339f};  // scores (B, H, T, T) packed
    run_case(t, "heads q@k^T B=2 T=33 H=3 d=8", &(mm_case){.d = qk, .fd = true});
    vkd_matmul_desc pv = {.M = T, .N = d, .K = T, .batch = H, .batch_outer = B,
                          .ldb = H * d, .ldc = H * d, .stride_b = d, .stride_c = d,
                          .stride_b_outer = (int64_t)T * H * d, .stride_c_outer = (int64_t)T * H * d};
    run_case(t, "heads p@v B=2 T=33 H=3 d=8 (strided C)", &(mm_case){.d = pv, .fd = true});
    const int d2 = 40;  // the head size of SD's first UNet level
    vkd_matmul_desc qk2 = {.M = 70, .N = 70, .K = d2, .trans_b = true, .batch = 2, .lda = 2 * d2, .ldb = 2 * d2,
                           .stride_a = d2, .stride_b = d2};
    run_case(t, "heads q@k^T T=70 H=2 d=40", &(mm_case){.d = qk2});
}

// A 1x1 convolution: one weight (OC, C) for every image (C, HW), bias per output channel.
static void broadcast(tu_ctx* t) {
    run_case(t, "broadcast A (1x1 conv) B=3 OC=5 C=7 HW=11",
             &(mm_case){.d = {.M = 5, .N = 11, .K = 7, .batch = 3, .broadcast_a = true, .bias_rows = true},
                        .bias = true, .fd = true});
    run_case(t, "broadcast B tb B=2x2 17x9x6",
             &(mm_case){.d = {.M = 17, .N = 9, .K = 6, .trans_b = true, .batch = 2, .batch_outer = 2,
                              .broadcast_b = true},
                        .bias = true, .fd = true});
}

static void big(tu_ctx* t) {
    run_case(t, "256x256x256", &(mm_case){.d = {.M = 256, .N = 256, .K = 256}, .bias = true});
    if (t->quick) return;
    run_case(t, "200x300x129 ta", &(mm_case){.d = {.M = 200, .N = 300, .K = 129, .trans_a = true}});
    run_case(t, "1x515x300 tb", &(mm_case){.d = {.M = 1, .N = 515, .K = 300, .trans_b = true}, .bias = true});
    // The largest configuration with every access on the scalar path (not 16-byte aligned).
    run_case(t, "tile 1 unaligned 130x90x33 ta",
             &(mm_case){.d = {.M = 130, .N = 90, .K = 33, .trans_a = true, .tile = 1}, .off = 1, .fwd_only = true});
}

// Every tile configuration of this device on shapes that leave partial tiles everywhere. The
// layout flags are those the automatic choice uses for the big forward cases (no transposes,
// aligned) and the backward (other layouts) is left to those cases, so few extra pipelines are
// compiled: llvmpipe needs 1-3 s for each with 16x16 register blocks.
static void tiles(tu_ctx* t) {
    int n = vkd_matmul_tile_count(t->gpu);
    for (int i = 1; i <= n; i++) {
        char tn[64], name[160];
        vkd_matmul_tile_name(t->gpu, i, tn, sizeof tn);
        snprintf(name, sizeof name, "tile %s 70x44x20 beta bias", tn);
        run_case(t, name, &(mm_case){.d = {.M = 70, .N = 44, .K = 20, .beta = 1.0f, .tile = i}, .bias = true,
                                     .fwd_only = true});
    }
}

// fp16 weights (frozen parameters) as either operand: every layout, the vector path (aligned,
// multiples of 4) and the scalar one (odd extents, or 4- but not 8-byte aligned at off = 2),
// broadcast over a batch as the 1x1 projections use them, and the backward to the other operand.
static void half_operands(tu_ctx* t) {
    char name[160];
    for (int side = 0; side < 2; side++) {
        for (int tr = 0; tr < 4; tr++) {
            for (int v = 0; v < 2; v++) {
                const int M = v ? 24 : 13, N = v ? 32 : 9, K = v ? 20 : 7;
                mm_case mc = {.d = {.M = M, .N = N, .K = K, .trans_a = tr & 1, .trans_b = tr >> 1,
                                    .a_f16 = side == 0, .b_f16 = side == 1},
                              .bias = tr == 1, .off = v ? 0 : 2};
                snprintf(name, sizeof name, "fp16 %s %dx%dx%d ta=%d tb=%d%s", side ? "B" : "A", M, N, K, tr & 1,
                         tr >> 1, v ? "" : " off=2");
                run_case(t, name, &mc);
            }
        }
    }
    run_case(t, "fp16 A broadcast (1x1 conv) B=3 OC=12 C=16 HW=20",
             &(mm_case){.d = {.M = 12, .N = 20, .K = 16, .batch = 3, .broadcast_a = true, .bias_rows = true,
                              .a_f16 = true},
                        .bias = true});
    run_case(t, "fp16 B broadcast ta tb (tokens) B=2 HW=20 C=16",
             &(mm_case){.d = {.M = 20, .N = 16, .K = 16, .batch = 2, .trans_a = true, .trans_b = true,
                              .broadcast_b = true, .b_f16 = true},
                        .bias = true});
    run_case(t, "fp16 A and B batch 2 gaps 12x16x8",
             &(mm_case){.d = {.M = 12, .N = 16, .K = 8, .batch = 2, .stride_a = 100, .stride_b = 132,
                              .a_f16 = true, .b_f16 = true}});
    if (!t->quick)
        run_case(t, "fp16 B 256x256x256 tb (linear)",
                 &(mm_case){.d = {.M = 256, .N = 256, .K = 256, .trans_b = true, .b_f16 = true}, .bias = true});
}

static void expect_fail(tu_ctx* t, const char* what, const vkd_matmul_desc* d) {
    tu_buf x = tu_zeros(t, 64);
    vkd_matmul_forward(t->s, x.addr, x.addr, x.addr, 0, d);
    vkd_error e = {0};
    vkd_status st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "matmul"), "%s is rejected: %s", what, e.msg);
    tu_free(t, &x);
}

static void bad_args(tu_ctx* t) {
    tu_case(t, "bad arguments");
    expect_fail(t, "M = 0", &(vkd_matmul_desc){.M = 0, .N = 2, .K = 2});
    expect_fail(t, "lda < K", &(vkd_matmul_desc){.M = 2, .N = 2, .K = 4, .lda = 3});
    expect_fail(t, "negative batch", &(vkd_matmul_desc){.M = 2, .N = 2, .K = 2, .batch = -1});
    expect_fail(t, "negative stride", &(vkd_matmul_desc){.M = 2, .N = 2, .K = 2, .stride_c = -8});
    expect_fail(t, "unknown tile", &(vkd_matmul_desc){.M = 2, .N = 2, .K = 2, .tile = 99});
    expect_fail(t, "odd batch stride of an fp16 operand",
                &(vkd_matmul_desc){.M = 2, .N = 2, .K = 2, .batch = 2, .stride_a = 5, .a_f16 = true});
    // The gradient of a frozen fp16 weight is refused by name.
    tu_buf x = tu_zeros(t, 64);
    vkd_matmul_backward(t->s, 0, x.addr, 0, x.addr, x.addr, x.addr,
                        &(vkd_matmul_desc){.M = 2, .N = 2, .K = 2, .b_f16 = true});
    vkd_error e = {0};
    vkd_status st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "fp16"), "db of an fp16 b is rejected: %s", e.msg);
    tu_free(t, &x);
}

void test_matmul(tu_ctx* t) {
    shapes(t);
    alpha_beta(t);
    strided(t);
    heads(t);
    broadcast(t);
    big(t);
    tiles(t);
    half_operands(t);
    bad_args(t);
}
