// Triangle meshes rendered with compute shaders (no graphics pipeline, so meshes draw wherever
// the rest of vkdream runs, lavapipe included). Used by the viewer for OBJ / PLY / GLB assets.
//
// Visibility buffer in three kernels: per triangle, the nearest depth of every covered pixel
// (atomicMin on the float bits), then per triangle the lowest triangle id at exactly that depth
// (deterministic), then per pixel shading from the visible triangle's perspective-correct
// barycentrics. A pixel is covered when its center (x + 0.5, y + 0.5) lies inside or on the
// edges of the projected triangle. Triangles are drawn two-sided (normals are flipped toward
// the camera); a triangle with a vertex in front of the near plane is skipped (no clipping:
// the viewer's orbit camera stays outside the asset).
//
// Shading: base color = interpolated vertex colors, else the face color, else 0.7 gray;
//   LIT:       base * (0.25 + 0.75 max(<n, v>, 0)), v the unit vector to the camera (headlight);
//   NORMALS:   0.5 n + 0.5 (world-space unit normal, interpolated vertex normals or the face's);
//   WIREFRAME: LIT, darkened (mix to 0.02 by 0.85) within 1 pixel of a triangle edge.
// Outputs match the splat renderer's: rgb composited over bg, alpha 1 where covered else 0,
// depth = camera-space z times alpha.
#ifndef VKDREAM_RASTER_H
#define VKDREAM_RASTER_H

#include "vkdream/camera.h"
#include "vkdream/gpu.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vkd_raster_mesh {
    vkd_addr positions;    // (V, 3) world positions
    vkd_addr normals;      // (V, 3) or 0: face normals
    vkd_addr colors;       // (V, 3) in [0, 1], or 0
    vkd_addr face_colors;  // (T, 3), or 0 (used when colors is 0)
    vkd_addr indices;      // (T, 3) uint32, each < V (not checked on the device)
    uint32_t vertex_count, triangle_count;
} vkd_raster_mesh;

typedef enum vkd_raster_shade {
    VKD_RASTER_LIT = 0,
    VKD_RASTER_NORMALS,
    VKD_RASTER_WIREFRAME,
} vkd_raster_shade;

typedef struct vkd_raster_outputs {
    vkd_addr rgb;          // (3, H, W) or 0
    vkd_addr alpha;        // (1, H, W) or 0
    vkd_addr depth;        // (1, H, W) or 0
} vkd_raster_outputs;

typedef struct vkd_raster_ctx vkd_raster_ctx;

vkd_status vkd_raster_ctx_create(vkd_gpu* gpu, vkd_raster_ctx** out, vkd_error* err);
// Work recorded on a stream that uses the context must have been submitted.
void vkd_raster_ctx_destroy(vkd_raster_ctx* ctx);
// The visibility buffer of the latest forward: (H, W) uint32 triangle ids, 0xFFFFFFFF = none
// (the buffer may be larger). NULL before the first forward.
const vkd_buffer* vkd_raster_ctx_ids(const vkd_raster_ctx* ctx);

// Renders the mesh from cam into out over bg (NULL = black). Records on s; submits s first
// only when the context's per-pixel buffers must grow. A context serves one stream.
vkd_status vkd_raster_forward(vkd_raster_ctx* ctx, vkd_stream* s, const vkd_raster_outputs* out,
                              const vkd_raster_mesh* mesh, const vkd_camera* cam, vkd_raster_shade shade,
                              const float bg[3], vkd_error* err);

// ---------------------------------------------------------------------------
// Plain C reference (float64), the same algorithm; any output may be NULL.

typedef struct vkd_ref_raster_mesh {
    const double* positions;    // (V, 3)
    const double* normals;      // (V, 3) or NULL
    const double* colors;       // (V, 3) or NULL
    const double* face_colors;  // (T, 3) or NULL
    const uint32_t* indices;    // (T, 3)
    uint32_t vertex_count, triangle_count;
} vkd_ref_raster_mesh;

// rgb (3, H, W), alpha (1, H, W), depth (1, H, W), ids (H, W); bg NULL = black.
void vkd_ref_raster_forward(double* rgb, double* alpha, double* depth, uint32_t* ids, const vkd_ref_raster_mesh* m,
                            const vkd_camera* cam, vkd_raster_shade shade, const double bg[3]);

#ifdef __cplusplus
}
#endif
#endif
