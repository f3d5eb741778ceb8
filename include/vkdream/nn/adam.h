// Adam and AdamW on flat parameter buffers (PyTorch's torch.optim.Adam / AdamW
// formulas, non-amsgrad), with optional gradient scaling and clipping, and the global
// L2 norm of a gradient buffer for clipping by norm.
#ifndef VKDREAM_NN_ADAM_H
#define VKDREAM_NN_ADAM_H
#include "vkdream/gpu.h"

#define VKD_GRAD_NORM_SCRATCH 256  // floats of scratch vkd_grad_norm needs

typedef struct vkd_adam_desc {
    float lr;            // 0 means 1e-3
    float beta1, beta2;  // 0 means 0.9 / 0.999 (for a literal 0, pass a tiny value like 1e-30f)
    float eps;           // 0 means 1e-8
    float weight_decay;  // 0: none. Adam: L2, g += wd * p; AdamW: p *= 1 - lr * wd
    bool decoupled;      // true: AdamW
    // Applied to the gradient first, in this order (as an unscale, clip_grad_norm_ and
    // clip_grad_value_ before optimizer.step() would):
    float grad_scale;    // g = grad * grad_scale; 0 means 1 (e.g. 1 / batch for averaging)
    float max_norm;      // > 0: g *= min(1, max_norm / (|grad_scale| grad_norm + 1e-6))
    float clip_value;    // > 0: g = clamp(g, -clip_value, clip_value)
} vkd_adam_desc;

// One optimizer step t (1 for the first step: the bias corrections use it; they are
// computed in float64 on the host, as PyTorch does in Python, and pushed as constants).
// grad_norm: device scalar from vkd_grad_norm of this grad, read only when max_norm > 0.
void vkd_adam_step(vkd_stream* s, vkd_addr param, // (n,) updated in place
                   vkd_addr m,                    // (n,) first moment, zero before step 1
                   vkd_addr v,                    // (n,) second moment, zero before step 1
                   vkd_addr grad,                 // (n,)
                   vkd_addr grad_norm,            // (1,) or 0
                   uint32_t n, uint32_t step, const vkd_adam_desc* desc);
// out[0] = sqrt(sum(grad^2)), deterministic (fixed summation order). scratch holds
// VKD_GRAD_NORM_SCRATCH floats.
void vkd_grad_norm(vkd_stream* s, vkd_addr out, // (1,)
                   vkd_addr scratch,            // (VKD_GRAD_NORM_SCRATCH,)
                   vkd_addr grad,               // (n,)
                   uint32_t n);

// Float64 references, same argument order (the norm is passed by pointer, may be NULL;
// the reference norm needs no scratch).
void vkd_ref_adam_step(double* param, double* m, double* v, const double* grad, const double* grad_norm, uint64_t n,
                       uint32_t step, const vkd_adam_desc* desc);
void vkd_ref_grad_norm(double* out, const double* grad, uint64_t n);

#endif
