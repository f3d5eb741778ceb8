#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "prior/vae_posterior.h"
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_vae_posterior_push p; };

// moments' gradient += that of mean / logvar / std / z. The clamp passes the gradient
// where -30 <= raw <= 20 (inclusive, as torch.clamp's backward).
void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    uint b = i / (p.L * p.HW), r = i - b * p.L * p.HW;
    uint src = b * 2u * p.L * p.HW + r, lsrc = src + p.L * p.HW;
    float raw = f32(p.moments).v[lsrc];
    float sd = exp(0.5 * clamp(raw, -30.0, 20.0));
    float dm = 0.0, dsd = 0.0, dlv = 0.0;
    if (p.dmean != 0) dm += f32(p.dmean).v[i];
    if (p.dz != 0) {
        float g = f32(p.dz).v[i];
        dm += g;
        dsd += g * f32(p.noise).v[i];
    }
    if (p.dstd != 0) dsd += f32(p.dstd).v[i];
    if (p.dlogvar != 0) dlv += f32(p.dlogvar).v[i];
    dlv += 0.5 * sd * dsd;
    if (!(raw >= -30.0 && raw <= 20.0)) dlv = 0.0;
    f32(p.dmoments).v[src] += dm;
    f32(p.dmoments).v[lsrc] += dlv;
}
