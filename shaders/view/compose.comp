#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "view/view.h"
layout(local_size_x = 16, local_size_y = 16) in;
layout(push_constant) uniform Push { vkd_view_compose_push p; };
// The mode and the flags are specialization constants: a pipeline per combination compiles
// only its own path (on CPUs, llvmpipe runs both sides of data-dependent branches).
layout(constant_id = 0) const uint MODE = 0;
layout(constant_id = 1) const uint FLAGS = 0;

uint pu(uint i) { return u32(p.params).v[i]; }
float pf(uint i) { return f32(p.params).v[i]; }

// Depth colormap, near = warm and bright, far = dark blue: piecewise linear through 5 stops.
vec3 depth_color(float t) {
    const vec3 stops[5] = vec3[5](vec3(1.0, 0.95, 0.55), vec3(0.98, 0.6, 0.15), vec3(0.85, 0.2, 0.35),
                                  vec3(0.4, 0.1, 0.55), vec3(0.08, 0.05, 0.3));
    float x = clamp(t, 0.0, 1.0) * 4.0;
    int k = min(int(x), 3);
    return mix(stops[k], stops[k + 1], x - float(k));
}

// Camera-space point of render pixel (ix, iy) from its expected depth; false where not opaque enough.
bool unproject(int ix, int iy, uint rw, uint rh, out vec3 q) {
    if (ix < 0 || iy < 0 || ix >= int(rw) || iy >= int(rh)) return false;
    uint i = uint(iy) * rw + uint(ix);
    float a = f32(p.alpha).v[i];
    if (a < 0.5) return false;
    float d = f32(p.depth).v[i] / a;
    q = vec3((float(ix) + 0.5 - pf(VIEW_P_FX_F + 2)) / pf(VIEW_P_FX_F) * d,
             (float(iy) + 0.5 - pf(VIEW_P_FX_F + 3)) / pf(VIEW_P_FX_F + 1) * d, d);
    return true;
}

// World-space normal from the depth image (central differences, one-sided at silhouettes).
vec3 depth_normal(int ix, int iy, uint rw, uint rh, out bool ok) {
    vec3 c, l, r, u, d;
    ok = unproject(ix, iy, rw, rh, c);
    if (!ok) return vec3(0.0);
    bool hl = unproject(ix - 1, iy, rw, rh, l), hr = unproject(ix + 1, iy, rw, rh, r);
    bool hu = unproject(ix, iy - 1, rw, rh, u), hd = unproject(ix, iy + 1, rw, rh, d);
    vec3 dx = hr && hl ? r - l : hr ? r - c : hl ? c - l : vec3(0.0);
    vec3 dy = hd && hu ? d - u : hd ? d - c : hu ? c - u : vec3(0.0);
    vec3 n = cross(dx, dy);
    float len = length(n);
    ok = len > 0.0;
    if (!ok) return vec3(0.0);
    n /= len;
    if (dot(n, c) > 0.0) n = -n;  // face the camera
    // camera -> world: the transpose of the world -> camera rotation
    uint R = VIEW_P_ROT_F;
    return vec3(pf(R) * n.x + pf(R + 3) * n.y + pf(R + 6) * n.z,
                pf(R + 1) * n.x + pf(R + 4) * n.y + pf(R + 7) * n.z,
                pf(R + 2) * n.x + pf(R + 5) * n.y + pf(R + 8) * n.z);
}

void main() {
    uint W = p.width, H = p.height;
    uint x = gl_GlobalInvocationID.x, y = gl_GlobalInvocationID.y;
    if (x >= W || y >= H) return;
    uint rw = p.rwidth, rh = p.rheight;
    const uint mode = MODE, flags = FLAGS;
    // Nearest render pixel (the render may be smaller than the display).
    uint rx = min(uint((float(x) + 0.5) * float(rw) / float(W)), rw - 1u);
    uint ry = min(uint((float(y) + 0.5) * float(rh) / float(H)), rh - 1u);
    uint i = ry * rw + rx, plane = rw * rh;
    vec3 bg = vec3(p.bg_r, p.bg_g, p.bg_b);
    float a = f32(p.alpha).v[i];
    vec3 c = vec3(f32(p.rgb).v[i], f32(p.rgb).v[plane + i], f32(p.rgb).v[2u * plane + i]);
    if (mode == VIEW_MODE_NORMALS && (flags & VIEW_FLAG_NORMALS_FROM_DEPTH) != 0u) {
        bool ok;
        vec3 n = depth_normal(int(rx), int(ry), rw, rh, ok);
        c = ok ? mix(bg, 0.5 * n + 0.5, a) : mix(bg, vec3(0.5), a);
    } else if (mode == VIEW_MODE_DEPTH) {
        float near = pf(VIEW_P_NEAR_F), far = pf(VIEW_P_FAR_F);
        float d = a > 1e-4 ? f32(p.depth).v[i] / a : far;
        c = mix(bg, depth_color((d - near) / max(far - near, 1e-6)), a);
    } else if (mode == VIEW_MODE_OPACITY) {
        c = mix(bg, vec3(1.0), a);  // white where opaque, the background where empty
    }
    if ((flags & VIEW_FLAG_CORNER) != 0u) {
        int cx0 = int(pu(VIEW_P_CORNER_X)), cy0 = int(pu(VIEW_P_CORNER_Y));
        int cdw = int(pu(VIEW_P_CORNER_DW)), cdh = int(pu(VIEW_P_CORNER_DH));
        int lx = int(x) - cx0, ly = int(y) - cy0;
        if (lx >= -1 && ly >= -1 && lx <= cdw && ly <= cdh) {
            if (lx < 0 || ly < 0 || lx == cdw || ly == cdh) {
                c = vec3(0.85);  // 1-pixel frame
            } else {
                uint cw = pu(VIEW_P_CORNER_W), chh = pu(VIEW_P_CORNER_H);
                uint sx = min(uint((float(lx) + 0.5) * float(cw) / float(cdw)), cw - 1u);
                uint sy = min(uint((float(ly) + 0.5) * float(chh) / float(cdh)), chh - 1u);
                uint j = sy * cw + sx, cp = cw * chh;
                f32 ci = f32(p.corner);
                c = vec3(ci.v[j], ci.v[cp + j], ci.v[2u * cp + j]);
            }
        }
    }
    uvec3 b = uvec3(clamp(c, 0.0, 1.0) * 255.0 + 0.5);
    uint packed = (flags & VIEW_FLAG_BGRA) != 0u ? (b.z | (b.y << 8) | (b.x << 16) | (255u << 24))
                                                 : (b.x | (b.y << 8) | (b.z << 16) | (255u << 24));
    u32(p.dst).v[y * W + x] = packed;
}
