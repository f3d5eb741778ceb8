// `vkdream bench`: kernel benchmarks with a CPU reference timed in the same run.
//
// Every row of the table is a `workload`: it sets up its inputs on a fresh GPU context
// (so the context's peak allocation is that workload's device memory), records one GPU
// run on a stream, runs the same computation on the CPU, and compares the two results.
// To add a row, write the five functions and add an entry to `workloads` below.
#define _POSIX_C_SOURCE 200809L
#include "app/commands.h"
#include "vkdream/gpu.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "vkdream/nn/attention.h"
#include "vkdream/nn/conv2d.h"
#include "vkdream/nn/matmul.h"

typedef struct workload workload;

struct workload {
    const char* op;      // what `--only` and the positional op names select
    const char* name;    // first column
    const char* shape;   // second column
    bool quick;          // part of `--quick`
    double flops;        // floating-point operations of one run (an FMA counts 2)
    const void* params;  // workload-specific constants (shapes), read by setup
    // Allocates device and host buffers and fills the inputs. Returns the state, or NULL with err set.
    void* (*setup)(vkd_gpu* gpu, const void* params, vkd_error* err);
    // Records one GPU run on s (never submits).
    void (*gpu_record)(void* state, vkd_stream* s);
    // One run of the CPU reference on host copies of the inputs.
    void (*cpu_run)(void* state);
    // After both ran: max |gpu - cpu| / max |cpu| (downloads the GPU result). < 0 on failure.
    double (*compare)(void* state, vkd_gpu* gpu);
    void (*teardown)(void* state, vkd_gpu* gpu);
};

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

// CPU time of this process (all threads): with lavapipe the "GPU" is this process's threads, so
// CPU time / wall time says how many cores the device actually got during a run.
static double cpu_ms(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-3;
}

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

static double median(double* v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Helpers for the workloads; inline, so a dev build without any workload has no unused functions.
static double max_rel_diff(const float* got, const float* ref, size_t n) {
    double md = 0.0, mr = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)ref[i]);
        if (!(d <= md)) md = d;  // also catches NaN
        if (fabs((double)ref[i]) > mr) mr = fabs((double)ref[i]);
    }
    return md / (mr > 0.0 ? mr : 1.0);
}

static void fill_random(float* x, size_t n, uint64_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((double)(seed >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
    }
}

// ---------------------------------------------------------------------------
// matmul: C = op(A) @ op(B) for square-ish fp32 matrices.

typedef struct mm_params {
    int M, N, K;
    bool ta, tb;
} mm_params;

typedef struct mm_state {
    mm_params p;
    vkd_buffer a, b, c;
    float *ha, *hb, *hc, *ha_nn, *hb_nn;  // host inputs as stored, and as (M, K) / (K, N) for the CPU
} mm_state;

static void mm_teardown(void* st, vkd_gpu* gpu) {
    mm_state* m = st;
    if (!m) return;
    vkd_buffer_free(gpu, &m->a);
    vkd_buffer_free(gpu, &m->b);
    vkd_buffer_free(gpu, &m->c);
    free(m->ha);
    free(m->hb);
    free(m->hc);
    free(m->ha_nn);
    free(m->hb_nn);
    free(m);
}

// The CPU reference multiplies packed (M, K) @ (K, N); transposed inputs are transposed
// once here, outside the timed part, so both sides compute the same product.
static float* transposed(const float* x, int rows, int cols) {
    float* t = malloc((size_t)rows * cols * sizeof *t);
    if (!t) return NULL;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) t[(size_t)c * rows + r] = x[(size_t)r * cols + c];
    return t;
}

