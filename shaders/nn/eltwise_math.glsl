// Accurate float32 math for kernels: exp, erf/erfc, the normal CDF, sigmoid, tanh,
// log1p, softplus and sin/cos with careful range reduction.
//
// Why not the GLSL built-ins: Vulkan only promises exp to 3 + 2|x| ULP, log to an
// absolute 2^-21 near 1, tanh/sin/cos inherited from exp or an absolute 2^-11 on
// [-pi, pi] (nothing outside it), and division to 2.5 ULP; GLSL has no erf, erfc or
// log1p at all. Real drivers use fast approximations that differ between vendors. These
// functions use only +, -, *, ldexp and bit operations (correctly rounded or exact on
// every Vulkan device), so results are close to correctly rounded (about 1-3 ULP) and
// the same everywhere. The polynomial coefficients are Chebyshev fits (mpmath) made for
// this file; the error figures below were measured in simulated float32 arithmetic.
//
// Other kernels may include this file ("nn/eltwise_math.glsl") to fuse activations.
#ifndef VKD_ELTWISE_MATH_GLSL
#define VKD_ELTWISE_MATH_GLSL
#include "nn/eltwise.h"

#define VKD_INF uintBitsToFloat(0x7f800000u)

// exp(x), <= ~0.6 ULP. x = k ln2 + r with ln2 split in two so that k * LN2_HI is exact
// (16-bit LN2_HI, |k| <= 150); r's rounding error is carried separately (two-sum) and
// the 1 + r step is compensated, so the only sizeable error is the final rounding.
float vkd_exp(float x) {
    if (x > 88.7228394) return VKD_INF;
    if (x < -103.972084) return 0.0;  // below half the smallest denormal
    const float LN2_HI = 6.931457520e-01;  // 16 significant bits
    const float LN2_LO = 1.428606765e-06;
    float kf = roundEven(x * 1.442695041);
    precise float rh = x - kf * LN2_HI;  // exact (Sterbenz)
    precise float rl = -kf * LN2_LO;
    precise float r = rh + rl;
    precise float rb = r - rh;
    precise float re = (rh - (r - rb)) + (rl - rb);  // r + re == rh + rl exactly
    // exp(r) - 1 - r = r^2 (1/2 + r/6 + ...): Taylor to r^7, truncation < 5e-9 relative on |r| <= 0.347.
    float q = r * r *
              (0.5 + r * (1.666666716e-01 +
                          r * (4.166666791e-02 +
                               r * (8.333333768e-03 + r * (1.388888923e-03 + r * (1.984127011e-04 + r * 2.480158764e-05))))));
    precise float hi = 1.0 + r;
    precise float lo = (1.0 - hi) + r;  // Fast2Sum: |1| >= |r|
    precise float p = hi + (lo + (q + re * (1.0 + r)));
    // 2^k in two steps above 0 so that exp(88.72...) overflows to +inf by IEEE rules
    // (ldexp itself is undefined on overflow) without flushing results near FLT_MIN.
    int k = int(kf);
    return k > 0 ? ldexp(p, k - 1) * 2.0 : ldexp(p, k);
}

// exp(c * x * x) for c a power of two (e.g. -1, -0.5), without the relative error
// 2 c x^2 ULP that rounding x*x would cause: x = xh + xl with a 12-bit xh makes
// xh*xh exact, and x^2 = xh^2 + xl (x + xh).
float vkd_exp_sq(float x, float c) {
    float xh = uintBitsToFloat(floatBitsToUint(x) & 0xfffff000u);
    float xl = x - xh;
    return vkd_exp(c * xh * xh) * vkd_exp(c * xl * (x + xh));
}

// erf(x) / x - 1 as a polynomial in x^2, for |x| < 0.85 (about 1 ULP in erf).
float vkd_erf_small_(float x) {
    float u = x * x;
    float q = 1.283791661e-01 +
              u * (-3.761263788e-01 +
                   u * (1.128374860e-01 +
                        u * (-2.686257474e-02 + u * (5.209544208e-03 + u * (-8.247284568e-04 + u * 8.849964797e-05)))));
    return x + x * q;
}

