// Shared by the GroupNorm kernels: the affine step with the optional fused SiLU and its
// derivative. The SiLU is the one of the elementwise op (vkd_sigmoid2 from
// eltwise_math.glsl), so GroupNorm + SiLU fused equals the two ops run one after the other.
// The includer declares `layout(push_constant) ... p` and the bool constant SILU first.
#include "nn/eltwise_math.glsl"

float gn_weight(uint c) { return p.weight != 0 ? f32(p.weight).v[c] : 1.0; }
float gn_bias(uint c) { return p.bias != 0 ? f32(p.bias).v[c] : 0.0; }

// out from xhat for channel c.
float gn_out(float xhat, uint c) {
    float y = xhat * gn_weight(c) + gn_bias(c);
    return SILU ? y * vkd_sigmoid(y) : y;
}

// dL/dy (y the affine output, before the SiLU) from dout at xhat for channel c.
float gn_dy(float dout, float xhat, uint c) {
    if (!SILU) return dout;
    float y = xhat * gn_weight(c) + gn_bias(c);
    vec2 s = vkd_sigmoid2(y);
    return dout * s.x * (1.0 + y * s.y);
}
