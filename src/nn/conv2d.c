// conv2d on the GPU: implicit-GEMM kernels (shaders/nn/conv2d_*.comp) and the choice
// of their tile sizes per device and shape.
#include "vkdream/nn/conv2d.h"
#include "nn/conv2d.h"
#include "vkd_shaders.h"

#include <stdint.h>

// A workgroup computes a bm x bn output tile, bk deep per shared-memory step; each of its
// (bm/tm)*(bn/tn) invocations owns tm x tn outputs (see shaders/nn/conv2d_igemm.glsl).
typedef struct tile {
    uint32_t bm, bn, bk, tm, tn;
} tile;

static uint32_t tile_threads(tile t) { return (t.bm / t.tm) * (t.bn / t.tn); }

// The staging loops assume these divisibilities; every tile in the tables below meets them.
static bool tile_ok(tile t, const vkd_gpu_info* info) {
    if (!t.bm || !t.bn || !t.bk || !t.tm || !t.tn || t.bk % 4 || t.tm % 4 || t.tn % 4 || t.bm % t.tm || t.bn % t.tn)
        return false;
    uint32_t nt = tile_threads(t);
    uint32_t shared = t.bk * (t.bm / 4 + 1 + t.bn / 4 + 1) * 16;
    return nt <= info->max_workgroup_invocations && nt % t.bk == 0 && (t.bm * t.bk / 4) % nt == 0 &&
           (t.bn * t.bk / 4) % nt == 0 && nt % (t.bn / 4) == 0 && shared <= info->max_shared_memory;
}

// GPUs: 256 invocations with 4x4 outputs each, the classic shape. llvmpipe runs a
// workgroup on one CPU thread, an invocation per SIMD lane, and (Mesa 22) every shared
// or global load as a loop over the lanes, ~30 instructions each: loads, not FMAs, bound
// it, so it wants large per-invocation tiles (8x16: 12 loads per 128 FMAs per k). 16x16
// is ~15% faster still but compiles 2-3x slower (seconds per pipeline). Narrow variants
// serve GEMMs with few rows (M = 3 or 4 for the VAE's image and latent convs) without
// computing mostly padding.
static const tile tiles[VKD_CONV2D_TILE_CONFIGS] = {
    {64, 64, 16, 4, 4},    // 1: GPU, wide
    {16, 128, 16, 4, 8},   // 2: GPU, narrow
    {64, 128, 8, 8, 16},   // 3: CPU, wide
    {16, 64, 8, 8, 8},     // 4: CPU, narrow
};

static tile pick_tile(const vkd_gpu_info* info, const vkd_conv2d_desc* d, uint32_t M) {
    bool cpu = info->kind == VKD_DEVICE_CPU;
    tile t = tiles[(cpu ? 2 : 0) + (M <= 16)];
    if (d && d->tile_config >= 1 && d->tile_config <= VKD_CONV2D_TILE_CONFIGS) t = tiles[d->tile_config - 1];
    if (!tile_ok(t, info)) t = (tile){16, 16, 16, 4, 4};  // 16 invocations, 2 KiB of shared memory
    return t;
}

// Tile specialization; spec 6 of the implicit-GEMM kernels (fwd, bwd data) says the weight is fp16.
static vkd_kernel_desc tile_kernel(vkd_kernel_desc k, tile t) {
    k.spec[0] = t.bm;
    k.spec[1] = t.bn;
    k.spec[2] = t.bk;
    k.spec[3] = t.tm;
    k.spec[4] = t.tn;
    k.spec[5] = tile_threads(t);
    k.spec_count = 6;
    return k;
}

static vkd_kernel_desc weight_kernel(vkd_kernel_desc k, const vkd_conv2d_desc* d) {
    k.spec[6] = d && d->weight_f16;
    k.spec_count = 7;
    return k;
}

static uint32_t cdiv(uint64_t a, uint64_t b) { return (uint32_t)((a + b - 1) / b); }

typedef struct conv {
    uint32_t B, C, H, W, OC, OH, OW, KH, KW, sy, sx, pt, pl;
} conv;

