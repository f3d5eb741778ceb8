#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/splat.h"
layout(local_size_x = 128) in;
layout(push_constant) uniform Push { vkd_splat_project_push p; };
#include "field/splat_math.glsl"

// One invocation per (view, Gaussian): EWA projection, tile rectangle, SH color, opacity, the
// pixel radius (for the screen-space size statistics) and, for the normals image, the normal.
void main() {
    uint e = vkd_global_id();
    if (e >= p.n * p.views) return;
    uint view = e / p.n, i = e - view * p.n;
    splat_cam cam = splat_load_cam(p.cams, view);
    f32 m = f32(p.means), ls = f32(p.log_scales), qs = f32(p.quats);
    vec3 mu = vec3(m.v[3 * i], m.v[3 * i + 1], m.v[3 * i + 2]);
    vec3 log_s = vec3(ls.v[3 * i], ls.v[3 * i + 1], ls.v[3 * i + 2]);
    vec4 q = vec4(qs.v[4 * i], qs.v[4 * i + 1], qs.v[4 * i + 2], qs.v[4 * i + 3]);
    float width = float(p.width), height = float(p.height);
    uint count = 0;
    float radius_out = 0.0;
    splat_geom g;
    if (splat_geometry(mu, log_s, q, cam, width, height, g)) {
        float det = g.cov.x * g.cov.z - g.cov.y * g.cov.y;
        float bm = 0.5 * (g.cov.x + g.cov.z);
        float lambda = bm + sqrt(max(0.1, bm * bm - det));
        float radius = ceil(3.0 * sqrt(lambda));
        float u = cam.fx * g.pc.x / g.pc.z + cam.cx, v = cam.fy * g.pc.y / g.pc.z + cam.cy;
        const float tile = float(SPLAT_TILE);
        // Clamp in float first: far-off Gaussians must not overflow the integer conversion.
        uint x0 = uint(clamp(floor((u - radius) / tile), 0.0, float(p.tiles_x)));
        uint x1 = uint(clamp(ceil((u + radius) / tile), 0.0, float(p.tiles_x)));
        uint y0 = uint(clamp(floor((v - radius) / tile), 0.0, float(p.tiles_y)));
        uint y1 = uint(clamp(ceil((v + radius) / tile), 0.0, float(p.tiles_y)));
        if (radius > 0.0 && x1 > x0 && y1 > y0) {
            count = (x1 - x0) * (y1 - y0);
            radius_out = radius;
            if (p.normals != 0) {
                uint axis;
                float sgn;
                vec3 nrm = splat_normal(g, log_s, mu, cam.pos, axis, sgn);
                f32x4(p.normals).v[e] = vec4(nrm, 0.0);
            }
            vec3 d = mu - cam.pos;
            float dl = length(d);
            vec3 dir = dl > 0.0 ? d / dl : vec3(0.0);
            float b[16];
            splat_sh_basis(int(p.sh_degree), dir, b);
            f32 sh = f32(p.sh);
            uint base = i * p.sh_stride * 3;
            uint nb = (p.sh_degree + 1) * (p.sh_degree + 1);
            vec3 col = vec3(0.0);
            for (uint k = 0; k < nb; k++)
                col += b[k] * vec3(sh.v[base + 3 * k], sh.v[base + 3 * k + 1], sh.v[base + 3 * k + 2]);
            col = max(col + 0.5, vec3(0.0));
            float opac = 1.0 / (1.0 + exp(-f32(p.opacity_logits).v[i]));
            vec3 conic = vec3(g.cov.z, -g.cov.y, g.cov.x) / det;
            f32x4 o = f32x4(p.proj);
            o.v[3 * e + 0] = vec4(u, v, conic.x, conic.y);
            o.v[3 * e + 1] = vec4(conic.z, opac, g.pc.z, uintBitsToFloat(x0 | (y0 << 16)));
            o.v[3 * e + 2] = vec4(col, uintBitsToFloat(x1 | (y1 << 16)));
        }
    }
    u32(p.counts).v[e] = count;
    f32(p.radii).v[e] = radius_out;
}
