// Orbit cameras: the target lands at the image center, azimuth/elevation put the
// camera where DESIGN.md's view-dependent prompts expect it, and the matrices agree.
#include "vkdream/camera.h"

#include <math.h>
#include <stdio.h>

static int passed, failed;

static void check(int ok, const char* what, double got, double want) {
    if (ok) passed++;
    else failed++;
    if (!ok) printf("FAIL %s: got %g want %g\n", what, got, want);
}

static void project(const vkd_camera* c, const float p[3], float* u, float* v, float* z) {
    const float* m = c->viewmat;
    float x = m[0] * p[0] + m[1] * p[1] + m[2] * p[2] + m[3];
    float y = m[4] * p[0] + m[5] * p[1] + m[6] * p[2] + m[7];
    *z = m[8] * p[0] + m[9] * p[1] + m[10] * p[2] + m[11];
    *u = c->fx * x / *z + c->cx;
    *v = c->fy * y / *z + c->cy;
}

int main(void) {
    const float azimuths[] = {0, 30, 90, 180, -135};
    const float elevations[] = {0, 15, 60, 89.9f, 90, -30};
    for (int a = 0; a < 5; a++)
        for (int e = 0; e < 6; e++) {
            vkd_camera c = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = azimuths[a], .elevation_deg = elevations[e],
                                                              .distance = 2.5f, .width = 64, .height = 48,
                                                              .target = {0.1f, -0.2f, 0.3f}});
            float u, v, z, t[3] = {0.1f, -0.2f, 0.3f};
            project(&c, t, &u, &v, &z);
            check(fabsf(u - 32) < 1e-4f && fabsf(v - 24) < 1e-4f, "target at the image center", u, 32);
            check(fabsf(z - 2.5f) < 1e-4f, "target depth = distance", z, 2.5);
            float pos[3];
            vkd_camera_position(&c, pos);
            float d = sqrtf((pos[0] - t[0]) * (pos[0] - t[0]) + (pos[1] - t[1]) * (pos[1] - t[1]) +
                            (pos[2] - t[2]) * (pos[2] - t[2]));
            check(fabsf(d - 2.5f) < 1e-4f, "camera at the orbit distance", d, 2.5);
            check(fabsf(asinf((pos[1] - t[1]) / 2.5f) * 57.29578f - elevations[e]) < 1e-2f, "elevation", pos[1], 0);
            // Rotation rows are orthonormal.
            const float* m = c.viewmat;
            for (int i = 0; i < 3; i++)
                for (int j = 0; j < 3; j++) {
                    float dot = m[i * 4] * m[j * 4] + m[i * 4 + 1] * m[j * 4 + 1] + m[i * 4 + 2] * m[j * 4 + 2];
                    check(fabsf(dot - (i == j)) < 1e-5f, "orthonormal rotation", dot, i == j);
                }
            // camera_to_world inverts viewmat.
            float c2w[16];
            vkd_camera_to_world(&c, c2w);
            float back[3];
            for (int i = 0; i < 3; i++) back[i] = c2w[i * 4 + 0] * 0 + c2w[i * 4 + 1] * 0 + c2w[i * 4 + 2] * 2.5f + c2w[i * 4 + 3];
            check(fabsf(back[0] - t[0]) + fabsf(back[1] - t[1]) + fabsf(back[2] - t[2]) < 1e-4f,
                  "camera_to_world maps (0,0,2.5) to the target", back[0], t[0]);
        }
    // Azimuth 0 is the front (+z), 90 looks from +x; world up projects upwards (smaller v).
    vkd_camera front = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 0});
    float pos[3];
    vkd_camera_position(&front, pos);
    check(pos[2] > 2.99f, "azimuth 0 sits on +z", pos[2], 3);
    vkd_camera side = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 90});
    vkd_camera_position(&side, pos);
    check(pos[0] > 2.99f, "azimuth 90 sits on +x", pos[0], 3);
    float u, v, z, up[3] = {0, 0.5f, 0}, right[3] = {0.5f, 0, 0};
    project(&front, up, &u, &v, &z);
    check(v < 32, "world up is image up", v, 0);
    project(&front, right, &u, &v, &z);
    check(u > 32, "world +x is image right from the front", u, 64);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
