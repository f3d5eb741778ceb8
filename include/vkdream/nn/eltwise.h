// Elementwise ops: unary activations (forward and backward from the saved input),
// same-shape add/sub/mul, and GEGLU. All fp32; n counts elements. Backward calls
// accumulate (+=) into their gradient outputs; a gradient address of 0 skips it.
// The GPU activations use the accurate float32 math of shaders/nn/eltwise_math.glsl
// (erf-exact GELU as PyTorch's default, PyTorch's softplus threshold of 20).
#ifndef VKDREAM_NN_ELTWISE_H
#define VKDREAM_NN_ELTWISE_H
#include "vkdream/gpu.h"

typedef enum vkd_unary_op {
    VKD_UNARY_SCALE = 0,     // y = alpha x + beta (vkd_scale_*); identity through vkd_unary_*
    VKD_UNARY_SILU = 1,      // x sigmoid(x)
    VKD_UNARY_GELU = 2,      // x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), PyTorch's default GELU
    VKD_UNARY_GELU_TANH = 3, // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), approximate='tanh'
    VKD_UNARY_QUICK_GELU = 4,// x sigmoid(1.702 x) (CLIP)
    VKD_UNARY_SIGMOID = 5,
    VKD_UNARY_SOFTPLUS = 6,  // log(1 + exp(x)), x itself above 20 (PyTorch beta 1, threshold 20)
    VKD_UNARY_EXP = 7,
    VKD_UNARY_RELU = 8,      // derivative 0 at 0, as PyTorch
    VKD_UNARY_TANH = 9,
    VKD_UNARY_COUNT
} vkd_unary_op;

typedef enum vkd_binary_op {
    VKD_BINARY_ADD = 0,
    VKD_BINARY_SUB = 1,      // a - b
    VKD_BINARY_MUL = 2,
    VKD_BINARY_COUNT
} vkd_binary_op;

// Name of an op ("gelu_tanh"), "invalid" outside the enum: for errors and test output.
const char* vkd_unary_op_name(vkd_unary_op op);
const char* vkd_binary_op_name(vkd_binary_op op);

// out = op(inp); out may alias inp.
void vkd_unary_forward(vkd_stream* s, vkd_addr out, // (n,)
                       vkd_addr inp,                // (n,)
                       uint32_t n, vkd_unary_op op);
// dinp += dout * op'(inp). dinp must not alias dout or inp.
void vkd_unary_backward(vkd_stream* s, vkd_addr dinp, // (n,)
                        vkd_addr dout,                // (n,)
                        vkd_addr inp,                 // (n,)
                        uint32_t n, vkd_unary_op op);
// out = alpha * inp + beta; out may alias inp.
void vkd_scale_forward(vkd_stream* s, vkd_addr out, // (n,)
                       vkd_addr inp,                // (n,)
                       uint32_t n, float alpha, float beta);
// dinp += alpha * dout.
void vkd_scale_backward(vkd_stream* s, vkd_addr dinp, // (n,)
                        vkd_addr dout,                // (n,)
                        uint32_t n, float alpha);

// out = a op b; out may alias a or b.
void vkd_binary_forward(vkd_stream* s, vkd_addr out, // (n,)
                        vkd_addr a,                  // (n,)
                        vkd_addr b,                  // (n,)
                        uint32_t n, vkd_binary_op op);
// da += dout (* b), db += dout (- for sub, * a for mul). a is only read for mul's db,
// b only for mul's da (pass 0 otherwise).
void vkd_binary_backward(vkd_stream* s, vkd_addr da, // (n,) or 0
                         vkd_addr db,                // (n,) or 0
                         vkd_addr dout,              // (n,)
                         vkd_addr a,                 // (n,)
                         vkd_addr b,                 // (n,)
                         uint32_t n, vkd_binary_op op);

// GEGLU as in diffusers' feed-forward: inp = [value | gate] along the last dimension,
// out = value * gelu_erf(gate).
void vkd_geglu_forward(vkd_stream* s, vkd_addr out, // (rows, f)
                       vkd_addr inp,                // (rows, 2f)
                       uint32_t rows, uint32_t f);
// dinp[:, :f] += dout * gelu(gate), dinp[:, f:] += dout * value * gelu'(gate).
void vkd_geglu_backward(vkd_stream* s, vkd_addr dinp, // (rows, 2f)
                        vkd_addr dout,                // (rows, f)
                        vkd_addr inp,                 // (rows, 2f)
                        uint32_t rows, uint32_t f);

// Float64 references (libm erf/erfc/tanh/exp/log1p), same argument order.
double vkd_ref_unary(vkd_unary_op op, double x);        // op(x); SCALE is the identity
double vkd_ref_unary_deriv(vkd_unary_op op, double x);  // op'(x)
void vkd_ref_unary_forward(double* out, const double* inp, uint64_t n, vkd_unary_op op);
void vkd_ref_unary_backward(double* dinp, const double* dout, const double* inp, uint64_t n, vkd_unary_op op);
void vkd_ref_scale_forward(double* out, const double* inp, uint64_t n, double alpha, double beta);
void vkd_ref_scale_backward(double* dinp, const double* dout, uint64_t n, double alpha);
void vkd_ref_binary_forward(double* out, const double* a, const double* b, uint64_t n, vkd_binary_op op);
void vkd_ref_binary_backward(double* da, double* db, const double* dout, const double* a, const double* b, uint64_t n,
                             vkd_binary_op op);  // da or db may be NULL
void vkd_ref_geglu_forward(double* out, const double* inp, uint64_t rows, uint64_t f);
void vkd_ref_geglu_backward(double* dinp, const double* dout, const double* inp, uint64_t rows, uint64_t f);

#endif
