// Samples the built-in prior (or any pixel-space model in its diffusers layout) with DDIM and
// classifier-free guidance, one image per caption, and scores each image against the
// caption's ground truth (include/vkdream/prior/builtin.h): dominant color and silhouette IoU
// against renders of the true shape from the caption's view. Prints a score table per shape,
// per color, per view and overall.
//
//   sample_prior [MODEL_DIR] [--count N] [--steps 50] [--guidance 3] [--out DIR]   (see --help)
#define _POSIX_C_SOURCE 200809L
#include "vkdream/image.h"
#include "vkdream/prior/builtin.h"
#include "vkdream/prior/sd.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double uniform(uint64_t* s) { return (double)(mix64(*s += 0x9E3779B97F4A7C15ull) >> 11) / 9007199254740992.0; }

static void usage(FILE* f) {
    fprintf(f,
            "usage: sample_prior [MODEL_DIR] [options]\n"
            "Samples one image per caption from a pixel-space diffusers folder (default assets/builtin)\n"
            "with DDIM + classifier-free guidance and scores it against the caption's ground truth:\n"
            "dominant color (nearest of the true shape rendered in the 12 colors) and silhouette IoU\n"
            "(best over the yaw/scale range of the training data) from the caption's view camera.\n"
            "\n"
            "  --count N          the evaluation set's first N captions (default 24; 132 = every\n"
            "                     shape x color pair once, views spread by a hash)\n"
            "  --caption TEXT     score this caption instead (repeatable; \"a <color> <shape>, <view> view\")\n"
            "  --steps N          DDIM steps (default 50)\n"
            "  --guidance S       CFG scale (default 3)\n"
            "  --seed S           initial noise (default 0)\n"
            "  --batch B          images per UNet call (default 16)\n"
            "  --out DIR          write sample_<i>.png, sheet.png (samples, then the truth renders) and\n"
            "                     scores.csv there\n"
            "  --reference        score the true renders instead of samples (the metric's ceiling)\n"
            "  --min-color F      exit 1 unless the overall color accuracy is at least F (0..1)\n"
            "  --min-iou F        exit 1 unless the overall mean IoU is at least F (for tests)\n"
            "  --help\n");
}

// Caption i of the evaluation set: shape i mod 11 and color i mod 12 (every pair once in 132),
// the view from a hash of i.
static uint32_t eval_caption(uint32_t i) {
    uint32_t view = (uint32_t)(mix64(0x5EED0000ull + i) % VKD_BUILTIN_VIEW_COUNT);
    return vkd_builtin_caption_index((vkd_shape)(i % VKD_SHAPE_COUNT), (vkd_shape_color)(i % VKD_COLOR_COUNT),
                                     (vkd_builtin_view)view);
}

typedef struct tally {
    uint32_t n, color_ok;
    double iou;
} tally;

static void tally_add(tally* t, const vkd_builtin_score* s) {
    t->n++;
    t->color_ok += s->color_ok;
    t->iou += s->iou;
}

static void print_row(const char* name, const tally* t) {
    if (!t->n) return;
    printf("  %-10s %4u   %6.1f%%   %6.3f\n", name, t->n, 100.0 * t->color_ok / t->n, t->iou / t->n);
}

