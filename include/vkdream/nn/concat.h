// Concatenation and slicing along the channel axis of NCHW fp32 tensors (the UNet's
// skip connections).
#ifndef VKDREAM_NN_CONCAT_H
#define VKDREAM_NN_CONCAT_H
#include "vkdream/gpu.h"

// out = [inp1, inp2] along channels.
void vkd_concat_forward(vkd_stream* s,
                        vkd_addr out,   // (B, C1 + C2, H, W)
                        vkd_addr inp1,  // (B, C1, H, W)
                        vkd_addr inp2,  // (B, C2, H, W)
                        uint32_t B, uint32_t C1, uint32_t C2, uint32_t H, uint32_t W);
// dinp1 += dout[:, :C1], dinp2 += dout[:, C1:]; either may be 0 (not needed).
void vkd_concat_backward(vkd_stream* s,
                         vkd_addr dinp1,  // (B, C1, H, W) or 0
                         vkd_addr dinp2,  // (B, C2, H, W) or 0
                         vkd_addr dout,   // (B, C1 + C2, H, W)
                         uint32_t B, uint32_t C1, uint32_t C2, uint32_t H, uint32_t W);

// out = inp[:, c0 : c0 + count].
void vkd_slice_forward(vkd_stream* s,
                       vkd_addr out,  // (B, count, H, W)
                       vkd_addr inp,  // (B, C, H, W)
                       uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t c0, uint32_t count);
// dinp[:, c0 : c0 + count] += dout; the other channels are left alone.
void vkd_slice_backward(vkd_stream* s,
                        vkd_addr dinp,  // (B, C, H, W)
                        vkd_addr dout,  // (B, count, H, W)
                        uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t c0, uint32_t count);

// Float64 references, same argument order; backward ones accumulate and skip NULL gradients.
void vkd_ref_concat_forward(double* out, const double* inp1, const double* inp2, uint32_t B, uint32_t C1, uint32_t C2,
                            uint32_t H, uint32_t W);
void vkd_ref_concat_backward(double* dinp1, double* dinp2, const double* dout, uint32_t B, uint32_t C1, uint32_t C2,
                             uint32_t H, uint32_t W);
void vkd_ref_slice_forward(double* out, const double* inp, uint32_t B, uint32_t C, uint32_t H, uint32_t W,
                           uint32_t c0, uint32_t count);
void vkd_ref_slice_backward(double* dinp, const double* dout, uint32_t B, uint32_t C, uint32_t H, uint32_t W,
                            uint32_t c0, uint32_t count);

#endif
