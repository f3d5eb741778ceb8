// Triangle rasterizer kernels (compute only): push constants shared by C (src/field/raster.c)
// and GLSL (shaders/field/raster_*.comp). The camera is read from a buffer written in stream
// order by the splat renderer's camera kernel (layout SPLAT_CAM_FLOATS of field/splat.h).
#include "common.h"

#define RASTER_NO_TRIANGLE 0xFFFFFFFFu  // id of an uncovered pixel
// The depth buffer starts at FLT_MAX's bits: positive floats order like their bits as uints, and
// a finite start keeps min() well defined should a driver treat the atomic as a float min
// (lavapipe 22.3 never replaces a NaN start value, e.g. 0xFFFFFFFF).
#define RASTER_FAR_BITS 0x7F7FFFFFu

// Shading of covered pixels (vkd_raster_shade in include/vkdream/raster.h).
#define RASTER_SHADE_LIT 0
#define RASTER_SHADE_NORMALS 1
#define RASTER_SHADE_WIREFRAME 2

// Per triangle: pass 0 takes the nearest depth per pixel (atomicMin on the float bits),
// pass 1 the lowest triangle id among those at exactly that depth (spec constant 0 = pass).
VKD_PUSH_BEGIN(vkd_raster_tri_push)
    uint64_t positions;  // (V, 3)
    uint64_t indices;    // (T, 3) uint32
    uint64_t cam;        // (SPLAT_CAM_FLOATS,)
    uint64_t depth;      // (H, W) uint32 float bits, cleared to RASTER_FAR_BITS
    uint64_t ids;        // (H, W) uint32, cleared to RASTER_NO_TRIANGLE
    uint32_t triangles, width, height;
VKD_PUSH_END(vkd_raster_tri_push)

// Per pixel: barycentrics of its triangle, interpolated attributes, shading, compositing.
VKD_PUSH_BEGIN(vkd_raster_shade_push)
    uint64_t positions;    // (V, 3)
    uint64_t normals;      // (V, 3) or 0: face normals
    uint64_t colors;       // (V, 3) or 0
    uint64_t face_colors;  // (T, 3) or 0
    uint64_t indices;      // (T, 3)
    uint64_t cam;
    uint64_t ids;          // (H, W)
    uint64_t rgb;          // (3, H, W) or 0
    uint64_t alpha;        // (1, H, W) or 0
    uint64_t depth;        // (1, H, W) or 0
    uint32_t width, height, shade;
    float bg_r, bg_g, bg_b;
VKD_PUSH_END(vkd_raster_shade_push)
