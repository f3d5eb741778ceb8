#include "vkdream/nn/adam.h"

#include <math.h>

// torch.optim.Adam / AdamW (_single_tensor_adam(w), torch 1.13), preceded by the
// gradient scaling and clipping described in vkd_adam_desc.
void vkd_ref_adam_step(double* param, double* m, double* v, const double* grad, const double* grad_norm, uint64_t n,
                       uint32_t step, const vkd_adam_desc* desc) {
    vkd_adam_desc d = desc ? *desc : (vkd_adam_desc){0};
    double lr = d.lr != 0 ? d.lr : 1e-3;
    double beta1 = d.beta1 != 0 ? d.beta1 : 0.9, beta2 = d.beta2 != 0 ? d.beta2 : 0.999;
    double eps = d.eps != 0 ? d.eps : 1e-8, wd = d.weight_decay;
    double scale = d.grad_scale != 0 ? d.grad_scale : 1.0;
    double coef = 1.0;
    if (d.max_norm > 0 && grad_norm) {
        coef = d.max_norm / (fabs(scale) * grad_norm[0] + 1e-6);
        if (coef > 1.0) coef = 1.0;
    }
    double bias_correction1 = 1.0 - pow(beta1, step);
    double bias_correction2 = 1.0 - pow(beta2, step);
    double step_size = lr / bias_correction1;
    double bc2_sqrt = sqrt(bias_correction2);
    for (uint64_t i = 0; i < n; i++) {
        double g = grad[i] * scale * coef;
        if (d.clip_value > 0) g = g < -d.clip_value ? -d.clip_value : g > d.clip_value ? d.clip_value : g;
        if (d.decoupled) param[i] *= 1.0 - lr * wd;
        else g += wd * param[i];
        m[i] = beta1 * m[i] + (1.0 - beta1) * g;
        v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
        double denom = sqrt(v[i]) / bc2_sqrt + eps;
        param[i] -= step_size * m[i] / denom;
    }
}

void vkd_ref_grad_norm(double* out, const double* grad, uint64_t n) {
    double s = 0;
    for (uint64_t i = 0; i < n; i++) s += grad[i] * grad[i];
    out[0] = sqrt(s);
}
