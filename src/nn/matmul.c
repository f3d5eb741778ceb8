// Batched GEMM on the GPU: argument checks, tile configuration per device, and the
// backward pass expressed as more GEMMs with transposes (plus one column/row sum for
// the bias).
#define _POSIX_C_SOURCE 200809L
#include "vkdream/nn/matmul.h"
#include "nn/matmul.h"
#include "vkd_shaders.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool vkd_matmul_resolve(const vkd_matmul_desc* d, vkd_matmul_desc* o, const char* op, char* why, size_t n) {
    *o = *d;
    if (d->M < 1 || d->N < 1 || d->K < 1) {
        snprintf(why, n, "%s: M, N, K must be >= 1, found M=%d N=%d K=%d", op, d->M, d->N, d->K);
        return false;
    }
    if (d->batch < 0 || d->batch_outer < 0) {
        snprintf(why, n, "%s: batch=%d batch_outer=%d (must be >= 0; 0 means 1)", op, d->batch, d->batch_outer);
        return false;
    }
    if (d->tile < 0) {
        snprintf(why, n, "%s: tile=%d (0 = automatic, i >= 1 = configuration i)", op, d->tile);
        return false;
    }
    if (!o->batch) o->batch = 1;
    if (!o->batch_outer) o->batch_outer = 1;
    if (o->alpha == 0.0f) o->alpha = 1.0f;
    // Stored shapes: A (M, K) or (K, M); B (K, N) or (N, K).
    int32_t a_rows = d->trans_a ? d->K : d->M, a_cols = d->trans_a ? d->M : d->K;
    int32_t b_rows = d->trans_b ? d->N : d->K, b_cols = d->trans_b ? d->K : d->N;
    if (!o->lda) o->lda = a_cols;
    if (!o->ldb) o->ldb = b_cols;
    if (!o->ldc) o->ldc = d->N;
    if (o->lda < a_cols || o->ldb < b_cols || o->ldc < d->N) {
        snprintf(why, n, "%s: row strides lda=%d ldb=%d ldc=%d are below the row lengths %d, %d, %d", op, o->lda,
                 o->ldb, o->ldc, a_cols, b_cols, d->N);
        return false;
    }
    if (!o->stride_a) o->stride_a = (int64_t)a_rows * o->lda;
    if (!o->stride_b) o->stride_b = (int64_t)b_rows * o->ldb;
    if (!o->stride_c) o->stride_c = (int64_t)d->M * o->ldc;
    if (!o->stride_a_outer) o->stride_a_outer = o->batch * o->stride_a;
    if (!o->stride_b_outer) o->stride_b_outer = o->batch * o->stride_b;
    if (!o->stride_c_outer) o->stride_c_outer = o->batch * o->stride_c;
    if (o->broadcast_a) o->stride_a = o->stride_a_outer = 0;
    if (o->broadcast_b) o->stride_b = o->stride_b_outer = 0;
    const int64_t lim = UINT32_MAX;
    int64_t st[6] = {o->stride_a, o->stride_b, o->stride_c, o->stride_a_outer, o->stride_b_outer, o->stride_c_outer};
    for (int i = 0; i < 6; i++) {
        if (st[i] < 0 || st[i] > lim) {
            snprintf(why, n, "%s: batch stride %lld out of range [0, 2^32)", op, (long long)st[i]);
            return false;
        }
    }
    // Element indices inside one matrix are 32-bit on the GPU.
    if ((int64_t)(a_rows - 1) * o->lda + a_cols > lim || (int64_t)(b_rows - 1) * o->ldb + b_cols > lim ||
        (int64_t)(d->M - 1) * o->ldc + d->N > lim) {
        snprintf(why, n, "%s: a single matrix spans more than 2^32 elements", op);
        return false;
    }
    // Strides of a batch axis of extent 1 are never applied.
    bool odd_a = (o->batch > 1 && o->stride_a % 2) || (o->batch_outer > 1 && o->stride_a_outer % 2);
    bool odd_b = (o->batch > 1 && o->stride_b % 2) || (o->batch_outer > 1 && o->stride_b_outer % 2);
    if ((o->a_f16 && odd_a) || (o->b_f16 && odd_b)) {
        snprintf(why, n, "%s: an fp16 operand's batch strides must be even (its elements are read in 4-byte pairs)", op);
        return false;
    }
    if ((int64_t)o->batch * o->batch_outer > lim) {
        snprintf(why, n, "%s: batch %d x batch_outer %d is too many", op, o->batch, o->batch_outer);
        return false;
    }
    return true;
}

