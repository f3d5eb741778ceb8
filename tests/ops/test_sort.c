// Stable radix sort: GPU against a stable merge sort on the host, exactly (keys and
// values). Keys are drawn from a small pool so that equal keys are common, values carry
// the input index, so any reordering of equal keys shows; the bits above key_bits are
// random and must only ride along. VKD_SORT_BENCH=1 adds timed 1M / 4M sorts.
#define _POSIX_C_SOURCE 200809L
#include "harness.h"
#include "vkdream/nn/sort.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t rand_u64(tu_ctx* t) {
    uint64_t hi = (uint64_t)tu_uniform(t, 0, 4294967296.0), lo = (uint64_t)tu_uniform(t, 0, 4294967296.0);
    return hi << 32 | lo;
}

static uint64_t mask_of(uint32_t bits) { return bits >= 64 ? ~0ull : (1ull << bits) - 1; }

static tu_buf upload_bytes(tu_ctx* t, const void* x, size_t bytes) {
    tu_buf b = tu_alloc(t, (bytes + 3) / 4);
    vkd_error e = {0};
    if (bytes && vkd_buffer_upload(t->gpu, &b.b, 0, x, bytes, &e)) tu_check(t, false, "upload: %s", e.msg);
    return b;
}

static void* download_bytes(tu_ctx* t, tu_buf b, size_t bytes) {
    void* x = calloc(bytes ? bytes : 1, 1);
    vkd_error e = {0};
    if (bytes && vkd_buffer_download(t->gpu, &b.b, 0, x, bytes, &e)) tu_check(t, false, "download: %s", e.msg);
    return x;
}

typedef enum { POOL, ALL_EQUAL, ASCENDING, DESCENDING, SPLAT } key_kind;
static const char* kind_names[] = {"pool", "all equal", "ascending", "descending", "splat keys"};

// Keys as the renderer makes them (SPLAT: tile id above bit 32, positive float depth
// bits below) or drawn from a pool of n/4 masked values; random bits above key_bits.
static void make_keys(tu_ctx* t, key_kind kind, uint64_t* keys, uint32_t n, uint32_t key_bits) {
    uint64_t mask = mask_of(key_bits);
    uint32_t pool_n = n / 4 ? n / 4 : 1;
    uint64_t* pool = malloc(pool_n * sizeof *pool);
    for (uint32_t i = 0; i < pool_n; i++) pool[i] = rand_u64(t);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t k;
        switch (kind) {
        case ALL_EQUAL: k = pool[0]; break;
        case ASCENDING: k = i; break;
        case DESCENDING: k = (uint64_t)(n - i) * 0x9E3779B9ull; break;
        case SPLAT: {
            uint32_t tiles = key_bits > 32 ? 1u << (key_bits - 32) : 1;
            uint64_t tile = (uint64_t)tu_uniform(t, 0, tiles);
            float depth = (float)tu_uniform(t, 0.1, 4.0);
            uint32_t bits;
            memcpy(&bits, &depth, 4);
            k = tile << 32 | bits;
            break;
        }
        default: k = pool[(uint32_t)tu_uniform(t, 0, pool_n)];
        }
        keys[i] = (k & mask) | (rand_u64(t) & ~mask);
    }
    free(pool);
}

// Returns true when keys and values equal the reference exactly.
static bool expect_sorted(tu_ctx* t, const void* got_k, const void* ref_k, const uint32_t* got_v,
                          const uint32_t* ref_v, uint32_t n, size_t key_size) {
    size_t bad_k = 0, bad_v = 0, first = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool kd = memcmp((const char*)got_k + i * key_size, (const char*)ref_k + i * key_size, key_size) != 0;
        bool vd = got_v && got_v[i] != ref_v[i];
        if ((kd || vd) && !bad_k && !bad_v) first = i;
        bad_k += kd;
        bad_v += vd;
    }
    if (!bad_k && !bad_v)
        return tu_check(t, true, "keys%s equal the stable reference (n=%u)", got_v ? " and values" : "", n);
    uint64_t gk = 0, rk = 0;
    memcpy(&gk, (const char*)got_k + first * key_size, key_size);
    memcpy(&rk, (const char*)ref_k + first * key_size, key_size);
    return tu_check(t, false, "%zu keys and %zu values differ, first at %zu: key %#llx ref %#llx, value %u ref %u",
                    bad_k, bad_v, first, (unsigned long long)gk, (unsigned long long)rk, got_v ? got_v[first] : 0,
                    got_v ? ref_v[first] : 0);
}