bool vkd_conv2d_out_size(uint32_t H, uint32_t W, uint32_t KH, uint32_t KW, const vkd_conv2d_desc* d, uint32_t* OH,
                         uint32_t* OW) {
    uint64_t sy = d && d->stride_y ? d->stride_y : 1, sx = d && d->stride_x ? d->stride_x : 1;
    uint64_t ph = (uint64_t)H + (d ? (uint64_t)d->pad_top + d->pad_bottom : 0);
    uint64_t pw = (uint64_t)W + (d ? (uint64_t)d->pad_left + d->pad_right : 0);
    *OH = *OW = 0;
    if (!KH || !KW || ph < KH || pw < KW) return false;
    *OH = (uint32_t)((ph - KH) / sy + 1);
    *OW = (uint32_t)((pw - KW) / sx + 1);
    return true;
}

// Checks what every conv2d kernel assumes (32-bit signed index math included) and fills c.
static bool check(vkd_stream* s, const char* fn, uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t OC,
                  uint32_t KH, uint32_t KW, const vkd_conv2d_desc* d, conv* c) {
    if (!B || !C || !H || !W || !OC || !KH || !KW) {
        vkd_stream_fail(s, VKD_ERR_INVALID,
                        "%s: every size must be at least 1, found B=%u C=%u H=%u W=%u OC=%u KH=%u KW=%u", fn, B, C, H,
                        W, OC, KH, KW);
        return false;
    }
    const uint32_t big = 1u << 24;  // far beyond any image, and keeps coordinate math in int32
    if (H >= big || W >= big || KH >= big || KW >= big ||
        (d && (d->stride_y >= big || d->stride_x >= big || d->pad_top >= big || d->pad_bottom >= big ||
               d->pad_left >= big || d->pad_right >= big))) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: strides, paddings, image and kernel sizes must be below 2^24", fn);
        return false;
    }
    uint32_t OH, OW;
    if (!vkd_conv2d_out_size(H, W, KH, KW, d, &OH, &OW)) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: kernel %ux%u is larger than the padded input %llux%llu", fn, KH, KW,
                        (unsigned long long)H + (d ? d->pad_top + (uint64_t)d->pad_bottom : 0),
                        (unsigned long long)W + (d ? d->pad_left + (uint64_t)d->pad_right : 0));
        return false;
    }
    const uint64_t lim = INT32_MAX;
    uint64_t n_inp = (uint64_t)B * C * H * W, n_out = (uint64_t)B * OC * OH * OW, n_w = (uint64_t)OC * C * KH * KW;
    if (n_inp > lim || n_out > lim || n_w > lim) {
        vkd_stream_fail(s, VKD_ERR_INVALID,
                        "%s: tensors must have fewer than 2^31 elements, found inp %llu, out %llu, weight %llu "
                        "(split the batch)",
                        fn, (unsigned long long)n_inp, (unsigned long long)n_out, (unsigned long long)n_w);
        return false;
    }
    *c = (conv){B, C, H, W, OC, OH, OW, KH, KW, d && d->stride_y ? d->stride_y : 1, d && d->stride_x ? d->stride_x : 1,
                d ? d->pad_top : 0, d ? d->pad_left : 0};
    return true;
}

static bool check_addr(vkd_stream* s, const char* fn, const char* name, vkd_addr a, bool required) {
    if (!a && required) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: %s is 0 but required", fn, name);
        return false;
    }
    if (a % 4) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: %s (0x%llx) must be 4-byte aligned", fn, name, (unsigned long long)a);
        return false;
    }
    return true;
}

static vkd_conv2d_push conv_push(const conv* c, vkd_addr dst, vkd_addr src, vkd_addr weight, vkd_addr bias) {
    return (vkd_conv2d_push){
        .dst = dst, .src = src, .weight = weight, .bias = bias,
        .B = c->B, .C = c->C, .H = c->H, .W = c->W, .OC = c->OC, .OH = c->OH, .OW = c->OW, .KH = c->KH, .KW = c->KW,
        .stride_y = (int32_t)c->sy, .stride_x = (int32_t)c->sx, .pad_top = (int32_t)c->pt, .pad_left = (int32_t)c->pl,
    };
}

