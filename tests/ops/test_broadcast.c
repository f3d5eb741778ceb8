// Broadcasting add/sub/mul over 4-D shapes: the network cases (NCHW + per-channel bias,
// NCHW + per-sample time embedding, (B, T, C) + (1, 1, C)) and every kept/broadcast
// pattern, with odd sizes. db is a deterministic reduction: checked against the float64
// reference, and run twice to check it is bit-identical.
#include "harness.h"
#include "vkdream/nn/broadcast.h"

#include <stdlib.h>
#include <string.h>

static size_t numel(const uint32_t s[4]) { return (size_t)s[0] * s[1] * s[2] * s[3]; }


typedef struct bc_fd {
    const double *a, *b, *g;
    const uint32_t *as, *bs;
    vkd_binary_op op;
    double* out;
} bc_fd;

static double bc_loss(void* user) {
    bc_fd* u = user;
    vkd_ref_broadcast_forward(u->out, u->a, u->b, u->as, u->bs, u->op);
    return tu_dot(u->out, u->g, numel(u->as));
}

static void bc_case(tu_ctx* t, const uint32_t as[4], const uint32_t bs[4], vkd_binary_op op) {
    tu_case(t, "%s a=%ux%ux%ux%u b=%ux%ux%ux%u", vkd_binary_op_name(op), as[0], as[1], as[2], as[3], bs[0], bs[1],
            bs[2], bs[3]);
    size_t n = numel(as), nb = numel(bs);
    double* a = tu_alloc_d(n);
    double* b = tu_alloc_d(nb);
    double* g = tu_alloc_d(n);
    double* pa = tu_alloc_d(n);
    double* pb = tu_alloc_d(nb);
    tu_fill_normal(t, a, n, 1.0);
    tu_fill_normal(t, b, nb, 1.0);
    tu_fill_normal(t, g, n, 1.0);
    tu_fill_normal(t, pa, n, 1.0);
    tu_fill_normal(t, pb, nb, 1.0);
    tu_round_f32(a, n);
    tu_round_f32(b, nb);
    tu_round_f32(g, n);
    tu_round_f32(pa, n);
    tu_round_f32(pb, nb);
    tu_buf ga = tu_upload_d(t, a, n), gb = tu_upload_d(t, b, nb), gg = tu_upload_d(t, g, n);
    tu_buf gpa = tu_upload_d(t, pa, n), gpb = tu_upload_d(t, pb, nb), gout = tu_alloc(t, n);
    tu_buf gdb1 = tu_zeros(t, nb), gdb2 = tu_zeros(t, nb), ginp = tu_upload_d(t, a, n);
    vkd_broadcast_forward(t->s, gout.addr, ga.addr, gb.addr, as, bs, op);
    vkd_broadcast_forward(t->s, ginp.addr, ginp.addr, gb.addr, as, bs, op);  // out aliases a
    vkd_broadcast_backward(t->s, gpa.addr, gpb.addr, gg.addr, ga.addr, gb.addr, as, bs, op);
    // db alone, twice: the reduction must not depend on scheduling.
    vkd_broadcast_backward(t->s, 0, gdb1.addr, gg.addr, ga.addr, 0, as, bs, op);
    vkd_broadcast_backward(t->s, 0, gdb2.addr, gg.addr, ga.addr, 0, as, bs, op);
    tu_run(t);

    double* out = tu_alloc_d(n);
    double* da = tu_alloc_d(n);
    double* db = tu_alloc_d(nb);
    vkd_ref_broadcast_forward(out, a, b, as, bs, op);
    vkd_ref_broadcast_backward(da, db, g, a, b, as, bs, op);
    for (size_t i = 0; i < n; i++) pa[i] += da[i];
    for (size_t i = 0; i < nb; i++) pb[i] += db[i];
    tu_expect_buf(t, "out", gout, out, 1e-6, 1e-7);
    tu_expect_buf(t, "out in place", ginp, out, 1e-6, 1e-7);
    tu_expect_buf(t, "da accumulated", gpa, pa, 1e-6, 1e-7);
    tu_expect_buf(t, "db accumulated", gpb, pb, 1e-5, 1e-5);
    tu_expect_buf(t, "db alone", gdb1, db, 1e-5, 1e-5);
    double* d1 = tu_download_d(t, gdb1);
    double* d2 = tu_download_d(t, gdb2);
    tu_check(t, memcmp(d1, d2, nb * sizeof *d1) == 0, "db bit-identical across runs");
    free(d1);
    free(d2);

    // Central differences of L = sum(out * g) for up to 24 entries of a and of b.
    bc_fd u = {a, b, g, as, bs, op, tu_alloc_d(n)};
    size_t ka = n < 24 ? n : 24, kb = nb < 24 ? nb : 24;
    double* na = tu_alloc_d(ka);
    double* ra = tu_alloc_d(ka);
    double* nbv = tu_alloc_d(kb);
    for (size_t k = 0; k < ka; k++) {
        size_t i = k * (n / ka);
        tu_fd_grad(bc_loss, &u, &a[i], 1, 1e-6, &na[k]);
        ra[k] = da[i];
    }
    tu_fd_grad(bc_loss, &u, b, kb, 1e-6, nbv);
    tu_check_close(t, "ref da vs finite differences", ra, na, ka, 1e-6, 1e-6);
    tu_check_close(t, "ref db vs finite differences", db, nbv, kb, 1e-6, 1e-6);
    free(u.out);
    free(na);
    free(ra);
    free(nbv);

    free(a);
    free(b);
    free(g);
    free(pa);
    free(pb);
    free(out);
    free(da);
    free(db);
    tu_free(t, &ga);
    tu_free(t, &gb);
    tu_free(t, &gg);
    tu_free(t, &gpa);
    tu_free(t, &gpb);
    tu_free(t, &gout);
    tu_free(t, &gdb1);
    tu_free(t, &gdb2);
    tu_free(t, &ginp);
}

