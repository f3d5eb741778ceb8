// Adam / AdamW against the float64 reference of PyTorch's formulas over several steps
// (fresh random gradients each step), with and without weight decay, late steps (bias
// correction near 1), gradient scaling and clipping by value and by the global norm
// computed on the device; and the deterministic gradient-norm kernels.
#include "harness.h"
#include "vkdream/nn/adam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


static void adam_case(tu_ctx* t, const char* label, size_t n, vkd_adam_desc d, uint32_t first_step, int steps,
                      bool warm) {
    tu_case(t, "%s n=%zu steps %u..%u", label, n, first_step, first_step + steps - 1);
    double* p = tu_alloc_d(n);
    double* m = tu_alloc_d(n);
    double* v = tu_alloc_d(n);
    double* g = tu_alloc_d(n);
    tu_fill_normal(t, p, n, 1.0);
    if (warm) {  // moments of an optimizer that has been running
        tu_fill_normal(t, m, n, 0.1);
        for (size_t i = 0; i < n; i++) v[i] = 0.01 * tu_normal(t) * tu_normal(t);
        for (size_t i = 0; i < n; i++) v[i] = fabs(v[i]);
    }
    tu_round_f32(p, n);
    tu_round_f32(m, n);
    tu_round_f32(v, n);
    tu_buf gp = tu_upload_d(t, p, n), gm = tu_upload_d(t, m, n), gv = tu_upload_d(t, v, n);
    tu_buf gnorm = tu_alloc(t, 1), gscratch = tu_alloc(t, VKD_GRAD_NORM_SCRATCH);
    for (int k = 0; k < steps; k++) {
        uint32_t step = first_step + (uint32_t)k;
        tu_fill_normal(t, g, n, k == 0 ? 3.0 : 1.0);  // a large first gradient: clipping engages
        tu_round_f32(g, n);
        tu_buf gg = tu_upload_d(t, g, n);
        if (d.max_norm > 0) vkd_grad_norm(t->s, gnorm.addr, gscratch.addr, gg.addr, (uint32_t)n);
        vkd_adam_step(t->s, gp.addr, gm.addr, gv.addr, gg.addr, d.max_norm > 0 ? gnorm.addr : 0, (uint32_t)n, step, &d);
        tu_run(t);
        double norm;
        vkd_ref_grad_norm(&norm, g, n);
        vkd_ref_adam_step(p, m, v, g, &norm, n, step, &d);
        char what[64];
        snprintf(what, sizeof what, "param after step %u", step);
        tu_expect_buf(t, what, gp, p, 1e-6, 1e-7);
        snprintf(what, sizeof what, "m after step %u", step);
        tu_expect_buf(t, what, gm, m, 1e-5, 1e-9);
        snprintf(what, sizeof what, "v after step %u", step);
        tu_expect_buf(t, what, gv, v, 1e-5, 1e-12);
        tu_free(t, &gg);
    }
    free(p);
    free(m);
    free(v);
    free(g);
    tu_free(t, &gp);
    tu_free(t, &gm);
    tu_free(t, &gv);
    tu_free(t, &gnorm);
    tu_free(t, &gscratch);
}

// The reference itself, by hand for one element: PyTorch's Adam step 1 moves each
// parameter by about lr * sign(g) (m / sqrt(v) = g / |g| after bias correction), and
// AdamW multiplies it by 1 - lr * wd first.
static void ref_sanity(tu_ctx* t) {
    tu_case(t, "reference sanity");
    double p = 2.0, m = 0, v = 0, g = -0.5;
    vkd_ref_adam_step(&p, &m, &v, &g, NULL, 1, 1, &(vkd_adam_desc){.lr = 0.1f, .eps = 1e-12f});
    tu_check(t, fabs(p - 2.1) < 1e-7 && fabs(m - -0.05) < 1e-9 && fabs(v - 0.00025) < 1e-9,
             "Adam step 1: p %.12g (2.1), m %.12g (-0.05), v %.12g (0.00025)", p, m, v);
    p = 2.0, m = 0, v = 0, g = 0.5;
    vkd_ref_adam_step(&p, &m, &v, &g, NULL, 1, 1,
                      &(vkd_adam_desc){.lr = 0.1f, .eps = 1e-12f, .weight_decay = 0.5f, .decoupled = true});
    tu_check(t, fabs(p - (2.0 * (1 - 0.1 * 0.5) - 0.1)) < 1e-7, "AdamW step 1: p %.12g (%.12g)", p,
             2.0 * (1 - 0.1 * 0.5) - 0.1);
    // Adam's L2: the decayed gradient g + wd p = 0.5 + 0.5 * 2 = 1.5 drives the moments.
    p = 2.0, m = 0, v = 0, g = 0.5;
    vkd_ref_adam_step(&p, &m, &v, &g, NULL, 1, 1, &(vkd_adam_desc){.lr = 0.1f, .eps = 1e-12f, .weight_decay = 0.5f});
    tu_check(t, fabs(m - 0.15) < 1e-9 && fabs(p - 1.9) < 1e-7, "Adam L2 step 1: m %.12g (0.15), p %.12g (1.9)", m, p);
}

