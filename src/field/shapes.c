// Procedural SDF objects and a host sphere tracer; see include/vkdream/shapes.h.
#include "vkdream/shapes.h"

#include <math.h>
#include <string.h>

static const char* shape_names[VKD_SHAPE_COUNT] = {"sphere", "cube", "cylinder", "cone", "torus", "capsule",
                                                   "pyramid", "snowman", "mushroom", "table", "dumbbell"};
static const char* color_names[VKD_COLOR_COUNT] = {"red", "green", "blue", "yellow", "orange", "purple",
                                                   "pink", "white", "black", "brown", "gray", "cyan"};
static const float color_rgb[VKD_COLOR_COUNT][3] = {
    {0.85f, 0.10f, 0.10f}, {0.15f, 0.65f, 0.15f}, {0.15f, 0.25f, 0.85f}, {0.95f, 0.85f, 0.15f},
    {0.95f, 0.50f, 0.10f}, {0.55f, 0.20f, 0.70f}, {0.95f, 0.55f, 0.70f}, {0.92f, 0.92f, 0.92f},
    {0.08f, 0.08f, 0.08f}, {0.50f, 0.30f, 0.15f}, {0.50f, 0.50f, 0.50f}, {0.15f, 0.80f, 0.85f}};

const char* vkd_shape_name(vkd_shape s) { return s < VKD_SHAPE_COUNT ? shape_names[s] : "?"; }
const char* vkd_shape_color_name(vkd_shape_color c) { return c < VKD_COLOR_COUNT ? color_names[c] : "?"; }
void vkd_shape_color_rgb(vkd_shape_color c, float rgb[3]) { memcpy(rgb, color_rgb[c < VKD_COLOR_COUNT ? c : 0], 12); }

// True when word w (length n) occurs in s as a whole word.
static bool has_word(const char* s, const char* w) {
    size_t n = strlen(w);
    for (const char* p = strstr(s, w); p; p = strstr(p + 1, w)) {
        bool left = p == s || !((p[-1] >= 'a' && p[-1] <= 'z'));
        bool right = !(p[n] >= 'a' && p[n] <= 'z');
        if (left && right) return true;
    }
    return false;
}

bool vkd_shape_parse_caption(const char* caption, vkd_shape* shape, vkd_shape_color* color) {
    char low[512];
    size_t n = 0;
    for (; caption[n] && n + 1 < sizeof low; n++)
        low[n] = (char)(caption[n] >= 'A' && caption[n] <= 'Z' ? caption[n] - 'A' + 'a' : caption[n]);
    low[n] = 0;
    int s = -1, c = -1;
    for (int i = 0; i < VKD_SHAPE_COUNT && s < 0; i++)
        if (has_word(low, shape_names[i])) s = i;
    for (int i = 0; i < VKD_COLOR_COUNT && c < 0; i++)
        if (has_word(low, color_names[i])) c = i;
    if (s < 0 || c < 0) return false;
    if (shape) *shape = (vkd_shape)s;
    if (color) *color = (vkd_shape_color)c;
    return true;
}

static float len3(float x, float y, float z) { return sqrtf(x * x + y * y + z * z); }
static float len2(float x, float y) { return sqrtf(x * x + y * y); }
static float maxf(float a, float b) { return a > b ? a : b; }
static float minf(float a, float b) { return a < b ? a : b; }
static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

