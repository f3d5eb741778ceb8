// Wavefront OBJ meshes through tinyobjloader (src/field/obj_load.cc, a C API over the C++
// library), triangulated, with vertex colors (the common 'v x y z r g b' extension) or
// material diffuse colors (Kd), and area-weighted surface sampling.
#ifndef VKDREAM_OBJ_H
#define VKDREAM_OBJ_H

#include "vkdream/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vkd_obj_mesh {
    uint32_t vertex_count;
    uint32_t triangle_count;
    float* positions;       // (vertex_count, 3)
    float* vertex_colors;   // (vertex_count, 3), or NULL when not every vertex has a color
    uint32_t* triangles;    // (triangle_count, 3) vertex indices, validated < vertex_count
    float* face_colors;     // (triangle_count, 3) material diffuse color, or NULL without materials
} vkd_obj_mesh;

// Loads path (materials from the mtllib files next to it). Errors name the file: missing,
// unreadable, no faces, an index out of range, non-finite coordinates. Warnings from a
// missing .mtl are not errors (the mesh has no face colors then).
vkd_status vkd_obj_load(const char* path, vkd_obj_mesh* out, vkd_error* err);
void vkd_obj_free(vkd_obj_mesh* mesh);

// Total surface area.
double vkd_obj_area(const vkd_obj_mesh* mesh);

// n points uniform on the surface (triangles chosen by area, uniform barycentrics):
// points (n, 3); normals (n, 3) unit face normals (counter-clockwise winding); colors (n, 3)
// interpolated vertex colors, else the face's material color, else left untouched; any of
// normals / colors may be NULL. Returns whether colors were written. Deterministic in seed.
// Degenerate (zero-area) meshes give VKD_ERR_INVALID.
vkd_status vkd_obj_sample(const vkd_obj_mesh* mesh, uint32_t n, uint64_t seed, float* points, float* normals,
                          float* colors, bool* has_colors, vkd_error* err);

#ifdef __cplusplus
}
#endif
#endif