static void sort_case(tu_ctx* t, uint32_t n, uint32_t key_bits, bool wide, bool with_values, key_kind kind,
                      const vkd_sort_desc* desc, const char* desc_name) {
    tu_case(t, "sort %s n=%u key_bits=%u %s%s%s%s", wide ? "u64" : "u32", n, key_bits, kind_names[kind],
            with_values ? "" : " keys only", desc_name ? " " : "", desc_name ? desc_name : "");
    size_t ks = wide ? 8 : 4;
    uint64_t* keys64 = malloc(((size_t)n + 1) * 8);
    make_keys(t, kind, keys64, n, key_bits);
    void* keys = malloc(((size_t)n + 1) * ks);
    for (uint32_t i = 0; i < n; i++) {
        if (wide) ((uint64_t*)keys)[i] = keys64[i];
        else ((uint32_t*)keys)[i] = (uint32_t)keys64[i];
    }
    uint32_t* values = malloc(((size_t)n + 1) * 4);
    for (uint32_t i = 0; i < n; i++) values[i] = i;

    tu_buf bk = upload_bytes(t, keys, n * ks);
    tu_buf bv = upload_bytes(t, values, n * 4ull);
    uint64_t sbytes = vkd_sort_scratch_bytes(n);
    tu_buf scratch = tu_alloc(t, (size_t)(sbytes / 4));
    vkd_addr va = with_values ? bv.addr : 0;
    if (wide) vkd_sort_pairs_u64_ex(t->s, bk.addr, va, n, key_bits, scratch.addr, desc);
    else vkd_sort_pairs_u32_ex(t->s, bk.addr, va, n, key_bits, scratch.addr, desc);
    tu_run(t);

    if (wide) vkd_ref_sort_pairs_u64(keys, values, n, key_bits);
    else vkd_ref_sort_pairs_u32(keys, values, n, key_bits);
    void* got_k = download_bytes(t, bk, n * ks);
    uint32_t* got_v = download_bytes(t, bv, n * 4ull);
    if (!with_values) {
        // Untouched; the keys alone must still be in stable order (the reference's keys).
        for (uint32_t i = 0; i < n; i++)
            if (got_v[i] != i) {
                tu_check(t, false, "values were written although values = 0 (index %u holds %u)", i, got_v[i]);
                break;
            }
    }
    expect_sorted(t, got_k, keys, with_values ? got_v : NULL, values, n, ks);
    free(got_k);
    free(got_v);
    free(keys64);
    free(keys);
    free(values);
    tu_free(t, &bk);
    tu_free(t, &bv);
    tu_free(t, &scratch);
}

static void sort_errors(tu_ctx* t) {
    tu_case(t, "sort argument errors");
    tu_buf a = tu_alloc(t, 64);
    vkd_error e = {0};
    vkd_sort_pairs_u64(t->s, a.addr, 0, 16, 65, a.addr);
    vkd_status st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "sort_pairs_u64") && strstr(e.msg, "key_bits"),
             "key_bits 65 rejected: %s", e.msg);
    vkd_sort_pairs_u64(t->s, a.addr + 4, 0, 16, 32, a.addr);
    st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "aligned"), "keys at +4 bytes rejected: %s", e.msg);
    vkd_sort_pairs_u32_ex(t->s, a.addr, 0, 16, 16, a.addr,
                          &(vkd_sort_desc){.method = VKD_SORT_TILED, .workgroup_size = 48});
    st = vkd_stream_submit(t->s, &e);
    tu_check(t, st == VKD_ERR_INVALID && strstr(e.msg, "workgroup_size"), "workgroup_size 48 rejected: %s", e.msg);
    tu_free(t, &a);
}

static double clock_ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