static float sd_box(float x, float y, float z, float bx, float by, float bz) {
    float qx = fabsf(x) - bx, qy = fabsf(y) - by, qz = fabsf(z) - bz;
    return len3(maxf(qx, 0), maxf(qy, 0), maxf(qz, 0)) + minf(maxf(qx, maxf(qy, qz)), 0);
}
static float sd_cyl(float x, float y, float z, float r, float h) {  // axis y, half height h
    float dx = len2(x, z) - r, dy = fabsf(y) - h;
    return minf(maxf(dx, dy), 0) + len2(maxf(dx, 0), maxf(dy, 0));
}
static float sd_capsule(float x, float y, float z, float r, float h) {  // segment on y in [-h, h]
    float cy = clampf(y, -h, h);
    return len3(x, y - cy, z) - r;
}
// Cone (or frustum) along y from base radius r1 at y=-h to r2 at y=+h; exact 2-D distance in (radial, y).
static float sd_cone(float x, float y, float z, float h, float r1, float r2) {
    float qx = len2(x, z), qy = y;
    float k1x = r2, k1y = h, k2x = r2 - r1, k2y = 2 * h;
    float cax = qx - minf(qx, qy < 0 ? r1 : r2), cay = fabsf(qy) - h;
    float t = clampf(((k1x - qx) * k2x + (k1y - qy) * k2y) / (k2x * k2x + k2y * k2y), 0, 1);
    float cbx = qx - k1x + k2x * t, cby = qy - k1y + k2y * t;
    float s = (cbx < 0 && cay < 0) ? -1.0f : 1.0f;
    return s * sqrtf(minf(cax * cax + cay * cay, cbx * cbx + cby * cby));
}
static float sd_pyramid(float x, float y, float z, float b, float h) {  // square base 2b at y=-h/2, apex at +h/2
    // Intersection of the base slab with four tilted half-spaces (a bound, fine for tracing).
    float yy = y + h / 2;
    float nlen = sqrtf(h * h + b * b);
    float side = maxf((fabsf(x) * h + yy * b - h * b) / nlen, (fabsf(z) * h + yy * b - h * b) / nlen);
    return maxf(side, -yy);
}

float vkd_shape_sdf(const vkd_shape_object* o, const float pin[3]) {
    float s = o->scale > 0 ? o->scale : 1.0f;
    float c = cosf(o->yaw_deg * 0.01745329252f), sn = sinf(o->yaw_deg * 0.01745329252f);
    // Into object space: undo yaw and scale.
    float x = (c * pin[0] - sn * pin[2]) / s, y = pin[1] / s, z = (sn * pin[0] + c * pin[2]) / s;
    float d;
    switch (o->shape) {
    case VKD_SHAPE_SPHERE: d = len3(x, y, z) - 0.6f; break;
    case VKD_SHAPE_CUBE: d = sd_box(x, y, z, 0.42f, 0.42f, 0.42f) - 0.03f; break;
    case VKD_SHAPE_CYLINDER: d = sd_cyl(x, y, z, 0.4f, 0.5f); break;
    case VKD_SHAPE_CONE: d = sd_cone(x, y, z, 0.5f, 0.5f, 0.0f); break;
    case VKD_SHAPE_TORUS: d = len2(len2(x, z) - 0.45f, y) - 0.18f; break;
    case VKD_SHAPE_CAPSULE: d = sd_capsule(x, y, z, 0.3f, 0.35f); break;
    case VKD_SHAPE_PYRAMID: d = sd_pyramid(x, y, z, 0.55f, 1.0f); break;
    case VKD_SHAPE_SNOWMAN:
        d = minf(minf(len3(x, y + 0.35f, z) - 0.38f, len3(x, y - 0.2f, z) - 0.27f), len3(x, y - 0.56f, z) - 0.18f);
        break;
    case VKD_SHAPE_MUSHROOM: {
        float stem = sd_cyl(x, y + 0.25f, z, 0.14f, 0.3f);
        float cap = maxf(len3(x, y - 0.02f, z) - 0.55f, -(y - 0.05f));
        d = minf(stem, cap);
    } break;
    case VKD_SHAPE_TABLE: {
        float top = sd_box(x, y - 0.3f, z, 0.6f, 0.05f, 0.45f);
        float legs = sd_box(fabsf(x) - 0.5f, y + 0.15f, fabsf(z) - 0.35f, 0.05f, 0.42f, 0.05f);
        d = minf(top, legs);
    } break;
    case VKD_SHAPE_DUMBBELL: {
        float bar = sd_cyl(y, x, z, 0.08f, 0.5f);  // along x
        float ends = minf(len3(x - 0.5f, y, z), len3(x + 0.5f, y, z)) - 0.25f;
        d = minf(bar, ends);
    } break;
    default: d = 1e9f;
    }
    return d * s;
}

