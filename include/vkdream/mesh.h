// vkdream meshes: indexed triangle meshes from density grids (marching cubes), cleanup, and
// the writers other tools open (OBJ, PLY, GLB). Host-side: grids come from the GPU once.
//
// Conventions: a density grid is (nz, ny, nx) floats, x fastest, sampled at the corners of
// nx-1 x ny-1 x nz-1 cells spanning [bmin, bmax]; "inside" is density > iso. Triangles are
// counter-clockwise seen from outside, so face normals point from high to low density.
#ifndef VKDREAM_MESH_H
#define VKDREAM_MESH_H

#include "vkdream/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vkd_mesh {
    uint32_t nverts, ntris;
    float* positions;   // (nverts, 3)
    float* normals;     // (nverts, 3) unit, or NULL
    float* colors;      // (nverts, 3) in [0, 1], or NULL
    uint32_t* indices;  // (ntris, 3)
    float* uvs;         // (nverts, 2) texture coordinates (v up), or NULL
    uint8_t* texture;   // (texture_size, texture_size, 3) RGB, row 0 at the top, or NULL
    uint32_t texture_size;
} vkd_mesh;

void vkd_mesh_free(vkd_mesh* m);

typedef struct vkd_grid_desc {
    const float* density;   // (nz, ny, nx)
    int nx, ny, nz;          // >= 2 each
    float bmin[3], bmax[3];  // world-space box of the grid's corner samples
} vkd_grid_desc;

// Marching cubes at level iso. Vertices lie on cell edges (linear interpolation) and are
// shared by every triangle that uses that edge, so the mesh is welded by construction and
// closed wherever the surface does not leave the grid. Ambiguous faces are split so that
// inside corners stay apart (the same rule from both cells sharing a face, hence no cracks).
// Normals: the normalized negative density gradient (central differences). An empty result
// (nothing above iso) is an error that says the level and the grid's value range.
vkd_status vkd_marching_cubes(const vkd_grid_desc* grid, float iso, vkd_mesh* out, vkd_error* err);

// Removes connected components (by shared vertices) with fewer than min_fraction of the
// largest component's triangles, then drops unused vertices. Returns the count removed.
uint32_t vkd_mesh_remove_small_components(vkd_mesh* m, float min_fraction);

// Quadric-error edge collapse (Garland-Heckbert) down to at most target_tris triangles where
// possible, refusing collapses that flip a face or break the link condition (a closed manifold
// stays closed and manifold); colors are averaged, normals recomputed. Returns the new count.
uint32_t vkd_mesh_decimate(vkd_mesh* m, uint32_t target_tris);

// Texture option: a UV atlas where every triangle is its own chart (two triangles per square
// cell of a grid, each in one half, inset by a texel) and a baked size x size RGB texture.
// The mesh is unwelded (three vertices per triangle, so each corner has its own UV); the
// texel colors come from color(points (n, 3) -> rgb (n, 3), user). Every texel of a cell is
// filled from the nearer triangle's closest point, which pads the charts (the gutter) so
// bilinear sampling never reads an unbaked texel. Cells under 4 texels a side are an error
// that says how many triangles fit.
typedef void (*vkd_color_fn)(const float* points, float* rgb, uint32_t n, void* user);
vkd_status vkd_mesh_bake_texture(vkd_mesh* m, uint32_t size, vkd_color_fn color, void* user, vkd_error* err);

// Mesh measures for tests and reports.
double vkd_mesh_area(const vkd_mesh* m);
double vkd_mesh_volume(const vkd_mesh* m);  // signed: positive for outward-facing closed meshes
// Edges used by exactly one triangle (0 for a closed mesh), by more than two, and edges whose
// two triangles traverse them in the same direction (0 when the winding is consistent).
void vkd_mesh_edge_stats(const vkd_mesh* m, uint32_t* boundary_edges, uint32_t* nonmanifold_edges,
                         uint32_t* misoriented_edges);

// ---------------------------------------------------------------------------
// Writers. Coordinates are written as given: vkdream's world is right-handed, +Y up, units
// of the scene (the default camera orbits at ~2.5 units, so an asset spans ~1 unit), which
// is glTF's convention; vkd_mesh_center moves the asset's box center to the origin first.
// Every writer writes "<path>.tmp" and renames it, so a failure never leaves a partial file.

typedef struct vkd_mesh_texture {
    const float* uvs;           // (nverts, 2) texture coordinates, v up (glTF flips to v down itself)
    const char* png_path;       // the baked texture as a PNG file on disk
} vkd_mesh_texture;

// Moves the mesh so its bounding-box center is at the origin; returns the offset applied.
void vkd_mesh_center(vkd_mesh* m, float offset[3]);
// Wavefront OBJ: v (with r g b when the mesh has colors), vn, f with 1-based indices; with a
// texture also vt, an MTL file next to it (same name, .mtl) referencing the PNG.
vkd_status vkd_mesh_write_obj(const vkd_mesh* m, const vkd_mesh_texture* tex, const char* path, vkd_error* err);
// Binary little-endian PLY: float x y z (nx ny nz), uchar red green blue, int face lists.
vkd_status vkd_mesh_write_ply(const vkd_mesh* m, const char* path, vkd_error* err);
// glTF 2.0 binary: one mesh, one primitive with POSITION, NORMAL, COLOR_0 (float vec3) or
// TEXCOORD_0 plus an embedded PNG baseColorTexture, and uint32 indices.
vkd_status vkd_mesh_write_glb(const vkd_mesh* m, const vkd_mesh_texture* tex, const char* path, vkd_error* err);

#ifdef __cplusplus
}
#endif
#endif
