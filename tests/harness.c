#define _POSIX_C_SOURCE 200809L  // setenv, strdup
#include "harness.h"
#include "vkdream/safetensors.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define GUARD_WORDS 64
#define GUARD_VALUE 0x7fc0dead  // a quiet NaN pattern nobody writes by accident

typedef struct live_buf {
    vkd_buffer b;
    size_t n;
} live_buf;

static live_buf* live;
static size_t live_count, live_cap;

void tu_case(tu_ctx* t, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->case_name, sizeof t->case_name, fmt, ap);
    va_end(ap);
    // Seed from the case name: stable across runs, independent between cases.
    uint64_t h = 1469598103934665603ull;
    for (const char* c = t->case_name; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211ull;
    t->rng = h;
}

bool tu_check(tu_ctx* t, bool ok, const char* fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ok) t->passed++;
    else t->failed++;
    if (!ok || t->verbose)
        printf("%s %s: %s: %s\n", ok ? "ok  " : "FAIL", t->group, t->case_name, msg);
    return ok;
}

static uint64_t next_u64(tu_ctx* t) {
    uint64_t z = (t->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double tu_uniform(tu_ctx* t, double lo, double hi) {
    return lo + (hi - lo) * ((double)(next_u64(t) >> 11) * (1.0 / 9007199254740992.0));
}

double tu_normal(tu_ctx* t) {
    double u1 = tu_uniform(t, 1e-12, 1.0), u2 = tu_uniform(t, 0.0, 1.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void tu_fill_uniform(tu_ctx* t, double* x, size_t n, double lo, double hi) {
    for (size_t i = 0; i < n; i++) x[i] = tu_uniform(t, lo, hi);
}

void tu_fill_normal(tu_ctx* t, double* x, size_t n, double scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * tu_normal(t);
}

double* tu_alloc_d(size_t n) {
    double* x = calloc(n ? n : 1, sizeof *x);
    if (!x) {
        fprintf(stderr, "out of host memory\n");
        abort();
    }
    return x;
}

static void die(tu_ctx* t, const char* what, const vkd_error* e) {
    fprintf(stderr, "FATAL %s: %s: %s: %s\n", t->group, t->case_name, what, e->msg);
    exit(1);
}

tu_buf tu_alloc(tu_ctx* t, size_t n) {
    tu_buf r = {0};
    vkd_error e = {0};
    size_t bytes = (n + GUARD_WORDS) * sizeof(float);
    if (vkd_buffer_alloc(t->gpu, bytes, &r.b, &e)) die(t, "alloc", &e);
    uint32_t guard[GUARD_WORDS];
    for (int i = 0; i < GUARD_WORDS; i++) guard[i] = GUARD_VALUE;
    if (vkd_buffer_upload(t->gpu, &r.b, n * sizeof(float), guard, sizeof guard, &e)) die(t, "guard", &e);
    r.n = n;
    r.addr = r.b.addr;
    if (live_count == live_cap) {
        live_cap = live_cap ? live_cap * 2 : 64;
        live = realloc(live, live_cap * sizeof *live);
    }
    live[live_count++] = (live_buf){r.b, n};
    return r;
}

tu_buf tu_upload_f(tu_ctx* t, const float* x, size_t n) {
    tu_buf r = tu_alloc(t, n);
    vkd_error e = {0};
    if (n && vkd_buffer_upload(t->gpu, &r.b, 0, x, n * sizeof(float), &e)) die(t, "upload", &e);
    return r;
}

tu_buf tu_upload_half(tu_ctx* t, double* x, size_t n) {
    size_t words = (n + 1) / 2;
    uint16_t* h = calloc(2 * (words ? words : 1), sizeof *h);
    for (size_t i = 0; i < n; i++) {
        h[i] = vkd_f32_to_f16((float)x[i]);
        x[i] = vkd_f16_to_f32(h[i]);
    }
    tu_buf r = tu_alloc(t, words);
    vkd_error e = {0};
    if (words && vkd_buffer_upload(t->gpu, &r.b, 0, h, words * sizeof(float), &e)) die(t, "upload", &e);
    free(h);
    return r;
}

tu_buf tu_upload_d(tu_ctx* t, const double* x, size_t n) {
    float* f = malloc((n ? n : 1) * sizeof *f);
    for (size_t i = 0; i < n; i++) f[i] = (float)x[i];
    tu_buf r = tu_upload_f(t, f, n);
    free(f);
    return r;
}

tu_buf tu_zeros(tu_ctx* t, size_t n) {
    double* z = tu_alloc_d(n);
    tu_buf r = tu_upload_d(t, z, n);
    free(z);
    return r;
}

bool tu_run(tu_ctx* t) {
    vkd_error e = {0};
    vkd_status st = vkd_stream_submit(t->s, &e);
    return tu_check(t, st == VKD_OK, "stream submit%s%s", st ? ": " : "", st ? e.msg : "");
}

double* tu_download_d(tu_ctx* t, tu_buf b) {
    float* f = malloc((b.n ? b.n : 1) * sizeof *f);
    vkd_error e = {0};
    if (b.n && vkd_buffer_download(t->gpu, &b.b, 0, f, b.n * sizeof(float), &e)) die(t, "download", &e);
    double* d = tu_alloc_d(b.n);
    for (size_t i = 0; i < b.n; i++) d[i] = f[i];
    free(f);
    return d;
}

static bool guards_ok(tu_ctx* t, const live_buf* lb) {
    uint32_t guard[GUARD_WORDS];
    vkd_error e = {0};
    if (vkd_buffer_download(t->gpu, &lb->b, lb->n * sizeof(float), guard, sizeof guard, &e)) die(t, "guard", &e);
    for (int i = 0; i < GUARD_WORDS; i++)
        if (guard[i] != GUARD_VALUE) return false;
    return true;
}

void tu_free(tu_ctx* t, tu_buf* b) {
    for (size_t i = 0; i < live_count; i++) {
        if (live[i].b.addr != b->b.addr) continue;
        if (!guards_ok(t, &live[i]))
            tu_check(t, false, "guard words after a buffer of %zu floats were overwritten", live[i].n);
        live[i] = live[--live_count];
        break;
    }
    vkd_buffer_free(t->gpu, &b->b);
    memset(b, 0, sizeof *b);
}

bool tu_check_guards(tu_ctx* t) {
    size_t bad = 0;
    for (size_t i = 0; i < live_count; i++) bad += !guards_ok(t, &live[i]);
    return tu_check(t, bad == 0, "guard words intact (%zu buffers, %zu overwritten)", live_count, bad);
}

bool tu_check_close(tu_ctx* t, const char* what, const double* got, const double* ref, size_t n, double rtol,
                    double atol) {
    double max_ref = 0, max_err = 0;
    size_t worst = 0, nonfinite = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) nonfinite++;
        double r = fabs(ref[i]);
        if (r > max_ref) max_ref = r;
        double d = fabs(got[i] - ref[i]);
        if (d > max_err || (isnan(d) && !isnan(max_err))) max_err = d, worst = i;
    }
    double tol = atol + rtol * max_ref;
    bool ok = nonfinite == 0 && max_err <= tol && n > 0;
    return tu_check(t, ok, "%s: n=%zu max|d|=%.3g at %zu (got %.6g ref %.6g) tol %.3g max|ref| %.3g%s", what, n,
                    max_err, worst, n ? got[worst] : 0.0, n ? ref[worst] : 0.0, tol, max_ref,
                    nonfinite ? " NON-FINITE VALUES" : "");
}

bool tu_expect_buf(tu_ctx* t, const char* what, tu_buf b, const double* ref, double rtol, double atol) {
    double* got = tu_download_d(t, b);
    bool ok = tu_check_close(t, what, got, ref, b.n, rtol, atol);
    free(got);
    return ok;
}

void tu_fd_grad(tu_scalar_fn f, void* user, double* x, size_t n, double h, double* grad) {
    for (size_t i = 0; i < n; i++) {
        double x0 = x[i];
        x[i] = x0 + h;
        double fp = f(user);
        x[i] = x0 - h;
        double fm = f(user);
        x[i] = x0;
        grad[i] = (fp - fm) / (2 * h);
    }
}

double tu_dot(const double* a, const double* b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

void tu_fixture_path(char* out, size_t size, const char* rel) {
    const char* dir = getenv("VKD_FIXTURES");
    if (dir && *dir) snprintf(out, size, "%s/%s", dir, rel);
    else snprintf(out, size, "%s/../shared/fixtures/sd-tiny/%s", VKD_SOURCE_DIR, rel);
}

void tu_round_f32(double* x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (float)x[i];
}

const char* tu_team_label(void) {
    const char* e = getenv("VKD_TEAM_SG_MAX");
    return e && !strcmp(e, "0") ? " [workgroup teams]" : "";
}

void tu_with_workgroup_teams(tu_ctx* t, void (*run)(tu_ctx*)) {
    const char* old = getenv("VKD_TEAM_SG_MAX");
    char* saved = old ? strdup(old) : NULL;
    setenv("VKD_TEAM_SG_MAX", "0", 1);
    run(t);
    if (saved) setenv("VKD_TEAM_SG_MAX", saved, 1);
    else unsetenv("VKD_TEAM_SG_MAX");
    free(saved);
}

void tu_fd_check(tu_ctx* t, const char* what, tu_scalar_fn f, void* user, double* x, size_t n, const double* grad,
                 size_t count, double h, double rtol, double atol) {
    size_t m = count < n ? count : n;
    double* got = tu_alloc_d(m);
    double* want = tu_alloc_d(m);
    for (size_t j = 0; j < m; j++) {
        size_t i = m == n ? j : (size_t)tu_uniform(t, 0, (double)n) % n;
        tu_fd_grad(f, user, x + i, 1, h, &got[j]);
        want[j] = grad[i];
    }
    char name[160];
    snprintf(name, sizeof name, "%s ref vs finite differences", what);
    tu_check_close(t, name, got, want, m, rtol, atol);
    free(got);
    free(want);
}

vkd_safetensors* tu_fixture_open(tu_ctx* t, const char* rel) {
    char path[1024];
    tu_fixture_path(path, sizeof path, rel);
    vkd_safetensors* st = NULL;
    vkd_error e = {0};
    if (vkd_safetensors_open(path, &st, &e) != VKD_OK) {
        tu_check(t, false, "open %s: %s", path, e.msg);
        return NULL;
    }
    return st;
}

double* tu_fixture_read(tu_ctx* t, const vkd_safetensors* st, const char* name, size_t n) {
    float* f = malloc((n ? n : 1) * sizeof *f);
    vkd_error e = {0};
    if (!f || vkd_safetensors_read_f32(st, name, f, n, &e) != VKD_OK) {
        tu_check(t, false, "read %s: %s", name, e.msg);
        free(f);
        return NULL;
    }
    double* d = tu_alloc_d(n);
    for (size_t i = 0; i < n; i++) d[i] = f[i];
    free(f);
    return d;
}
