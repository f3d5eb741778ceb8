// Fused MLP kernels (src/field/mlp.c, shaders/field/mlp_*.comp): push constants shared by C and GLSL.
// Parameters are one flat buffer in PyTorch state_dict order (W_0, b_0, W_1, b_1, ..., W_L, b_L).
#ifndef VKD_SHADERS_FIELD_MLP_H
#define VKD_SHADERS_FIELD_MLP_H
#include "common.h"

#define MLP_ACT_NONE 0
#define MLP_ACT_RELU 1
#define MLP_ACT_SIGMOID 2

// Rows per step of the weight-gradient kernel and its workgroup size.
#define MLP_WG_ROWS 16
#define MLP_WG_THREADS 256
#define MLP_REDUCE_WG 256

// Forward: one invocation per row, a tile of R rows per workgroup.
VKD_PUSH_BEGIN(vkd_mlp_fwd_push)
    uint64_t params;    // (P,)
    uint64_t inp;       // (n, n_in)
    uint64_t dst;       // (n, n_out)
    uint64_t saved;     // (hidden_layers, n, hidden) or 0
    uint32_t n;
    uint32_t n_in;
    uint32_t n_out;
    uint32_t hidden_layers;
    uint32_t bias;      // 1: Linear layers have biases
    uint32_t act;       // MLP_ACT_* of the output layer
    uint32_t tiles;     // ceil(n / R)
VKD_PUSH_END(vkd_mlp_fwd_push)

// Backward through the layers: dz_out = dout * act'(y), dz_{l-1} = (W_l^T dz_l) * (h_{l-1} > 0),
// d_inp += W_0^T dz_0. Stores every dz for the weight gradients when dz != 0.
VKD_PUSH_BEGIN(vkd_mlp_bwd_push)
    uint64_t params;    // (P,)
    uint64_t saved;     // (hidden_layers, n, hidden)
    uint64_t y;         // (n, n_out) forward output
    uint64_t dout;      // (n, n_out)
    uint64_t d_inp;     // (n, n_in) accumulated, or 0
    uint64_t dz;        // (hidden_layers, n, hidden) then (n, n_out), or 0
    uint32_t n;
    uint32_t n_in;
    uint32_t n_out;
    uint32_t hidden_layers;
    uint32_t bias;
    uint32_t act;
    uint32_t tiles;
VKD_PUSH_END(vkd_mlp_bwd_push)

// One layer's weight gradient, split over row chunks: partial[c, w_off + m * k + j] =
// sum over the chunk's rows of dz[r, m] a[r, j]; with a bias, partial[c, b_off + m] = sum dz[r, m].
VKD_PUSH_BEGIN(vkd_mlp_wgrad_push)
    uint64_t dz;        // (n, m)
    uint64_t a;         // (n, k) the layer's input
    uint64_t partial;   // (chunks, stride)
    uint32_t n;
    uint32_t m;
    uint32_t k;
    uint32_t rows_per_chunk;  // a multiple of MLP_WG_ROWS
    uint32_t stride;    // floats per chunk row of partial (the MLP's P)
    uint32_t w_off;
    uint32_t b_off;
    uint32_t bias;
VKD_PUSH_END(vkd_mlp_wgrad_push)

// d_params[i] += sum over chunks c (in order) of partial[c, i].
VKD_PUSH_BEGIN(vkd_mlp_reduce_push)
    uint64_t partial;   // (chunks, count)
    uint64_t d_params;  // (count,)
    uint32_t count;
    uint32_t chunks;
VKD_PUSH_END(vkd_mlp_reduce_push)

#endif
