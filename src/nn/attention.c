// Flash attention on the GPU: argument checks, the kernel configuration per device and
// head dim, and the forward / backward dispatches (see shaders/nn/attention_tile.glsl for
// the kernel layout).
#include "vkdream/nn/attention.h"
#include "nn/attention.h"
#include "vkd_shaders.h"

#include <math.h>
#include <stdio.h>

#define MAX_D 256  // 32 octets: beyond that even 8 invocations per row hold too many registers

bool vkd_attention_resolve(const vkd_attention_desc* d, vkd_attention_desc* o, const char* op, char* why, size_t n) {
    *o = *d;
    if (!d->B || !d->H || !d->Tq || !d->D) {
        snprintf(why, n, "%s: B, H, Tq, D must be >= 1, found B=%u H=%u Tq=%u D=%u", op, d->B, d->H, d->Tq, d->D);
        return false;
    }
    if (d->D > MAX_D) {
        snprintf(why, n, "%s: head dim D=%u is larger than the supported %d", op, d->D, MAX_D);
        return false;
    }
    if (d->config > VKD_ATTENTION_CONFIGS) {
        snprintf(why, n, "%s: config=%u (0 = auto, 1..%d)", op, d->config, VKD_ATTENTION_CONFIGS);
        return false;
    }
    if (!isfinite(d->scale) || d->scale < 0.0f) {
        snprintf(why, n, "%s: scale=%g must be finite and >= 0 (0 = 1/sqrt(D))", op, (double)d->scale);
        return false;
    }
    if (!o->Tk) o->Tk = o->Tq;
    const uint64_t hd = (uint64_t)d->H * d->D;
    if (hd > UINT32_MAX) {
        snprintf(why, n, "%s: H*D=%llu is too large", op, (unsigned long long)hd);
        return false;
    }
    if (!o->ldq) o->ldq = (uint32_t)hd;
    if (!o->ldk) o->ldk = (uint32_t)hd;
    if (!o->ldv) o->ldv = (uint32_t)hd;
    if (!o->ldo) o->ldo = (uint32_t)hd;
    if (o->ldq < hd || o->ldk < hd || o->ldv < hd || o->ldo < hd) {
        snprintf(why, n, "%s: row strides ldq=%u ldk=%u ldv=%u ldo=%u must be >= H*D=%llu", op, o->ldq, o->ldk, o->ldv,
                 o->ldo, (unsigned long long)hd);
        return false;
    }
    if (o->scale == 0.0f) o->scale = (float)(1.0 / sqrt((double)d->D));
    // Element indices inside one batch entry, and into lse / delta, are 32-bit on the GPU.
    const uint64_t lim = UINT32_MAX;
    if ((uint64_t)o->Tq * o->ldq > lim || (uint64_t)o->Tk * o->ldk > lim || (uint64_t)o->Tk * o->ldv > lim ||
        (uint64_t)o->Tq * o->ldo > lim || (uint64_t)o->B * o->H * o->Tq > lim) {
        snprintf(why, n, "%s: a batch entry (or B*H*Tq) spans more than 2^32 elements", op);
        return false;
    }
    return true;
}

// One configuration of the tile kernels (see attention_tile.glsl): R rows per invocation,
// blocks of BC rows of the other operand, DS invocations per row, NT invocations.
typedef struct cfg {
    uint32_t R, BC, DS, NT;
} cfg;

enum kernel { K_FWD, K_DQ, K_DKDV };

static uint32_t octets(uint32_t D) { return (D + 7) / 8; }

static uint32_t shared_bytes(cfg c, uint32_t NO, enum kernel k) {
    uint32_t BR = c.NT / c.DS * c.R;
    uint32_t tiles = BR * NO > 4 * c.BC * NO ? BR * NO : 4 * c.BC * NO;  // u64vec4 octets
    uint32_t red = c.DS > 1 ? (k == K_FWD ? 1 : 2) * BR * (c.BC * c.DS + 1) : 0;  // floats
    return 32 * tiles + 4 * red + (k == K_DKDV ? 16 * c.BC : 0);
}

// Smallest divisor of NO that leaves at most `per` octets to each invocation of a row.
static uint32_t split(uint32_t NO, uint32_t per) {
    for (uint32_t ds = 1; ds <= NO; ds++)
        if (NO % ds == 0 && NO / ds <= per) return ds;
    return NO;
}

