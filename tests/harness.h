// Test harness for GPU ops: one device with the validation layer on, buffers with
// guard words, comparisons against float64 C references, and central finite
// differences. Every check prints one line; the run ends with "N passed, N failed".
#ifndef VKD_TESTS_HARNESS_H
#define VKD_TESTS_HARNESS_H

#include "vkdream/gpu.h"

#include <stdio.h>

typedef struct tu_ctx {
    vkd_gpu* gpu;
    vkd_stream* s;
    const char* group;
    char case_name[256];
    int passed, failed;
    uint64_t rng;             // per-case seed, reset by tu_case
    bool verbose;
    bool quick;               // VKD_TEST_QUICK=1: fewer / smaller shapes
} tu_ctx;

// A device buffer of n floats followed by guard words, tracked for tu_check_guards.
typedef struct tu_buf {
    vkd_buffer b;
    size_t n;                 // floats the op may touch
    vkd_addr addr;            // == b.addr
} tu_buf;

// Starts a named case; resets the random seed so cases are independent and reproducible.
void tu_case(tu_ctx* t, const char* fmt, ...) VKD_PRINTF(2, 3);
// Records one check. Returns ok.
bool tu_check(tu_ctx* t, bool ok, const char* fmt, ...) VKD_PRINTF(3, 4);

// Random numbers (splitmix64 / Box-Muller): deterministic per case.
double tu_uniform(tu_ctx* t, double lo, double hi);
double tu_normal(tu_ctx* t);
void tu_fill_uniform(tu_ctx* t, double* x, size_t n, double lo, double hi);
void tu_fill_normal(tu_ctx* t, double* x, size_t n, double scale);
double* tu_alloc_d(size_t n);  // zeroed float64 host array (free with free())

// Device buffers. tu_upload_d converts float64 to float32. tu_zeros fills 0.
tu_buf tu_alloc(tu_ctx* t, size_t n);
tu_buf tu_upload_d(tu_ctx* t, const double* x, size_t n);
tu_buf tu_upload_f(tu_ctx* t, const float* x, size_t n);
tu_buf tu_zeros(tu_ctx* t, size_t n);
// Rounds x to fp16 values in place (what the device will see) and uploads them as n halves
// (an fp16 operand: tu_buf.n counts the 4-byte words, ceil(n / 2)).
tu_buf tu_upload_half(tu_ctx* t, double* x, size_t n);
// Runs what was recorded on t->s; a failure is a failed check.
bool tu_run(tu_ctx* t);
// Downloads into a new float64 array (free with free()).
double* tu_download_d(tu_ctx* t, tu_buf b);
void tu_free(tu_ctx* t, tu_buf* b);

// Compares GPU output with a reference: passes when max|got - ref| <= atol + rtol * max|ref|
// and every value is finite. Prints max abs error and where.
bool tu_check_close(tu_ctx* t, const char* what, const double* got, const double* ref, size_t n, double rtol,
                    double atol);
// Downloads `b` and compares it with ref (frees the download).
bool tu_expect_buf(tu_ctx* t, const char* what, tu_buf b, const double* ref, double rtol, double atol);
// Checks every live tu_buf's guard words are intact.
bool tu_check_guards(tu_ctx* t);

// Path of a file in the golden SD fixtures: $VKD_FIXTURES/<rel>, by default
// <source dir>/../shared/fixtures/sd-tiny/<rel>.
// Opens a fixture case file (relative to the fixture folder); NULL after a failed check.
struct vkd_safetensors* tu_fixture_open(tu_ctx* t, const char* rel);
// Reads fixture tensor `name` (any dtype, n elements) as a float64 array (free with free());
// NULL after a failed check.
double* tu_fixture_read(tu_ctx* t, const struct vkd_safetensors* st, const char* name, size_t n);
void tu_fixture_path(char* out, size_t size, const char* rel);

// Central finite differences of a scalar function of x (float64): grad[i] = (f(x+h) - f(x-h)) / 2h.
// f reads x through its closure; x is restored after each probe.
typedef double (*tu_scalar_fn)(void* user);
void tu_fd_grad(tu_scalar_fn f, void* user, double* x, size_t n, double h, double* grad);
// Rounds float64 values to the float32 the GPU will see, so references start from the same inputs.
void tu_round_f32(double* x, size_t n);
// Runs `run` again with $VKD_TEAM_SG_MAX=0, which makes the reduction kernels use one workgroup
// per row/group instead of a subgroup (src/nn/reduce_team.h); tu_team_label() names the mode.
void tu_with_workgroup_teams(tu_ctx* t, void (*run)(tu_ctx*));
const char* tu_team_label(void);
// Checks an analytic gradient of f against central differences: at every index when
// count >= n, else at `count` random indices; passes within rtol * max|ref| + atol.
void tu_fd_check(tu_ctx* t, const char* what, tu_scalar_fn f, void* user, double* x, size_t n, const double* grad,
                 size_t count, double h, double rtol, double atol);
// sum(a * b)
double tu_dot(const double* a, const double* b, size_t n);

#endif