static void* mm_setup(vkd_gpu* gpu, const void* params, vkd_error* err) {
    mm_state* m = calloc(1, sizeof *m);
    if (!m) {
        vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
        return NULL;
    }
    m->p = *(const mm_params*)params;
    size_t na = (size_t)m->p.M * m->p.K, nb = (size_t)m->p.K * m->p.N, nc = (size_t)m->p.M * m->p.N;
    m->ha = malloc(na * sizeof(float));
    m->hb = malloc(nb * sizeof(float));
    m->hc = malloc(nc * sizeof(float));
    if (m->ha && m->hb) {
        fill_random(m->ha, na, 1);
        fill_random(m->hb, nb, 2);
        m->ha_nn = m->p.ta ? transposed(m->ha, m->p.K, m->p.M) : NULL;
        m->hb_nn = m->p.tb ? transposed(m->hb, m->p.N, m->p.K) : NULL;
    }
    if (!m->ha || !m->hb || !m->hc || (m->p.ta && !m->ha_nn) || (m->p.tb && !m->hb_nn)) {
        mm_teardown(m, gpu);
        vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
        return NULL;
    }
    if (vkd_buffer_alloc(gpu, na * sizeof(float), &m->a, err) || vkd_buffer_alloc(gpu, nb * sizeof(float), &m->b, err) ||
        vkd_buffer_alloc(gpu, nc * sizeof(float), &m->c, err) ||
        vkd_buffer_upload(gpu, &m->a, 0, m->ha, na * sizeof(float), err) ||
        vkd_buffer_upload(gpu, &m->b, 0, m->hb, nb * sizeof(float), err)) {
        mm_teardown(m, gpu);
        return NULL;
    }
    return m;
}

static void mm_gpu(void* st, vkd_stream* s) {
    mm_state* m = st;
    vkd_matmul_forward(s, m->c.addr, m->a.addr, m->b.addr, 0,
                       &(vkd_matmul_desc){.M = m->p.M, .N = m->p.N, .K = m->p.K, .trans_a = m->p.ta,
                                          .trans_b = m->p.tb});
}

static void mm_cpu(void* st) {
    mm_state* m = st;
    vkd_cpu_matmul_f32(m->hc, m->p.ta ? m->ha_nn : m->ha, m->p.tb ? m->hb_nn : m->hb, m->p.M, m->p.N, m->p.K);
}

static double mm_compare(void* st, vkd_gpu* gpu) {
    mm_state* m = st;
    size_t nc = (size_t)m->p.M * m->p.N;
    float* got = malloc(nc * sizeof *got);
    vkd_error err = {0};
    if (!got || vkd_buffer_download(gpu, &m->c, 0, got, nc * sizeof *got, &err)) {
        free(got);
        return -1.0;
    }
    double d = max_rel_diff(got, m->hc, nc);
    free(got);
    return d;
}

#define MM_ROW(name, shape, quick, M, N, K, ta, tb)                                                        \
    {"matmul", name, shape, quick, 2.0 * (M) * (N) * (K), &(const mm_params){M, N, K, ta, tb}, mm_setup, \
     mm_gpu, mm_cpu, mm_compare, mm_teardown}

// ---------------------------------------------------------------------------
// conv2d: NCHW 3x3, stride 1, pad 1 (the UNet's workhorse). The CPU reference is im2col
// followed by the same cache-blocked matmul, per image.

typedef struct cv_params {
    int B, C, OC, H, W;
} cv_params;

typedef struct cv_state {
    cv_params p;
    vkd_buffer x, w, y;
    float *hx, *hw, *hy, *col;
} cv_state;

static void cv_teardown(void* st, vkd_gpu* gpu) {
    cv_state* c = st;
    if (!c) return;
    vkd_buffer_free(gpu, &c->x);
    vkd_buffer_free(gpu, &c->w);
    vkd_buffer_free(gpu, &c->y);
    free(c->hx);
    free(c->hw);
    free(c->hy);
    free(c->col);
    free(c);
}

static void* cv_setup(vkd_gpu* gpu, const void* params, vkd_error* err) {
    cv_state* c = calloc(1, sizeof *c);
    if (!c) {
        vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
        return NULL;
    }
    c->p = *(const cv_params*)params;
    const cv_params* p = &c->p;
    size_t nx = (size_t)p->B * p->C * p->H * p->W, nw = (size_t)p->OC * p->C * 9, ny = (size_t)p->B * p->OC * p->H * p->W;
    c->hx = malloc(nx * sizeof(float));
    c->hw = malloc(nw * sizeof(float));
    c->hy = malloc(ny * sizeof(float));
    c->col = malloc((size_t)p->C * 9 * p->H * p->W * sizeof(float));
    if (!c->hx || !c->hw || !c->hy || !c->col) {
        cv_teardown(c, gpu);
        vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
        return NULL;
    }
    fill_random(c->hx, nx, 3);
    fill_random(c->hw, nw, 4);
    if (vkd_buffer_alloc(gpu, nx * sizeof(float), &c->x, err) || vkd_buffer_alloc(gpu, nw * sizeof(float), &c->w, err) ||
        vkd_buffer_alloc(gpu, ny * sizeof(float), &c->y, err) ||
        vkd_buffer_upload(gpu, &c->x, 0, c->hx, nx * sizeof(float), err) ||
        vkd_buffer_upload(gpu, &c->w, 0, c->hw, nw * sizeof(float), err)) {
        cv_teardown(c, gpu);
        return NULL;
    }
    return c;
}