static cfg pick_cfg(vkd_gpu* gpu, uint32_t config, uint32_t D, enum kernel k) {
    const vkd_gpu_info* in = vkd_gpu_get_info(gpu);
    const uint32_t NO = octets(D);
    // Vectors a row keeps in registers: q, o (forward); q, dout, dq; k, v, dk, dv.
    const uint32_t nvec = k == K_FWD ? 2 : k == K_DQ ? 3 : 4;
    const uint32_t sg = in->subgroup_size >= 4 && in->subgroup_size <= 64 ? in->subgroup_size : 8;
    if (config == 0) config = in->kind == VKD_DEVICE_CPU ? 1 : 2;
    cfg c;
    switch (config) {
    case 1: {
        // llvmpipe: a workgroup of one SIMD subgroup (no workgroup barriers, see
        // attention_tile.glsl) with R rows per lane in registers. Every shared-memory read is a
        // loop over the lanes there, so R multiplies what one read feeds; R * D is bounded
        // because the live registers (spilled to the stack) grow with it, and with them LLVM's
        // compile time. Small blocks keep the unrolled block body (and the compile) small at
        // little cost. B=2, H=8, T=1024, D=40 on 2 cores: forward with 16 rows 80 ms, with 8
        // 100 ms; blocks of 4 or 8 keys: the same speed, the compile of 4 half as long.
        uint32_t R = 160 / (nvec * NO);
        c = (cfg){R < 1 ? 1 : R > 16 ? 16 : R, NO > 10 ? 2 : 4, 1, sg};
        break;
    }
    case 2:
        // GPUs: 128 invocations, one row each, at most 5 octets (40 dims) of a row per
        // invocation (D = 40: 1 per row, 64 and 80: 2, 160: 4), blocks of up to 32 keys.
        c = (cfg){1, 32, split(NO, 5), 128};
        break;
    default:
        // Coverage (tests): several rows per invocation, an invocation per octet of a row (up
        // to 8), a block size that divides nothing, several (partial) subgroups.
        c = (cfg){3, 5, NO <= 8 ? NO : split(NO, 4), 4 * (NO <= 8 ? NO : split(NO, 4))};
        break;
    }
    c.NT = c.NT / c.DS * c.DS;  // a whole number of rows
    if (c.NT < c.DS) c.NT = c.DS;
    while (c.BC > 1 && shared_bytes(c, NO, k) > in->max_shared_memory) c.BC /= 2;
    while (c.R > 1 && shared_bytes(c, NO, k) > in->max_shared_memory) c.R--;
    return c;
}

static uint32_t rows_per_group(cfg c) { return c.NT / c.DS * c.R; }

static bool even(vkd_addr a) { return a % 8 == 0; }

// The FLAGS spec constant: bit 0 when every row of every tensor is made of 8-byte aligned pairs.
static uint32_t pair_flags(const vkd_attention_desc* r, const vkd_addr* addrs, int n) {
    if (r->D % 2 || r->ldq % 2 || r->ldk % 2 || r->ldv % 2 || r->ldo % 2) return 0;
    for (int i = 0; i < n; i++)
        if (!even(addrs[i])) return 0;
    return 1;
}

static bool grid_ok(vkd_stream* s, const char* op, const vkd_attention_desc* r, uint32_t rows, cfg c) {
    const vkd_gpu_info* in = vkd_gpu_get_info(vkd_stream_gpu(s));
    uint32_t gx = (rows + rows_per_group(c) - 1) / rows_per_group(c);
    if (gx > in->max_workgroup_count[0] || r->H > in->max_workgroup_count[1] || r->B > in->max_workgroup_count[2]) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: grid %u x %u x %u exceeds the device limit %u x %u x %u", op, gx, r->H,
                        r->B, in->max_workgroup_count[0], in->max_workgroup_count[1], in->max_workgroup_count[2]);
        return false;
    }
    return true;
}

static void dispatch(vkd_stream* s, enum kernel k, const vkd_attention_desc* r, cfg c, uint32_t flags,
                     const vkd_attention_push* p) {
    // A workgroup of exactly one subgroup needs no workgroup barriers (bit 1). Only trusted on
    // CPU devices, where a subgroup is the SIMD vector: some GPU drivers may run a shader at a
    // narrower width than the subgroup size they report.
    const vkd_gpu_info* in = vkd_gpu_get_info(vkd_stream_gpu(s));
    if (in->kind == VKD_DEVICE_CPU && c.NT == in->subgroup_size) flags |= 2;
    uint32_t rows = k == K_DKDV ? r->Tk : r->Tq;
    uint32_t gx = (rows + rows_per_group(c) - 1) / rows_per_group(c);
    vkd_kernel_desc kd = k == K_FWD  ? VKD_KERNEL_SPEC(nn_attention_fwd, r->D, c.R, c.BC, c.DS, c.NT, flags)
                         : k == K_DQ ? VKD_KERNEL_SPEC(nn_attention_bwd_dq, r->D, c.R, c.BC, c.DS, c.NT, flags)
                                     : VKD_KERNEL_SPEC(nn_attention_bwd_dkdv, r->D, c.R, c.BC, c.DS, c.NT, flags);
    vkd_stream_dispatch(s, kd, p, sizeof *p, gx, r->H, r->B);
}

