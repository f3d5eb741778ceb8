// The built-in prior's dataset: captioned renders of procedural objects, generated on the fly
// (include/vkdream/prior/builtin.h).
#include "vkdream/prior/builtin.h"
#include "prior/builtin_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char* const view_names[VKD_BUILTIN_VIEW_COUNT] = {"front", "side", "back", "overhead"};

const char* vkd_builtin_view_name(vkd_builtin_view v) {
    return (unsigned)v < VKD_BUILTIN_VIEW_COUNT ? view_names[v] : "unknown";
}

vkd_builtin_view vkd_builtin_view_of(float azimuth_deg, float elevation_deg) {
    if (elevation_deg > 60.0f) return VKD_BUILTIN_OVERHEAD;
    double a = fmod((double)azimuth_deg + 180.0, 360.0);
    if (a < 0) a += 360.0;
    a -= 180.0;
    if (fabs(a) < 45.0) return VKD_BUILTIN_FRONT;
    if (fabs(a) > 135.0) return VKD_BUILTIN_BACK;
    return VKD_BUILTIN_SIDE;
}

uint32_t vkd_builtin_caption_index(vkd_shape shape, vkd_shape_color color, vkd_builtin_view view) {
    return ((uint32_t)shape * VKD_COLOR_COUNT + (uint32_t)color) * VKD_BUILTIN_VIEW_COUNT + (uint32_t)view;
}

void vkd_builtin_caption_parts(uint32_t index, vkd_shape* shape, vkd_shape_color* color, vkd_builtin_view* view) {
    if (view) *view = (vkd_builtin_view)(index % VKD_BUILTIN_VIEW_COUNT);
    index /= VKD_BUILTIN_VIEW_COUNT;
    if (color) *color = (vkd_shape_color)(index % VKD_COLOR_COUNT);
    if (shape) *shape = (vkd_shape)(index / VKD_COLOR_COUNT);
}

void vkd_builtin_caption(uint32_t index, char* out, size_t size) {
    if (index >= VKD_BUILTIN_CAPTIONS) {
        if (size) out[0] = 0;
        return;
    }
    vkd_shape s;
    vkd_shape_color c;
    vkd_builtin_view v;
    vkd_builtin_caption_parts(index, &s, &c, &v);
    snprintf(out, size, "a %s %s, %s view", vkd_shape_color_name(c), vkd_shape_name(s), vkd_builtin_view_name(v));
}

bool vkd_builtin_parse_caption(const char* text, vkd_shape* shape, vkd_shape_color* color, vkd_builtin_view* view) {
    if (!vkd_shape_parse_caption(text, shape, color)) return false;
    if (view) {
        *view = VKD_BUILTIN_VIEW_COUNT;
        char low[512];
        size_t n = 0;
        for (; text[n] && n + 1 < sizeof low; n++) low[n] = (char)tolower((unsigned char)text[n]);
        low[n] = 0;
        for (int v = 0; v < VKD_BUILTIN_VIEW_COUNT; v++) {
            char word[32];
            snprintf(word, sizeof word, "%s view", view_names[v]);
            const char* p = strstr(low, word);
            if (p && (p == low || !isalpha((unsigned char)p[-1]))) {
                *view = (vkd_builtin_view)v;
                break;
            }
        }
    }
    return true;
}

static void range_default(float r[2], float lo, float hi) {
    if (r[0] == 0 && r[1] == 0) r[0] = lo, r[1] = hi;
}

void vkd_builtin_data_resolve(const vkd_builtin_data_desc* d, vkd_builtin_data_desc* out) {
    *out = d ? *d : (vkd_builtin_data_desc){0};
    if (!out->size) out->size = 32;
    if (out->uncond_prob == 0) out->uncond_prob = 0.1f;
    range_default(out->elevation_deg, -10, 80);
    range_default(out->azimuth_deg, -180, 180);
    range_default(out->distance, 2.3f, 2.7f);
    range_default(out->fov_y_deg, 45, 50);
    range_default(out->scale, 0.85f, 1.1f);
    if (out->yaw_jitter_deg == 0) out->yaw_jitter_deg = 15;
    if (out->shiny_prob == 0) out->shiny_prob = 0.3f;
    if (!out->supersample) out->supersample = 2;
}