int main(int argc, char** argv) {
    const char* model = "assets/builtin";
    const char* out = NULL;
    uint32_t count = 24, batch = 16;
    vkd_builtin_sample_desc sdesc = {.steps = 50, .guidance = 3.0f};
    bool reference = false;
    float min_color = 0, min_iou = 0;
    const char** custom = calloc((size_t)argc, sizeof(char*));
    uint32_t ncustom = 0;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        const char* v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--reference")) reference = true;
        else if (a[0] != '-') model = a;
        else if (!v) {
            fprintf(stderr, "sample_prior: %s needs a value (see --help)\n", a);
            return 2;
        } else {
            i++;
            char* end = NULL;
            if (!strcmp(a, "--count")) count = (uint32_t)strtoul(v, &end, 10);
            else if (!strcmp(a, "--steps")) sdesc.steps = (uint32_t)strtoul(v, &end, 10);
            else if (!strcmp(a, "--guidance")) sdesc.guidance = strtof(v, &end);
            else if (!strcmp(a, "--seed")) sdesc.seed = strtoull(v, &end, 10);
            else if (!strcmp(a, "--batch")) batch = (uint32_t)strtoul(v, &end, 10);
            else if (!strcmp(a, "--out")) out = v;
            else if (!strcmp(a, "--caption")) custom[ncustom++] = v;
            else if (!strcmp(a, "--min-color")) min_color = strtof(v, &end);
            else if (!strcmp(a, "--min-iou")) min_iou = strtof(v, &end);
            else {
                fprintf(stderr, "sample_prior: unknown option %s (see --help)\n", a);
                return 2;
            }
            if (end && (*end || end == v)) {
                fprintf(stderr, "sample_prior: %s: bad value %s\n", a, v);
                return 2;
            }
        }
    }
    sdesc.batch = batch;
    uint32_t n = ncustom ? ncustom : count;
    if (!n || !sdesc.steps || !batch) {
        fprintf(stderr, "sample_prior: nothing to do (count, steps and batch must be > 0)\n");
        return 2;
    }
    char** captions = calloc(n, sizeof(char*));
    vkd_shape* shapes = calloc(n, sizeof(vkd_shape));
    vkd_shape_color* colors = calloc(n, sizeof(vkd_shape_color));
    vkd_builtin_view* views = calloc(n, sizeof(vkd_builtin_view));
    for (uint32_t i = 0; i < n; i++) {
        captions[i] = malloc(VKD_BUILTIN_CAPTION_MAX * 2);
        if (ncustom) {
            snprintf(captions[i], VKD_BUILTIN_CAPTION_MAX * 2, "%s", custom[i]);
            if (!vkd_builtin_parse_caption(custom[i], &shapes[i], &colors[i], &views[i])) {
                fprintf(stderr, "sample_prior: \"%s\" names no known color and shape\n", custom[i]);
                return 2;
            }
            if (views[i] == VKD_BUILTIN_VIEW_COUNT) views[i] = VKD_BUILTIN_FRONT;
        } else {
            uint32_t c = eval_caption(i);
            vkd_builtin_caption(c, captions[i], VKD_BUILTIN_CAPTION_MAX);
            vkd_builtin_caption_parts(c, &shapes[i], &colors[i], &views[i]);
        }
    }

    vkd_error err = {0};
    vkd_gpu* gpu = NULL;
    vkd_sd_model* m = NULL;
    uint32_t S = 32;
    float* rgb = NULL;
    double t0 = now_s();
    if (!reference) {
        if (vkd_gpu_create(&(vkd_gpu_desc){0}, &gpu, &err) ||
            vkd_sd_load(gpu, model, &(vkd_sd_load_desc){.no_vae = true}, &m, &err)) {
            fprintf(stderr, "sample_prior: %s\n", err.msg);
            return 1;
        }
        if (!m->tok || !m->arch.has_text || !m->arch.has_unet || !m->has_sched) {
            fprintf(stderr, "sample_prior: %s needs tokenizer/, text_encoder/, unet/ and scheduler/\n", model);
            return 1;
        }
        S = m->unet.d.sample_size;
        rgb = malloc((size_t)n * 3 * S * S * sizeof(float));
        vkd_builtin_net net = {.tok = m->tok, .clip = &m->clip, .text_p = &m->text_p, .unet = &m->unet,
                               .unet_p = &m->unet_p, .sched = &m->sched};
        printf("sample_prior: %s: %u captions, DDIM %u steps, guidance %g, %ux%u\n", model, n, sdesc.steps,
               (double)sdesc.guidance, S, S);
        fflush(stdout);
        if (vkd_builtin_sample(gpu, &net, (const char* const*)captions, n, &sdesc, rgb, &err)) {
            fprintf(stderr, "sample_prior: %s\n", err.msg);
            return 1;
        }
    } else {
        rgb = malloc((size_t)n * 3 * S * S * sizeof(float));
        // The true object with the training data's random variations, from the view camera.
        for (uint32_t i = 0; i < n; i++) {
            uint64_t r = mix64(sdesc.seed * 1000003ull + i);
            vkd_shape_object o = {.shape = shapes[i], .color = colors[i],
                                  .scale = (float)(0.85 + 0.25 * uniform(&r)),
                                  .yaw_deg = (float)(30 * uniform(&r) - 15), .shiny = uniform(&r) < 0.3};
            float az, el;
            vkd_builtin_view_camera(views[i], S, &az, &el);
            vkd_builtin_render(&o, az, el, VKD_BUILTIN_VIEW_DISTANCE, VKD_BUILTIN_VIEW_FOV, S, 0,
                               rgb + (size_t)i * 3 * S * S);
        }
    }
    double t_sample = now_s() - t0;

    tally by_shape[VKD_SHAPE_COUNT] = {0}, by_color[VKD_COLOR_COUNT] = {0}, by_view[VKD_BUILTIN_VIEW_COUNT] = {0},
          all = {0};
    FILE* csv = NULL;
    char path[4200];
    if (out) {
        mkdir(out, 0755);
        snprintf(path, sizeof path, "%s/scores.csv", out);
        csv = fopen(path, "w");
        if (csv) fprintf(csv, "index,caption,pred_color,color_ok,iou,fg_fraction\n");
    }
    vkd_image* frames = calloc((size_t)2 * n, sizeof(vkd_image));
    for (uint32_t i = 0; i < n; i++) {
        const float* img = rgb + (size_t)i * 3 * S * S;
        vkd_builtin_score sc;
        vkd_builtin_score_image(img, S, shapes[i], colors[i], views[i], &sc);
        tally_add(&by_shape[shapes[i]], &sc);
        tally_add(&by_color[colors[i]], &sc);
        tally_add(&by_view[views[i]], &sc);
        tally_add(&all, &sc);
        const char* pc = sc.color < VKD_COLOR_COUNT ? vkd_shape_color_name(sc.color) : "none";
        printf("  %3u  %-36s color %-7s %s  IoU %.3f\n", i, captions[i], pc, sc.color_ok ? "ok " : "BAD", (double)sc.iou);
        if (csv) fprintf(csv, "%u,\"%s\",%s,%d,%.4f,%.4f\n", i, captions[i], pc, sc.color_ok, (double)sc.iou,
                         (double)sc.fg_fraction);
        if (out) {
            vkd_image_alloc(&frames[i], (int)S, (int)S, 3, &err);
            vkd_image_from_planar(&frames[i], img, NULL, NULL);
            snprintf(path, sizeof path, "%s/sample_%03u.png", out, i);
            if (vkd_png_write(path, &frames[i], &err)) fprintf(stderr, "sample_prior: %s\n", err.msg);
            // The truth next to it: the true shape from the same camera.
            float* truth = malloc((size_t)3 * S * S * sizeof(float));
            vkd_shape_object o = {.shape = shapes[i], .color = colors[i], .scale = 1};
            float az, el;
            vkd_builtin_view_camera(views[i], S, &az, &el);
            vkd_builtin_render(&o, az, el, VKD_BUILTIN_VIEW_DISTANCE, VKD_BUILTIN_VIEW_FOV, S, 0, truth);
            vkd_image_alloc(&frames[n + i], (int)S, (int)S, 3, &err);
            vkd_image_from_planar(&frames[n + i], truth, NULL, NULL);
            free(truth);
        }
    }
    if (csv) fclose(csv);
    if (out) {
        // Samples in rows of up to 12, then the truth renders in the same arrangement.
        int cols = n < 12 ? (int)n : 12;
        vkd_image a = {0}, b = {0}, sheet = {0};
        const uint8_t bg[3] = {128, 128, 128};
        if (!vkd_image_grid(frames, (int)n, cols, 2, bg, &a, &err) &&
            !vkd_image_grid(frames + n, (int)n, cols, 2, bg, &b, &err) &&
            !vkd_image_alloc(&sheet, a.width, a.height * 2 + 4, 3, &err)) {
            memset(sheet.pixels, 128, (size_t)sheet.width * sheet.height * 3);
            memcpy(sheet.pixels, a.pixels, (size_t)a.width * a.height * 3);
            memcpy(sheet.pixels + (size_t)a.width * (a.height + 4) * 3, b.pixels, (size_t)b.width * b.height * 3);
            snprintf(path, sizeof path, "%s/sheet.png", out);
            if (vkd_png_write(path, &sheet, &err)) fprintf(stderr, "sample_prior: %s\n", err.msg);
        }
        vkd_image_free(&a);
        vkd_image_free(&b);
        vkd_image_free(&sheet);
        for (uint32_t i = 0; i < 2 * n; i++) vkd_image_free(&frames[i]);
    }
    free(frames);

    printf("\nscores (%s; color = dominant color correct, IoU = silhouette vs the true shape)\n",
           reference ? "true renders" : "samples");
    printf("  %-10s %4s   %7s   %6s\n", "shape", "n", "color", "IoU");
    for (int s = 0; s < VKD_SHAPE_COUNT; s++) print_row(vkd_shape_name((vkd_shape)s), &by_shape[s]);
    printf("  %-10s %4s   %7s   %6s\n", "color", "n", "color", "IoU");
    for (int c = 0; c < VKD_COLOR_COUNT; c++) print_row(vkd_shape_color_name((vkd_shape_color)c), &by_color[c]);
    printf("  %-10s %4s   %7s   %6s\n", "view", "n", "color", "IoU");
    for (int v = 0; v < VKD_BUILTIN_VIEW_COUNT; v++) print_row(vkd_builtin_view_name((vkd_builtin_view)v), &by_view[v]);
    print_row("overall", &all);
    if (!reference)
        printf("sampling: %.1f s (%.2f s per image)\n", t_sample, t_sample / n);
    int rc = 0;
    double acc = all.n ? (double)all.color_ok / all.n : 0, iou = all.n ? all.iou / all.n : 0;
    if (acc < min_color || iou < min_iou) {
        fprintf(stderr, "sample_prior: below the bar: color %.3f (min %.3f), IoU %.3f (min %.3f)\n", acc, min_color,
                iou, min_iou);
        rc = 1;
    }
    for (uint32_t i = 0; i < n; i++) free(captions[i]);
    free(captions), free(shapes), free(colors), free(views), free(custom), free(rgb);
    vkd_sd_free(m);
    if (gpu) vkd_gpu_destroy(gpu);
    return rc;
}
