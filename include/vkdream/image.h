// vkdream images on the host: PNG read/write (libpng), float <-> 8-bit conversion, and
// contact sheets. Pixels are 8-bit, row-major, interleaved (H, W, C) with C = 1, 3 or 4.
#ifndef VKDREAM_IMAGE_H
#define VKDREAM_IMAGE_H

#include "vkdream/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vkd_image {
    int width, height, channels;
    uint8_t* pixels;  // width * height * channels bytes, malloc'ed
} vkd_image;

vkd_status vkd_image_alloc(vkd_image* img, int width, int height, int channels, vkd_error* err);
void vkd_image_free(vkd_image* img);

// Writes "<path>.tmp" then renames, so an interrupted write never leaves a truncated PNG.
vkd_status vkd_png_write(const char* path, const vkd_image* img, vkd_error* err);
// Reads any PNG (palette, gray, 16-bit and interlaced are converted) as 8-bit with
// 1 (gray), 3 (RGB) or 4 (RGBA, when the file has alpha) channels.
vkd_status vkd_png_read(const char* path, vkd_image* out, vkd_error* err);

// Converts a planar float image (C, H, W) in [0, 1] (clamped; NaN -> 0) to 8-bit (H, W, C),
// optionally compositing over background rgb with a (H, W) alpha plane (alpha NULL = opaque).
void vkd_image_from_planar(vkd_image* dst, const float* chw, const float* alpha, const float bg[3]);
// Same from interleaved float (H, W, C).
void vkd_image_from_interleaved(vkd_image* dst, const float* hwc);

// Tiles n equally sized images into a grid of `cols` columns (0 = about square), with a
// `gap` pixel border of color bg (gray for 1-channel images uses bg[0]).
vkd_status vkd_image_grid(const vkd_image* frames, int n, int cols, int gap, const uint8_t bg[3], vkd_image* out,
                          vkd_error* err);

#ifdef __cplusplus
}
#endif
#endif
