// Scores a generated 3DGS asset against the ground truth of its prompt: the procedural object
// the prompt names ("a red cube"), rendered by the shapes sphere tracer from held-out views.
//
//   score_asset ASSET.ply "<prompt>" [--views N] [--size S] [--out FILE.png]
//               [--min-iou F] [--max-color-error F] [--need-color]   (exit 1 when missed: for tests)
//
// Held-out views: N azimuths at elevation 20 degrees, offset by half a step from the front
// (0) so none is a cardinal training direction, at the distillation's default orbit
// (distance 2.5, fov 47.5). Both images are rendered over a white background.
//   IoU          silhouette IoU (alpha > 0.5), mean over the views
//   color error  mean |rgb difference| inside the true silhouette, mean over the views
// The true object is posed at the best scale x yaw of the training data's ranges (scale
// 0.85..1.1, yaw -15..15: the prior never saw a canonical size or heading), chosen by the mean
// IoU. Prints one line: prompt, IoU, color error, scale, yaw; exits 1 on bad input.
#define _POSIX_C_SOURCE 200809L
#include "vkdream/gaussians.h"
#include "vkdream/gpu.h"
#include "vkdream/image.h"
#include "vkdream/shapes.h"
#include "vkdream/splat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE* f) {
    fprintf(f,
            "usage: score_asset ASSET.ply \"<prompt>\" [--views N] [--size S] [--out FILE.png]\n"
            "Renders a generated 3DGS asset from N held-out views (default 8; azimuths offset from the\n"
            "training directions, elevation 20, distance 2.5, fov 47.5) at S x S (default 128) and compares\n"
            "them with the procedural object the prompt names (\"a <color> <shape>\"): silhouette IoU and the\n"
            "mean color error inside the true silhouette. --out writes the renders above the truth.\n"
            "Also names the asset's dominant color: its foreground mean's nearest among the true shape\n"
            "rendered in each of the 12 colors (shading accounted for).\n"
            "--min-iou F / --max-color-error F / --need-color: exit 1 when the asset misses that bar\n"
            "(--need-color: the dominant color must be the prompt's); for tests.\n");
}

typedef struct score {
    double iou, color;
} score;

static score compare(const float* rgb, const float* alpha, const float* trgb, const float* talpha, int views,
                     size_t pix) {
    score s = {0};
    for (int v = 0; v < views; v++) {
        size_t inter = 0, uni = 0, inside = 0;
        double cerr = 0;
        for (size_t i = 0; i < pix; i++) {
            bool a = alpha[v * pix + i] > 0.5f, b = talpha[v * pix + i] > 0.5f;
            inter += a && b, uni += a || b;
            if (b) {
                inside++;
                for (int c = 0; c < 3; c++)
                    cerr += fabs(rgb[(v * 3 + c) * pix + i] - trgb[(v * 3 + c) * pix + i]) / 3;
            }
        }
        s.iou += uni ? (double)inter / (double)uni : 1;
        s.color += inside ? cerr / (double)inside : 0;
    }
    s.iou /= views, s.color /= views;
    return s;
}

