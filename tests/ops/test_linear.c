// Linear layer (PyTorch weight layout): GPU forward and backward against the float64
// reference, the reference backward against finite differences, accumulation, skipped
// gradients, bad sizes.
#include "harness.h"
#include "vkdream/nn/linear.h"

#include <stdlib.h>
#include <string.h>

typedef struct lin_fd {
    double *out, *inp, *weight, *bias, *g;
    uint32_t N, C, OC;
} lin_fd;

static double lin_loss(void* user) {
    lin_fd* f = user;
    vkd_ref_linear_forward(f->out, f->inp, f->weight, f->bias, f->N, f->C, f->OC);
    return tu_dot(f->out, f->g, (size_t)f->N * f->OC);
}

// Finite differences at up to 40 random indices of x against the analytic gradient.
static void fd_check(tu_ctx* t, const char* what, lin_fd* f, double* x, size_t n, const double* grad) {
    size_t picks = n < 40 ? n : 40;
    double* fd = tu_alloc_d(picks);
    double* an = tu_alloc_d(picks);
    for (size_t i = 0; i < picks; i++) {
        size_t idx = n <= 40 ? i : (size_t)tu_uniform(t, 0, (double)n) % n;
        tu_fd_grad(lin_loss, f, &x[idx], 1, 1e-6, &fd[i]);
        an[i] = grad[idx];
    }
    tu_check_close(t, what, an, fd, picks, 1e-6, 1e-7);
    free(fd);
    free(an);
}

// skip: bit 0 dinp, bit 1 dweight, bit 2 dbias are passed as 0 (must stay untouched).
static void linear_case(tu_ctx* t, uint32_t N, uint32_t C, uint32_t OC, bool bias, int skip, bool fd) {
    tu_case(t, "N=%u C=%u OC=%u%s%s", N, C, OC, bias ? " bias" : "", skip ? " skip" : "");
    const size_t ni = (size_t)N * C, nw = (size_t)OC * C, no = (size_t)N * OC;
    double *inp = tu_alloc_d(ni), *w = tu_alloc_d(nw), *b = tu_alloc_d(OC), *out = tu_alloc_d(no);
    tu_fill_normal(t, inp, ni, 1.0);
    tu_fill_normal(t, w, nw, 0.5);
    tu_fill_normal(t, b, OC, 1.0);
    tu_buf gi = tu_upload_d(t, inp, ni), gw = tu_upload_d(t, w, nw), gb = tu_upload_d(t, b, OC);
    tu_buf go = tu_alloc(t, no);

    vkd_linear_forward(t->s, go.addr, gi.addr, gw.addr, bias ? gb.addr : 0, N, C, OC, false);
    tu_run(t);
    vkd_ref_linear_forward(out, inp, w, bias ? b : NULL, N, C, OC);
    tu_expect_buf(t, "out", go, out, 2e-5, 1e-6);

    // Backward into random pre-filled gradients: they must accumulate.
    double *g = tu_alloc_d(no), *di = tu_alloc_d(ni), *dw = tu_alloc_d(nw), *db = tu_alloc_d(OC);
    tu_fill_normal(t, g, no, 1.0);
    tu_fill_normal(t, di, ni, 1.0);
    tu_fill_normal(t, dw, nw, 1.0);
    tu_fill_normal(t, db, OC, 1.0);
    tu_buf gg = tu_upload_d(t, g, no), gdi = tu_upload_d(t, di, ni), gdw = tu_upload_d(t, dw, nw);
    tu_buf gdb = tu_upload_d(t, db, OC);
    vkd_linear_backward(t->s, skip & 1 ? 0 : gdi.addr, skip & 2 ? 0 : gdw.addr, skip & 4 ? 0 : gdb.addr, gg.addr,
                        gi.addr, gw.addr, N, C, OC, false);
    tu_run(t);
    vkd_ref_linear_backward(skip & 1 ? NULL : di, skip & 2 ? NULL : dw, skip & 4 ? NULL : db, g, inp, w, N, C, OC);
    tu_expect_buf(t, skip & 1 ? "dinp untouched" : "dinp = prefill + grad", gdi, di, 2e-5, 1e-6);
    tu_expect_buf(t, skip & 2 ? "dweight untouched" : "dweight = prefill + grad", gdw, dw, 2e-5, 1e-6);
    tu_expect_buf(t, skip & 4 ? "dbias untouched" : "dbias = prefill + grad", gdb, db, 2e-5, 1e-6);

    if (fd) {
        double *ri = tu_alloc_d(ni), *rw = tu_alloc_d(nw), *rb = tu_alloc_d(OC), *scratch = tu_alloc_d(no);
        vkd_ref_linear_backward(ri, rw, rb, g, inp, w, N, C, OC);
        lin_fd f = {.out = scratch, .inp = inp, .weight = w, .bias = b, .g = g, .N = N, .C = C, .OC = OC};
        fd_check(t, "fd dinp", &f, inp, ni, ri);
        fd_check(t, "fd dweight", &f, w, nw, rw);
        fd_check(t, "fd dbias", &f, b, OC, rb);
        free(ri), free(rw), free(rb), free(scratch);
    }

    free(inp), free(w), free(b), free(out), free(g), free(di), free(dw), free(db);
    tu_free(t, &gi), tu_free(t, &gw), tu_free(t, &gb), tu_free(t, &go);
    tu_free(t, &gg), tu_free(t, &gdi), tu_free(t, &gdw), tu_free(t, &gdb);
}

static void bad_sizes(tu_ctx* t) {
    tu_case(t, "bad sizes");
    tu_buf x = tu_zeros(t, 16);
    vkd_linear_forward(t->s, x.addr, x.addr, x.addr, 0, 4, 0, 4, false);
    vkd_error e = {0};
    vkd_status st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "linear_forward"), "C = 0 is rejected: %s", e.msg);
    tu_free(t, &x);
}

void test_linear(tu_ctx* t) {
    linear_case(t, 1, 1, 1, true, 0, true);
    linear_case(t, 7, 5, 13, true, 0, true);
    linear_case(t, 7, 5, 13, false, 0, true);
    linear_case(t, 33, 17, 65, true, 0, true);
    linear_case(t, 3, 40, 24, true, 1, false);   // no dinp
    linear_case(t, 3, 40, 24, true, 6, false);   // only dinp
    linear_case(t, 16, 16, 16, false, 0, true);  // aligned: vector loads everywhere
    linear_case(t, 77, 64, 48, true, 0, false);
    linear_case(t, 256, 320, 320, true, 0, false);
    if (!t->quick) linear_case(t, 300, 128, 260, true, 0, false);  // partial 128x128 tiles, same pipelines
    bad_sizes(t);
}
