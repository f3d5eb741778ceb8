// Procedural shapes: every shape is a proper SDF near its surface (inside negative at the
// center, positive far away), renders show the object in the middle and background at the
// corners, the object's color dominates, captions parse, and the silhouette area grows with
// scale.
#define _POSIX_C_SOURCE 200809L
#include "vkdream/image.h"
#include "vkdream/shapes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit/check.h"

int main(int argc, char** argv) {
    enum { W = 48, H = 48 };
    static float rgb[3 * W * H], alpha[W * H];
    vkd_image frames[VKD_SHAPE_COUNT];
    for (int s = 0; s < VKD_SHAPE_COUNT; s++) {
        vkd_shape_object o = {.shape = (vkd_shape)s, .color = (vkd_shape_color)(s % VKD_COLOR_COUNT)};
        float far[3] = {3, 3, 3};
        CHECK(vkd_shape_sdf(&o, far) > 1.0f, "%s: far point not outside", vkd_shape_name(o.shape));
        // Some point on the y axis near the center is inside (the torus has a hole: test its ring).
        float in[3] = {0, 0, 0};
        if (o.shape == VKD_SHAPE_TORUS) in[0] = 0.45f;
        if (o.shape == VKD_SHAPE_TABLE) in[1] = 0.3f;
        CHECK(vkd_shape_sdf(&o, in) < 0, "%s: center not inside", vkd_shape_name(o.shape));
        vkd_camera cam = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = 30, .elevation_deg = 20, .distance = 2.5f,
                                                            .fov_y_deg = 49.1f, .width = W, .height = H});
        vkd_shape_render(&o, &cam, NULL, rgb, alpha);
        double cover = 0, mean[3] = {0, 0, 0};
        for (int i = 0; i < W * H; i++) {
            cover += alpha[i];
            for (int c = 0; c < 3; c++) mean[c] += alpha[i] * rgb[c * W * H + i];
        }
        CHECK(cover > 0.05 * W * H && cover < 0.7 * W * H, "%s: covers %.0f of %d pixels", vkd_shape_name(o.shape), cover,
              W * H);
        CHECK(alpha[0] == 0 && alpha[W - 1] == 0 && alpha[W * H - 1] == 0 && rgb[0] == 1.0f, "%s: corners not background",
              vkd_shape_name(o.shape));
        // The mean object color points the same way as the albedo (shading only scales it).
        float albedo[3];
        vkd_shape_color_rgb(o.color, albedo);
        double dot = 0, na = 0, nm = 0;
        for (int c = 0; c < 3; c++) dot += albedo[c] * mean[c], na += albedo[c] * albedo[c], nm += mean[c] * mean[c];
        CHECK(dot / sqrt(na * nm) > 0.97, "%s: mean color off the albedo (cos %.3f)", vkd_shape_name(o.shape),
              dot / sqrt(na * nm));
        // Bigger objects cover more pixels.
        o.scale = 1.25f;
        float alpha2[W * H];
        vkd_shape_render(&o, &cam, NULL, NULL, alpha2);
        double cover2 = 0;
        for (int i = 0; i < W * H; i++) cover2 += alpha2[i];
        CHECK(cover2 > 1.2 * cover, "%s: scale 1.25 covers %.0f vs %.0f", vkd_shape_name(o.shape), cover2, cover);
        vkd_image_alloc(&frames[s], W, H, 3, NULL);
        vkd_image_from_planar(&frames[s], rgb, NULL, NULL);
    }
    vkd_shape s;
    vkd_shape_color c;
    CHECK(vkd_shape_parse_caption("A Red cube, side view", &s, &c) && s == VKD_SHAPE_CUBE && c == VKD_COLOR_RED,
          "caption parse");
    CHECK(vkd_shape_parse_caption("a pink snowman", &s, &c) && s == VKD_SHAPE_SNOWMAN && c == VKD_COLOR_PINK, "snowman");
    CHECK(!vkd_shape_parse_caption("a ripe strawberry", &s, &c), "unknown caption parsed");
    CHECK(!vkd_shape_parse_caption("a reddish cubes", &s, &c), "partial words parsed");
    if (argc > 1) {  // optional contact sheet for eyeballing: test_shapes out.png
        vkd_image sheet;
        uint8_t bg[3] = {200, 200, 200};
        if (!vkd_image_grid(frames, VKD_SHAPE_COUNT, 6, 2, bg, &sheet, NULL)) {
            vkd_png_write(argv[1], &sheet, NULL);
            vkd_image_free(&sheet);
        }
    }
    for (int i = 0; i < VKD_SHAPE_COUNT; i++) vkd_image_free(&frames[i]);
    printf("shapes: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
