// Image resizing, NCHW fp32: nearest-neighbour 2x upsampling (the SD UNet/VAE
// upsamplers) and bilinear resizing to any size with PyTorch's
// F.interpolate(mode='bilinear', align_corners=False, antialias=False) semantics
// (half-pixel centres, scale = in/out, source position clamped at 0).
#ifndef VKDREAM_NN_RESIZE_H
#define VKDREAM_NN_RESIZE_H
#include "vkdream/gpu.h"

// out[b, c, y, x] = inp[b, c, y / 2, x / 2].
void vkd_upsample_nearest2x_forward(vkd_stream* s,
                                    vkd_addr out,  // (B, C, 2H, 2W)
                                    vkd_addr inp,  // (B, C, H, W)
                                    uint32_t B, uint32_t C, uint32_t H, uint32_t W);
// dinp += the sum of each pixel's 2x2 block of dout.
void vkd_upsample_nearest2x_backward(vkd_stream* s,
                                     vkd_addr dinp,  // (B, C, H, W)
                                     vkd_addr dout,  // (B, C, 2H, 2W)
                                     uint32_t B, uint32_t C, uint32_t H, uint32_t W);

// out = bilinear resize of inp from H x W to OH x OW (up, down, any ratio per axis).
void vkd_resize_bilinear_forward(vkd_stream* s,
                                 vkd_addr out,  // (B, C, OH, OW)
                                 vkd_addr inp,  // (B, C, H, W)
                                 uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t OH, uint32_t OW);
// dinp += the transpose of the resize applied to dout (a gather: deterministic).
void vkd_resize_bilinear_backward(vkd_stream* s,
                                  vkd_addr dinp,  // (B, C, H, W)
                                  vkd_addr dout,  // (B, C, OH, OW)
                                  uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t OH, uint32_t OW);

// Float64 references, same argument order; backward ones accumulate.
void vkd_ref_upsample_nearest2x_forward(double* out, const double* inp, uint32_t B, uint32_t C, uint32_t H,
                                        uint32_t W);
void vkd_ref_upsample_nearest2x_backward(double* dinp, const double* dout, uint32_t B, uint32_t C, uint32_t H,
                                         uint32_t W);
void vkd_ref_resize_bilinear_forward(double* out, const double* inp, uint32_t B, uint32_t C, uint32_t H, uint32_t W,
                                     uint32_t OH, uint32_t OW);
void vkd_ref_resize_bilinear_backward(double* dinp, const double* dout, uint32_t B, uint32_t C, uint32_t H,
                                      uint32_t W, uint32_t OH, uint32_t OW);

#endif
