// Procedural objects with known ground truth: analytic signed-distance shapes in named
// colors, rendered by sphere tracing on the host. They are the built-in prior's training
// data (with captions such as "a red cube, side view") and the ground truth its text-to-3D
// results are scored against (silhouette IoU, color error on held-out views).
//
// Objects sit at the origin, +y up, inside the unit ball (|p| <= ~0.8 at scale 1).
#ifndef VKDREAM_SHAPES_H
#define VKDREAM_SHAPES_H

#include "vkdream/camera.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vkd_shape {
    VKD_SHAPE_SPHERE, VKD_SHAPE_CUBE, VKD_SHAPE_CYLINDER, VKD_SHAPE_CONE, VKD_SHAPE_TORUS,
    VKD_SHAPE_CAPSULE, VKD_SHAPE_PYRAMID, VKD_SHAPE_SNOWMAN, VKD_SHAPE_MUSHROOM, VKD_SHAPE_TABLE,
    VKD_SHAPE_DUMBBELL, VKD_SHAPE_COUNT
} vkd_shape;

typedef enum vkd_shape_color {
    VKD_COLOR_RED, VKD_COLOR_GREEN, VKD_COLOR_BLUE, VKD_COLOR_YELLOW, VKD_COLOR_ORANGE,
    VKD_COLOR_PURPLE, VKD_COLOR_PINK, VKD_COLOR_WHITE, VKD_COLOR_BLACK, VKD_COLOR_BROWN,
    VKD_COLOR_GRAY, VKD_COLOR_CYAN, VKD_COLOR_COUNT
} vkd_shape_color;

typedef struct vkd_shape_object {
    vkd_shape shape;
    vkd_shape_color color;
    float scale;     // 0 = 1
    float yaw_deg;   // rotation about +y
    bool shiny;      // adds a specular highlight (material variation)
} vkd_shape_object;

const char* vkd_shape_name(vkd_shape s);            // "cube", "snowman", ...
const char* vkd_shape_color_name(vkd_shape_color c); // "red", ...
void vkd_shape_color_rgb(vkd_shape_color c, float rgb[3]);
// Parses a caption like "a red cube" / "a red cube, side view"; false when it names no known
// color and shape. Either out pointer may be NULL.
bool vkd_shape_parse_caption(const char* caption, vkd_shape* shape, vkd_shape_color* color);

// Signed distance from p to the object's surface (negative inside).
float vkd_shape_sdf(const vkd_shape_object* o, const float p[3]);

typedef struct vkd_shape_render_desc {
    const float* light_dir;  // unit vector toward the light; NULL = from the camera's upper left
    float background[3];     // composited where the ray misses
    float ambient;           // 0 = 0.35
} vkd_shape_render_desc;

// Renders o seen by cam into rgb (3, H, W) planar in [0, 1] and alpha (H, W) (1 on the
// object, 0 elsewhere; either may be NULL). Lambertian shading (plus Blinn-Phong when shiny).
void vkd_shape_render(const vkd_shape_object* o, const vkd_camera* cam, const vkd_shape_render_desc* desc,
                      float* rgb, float* alpha);

#ifdef __cplusplus
}
#endif
#endif
