// The GPU layer's own kernels (fill, copy) and accumulate, the simplest op: also the
// worked example of how an op test reads.
#include "harness.h"
#include "vkdream/nn/accumulate.h"

#include <stdlib.h>

static void fill_copy(tu_ctx* t, size_t n) {
    tu_case(t, "fill+copy n=%zu", n);
    tu_buf a = tu_alloc(t, n), b = tu_alloc(t, n);
    vkd_stream_fill(t->s, a.addr, n, 0x40400000u);  // 3.0f
    vkd_stream_copy(t->s, b.addr, a.addr, n);
    tu_run(t);
    double* ref = tu_alloc_d(n);
    for (size_t i = 0; i < n; i++) ref[i] = 3.0;
    tu_expect_buf(t, "fill", a, ref, 0, 0);
    tu_expect_buf(t, "copy", b, ref, 0, 0);
    free(ref);
    tu_free(t, &a);
    tu_free(t, &b);
}

static void accumulate(tu_ctx* t, size_t n) {
    tu_case(t, "accumulate n=%zu", n);
    double* dst = tu_alloc_d(n);
    double* src = tu_alloc_d(n);
    tu_fill_normal(t, dst, n, 1.0);
    tu_fill_normal(t, src, n, 1.0);
    tu_buf gd = tu_upload_d(t, dst, n), gs = tu_upload_d(t, src, n);
    vkd_accumulate(t->s, gd.addr, gs.addr, -0.75f, n);
    tu_run(t);
    vkd_ref_accumulate(dst, src, -0.75, n);
    tu_expect_buf(t, "dst", gd, dst, 1e-6, 1e-6);
    free(dst);
    free(src);
    tu_free(t, &gd);
    tu_free(t, &gs);
}

void test_core(tu_ctx* t) {
    const size_t sizes[] = {1, 7, 256, 1000, 65537};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        fill_copy(t, sizes[i]);
        accumulate(t, sizes[i]);
    }
    // A 1-D grid that needs the y split on devices with a 65535-group x limit.
    if (!t->quick) accumulate(t, (size_t)65535 * 256 + 3);
}
