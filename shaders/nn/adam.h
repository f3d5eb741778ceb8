// Push constants of the Adam / AdamW step on flat buffers and of the global gradient
// L2 norm (two passes: per-group partial sums of squares, then one group).
#ifndef VKD_SHADERS_NN_ADAM_H
#define VKD_SHADERS_NN_ADAM_H
#include "common.h"

#define VKD_GRAD_NORM_GROUPS 256  // partial sums of the first pass, at most

VKD_PUSH_BEGIN(vkd_adam_push)
    uint64_t param;     // (n,) updated in place
    uint64_t grad;      // (n,)
    uint64_t m;         // (n,) first moment, updated
    uint64_t v;         // (n,) second moment, updated
    uint64_t grad_norm; // (1,) L2 norm of grad, read when max_norm > 0
    uint32_t n;
    float beta1, one_minus_beta1;  // 1 - beta1 rounded from float64, as PyTorch's alpha
    float beta2, one_minus_beta2;
    float eps;
    float l2;           // Adam's weight decay: g += l2 * p (0 for AdamW)
    float decay;        // AdamW: p *= 1 - lr * weight_decay (1 for Adam)
    float step_size;    // lr / (1 - beta1^t), in float64 on the host
    float bc2_sqrt;     // sqrt(1 - beta2^t)
    float grad_scale;   // g = grad * grad_scale first
    float clip_value;   // then clamp to [-clip, clip] when > 0
    float max_norm;     // scale by min(1, max_norm / (|grad_scale| norm + 1e-6)) when > 0
VKD_PUSH_END(vkd_adam_push)

VKD_PUSH_BEGIN(vkd_grad_norm_push)
    uint64_t dst;       // pass 1: partials (groups,); pass 2: out (1,)
    uint64_t src;       // pass 1: grad (n,); pass 2: partials
    uint32_t n;         // elements of src
VKD_PUSH_END(vkd_grad_norm_push)

#endif