static void norm_case(tu_ctx* t, size_t n) {
    tu_case(t, "grad_norm n=%zu", n);
    double* g = tu_alloc_d(n);
    tu_fill_normal(t, g, n, 1.0);
    tu_round_f32(g, n);
    tu_buf gg = tu_upload_d(t, g, n), o1 = tu_alloc(t, 1), o2 = tu_alloc(t, 1), scratch = tu_alloc(t, VKD_GRAD_NORM_SCRATCH);
    vkd_grad_norm(t->s, o1.addr, scratch.addr, gg.addr, (uint32_t)n);
    vkd_grad_norm(t->s, o2.addr, scratch.addr, gg.addr, (uint32_t)n);
    tu_run(t);
    double ref;
    vkd_ref_grad_norm(&ref, g, n);
    tu_expect_buf(t, "norm", o1, &ref, 1e-6, 1e-30);
    double* a = tu_download_d(t, o1);
    double* b = tu_download_d(t, o2);
    tu_check(t, memcmp(a, b, sizeof *a) == 0, "bit-identical across runs");
    free(a);
    free(b);
    free(g);
    tu_free(t, &gg);
    tu_free(t, &o1);
    tu_free(t, &o2);
    tu_free(t, &scratch);
}

static void bad_args(tu_ctx* t) {
    tu_case(t, "bad arguments");
    vkd_error e = {0};
    vkd_adam_step(t->s, 0, 0, 0, 0, 0, 4, 0, NULL);
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "step 0 is an error: %s", e.msg);
    vkd_adam_step(t->s, 0, 0, 0, 0, 0, 4, 1, &(vkd_adam_desc){.beta2 = 1.0f});
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "beta2 = 1 is an error: %s", e.msg);
    vkd_adam_step(t->s, 0, 0, 0, 0, 0, 4, 1, &(vkd_adam_desc){.max_norm = 1.0f});
    tu_check(t, vkd_stream_submit(t->s, &e) == VKD_ERR_INVALID, "max_norm without a norm is an error: %s", e.msg);
}

void test_adam(tu_ctx* t) {
    ref_sanity(t);
    const size_t sizes[] = {1, 7, 1000, 4099};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        adam_case(t, "adam defaults", n, (vkd_adam_desc){0}, 1, 5, false);
        adam_case(t, "adam l2", n,
                  (vkd_adam_desc){.lr = 1e-2f, .beta1 = 0.8f, .beta2 = 0.99f, .eps = 1e-6f, .weight_decay = 0.1f}, 1, 5,
                  false);
        adam_case(t, "adamw", n, (vkd_adam_desc){.lr = 1e-2f, .weight_decay = 0.05f, .decoupled = true}, 1, 5, false);
        adam_case(t, "adamw late", n, (vkd_adam_desc){.lr = 1e-4f, .weight_decay = 0.01f, .decoupled = true}, 1000, 3,
                  true);
        adam_case(t, "adamw scaled+clipped", n,
                  (vkd_adam_desc){.lr = 1e-2f, .weight_decay = 0.01f, .decoupled = true, .grad_scale = 0.25f,
                                  .max_norm = 0.5f, .clip_value = 0.02f},
                  1, 5, false);
        adam_case(t, "adam norm-clipped", n, (vkd_adam_desc){.lr = 1e-2f, .max_norm = 2.0f}, 1, 5, false);
    }
    const size_t nsizes[] = {0, 1, 255, 256, 1000, 65536 * 2 + 5};
    for (size_t i = 0; i < sizeof nsizes / sizeof nsizes[0]; i++) norm_case(t, nsizes[i]);
    bad_args(t);
}