void vkd_builtin_example_get(const vkd_builtin_data_desc* desc, uint64_t index, vkd_builtin_example* ex, float* x) {
    vkd_builtin_data_desc d;
    vkd_builtin_data_resolve(desc, &d);
    bi_rng r = bi_rng_for(d.seed, index, BI_STREAM_DATA);
    memset(ex, 0, sizeof(*ex));
    ex->obj.shape = (vkd_shape)(bi_u64(&r) % VKD_SHAPE_COUNT);
    ex->obj.color = (vkd_shape_color)(bi_u64(&r) % VKD_COLOR_COUNT);
    ex->obj.scale = (float)bi_range(&r, d.scale);
    ex->obj.yaw_deg = (float)(d.yaw_jitter_deg * (2 * bi_uniform(&r) - 1));
    double shiny = bi_uniform(&r);
    ex->obj.shiny = d.shiny_prob > 0 && shiny < d.shiny_prob;
    ex->azimuth_deg = (float)bi_range(&r, d.azimuth_deg);
    ex->elevation_deg = (float)bi_range(&r, d.elevation_deg);
    ex->distance = (float)bi_range(&r, d.distance);
    ex->fov_y_deg = (float)bi_range(&r, d.fov_y_deg);
    ex->view = vkd_builtin_view_of(ex->azimuth_deg, ex->elevation_deg);
    ex->caption_index = vkd_builtin_caption_index(ex->obj.shape, ex->obj.color, ex->view);
    double drop = bi_uniform(&r);
    ex->cond_index = d.uncond_prob > 0 && drop < d.uncond_prob ? VKD_BUILTIN_UNCOND : ex->caption_index;
    vkd_builtin_caption(ex->cond_index, ex->caption, sizeof ex->caption);
    if (!x) return;
    vkd_builtin_render(&ex->obj, ex->azimuth_deg, ex->elevation_deg, ex->distance, ex->fov_y_deg, d.size,
                       d.supersample, x);
    size_t n = (size_t)3 * d.size * d.size;
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * x[i] - 1.0f;
}

void vkd_builtin_render(const vkd_shape_object* obj, float azimuth_deg, float elevation_deg, float distance,
                        float fov_y_deg, uint32_t size, uint32_t supersample, float* rgb) {
    uint32_t f = supersample ? supersample : 2, big = size * f;
    vkd_camera cam = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = azimuth_deg, .elevation_deg = elevation_deg,
                                                        .distance = distance, .fov_y_deg = fov_y_deg,
                                                        .width = (int32_t)big, .height = (int32_t)big});
    vkd_shape_render_desc rd = {.background = {1, 1, 1}};
    if (f == 1) {
        vkd_shape_render(obj, &cam, &rd, rgb, NULL);
        return;
    }
    float* hi = malloc((size_t)3 * big * big * sizeof(float));
    if (!hi) {  // out of memory: an unfiltered render rather than none
        cam = vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = azimuth_deg, .elevation_deg = elevation_deg,
                                                 .distance = distance, .fov_y_deg = fov_y_deg,
                                                 .width = (int32_t)size, .height = (int32_t)size});
        vkd_shape_render(obj, &cam, &rd, rgb, NULL);
        return;
    }
    vkd_shape_render(obj, &cam, &rd, hi, NULL);
    // Box filter: the average of each f x f block, as an anti-aliased renderer would give.
    for (uint32_t c = 0; c < 3; c++)
        for (uint32_t y = 0; y < size; y++)
            for (uint32_t x = 0; x < size; x++) {
                double acc = 0;
                for (uint32_t dy = 0; dy < f; dy++)
                    for (uint32_t dx = 0; dx < f; dx++)
                        acc += hi[((size_t)c * big + y * f + dy) * big + x * f + dx];
                rgb[((size_t)c * size + y) * size + x] = (float)(acc / (f * f));
            }
    free(hi);
}

vkd_camera vkd_builtin_view_camera(vkd_builtin_view v, uint32_t size, float* azimuth_deg, float* elevation_deg) {
    static const float az[VKD_BUILTIN_VIEW_COUNT] = {0, 90, 180, 0};
    static const float el[VKD_BUILTIN_VIEW_COUNT] = {15, 15, 15, 75};
    unsigned i = (unsigned)v < VKD_BUILTIN_VIEW_COUNT ? (unsigned)v : 0;
    if (azimuth_deg) *azimuth_deg = az[i];
    if (elevation_deg) *elevation_deg = el[i];
    return vkd_camera_orbit(&(vkd_orbit_desc){.azimuth_deg = az[i], .elevation_deg = el[i],
                                              .distance = VKD_BUILTIN_VIEW_DISTANCE, .fov_y_deg = VKD_BUILTIN_VIEW_FOV,
                                              .width = (int32_t)size, .height = (int32_t)size});
}
