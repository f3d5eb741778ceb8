#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/mlp.h"

// One invocation per row, R rows per tile (the local size). The tile's activations live in
// shared memory column by column (x_sh[k * (R + 1) + row]: an invocation computes from and into
// its own row, conflict-free); the weights sit transposed in w_sh, so every weight read is a
// vec4 broadcast and the accumulators are registers (loops over outputs have specialization-
// constant bounds and unroll). When every layer fits (RESIDENT) the weights are loaded once per
// workgroup, which then loops over tiles; else one layer at a time per tile.
// COOP (GPUs): inputs and saved activations move through coalesced cooperative copies;
// without it (CPUs, where each memory instruction costs a loop over the lanes) every invocation
// copies its own row, and a resident kernel needs no barrier at all inside the tile loop.
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint HID = 64;   // hidden width, a multiple of 4
layout(constant_id = 2) const uint OUT4 = 4;   // ceil(n_out / 4)
layout(constant_id = 3) const uint XS = 4160;  // max(n_in, HID) * (R + 1)
layout(constant_id = 4) const uint WS4 = 1040; // vec4 slots of w_sh
layout(constant_id = 5) const bool RESIDENT = false;
layout(constant_id = 6) const bool COOP = true;
layout(push_constant) uniform Push { vkd_mlp_fwd_push p; };

const uint H4 = HID / 4;
shared float x_sh[XS];
shared vec4 w_sh[WS4];

// Where layer l starts in w_sh: layers are (k x o4 transposed weights + o4 bias vectors).
uint wsh_base(uint l) {
    if (!RESIDENT || l == 0) return 0;
    return (p.n_in * H4 + H4) + (l - 1) * (HID * H4 + H4);
}

// Offset of layer l in the parameters: W_0 (HID, n_in), [b_0], W_1 (HID, HID), ..., W_L (n_out, HID), [b_L].
uint param_off(uint l) {
    uint bias_h = p.bias != 0 ? HID : 0;
    return l == 0 ? 0 : (HID * p.n_in + bias_h) + (l - 1) * (HID * HID + bias_h);
}

// w_sh[base + k * o4 + j4] = W[4 j4 .. 4 j4 + 3, k] (zero-padded outputs), then the bias vectors.
void load_layer(uint l, uint kdim, uint odim, uint o4) {
    f32 P = f32(p.params);
    uint w_off = param_off(l), base = wsh_base(l);
    for (uint s = gl_LocalInvocationID.x; s < kdim * o4; s += gl_WorkGroupSize.x) {
        uint j4 = s / kdim, k = s - j4 * kdim;  // k fastest: neighbouring invocations read neighbouring weights
        vec4 v = vec4(0);
        for (uint c = 0; c < 4; c++)
            if (4 * j4 + c < odim) v[c] = P.v[w_off + (4 * j4 + c) * kdim + k];
        w_sh[base + k * o4 + j4] = v;
    }
    for (uint j4 = gl_LocalInvocationID.x; j4 < o4; j4 += gl_WorkGroupSize.x) {
        vec4 b = vec4(0);
        if (p.bias != 0)
            for (uint c = 0; c < 4; c++)
                if (4 * j4 + c < odim) b[c] = P.v[w_off + odim * kdim + 4 * j4 + c];
        w_sh[base + kdim * o4 + j4] = b;
    }
}

float activate(float v) {
    if (p.act == MLP_ACT_RELU) return max(v, 0.0);
    if (p.act == MLP_ACT_SIGMOID) return 1.0 / (1.0 + exp(-v));
    return v;
}

void main() {
    const uint R = gl_WorkGroupSize.x, RS = R + 1;
    const uint r = gl_LocalInvocationID.x;
    const uint L = p.hidden_layers;
    f32 X = f32(p.inp);
    f32 Y = f32(p.dst);
    f32 S = f32(p.saved);
    if (RESIDENT) {
        for (uint l = 0; l < L; l++) load_layer(l, l == 0 ? p.n_in : HID, HID, H4);
        load_layer(L, HID, p.n_out, OUT4);
        barrier();
    }
    for (uint tile = gl_WorkGroupID.x; tile < p.tiles; tile += gl_NumWorkGroups.x) {
        uint row0 = tile * R, row = row0 + r;
        if (COOP) {
            barrier();  // the previous tile is done with x_sh
            // consecutive invocations read consecutive floats of the (R, n_in) block
            for (uint e = r; e < R * p.n_in; e += R) {
                uint rr = e / p.n_in, k = e - rr * p.n_in;
                x_sh[k * RS + rr] = row0 + rr < p.n ? X.v[(row0 + rr) * p.n_in + k] : 0.0;
            }
            if (RESIDENT) barrier();
        } else {
            for (uint k = 0; k < p.n_in; k++) x_sh[k * RS + r] = row < p.n ? X.v[row * p.n_in + k] : 0.0;
        }
        uint kdim = p.n_in;
        for (uint l = 0; l < L; l++) {
            if (!RESIDENT) {
                barrier();
                load_layer(l, kdim, HID, H4);
                barrier();
            }
            uint base = wsh_base(l);
            vec4 acc[H4];
            for (uint j4 = 0; j4 < H4; j4++) acc[j4] = w_sh[base + kdim * H4 + j4];
            for (uint k = 0; k < kdim; k++) {
                float xv = x_sh[k * RS + r];
                for (uint j4 = 0; j4 < H4; j4++) acc[j4] = fma(vec4(xv), w_sh[base + k * H4 + j4], acc[j4]);
            }
            uint saved = l * p.n * HID;
            for (uint j4 = 0; j4 < H4; j4++) {
                vec4 h = max(acc[j4], vec4(0));
                for (uint c = 0; c < 4; c++) x_sh[(4 * j4 + c) * RS + r] = h[c];
                if (!COOP && p.saved != 0 && row < p.n)
                    for (uint c = 0; c < 4; c++) S.v[saved + row * HID + 4 * j4 + c] = h[c];
            }
            kdim = HID;
            if (COOP && p.saved != 0) {
                barrier();
                for (uint e = r; e < R * HID; e += R) {
                    uint rr = e / HID, j = e - rr * HID;
                    if (row0 + rr < p.n) S.v[saved + (row0 + rr) * HID + j] = x_sh[j * RS + rr];
                }
                if (RESIDENT) barrier();  // before the next layer overwrites the rows
            }
        }
        if (!RESIDENT) {
            barrier();
            load_layer(L, HID, p.n_out, OUT4);
            barrier();
        }
        uint base = wsh_base(L);
        vec4 acc[OUT4];
        for (uint j4 = 0; j4 < OUT4; j4++) acc[j4] = w_sh[base + HID * OUT4 + j4];
        for (uint k = 0; k < HID; k++) {
            float xv = x_sh[k * RS + r];
            for (uint j4 = 0; j4 < OUT4; j4++) acc[j4] = fma(vec4(xv), w_sh[base + k * OUT4 + j4], acc[j4]);
        }
        if (row < p.n)
            for (uint j4 = 0; j4 < OUT4; j4++)
                for (uint c = 0; c < 4; c++)
                    if (4 * j4 + c < p.n_out) Y.v[row * p.n_out + 4 * j4 + c] = activate(acc[j4][c]);
    }
}
