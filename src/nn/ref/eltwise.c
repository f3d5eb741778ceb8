#include "vkdream/nn/eltwise.h"

#include <math.h>

static double sigmoid(double x) {
    // exp of a non-positive argument only: no overflow, relative accuracy on both sides.
    double e = exp(-fabs(x));
    return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

static double normal_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
static double normal_pdf(double x) { return exp(-0.5 * x * x) / sqrt(2.0 * 3.14159265358979323846); }

static const double GELU_TANH_K = 0.7978845608028654;  // sqrt(2 / pi)
static const double GELU_TANH_C = 0.044715;

double vkd_ref_unary(vkd_unary_op op, double x) {
    switch (op) {
    case VKD_UNARY_SCALE: return x;
    case VKD_UNARY_SILU: return x * sigmoid(x);
    case VKD_UNARY_GELU: return x * normal_cdf(x);
    case VKD_UNARY_GELU_TANH:  // 0.5 x (1 + tanh(u)) = x sigmoid(2u): 1 + tanh(u) cancels for x << 0
        return x * sigmoid(2.0 * GELU_TANH_K * (x + GELU_TANH_C * x * x * x));
    case VKD_UNARY_QUICK_GELU: return x * sigmoid(1.702 * x);
    case VKD_UNARY_SIGMOID: return sigmoid(x);
    case VKD_UNARY_SOFTPLUS: return x > 20.0 ? x : (x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)));
    case VKD_UNARY_EXP: return exp(x);
    case VKD_UNARY_RELU: return x > 0 ? x : 0.0;
    case VKD_UNARY_TANH: return tanh(x);
    default: return NAN;
    }
}

double vkd_ref_unary_deriv(vkd_unary_op op, double x) {
    switch (op) {
    case VKD_UNARY_SCALE: return 1.0;
    case VKD_UNARY_SILU: {
        double s = sigmoid(x);
        return s * (1.0 + x * sigmoid(-x));
    }
    case VKD_UNARY_GELU: return normal_cdf(x) + x * normal_pdf(x);
    case VKD_UNARY_GELU_TANH: {
        // 0.5 (1 + tanh u) = s and 0.5 (1 - tanh^2 u) = 2 s (1 - s), s = sigmoid(2u).
        double u = GELU_TANH_K * (x + GELU_TANH_C * x * x * x);
        double du = GELU_TANH_K * (1.0 + 3.0 * GELU_TANH_C * x * x);
        double s = sigmoid(2.0 * u), sn = sigmoid(-2.0 * u);
        return s + 2.0 * x * s * sn * du;
    }
    case VKD_UNARY_QUICK_GELU: {
        double s = sigmoid(1.702 * x);
        return s + 1.702 * x * s * sigmoid(-1.702 * x);
    }
    case VKD_UNARY_SIGMOID: {
        double s = sigmoid(x);
        return s * sigmoid(-x);
    }
    case VKD_UNARY_SOFTPLUS: return x > 20.0 ? 1.0 : sigmoid(x);
    case VKD_UNARY_EXP: return exp(x);
    case VKD_UNARY_RELU: return x > 0 ? 1.0 : 0.0;
    case VKD_UNARY_TANH: {
        double c = 1.0 / cosh(x);  // 1 - tanh^2 without cancellation for large |x|
        return c * c;
    }
    default: return NAN;
    }
}

void vkd_ref_unary_forward(double* out, const double* inp, uint64_t n, vkd_unary_op op) {
    for (uint64_t i = 0; i < n; i++) out[i] = vkd_ref_unary(op, inp[i]);
}

void vkd_ref_unary_backward(double* dinp, const double* dout, const double* inp, uint64_t n, vkd_unary_op op) {
    for (uint64_t i = 0; i < n; i++) dinp[i] += dout[i] * vkd_ref_unary_deriv(op, inp[i]);
}

void vkd_ref_scale_forward(double* out, const double* inp, uint64_t n, double alpha, double beta) {
    for (uint64_t i = 0; i < n; i++) out[i] = alpha * inp[i] + beta;
}

void vkd_ref_scale_backward(double* dinp, const double* dout, uint64_t n, double alpha) {
    for (uint64_t i = 0; i < n; i++) dinp[i] += alpha * dout[i];
}

void vkd_ref_binary_forward(double* out, const double* a, const double* b, uint64_t n, vkd_binary_op op) {
    for (uint64_t i = 0; i < n; i++)
        out[i] = op == VKD_BINARY_ADD ? a[i] + b[i] : op == VKD_BINARY_SUB ? a[i] - b[i] : a[i] * b[i];
}

void vkd_ref_binary_backward(double* da, double* db, const double* dout, const double* a, const double* b, uint64_t n,
                             vkd_binary_op op) {
    for (uint64_t i = 0; i < n; i++) {
        if (da) da[i] += op == VKD_BINARY_MUL ? dout[i] * b[i] : dout[i];
        if (db) db[i] += op == VKD_BINARY_MUL ? dout[i] * a[i] : op == VKD_BINARY_SUB ? -dout[i] : dout[i];
    }
}

void vkd_ref_geglu_forward(double* out, const double* inp, uint64_t rows, uint64_t f) {
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t j = 0; j < f; j++) {
            double value = inp[r * 2 * f + j], gate = inp[r * 2 * f + f + j];
            out[r * f + j] = value * gate * normal_cdf(gate);
        }
}

void vkd_ref_geglu_backward(double* dinp, const double* dout, const double* inp, uint64_t rows, uint64_t f) {
    for (uint64_t r = 0; r < rows; r++)
        for (uint64_t j = 0; j < f; j++) {
            double value = inp[r * 2 * f + j], gate = inp[r * 2 * f + f + j], g = dout[r * f + j];
            dinp[r * 2 * f + j] += g * gate * normal_cdf(gate);
            dinp[r * 2 * f + f + j] += g * value * (normal_cdf(gate) + gate * normal_pdf(gate));
        }
}
