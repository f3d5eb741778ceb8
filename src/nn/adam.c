#include "vkdream/nn/adam.h"
#include "nn/adam.h"
#include "vkd_shaders.h"

#include <math.h>

static_assert(VKD_GRAD_NORM_SCRATCH == VKD_GRAD_NORM_GROUPS, "scratch holds one partial sum per group");

void vkd_adam_step(vkd_stream* s, vkd_addr param, vkd_addr m, vkd_addr v, vkd_addr grad, vkd_addr grad_norm,
                   uint32_t n, uint32_t step, const vkd_adam_desc* desc) {
    vkd_adam_desc d = desc ? *desc : (vkd_adam_desc){0};
    double lr = d.lr != 0 ? d.lr : 1e-3;
    double beta1 = d.beta1 != 0 ? d.beta1 : 0.9, beta2 = d.beta2 != 0 ? d.beta2 : 0.999;
    if (step == 0) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "adam_step: step is 0; steps count from 1 (bias correction 1 - beta^t)");
        return;
    }
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(lr >= 0) || !(d.eps >= 0) ||
        !(d.weight_decay >= 0)) {
        vkd_stream_fail(s, VKD_ERR_INVALID,
                        "adam_step: need 0 <= beta1, beta2 < 1 and lr, eps, weight_decay >= 0 (got lr %g, betas %g %g, "
                        "eps %g, weight_decay %g)",
                        lr, beta1, beta2, (double)d.eps, (double)d.weight_decay);
        return;
    }
    if (d.max_norm > 0 && !grad_norm) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "adam_step: max_norm %g needs the grad_norm address (vkd_grad_norm)",
                        (double)d.max_norm);
        return;
    }
    if (n == 0) return;
    vkd_adam_push p = {
        .param = param,
        .grad = grad,
        .m = m,
        .v = v,
        .grad_norm = grad_norm,
        .n = n,
        .beta1 = (float)beta1,
        .one_minus_beta1 = (float)(1.0 - beta1),
        .beta2 = (float)beta2,
        .one_minus_beta2 = (float)(1.0 - beta2),
        .eps = d.eps != 0 ? d.eps : 1e-8f,
        .l2 = d.decoupled ? 0.0f : d.weight_decay,
        .decay = d.decoupled ? (float)(1.0 - lr * d.weight_decay) : 1.0f,
        .step_size = (float)(lr / (1.0 - pow(beta1, step))),
        .bc2_sqrt = (float)sqrt(1.0 - pow(beta2, step)),
        .grad_scale = d.grad_scale != 0 ? d.grad_scale : 1.0f,
        .clip_value = d.clip_value,
        .max_norm = d.max_norm,
    };
    vkd_stream_dispatch_1d(s, VKD_KERNEL(nn_adam_step), &p, sizeof p, n, 256);
}

void vkd_grad_norm(vkd_stream* s, vkd_addr out, vkd_addr scratch, vkd_addr grad, uint32_t n) {
    uint32_t groups = (uint32_t)(((uint64_t)n + 255) / 256);
    if (groups > VKD_GRAD_NORM_GROUPS) groups = VKD_GRAD_NORM_GROUPS;
    if (groups == 0) groups = 1;  // n = 0: one group writes a zero partial
    vkd_grad_norm_push p1 = {.dst = scratch, .src = grad, .n = n};
    vkd_stream_dispatch(s, VKD_KERNEL(nn_adam_norm_partial), &p1, sizeof p1, groups, 1, 1);
    vkd_grad_norm_push p2 = {.dst = out, .src = scratch, .n = groups};
    vkd_stream_dispatch(s, VKD_KERNEL(nn_adam_norm_final), &p2, sizeof p2, 1, 1, 1);
}