// Timed sorts (submit to completion, uploads not timed), verified after the last run.
static void sort_bench(tu_ctx* t, uint32_t n, uint32_t key_bits, int reps) {
    tu_case(t, "bench u64 n=%u key_bits=%u", n, key_bits);
    uint64_t* keys = malloc((size_t)n * 8);
    uint32_t* values = malloc((size_t)n * 4);
    make_keys(t, SPLAT, keys, n, key_bits);
    for (uint32_t i = 0; i < n; i++) values[i] = i;
    tu_buf bk = tu_alloc(t, 2 * (size_t)n), bv = tu_alloc(t, n);
    tu_buf scratch = tu_alloc(t, (size_t)(vkd_sort_scratch_bytes(n) / 4));
    // Wall time, and process CPU time (all driver threads): on a shared machine the wall
    // time varies with the other load; the CPU time much less.
    double ms[16], cpu[16];
    vkd_error e = {0};
    for (int r = 0; r < reps; r++) {
        vkd_buffer_upload(t->gpu, &bk.b, 0, keys, (size_t)n * 8, &e);
        vkd_buffer_upload(t->gpu, &bv.b, 0, values, (size_t)n * 4, &e);
        double t0 = clock_ms(CLOCK_MONOTONIC), c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
        vkd_sort_pairs_u64(t->s, bk.addr, bv.addr, n, key_bits, scratch.addr);
        tu_run(t);
        ms[r] = clock_ms(CLOCK_MONOTONIC) - t0;
        cpu[r] = clock_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    double sorted_ms[16], sorted_cpu[16];
    memcpy(sorted_ms, ms, sizeof ms);
    memcpy(sorted_cpu, cpu, sizeof cpu);
    qsort(sorted_ms, reps, sizeof *sorted_ms, cmp_double);
    qsort(sorted_cpu, reps, sizeof *sorted_cpu, cmp_double);
    printf("sort bench on %s: n=%u key_bits=%u: best %.1f ms (%.2f Mkeys/s), median %.1f ms, CPU time best %.1f "
           "ms; runs:",
           vkd_gpu_get_info(t->gpu)->name, n, key_bits, sorted_ms[0], n / sorted_ms[0] / 1e3, sorted_ms[reps / 2],
           sorted_cpu[0]);
    for (int r = 0; r < reps; r++) printf(" %.1f", ms[r]);
    printf("\n");
    vkd_ref_sort_pairs_u64(keys, values, n, key_bits);
    uint64_t* got_k = download_bytes(t, bk, (size_t)n * 8);
    uint32_t* got_v = download_bytes(t, bv, (size_t)n * 4);
    expect_sorted(t, got_k, keys, got_v, values, n, 8);
    free(got_k);
    free(got_v);
    free(keys);
    free(values);
    tu_free(t, &bk);
    tu_free(t, &bv);
    tu_free(t, &scratch);
}

void test_sort(tu_ctx* t) {
    const uint32_t sizes[] = {0, 1, 2, 17, 1000, 65537, 300000};
    const uint32_t bits[] = {8, 32, 40, 48, 64};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (size_t b = 0; b < sizeof bits / sizeof bits[0]; b++) {
            if (t->quick && sizes[i] > 100000 && bits[b] != 48) continue;
            sort_case(t, sizes[i], bits[b], true, true, POOL, NULL, NULL);
        }
    // Odd key widths (a partial last digit), other key patterns, keys only, 32-bit keys.
    sort_case(t, 4099, 13, true, true, POOL, NULL, NULL);
    sort_case(t, 65537, 1, true, true, POOL, NULL, NULL);
    sort_case(t, 70000, 64, true, true, ALL_EQUAL, NULL, NULL);
    sort_case(t, 70000, 44, true, true, ASCENDING, NULL, NULL);
    sort_case(t, 70000, 44, true, true, DESCENDING, NULL, NULL);
    sort_case(t, 100000, 44, true, true, SPLAT, NULL, NULL);
    sort_case(t, 65537, 48, true, false, POOL, NULL, NULL);
    const uint32_t sizes32[] = {1, 17, 1000, 65537};
    for (size_t i = 0; i < sizeof sizes32 / sizeof sizes32[0]; i++) {
        sort_case(t, sizes32[i], 32, false, true, POOL, NULL, NULL);
        sort_case(t, sizes32[i], 20, false, true, POOL, NULL, NULL);
    }
    sort_case(t, 30000, 24, false, false, DESCENDING, NULL, NULL);
    // Both methods on any device (tiled is the GPU default, chunked the CPU one), other
    // shapes, and blocks of several tiles with a partial last one. The default tiled shape
    // (32 x 32, fully unrolled) takes llvmpipe ~3 s to compile per key width, so 32-bit
    // keys use the other tiled shapes, which run the same code.
    static const struct {
        vkd_sort_desc d;
        const char* name;
        bool u32;
    } shapes[] = {
        {{.method = VKD_SORT_TILED}, "tiled", false},
        {{.method = VKD_SORT_CHUNKED}, "chunked", true},
        {{.method = VKD_SORT_TILED, .workgroup_size = 32, .items_per_thread = 8, .block_items = 3072},
         "tiled 32x8, 3072-key blocks", true},
        {{.method = VKD_SORT_TILED, .workgroup_size = 32, .items_per_thread = 64, .block_items = 4096},
         "tiled 32x64, 4096-key blocks", true},
        {{.method = VKD_SORT_CHUNKED, .workgroup_size = 32, .block_items = 32768}, "chunked 32, 32768-key blocks",
         true},
        {{.method = VKD_SORT_CHUNKED, .workgroup_size = 16, .block_items = 16384}, "chunked 16, 16384-key blocks",
         true},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        sort_case(t, 65537, 48, true, true, POOL, &shapes[i].d, shapes[i].name);
        sort_case(t, 5000, 40, true, false, SPLAT, &shapes[i].d, shapes[i].name);
        if (shapes[i].u32) sort_case(t, 30001, 32, false, true, POOL, &shapes[i].d, shapes[i].name);
    }
    sort_errors(t);
    const char* bench = getenv("VKD_SORT_BENCH");
    if (bench && *bench && strcmp(bench, "0")) {
        sort_bench(t, 1u << 20, 48, 5);
        sort_bench(t, 1u << 22, 48, 5);
    }
}
