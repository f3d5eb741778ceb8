// Marching cubes on analytic fields: a sphere and a torus. Area and volume within a few
// percent of the exact values, closed (no boundary edges), manifold, consistent outward
// winding, normals agreeing with the analytic ones; plus component cleanup and errors.
#include "vkdream/mesh.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit/check.h"

typedef double (*field_fn)(double x, double y, double z);
static double sphere(double x, double y, double z) { return 0.8 - sqrt(x * x + y * y + z * z); }
static double torus(double x, double y, double z) {
    double q = sqrt(x * x + z * z) - 0.6;
    return 0.25 - sqrt(q * q + y * y);  // major radius 0.6, minor 0.25, around the y axis
}
static double two_balls(double x, double y, double z) {
    double a = 0.5 - sqrt((x + 0.4) * (x + 0.4) + y * y + z * z);
    double b = 0.1 - sqrt((x - 0.7) * (x - 0.7) + y * y + z * z);
    return a > b ? a : b;
}

static float* sample(field_fn f, int n) {
    float* d = malloc((size_t)n * n * n * sizeof(float));
    for (int z = 0; z < n; z++)
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++) {
                double s = 2.0 / (n - 1);
                d[((size_t)z * n + y) * n + x] = (float)f(-1 + x * s, -1 + y * s, -1 + z * s);
            }
    return d;
}

static void check_closed(const vkd_mesh* m, const char* what) {
    uint32_t boundary, nonmanifold, misoriented;
    vkd_mesh_edge_stats(m, &boundary, &nonmanifold, &misoriented);
    CHECK(boundary == 0 && nonmanifold == 0 && misoriented == 0, "%s: %u boundary, %u non-manifold, %u misoriented edges",
          what, boundary, nonmanifold, misoriented);
}