static void cv_gpu(void* st, vkd_stream* s) {
    cv_state* c = st;
    const cv_params* p = &c->p;
    vkd_conv2d_forward(s, c->y.addr, c->x.addr, c->w.addr, 0, p->B, p->C, p->H, p->W, p->OC, 3, 3,
                       &(vkd_conv2d_desc){.pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1});
}

static void cv_cpu(void* st) {
    cv_state* c = st;
    const cv_params* p = &c->p;
    int HW = p->H * p->W;
    for (int b = 0; b < p->B; b++) {
        const float* x = c->hx + (size_t)b * p->C * HW;
        for (int ci = 0; ci < p->C; ci++)
            for (int k = 0; k < 9; k++) {
                int ky = k / 3 - 1, kx = k % 3 - 1;
                float* row = c->col + ((size_t)ci * 9 + k) * HW;
                for (int y = 0; y < p->H; y++)
                    for (int xx = 0; xx < p->W; xx++) {
                        int sy = y + ky, sx = xx + kx;
                        row[y * p->W + xx] =
                            sy >= 0 && sy < p->H && sx >= 0 && sx < p->W ? x[(size_t)ci * HW + sy * p->W + sx] : 0.0f;
                    }
            }
        vkd_cpu_matmul_f32(c->hy + (size_t)b * p->OC * HW, c->hw, c->col, p->OC, HW, p->C * 9);
    }
}

static double cv_compare(void* st, vkd_gpu* gpu) {
    cv_state* c = st;
    size_t ny = (size_t)c->p.B * c->p.OC * c->p.H * c->p.W;
    float* got = malloc(ny * sizeof *got);
    vkd_error err = {0};
    if (!got || vkd_buffer_download(gpu, &c->y, 0, got, ny * sizeof *got, &err)) {
        free(got);
        return -1.0;
    }
    double d = max_rel_diff(got, c->hy, ny);
    free(got);
    return d;
}

#define CV_ROW(shape, quick, B, C, OC, H, W)                                                                   \
    {"conv2d", "conv2d 3x3", shape, quick, 2.0 * (B) * (OC) * (H) * (W) * (C) * 9.0,                          \
     &(const cv_params){B, C, OC, H, W}, cv_setup, cv_gpu, cv_cpu, cv_compare, cv_teardown}

// ---------------------------------------------------------------------------
// attention: self-attention forward, packed (B, T, H*D); CPU: the plain-C float32 version.

typedef struct at_params {
    int B, H, T, D;
} at_params;

typedef struct at_state {
    at_params p;
    vkd_buffer q, k, v, o, lse;
    float *hq, *hk, *hv, *ho, *hlse;
} at_state;

static void at_teardown(void* st, vkd_gpu* gpu) {
    at_state* a = st;
    if (!a) return;
    vkd_buffer* bufs[] = {&a->q, &a->k, &a->v, &a->o, &a->lse};
    for (int i = 0; i < 5; i++) vkd_buffer_free(gpu, bufs[i]);
    free(a->hq);
    free(a->hk);
    free(a->hv);
    free(a->ho);
    free(a->hlse);
    free(a);
}

static void* at_setup(vkd_gpu* gpu, const void* params, vkd_error* err) {
    at_state* a = calloc(1, sizeof *a);
    if (!a) {
        vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
        return NULL;
    }
    a->p = *(const at_params*)params;
    size_t n = (size_t)a->p.B * a->p.T * a->p.H * a->p.D, nl = (size_t)a->p.B * a->p.H * a->p.T;
    a->hq = malloc(n * sizeof(float));
    a->hk = malloc(n * sizeof(float));
    a->hv = malloc(n * sizeof(float));
    a->ho = malloc(n * sizeof(float));
    a->hlse = malloc(nl * sizeof(float));
    if (!a->hq || !a->hk || !a->hv || !a->ho || !a->hlse) {
        at_teardown(a, gpu);
        vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
        return NULL;
    }
    fill_random(a->hq, n, 5);
    fill_random(a->hk, n, 6);
    fill_random(a->hv, n, 7);
    if (vkd_buffer_alloc(gpu, n * sizeof(float), &a->q, err) || vkd_buffer_alloc(gpu, n * sizeof(float), &a->k, err) ||
        vkd_buffer_alloc(gpu, n * sizeof(float), &a->v, err) || vkd_buffer_alloc(gpu, n * sizeof(float), &a->o, err) ||
        vkd_buffer_alloc(gpu, nl * sizeof(float), &a->lse, err) ||
        vkd_buffer_upload(gpu, &a->q, 0, a->hq, n * sizeof(float), err) ||
        vkd_buffer_upload(gpu, &a->k, 0, a->hk, n * sizeof(float), err) ||
        vkd_buffer_upload(gpu, &a->v, 0, a->hv, n * sizeof(float), err)) {
        at_teardown(a, gpu);
        return NULL;
    }
    return a;
}

