#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "view/view.h"
layout(local_size_x = 16, local_size_y = 16) in;
layout(push_constant) uniform Push { vkd_view_text_push p; };

bool glyph_ink(uint ch, int gx, int gy) {
    if (ch < 32u || ch > 126u || gx < 0 || gy < 0 || gx >= 5 || gy >= 7) return false;
    uint w = u32(p.font).v[2u * (ch - 32u) + uint(gy) / 4u];
    uint row = (w >> (8u * (uint(gy) % 4u))) & 0xFFu;
    return ((row >> uint(gx)) & 1u) != 0u;
}

// Ink of the text grid at display pixel (x, y) (text-scale pixels are s x s blocks). Cells
// are found with float math: integer division is not vectorised on CPUs (llvmpipe), and the
// values are small enough for floor((t + 0.5) / size) to be exact.
bool text_ink(int x, int y, int s) {
    int tx = x - VIEW_TEXT_MARGIN, ty = y - VIEW_TEXT_MARGIN;
    if (tx < 0 || ty < 0) return false;
    int cw = VIEW_CELL_W * s, chh = VIEW_CELL_H * s;
    int col = int(floor((float(tx) + 0.5) / float(cw))), row = int(floor((float(ty) + 0.5) / float(chh)));
    if (col >= int(p.cols) || row >= int(p.rows)) return false;
    uint cell = uint(row) * p.cols + uint(col);
    uint ch = (u32(p.text).v[cell >> 2] >> (8u * (cell & 3u))) & 0xFFu;
    int gx = tx - col * cw, gy = ty - row * chh;
    if (s > 1) gx = int(floor((float(gx) + 0.5) / float(s))), gy = int(floor((float(gy) + 0.5) / float(s)));
    return glyph_ink(ch, gx, gy);
}

// White glyphs with a dark drop shadow, legible on light and dark backgrounds.
void main() {
    uint x = p.x0 + gl_GlobalInvocationID.x, y = p.y0 + gl_GlobalInvocationID.y;
    if (gl_GlobalInvocationID.x >= p.w || gl_GlobalInvocationID.y >= p.h || x >= p.width || y >= p.height) return;
    int s = int(max(p.scale, 1u));
    bool ink = text_ink(int(x), int(y), s);
    bool shadow = !ink && text_ink(int(x) - s, int(y) - s, s);
    if (!ink && !shadow) return;
    uint i = y * p.width + x;
    uint v = u32(p.dst).v[i];
    if (ink) {
        v = 0xFFF5F5F5u;  // 0.96 gray, opaque (the same bytes in either order)
    } else {
        // 20% of each color byte, alpha kept.
        uvec3 c = uvec3(v & 0xFFu, (v >> 8) & 0xFFu, (v >> 16) & 0xFFu) / 5u;
        v = c.x | (c.y << 8) | (c.z << 16) | (v & 0xFF000000u);
    }
    u32(p.dst).v[i] = v;
}