// One tile configuration of matmul_tiled.comp: a workgroup computes bm x bn of C in bk-deep
// steps, each invocation tm x tn of it.
typedef struct tile_cfg {
    uint32_t bm, bn, bk, tm, tn;
    float speed;  // relative throughput on a big product, for pick_cfg's cost model
} tile_cfg;

// llvmpipe (lavapipe's CPU backend) runs a workgroup on one thread with invocations as 8-wide
// SIMD lanes, and turns every per-invocation load or store into a loop over the lanes (one per
// 64-bit component for device memory). The cost is those loops, so the best configurations
// have big register blocks (many FMAs per shared-memory read; the accumulators live in the
// L1-resident coroutine frame) and big tiles (few device-memory reads per FMA). `speed` is
// GFLOP/s at 1024^3 on 2 cores (Xeon with AVX-512, Mesa 22.3, LLVM 15). 512x512 blocks with
// 32x32 per invocation reached 33, but llvmpipe needs ~15 s to compile each variant of it.
static const tile_cfg cfg_cpu[] = {
    {256, 256, 8, 16, 16, 28.5f}, {128, 128, 8, 16, 16, 23.0f}, {128, 64, 8, 16, 16, 19.0f},
    {64, 128, 8, 16, 16, 19.5f},  {64, 64, 8, 16, 16, 17.0f},   {32, 32, 8, 8, 8, 9.0f},
};
// GPUs: the conventional 8x8 outputs per invocation, 256 invocations for 128x128 blocks,
// smaller blocks so that small products still fill the machine.
static const tile_cfg cfg_gpu[] = {
    {128, 128, 8, 8, 8, 1.0f},
    {64, 64, 8, 8, 8, 0.7f},
    {32, 32, 8, 8, 8, 0.3f},
};

static const tile_cfg* cfg_list(const vkd_gpu* gpu, int* n) {
    bool cpu = vkd_gpu_get_info(gpu)->kind == VKD_DEVICE_CPU;
    *n = cpu ? (int)(sizeof cfg_cpu / sizeof cfg_cpu[0]) : (int)(sizeof cfg_gpu / sizeof cfg_gpu[0]);
    return cpu ? cfg_cpu : cfg_gpu;
}

int vkd_matmul_tile_count(const vkd_gpu* gpu) {
    int n;
    cfg_list(gpu, &n);
    return n;
}

void vkd_matmul_tile_name(const vkd_gpu* gpu, int tile, char* buf, size_t size) {
    int n;
    const tile_cfg* l = cfg_list(gpu, &n);
    if (tile < 1 || tile > n) {
        snprintf(buf, size, "automatic");
        return;
    }
    const tile_cfg* c = &l[tile - 1];
    snprintf(buf, size, "%ux%ux%u/%ux%u", c->bm, c->bn, c->bk, c->tm, c->tn);
}

static bool cfg_fits(const tile_cfg* c, const vkd_gpu_info* in) {
    uint32_t wg = (c->bm / c->tm) * (c->bn / c->tn);
    return wg <= in->max_workgroup_invocations && (c->bm + c->bn) * c->bk * 4 <= in->max_shared_memory;
}

// Processors that run workgroups concurrently, for the wave count of the cost model.
static uint32_t parallel_groups(const vkd_gpu_info* in) {
    if (in->kind != VKD_DEVICE_CPU) return 64;
#ifdef _SC_NPROCESSORS_ONLN
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n > 0) return (uint32_t)n;
#endif
    return 2;
}

