// View-dependent prompts (include/vkdream/guidance.h, DESIGN.md "Score distillation").
#include "vkdream/guidance.h"

#include <math.h>
#include <stdio.h>

static const char* const view_names[VKD_VIEW_COUNT] = {"front", "side", "back", "overhead"};

vkd_view vkd_view_of(float azimuth_deg, float elevation_deg) {
    if (elevation_deg > 60.0f) return VKD_VIEW_OVERHEAD;
    // Wrap to [-180, 180) in double so large angles keep their precision.
    double a = fmod((double)azimuth_deg + 180.0, 360.0);
    if (a < 0) a += 360.0;
    a -= 180.0;
    if (fabs(a) < 45.0) return VKD_VIEW_FRONT;
    if (fabs(a) > 135.0) return VKD_VIEW_BACK;
    return VKD_VIEW_SIDE;
}

const char* vkd_view_name(vkd_view v) { return (unsigned)v < VKD_VIEW_COUNT ? view_names[v] : "unknown"; }

int vkd_view_prompt(char* out, size_t size, const char* prompt, vkd_view v) {
    if (!prompt || !*prompt) return snprintf(out, size, "%s", "");
    return snprintf(out, size, "%s, %s view", prompt, vkd_view_name(v));
}
