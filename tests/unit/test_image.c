// PNG round trips (gray, RGB, RGBA), float conversion with alpha over a background,
// contact sheets, and errors for missing and corrupt files.
#define _POSIX_C_SOURCE 200809L
#include "vkdream/image.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit/check.h"

int main(void) {
    vkd_error err = {0};
    char path[] = "/tmp/vkd_png_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    for (int ch = 1; ch <= 4; ch++) {
        if (ch == 2) continue;
        vkd_image img, back;
        CHECK(vkd_image_alloc(&img, 7, 5, ch, &err) == VKD_OK, "alloc: %s", err.msg);
        for (int i = 0; i < 7 * 5 * ch; i++) img.pixels[i] = (uint8_t)(i * 37 + 11);
        CHECK(vkd_png_write(path, &img, &err) == VKD_OK, "write: %s", err.msg);
        CHECK(vkd_png_read(path, &back, &err) == VKD_OK, "read: %s", err.msg);
        CHECK(back.width == 7 && back.height == 5 && back.channels == ch, "shape %dx%dx%d", back.width, back.height,
              back.channels);
        CHECK(back.pixels && !memcmp(back.pixels, img.pixels, 7 * 5 * (size_t)ch), "%d-channel pixels differ", ch);
        vkd_image_free(&img);
        vkd_image_free(&back);
    }

    // Planar float with alpha over a background: v + (1 - a) * bg, clamped, NaN -> 0.
    float chw[3 * 2] = {0.5f, 2.0f, 0.0f, -1.0f, 0.25f, 0.0f / 0.0f};
    float alpha[2] = {0.5f, 1.0f};
    float bg[3] = {1.0f, 0.0f, 0.5f};
    vkd_image im;
    CHECK(vkd_image_alloc(&im, 2, 1, 3, &err) == VKD_OK, "alloc");
    vkd_image_from_planar(&im, chw, alpha, bg);
    // pixel 0: (0.5 + 0.5*1, 0 + 0.5*0, 0.25 + 0.5*0.5); pixel 1: (2 -> 1, -1 -> 0, NaN -> 0)
    uint8_t expect[6] = {255, 0, 128, 255, 0, 0};
    CHECK(!memcmp(im.pixels, expect, 6), "planar: %u %u %u %u %u %u", im.pixels[0], im.pixels[1], im.pixels[2],
          im.pixels[3], im.pixels[4], im.pixels[5]);

    // Contact sheet: 3 frames of 2x1 in 2 columns with a 1-pixel gap -> 7 x 5.
    vkd_image frames[3], sheet;
    for (int f = 0; f < 3; f++) {
        vkd_image_alloc(&frames[f], 2, 1, 3, &err);
        memset(frames[f].pixels, 10 * (f + 1), 6);
    }
    uint8_t gray[3] = {128, 128, 128};
    CHECK(vkd_image_grid(frames, 3, 2, 1, gray, &sheet, &err) == VKD_OK, "grid: %s", err.msg);
    CHECK(sheet.width == 7 && sheet.height == 5, "sheet %dx%d", sheet.width, sheet.height);
    CHECK(sheet.pixels[(1 * 7 + 1) * 3] == 10 && sheet.pixels[(1 * 7 + 4) * 3] == 20 &&
              sheet.pixels[(3 * 7 + 1) * 3] == 30 && sheet.pixels[(3 * 7 + 4) * 3] == 128 && sheet.pixels[0] == 128,
          "sheet layout");
    frames[2].width = 3;
    CHECK(vkd_image_grid(frames, 3, 2, 1, gray, &sheet, &err) == VKD_ERR_INVALID && strstr(err.msg, "frame 2"),
          "mismatched frame: %s", err.msg);
    frames[2].width = 2;
    for (int f = 0; f < 3; f++) vkd_image_free(&frames[f]);

    // Errors name the file.
    vkd_image bad;
    CHECK(vkd_png_read("/nonexistent/a.png", &bad, &err) == VKD_ERR_IO && strstr(err.msg, "/nonexistent/a.png"),
          "missing: %s", err.msg);
    FILE* f = fopen(path, "wb");
    fputs("\x89PNG\r\n\x1a\nnot really", f);
    fclose(f);
    CHECK(vkd_png_read(path, &bad, &err) == VKD_ERR_IO && strstr(err.msg, path), "corrupt: %s", err.msg);
    unlink(path);
    vkd_image_free(&im);
    vkd_image_free(&sheet);
    printf("image: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
