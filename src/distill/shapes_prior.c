// A reference-set prior over renders of a procedural object (include/vkdream/refset_prior.h).
#include "vkdream/guidance.h"
#include "vkdream/refset_prior.h"
#include "vkdream/shapes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_AZ 24
#define N_EL 3

static const float ref_elevations[N_EL] = {0, 20, 40};

vkd_status vkd_shapes_prior_create(vkd_gpu* gpu, const vkd_shapes_prior_desc* d, vkd_prior** out, vkd_error* err) {
    *out = NULL;
    vkd_shape shape;
    vkd_shape_color color;
    if (!d->prompt || !vkd_shape_parse_caption(d->prompt, &shape, &color)) {
        char shapes[256] = "", colors[256] = "";
        for (int i = 0; i < VKD_SHAPE_COUNT; i++)
            snprintf(shapes + strlen(shapes), sizeof shapes - strlen(shapes), "%s%s", i ? ", " : "",
                     vkd_shape_name((vkd_shape)i));
        for (int i = 0; i < VKD_COLOR_COUNT; i++)
            snprintf(colors + strlen(colors), sizeof colors - strlen(colors), "%s%s", i ? ", " : "",
                     vkd_shape_color_name((vkd_shape_color)i));
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "the shapes prior knows prompts naming a color and a shape, like \"a red cube\"; "
                             "'%s' names none. Shapes: %s. Colors: %s",
                             d->prompt ? d->prompt : "", shapes, colors);
    }
    uint32_t W = d->width, H = d->height, n = N_AZ * N_EL;
    size_t img = (size_t)3 * W * H;
    float* obj = malloc(sizeof(float) * img * n);
    float* other = malloc(sizeof(float) * img * n);
    float* c2w = malloc(sizeof(float) * 16 * n);
    float* bin_img[VKD_VIEW_COUNT] = {0};
    float* bin_c2w[VKD_VIEW_COUNT] = {0};
    uint32_t bin_count[VKD_VIEW_COUNT] = {0};
    char bin_prompt[VKD_VIEW_COUNT][600];
    vkd_status st = VKD_OK;
    if (!obj || !other || !c2w) {
        st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "shapes prior: out of host memory");
        goto done;
    }
    vkd_shape_object target = {.shape = shape, .color = color};
    vkd_shape_object distractor = {.shape = VKD_SHAPE_SPHERE, .color = VKD_COLOR_GRAY};
    if (shape == VKD_SHAPE_SPHERE && color == VKD_COLOR_GRAY) distractor = (vkd_shape_object){VKD_SHAPE_CUBE, VKD_COLOR_BLACK, 0, 0, 0};
    vkd_shape_render_desc rd = {.background = {d->background[0], d->background[1], d->background[2]}};
    for (uint32_t i = 0; i < n; i++) {
        float az = -180.0f + 360.0f / N_AZ * (float)(i % N_AZ), el = ref_elevations[i / N_AZ];
        vkd_camera cam = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = az, .elevation_deg = el,
                                                            .distance = d->distance, .fov_y_deg = d->fov_y_deg,
                                                            .width = (int32_t)W, .height = (int32_t)H});
        vkd_camera_to_world(&cam, c2w + 16 * i);
        vkd_shape_render(&target, &cam, &rd, obj + img * i, NULL);
        vkd_shape_render(&distractor, &cam, &rd, other + img * i, NULL);
    }
    vkd_refset_set sets[VKD_VIEW_COUNT + 1];
    uint32_t ns = 0;
    if (d->view_prompts) {
        for (int v = 0; v < VKD_VIEW_COUNT; v++) {
            bin_img[v] = malloc(sizeof(float) * img * n);
            bin_c2w[v] = malloc(sizeof(float) * 16 * n);
            if (!bin_img[v] || !bin_c2w[v]) {
                st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "shapes prior: out of host memory");
                goto done;
            }
            for (uint32_t i = 0; i < n; i++) {
                float az = -180.0f + 360.0f / N_AZ * (float)(i % N_AZ), el = ref_elevations[i / N_AZ];
                if ((int)vkd_view_of(az, el) != v) continue;
                uint32_t k = bin_count[v]++;
                memcpy(bin_img[v] + img * k, obj + img * i, sizeof(float) * img);
                memcpy(bin_c2w[v] + 16 * k, c2w + 16 * i, sizeof(float) * 16);
            }
            vkd_view_prompt(bin_prompt[v], sizeof bin_prompt[v], d->prompt, (vkd_view)v);
            if (bin_count[v])
                sets[ns++] = (vkd_refset_set){.prompt = bin_prompt[v], .images = bin_img[v], .c2w = bin_c2w[v],
                                              .count = bin_count[v]};
        }
    } else {
        sets[ns++] = (vkd_refset_set){.prompt = d->prompt, .images = obj, .c2w = c2w, .count = n};
    }
    sets[ns++] = (vkd_refset_set){.prompt = "vkdream shapes prior distractor", .images = other, .c2w = c2w, .count = n};
    vkd_refset_desc desc = {.width = W, .height = H, .sets = sets, .set_count = ns, .view_sigma_deg = 10};
    st = vkd_refset_prior_create(gpu, &desc, out, err);
done:
    for (int v = 0; v < VKD_VIEW_COUNT; v++) free(bin_img[v]), free(bin_c2w[v]);
    free(obj), free(other), free(c2w);
    return st;
}
