#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/resize.h"
// Bilinear resize backward: dinp[bc, iy, ix] += sum over the output pixels that read
// (iy, ix) of their tap weight times dout. A gather (one invocation per input pixel,
// dst = dinp: BC x H x W, src = dout: BC x OH x OW) instead of scattered atomics, so
// the result is deterministic. The candidate output rows/columns are a slightly wider
// window than needed; each candidate recomputes the forward's taps exactly and
// contributes only where one of them is (iy, ix).
layout(local_size_x = 64) in;
layout(push_constant) uniform Push { vkd_resize_push p; };
#include "nn/resize_bilinear.glsl"

// Output indices whose taps may include input index i: their source position lies in
// (i - 1, i + 1); widened by 2 on each side against rounding.
uvec2 out_window(uint i, uint in_size, uint out_size) {
    const float inv = float(out_size) / float(in_size);
    const int lo = int(floor((float(i) - 0.5) * inv - 0.5)) - 2;
    const int hi = int(ceil((float(i) + 1.5) * inv - 0.5)) + 2;
    return uvec2(uint(max(lo, 0)), uint(min(hi, int(out_size) - 1)));
}

// Weight of input index i in output index o's taps.
float tap_weight(uint o, uint i, uint in_size, uint out_size) {
    const bilinear_tap t = bilinear_at(o, in_size, out_size);
    return (t.i0 == i ? 1.0 - t.l1 : 0.0) + (t.i1 == i ? t.l1 : 0.0);
}

void main() {
    const uint ix = gl_GlobalInvocationID.x, iy = gl_WorkGroupID.y;
    if (ix >= p.W) return;
    const uvec2 wy = out_window(iy, p.H, p.OH), wx = out_window(ix, p.W, p.OW);
    for (uint bc = gl_WorkGroupID.z; bc < p.BC; bc += gl_NumWorkGroups.z) {
        float s = 0.0;
        for (uint oy = wy.x; oy <= wy.y; oy++) {
            const float a = tap_weight(oy, iy, p.H, p.OH);
            if (a == 0.0) continue;
            const uint row = (bc * p.OH + oy) * p.OW;
            float r = 0.0;
            for (uint ox = wx.x; ox <= wx.y; ox++) {
                const float b = tap_weight(ox, ix, p.W, p.OW);
                if (b != 0.0) r += b * f32(p.src).v[row + ox];
            }
            s += a * r;
        }
        f32(p.dst).v[(bc * p.H + iy) * p.W + ix] += s;
    }
}