// The configuration with the lowest estimated time: whole waves of padded tiles, each
// costing bm * bn * (padded K + 40) / speed (the 40 stands for the epilogue, measured).
static tile_cfg pick_cfg(vkd_gpu* gpu, uint32_t M, uint32_t N, uint32_t K, uint32_t zgroups, uint32_t zsteps,
                         int forced) {
    const vkd_gpu_info* in = vkd_gpu_get_info(gpu);
    int n;
    const tile_cfg* l = cfg_list(gpu, &n);
    if (forced >= 1 && forced <= n && cfg_fits(&l[forced - 1], in)) return l[forced - 1];
    // Small products take well under a millisecond on any configuration; the smallest one
    // compiles fastest (llvmpipe: 0.3 s against 1-3 s for 16x16 register blocks).
    if ((double)M * N * K * zgroups * zsteps < 4.0 * 1024 * 1024 && cfg_fits(&l[n - 1], in)) return l[n - 1];
    uint32_t p = parallel_groups(in);
    int best = -1;
    double best_cost = 0.0;
    for (int i = 0; i < n; i++) {
        const tile_cfg* c = &l[i];
        if (!cfg_fits(c, in)) continue;
        double tiles = (double)((M + c->bm - 1) / c->bm) * ((N + c->bn - 1) / c->bn) * zgroups;
        double waves = ceil(tiles / p);
        double kpad = (double)((K + c->bk - 1) / c->bk * c->bk) * zsteps;
        double cost = waves * c->bm * c->bn * (kpad + 40.0) / c->speed;
        if (best < 0 || cost < best_cost) best = i, best_cost = cost;
    }
    // Every device runs 32x32 blocks of 16 invocations.
    return best >= 0 ? l[best] : (tile_cfg){32, 32, 8, 8, 8, 1.0f};
}

// A resolved GEMM in the kernel's terms.
typedef struct gemm {
    vkd_addr a, b, c, bias;
    uint32_t M, N, K, lda, ldb, ldc;
    bool ta, tb;
    bool fa, fb;            // A / B stored as fp16
    uint64_t sa, sb, sc, sa2, sb2, sc2;
    uint32_t inner, total;  // inner batch count, batch entries
    bool reduce;            // sum over the batch into one C
    bool bias_rows;
    float alpha, beta;
    int tile;               // desc->tile
} gemm;

static bool vec_ok(vkd_addr base, uint32_t ld, uint64_t s, uint64_t s2, uint32_t contiguous) {
    return base % 16 == 0 && ld % 4 == 0 && s % 4 == 0 && s2 % 4 == 0 && contiguous % 4 == 0;
}

static void record(vkd_stream* s, const gemm* g) {
    tile_cfg t = pick_cfg(vkd_stream_gpu(s), g->M, g->N, g->K, g->reduce ? 1 : g->total, g->reduce ? g->total : 1,
                          g->tile);
    uint32_t flags = (g->ta ? VKD_MATMUL_TRANS_A : 0u) | (g->tb ? VKD_MATMUL_TRANS_B : 0u) |
                     (g->fa ? VKD_MATMUL_F16_A : 0u) | (g->fb ? VKD_MATMUL_F16_B : 0u);
    if (vec_ok(g->a, g->lda, g->sa, g->sa2, g->ta ? g->M : g->K)) flags |= VKD_MATMUL_VEC_A;
    if (vec_ok(g->b, g->ldb, g->sb, g->sb2, g->tb ? g->K : g->N)) flags |= VKD_MATMUL_VEC_B;
    if (vec_ok(g->c, g->ldc, g->reduce ? 0 : g->sc, g->reduce ? 0 : g->sc2, g->N)) flags |= VKD_MATMUL_VEC_C;
    uint32_t wg = (t.bm / t.tm) * (t.bn / t.tn);
    uint32_t gx = (g->N + t.bn - 1) / t.bn, gy = (g->M + t.bm - 1) / t.bm;
    vkd_matmul_push p = {
        .a = g->a, .b = g->b, .c = g->c, .bias = g->bias,
        .M = g->M, .N = g->N, .K = g->K, .lda = g->lda, .ldb = g->ldb, .ldc = g->ldc,
        .sa = (uint32_t)g->sa, .sb = (uint32_t)g->sb, .sc = (uint32_t)g->sc,
        .sa2 = (uint32_t)g->sa2, .sb2 = (uint32_t)g->sb2, .sc2 = (uint32_t)g->sc2,
        .inner = g->inner, .nreduce = g->reduce ? g->total : 0, .bias_rows = g->bias_rows,
        .alpha = g->alpha, .beta = g->beta,
    };
    vkd_kernel_desc k = VKD_KERNEL_SPEC(nn_matmul_tiled, t.bm, t.bn, t.bk, t.tm, t.tn, flags, wg);
    const uint32_t max_z = vkd_gpu_get_info(vkd_stream_gpu(s))->max_workgroup_count[2];
    uint32_t total = g->reduce ? 1 : g->total;
    for (uint32_t z0 = 0; z0 < total; z0 += max_z) {
        p.z0 = z0;
        uint32_t gz = total - z0 < max_z ? total - z0 : max_z;
        vkd_stream_dispatch(s, k, &p, sizeof p, gx, gy, gz);
    }
}

