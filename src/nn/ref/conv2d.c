// Float64 reference of conv2d: the definition written out as loops, nothing clever.
#include "vkdream/nn/conv2d.h"

typedef struct geom {
    int64_t sy, sx, pt, pl, OH, OW;
} geom;

static geom geometry(uint32_t H, uint32_t W, uint32_t KH, uint32_t KW, const vkd_conv2d_desc* desc) {
    uint32_t OH, OW;
    vkd_conv2d_out_size(H, W, KH, KW, desc, &OH, &OW);
    geom g = {.sy = desc && desc->stride_y ? desc->stride_y : 1,
              .sx = desc && desc->stride_x ? desc->stride_x : 1,
              .pt = desc ? desc->pad_top : 0,
              .pl = desc ? desc->pad_left : 0,
              .OH = OH,
              .OW = OW};
    return g;
}

void vkd_ref_conv2d_forward(double* out, const double* inp, const double* weight, const double* bias, uint32_t B,
                            uint32_t C, uint32_t H, uint32_t W, uint32_t OC, uint32_t KH, uint32_t KW,
                            const vkd_conv2d_desc* desc) {
    geom g = geometry(H, W, KH, KW, desc);
    for (int64_t b = 0; b < B; b++)
        for (int64_t oc = 0; oc < OC; oc++)
            for (int64_t oy = 0; oy < g.OH; oy++)
                for (int64_t ox = 0; ox < g.OW; ox++) {
                    double s = bias ? bias[oc] : 0.0;
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t ky = 0; ky < KH; ky++) {
                            int64_t iy = oy * g.sy - g.pt + ky;
                            if (iy < 0 || iy >= H) continue;
                            for (int64_t kx = 0; kx < KW; kx++) {
                                int64_t ix = ox * g.sx - g.pl + kx;
                                if (ix < 0 || ix >= W) continue;
                                s += weight[((oc * C + c) * KH + ky) * KW + kx] * inp[((b * C + c) * H + iy) * W + ix];
                            }
                        }
                    out[((b * OC + oc) * g.OH + oy) * g.OW + ox] = s;
                }
}

void vkd_ref_conv2d_backward(double* dinp, double* dweight, double* dbias, const double* dout, const double* inp,
                             const double* weight, uint32_t B, uint32_t C, uint32_t H, uint32_t W, uint32_t OC,
                             uint32_t KH, uint32_t KW, const vkd_conv2d_desc* desc) {
    geom g = geometry(H, W, KH, KW, desc);
    for (int64_t b = 0; b < B; b++)
        for (int64_t oc = 0; oc < OC; oc++)
            for (int64_t oy = 0; oy < g.OH; oy++)
                for (int64_t ox = 0; ox < g.OW; ox++) {
                    double d = dout[((b * OC + oc) * g.OH + oy) * g.OW + ox];
                    if (dbias) dbias[oc] += d;
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t ky = 0; ky < KH; ky++) {
                            int64_t iy = oy * g.sy - g.pt + ky;
                            if (iy < 0 || iy >= H) continue;
                            for (int64_t kx = 0; kx < KW; kx++) {
                                int64_t ix = ox * g.sx - g.pl + kx;
                                if (ix < 0 || ix >= W) continue;
                                int64_t wi = ((oc * C + c) * KH + ky) * KW + kx;
                                int64_t ii = ((b * C + c) * H + iy) * W + ix;
                                if (dweight) dweight[wi] += d * inp[ii];
                                if (dinp) dinp[ii] += d * weight[wi];
                            }
                        }
                }
}
