// Initial Gaussians: uniform in a ball (DreamGaussian's init) or sampled on an OBJ mesh's
// surface. Generated on the host (a one-off, seeded and reproducible) and uploaded.
#include "field/gaussians_internal.h"
#include "vkdream/obj.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix64(uint64_t* s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double uniform01(uint64_t* s) { return (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0); }

static vkd_status check_color(vkd_gaussians_color c, const float rgb[3], const char* op, vkd_error* err) {
    if (c != VKD_GAUSSIANS_COLOR_GRAY && c != VKD_GAUSSIANS_COLOR_FIXED && c != VKD_GAUSSIANS_COLOR_RANDOM)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: color mode %d, expected GRAY, FIXED or RANDOM", op, (int)c);
    if (c == VKD_GAUSSIANS_COLOR_FIXED)
        for (int k = 0; k < 3; k++)
            if (!isfinite(rgb[k]))
                return vkd_error_set(err, VKD_ERR_INVALID, "%s: rgb[%d] is not finite", op, k);
    return VKD_OK;
}

static void pick_color(vkd_gaussians_color c, const float rgb[3], uint64_t* rng, float out[3]) {
    for (int k = 0; k < 3; k++)
        out[k] = c == VKD_GAUSSIANS_COLOR_FIXED ? rgb[k] : c == VKD_GAUSSIANS_COLOR_RANDOM ? (float)uniform01(rng) : 0.5f;
}

// Sets row i's SH DC from a color (the rest stays zero) and its opacity logit.
static void set_color_opacity(vkd_gaussians_host* h, uint32_t i, const float rgb[3], float logit) {
    uint32_t stride = 3 * (uint32_t)((h->sh_degree + 1) * (h->sh_degree + 1));
    for (int k = 0; k < 3; k++) h->sh[(size_t)i * stride + k] = (float)((rgb[k] - 0.5) / VKD_SH_C0);
    h->opacity_logits[i] = logit;
}

static vkd_status opacity_logit(float opacity, const char* op, float* out, vkd_error* err) {
    double o = opacity != 0 ? opacity : 0.1;
    if (!(o > 0 && o < 1))
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: opacity = %g, expected in (0, 1)", op, o);
    *out = (float)log(o / (1 - o));
    return VKD_OK;
}

vkd_status vkd_gaussians_init_sphere(vkd_gaussians* g, vkd_stream* s, const vkd_gaussians_sphere_desc* desc,
                                     vkd_error* err) {
    const char* op = "gaussians_init_sphere";
    vkd_gaussians_sphere_desc d = desc ? *desc : (vkd_gaussians_sphere_desc){0};
    uint32_t n = d.count ? d.count : 5000;
    double radius = d.radius != 0 ? d.radius : 0.5;
    if (!(radius > 0) || !isfinite(radius))
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: radius = %g, expected > 0", op, radius);
    if (!(d.scale >= 0))
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: scale = %g, expected >= 0", op, (double)d.scale);
    float logit = 0;
    vkd_status st = check_color(d.color, d.rgb, op, err);
    if (!st) st = opacity_logit(d.opacity, op, &logit, err);
    if (st) return st;
    // E[mean of the squared distances to the 3 nearest neighbours] of a Poisson process of
    // density n / V in 3-D is (G(5/3) + G(8/3) + G(11/3)/2) / 3 (3V / 4 pi n)^(2/3), and
    // 3V / 4 pi = radius^3 for the ball: the RMS is 1.2129 radius / n^(1/3).
    double scale = d.scale != 0 ? d.scale : 1.2129 * radius / cbrt((double)n);
    vkd_gaussians_host h;
    if ((st = vkd_gaussians_host_alloc(&h, n, g->sh_degree, err))) return st;
    uint64_t rng = d.seed;
    float ls = (float)log(scale);
    for (uint32_t i = 0; i < n; i++) {
        // DreamGaussian's sampling: direction uniform on the sphere, radius r cbrt(u).
        double phi = 2 * 3.14159265358979323846 * uniform01(&rng);
        double cost = 2 * uniform01(&rng) - 1, sint = sqrt(fmax(0.0, 1 - cost * cost));
        double r = radius * cbrt(uniform01(&rng));
        h.means[3 * (size_t)i + 0] = (float)(d.center[0] + r * sint * cos(phi));
        h.means[3 * (size_t)i + 1] = (float)(d.center[1] + r * sint * sin(phi));
        h.means[3 * (size_t)i + 2] = (float)(d.center[2] + r * cost);
        for (int k = 0; k < 3; k++) h.log_scales[3 * (size_t)i + k] = ls;
        h.quats[4 * (size_t)i] = 1;
        float rgb[3];
        pick_color(d.color, d.rgb, &rng, rgb);
        set_color_opacity(&h, i, rgb, logit);
    }
    st = vkd_gaussians_replace(g, s, &h, NULL, NULL, err);
    vkd_gaussians_host_free(&h);
    return st ? vkd_error_prefix(err, "%s: ", op) : VKD_OK;
}

