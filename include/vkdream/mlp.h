// Small fully fused MLPs (tiny-cuda-nn "FullyFusedMLP" style, 64 wide) for NeRF fields:
// Linear (optional bias) + ReLU hidden layers and one output Linear with an output activation.
//
//   h_0 = relu(W_0 x + b_0), h_l = relu(W_l h_{l-1} + b_l) for l < L,  y = act(W_L h_{L-1} + b_L)
//
// with L = hidden_layers. Parameters live in one flat fp32 buffer in PyTorch's state_dict
// order: W_0 (hidden, in), b_0 (hidden,), W_1 (hidden, hidden), b_1, ..., W_L (out, hidden), b_L
// (the b_l only when desc.bias). The forward runs every layer in one kernel per tile of rows
// (one invocation per row, each layer's weights in shared memory) and saves the hidden
// activations for the backward. The backward is one fused kernel from d y down to d x that
// also stores each layer's pre-activation gradients, then deterministic weight gradients:
// per-chunk partial sums of dZ_l^T A_{l-1} (a small split-K GEMM) reduced in a fixed order.
#ifndef VKDREAM_MLP_H
#define VKDREAM_MLP_H

#include "vkdream/gpu.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VKD_MLP_MAX_WIDTH 128  // in, hidden and out are at most this
#define VKD_MLP_MAX_HIDDEN_LAYERS 8

typedef enum vkd_mlp_activation {
    VKD_MLP_ACT_NONE = 0,
    VKD_MLP_ACT_RELU,
    VKD_MLP_ACT_SIGMOID,
} vkd_mlp_activation;

// How the fused kernels move rows between memory and shared memory.
typedef enum vkd_mlp_kernel {
    VKD_MLP_KERNEL_AUTO = 0,     // per-invocation copies on CPU devices, cooperative ones elsewhere
    VKD_MLP_KERNEL_COOPERATIVE,  // coalesced cooperative copies (GPUs)
    VKD_MLP_KERNEL_PER_ROW,      // each invocation copies its own row (llvmpipe pays per memory instruction)
} vkd_mlp_kernel;

typedef struct vkd_mlp_desc {
    uint32_t in;                           // input width, 1..128 (required)
    uint32_t out;                          // output width, 1..128 (required)
    uint32_t hidden;                       // hidden width, a multiple of 4 up to 128; 0 = 64
    uint32_t hidden_layers;                // 1..8; 0 = 1
    bool bias;                             // Linear layers with bias (tiny-cuda-nn and threestudio's VanillaMLP: none)
    vkd_mlp_activation output_activation;  // default none
    vkd_mlp_kernel kernel;                 // tuning only; every choice computes the same values
} vkd_mlp_desc;

// desc with its defaults filled in; false (and a message in err) when a width is out of range.
bool vkd_mlp_resolve(const vkd_mlp_desc* desc, vkd_mlp_desc* out, vkd_error* err);
// Floats in the flat parameter buffer.
uint64_t vkd_mlp_param_count(const vkd_mlp_desc* desc);
// Offsets (floats) of layer l's weight (out_l, in_l) and bias (out_l,) (bias: ~0 without bias).
void vkd_mlp_layer_offsets(const vkd_mlp_desc* desc, uint32_t layer, uint64_t* weight, uint64_t* bias);
// Floats of the activations the forward saves for the backward: hidden_layers * n * hidden.
uint64_t vkd_mlp_saved_floats(const vkd_mlp_desc* desc, uint32_t n);
// Bytes of scratch vkd_mlp_backward needs for n rows.
uint64_t vkd_mlp_backward_scratch_bytes(const vkd_mlp_desc* desc, uint32_t n);
// PyTorch's nn.Linear initialisation, U(-1/sqrt(in_l), 1/sqrt(in_l)) for weights and biases,
// from a splitmix64 stream seeded with `seed`.
void vkd_mlp_init_params(float* params /* (P,) */, const vkd_mlp_desc* desc, uint64_t seed);

// y = MLP(x). `saved` receives the hidden activations (hidden_layers, n, hidden) for the backward;
// 0 = inference only.
void vkd_mlp_forward(vkd_stream* s,
                     vkd_addr out,     // (n, out)
                     vkd_addr saved,   // (hidden_layers, n, hidden) or 0
                     vkd_addr inp,     // (n, in)
                     vkd_addr params,  // (P,)
                     uint32_t n, const vkd_mlp_desc* desc);
// Accumulates d x and d params from d y; reads the forward's out and saved activations.
void vkd_mlp_backward(vkd_stream* s,
                      vkd_addr d_inp,     // (n, in) accumulated, or 0
                      vkd_addr d_params,  // (P,) accumulated, or 0
                      vkd_addr dout,      // (n, out)
                      vkd_addr out,       // (n, out) from the forward
                      vkd_addr saved,     // (hidden_layers, n, hidden) from the forward
                      vkd_addr inp,       // (n, in)
                      vkd_addr params,    // (P,)
                      uint32_t n, const vkd_mlp_desc* desc,
                      vkd_addr scratch);  // (vkd_mlp_backward_scratch_bytes,) bytes

// Float64 references (no saved state: the backward recomputes the forward).
void vkd_ref_mlp_forward(double* out, const double* inp, const double* params, uint64_t n, const vkd_mlp_desc* desc);
void vkd_ref_mlp_backward(double* d_inp, double* d_params, const double* dout, const double* inp, const double* params,
                          uint64_t n, const vkd_mlp_desc* desc);

#ifdef __cplusplus
}
#endif
#endif
