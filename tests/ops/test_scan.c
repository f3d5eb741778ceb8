// Exclusive prefix sum of uint32: GPU against the host reference, exact, including the
// total in out[n], in place (out == in), and an output at a 4-byte (not 256-byte) offset.
#include "harness.h"
#include "vkdream/nn/scan.h"

#include <stdlib.h>
#include <string.h>

static uint32_t rand_u32(tu_ctx* t) { return (uint32_t)tu_uniform(t, 0, 4294967296.0); }

static tu_buf upload_u32(tu_ctx* t, const uint32_t* x, size_t words, size_t at) {
    tu_buf b = tu_alloc(t, words);
    vkd_error e = {0};
    if (words > at && vkd_buffer_upload(t->gpu, &b.b, at * 4, x, (words - at) * 4, &e))
        tu_check(t, false, "upload: %s", e.msg);
    return b;
}

static uint32_t* download_u32(tu_ctx* t, tu_buf b, size_t at, size_t words) {
    uint32_t* x = calloc(words ? words : 1, 4);
    vkd_error e = {0};
    if (words && vkd_buffer_download(t->gpu, &b.b, at * 4, x, words * 4, &e)) tu_check(t, false, "download: %s", e.msg);
    return x;
}

static bool expect_u32(tu_ctx* t, const char* what, const uint32_t* got, const uint32_t* ref, size_t n) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (got[i] != ref[i] && !bad++) first = i;
    if (!bad) return tu_check(t, true, "%s: %zu words equal", what, n);
    return tu_check(t, false, "%s: %zu of %zu words differ, first at %zu: got %u ref %u", what, bad, n, first,
                    got[first], ref[first]);
}

typedef enum { SEPARATE, IN_PLACE, OFFSET } layout_kind;

// values: small with many zeros (the renderer's per-Gaussian tile counts) or full range
// (sums wrap mod 2^32 on both sides).
static void scan_case(tu_ctx* t, uint32_t n, layout_kind lay, bool full_range) {
    static const char* names[] = {"separate", "in place", "out at +4 bytes"};
    tu_case(t, "scan n=%u %s%s", n, names[lay], full_range ? " full-range values" : "");
    uint32_t* in = malloc(((size_t)n + 1) * 4);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = rand_u32(t);
        in[i] = full_range ? r : (r & 3) == 0 ? 0u : r % 1000u;
    }
    uint32_t* ref = malloc(((size_t)n + 1) * 4);
    vkd_ref_scan_exclusive_u32(ref, in, n);

    uint64_t sbytes = vkd_scan_scratch_bytes(n);
    tu_buf scratch = tu_alloc(t, (size_t)(sbytes / 4));
    tu_buf bin = {0}, bout;
    size_t at = 0;
    if (lay == IN_PLACE) {
        bout = upload_u32(t, in, (size_t)n + 1, 0);
        vkd_scan_exclusive_u32(t->s, bout.addr, bout.addr, n, sbytes ? scratch.addr : 0);
    } else {
        at = lay == OFFSET ? 1 : 0;
        bin = upload_u32(t, in, n, 0);
        bout = tu_alloc(t, n + 1 + at);
        vkd_scan_exclusive_u32(t->s, bout.addr + at * 4, bin.addr, n, sbytes ? scratch.addr : 0);
    }
    tu_run(t);
    uint32_t* got = download_u32(t, bout, at, (size_t)n + 1);
    expect_u32(t, "out[0..n)", got, ref, n);
    tu_check(t, got[n] == ref[n], "total out[n]: got %u ref %u", got[n], ref[n]);
    free(got);
    free(in);
    free(ref);
    if (bin.addr) tu_free(t, &bin);
    tu_free(t, &bout);
    tu_free(t, &scratch);
}

// A given kernel shape, in place with a partial last tile, against the reference.
static void scan_shape_case(tu_ctx* t, uint32_t n, const vkd_scan_desc* d) {
    tu_case(t, "scan n=%u workgroup_size=%u %s", n, d->workgroup_size, d->direct > 0 ? "direct" : "staged");
    uint32_t* in = malloc(((size_t)n + 1) * 4);
    for (uint32_t i = 0; i < n; i++) in[i] = rand_u32(t) % 5000u;
    uint32_t* ref = malloc(((size_t)n + 1) * 4);
    vkd_ref_scan_exclusive_u32(ref, in, n);
    uint64_t sbytes = vkd_scan_scratch_bytes(n);
    tu_buf scratch = tu_alloc(t, (size_t)(sbytes / 4));
    tu_buf b = upload_u32(t, in, (size_t)n + 1, 0);
    vkd_scan_exclusive_u32_ex(t->s, b.addr, b.addr, n, scratch.addr, d);
    tu_run(t);
    uint32_t* got = download_u32(t, b, 0, (size_t)n + 1);
    expect_u32(t, "out[0..n]", got, ref, (size_t)n + 1);
    free(got);
    free(in);
    free(ref);
    tu_free(t, &b);
    tu_free(t, &scratch);
}

// Bad arguments are reported at submit, naming the op, and nothing runs.
static void scan_errors(tu_ctx* t) {
    tu_case(t, "scan argument errors");
    tu_buf a = tu_alloc(t, 8192 + 1);
    vkd_error e = {0};
    vkd_scan_exclusive_u32(t->s, a.addr, a.addr, 8192, 0);  // needs scratch
    vkd_status st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "scan_exclusive_u32") && strstr(e.msg, "scratch"),
             "missing scratch rejected: %s", e.msg);
    vkd_scan_exclusive_u32(t->s, a.addr + 2, a.addr, 7, 0);
    st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "aligned"), "misaligned out rejected: %s", e.msg);
    vkd_scan_exclusive_u32_ex(t->s, a.addr, a.addr, 7, 0, &(vkd_scan_desc){.workgroup_size = 48});
    st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "workgroup_size"), "workgroup_size 48 rejected: %s", e.msg);
    tu_free(t, &a);
}

void test_scan(tu_ctx* t) {
    const uint32_t sizes[] = {0, 1, 7, 255, 256, 257, 1000, 4096, 4097, 65537, (1u << 20) + 5};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) scan_case(t, sizes[i], SEPARATE, false);
    scan_case(t, 0, IN_PLACE, false);
    scan_case(t, 1000, IN_PLACE, true);
    scan_case(t, 65537, IN_PLACE, false);
    scan_case(t, 300001, OFFSET, true);
    // Three levels: more than 4096 tiles of 4096.
    if (!t->quick) scan_case(t, (1u << 24) + 4097, SEPARATE, false);
    // Both kernel variants on any device: staged through shared memory (GPU default) and
    // direct (CPU default), at several workgroup sizes.
    static const vkd_scan_desc shapes[] = {{256, -1}, {64, -1}, {8, 1}, {32, 1}, {256, 1}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        scan_shape_case(t, 4097, &shapes[i]);
        scan_shape_case(t, 3 * 4096 + 100, &shapes[i]);
        scan_shape_case(t, 1 << 18, &shapes[i]);
    }
    scan_errors(t);
}
