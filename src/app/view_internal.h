// The viewer's parts below the window: assets (3DGS .ply, OBJ / PLY / GLB meshes), the orbit
// camera, and the frame renderer (asset -> RGBA8 frame in a device buffer, overlay included),
// which works the same with or without a window. src/app/viewer.c adds GLFW and the swapchain.
#ifndef VKD_APP_VIEW_INTERNAL_H
#define VKD_APP_VIEW_INTERNAL_H

#include "vkdream/camera.h"
#include "vkdream/gaussians.h"
#include "vkdream/gpu.h"
#include "vkdream/image.h"
#include "vkdream/mesh.h"

#include "view/view.h"

// ---------------------------------------------------------------------------
// Assets

typedef enum vkd_view_asset_kind {
    VKD_VIEW_NONE = 0,
    VKD_VIEW_GAUSSIANS,
    VKD_VIEW_MESH,
    VKD_VIEW_NERF,       // a NeRF checkpoint, volume-rendered by the renderer on its own device
} vkd_view_asset_kind;

typedef struct vkd_view_asset {
    vkd_view_asset_kind kind;
    vkd_gaussians_host gaussians;   // VKD_VIEW_GAUSSIANS
    vkd_mesh mesh;                  // VKD_VIEW_MESH (normals / colors may be NULL)
    float* face_colors;             // (ntris, 3) or NULL (OBJ materials)
    char* nerf_path;                // VKD_VIEW_NERF: the checkpoint file (malloc'ed); the renderer loads it
    char info[160];                 // one line for the overlay: "3DGS  400 Gaussians  SH 0"
} vkd_view_asset;

// By content and extension: .ply with a face element is a mesh, else a 3DGS .ply; .obj
// (tinyobjloader); .glb (glTF 2.0 binary: every triangle primitive of every mesh, node
// transforms ignored, textures not sampled); .safetensors with the vkdream-nerf format (a NeRF
// checkpoint: `generate --repr nerf` writes nerf.safetensors). Errors name the file and what
// is wrong.
vkd_status vkd_view_asset_load(const char* path, vkd_view_asset* out, vkd_error* err);
void vkd_view_asset_free(vkd_view_asset* a);
// Mesh readers for the formats vkdream writes (src/export/mesh_write.c) and similar files.
vkd_status vkd_view_read_mesh_ply(const char* path, vkd_mesh* out, vkd_error* err);
vkd_status vkd_view_read_glb(const char* path, vkd_mesh* out, vkd_error* err);
// Whether a .ply file has a face element (a mesh) rather than only vertices (3DGS).
vkd_status vkd_view_ply_is_mesh(const char* path, bool* is_mesh, vkd_error* err);

// ---------------------------------------------------------------------------
// Orbit camera: a target point, angles and distance; the window's mouse maps onto these.

typedef struct vkd_view_orbit {
    float target[3];
    float azimuth_deg, elevation_deg;   // vkd_orbit_desc's conventions
    float distance;
    float fov_y_deg;
    float home_target[3], home_distance; // what R resets to (set by vkd_view_orbit_frame)
} vkd_view_orbit;

// Frames a bounding sphere: target its center, distance so it fills ~80% of the view height,
// a three-quarter view (azimuth 30, elevation 20). Also sets the home R returns to.
void vkd_view_orbit_frame(vkd_view_orbit* o, const float center[3], float radius);
void vkd_view_orbit_reset(vkd_view_orbit* o);
// Mouse: rotate by a drag of (dx, dy) pixels, pan by (dx, dy) pixels of a view `height` high,
// zoom by scroll steps (positive = closer).
void vkd_view_orbit_rotate(vkd_view_orbit* o, double dx, double dy);
void vkd_view_orbit_pan(vkd_view_orbit* o, double dx, double dy, int height);
void vkd_view_orbit_zoom(vkd_view_orbit* o, double steps);
vkd_camera vkd_view_orbit_camera(const vkd_view_orbit* o, int width, int height);

// ---------------------------------------------------------------------------
// Frame renderer

typedef struct vkd_view_renderer vkd_view_renderer;

typedef struct vkd_view_frame_desc {
    int width, height;          // display size
    float render_scale;         // render at this fraction of the display size; 0 = auto
                                // (on CPU devices Gaussians 0.5 and NeRFs 0.25, else 1)
    int mode;                   // VIEW_MODE_*
    bool bgra;                  // pack B, G, R, A (swapchain order) instead of R, G, B, A
    const char* text;           // overlay lines ('\n'-separated; a line starting with '\v' is
                                // drawn at the bottom), NULL = none
    bool corner;                // draw the corner image if one is set
} vkd_view_frame_desc;

vkd_status vkd_view_renderer_create(vkd_gpu* gpu, vkd_view_renderer** out, vkd_error* err);
void vkd_view_renderer_destroy(vkd_view_renderer* r);
// Uploads the asset (replacing the previous one; a Gaussian snapshot with the same count
// reuses the device buffer; a NeRF checkpoint is loaded onto the renderer's device). The
// bounding sphere is returned for framing.
vkd_status vkd_view_renderer_set_asset(vkd_view_renderer* r, const vkd_view_asset* a, float center[3],
                                       float* radius, vkd_error* err);
// The bounding sphere of Gaussians (robust: 1st..99th percentile of the means per axis).
void vkd_view_gaussians_bounds(const vkd_gaussians_host* g, float center[3], float* radius);
void vkd_view_mesh_bounds(const vkd_mesh* m, float center[3], float* radius);
// The corner image: planar (c, h, w) floats in [0, 1], c = 1 (gray) or 3. NULL clears it.
vkd_status vkd_view_renderer_set_corner(vkd_view_renderer* r, const float* chw, int c, int h, int w, vkd_error* err);
// Renders one frame into the renderer's frame buffer (submitted and finished on return).
vkd_status vkd_view_renderer_render(vkd_view_renderer* r, const vkd_camera* cam, const vkd_view_frame_desc* f,
                                    vkd_error* err);
// The frame buffer of the latest render: (height, width) packed uint32 pixels.
const vkd_buffer* vkd_view_renderer_frame(const vkd_view_renderer* r);
// Downloads the latest frame as an 8-bit RGB image (allocated here).
vkd_status vkd_view_renderer_read(vkd_view_renderer* r, vkd_image* out, vkd_error* err);
// Bounds of the current asset (radius 0 when there is none).
void vkd_view_renderer_bounds(const vkd_view_renderer* r, float center[3], float* radius);

extern const char* const vkd_view_mode_names[VIEW_MODE_COUNT];

#endif