int main(int argc, char** argv) {
    const char *asset = NULL, *prompt = NULL, *out = NULL;
    int views = 8, size = 128;
    double min_iou = 0, max_color = INFINITY;
    bool need_color = false;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--views") && i + 1 < argc) {
            views = atoi(argv[++i]);
        } else if (!strcmp(a, "--size") && i + 1 < argc) {
            size = atoi(argv[++i]);
        } else if (!strcmp(a, "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(a, "--min-iou") && i + 1 < argc) {
            min_iou = atof(argv[++i]);
        } else if (!strcmp(a, "--need-color")) {
            need_color = true;
        } else if (!strcmp(a, "--max-color-error") && i + 1 < argc) {
            max_color = atof(argv[++i]);
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "score_asset: unknown option %s\n", a);
            usage(stderr);
            return 2;
        } else if (!asset) {
            asset = a;
        } else if (!prompt) {
            prompt = a;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!asset || !prompt || views < 1 || views > 64 || size < 16 || size > 1024) {
        usage(stderr);
        return 2;
    }
    vkd_shape shape;
    vkd_shape_color color;
    if (!vkd_shape_parse_caption(prompt, &shape, &color)) {
        fprintf(stderr, "score_asset: \"%s\" names no known color and shape (e.g. \"a red cube\")\n", prompt);
        return 2;
    }

    vkd_error err = {0};
    vkd_gpu* gpu = NULL;
    vkd_stream* s = NULL;
    vkd_gaussians* g = NULL;
    vkd_splat_ctx* ctx = NULL;
    vkd_buffer rgb_b = {0}, alpha_b = {0};
    size_t pix = (size_t)size * size;
    float* rgb = malloc(sizeof(float) * 3 * pix * views);
    float* alpha = malloc(sizeof(float) * pix * views);
    float* trgb = malloc(sizeof(float) * 3 * pix * views);
    float* talpha = malloc(sizeof(float) * pix * views);
    vkd_camera* cams = calloc((size_t)views, sizeof *cams);
    int rc = 1;
    if (!rgb || !alpha || !trgb || !talpha || !cams) {
        fprintf(stderr, "score_asset: out of host memory\n");
        goto done;
    }
    for (int v = 0; v < views; v++)
        cams[v] = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = -180.0f + 360.0f * ((float)v + 0.5f) / (float)views,
                                                     .elevation_deg = 20.0f, .distance = 2.5f, .fov_y_deg = 47.5f,
                                                     .width = size, .height = size});
    static const float white[3] = {1, 1, 1};
    vkd_splat_params sp;
    vkd_status st = vkd_gpu_create(&(vkd_gpu_desc){0}, &gpu, &err);
    if (!st) st = vkd_stream_create(gpu, &s, &err);
    if (!st) st = vkd_gaussians_load_ply(gpu, s, asset, &(vkd_gaussians_desc){0}, &g, &err);
    if (!st) st = vkd_splat_ctx_create(gpu, NULL, &ctx, &err);
    if (!st) st = vkd_buffer_alloc(gpu, sizeof(float) * 3 * pix * views, &rgb_b, &err);
    if (!st) st = vkd_buffer_alloc(gpu, sizeof(float) * pix * views, &alpha_b, &err);
    if (!st) {
        vkd_gaussians_params(g, &sp);
        st = vkd_splat_forward(ctx, s, &(vkd_splat_outputs){.rgb = rgb_b.addr, .alpha = alpha_b.addr}, &sp, cams, views,
                               white, &err);
    }
    if (!st) st = vkd_stream_submit(s, &err);
    if (!st) st = vkd_buffer_download(gpu, &rgb_b, 0, rgb, sizeof(float) * 3 * pix * views, &err);
    if (!st) st = vkd_buffer_download(gpu, &alpha_b, 0, alpha, sizeof(float) * pix * views, &err);
    if (st) {
        fprintf(stderr, "score_asset: %s\n", err.msg);
        goto done;
    }

    // The truth at the best pose of the training ranges.
    static const float scales[] = {0.85f, 0.92f, 1.0f, 1.1f}, yaws[] = {-15.0f, 0.0f, 15.0f};
    score best = {-1, 0};
    float best_scale = 1, best_yaw = 0;
    for (size_t si = 0; si < sizeof scales / sizeof scales[0]; si++)
        for (size_t yi = 0; yi < sizeof yaws / sizeof yaws[0]; yi++) {
            vkd_shape_object obj = {.shape = shape, .color = color, .scale = scales[si], .yaw_deg = yaws[yi]};
            for (int v = 0; v < views; v++)
                vkd_shape_render(&obj, &cams[v], &(vkd_shape_render_desc){.background = {1, 1, 1}},
                                 trgb + (size_t)v * 3 * pix, talpha + (size_t)v * pix);
            score sc = compare(rgb, alpha, trgb, talpha, views, pix);
            if (sc.iou > best.iou) best = sc, best_scale = scales[si], best_yaw = yaws[yi];
        }
    if (out) {
        // Render the chosen truth again for the sheet: renders on the top row, truth below.
        vkd_shape_object obj = {.shape = shape, .color = color, .scale = best_scale, .yaw_deg = best_yaw};
        for (int v = 0; v < views; v++)
            vkd_shape_render(&obj, &cams[v], &(vkd_shape_render_desc){.background = {1, 1, 1}},
                             trgb + (size_t)v * 3 * pix, talpha + (size_t)v * pix);
        vkd_image* tiles = calloc(2 * (size_t)views, sizeof *tiles);
        vkd_image sheet = {0};
        st = tiles ? VKD_OK : vkd_error_set(&err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
        for (int v = 0; v < views && !st; v++) {
            st = vkd_image_alloc(&tiles[v], size, size, 3, &err);
            if (!st) st = vkd_image_alloc(&tiles[views + v], size, size, 3, &err);
            if (!st) {
                vkd_image_from_planar(&tiles[v], rgb + (size_t)v * 3 * pix, NULL, NULL);
                vkd_image_from_planar(&tiles[views + v], trgb + (size_t)v * 3 * pix, NULL, NULL);
            }
        }
        uint8_t bg[3] = {255, 255, 255};
        if (!st) st = vkd_image_grid(tiles, 2 * views, views, 2, bg, &sheet, &err);
        if (!st) st = vkd_png_write(out, &sheet, &err);
        vkd_image_free(&sheet);
        for (int v = 0; tiles && v < 2 * views; v++) vkd_image_free(&tiles[v]);
        free(tiles);
        if (st) {
            fprintf(stderr, "score_asset: %s\n", err.msg);
            goto done;
        }
    }
    // Dominant color: the mean color of the asset's foreground against the true shape (at the
    // chosen pose) rendered in each of the 12 colors, so shading is accounted for; the nearest
    // names the asset's color. (The color error above also counts shading the asset lacks.)
    double mean[3] = {0, 0, 0}, nfg = 0;
    for (int v = 0; v < views; v++)
        for (size_t i = 0; i < pix; i++)
            if (alpha[v * pix + i] > 0.5f) {
                nfg++;
                for (int c = 0; c < 3; c++) mean[c] += rgb[(v * 3 + c) * pix + i];
            }
    int named = -1;
    double named_d = INFINITY;
    for (int k = 0; k < VKD_COLOR_COUNT && nfg > 0; k++) {
        vkd_shape_object obj = {.shape = shape, .color = (vkd_shape_color)k, .scale = best_scale, .yaw_deg = best_yaw};
        double tm[3] = {0, 0, 0}, tn = 0;
        for (int v = 0; v < views; v++) {
            vkd_shape_render(&obj, &cams[v], &(vkd_shape_render_desc){.background = {1, 1, 1}}, trgb, talpha);
            for (size_t i = 0; i < pix; i++)
                if (talpha[i] > 0.5f) {
                    tn++;
                    for (int c = 0; c < 3; c++) tm[c] += trgb[c * pix + i];
                }
        }
        double d = 0;
        for (int c = 0; c < 3; c++) d += (mean[c] / nfg - tm[c] / tn) * (mean[c] / nfg - tm[c] / tn);
        if (tn > 0 && d < named_d) named_d = d, named = k;
    }
    bool color_ok = named == (int)color;
    printf("%-28s IoU %.3f  color error %.3f  color %s (%s)  (truth at scale %.2f, yaw %+.0f)\n", prompt, best.iou,
           best.color, named >= 0 ? vkd_shape_color_name((vkd_shape_color)named) : "none",
           color_ok ? "right" : "wrong", best_scale, best_yaw);
    rc = best.iou >= min_iou && best.color <= max_color && (!need_color || color_ok) ? 0 : 1;
    if (rc)
        fprintf(stderr, "score_asset: %s misses the bar: IoU %.3f (min %.3f), color error %.3f (max %.3f), color %s\n",
                asset, best.iou, min_iou, best.color, max_color, color_ok ? "right" : "wrong");
done:
    if (rgb_b.addr) vkd_buffer_free(gpu, &rgb_b);
    if (alpha_b.addr) vkd_buffer_free(gpu, &alpha_b);
    if (ctx) vkd_splat_ctx_destroy(ctx);
    if (g) vkd_gaussians_destroy(g);
    if (s) vkd_stream_destroy(s);
    if (gpu) vkd_gpu_destroy(gpu);
    free(rgb), free(alpha), free(trgb), free(talpha), free(cams);
    return rc;
}
