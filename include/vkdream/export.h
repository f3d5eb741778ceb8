// vkdream export: meshes from the 3D representations (density grid -> marching cubes ->
// cleanup -> per-vertex colors -> centered -> OBJ / PLY / GLB).
//
// Iso-levels (automatic unless given):
//   Gaussians: the opacity field sum_i o_i exp(-1/2 d^T S_i^-1 d) at 0.5 (a point is inside
//              where the Gaussians there are together half opaque);
//   NeRF:      the density where a one-voxel-thick slab is half opaque, sigma = ln 2 / voxel.
// Coordinates: vkdream's world (+Y up, right-handed, scene units: the asset spans about one
// unit), moved so the mesh's bounding-box center is the origin.
#ifndef VKDREAM_EXPORT_H
#define VKDREAM_EXPORT_H

#include "vkdream/gaussians.h"
#include "vkdream/mesh.h"
#include "vkdream/nerf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vkd_repr vkd_repr;

typedef struct vkd_export_desc {
    uint32_t resolution;     // grid samples per side; 0 = 128
    float iso;               // 0 = the automatic level above
    float min_component;     // drop components below this fraction of the largest; 0 = 0.05, < 0 keeps all
    bool no_center;          // keep the world position
    uint32_t faces;          // > 0: decimate to at most this many triangles (quadric error)
    uint32_t texture;        // > 0: a texture of this size (UV atlas, baked colors) instead of vertex colors
} vkd_export_desc;

// Opacity field and opacity-weighted color (rgb of the SH DC term) of host Gaussians on a
// res^3 grid over [bmin, bmax] (density (res^3,), color (res^3, 3) or NULL), each Gaussian
// touching only the grid points within 3 sigma of it.
void vkd_gaussians_grid_host(const vkd_gaussians_host* h, uint32_t res, const float bmin[3], const float bmax[3],
                             float* density, float* color);

// Mesh of host Gaussians / of a NeRF (colors sampled from the field at the vertices).
vkd_status vkd_export_gaussians(const vkd_gaussians_host* h, const vkd_export_desc* desc, vkd_mesh* out,
                                vkd_error* err);
vkd_status vkd_export_nerf(vkd_nerf* n, vkd_stream* s, const vkd_export_desc* desc, vkd_mesh* out, vkd_error* err);

// Writes m as "obj", "ply" or "glb" to path (the format named by the argument). A textured
// mesh also writes its texture as <path without extension>.png (OBJ references it from the
// MTL; GLB embeds it); PLY cannot carry a texture (an error).
vkd_status vkd_export_write(const vkd_mesh* m, const char* format, const char* path, vkd_error* err);
// generate's end-of-run export: <out_dir>/asset.<format> from a distillation representation.
vkd_status vkd_export_repr_mesh(vkd_gpu* gpu, vkd_stream* s, vkd_repr* repr, const char* format, const char* out_dir,
                                const vkd_export_desc* desc, vkd_error* err);

#ifdef __cplusplus
}
#endif
#endif