void vkd_shape_render(const vkd_shape_object* o, const vkd_camera* cam, const vkd_shape_render_desc* desc,
                      float* rgb, float* alpha) {
    vkd_shape_render_desc d = desc ? *desc : (vkd_shape_render_desc){.background = {1, 1, 1}};
    float ambient = d.ambient > 0 ? d.ambient : 0.35f;
    float albedo[3];
    vkd_shape_color_rgb(o->color, albedo);
    float cam_c2w[16], origin[3];
    vkd_camera_to_world(cam, cam_c2w);
    vkd_camera_position(cam, origin);
    // Default light: from the camera's upper left, in world space.
    float light[3];
    if (d.light_dir) {
        memcpy(light, d.light_dir, sizeof light);
    } else {
        float lc[3] = {-0.5f, -0.7f, -0.5f};  // camera axes: x right, y down, z forward
        for (int r = 0; r < 3; r++) light[r] = cam_c2w[4 * r] * lc[0] + cam_c2w[4 * r + 1] * lc[1] + cam_c2w[4 * r + 2] * lc[2];
        float n = len3(light[0], light[1], light[2]);
        for (int r = 0; r < 3; r++) light[r] /= n;
    }
    int W = cam->width, H = cam->height;
    for (int j = 0; j < H; j++)
        for (int i = 0; i < W; i++) {
            float dc[3] = {((float)i + 0.5f - cam->cx) / cam->fx, ((float)j + 0.5f - cam->cy) / cam->fy, 1.0f};
            float dir[3];
            for (int r = 0; r < 3; r++) dir[r] = cam_c2w[4 * r] * dc[0] + cam_c2w[4 * r + 1] * dc[1] + cam_c2w[4 * r + 2] * dc[2];
            float n = len3(dir[0], dir[1], dir[2]);
            for (int r = 0; r < 3; r++) dir[r] /= n;
            // Sphere trace from where the ray enters the radius-1.2 ball.
            float b = origin[0] * dir[0] + origin[1] * dir[1] + origin[2] * dir[2];
            float cc = origin[0] * origin[0] + origin[1] * origin[1] + origin[2] * origin[2] - 1.44f;
            float disc = b * b - cc;
            bool hit = false;
            float p[3] = {0, 0, 0};
            if (disc > 0) {
                float t = maxf(-b - sqrtf(disc), 0), t_end = -b + sqrtf(disc);
                for (int it = 0; it < 160 && t < t_end; it++) {
                    for (int r = 0; r < 3; r++) p[r] = origin[r] + t * dir[r];
                    float dist = vkd_shape_sdf(o, p);
                    if (dist < 1e-4f) {
                        hit = true;
                        break;
                    }
                    t += dist * 0.9f;  // under-relaxed: the pyramid's distance is only a bound
                }
            }
            size_t px = (size_t)j * W + i, plane = (size_t)W * H;
            if (alpha) alpha[px] = hit ? 1.0f : 0.0f;
            if (!rgb) continue;
            if (!hit) {
                for (int r = 0; r < 3; r++) rgb[r * plane + px] = d.background[r];
                continue;
            }
            float nrm[3], e = 1e-3f;
            for (int r = 0; r < 3; r++) {
                float a[3] = {p[0], p[1], p[2]}, bq[3] = {p[0], p[1], p[2]};
                a[r] += e, bq[r] -= e;
                nrm[r] = vkd_shape_sdf(o, a) - vkd_shape_sdf(o, bq);
            }
            float nl = len3(nrm[0], nrm[1], nrm[2]);
            for (int r = 0; r < 3; r++) nrm[r] = nl > 0 ? nrm[r] / nl : 0;
            float lambert = maxf(0, nrm[0] * light[0] + nrm[1] * light[1] + nrm[2] * light[2]);
            float spec = 0;
            if (o->shiny) {
                float hv[3] = {light[0] - dir[0], light[1] - dir[1], light[2] - dir[2]};
                float hl = len3(hv[0], hv[1], hv[2]);
                float nh = maxf(0, (nrm[0] * hv[0] + nrm[1] * hv[1] + nrm[2] * hv[2]) / hl);
                spec = 0.5f * powf(nh, 32.0f);
            }
            for (int r = 0; r < 3; r++)
                rgb[r * plane + px] = clampf(albedo[r] * (ambient + (1 - ambient) * lambert) + spec, 0, 1);
        }
}