static void at_gpu(void* st, vkd_stream* s) {
    at_state* a = st;
    vkd_attention_forward(s, a->o.addr, a->lse.addr, a->q.addr, a->k.addr, a->v.addr,
                          &(vkd_attention_desc){.B = a->p.B, .H = a->p.H, .Tq = a->p.T, .D = a->p.D});
}

static void at_cpu(void* st) {
    at_state* a = st;
    vkd_cpu_attention_forward_f32(a->ho, a->hlse, a->hq, a->hk, a->hv, a->p.B, a->p.H, a->p.T, a->p.T, a->p.D, false);
}

static double at_compare(void* st, vkd_gpu* gpu) {
    at_state* a = st;
    size_t n = (size_t)a->p.B * a->p.T * a->p.H * a->p.D;
    float* got = malloc(n * sizeof *got);
    vkd_error err = {0};
    if (!got || vkd_buffer_download(gpu, &a->o, 0, got, n * sizeof *got, &err)) {
        free(got);
        return -1.0;
    }
    double d = max_rel_diff(got, a->ho, n);
    free(got);
    return d;
}

// Forward FLOPs: two (T, T, D) products per (batch, head).
#define AT_ROW(shape, quick, B, H, T, D)                                                                  \
    {"attention", "attention fwd", shape, quick, 4.0 * (B) * (H) * (double)(T) * (T) * (D),             \
     &(const at_params){B, H, T, D}, at_setup, at_gpu, at_cpu, at_compare, at_teardown}

// ---------------------------------------------------------------------------

static const workload workloads[] = {
    MM_ROW("matmul", "1024x1024x1024", false, 1024, 1024, 1024, false, false),
    MM_ROW("matmul A B^T", "1024x1024x1024", false, 1024, 1024, 1024, false, true),
    MM_ROW("matmul A^T B", "1024x1024x1024", false, 1024, 1024, 1024, true, false),
    MM_ROW("matmul", "512x512x512", true, 512, 512, 512, false, false),
    CV_ROW("B2 64->64 64x64", false, 2, 64, 64, 64, 64),
    CV_ROW("B1 32->32 32x32", true, 1, 32, 32, 32, 32),
    AT_ROW("B2 H8 T1024 D40", false, 2, 8, 1024, 40),
    AT_ROW("B1 H8 T256 D40", true, 1, 8, 256, 40),
    {0},  // end (also keeps the array non-empty when a dev build has no workloads)
};
static const size_t n_workloads = sizeof workloads / sizeof workloads[0] - 1;

// The ops this command knows, built in or not, for the help text and argument checks.
static const char* const known_ops[] = {"matmul", "conv2d", "attention"};

static bool op_built(const char* op) {
    for (size_t i = 0; i < n_workloads; i++)
        if (!strcmp(workloads[i].op, op)) return true;
    return false;
}

