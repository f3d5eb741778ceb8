#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/raster.h"
layout(local_size_x = 64) in;
layout(push_constant) uniform Push { vkd_raster_tri_push p; };
layout(constant_id = 0) const uint PASS = 0;  // 0: nearest depth, 1: lowest id at that depth
#include "field/raster_tri.glsl"

// One invocation per triangle, looping over the pixel centers of its screen bounding box:
// meshes from marching cubes have many small triangles, which this suits; a big triangle is
// one long loop (a viewer's frame has few of those).
void main() {
    uint tri = vkd_global_id();
    if (tri >= p.triangles) return;
    raster_cam k = raster_load_cam(p.cam);
    raster_tri t;
    if (!raster_setup(tri, p.positions, p.indices, k, t)) return;
    vec2 lo = min(t.s0, min(t.s1, t.s2)), hi = max(t.s0, max(t.s1, t.s2));
    // Pixel i's center is i + 0.5; clamp in float before converting (far-off vertices).
    float W = float(p.width), H = float(p.height);
    int x0 = int(clamp(ceil(lo.x - 0.5), 0.0, W)), x1 = int(clamp(floor(hi.x - 0.5), -1.0, W - 1.0));
    int y0 = int(clamp(ceil(lo.y - 0.5), 0.0, H)), y1 = int(clamp(floor(hi.y - 0.5), -1.0, H - 1.0));
    u32 depth = u32(p.depth), ids = u32(p.ids);
    for (int y = y0; y <= y1; y++) {
        for (int x = x0; x <= x1; x++) {
            vec3 e = raster_weights(t, vec2(float(x) + 0.5, float(y) + 0.5));
            if (e.x >= 0.0 && e.y >= 0.0 && e.z >= 0.0) {
                uint bits = floatBitsToUint(raster_depth(t, e));
                uint pix = uint(y) * p.width + uint(x);
                if (PASS == 0) {
                    atomicMin(depth.v[pix], bits);
                } else if (bits == depth.v[pix]) {
                    atomicMin(ids.v[pix], tri);
                }
            }
        }
    }
}