static void bad_args(tu_ctx* t) {
    tu_case(t, "bad arguments");
    vkd_error e = {0};
    vkd_broadcast_forward(t->s, 0, 0, 0, (uint32_t[4]){2, 3, 4, 5}, (uint32_t[4]){1, 2, 1, 1}, VKD_BINARY_ADD);
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "b dim neither equal nor 1 is an error: %s", e.msg);
    vkd_broadcast_backward(t->s, 0, 0, 0, 0, 0, (uint32_t[4]){65536, 65536, 1, 1}, (uint32_t[4]){1, 1, 1, 1},
                           VKD_BINARY_ADD);
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "2^32 elements is an error: %s", e.msg);
    vkd_broadcast_backward(t->s, 0, 16, 0, 0, 0, (uint32_t[4]){1, 1, 2, 2}, (uint32_t[4]){1, 1, 1, 2},
                           VKD_BINARY_MUL);
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "mul db without a is an error: %s", e.msg);
}

void test_broadcast(tu_ctx* t) {
    static const uint32_t shapes[][2][4] = {
        {{2, 5, 7, 9}, {1, 5, 1, 1}},      // NCHW + (1, C, 1, 1) bias
        {{3, 4, 5, 7}, {3, 4, 1, 1}},      // NCHW + (N, C, 1, 1) time embedding
        {{1, 2, 77, 33}, {1, 1, 1, 33}},   // (B, T, C) + (1, 1, C)
        {{1, 2, 77, 33}, {1, 2, 1, 33}},   // (B, T, C) + (B, 1, C)
        {{1, 1, 3, 7}, {1, 1, 3, 7}},      // same shape
        {{2, 3, 4, 5}, {1, 1, 1, 1}},      // scalar
        {{1, 1, 1, 1}, {1, 1, 1, 1}},
        {{3, 5, 7, 2}, {3, 1, 7, 1}},      // kept, bcast, kept, bcast
        {{4, 5, 6, 9}, {1, 5, 1, 9}},      // bcast, kept, bcast, kept
        {{3, 1, 300, 1}, {1, 1, 300, 1}},  // size-1 dims in a
        {{1, 1, 1, 513}, {1, 1, 1, 1}},    // long reduction, innermost
        {{2, 64, 33, 33}, {1, 64, 1, 1}},
        {{1, 1, 1000, 320}, {1, 1, 1, 320}},
    };
    size_t count = sizeof shapes / sizeof shapes[0];
    for (size_t i = 0; i < count; i++) {
        if (t->quick && numel(shapes[i][0]) > 100000) continue;
        for (int op = 0; op < VKD_BINARY_COUNT; op++) bc_case(t, shapes[i][0], shapes[i][1], (vkd_binary_op)op);
    }
    bad_args(t);
}
