// Gaussian splatting kernels: push constants and the layouts of the renderer's scratch
// buffers, shared by C (src/field/splat.c) and GLSL (shaders/field/splat_*.comp).
#include "common.h"

#define SPLAT_TILE 16            // tile edge; one rasterizer workgroup per tile
#define SPLAT_TILE_PIXELS 256    // SPLAT_TILE^2 = invocations per rasterizer workgroup = batch size
#define SPLAT_CAM_FLOATS 24      // per view: R (9, row-major), t (3), fx fy cx cy, near far, campos (3), pad
// Per (view, Gaussian), 12 floats = 3 vec4:
//   u v a b | c opacity z rect0 | r g b rect1   (conic a b c; rect0/1 hold uint bits x0|y0<<16, x1|y1<<16)
#define SPLAT_PROJ_FLOATS 12
// Per (view, Gaussian) gradient of the projected quantities (accumulated by the rasterizer's backward).
#define SPLAT_G_U 0
#define SPLAT_G_V 1
#define SPLAT_G_A 2
#define SPLAT_G_B 3
#define SPLAT_G_C 4
#define SPLAT_G_OPAC 5
#define SPLAT_G_COLOR 6
#define SPLAT_G_Z 9
#define SPLAT_G_FLOATS 10
// With the normals image the record grows by the normal's gradient (3 floats).
#define SPLAT_G_NORMAL 10
#define SPLAT_G_FLOATS_NORMALS 13
// Per (view, Gaussian) world-space normal for the normals image: x y z (pad) = one vec4.
#define SPLAT_NORMAL_FLOATS 4

// Writes one view's camera into the camera buffer, in stream order (no host upload race).
VKD_PUSH_BEGIN(vkd_splat_cam_push)
    uint64_t cams;      // (views, SPLAT_CAM_FLOATS)
    uint32_t view;
    float r00, r01, r02, r10, r11, r12, r20, r21, r22;
    float t0, t1, t2;
    float fx, fy, cx, cy;
    float znear, zfar;
    float px, py, pz;
VKD_PUSH_END(vkd_splat_cam_push)

VKD_PUSH_BEGIN(vkd_splat_project_push)
    uint64_t means;          // (n, 3)
    uint64_t log_scales;     // (n, 3)
    uint64_t quats;          // (n, 4)
    uint64_t opacity_logits; // (n,)
    uint64_t sh;             // (n, sh_stride, 3)
    uint64_t cams;           // (views, SPLAT_CAM_FLOATS)
    uint64_t proj;           // (views, n, SPLAT_PROJ_FLOATS) out
    uint64_t counts;         // (views, n) out: tiles touched (0 = culled)
    uint64_t radii;          // (views, n) out: float radius in pixels, ceil(3 sqrt(lambda_max)); 0 = culled
    uint64_t normals;        // (views, n, SPLAT_NORMAL_FLOATS) out, or 0 (no normals image)
    uint32_t n, views, sh_degree, sh_stride;
    uint32_t width, height, tiles_x, tiles_y;
VKD_PUSH_END(vkd_splat_project_push)

VKD_PUSH_BEGIN(vkd_splat_emit_push)
    uint64_t proj;           // (views, n, SPLAT_PROJ_FLOATS)
    uint64_t offsets;        // (views * n + 1,) exclusive scan of the counts
    uint64_t keys;           // (total,) u64 out: (view * tiles + tile) << 32 | depth bits
    uint64_t values;         // (total,) u32 out: Gaussian index
    uint32_t n, views, tiles_per_view, tiles_x;
VKD_PUSH_END(vkd_splat_emit_push)

VKD_PUSH_BEGIN(vkd_splat_ranges_push)
    uint64_t keys;           // (total,) sorted
    uint64_t ranges;         // (views * tiles, 2) out: [start, end) in the sorted list; zeroed before
    uint32_t total;
VKD_PUSH_END(vkd_splat_ranges_push)

VKD_PUSH_BEGIN(vkd_splat_raster_push)
    uint64_t proj;           // (views, n, SPLAT_PROJ_FLOATS)
    uint64_t ranges;         // (views * tiles, 2)
    uint64_t values;         // (total,) sorted Gaussian indices
    uint64_t rgb;            // (views, 3, H, W) or 0
    uint64_t alpha;          // (views, 1, H, W) or 0
    uint64_t depth;          // (views, 1, H, W) or 0
    uint64_t final_t;        // (views, H, W) out: transmittance left
    uint64_t last;           // (views, H, W) out: 1 + list index of the last contributor (0 = none)
    uint64_t normals;        // (views, n, SPLAT_NORMAL_FLOATS) when spec constant NORMALS is set
    uint64_t normal;         // (views, 3, H, W) out, or 0 (then NORMALS is not set)
    uint32_t n, width, height, tiles_x;
    uint32_t tiles_per_view;
    float bg_r, bg_g, bg_b;
VKD_PUSH_END(vkd_splat_raster_push)

VKD_PUSH_BEGIN(vkd_splat_raster_bwd_push)
    uint64_t proj;
    uint64_t ranges;
    uint64_t values;
    uint64_t final_t;
    uint64_t last;
    uint64_t d_rgb;          // (views, 3, H, W) or 0
    uint64_t d_alpha;        // (views, 1, H, W) or 0
    uint64_t d_depth;        // (views, 1, H, W) or 0
    uint64_t grad2d;         // (views, n, SPLAT_G_FLOATS or _NORMALS with NORMALS) accumulated with atomics
    uint64_t normals;        // (views, n, SPLAT_NORMAL_FLOATS) when spec constant NORMALS is set
    uint64_t d_normal;       // (views, 3, H, W) when NORMALS is set
    uint32_t n, width, height, tiles_x;
    uint32_t tiles_per_view;
    float bg_r, bg_g, bg_b;
VKD_PUSH_END(vkd_splat_raster_bwd_push)

VKD_PUSH_BEGIN(vkd_splat_project_bwd_push)
    uint64_t means;
    uint64_t log_scales;
    uint64_t quats;
    uint64_t opacity_logits;
    uint64_t sh;
    uint64_t cams;
    uint64_t counts;         // (views, n): 0 = not visible in that view
    uint64_t grad2d;         // (views, n, SPLAT_G_FLOATS, or _NORMALS when spec constant 0 NORMALS is set)
    uint64_t g_means;        // gradients, each 0 = not needed; accumulated (+=)
    uint64_t g_log_scales;
    uint64_t g_quats;
    uint64_t g_opacity_logits;
    uint64_t g_sh;
    uint32_t n, views, sh_degree, sh_stride;
    uint32_t width, height;
VKD_PUSH_END(vkd_splat_project_bwd_push)

VKD_PUSH_BEGIN(vkd_splat_stats_push)
    uint64_t counts;         // (views, n)
    uint64_t grad2d;         // (views, n, g_floats)
    uint64_t radii;          // (views, n) pixel radii of the forward
    uint64_t grad2d_norm;    // (n,) += ||dL/d mean2d|| in NDC units, per visible view; or 0
    uint64_t vis_count;      // (n,) += 1 per visible view; or 0
    uint64_t max_radius;     // (n,) = max(itself, radius) over visible views; or 0
    uint32_t n, views, width, height;
    uint32_t g_floats;       // SPLAT_G_FLOATS or SPLAT_G_FLOATS_NORMALS
VKD_PUSH_END(vkd_splat_stats_push)
