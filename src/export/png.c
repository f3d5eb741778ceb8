// PNG files through libpng (simplified API) and small host-side image helpers.
#define _POSIX_C_SOURCE 200809L
#include "vkdream/image.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

vkd_status vkd_image_alloc(vkd_image* img, int width, int height, int channels, vkd_error* err) {
    memset(img, 0, sizeof(*img));
    if (width <= 0 || height <= 0 || (channels != 1 && channels != 3 && channels != 4) || width > 65536 ||
        height > 65536)
        return vkd_error_set(err, VKD_ERR_INVALID, "image %dx%d with %d channels: expected 1..65536 pixels a side "
                             "and 1, 3 or 4 channels", width, height, channels);
    img->pixels = calloc((size_t)width * height * channels, 1);
    if (!img->pixels) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "image %dx%d: out of memory", width, height);
    img->width = width;
    img->height = height;
    img->channels = channels;
    return VKD_OK;
}

void vkd_image_free(vkd_image* img) {
    free(img->pixels);
    memset(img, 0, sizeof(*img));
}

static png_uint_32 format_of(int channels) {
    return channels == 1 ? PNG_FORMAT_GRAY : channels == 3 ? PNG_FORMAT_RGB : PNG_FORMAT_RGBA;
}

vkd_status vkd_png_write(const char* path, const vkd_image* img, vkd_error* err) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)img->width;
    pi.height = (png_uint_32)img->height;
    pi.format = format_of(img->channels);
    if (!png_image_write_to_file(&pi, tmp, 0, img->pixels, 0, NULL)) {
        vkd_status st = vkd_error_set(err, VKD_ERR_IO, "%s: cannot write PNG: %s", path, pi.message);
        remove(tmp);
        return st;
    }
    if (rename(tmp, path))
        return vkd_error_set(err, VKD_ERR_IO, "%s: cannot rename from %s: %s", path, tmp, strerror(errno));
    return VKD_OK;
}

vkd_status vkd_png_read(const char* path, vkd_image* out, vkd_error* err) {
    memset(out, 0, sizeof(*out));
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&pi, path))
        return vkd_error_set(err, VKD_ERR_IO, "%s: not a readable PNG: %s", path, pi.message);
    int channels = (pi.format & PNG_FORMAT_FLAG_ALPHA) ? 4 : (pi.format & PNG_FORMAT_FLAG_COLOR) ? 3 : 1;
    vkd_status st = vkd_image_alloc(out, (int)pi.width, (int)pi.height, channels, err);
    if (st) {
        png_image_free(&pi);
        return vkd_error_prefix(err, "%s: ", path);
    }
    pi.format = format_of(channels);
    if (!png_image_finish_read(&pi, NULL, out->pixels, 0, NULL)) {
        vkd_image_free(out);
        return vkd_error_set(err, VKD_ERR_IO, "%s: corrupt PNG: %s", path, pi.message);
    }
    return VKD_OK;
}

static uint8_t to_u8(float v) {
    if (!(v > 0.0f)) return 0;  // also NaN
    if (v >= 1.0f) return 255;
    return (uint8_t)lrintf(v * 255.0f);
}

void vkd_image_from_planar(vkd_image* dst, const float* chw, const float* alpha, const float bg[3]) {
    size_t plane = (size_t)dst->width * dst->height;
    for (size_t i = 0; i < plane; i++) {
        float a = alpha ? alpha[i] : 1.0f;
        a = a > 1.0f ? 1.0f : a > 0.0f ? a : 0.0f;
        for (int c = 0; c < dst->channels; c++) {
            int sc = c < 3 ? c : 2;
            float v = chw[(size_t)sc * plane + i];
            if (alpha && bg) v = v + (1.0f - a) * bg[sc];  // premultiplied color over the background
            dst->pixels[i * dst->channels + c] = c == 3 ? to_u8(a) : to_u8(v);
        }
    }
}

void vkd_image_from_interleaved(vkd_image* dst, const float* hwc) {
    size_t n = (size_t)dst->width * dst->height * dst->channels;
    for (size_t i = 0; i < n; i++) dst->pixels[i] = to_u8(hwc[i]);
}

vkd_status vkd_image_grid(const vkd_image* frames, int n, int cols, int gap, const uint8_t bg[3], vkd_image* out,
                          vkd_error* err) {
    if (n <= 0) return vkd_error_set(err, VKD_ERR_INVALID, "contact sheet: no frames");
    int w = frames[0].width, h = frames[0].height, ch = frames[0].channels;
    for (int i = 1; i < n; i++)
        if (frames[i].width != w || frames[i].height != h || frames[i].channels != ch)
            return vkd_error_set(err, VKD_ERR_INVALID, "contact sheet: frame %d is %dx%dx%d, expected %dx%dx%d", i,
                                 frames[i].width, frames[i].height, frames[i].channels, w, h, ch);
    if (cols <= 0) cols = (int)ceil(sqrt((double)n));
    int rows = (n + cols - 1) / cols;
    vkd_status st = vkd_image_alloc(out, cols * w + (cols + 1) * gap, rows * h + (rows + 1) * gap, ch, err);
    if (st) return st;
    size_t npix = (size_t)out->width * out->height;
    for (size_t i = 0; i < npix; i++)
        for (int c = 0; c < ch; c++) out->pixels[i * ch + c] = c < 3 ? bg[c] : 255;
    for (int f = 0; f < n; f++) {
        int x0 = gap + (f % cols) * (w + gap), y0 = gap + (f / cols) * (h + gap);
        for (int y = 0; y < h; y++)
            memcpy(out->pixels + ((size_t)(y0 + y) * out->width + x0) * ch,
                   frames[f].pixels + (size_t)y * w * ch, (size_t)w * ch);
    }
    return VKD_OK;
}