// erfcx(z) = exp(z^2) erfc(z) for z >= 0.85 (about 2 ULP); 0 above z = 10, where erfc
// underflows float32 anyway. Two fits: a polynomial in z - 1.425 on [0.85, 2] and
// z * erfcx(z) as a polynomial in 1/z - 0.3 on [2, 10].
float vkd_erfcx_large_(float z) {
    if (z < 2.0) {
        float u = z - 1.425;
        return 3.342998028e-01 +
               u * (-1.756246984e-01 +
                    u * (8.403457701e-02 +
                         u * (-3.725023568e-02 +
                              u * (1.547740400e-02 +
                                   u * (-6.078764331e-03 +
                                        u * (2.264024224e-03 +
                                             u * (-8.095405647e-04 + u * (3.042805183e-04 + u * -1.000825359e-04))))))));
    }
    float t = 1.0 / z;
    float u = t - 0.3;
    float h = 5.416331887e-01 +
              u * (-1.346010864e-01 +
                   u * (-1.355837584e-01 +
                        u * (2.080987245e-01 +
                             u * (-8.157620579e-02 +
                                  u * (-1.608188003e-01 +
                                       u * (3.441739082e-01 + u * (-1.873692274e-01 + u * -2.801976800e-01)))))));
    return h * t;
}

// erfc(z) for z >= 0.85, relative accuracy kept far into the tail.
float vkd_erfc_large_(float z) {
    if (z >= 10.0) return 0.0;
    return vkd_exp_sq(z, -1.0) * vkd_erfcx_large_(z);
}

// erf(x): max abs error ~6e-8 (about 1 ULP).
float vkd_erf(float x) {
    float z = abs(x);
    if (z < 0.85) return vkd_erf_small_(x);
    float r = 1.0 - vkd_erfc_large_(z);
    return x < 0.0 ? -r : r;
}

// erfc(x), relative accuracy for large positive x.
float vkd_erfc(float x) {
    float z = abs(x);
    if (z < 0.85) return 1.0 - vkd_erf_small_(x);
    float c = vkd_erfc_large_(z);
    return x < 0.0 ? 2.0 - c : c;
}

// Standard normal density and distribution function Phi(x) = 0.5 erfc(-x / sqrt 2);
// Phi keeps relative accuracy for negative x (the GELU tail).
float vkd_normal_pdf(float x) { return 3.989422804e-01 * vkd_exp_sq(x, -0.5); }

float vkd_normal_cdf(float x) {
    float z = abs(x) * 7.071067691e-01;
    if (z < 0.85) return 0.5 + 0.5 * vkd_erf_small_(x * 7.071067691e-01);
    // exp(-x^2/2) from x itself: exact scaling, no rounding of z^2.
    float tail = z >= 10.0 ? 0.0 : 0.5 * vkd_exp_sq(x, -0.5) * vkd_erfcx_large_(z);
    return x < 0.0 ? tail : 1.0 - tail;
}

// (sigmoid(x), sigmoid(-x)) = (s, 1 - s), both with relative accuracy (one exp).
vec2 vkd_sigmoid2(float x) {
    float e = vkd_exp(-abs(x));
    float big = 1.0 / (1.0 + e), small = e / (1.0 + e);
    return x >= 0.0 ? vec2(big, small) : vec2(small, big);
}

float vkd_sigmoid(float x) { return vkd_sigmoid2(x).x; }

