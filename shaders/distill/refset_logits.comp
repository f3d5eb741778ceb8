#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "distill/refset.h"
// One sample's posterior logits over the reference images: a team (subgroup or workgroup,
// see src/nn/reduce_team.h) per image sums ||z_t - sqrt(abar) x_i||^2 directly (not through
// ||z||^2 - 2 <z, x> + ||x||^2, whose cancellation at small t would swamp the differences the
// softmax needs: the logits scale with 1 / (1 - abar), up to ~600).
layout(constant_id = 0) const uint WG = 256;
layout(constant_id = 1) const bool VKD_TEAM_SG = true;
layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { vkd_refset_logits_push p; };
#include "nn/reduce_team.glsl"

void main() {
    const uint lane = vkd_team_lane(), T = vkd_team_size();
    f32 z = f32(p.z), x = f32(p.images);
    for (uint i = vkd_team_first(); i < p.N; i += vkd_team_stride()) {
        const float lw = f32(p.logw).v[i];
        // Images outside the condition's set: skip the distance (uniform control flow: the
        // whole team sees the same lw).
        if (isinf(lw) && lw < 0.0) {
            if (lane == 0) f32(p.logits).v[i] = lw;
            continue;
        }
        const uint base = i * p.D;
        float acc = 0.0;
        for (uint j = lane; j < p.D; j += T) {
            float d = z.v[j] - p.sqrt_abar * x.v[base + j];
            acc += d * d;
        }
        const float dist = vkd_team_sum(acc);
        if (lane == 0) {
            float l = lw - dist * p.inv_two_var;
            vec4 dir = f32x4(p.dirs).v[i];
            if (p.kappa > 0.0 && dir.w != 0.0) l += p.kappa * (dot(dir.xyz, vec3(p.dir_x, p.dir_y, p.dir_z)) - 1.0);
            f32(p.logits).v[i] = l;
        }
    }
}
