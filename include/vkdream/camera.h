// Pinhole cameras shared by every renderer. Axes follow OpenCV / 3DGS: camera x right,
// y down, z forward (looking along +z); world is right-handed with +y up.
#ifndef VKDREAM_CAMERA_H
#define VKDREAM_CAMERA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vkd_camera {
    float viewmat[16];    // world -> camera, row-major 4x4: p_cam = R p_world + t
    float fx, fy, cx, cy; // pixels; pixel (i, j) has its center at (i + 0.5, j + 0.5)
    int32_t width, height;
    float near_plane, far_plane;
} vkd_camera;

typedef struct vkd_orbit_desc {
    float azimuth_deg;    // 0 = looking at the origin from +z ("front"), increasing counter-clockwise seen from above
    float elevation_deg;  // 0 = horizon, 90 = from straight above
    float distance;       // from the target; 0 = 3.0
    float fov_y_deg;      // 0 = 49.1 (DreamFusion's default range center)
    int32_t width, height;// 0 = 64
    float target[3];      // point looked at; default origin
    float near_plane, far_plane; // 0 = 0.01, 100
} vkd_orbit_desc;

// A camera on a sphere around target, looking at it, world +y up.
vkd_camera vkd_camera_orbit(const vkd_orbit_desc* desc);
// Camera center in world coordinates.
void vkd_camera_position(const vkd_camera* cam, float out[3]);
// Camera-to-world 4x4 (row-major) in the same axes; VSD's camera embedding uses this.
void vkd_camera_to_world(const vkd_camera* cam, float out[16]);

#ifdef __cplusplus
}
#endif
#endif