// tanh: x + x * Q(x^2) below 0.55 (1 ULP), (1 - e) / (1 + e) with e = exp(-2|x|) above.
float vkd_tanh(float x) {
    float z = abs(x);
    if (z < 0.55) {
        float u = x * x;
        float q = -9.451981420e-10 +
                  u * (-3.333331048e-01 +
                       u * (1.333245635e-01 + u * (-5.384232104e-02 + u * (2.103821561e-02 + u * -6.233633496e-03))));
        return x + x * q;
    }
    float e = vkd_exp(-2.0 * z);
    float r = (1.0 - e) / (1.0 + e);
    return x < 0.0 ? -r : r;
}

// 1 - tanh(x)^2 = 4e / (1 + e)^2 with e = exp(-2|x|): no cancellation for large |x|.
float vkd_tanh_deriv(float x) {
    float e = vkd_exp(-2.0 * abs(x));
    float d = 1.0 + e;
    return 4.0 * e / (d * d);
}

// log1p(y) for 0 <= y <= 1: 2 atanh(s), s = y / (2 + y) <= 1/3, atanh(s) = s + s R(s^2).
float vkd_log1p_unit(float y) {
    float s = y / (2.0 + y);
    float u = s * s;
    float r = -9.549699226e-11 +
              u * (3.333334029e-01 + u * (1.999935508e-01 + u * (1.431010365e-01 + u * (1.069928035e-01 + u * 1.219695434e-01))));
    return 2.0 * (s + s * r);
}

// PyTorch's softplus with beta 1 and threshold 20: x above 20, else log(1 + exp(x))
// written as max(x, 0) + log1p(exp(-|x|)) so neither side loses accuracy.
float vkd_softplus(float x) {
    if (x > 20.0) return x;
    return max(x, 0.0) + vkd_log1p_unit(vkd_exp(-abs(x)));
}

// (sin x, cos x), about 1 ULP of 1 for |x| <= 1e5 (k <= 2^16 quarter turns): pi/2 is
// split into 8-bit chunks so every k * chunk is exact and x - k pi/2 loses nothing to
// rounding (the built-ins are only specified on [-pi, pi]). Beyond 1e5 the built-ins.
vec2 vkd_sincos(float x) {
    if (!(abs(x) <= 1.0e5)) return vec2(sin(x), cos(x));
    float k = roundEven(x * 6.366197467e-01);
    float r = x - k * 1.570312500e+00;
    r -= k * 4.825592041e-04;
    r -= k * 1.266598701e-06;
    r -= k * 9.895302355e-10;
    r -= k * 2.557953849e-12;
    r -= k * 5.384581669e-15;
    // Taylor on |r| <= pi/4 (+ rounding): truncation < 2e-9.
    float u = r * r;
    float sn = r + r * u * (-1.666666716e-01 + u * (8.333333768e-03 + u * (-1.984127011e-04 + u * 2.755731884e-06)));
    float cs = 1.0 + u * (-0.5 + u * (4.166666791e-02 + u * (-1.388888923e-03 + u * (2.480158764e-05 + u * -2.755731884e-07))));
    int q = int(k) & 3;
    if (q == 0) return vec2(sn, cs);
    if (q == 1) return vec2(cs, -sn);
    if (q == 2) return vec2(-sn, -cs);
    return vec2(-cs, sn);
}

