#include "vkdream/camera.h"

#include <math.h>
#include <string.h>

static void normalize3(float v[3]) {
    float n = sqrtf(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
    if (n > 0) v[0] /= n, v[1] /= n, v[2] /= n;
}

static void cross3(const float a[3], const float b[3], float out[3]) {
    out[0] = a[1] * b[2] - a[2] * b[1];
    out[1] = a[2] * b[0] - a[0] * b[2];
    out[2] = a[0] * b[1] - a[1] * b[0];
}

vkd_camera vkd_camera_orbit(const vkd_orbit_desc* d) {
    const float deg = 3.14159265358979f / 180.0f;
    float dist = d->distance > 0 ? d->distance : 3.0f;
    float fov = (d->fov_y_deg > 0 ? d->fov_y_deg : 49.1f) * deg;
    int w = d->width > 0 ? d->width : 64, h = d->height > 0 ? d->height : 64;
    float az = d->azimuth_deg * deg, el = d->elevation_deg * deg;
    // Position: azimuth 0 on +z, rotating towards +x; elevation lifts towards +y.
    float eye[3] = {d->target[0] + dist * cosf(el) * sinf(az), d->target[1] + dist * sinf(el),
                    d->target[2] + dist * cosf(el) * cosf(az)};
    float fwd[3] = {d->target[0] - eye[0], d->target[1] - eye[1], d->target[2] - eye[2]};
    normalize3(fwd);
    float up[3] = {0, 1, 0};
    // Straight above or below: any horizontal "up" works; pick the one facing the front.
    if (fabsf(fwd[1]) > 0.9999f) up[0] = 0, up[1] = 0, up[2] = fwd[1] > 0 ? 1.0f : -1.0f;
    float right[3], down[3];
    cross3(fwd, up, right);  // x = forward x up (right-handed world, camera x to the right)
    normalize3(right);
    cross3(fwd, right, down);  // y = forward x right points down
    vkd_camera c;
    memset(&c, 0, sizeof c);
    const float* rows[3] = {right, down, fwd};
    for (int r = 0; r < 3; r++) {
        c.viewmat[r * 4 + 0] = rows[r][0];
        c.viewmat[r * 4 + 1] = rows[r][1];
        c.viewmat[r * 4 + 2] = rows[r][2];
        c.viewmat[r * 4 + 3] = -(rows[r][0] * eye[0] + rows[r][1] * eye[1] + rows[r][2] * eye[2]);
    }
    c.viewmat[15] = 1.0f;
    c.fy = 0.5f * (float)h / tanf(0.5f * fov);
    c.fx = c.fy;
    c.cx = 0.5f * (float)w;
    c.cy = 0.5f * (float)h;
    c.width = w;
    c.height = h;
    c.near_plane = d->near_plane > 0 ? d->near_plane : 0.01f;
    c.far_plane = d->far_plane > 0 ? d->far_plane : 100.0f;
    return c;
}

void vkd_camera_position(const vkd_camera* c, float out[3]) {
    // p = -R^T t
    const float* m = c->viewmat;
    for (int i = 0; i < 3; i++) out[i] = -(m[0 * 4 + i] * m[3] + m[1 * 4 + i] * m[7] + m[2 * 4 + i] * m[11]);
}

void vkd_camera_to_world(const vkd_camera* c, float out[16]) {
    const float* m = c->viewmat;
    float pos[3];
    vkd_camera_position(c, pos);
    memset(out, 0, 16 * sizeof *out);
    for (int r = 0; r < 3; r++) {
        for (int k = 0; k < 3; k++) out[r * 4 + k] = m[k * 4 + r];  // R^T
        out[r * 4 + 3] = pos[r];
    }
    out[15] = 1.0f;
}
