// Channel concat and slice on the GPU: each is one or two channel-window copies
// (shaders/nn/concat_copy.comp).
#include "vkdream/nn/concat.h"
#include "nn/concat.h"
#include "vkd_shaders.h"

#define LOCAL 256  // local_size_x of concat_copy

typedef struct window {
    vkd_addr dst, src;
    uint32_t dst_C, dst_c0, src_C, src_c0, count;
} window;

static bool check(vkd_stream* s, const char* fn, uint32_t B, uint32_t C, uint32_t H, uint32_t W) {
    if (!B || !C || !H || !W) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: every size must be at least 1, found B=%u C=%u H=%u W=%u", fn, B, C,
                        H, W);
        return false;
    }
    if ((uint64_t)B * C * H * W > UINT32_MAX) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: tensors must have fewer than 2^32 elements (B=%u C=%u H=%u W=%u)", fn,
                        B, C, H, W);
        return false;
    }
    const uint32_t* lim = vkd_gpu_get_info(vkd_stream_gpu(s))->max_workgroup_count;
    if (C > lim[1] || ((uint64_t)H * W + LOCAL - 1) / LOCAL > lim[0]) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: C=%u or H*W=%llu exceeds the device's grid (%u x %u workgroups)", fn, C,
                        (unsigned long long)H * W, lim[0], lim[1]);
        return false;
    }
    return true;
}

static bool check_addr(vkd_stream* s, const char* fn, const char* name, vkd_addr a) {
    if (!a || a % 4) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: %s (0x%llx) must be a non-zero, 4-byte aligned address", fn, name,
                        (unsigned long long)a);
        return false;
    }
    return true;
}

static void copy(vkd_stream* s, window w, uint32_t B, uint32_t HW, bool accumulate) {
    const uint32_t* lim = vkd_gpu_get_info(vkd_stream_gpu(s))->max_workgroup_count;
    vkd_concat_copy_push p = {.dst = w.dst, .src = w.src, .B = B, .count = w.count, .HW = HW, .dst_C = w.dst_C,
                              .dst_c0 = w.dst_c0, .src_C = w.src_C, .src_c0 = w.src_c0, .accumulate = accumulate};
    vkd_stream_dispatch(s, VKD_KERNEL(nn_concat_copy), &p, sizeof p, (HW + LOCAL - 1) / LOCAL, w.count,
                        B < lim[2] ? B : lim[2]);
}

void vkd_concat_forward(vkd_stream* s, vkd_addr out, vkd_addr inp1, vkd_addr inp2, uint32_t B, uint32_t C1,
                        uint32_t C2, uint32_t H, uint32_t W) {
    const char* fn = "concat_forward";
    if ((uint64_t)C1 + C2 > UINT32_MAX) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: C1 + C2 = %llu channels is too many", fn, (unsigned long long)C1 + C2);
        return;
    }
    if (!check(s, fn, B, C1, H, W) || !check(s, fn, B, C2, H, W) || !check(s, fn, B, C1 + C2, H, W) ||
        !check_addr(s, fn, "out", out) || !check_addr(s, fn, "inp1", inp1) || !check_addr(s, fn, "inp2", inp2))
        return;
    copy(s, (window){out, inp1, C1 + C2, 0, C1, 0, C1}, B, H * W, false);
    copy(s, (window){out, inp2, C1 + C2, C1, C2, 0, C2}, B, H * W, false);
}

void vkd_concat_backward(vkd_stream* s, vkd_addr dinp1, vkd_addr dinp2, vkd_addr dout, uint32_t B, uint32_t C1,
                         uint32_t C2, uint32_t H, uint32_t W) {
    const char* fn = "concat_backward";
    if ((uint64_t)C1 + C2 > UINT32_MAX) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: C1 + C2 = %llu channels is too many", fn, (unsigned long long)C1 + C2);
        return;
    }
    if (!check(s, fn, B, C1, H, W) || !check(s, fn, B, C2, H, W) || !check(s, fn, B, C1 + C2, H, W) ||
        !check_addr(s, fn, "dout", dout))
        return;
    if (dinp1) {
        if (!check_addr(s, fn, "dinp1", dinp1)) return;
        copy(s, (window){dinp1, dout, C1, 0, C1 + C2, 0, C1}, B, H * W, true);
    }
    if (dinp2) {
        if (!check_addr(s, fn, "dinp2", dinp2)) return;
        copy(s, (window){dinp2, dout, C2, 0, C1 + C2, C1, C2}, B, H * W, true);
    }
}

static bool check_slice(vkd_stream* s, const char* fn, uint32_t C, uint32_t c0, uint32_t count) {
    if (!count || c0 > C || count > C - c0) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: channels [%u, %u + %u) must be a non-empty range inside [0, C=%u)", fn,
                        c0, c0, count, C);
        return false;
    }
    return true;
}

void vkd_slice_forward(vkd_stream* s, vkd_addr out, vkd_addr inp, uint32_t B, uint32_t C, uint32_t H, uint32_t W,
                       uint32_t c0, uint32_t count) {
    const char* fn = "slice_forward";
    if (!check(s, fn, B, C, H, W) || !check_slice(s, fn, C, c0, count) || !check_addr(s, fn, "out", out) ||
        !check_addr(s, fn, "inp", inp))
        return;
    copy(s, (window){out, inp, count, 0, C, c0, count}, B, H * W, false);
}

void vkd_slice_backward(vkd_stream* s, vkd_addr dinp, vkd_addr dout, uint32_t B, uint32_t C, uint32_t H, uint32_t W,
                        uint32_t c0, uint32_t count) {
    const char* fn = "slice_backward";
    if (!check(s, fn, B, C, H, W) || !check_slice(s, fn, C, c0, count) || !check_addr(s, fn, "dinp", dinp) ||
        !check_addr(s, fn, "dout", dout))
        return;
    copy(s, (window){dinp, dout, C, c0, count, 0, count}, B, H * W, true);
}
