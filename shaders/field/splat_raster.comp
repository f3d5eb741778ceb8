#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/splat.h"
// Pixels per invocation (spec constant 0, dividing SPLAT_TILE): each invocation owns PPT rows
// of its tile column. 1 suits GPUs; CPUs (llvmpipe) prefer fewer invocations doing more.
layout(constant_id = 0) const uint PPT = 1;
layout(local_size_x = SPLAT_TILE, local_size_y_id = 1) in;
// Spec constant 2: also composite the normals image (off: the plain renderer, nothing extra).
layout(constant_id = 2) const bool NORMALS = false;
layout(push_constant) uniform Push { vkd_splat_raster_push p; };

// One workgroup per (tile, view). The tile's depth-sorted Gaussians are staged through shared
// memory SPLAT_TILE_PIXELS at a time; each pixel composites front to back and the workgroup
// stops once every pixel is saturated.
shared vec4 s_uvab[SPLAT_TILE_PIXELS];   // u, v, conic a, b
shared vec4 s_coz[SPLAT_TILE_PIXELS];    // conic c, opacity, z
shared vec4 s_rgb[SPLAT_TILE_PIXELS];
// With NORMALS a Gaussian's normal rides in the w lanes the compositing does not read (the
// tile rectangle bits): x in s_coz.w, y in s_rgb.w, z here. A separate vec4 array would take
// the workgroup past the 16 KiB of shared memory every Vulkan device has.
shared float s_nz[SPLAT_TILE_PIXELS];
shared uint s_done;

void main() {
    uint view = gl_WorkGroupID.z;
    uint tile = view * p.tiles_per_view + gl_WorkGroupID.y * p.tiles_x + gl_WorkGroupID.x;
    uint threads = gl_WorkGroupSize.x * gl_WorkGroupSize.y;
    uint tid = gl_LocalInvocationIndex;
    uint px = gl_WorkGroupID.x * SPLAT_TILE + gl_LocalInvocationID.x;
    uint py0 = gl_WorkGroupID.y * SPLAT_TILE + gl_LocalInvocationID.y * PPT;
    uint start = u32(p.ranges).v[2 * tile], end = u32(p.ranges).v[2 * tile + 1];
    if (tid == 0) s_done = 0;
    float T[PPT], D[PPT];
    vec3 C[PPT], N[PPT];
    uint last[PPT];
    bool done[PPT];
    uint ndone = 0;
    for (uint r = 0; r < PPT; r++) {
        T[r] = 1.0, D[r] = 0.0, C[r] = vec3(0.0), N[r] = vec3(0.0), last[r] = 0;
        done[r] = px >= p.width || py0 + r >= p.height;
        ndone += done[r] ? 1 : 0;
    }
    uint counted = 0;
    f32x4 proj = f32x4(p.proj);
    u32 values = u32(p.values);
    for (uint base = start; base < end; base += SPLAT_TILE_PIXELS) {
        barrier();  // the previous batch is consumed and every s_done increment is visible
        if (s_done == SPLAT_TILE_PIXELS) break;
        for (uint k = tid; k < SPLAT_TILE_PIXELS && base + k < end; k += threads) {
            uint e = view * p.n + values.v[base + k];
            s_uvab[k] = proj.v[3 * e];
            s_coz[k] = proj.v[3 * e + 1];
            s_rgb[k] = proj.v[3 * e + 2];
            if (NORMALS) {
                vec4 nrm = f32x4(p.normals).v[e];
                s_coz[k].w = nrm.x;
                s_rgb[k].w = nrm.y;
                s_nz[k] = nrm.z;
            }
        }
        barrier();
        uint count = min(uint(SPLAT_TILE_PIXELS), end - base);
        for (uint j = 0; ndone < PPT && j < count; j++) {
            vec4 uvab = s_uvab[j], coz = s_coz[j];
            vec3 rgb = s_rgb[j].rgb;
            vec3 nrm = NORMALS ? vec3(coz.w, s_rgb[j].w, s_nz[j]) : vec3(0.0);
            for (uint r = 0; r < PPT; r++) {
                if (done[r]) continue;
                vec2 d = uvab.xy - vec2(px + 0.5, py0 + r + 0.5);
                float power = -0.5 * (uvab.z * d.x * d.x + coz.x * d.y * d.y) - uvab.w * d.x * d.y;
                if (power > 0.0) continue;
                float alpha = min(0.99, coz.y * exp(power));
                if (alpha < 1.0 / 255.0) continue;
                float next_t = T[r] * (1.0 - alpha);
                if (next_t < 1e-4) {
                    done[r] = true;
                    ndone++;
                    continue;
                }
                float w = alpha * T[r];
                C[r] += rgb * w;
                D[r] += coz.z * w;
                if (NORMALS) N[r] += nrm * w;
                T[r] = next_t;
                last[r] = base + j + 1;
            }
        }
        if (ndone > counted) {
            atomicAdd(s_done, ndone - counted);
            counted = ndone;
        }
    }
    uint hw = p.width * p.height;
    for (uint r = 0; r < PPT; r++) {
        uint py = py0 + r;
        if (px >= p.width || py >= p.height) continue;
        uint pixel = py * p.width + px;
        if (p.rgb != 0) {
            f32 o = f32(p.rgb);
            o.v[(3 * view + 0) * hw + pixel] = C[r].r + T[r] * p.bg_r;
            o.v[(3 * view + 1) * hw + pixel] = C[r].g + T[r] * p.bg_g;
            o.v[(3 * view + 2) * hw + pixel] = C[r].b + T[r] * p.bg_b;
        }
        if (p.alpha != 0) f32(p.alpha).v[view * hw + pixel] = 1.0 - T[r];
        if (p.depth != 0) f32(p.depth).v[view * hw + pixel] = D[r];
        if (NORMALS) {
            f32 o = f32(p.normal);
            o.v[(3 * view + 0) * hw + pixel] = N[r].x;
            o.v[(3 * view + 1) * hw + pixel] = N[r].y;
            o.v[(3 * view + 2) * hw + pixel] = N[r].z;
        }
        f32(p.final_t).v[view * hw + pixel] = T[r];
        u32(p.last).v[view * hw + pixel] = last[r];
    }
}
