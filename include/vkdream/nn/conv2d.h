// 2-D convolution, NCHW fp32, PyTorch semantics (cross-correlation, groups 1, dilation 1):
//   out[b, oc, oy, ox] = bias[oc] + sum over c, ky, kx of
//       weight[oc, c, ky, kx] * inp[b, c, oy*stride_y - pad_top + ky, ox*stride_x - pad_left + kx]
// with zeros outside the image; OH = (H + pad_top + pad_bottom - KH) / stride_y + 1, likewise OW.
#ifndef VKDREAM_NN_CONV2D_H
#define VKDREAM_NN_CONV2D_H
#include "vkdream/gpu.h"

// Zero means default: stride 1, no padding. Padding is per side because the SD VAE
// encoder's downsampler pads (top 0, bottom 1, left 0, right 1) before a 3x3 stride 2 conv.
typedef struct vkd_conv2d_desc {
    uint32_t stride_y, stride_x;  // 0 = 1
    uint32_t pad_top, pad_bottom, pad_left, pad_right;
    // Backward only, optional: device scratch memory for split-K partial sums of the weight
    // gradient, which gives wide GPUs enough parallelism when OC*C*KH*KW is small and
    // B*OH*OW large. vkd_conv2d_backward_workspace_bytes says how much helps; with less
    // (or none) the op uses fewer splits. The op writes it; contents need not be kept.
    vkd_addr workspace;
    uint64_t workspace_bytes;
    // 0: tile sizes chosen for the device and shape. i in 1..VKD_CONV2D_TILE_CONFIGS forces
    // built-in tile configuration i (tests run every one on any device; tuning).
    uint32_t tile_config;
    // The weight is stored as fp16 (a frozen weight: vkd_params_is_f16) and widened to fp32 as
    // it is read; dweight must then be 0.
    bool weight_f16;
} vkd_conv2d_desc;

#define VKD_CONV2D_TILE_CONFIGS 4

// Output size for an H x W input; false (and *OH = *OW = 0) when the padded input is smaller than the kernel.
bool vkd_conv2d_out_size(uint32_t H, uint32_t W, uint32_t KH, uint32_t KW, const vkd_conv2d_desc* desc,
                         uint32_t* OH, uint32_t* OW);

// out = conv2d(inp, weight) + bias (bias 0: none). out is written, not accumulated.
void vkd_conv2d_forward(vkd_stream* s,
                        vkd_addr out,     // (B, OC, OH, OW)
                        vkd_addr inp,     // (B, C, H, W)
                        vkd_addr weight,  // (OC, C, KH, KW)
                        vkd_addr bias,    // (OC) or 0
                        uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t OC, uint32_t KH, uint32_t KW,
                        const vkd_conv2d_desc* desc);

// dinp += dL/dinp, dweight += dL/dweight, dbias += dL/dbias given dout = dL/dout; any
// gradient address may be 0 (not needed). Deterministic (no atomics).
void vkd_conv2d_backward(vkd_stream* s,
                         vkd_addr dinp,     // (B, C, H, W) or 0
                         vkd_addr dweight,  // (OC, C, KH, KW) or 0
                         vkd_addr dbias,    // (OC) or 0
                         vkd_addr dout,     // (B, OC, OH, OW)
                         vkd_addr inp,      // (B, C, H, W), needed for dweight
                         vkd_addr weight,   // (OC, C, KH, KW), needed for dinp
                         uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t OC, uint32_t KH, uint32_t KW,
                         const vkd_conv2d_desc* desc);

// Bytes of desc->workspace with which vkd_conv2d_backward runs fastest on this device (0: no use for one).
uint64_t vkd_conv2d_backward_workspace_bytes(vkd_gpu* gpu, uint32_t B, uint32_t C, uint32_t H, uint32_t W,
                                             uint32_t OC, uint32_t KH, uint32_t KW, const vkd_conv2d_desc* desc);

// Float64 references, same argument order (no stream; desc->workspace is ignored).
void vkd_ref_conv2d_forward(double* out,           // (B, OC, OH, OW)
                            const double* inp,     // (B, C, H, W)
                            const double* weight,  // (OC, C, KH, KW)
                            const double* bias,    // (OC) or NULL
                            uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t OC, uint32_t KH, uint32_t KW,
                            const vkd_conv2d_desc* desc);
// Accumulates like the GPU version; NULL gradients are skipped.
void vkd_ref_conv2d_backward(double* dinp,          // (B, C, H, W) or NULL
                             double* dweight,       // (OC, C, KH, KW) or NULL
                             double* dbias,         // (OC) or NULL
                             const double* dout,    // (B, OC, OH, OW)
                             const double* inp,     // (B, C, H, W)
                             const double* weight,  // (OC, C, KH, KW)
                             uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t OC, uint32_t KH, uint32_t KW,
                             const vkd_conv2d_desc* desc);

#endif