void vkd_attention_forward(vkd_stream* s, vkd_addr out, vkd_addr lse, vkd_addr q, vkd_addr k, vkd_addr v,
                           const vkd_attention_desc* desc) {
    const char* op = "attention_forward";
    vkd_attention_desc r;
    char why[256];
    if (!desc) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: desc is NULL", op);
        return;
    }
    if (!vkd_attention_resolve(desc, &r, op, why, sizeof why)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s", why);
        return;
    }
    if (!out || !q || !k || !v) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: address 0 for %s", op, !out ? "out" : !q ? "q" : !k ? "k" : "v");
        return;
    }
    cfg c = pick_cfg(vkd_stream_gpu(s), r.config, r.D, K_FWD);
    if (!grid_ok(s, op, &r, r.Tq, c)) return;
    vkd_attention_push p = {.q = q, .k = k, .v = v, .o = out, .lse = lse, .Tq = r.Tq, .Tk = r.Tk, .H = r.H,
                            .ldq = r.ldq, .ldk = r.ldk, .ldv = r.ldv, .ldo = r.ldo, .causal = r.causal,
                            .scale = r.scale};
    dispatch(s, K_FWD, &r, c, pair_flags(&r, (vkd_addr[]){q, k, v, out}, 4), &p);
}

void vkd_attention_backward(vkd_stream* s, vkd_addr dq, vkd_addr dk, vkd_addr dv, vkd_addr delta, vkd_addr dout,
                            vkd_addr q, vkd_addr k, vkd_addr v, vkd_addr out, vkd_addr lse,
                            const vkd_attention_desc* desc) {
    const char* op = "attention_backward";
    vkd_attention_desc r;
    char why[256];
    if (!desc) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: desc is NULL", op);
        return;
    }
    if (!vkd_attention_resolve(desc, &r, op, why, sizeof why)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s", why);
        return;
    }
    if (!dq && !dk && !dv) return;
    // dv = P^T dout needs no delta; dq and dk need it (dS = P * (dP - delta)).
    const bool need_delta = dq || dk;
    const char* missing = !dout ? "dout" : !q ? "q" : !k ? "k" : !v ? "v" : !lse ? "lse" : NULL;
    if (!missing && need_delta) missing = !out ? "out (needed for dq, dk)" : !delta ? "delta (needed for dq, dk)" : NULL;
    if (missing) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: address 0 for %s", op, missing);
        return;
    }
    vkd_gpu* gpu = vkd_stream_gpu(s);
    cfg cq = pick_cfg(gpu, r.config, r.D, K_DQ), ck = pick_cfg(gpu, r.config, r.D, K_DKDV);
    if ((dq && !grid_ok(s, op, &r, r.Tq, cq)) || ((dk || dv) && !grid_ok(s, op, &r, r.Tk, ck))) return;

    if (need_delta) {
        const uint32_t n = r.B * r.H * r.Tq;
        vkd_attention_delta_push dp = {.delta = delta, .dout = dout, .o = out, .n = n, .Tq = r.Tq, .H = r.H,
                                       .D = r.D, .ldo = r.ldo};
        const uint32_t pairs = r.D % 2 == 0 && r.ldo % 2 == 0 && even(dout) && even(out);
        vkd_stream_dispatch_1d(s, VKD_KERNEL_SPEC(nn_attention_bwd_delta, pairs), &dp, sizeof dp, n, 64);
    }
    vkd_attention_push p = {.q = q, .k = k, .v = v, .o = dout, .lse = lse, .delta = delta, .dq = dq, .dk = dk,
                            .dv = dv, .Tq = r.Tq, .Tk = r.Tk, .H = r.H, .ldq = r.ldq, .ldk = r.ldk, .ldv = r.ldv,
                            .ldo = r.ldo, .causal = r.causal, .scale = r.scale};
    if (dq) dispatch(s, K_DQ, &r, cq, pair_flags(&r, (vkd_addr[]){q, k, v, dout, dq}, 5), &p);
    if (dk || dv) dispatch(s, K_DKDV, &r, ck, pair_flags(&r, (vkd_addr[]){q, k, v, dout, dk, dv}, 6), &p);
}