static void sum_rows(vkd_stream* s, vkd_addr dst, vkd_addr src, uint32_t nout, uint32_t nr, uint32_t so,
                     uint32_t sr, uint32_t nz, uint32_t inner, uint64_t sz, uint64_t sz2) {
    vkd_matmul_sum_push p = {.dst = dst, .src = src, .nout = nout, .nr = nr, .so = so, .sr = sr,
                             .nz = nz, .inner = inner, .sz = (uint32_t)sz, .sz2 = (uint32_t)sz2};
    uint32_t groups = (nout + 31) / 32;
    uint32_t gx = groups < 65535 ? groups : 65535;
    vkd_stream_dispatch(s, VKD_KERNEL(nn_matmul_sum), &p, sizeof p, gx, (groups + gx - 1) / gx, 1);
}

void vkd_matmul_forward(vkd_stream* s, vkd_addr c, vkd_addr a, vkd_addr b, vkd_addr bias, const vkd_matmul_desc* d) {
    vkd_matmul_desc r;
    char why[256];
    if (!vkd_matmul_resolve(d, &r, "matmul_forward", why, sizeof why)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s", why);
        return;
    }
    if (r.tile > vkd_matmul_tile_count(vkd_stream_gpu(s))) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "matmul_forward: tile=%d but this device has %d tile configurations", r.tile,
                        vkd_matmul_tile_count(vkd_stream_gpu(s)));
        return;
    }
    if (!a || !b || !c) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "matmul_forward: address 0 for %s", !c ? "c" : !a ? "a" : "b");
        return;
    }
    if (a % 4 || b % 4) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "matmul_forward: %s (0x%llx) is not 4-byte aligned", a % 4 ? "a" : "b",
                        (unsigned long long)(a % 4 ? a : b));
        return;
    }
    gemm g = {
        .a = a, .b = b, .c = c, .bias = bias,
        .M = (uint32_t)r.M, .N = (uint32_t)r.N, .K = (uint32_t)r.K,
        .lda = (uint32_t)r.lda, .ldb = (uint32_t)r.ldb, .ldc = (uint32_t)r.ldc,
        .ta = r.trans_a, .tb = r.trans_b, .fa = r.a_f16, .fb = r.b_f16,
        .sa = (uint64_t)r.stride_a, .sb = (uint64_t)r.stride_b, .sc = (uint64_t)r.stride_c,
        .sa2 = (uint64_t)r.stride_a_outer, .sb2 = (uint64_t)r.stride_b_outer, .sc2 = (uint64_t)r.stride_c_outer,
        .inner = (uint32_t)r.batch, .total = (uint32_t)(r.batch * r.batch_outer),
        .bias_rows = r.bias_rows, .alpha = r.alpha, .beta = r.beta, .tile = r.tile,
    };
    record(s, &g);
}

