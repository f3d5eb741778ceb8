// Resize ops on the GPU: nearest 2x upsampling and bilinear resizing (shaders/nn/resize_*.comp).
#include "vkdream/nn/resize.h"
#include "nn/resize.h"
#include "vkd_shaders.h"

#define LOCAL 64  // local_size_x of every resize kernel

// Checks sizes and records one dispatch over a (columns, rows, planes) grid.
static void run(vkd_stream* s, const char* fn, vkd_kernel_desc k, vkd_addr dst, vkd_addr src, uint32_t B, uint32_t C,
                uint32_t H, uint32_t W, uint32_t OH, uint32_t OW, uint32_t grid_w, uint32_t grid_h) {
    if (!B || !C || !H || !W || !OH || !OW) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: every size must be at least 1, found B=%u C=%u H=%u W=%u OH=%u OW=%u",
                        fn, B, C, H, W, OH, OW);
        return;
    }
    if (!dst || !src || dst % 4 || src % 4) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: tensors must be non-zero, 4-byte aligned addresses (dst 0x%llx, src 0x%llx)",
                        fn, (unsigned long long)dst, (unsigned long long)src);
        return;
    }
    uint64_t big = (uint64_t)B * C * (H > OH ? H : OH) * (W > OW ? W : OW);
    if (big > UINT32_MAX) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: tensors must have fewer than 2^32 elements (B=%u C=%u %ux%u -> %ux%u)",
                        fn, B, C, H, W, OH, OW);
        return;
    }
    const uint32_t* lim = vkd_gpu_get_info(vkd_stream_gpu(s))->max_workgroup_count;
    if (grid_h > lim[1]) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "%s: %u rows exceed the device's %u workgroups along y", fn, grid_h, lim[1]);
        return;
    }
    uint32_t BC = B * C;
    vkd_resize_push p = {.dst = dst, .src = src, .BC = BC, .H = H, .W = W, .OH = OH, .OW = OW};
    vkd_stream_dispatch(s, k, &p, sizeof p, (grid_w + LOCAL - 1) / LOCAL, grid_h, BC < lim[2] ? BC : lim[2]);
}

void vkd_upsample_nearest2x_forward(vkd_stream* s, vkd_addr out, vkd_addr inp, uint32_t B, uint32_t C, uint32_t H,
                                    uint32_t W) {
    run(s, "upsample_nearest2x_forward", VKD_KERNEL(nn_resize_nearest2x_fwd), out, inp, B, C, H, W, 2 * H, 2 * W, W,
        H);
}

void vkd_upsample_nearest2x_backward(vkd_stream* s, vkd_addr dinp, vkd_addr dout, uint32_t B, uint32_t C, uint32_t H,
                                     uint32_t W) {
    run(s, "upsample_nearest2x_backward", VKD_KERNEL(nn_resize_nearest2x_bwd), dinp, dout, B, C, H, W, 2 * H, 2 * W,
        W, H);
}

void vkd_resize_bilinear_forward(vkd_stream* s, vkd_addr out, vkd_addr inp, uint32_t B, uint32_t C, uint32_t H,
                                 uint32_t W, uint32_t OH, uint32_t OW) {
    run(s, "resize_bilinear_forward", VKD_KERNEL(nn_resize_bilinear_fwd), out, inp, B, C, H, W, OH, OW, OW, OH);
}

void vkd_resize_bilinear_backward(vkd_stream* s, vkd_addr dinp, vkd_addr dout, uint32_t B, uint32_t C, uint32_t H,
                                  uint32_t W, uint32_t OH, uint32_t OW) {
    run(s, "resize_bilinear_backward", VKD_KERNEL(nn_resize_bilinear_bwd), dinp, dout, B, C, H, W, OH, OW, W, H);
}
