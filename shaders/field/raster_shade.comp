#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/raster.h"
layout(local_size_x = 16, local_size_y = 16) in;
layout(push_constant) uniform Push { vkd_raster_shade_push p; };
#include "field/raster_tri.glsl"

vec3 load3(uint64_t addr, uint i) {
    f32 a = f32(addr);
    return vec3(a.v[3 * i], a.v[3 * i + 1], a.v[3 * i + 2]);
}

// One invocation per pixel: the visible triangle's perspective-correct barycentrics, its
// interpolated normal (flipped toward the camera: meshes are drawn two-sided) and color.
void main() {
    uint x = gl_GlobalInvocationID.x, y = gl_GlobalInvocationID.y;
    if (x >= p.width || y >= p.height) return;
    uint pix = y * p.width + x, plane = p.width * p.height;
    uint tri = u32(p.ids).v[pix];
    vec3 c = vec3(p.bg_r, p.bg_g, p.bg_b);
    float a = 0.0, z = 0.0;
    raster_cam k = raster_load_cam(p.cam);
    raster_tri t;
    if (tri != RASTER_NO_TRIANGLE && raster_setup(tri, p.positions, p.indices, k, t)) {
        vec3 e = max(raster_weights(t, vec2(float(x) + 0.5, float(y) + 0.5)), vec3(0.0));
        vec3 q = e / t.z;
        float qs = q.x + q.y + q.z;
        vec3 b = q / qs;
        z = raster_depth(t, e);
        a = 1.0;
        vec3 wpos = b.x * t.w0 + b.y * t.w1 + b.z * t.w2;
        u32 idx = u32(p.indices);
        uint i0 = idx.v[3 * tri], i1 = idx.v[3 * tri + 1], i2 = idx.v[3 * tri + 2];
        vec3 n;
        if (p.normals != 0) {
            n = b.x * load3(p.normals, i0) + b.y * load3(p.normals, i1) + b.z * load3(p.normals, i2);
        } else {
            n = cross(t.w1 - t.w0, t.w2 - t.w0);
        }
        float nl = length(n);
        n = nl > 0.0 ? n / nl : vec3(0.0, 0.0, 1.0);
        vec3 v = k.pos - wpos;
        float vl = length(v);
        v = vl > 0.0 ? v / vl : vec3(0.0, 0.0, 1.0);
        if (dot(n, v) < 0.0) n = -n;
        vec3 base = vec3(0.7);
        if (p.colors != 0) {
            base = b.x * load3(p.colors, i0) + b.y * load3(p.colors, i1) + b.z * load3(p.colors, i2);
        } else if (p.face_colors != 0) {
            base = load3(p.face_colors, tri);
        }
        // Headlight: ambient 0.25 + diffuse from the eye.
        vec3 lit = base * (0.25 + 0.75 * max(dot(n, v), 0.0));
        if (p.shade == RASTER_SHADE_NORMALS) {
            c = 0.5 * n + 0.5;
        } else if (p.shade == RASTER_SHADE_WIREFRAME) {
            // Distance in pixels to the nearest edge: an edge function over the edge's length.
            vec3 len = vec3(length(t.s2 - t.s1), length(t.s0 - t.s2), length(t.s1 - t.s0));
            vec3 d = e / max(len, vec3(1e-20));
            float dmin = min(d.x, min(d.y, d.z));
            c = dmin < 1.0 ? mix(lit, vec3(0.02), 0.85) : lit;
        } else {
            c = lit;
        }
    }
    if (p.rgb != 0) {
        f32 o = f32(p.rgb);
        o.v[pix] = c.x;
        o.v[plane + pix] = c.y;
        o.v[2 * plane + pix] = c.z;
    }
    if (p.alpha != 0) f32(p.alpha).v[pix] = a;
    if (p.depth != 0) f32(p.depth).v[pix] = z * a;
}