void vkd_matmul_backward(vkd_stream* s, vkd_addr da, vkd_addr db, vkd_addr dbias, vkd_addr dc, vkd_addr a,
                         vkd_addr b, const vkd_matmul_desc* d) {
    vkd_matmul_desc r;
    char why[256];
    if (!vkd_matmul_resolve(d, &r, "matmul_backward", why, sizeof why)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s", why);
        return;
    }
    if (r.tile > vkd_matmul_tile_count(vkd_stream_gpu(s))) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "matmul_backward: tile=%d but this device has %d tile configurations", r.tile,
                        vkd_matmul_tile_count(vkd_stream_gpu(s)));
        return;
    }
    if (!dc || (da && !b) || (db && !a)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "matmul_backward: address 0 for %s",
                        !dc ? "dc" : (da && !b) ? "b (needed for da)" : "a (needed for db)");
        return;
    }
    if ((da && r.a_f16) || (db && r.b_f16)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "matmul_backward: %s is fp16 (a frozen weight) and has no gradient",
                        da && r.a_f16 ? "a" : "b");
        return;
    }
    const uint32_t M = (uint32_t)r.M, N = (uint32_t)r.N, K = (uint32_t)r.K;
    const uint32_t inner = (uint32_t)r.batch, total = (uint32_t)(r.batch * r.batch_outer);
    const uint64_t sa = (uint64_t)r.stride_a, sb = (uint64_t)r.stride_b, sc = (uint64_t)r.stride_c;
    const uint64_t sa2 = (uint64_t)r.stride_a_outer, sb2 = (uint64_t)r.stride_b_outer,
                   sc2 = (uint64_t)r.stride_c_outer;
    // Operands of the gradient GEMMs: dC (M, N) stored as is; A and B keep their strides.
    if (da) {
        gemm g = {.c = da, .ldc = (uint32_t)r.lda, .sc = sa, .sc2 = sa2, .inner = inner, .total = total,
                  .reduce = r.broadcast_a, .alpha = r.alpha, .beta = 1.0f, .tile = r.tile};
        if (!r.trans_a) {  // dA (M, K) += dC (M, N) @ op(B)^T (N, K)
            g.M = M, g.N = K, g.K = N;
            g.a = dc, g.lda = (uint32_t)r.ldc, g.ta = false, g.sa = sc, g.sa2 = sc2;
            g.b = b, g.ldb = (uint32_t)r.ldb, g.tb = !r.trans_b, g.fb = r.b_f16, g.sb = sb, g.sb2 = sb2;
        } else {           // dA stored (K, M) += op(B) (K, N) @ dC^T (N, M)
            g.M = K, g.N = M, g.K = N;
            g.a = b, g.lda = (uint32_t)r.ldb, g.ta = r.trans_b, g.fa = r.b_f16, g.sa = sb, g.sa2 = sb2;
            g.b = dc, g.ldb = (uint32_t)r.ldc, g.tb = true, g.sb = sc, g.sb2 = sc2;
        }
        record(s, &g);
    }
    if (db) {
        gemm g = {.c = db, .ldc = (uint32_t)r.ldb, .sc = sb, .sc2 = sb2, .inner = inner, .total = total,
                  .reduce = r.broadcast_b, .alpha = r.alpha, .beta = 1.0f, .tile = r.tile};
        if (!r.trans_b) {  // dB (K, N) += op(A)^T (K, M) @ dC (M, N)
            g.M = K, g.N = N, g.K = M;
            g.a = a, g.lda = (uint32_t)r.lda, g.ta = !r.trans_a, g.fa = r.a_f16, g.sa = sa, g.sa2 = sa2;
            g.b = dc, g.ldb = (uint32_t)r.ldc, g.tb = false, g.sb = sc, g.sb2 = sc2;
        } else {           // dB stored (N, K) += dC^T (N, M) @ op(A) (M, K)
            g.M = N, g.N = K, g.K = M;
            g.a = dc, g.lda = (uint32_t)r.ldc, g.ta = true, g.sa = sc, g.sa2 = sc2;
            g.b = a, g.ldb = (uint32_t)r.lda, g.tb = r.trans_a, g.fb = r.a_f16, g.sb = sa, g.sb2 = sa2;
        }
        record(s, &g);
    }
    if (dbias) {
        if (r.bias_rows)  // dbias[m] += sum over z, n of dC[z][m][n]
            sum_rows(s, dbias, dc, M, N, (uint32_t)r.ldc, 1, total, inner, sc, sc2);
        else              // dbias[n] += sum over z, m of dC[z][m][n]
            sum_rows(s, dbias, dc, N, M, 1, (uint32_t)r.ldc, total, inner, sc, sc2);
    }
}