// Unit quaternion (w, x, y, z) rotating +z onto the unit vector n.
static void quat_z_to(const float n[3], float q[4]) {
    double w = 1.0 + n[2];  // 1 + dot(z, n)
    double x = -n[1], y = n[0], z = 0;  // cross(z, n)
    if (w < 1e-6) w = 0, x = 1, y = 0;  // n = -z: half a turn about x
    double len = sqrt(w * w + x * x + y * y + z * z);
    q[0] = (float)(w / len), q[1] = (float)(x / len), q[2] = (float)(y / len), q[3] = (float)(z / len);
}

vkd_status vkd_gaussians_init_obj(vkd_gaussians* g, vkd_stream* s, const char* path,
                                  const vkd_gaussians_mesh_desc* desc, vkd_error* err) {
    const char* op = "gaussians_init_obj";
    vkd_gaussians_mesh_desc d = desc ? *desc : (vkd_gaussians_mesh_desc){0};
    uint32_t n = d.count ? d.count : 5000;
    float logit = 0;
    vkd_status st = check_color(d.color, d.rgb, op, err);
    if (!st) st = opacity_logit(d.opacity, op, &logit, err);
    if (st) return st;
    if (!(d.scale >= 0) || !(d.flatten >= 0) || !(d.fit_radius >= 0))
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: scale, flatten and fit_radius must be >= 0", op);

    vkd_obj_mesh mesh;
    if ((st = vkd_obj_load(path, &mesh, err))) return st;
    if (d.fit_radius > 0) {
        float lo[3], hi[3];
        for (int k = 0; k < 3; k++) lo[k] = hi[k] = mesh.positions[k];
        for (uint32_t i = 0; i < mesh.vertex_count; i++)
            for (int k = 0; k < 3; k++) {
                float x = mesh.positions[3 * (size_t)i + k];
                lo[k] = fminf(lo[k], x), hi[k] = fmaxf(hi[k], x);
            }
        double c[3], half = 0;
        for (int k = 0; k < 3; k++) c[k] = 0.5 * ((double)lo[k] + hi[k]), half += 0.25 * ((double)hi[k] - lo[k]) * (hi[k] - lo[k]);
        half = sqrt(half);
        double f = half > 0 ? d.fit_radius / half : 1.0;
        for (uint32_t i = 0; i < mesh.vertex_count; i++)
            for (int k = 0; k < 3; k++)
                mesh.positions[3 * (size_t)i + k] = (float)((mesh.positions[3 * (size_t)i + k] - c[k]) * f);
    }
    vkd_gaussians_host h = {0};
    float* normals = malloc((size_t)n * 3 * sizeof(float));
    float* colors = malloc((size_t)n * 3 * sizeof(float));
    if (!normals || !colors) {
        st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: out of host memory for %u samples", op, n);
        goto done;
    }
    if ((st = vkd_gaussians_host_alloc(&h, n, g->sh_degree, err))) goto done;
    bool has_colors = false;
    if ((st = vkd_obj_sample(&mesh, n, d.seed, h.means, normals, colors, &has_colors, err))) {
        vkd_error_prefix(err, "%s: '%s': ", op, path);
        goto done;
    }
    // Surface analogue of the sphere's heuristic: in 2-D E[d_k^2] = k / (pi density), so the
    // RMS over the 3 nearest neighbours is sqrt(2 area / (pi n)).
    double area = vkd_obj_area(&mesh);
    double scale = d.scale != 0 ? d.scale : sqrt(2 * area / (3.14159265358979323846 * n));
    if (!(scale > 0)) scale = 1e-3;
    float ls = (float)log(scale);
    float flat = d.flatten > 0 ? (float)log(d.flatten) : 0;
    uint64_t rng = d.seed ^ 0x5bd1e9955bd1e995ull;
    for (uint32_t i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) h.log_scales[3 * (size_t)i + k] = ls;
        if (d.flatten > 0) {
            h.log_scales[3 * (size_t)i + 2] += flat;
            quat_z_to(normals + 3 * (size_t)i, h.quats + 4 * (size_t)i);
        } else {
            h.quats[4 * (size_t)i] = 1;
        }
        float rgb[3];
        if (has_colors) memcpy(rgb, colors + 3 * (size_t)i, sizeof rgb);
        else pick_color(d.color, d.rgb, &rng, rgb);
        set_color_opacity(&h, i, rgb, logit);
    }
    st = vkd_gaussians_replace(g, s, &h, NULL, NULL, err);
    if (st) vkd_error_prefix(err, "%s: '%s': ", op, path);
done:
    vkd_gaussians_host_free(&h);
    free(normals);
    free(colors);
    vkd_obj_free(&mesh);
    return st;
}