static void help(void) {
    printf("usage: vkdream bench [ops...] [--only <op>] [--reps N] [--quick] [--device <d>]\n\n"
           "Times the heavy kernels on the Vulkan device and a plain-C fp32 reference of the same\n"
           "computation on the CPU, in the same run, and prints one table row per workload:\n\n"
           "  workload, shape     what is computed (matmul MxNxK: C (M,N) = op(A) (M,K) @ op(B) (K,N))\n"
           "  GPU ms              median over the reps of the wall time of vkd_stream_submit (submit\n"
           "                      and wait, recording excluded), after one warm-up run that also\n"
           "                      builds the pipelines\n"
           "  GFLOP/s             flops of one run / that time (an FMA counts as 2 flops)\n"
           "  cores               CPU time of this process / wall time during the GPU runs (median):\n"
           "                      on lavapipe the cores the device got (other load lowers it)\n"
           "  CPU ms, GFLOP/s     the same for the C reference (single-threaded, cache-blocked,\n"
           "                      compiled like the rest of vkdream, no intrinsics), also after a warm-up\n"
           "  speedup             CPU ms / GPU ms\n"
           "  max err             max |GPU - CPU| / max |CPU| over the output: fp32 rounding only (0 when\n"
           "                      both add the products in the same order, as llvmpipe's matmul does)\n"
           "  dev MiB             peak device memory of the workload (each workload runs on its own\n"
           "                      GPU context, so this is vkd_gpu_peak_allocated_bytes for it alone)\n\n"
           "ops: matmul, conv2d, attention (default: all that are built into this binary;\n"
           "     this one has:");
    for (size_t i = 0; i < sizeof known_ops / sizeof known_ops[0]; i++)
        if (op_built(known_ops[i])) printf(" %s", known_ops[i]);
    printf("%s)\n\n", n_workloads ? "" : " none");
    printf("  --only <op>     run only this op (same as naming it)\n"
           "  --reps N        timed runs per workload for the medians (default 5; 3 with --quick)\n"
           "  --quick         only the small rows (a fast smoke test)\n"
           "  --device <d>    pick a Vulkan device by index or name substring (also $VKD_DEVICE)\n\n"
           "Workloads: matmul 1024x1024x1024 as C = A B, A B^T (a linear layer's forward) and\n"
           "A^T B (its weight gradient), and matmul 512x512x512 (the --quick row); conv2d 3x3 pad 1\n"
           "NCHW B=2 C=64->64 64x64 (CPU: im2col + the same blocked matmul), and B=1 32->32 32x32 (quick);\n"
           "self-attention forward B=2 heads=8 T=1024 D=40 (CPU: plain-C float32), and T=256 (quick).\n"
           "Exit status 1 when a workload fails or its GPU and CPU results differ by more than 1e-3.\n\n"
           "Timings on a shared machine are noisy: run it more than once and compare.\n"
           "VKD_PROFILE=1 also prints the per-kernel GPU timestamp table of each workload.\n");
}

static bool op_selected(const char* op, const char* const* sel, int nsel) {
    if (!nsel) return true;
    for (int i = 0; i < nsel; i++)
        if (!strcmp(sel[i], op)) return true;
    return false;
}

// Runs one workload on a fresh context; prints its row. Returns 0 or 1 (failed).
static int run_workload(const workload* w, const char* device, int reps) {
    vkd_error err = {0};
    vkd_gpu* gpu = NULL;
    vkd_stream* s = NULL;
    // Small blocks: the peak allocation then tracks the workload's buffers, not a 256 MiB block.
    if (vkd_gpu_create(&(vkd_gpu_desc){.device = device, .block_size = (size_t)4 << 20}, &gpu, &err) ||
        vkd_stream_create(gpu, &s, &err)) {
        fprintf(stderr, "vkdream bench: %s: %s\n", w->name, err.msg);
        vkd_gpu_destroy(gpu);
        return 1;
    }
    int rc = 1;
    void* st = w->setup(gpu, w->params, &err);
    double* gt = calloc((size_t)reps, sizeof *gt);
    double* ct = calloc((size_t)reps, sizeof *ct);
    double* cores = calloc((size_t)reps, sizeof *cores);
    if (!st || !gt || !ct || !cores) {
        fprintf(stderr, "vkdream bench: %s %s: setup failed: %s\n", w->name, w->shape, st ? "out of memory" : err.msg);
        goto done;
    }
    for (int r = -1; r < reps; r++) {  // r = -1: warm-up
        w->gpu_record(st, s);
        double c0 = cpu_ms(), t0 = now_ms();
        vkd_status stat = vkd_stream_submit(s, &err);
        double t1 = now_ms(), c1 = cpu_ms();
        if (stat) {
            fprintf(stderr, "vkdream bench: %s %s: %s\n", w->name, w->shape, err.msg);
            goto done;
        }
        if (r >= 0) gt[r] = t1 - t0, cores[r] = (c1 - c0) / (t1 - t0 > 1e-3 ? t1 - t0 : 1e-3);
    }
    for (int r = -1; r < reps; r++) {
        double t0 = now_ms();
        w->cpu_run(st);
        double t1 = now_ms();
        if (r >= 0) ct[r] = t1 - t0;
    }
    double diff = w->compare(st, gpu);
    double g_ms = median(gt, reps), c_ms = median(ct, reps);
    printf("%-14s %-24s %9.2f %8.2f %6.2f %9.2f %8.2f %8.2fx %9.1e %8.1f\n", w->name, w->shape, g_ms,
           w->flops / (g_ms * 1e6), median(cores, reps), c_ms, w->flops / (c_ms * 1e6), c_ms / g_ms, diff,
           vkd_gpu_peak_allocated_bytes(gpu) / 1048576.0);
    fflush(stdout);
    rc = diff < 0.0 || !(diff < 1e-3);
    if (rc) fprintf(stderr, "vkdream bench: %s %s: GPU and CPU results differ (%.3g)\n", w->name, w->shape, diff);
done:
    free(gt);
    free(ct);
    free(cores);
    if (st) w->teardown(st, gpu);
    vkd_stream_destroy(s);
    vkd_gpu_destroy(gpu);
    return rc;
}

