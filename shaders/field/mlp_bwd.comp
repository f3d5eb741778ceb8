#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/mlp.h"

// Backward through the layers, one invocation per row and R rows per tile, laid out like
// mlp_fwd: the tile's current gradient in shared memory column by column (x_sh[j * (R + 1) + row]),
// the weights untransposed in w_sh (w_sh[base + j * i4 + k4] = W[j, 4 k4 .. 4 k4 + 3]), all layers
// at once when they fit (RESIDENT), and coalesced cooperative copies on GPUs (COOP).
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HID = 64;   // hidden width, a multiple of 4
layout(constant_id = 2) const uint IN4 = 8;    // ceil(n_in / 4)
layout(constant_id = 3) const uint XS = 4160;  // max(n_out, HID) * (R + 1)
layout(constant_id = 4) const uint WS4 = 1024; // vec4 slots of w_sh
layout(constant_id = 5) const bool RESIDENT = false;
layout(constant_id = 6) const bool COOP = true;
layout(push_constant) uniform Push { vkd_mlp_bwd_push p; };

const uint H4 = HID / 4;
shared float x_sh[XS];
shared vec4 w_sh[WS4];

uint wsh_base(uint l) {
    if (!RESIDENT || l == 0) return 0;
    return HID * IN4 + (l - 1) * (HID * H4);
}

uint param_off(uint l) {
    uint bias_h = p.bias != 0 ? HID : 0;
    return l == 0 ? 0 : (HID * p.n_in + bias_h) + (l - 1) * (HID * HID + bias_h);
}

void load_layer(uint l) {
    f32 P = f32(p.params);
    uint kdim = l == 0 ? p.n_in : HID, odim = l == p.hidden_layers ? p.n_out : HID, i4 = l == 0 ? IN4 : H4;
    uint w_off = param_off(l), base = wsh_base(l);
    for (uint s = gl_LocalInvocationID.x; s < odim * i4; s += gl_WorkGroupSize.x) {
        uint j = s / i4, k4 = s - j * i4;
        vec4 v = vec4(0);
        for (uint c = 0; c < 4; c++)
            if (4 * k4 + c < kdim) v[c] = P.v[w_off + j * kdim + 4 * k4 + c];
        w_sh[base + j * i4 + k4] = v;
    }
}

// d activation / d pre-activation from the activated output y.
float act_grad(float y) {
    if (p.act == MLP_ACT_RELU) return y > 0.0 ? 1.0 : 0.0;
    if (p.act == MLP_ACT_SIGMOID) return y * (1.0 - y);
    return 1.0;
}

void main() {
    const uint R = gl_WorkGroupSize.x, RS = R + 1;
    const uint r = gl_LocalInvocationID.x;
    const uint L = p.hidden_layers;
    f32 Y = f32(p.y);
    f32 G = f32(p.dout);
    f32 S = f32(p.saved);
    f32 DZ = f32(p.dz);
    f32 DX = f32(p.d_inp);
    const uint out_base = L * p.n * HID;  // dz of the output layer in the dz buffer
    if (RESIDENT) {
        for (uint l = 0; l <= L; l++) load_layer(l);
        barrier();
    }
    for (uint tile = gl_WorkGroupID.x; tile < p.tiles; tile += gl_NumWorkGroups.x) {
        uint row0 = tile * R, row = row0 + r;
        if (COOP) {
            barrier();
            for (uint e = r; e < R * p.n_out; e += R) {
                uint rr = e / p.n_out, o = e - rr * p.n_out;
                float g = 0.0;
                if (row0 + rr < p.n) {
                    uint i = (row0 + rr) * p.n_out + o;
                    g = G.v[i] * act_grad(Y.v[i]);
                    if (p.dz != 0) DZ.v[out_base + i] = g;
                }
                x_sh[o * RS + rr] = g;
            }
            if (RESIDENT) barrier();
        } else {
            for (uint o = 0; o < p.n_out; o++) {
                float g = 0.0;
                if (row < p.n) {
                    uint i = row * p.n_out + o;
                    g = G.v[i] * act_grad(Y.v[i]);
                    if (p.dz != 0) DZ.v[out_base + i] = g;
                }
                x_sh[o * RS + r] = g;
            }
        }
        for (uint l = L + 1; l-- > 0;) {
            if (l == 0 && p.d_inp == 0) break;
            uint odim = l == L ? p.n_out : HID;
            if (!RESIDENT) {
                barrier();
                load_layer(l);
                barrier();
            }
            uint base = wsh_base(l);
            if (l > 0) {
                vec4 acc[H4];
                for (uint k4 = 0; k4 < H4; k4++) acc[k4] = vec4(0);
                for (uint j = 0; j < odim; j++) {
                    float d = x_sh[j * RS + r];
                    for (uint k4 = 0; k4 < H4; k4++) acc[k4] = fma(vec4(d), w_sh[base + j * H4 + k4], acc[k4]);
                }
                // dz_{l-1} = acc masked by the ReLU of layer l - 1 (its saved output > 0).
                uint saved = (l - 1) * p.n * HID;
                if (COOP) {
                    for (uint k4 = 0; k4 < H4; k4++)
                        for (uint c = 0; c < 4; c++) x_sh[(4 * k4 + c) * RS + r] = acc[k4][c];
                    barrier();
                    // coalesced mask and store
                    for (uint e = r; e < R * HID; e += R) {
                        uint rr = e / HID, k = e - rr * HID;
                        float v = 0.0;
                        if (row0 + rr < p.n) {
                            uint i = saved + (row0 + rr) * HID + k;
                            v = S.v[i] > 0.0 ? x_sh[k * RS + rr] : 0.0;
                            if (p.dz != 0) DZ.v[i] = v;
                        }
                        x_sh[k * RS + rr] = v;
                    }
                    if (RESIDENT) barrier();
                } else {
                    for (uint k4 = 0; k4 < H4; k4++)
                        for (uint c = 0; c < 4; c++) {
                            uint k = 4 * k4 + c;
                            float v = 0.0;
                            if (row < p.n) {
                                uint i = saved + row * HID + k;
                                v = S.v[i] > 0.0 ? acc[k4][c] : 0.0;
                                if (p.dz != 0) DZ.v[i] = v;
                            }
                            x_sh[k * RS + r] = v;
                        }
                }
            } else {
                vec4 acc[IN4];
                for (uint k4 = 0; k4 < IN4; k4++) acc[k4] = vec4(0);
                for (uint j = 0; j < HID; j++) {
                    float d = x_sh[j * RS + r];
                    for (uint k4 = 0; k4 < IN4; k4++) acc[k4] = fma(vec4(d), w_sh[base + j * IN4 + k4], acc[k4]);
                }
                if (row < p.n)
                    for (uint k4 = 0; k4 < IN4; k4++)
                        for (uint c = 0; c < 4; c++)
                            if (4 * k4 + c < p.n_in) DX.v[row * p.n_in + 4 * k4 + c] += acc[k4][c];
            }
        }
    }
}
