#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/splat.h"
layout(local_size_x = 128) in;
layout(push_constant) uniform Push { vkd_splat_stats_push p; };

// Densification statistics per Gaussian over the views where it was visible: the norm of the
// 2D mean's gradient in NDC units (as 3DGS's threshold expects), the number of such views,
// and the largest pixel radius (3DGS's max_radii2D, for the screen-space size prune).
void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    u32 counts = u32(p.counts);
    f32 g2 = f32(p.grad2d), radii = f32(p.radii);
    vec2 ndc = 0.5 * vec2(float(p.width), float(p.height));
    float norm = 0.0, seen = 0.0, rmax = 0.0;
    for (uint view = 0; view < p.views; view++) {
        uint e = view * p.n + i;
        if (counts.v[e] == 0) continue;
        uint o = e * p.g_floats;
        norm += length(vec2(g2.v[o + SPLAT_G_U], g2.v[o + SPLAT_G_V]) * ndc);
        seen += 1.0;
        rmax = max(rmax, radii.v[e]);
    }
    if (p.grad2d_norm != 0) f32(p.grad2d_norm).v[i] += norm;
    if (p.vis_count != 0) f32(p.vis_count).v[i] += seen;
    if (p.max_radius != 0 && seen > 0.0) {
        f32 m = f32(p.max_radius);
        m.v[i] = max(m.v[i], rmax);
    }
}
