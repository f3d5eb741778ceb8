// Float64 references of the resize ops, written from the definitions: the backward
// passes scatter (the GPU gathers), so the two are independent implementations.
#include "vkdream/nn/resize.h"

#include <math.h>

void vkd_ref_upsample_nearest2x_forward(double* out, const double* inp, uint32_t B, uint32_t C, uint32_t H,
                                        uint32_t W) {
    uint64_t planes = (uint64_t)B * C;
    for (uint64_t p = 0; p < planes; p++)
        for (uint64_t y = 0; y < 2 * (uint64_t)H; y++)
            for (uint64_t x = 0; x < 2 * (uint64_t)W; x++)
                out[(p * 2 * H + y) * 2 * W + x] = inp[(p * H + y / 2) * W + x / 2];
}

void vkd_ref_upsample_nearest2x_backward(double* dinp, const double* dout, uint32_t B, uint32_t C, uint32_t H,
                                         uint32_t W) {
    uint64_t planes = (uint64_t)B * C;
    for (uint64_t p = 0; p < planes; p++)
        for (uint64_t y = 0; y < 2 * (uint64_t)H; y++)
            for (uint64_t x = 0; x < 2 * (uint64_t)W; x++)
                dinp[(p * H + y / 2) * W + x / 2] += dout[(p * 2 * H + y) * 2 * W + x];
}

// PyTorch's source index for align_corners=False: half-pixel centres, clamped at 0;
// the upper neighbour is clamped at the last index.
typedef struct tap {
    uint64_t i0, i1;
    double l1;
} tap;

static tap tap_at(uint64_t o, uint32_t in, uint32_t out) {
    double src = ((double)o + 0.5) * ((double)in / (double)out) - 0.5;
    if (src < 0) src = 0;
    tap t = {.i0 = (uint64_t)floor(src)};
    t.i1 = t.i0 + 1 < in ? t.i0 + 1 : t.i0;
    t.l1 = src - (double)t.i0;
    return t;
}

void vkd_ref_resize_bilinear_forward(double* out, const double* inp, uint32_t B, uint32_t C, uint32_t H, uint32_t W,
                                     uint32_t OH, uint32_t OW) {
    uint64_t planes = (uint64_t)B * C;
    for (uint64_t p = 0; p < planes; p++)
        for (uint64_t oy = 0; oy < OH; oy++) {
            tap ty = tap_at(oy, H, OH);
            for (uint64_t ox = 0; ox < OW; ox++) {
                tap tx = tap_at(ox, W, OW);
                const double* r0 = inp + (p * H + ty.i0) * W;
                const double* r1 = inp + (p * H + ty.i1) * W;
                double top = (1 - tx.l1) * r0[tx.i0] + tx.l1 * r0[tx.i1];
                double bot = (1 - tx.l1) * r1[tx.i0] + tx.l1 * r1[tx.i1];
                out[(p * OH + oy) * OW + ox] = (1 - ty.l1) * top + ty.l1 * bot;
            }
        }
}

void vkd_ref_resize_bilinear_backward(double* dinp, const double* dout, uint32_t B, uint32_t C, uint32_t H,
                                      uint32_t W, uint32_t OH, uint32_t OW) {
    uint64_t planes = (uint64_t)B * C;
    for (uint64_t p = 0; p < planes; p++)
        for (uint64_t oy = 0; oy < OH; oy++) {
            tap ty = tap_at(oy, H, OH);
            for (uint64_t ox = 0; ox < OW; ox++) {
                tap tx = tap_at(ox, W, OW);
                double g = dout[(p * OH + oy) * OW + ox];
                double* r0 = dinp + (p * H + ty.i0) * W;
                double* r1 = dinp + (p * H + ty.i1) * W;
                r0[tx.i0] += (1 - ty.l1) * (1 - tx.l1) * g;
                r0[tx.i1] += (1 - ty.l1) * tx.l1 * g;
                r1[tx.i0] += ty.l1 * (1 - tx.l1) * g;
                r1[tx.i1] += ty.l1 * tx.l1 * g;
            }
        }
}
