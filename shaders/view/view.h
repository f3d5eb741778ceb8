// Viewer kernels (src/app/view_render.c): push constants and the layout of the per-frame
// parameter block, shared by C and GLSL (shaders/view/*.comp).
#include "common.h"

// Render modes, keys 1..5 in the viewer.
#define VIEW_MODE_RGB 0
#define VIEW_MODE_NORMALS 1
#define VIEW_MODE_DEPTH 2
#define VIEW_MODE_OPACITY 3
#define VIEW_MODE_CENTERS 4    // Gaussians: small opaque dots at the means; meshes: wireframe
#define VIEW_MODE_COUNT 5

// Flags (compose's specialization constant 1).
#define VIEW_FLAG_BGRA 1u              // pack B, G, R, A (the swapchain's byte order)
#define VIEW_FLAG_NORMALS_FROM_DEPTH 2u // NORMALS: derive normals from the depth image (Gaussians)
#define VIEW_FLAG_CORNER 4u            // draw the corner image

// Text grid: glyph cells of VIEW_CELL_W x VIEW_CELL_H pixels (times the text scale), from a
// margin of VIEW_TEXT_MARGIN pixels; one byte per cell, row-major, 4 cells per 32-bit word.
#define VIEW_CELL_W 6
#define VIEW_CELL_H 9
#define VIEW_TEXT_MARGIN 6

// Per-frame parameter block for what only some pixels or modes read: 32-bit words (uints, or
// floats where named _F), written by the host before each frame. What every pixel reads is in
// the push constants (one load per SIMD lane group instead of one per pixel on CPUs).
#define VIEW_P_CORNER_W 0     // corner image size (source pixels)
#define VIEW_P_CORNER_H 1
#define VIEW_P_CORNER_X 2     // its rectangle on the display
#define VIEW_P_CORNER_Y 3
#define VIEW_P_CORNER_DW 4
#define VIEW_P_CORNER_DH 5
#define VIEW_P_NEAR_F 6       // depth colormap range (camera-space z)
#define VIEW_P_FAR_F 7
#define VIEW_P_FX_F 8         // render-size intrinsics: fx fy cx cy
#define VIEW_P_ROT_F 12       // world -> camera rotation, 9 floats row-major
#define VIEW_P_WORDS 21

VKD_PUSH_BEGIN(vkd_view_compose_push)
    uint64_t rgb;       // (3, rh, rw)
    uint64_t alpha;     // (1, rh, rw)
    uint64_t depth;     // (1, rh, rw) z * alpha
    uint64_t params;    // (VIEW_P_WORDS,)
    uint64_t text;      // (rows * cols) bytes
    uint64_t font;      // (2 * 95,) packed glyph rows (src/app/view_font.h)
    uint64_t corner;    // (3, corner_h, corner_w) floats in [0, 1]
    uint64_t dst;       // (H, W) uint32 RGBA8 (or BGRA8)
    uint32_t width, height;     // display (output) size
    uint32_t rwidth, rheight;   // render (input planes) size
    float bg_r, bg_g, bg_b;
VKD_PUSH_END(vkd_view_compose_push)
// Specialization constants of compose: 0 = mode (VIEW_MODE_*), 1 = flags (VIEW_FLAG_*).

// The text overlay, drawn over the composed frame in the rectangle [x0, x0 + w) x [y0, y0 + h)
// only (a band of text rows), so its cost follows the text's area, not the window's.
VKD_PUSH_BEGIN(vkd_view_text_push)
    uint64_t text;      // (rows * cols) bytes
    uint64_t font;      // (2 * 95,) packed glyph rows
    uint64_t dst;       // (H, W) uint32 frame, read and written
    uint32_t width, height;
    uint32_t x0, y0, w, h;
    uint32_t cols, rows, scale;
VKD_PUSH_END(vkd_view_text_push)

// Splat centers: per Gaussian a log scale giving a radius of `pixels` pixels at its depth and an
// opacity logit of `logit`, so the splat renderer draws every mean as a small opaque dot.
VKD_PUSH_BEGIN(vkd_view_centers_push)
    uint64_t means;       // (n, 3)
    uint64_t log_scales;  // (n, 3) out
    uint64_t opacity;     // (n,) out
    uint32_t n;
    float r20, r21, r22, t2;  // camera z row
    float fx, pixels, logit;
VKD_PUSH_END(vkd_view_centers_push)