// Workgroups along N: the kernels loop over N tiles past the grid limit.
static uint32_t n_groups(const vkd_gpu_info* info, uint64_t n_tiles) {
    return n_tiles < info->max_workgroup_count[0] ? (uint32_t)n_tiles : info->max_workgroup_count[0];
}

void vkd_conv2d_forward(vkd_stream* s, vkd_addr out, vkd_addr inp, vkd_addr weight, vkd_addr bias, uint32_t B,
                        uint32_t C, uint32_t H, uint32_t W, uint32_t OC, uint32_t KH, uint32_t KW,
                        const vkd_conv2d_desc* desc) {
    const char* fn = "conv2d_forward";
    conv c;
    if (!check(s, fn, B, C, H, W, OC, KH, KW, desc, &c) || !check_addr(s, fn, "out", out, true) ||
        !check_addr(s, fn, "inp", inp, true) || !check_addr(s, fn, "weight", weight, true) ||
        !check_addr(s, fn, "bias", bias, false))
        return;
    const vkd_gpu_info* info = vkd_gpu_get_info(vkd_stream_gpu(s));
    tile t = pick_tile(info, desc, OC);
    vkd_conv2d_push p = conv_push(&c, out, inp, weight, bias);
    uint64_t N = (uint64_t)B * c.OH * c.OW;
    vkd_stream_dispatch(s, weight_kernel(tile_kernel(VKD_KERNEL(nn_conv2d_fwd), t), desc), &p, sizeof p,
                        n_groups(info, cdiv(N, t.bn)), cdiv(OC, t.bm), 1);
}

// Split-K plan for the weight gradient (M = OC, N = C*KH*KW, K = B*OH*OW).
typedef struct wsplit {
    uint32_t splits, k_split;
} wsplit;

static wsplit plan_wgrad(const vkd_gpu_info* info, const conv* c, tile t, uint64_t workspace_bytes) {
    uint64_t M = c->OC, N = (uint64_t)c->C * c->KH * c->KW, K = (uint64_t)c->B * c->OH * c->OW;
    uint64_t tiles = (uint64_t)cdiv(M, t.bm) * cdiv(N, t.bn);
    // Enough workgroups to fill the device; a CPU has few cores but gains from
    // splitting when there are fewer tiles than threads.
    uint64_t target = info->kind == VKD_DEVICE_CPU ? 16 : 1024;
    uint64_t want = tiles >= target ? 1 : cdiv(target, tiles);
    uint64_t most = cdiv(K, 1024);  // each split should still loop over a fair amount of K
    if (want > most) want = most;
    uint64_t fit = workspace_bytes / (M * N * sizeof(float));
    if (want > fit) want = fit;
    if (want > 4096) want = 4096;
    if (want * M * N > INT32_MAX) want = INT32_MAX / (M * N);  // partial-sum indices stay 32-bit
    wsplit w = {1, (uint32_t)K};
    if (want > 1) {
        uint64_t ks = cdiv(cdiv(K, want), t.bk) * (uint64_t)t.bk;
        w = (wsplit){cdiv(K, ks), (uint32_t)ks};
    }
    return w;
}

uint64_t vkd_conv2d_backward_workspace_bytes(vkd_gpu* gpu, uint32_t B, uint32_t C, uint32_t H, uint32_t W,
                                             uint32_t OC, uint32_t KH, uint32_t KW, const vkd_conv2d_desc* desc) {
    uint32_t OH, OW;
    if (!B || !C || !H || !W || !OC || !vkd_conv2d_out_size(H, W, KH, KW, desc, &OH, &OW)) return 0;
    const vkd_gpu_info* info = vkd_gpu_get_info(gpu);
    conv c = {.B = B, .C = C, .H = H, .W = W, .OC = OC, .OH = OH, .OW = OW, .KH = KH, .KW = KW};
    wsplit w = plan_wgrad(info, &c, pick_tile(info, desc, OC), UINT64_MAX);
    return w.splits > 1 ? (uint64_t)w.splits * OC * C * KH * KW * sizeof(float) : 0;
}