int main(void) {
    const double pi = 3.14159265358979323846;
    vkd_error err = {0};
    for (int n = 24; n <= 64; n += 40) {
        float* d = sample(sphere, n);
        vkd_grid_desc g = {.density = d, .nx = n, .ny = n, .nz = n, .bmin = {-1, -1, -1}, .bmax = {1, 1, 1}};
        vkd_mesh m;
        CHECK(vkd_marching_cubes(&g, 0.0f, &m, &err) == VKD_OK, "sphere: %s", err.msg);
        double area = vkd_mesh_area(&m), vol = vkd_mesh_volume(&m);
        double ea = 4 * pi * 0.64, ev = 4.0 / 3.0 * pi * 0.512;
        double tol = n < 40 ? 0.03 : 0.01;
        printf("sphere n=%d: %u verts %u tris, area %.4f (exact %.4f), volume %.4f (exact %.4f)\n", n, m.nverts, m.ntris,
               area, ea, vol, ev);
        CHECK(fabs(area / ea - 1) < tol, "sphere area %.4f vs %.4f", area, ea);
        CHECK(fabs(vol / ev - 1) < tol, "sphere volume %.4f vs %.4f (sign says winding)", vol, ev);
        check_closed(&m, "sphere");
        // Vertices on the sphere, normals radial and outward.
        double max_r_err = 0, min_dot = 1;
        for (uint32_t v = 0; v < m.nverts; v++) {
            const float* p = &m.positions[3 * v];
            double r = sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]);
            max_r_err = fmax(max_r_err, fabs(r - 0.8));
            double dot = (p[0] * m.normals[3 * v] + p[1] * m.normals[3 * v + 1] + p[2] * m.normals[3 * v + 2]) / r;
            min_dot = fmin(min_dot, dot);
        }
        CHECK(max_r_err < 0.5 * 2.0 / (n - 1), "vertex radius error %.4f", max_r_err);
        CHECK(min_dot > 0.98, "normals: min cos to the radial direction %.4f", min_dot);
        vkd_mesh_free(&m);
        free(d);
    }

    {
        int n = 64;
        float* d = sample(torus, n);
        vkd_grid_desc g = {.density = d, .nx = n, .ny = n, .nz = n, .bmin = {-1, -1, -1}, .bmax = {1, 1, 1}};
        vkd_mesh m;
        CHECK(vkd_marching_cubes(&g, 0.0f, &m, &err) == VKD_OK, "torus: %s", err.msg);
        double ea = 4 * pi * pi * 0.6 * 0.25, ev = 2 * pi * pi * 0.6 * 0.25 * 0.25;
        double area = vkd_mesh_area(&m), vol = vkd_mesh_volume(&m);
        printf("torus n=%d: %u verts %u tris, area %.4f (exact %.4f), volume %.4f (exact %.4f)\n", n, m.nverts, m.ntris,
               area, ea, vol, ev);
        CHECK(fabs(area / ea - 1) < 0.02, "torus area %.4f vs %.4f", area, ea);
        CHECK(fabs(vol / ev - 1) < 0.02, "torus volume %.4f vs %.4f", vol, ev);
        check_closed(&m, "torus");
        // Euler characteristic V - E + F = 0 for a torus (E = 3F/2 on a closed mesh).
        long euler = (long)m.nverts - (long)(3 * m.ntris / 2) + (long)m.ntris;
        CHECK(euler == 0, "torus Euler characteristic %ld, expected 0", euler);
        vkd_mesh_free(&m);
        free(d);
    }

    {
        // Decimation: a 64^3 sphere (~24k triangles) to 2000 stays closed, manifold and
        // consistently wound, with area and volume within 3 %.
        int n = 64;
        float* d = sample(sphere, n);
        vkd_grid_desc g = {.density = d, .nx = n, .ny = n, .nz = n, .bmin = {-1, -1, -1}, .bmax = {1, 1, 1}};
        vkd_mesh m;
        CHECK(vkd_marching_cubes(&g, 0.0f, &m, &err) == VKD_OK, "sphere: %s", err.msg);
        uint32_t before = m.ntris;
        uint32_t after = vkd_mesh_decimate(&m, 2000);
        double ea = 4 * pi * 0.64, ev = 4.0 / 3.0 * pi * 0.512;
        double area = vkd_mesh_area(&m), vol = vkd_mesh_volume(&m);
        printf("decimate: %u -> %u triangles, %u vertices, area %.4f (exact %.4f), volume %.4f (exact %.4f)\n", before,
               after, m.nverts, area, ea, vol, ev);
        CHECK(after <= 2000 && after > 1500, "decimated to %u triangles (target 2000)", after);
        CHECK(fabs(area / ea - 1) < 0.03 && fabs(vol / ev - 1) < 0.03, "area %.4f / volume %.4f off", area, vol);
        check_closed(&m, "decimated sphere");
        double min_dot = 1;
        for (uint32_t v = 0; v < m.nverts; v++) {
            const float* p = &m.positions[3 * v];
            double r = sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]);
            min_dot = fmin(min_dot, (p[0] * m.normals[3 * v] + p[1] * m.normals[3 * v + 1] + p[2] * m.normals[3 * v + 2]) / r);
        }
        CHECK(min_dot > 0.9, "decimated normals outward (min cos %.3f)", min_dot);
        vkd_mesh_free(&m);
        free(d);
    }

    {
        // A big ball and a small one: cleanup drops the small one only.
        int n = 48;
        float* d = sample(two_balls, n);
        vkd_grid_desc g = {.density = d, .nx = n, .ny = n, .nz = n, .bmin = {-1, -1, -1}, .bmax = {1, 1, 1}};
        vkd_mesh m;
        CHECK(vkd_marching_cubes(&g, 0.0f, &m, &err) == VKD_OK, "two balls: %s", err.msg);
        uint32_t before = m.ntris;
        uint32_t removed = vkd_mesh_remove_small_components(&m, 0.2f);
        CHECK(removed == 1 && m.ntris < before && m.ntris > before / 2, "removed %u components, %u -> %u tris", removed,
              before, m.ntris);
        for (uint32_t v = 0; v < m.nverts; v++) CHECK(m.positions[3 * v] < 0.3f, "small ball vertex kept");
        check_closed(&m, "after cleanup");
        double ev = 4.0 / 3.0 * pi * 0.125;
        CHECK(fabs(vkd_mesh_volume(&m) / ev - 1) < 0.03, "big ball volume %.4f vs %.4f", vkd_mesh_volume(&m), ev);
        vkd_mesh_free(&m);

        // Nothing above the level: an error that says the level and the range.
        CHECK(vkd_marching_cubes(&g, 5.0f, &m, &err) == VKD_ERR_INVALID && strstr(err.msg, "iso-level 5") &&
                  strstr(err.msg, "ranges over"),
              "empty: %s", err.msg);
        g.nx = 1;
        CHECK(vkd_marching_cubes(&g, 0.0f, &m, &err) == VKD_ERR_INVALID, "1-wide grid accepted");
        free(d);
    }
    printf("mcubes: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