int vkd_cmd_bench(int argc, char** argv) {
    const char* sel[16];
    int nsel = 0, reps = 0;
    bool quick = false;
    const char* device = NULL;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            return 0;
        } else if (!strcmp(a, "--quick")) {
            quick = true;
        } else if (!strcmp(a, "--reps") && i + 1 < argc) {
            char* end = NULL;
            long v = strtol(argv[++i], &end, 10);
            if (!end || *end || v < 1 || v > 1000) {
                fprintf(stderr, "vkdream bench: --reps wants a number in [1, 1000], found '%s'\n", argv[i]);
                return 2;
            }
            reps = (int)v;
        } else if (!strcmp(a, "--device") && i + 1 < argc) {
            device = argv[++i];
        } else if ((!strcmp(a, "--only") && i + 1 < argc) || a[0] != '-') {
            const char* op = a[0] != '-' ? a : argv[++i];
            bool known = false;
            for (size_t k = 0; k < sizeof known_ops / sizeof known_ops[0]; k++) known |= !strcmp(op, known_ops[k]);
            if (!known) {
                fprintf(stderr, "vkdream bench: unknown op '%s' (ops: matmul, conv2d, attention)\n", op);
                return 2;
            }
            if (!op_built(op)) {
                fprintf(stderr, "vkdream bench: op '%s' is not built into this binary\n", op);
                return 2;
            }
            if (nsel == (int)(sizeof sel / sizeof sel[0])) {
                fprintf(stderr, "vkdream bench: too many ops\n");
                return 2;
            }
            sel[nsel++] = op;
        } else {
            fprintf(stderr, "vkdream bench: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    if (!reps) reps = quick ? 3 : 5;
    if (!n_workloads) {
        fprintf(stderr, "vkdream bench: no benchmarks are built into this binary (a VKD_DEV_FILTER build?)\n");
        return 1;
    }

    // Describe the device and the conditions once; each workload then gets its own context.
    vkd_error err = {0};
    vkd_gpu* gpu = NULL;
    if (vkd_gpu_create(&(vkd_gpu_desc){.device = device}, &gpu, &err)) {
        fprintf(stderr, "vkdream bench: %s\n", err.msg);
        return 1;
    }
    const vkd_gpu_info* in = vkd_gpu_get_info(gpu);
    printf("device: %s (%s), %s\n", in->name, vkd_device_kind_name(in->kind), in->driver);
    vkd_gpu_destroy(gpu);
    FILE* la = fopen("/proc/loadavg", "r");
    char load[64] = "";
    if (la) {
        if (!fgets(load, sizeof load, la)) load[0] = 0;
        fclose(la);
        load[strcspn(load, "\n")] = 0;
    }
    printf("reps: %d (median after a warm-up)%s%s\n\n", reps, load[0] ? ", load average: " : "", load);
    printf("%-14s %-24s %9s %8s %6s %9s %8s %9s %9s %8s\n", "workload", "shape", "GPU ms", "GFLOP/s", "cores",
           "CPU ms", "GFLOP/s", "speedup", "max err", "dev MiB");

    int failed = 0, ran = 0;
    for (size_t i = 0; i < n_workloads; i++) {
        const workload* w = &workloads[i];
        if (!op_selected(w->op, sel, nsel) || (quick && !w->quick)) continue;
        ran++;
        failed += run_workload(w, device, reps);
    }
    if (!ran) fprintf(stderr, "vkdream bench: no workload selected\n");
    return failed || !ran ? 1 : 0;
}