void vkd_conv2d_backward(vkd_stream* s, vkd_addr dinp, vkd_addr dweight, vkd_addr dbias, vkd_addr dout, vkd_addr inp,
                         vkd_addr weight, uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t OC, uint32_t KH,
                         uint32_t KW, const vkd_conv2d_desc* desc) {
    const char* fn = "conv2d_backward";
    conv c;
    if (!check(s, fn, B, C, H, W, OC, KH, KW, desc, &c) || !check_addr(s, fn, "dinp", dinp, false) ||
        !check_addr(s, fn, "dweight", dweight, false) || !check_addr(s, fn, "dbias", dbias, false) ||
        !check_addr(s, fn, "dout", dout, dinp || dweight || dbias) ||
        !check_addr(s, fn, "inp", inp, dweight != 0) || !check_addr(s, fn, "weight", weight, dinp != 0))
        return;
    if (dweight && desc && desc->weight_f16) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: the weight is fp16 (frozen) and has no gradient", fn);
        return;
    }
    const vkd_gpu_info* info = vkd_gpu_get_info(vkd_stream_gpu(s));

    if (dinp) {
        // One GEMM per stride phase (gl_WorkGroupID.z); N tiles sized for the largest phase.
        tile t = pick_tile(info, desc, C);
        vkd_conv2d_push p = conv_push(&c, dinp, dout, weight, 0);
        uint64_t N = (uint64_t)B * cdiv(H, c.sy) * cdiv(W, c.sx);
        vkd_stream_dispatch(s, weight_kernel(tile_kernel(VKD_KERNEL(nn_conv2d_bwd_data), t), desc), &p, sizeof p,
                            n_groups(info, cdiv(N, t.bn)), cdiv(C, t.bm), c.sy * c.sx);
    }
    if (dweight) {
        tile t = pick_tile(info, desc, OC);
        uint64_t ws_bytes = desc && desc->workspace && desc->workspace % 4 == 0 ? desc->workspace_bytes : 0;
        wsplit w = plan_wgrad(info, &c, t, ws_bytes);
        uint64_t N = (uint64_t)C * KH * KW;
        vkd_conv2d_wgrad_push p = {
            .dst = w.splits > 1 ? desc->workspace : dweight, .inp = inp, .dout = dout,
            .B = B, .C = C, .H = H, .W = W, .OC = OC, .OH = c.OH, .OW = c.OW, .KH = KH, .KW = KW,
            .stride_y = (int32_t)c.sy, .stride_x = (int32_t)c.sx, .pad_top = (int32_t)c.pt, .pad_left = (int32_t)c.pl,
            .k_split = w.k_split, .partial = w.splits > 1,
        };
        vkd_stream_dispatch(s, tile_kernel(VKD_KERNEL(nn_conv2d_bwd_weight), t), &p, sizeof p,
                            n_groups(info, cdiv(N, t.bn)), cdiv(OC, t.bm), w.splits);
        if (w.splits > 1) {
            vkd_conv2d_sum_push q = {.dst = dweight, .src = desc->workspace, .n = (uint32_t)(OC * N),
                                     .splits = w.splits};
            vkd_stream_dispatch_1d(s, VKD_KERNEL(nn_conv2d_bwd_weight_sum), &q, sizeof q, OC * N, 256);
        }
    }
    if (dbias) {
        if (OC > info->max_workgroup_count[0]) {
            vkd_stream_fail(s, VKD_ERR_INVALID, "%s: OC=%u exceeds the device's %u workgroups for dbias", fn, OC,
                            info->max_workgroup_count[0]);
            return;
        }
        vkd_conv2d_bgrad_push p = {.dbias = dbias, .dout = dout, .B = B, .OC = OC, .HW = c.OH * c.OW};
        vkd_stream_dispatch(s, VKD_KERNEL(nn_conv2d_bwd_bias), &p, sizeof p, OC, 1, 1);
    }
}