// a / b correctly rounded (round to nearest even), as IEEE division and PyTorch on CPUs
// give it; GLSL's '/' may be 2.5 ULP off. Exact integer division of the significands.
// Falls back to '/' for zeros, denormals, infinities, NaN and results outside the
// normal range.
float vkd_div_rn(float a, float b) {
    uint ua = floatBitsToUint(a), ub = floatBitsToUint(b);
    int ea = int((ua >> 23) & 0xffu), eb = int((ub >> 23) & 0xffu);
    if (ea == 0 || ea == 255 || eb == 0 || eb == 255) return a / b;
    uint64_t ma = uint64_t((ua & 0x7fffffu) | 0x800000u);
    uint64_t mb = uint64_t((ub & 0x7fffffu) | 0x800000u);
    uint64_t num = ma << 26;
    uint64_t q = num / mb;  // in [2^25, 2^27): ma / mb in (0.5, 2) with 26 fraction bits
    bool sticky = num != q * mb;
    int e = ea - eb + 127;
    int shift = 3;
    if (q < (uint64_t(1) << 26)) {
        shift = 2;
        e -= 1;
    }
    uint64_t keep = q >> shift;
    uint64_t rest = q & ((uint64_t(1) << shift) - 1u);
    uint64_t mid = uint64_t(1) << (shift - 1);
    if (rest > mid || (rest == mid && (sticky || (keep & 1u) != 0u))) keep += 1u;
    if (keep == (uint64_t(1) << 24)) {
        keep >>= 1;
        e += 1;
    }
    if (e <= 0 || e >= 255) return a / b;
    uint bits = ((ua ^ ub) & 0x80000000u) | (uint(e) << 23) | (uint(keep) & 0x7fffffu);
    return uintBitsToFloat(bits);
}

// The unary activations of vkd_unary_op (op codes from nn/eltwise.h), for fusing
// into other kernels: f(x), and f'(x) from the saved input x.
float vkd_unary_fwd(int op, float x, float alpha, float beta) {
    switch (op) {
    case VKD_UNARY_OP_SCALE: return alpha * x + beta;
    case VKD_UNARY_OP_SILU: return x * vkd_sigmoid(x);
    case VKD_UNARY_OP_GELU: return x * vkd_normal_cdf(x);
    case VKD_UNARY_OP_GELU_TANH: {
        // 0.5 x (1 + tanh(u)) = x sigmoid(2u): no cancellation for negative x.
        float u = 7.978845608e-01 * (x + 4.471500218e-02 * x * x * x);
        return x * vkd_sigmoid(2.0 * u);
    }
    case VKD_UNARY_OP_QUICK_GELU: return x * vkd_sigmoid(1.702 * x);
    case VKD_UNARY_OP_SIGMOID: return vkd_sigmoid(x);
    case VKD_UNARY_OP_SOFTPLUS: return vkd_softplus(x);
    case VKD_UNARY_OP_EXP: return vkd_exp(x);
    case VKD_UNARY_OP_RELU: return max(x, 0.0);
    case VKD_UNARY_OP_TANH: return vkd_tanh(x);
    }
    return x;
}

float vkd_unary_deriv(int op, float x, float alpha) {
    switch (op) {
    case VKD_UNARY_OP_SCALE: return alpha;
    case VKD_UNARY_OP_SILU: {
        vec2 s = vkd_sigmoid2(x);
        return s.x * (1.0 + x * s.y);
    }
    case VKD_UNARY_OP_GELU: return vkd_normal_cdf(x) + x * vkd_normal_pdf(x);
    case VKD_UNARY_OP_GELU_TANH: {
        float x2 = x * x;
        float u = 7.978845608e-01 * (x + 4.471500218e-02 * x2 * x);
        float du = 7.978845608e-01 * (1.0 + 3.0 * 4.471500218e-02 * x2);
        vec2 s = vkd_sigmoid2(2.0 * u);
        return s.x + 2.0 * x * s.x * s.y * du;
    }
    case VKD_UNARY_OP_QUICK_GELU: {
        vec2 s = vkd_sigmoid2(1.702 * x);
        return s.x + 1.702 * x * s.x * s.y;
    }
    case VKD_UNARY_OP_SIGMOID: {
        vec2 s = vkd_sigmoid2(x);
        return s.x * s.y;
    }
    case VKD_UNARY_OP_SOFTPLUS: return x > 20.0 ? 1.0 : vkd_sigmoid(x);
    case VKD_UNARY_OP_EXP: return vkd_exp(x);
    case VKD_UNARY_OP_RELU: return x > 0.0 ? 1.0 : 0.0;  // 0 at 0, as PyTorch
    case VKD_UNARY_OP_TANH: return vkd_tanh_deriv(x);
    }
    return 1.0;
}

#endif
