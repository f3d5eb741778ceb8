// Host side of the Gaussian model I/O: the 3DGS .ply writer and reader (round trips, the
// exact property order and f_rest layout 3DGS uses, header errors that name the file and the
// property) and the OBJ loader / surface sampler (points on the surface, colors, area weights).
#define _POSIX_C_SOURCE 200809L
#include "vkdream/gaussians.h"
#include "vkdream/obj.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int passed, failed;

static bool check(bool ok, const char* fmt, const char* what) {
    if (ok) passed++;
    else failed++;
    if (!ok || getenv("VKD_TEST_VERBOSE")) {
        printf(ok ? "ok   " : "FAIL ");
        printf(fmt, what);
        printf("\n");
    }
    return ok;
}

static char dir[256];

// Every file a test creates goes through here, so the cleanup knows them all.
static char made[64][64];
static int nmade;

static const char* tmp_path(const char* name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    bool known = false;
    for (int i = 0; i < nmade; i++) known |= !strcmp(made[i], name);
    if (!known && nmade < 64) snprintf(made[nmade++], sizeof made[0], "%s", name);
    return buf[k];
}

static void write_text(const char* path, const char* text) {
    FILE* f = fopen(path, "wb");
    fputs(text, f);
    fclose(f);
}

static uint64_t rng = 12345;
static double urand(void) {
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

// ---------------------------------------------------------------------------
// PLY

static void ply_round_trip(int deg, uint32_t n) {
    vkd_gaussians_host h, r;
    vkd_error err = {0};
    vkd_gaussians_host_alloc(&h, n, deg, &err);
    for (size_t i = 0; i < (size_t)n * vkd_gaussians_row_floats(deg); i++) h.data[i] = (float)(urand() * 4 - 2);
    const char* path = tmp_path("rt.ply");
    char what[64];
    snprintf(what, sizeof what, "deg %d n %u", deg, n);
    check(vkd_gaussians_ply_write(path, &h, &err) == VKD_OK, "ply write %s", what);
    vkd_status st = vkd_gaussians_ply_read(path, &r, &err);
    if (check(st == VKD_OK, "ply read %s", what)) {
        check(r.count == n && r.sh_degree == deg, "ply read count / degree %s", what);
        check(r.count == n && !memcmp(h.data, r.data, (size_t)n * vkd_gaussians_row_floats(deg) * 4),
              "ply round trip bit-exact %s", what);
    } else {
        printf("  %s\n", err.msg);
    }
    // The layout 3DGS writes: header property order and channel-major f_rest.
    FILE* f = fopen(path, "rb");
    char line[256];
    char expect[64][24];
    int ne = 0;
    const char* head[] = {"x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"};
    for (int k = 0; k < 9; k++) snprintf(expect[ne++], sizeof expect[0], "%s", head[k]);
    uint32_t K = (uint32_t)((deg + 1) * (deg + 1));
    for (uint32_t k = 0; k < 3 * (K - 1); k++) snprintf(expect[ne++], sizeof expect[0], "f_rest_%u", k);
    snprintf(expect[ne++], sizeof expect[0], "opacity");
    for (int k = 0; k < 3; k++) snprintf(expect[ne++], sizeof expect[0], "scale_%d", k);
    for (int k = 0; k < 4; k++) snprintf(expect[ne++], sizeof expect[0], "rot_%d", k);
    int np = 0;
    bool order_ok = true;
    while (fgets(line, sizeof line, f) && strcmp(line, "end_header\n")) {
        char name[64];
        if (sscanf(line, "property float %63s", name) == 1) order_ok &= np < ne && !strcmp(name, expect[np++]);
    }
    check(order_ok && np == ne, "3DGS property order %s", what);
    if (n > 0) {
        float row[64];
        check(fread(row, 4, (size_t)ne, f) == (size_t)ne, "read first vertex %s", what);
        bool ok = row[3] == 0 && row[4] == 0 && row[5] == 0 && row[0] == h.means[0] && row[2] == h.means[2];
        for (uint32_t c = 0; c < 3; c++) {
            ok &= row[6 + c] == h.sh[c];
            for (uint32_t k = 1; k < K; k++) ok &= row[9 + c * (K - 1) + k - 1] == h.sh[3 * k + c];
        }
        ok &= row[ne - 8] == h.opacity_logits[0] && row[ne - 7] == h.log_scales[0] && row[ne - 4] == h.quats[0] &&
              row[ne - 1] == h.quats[3];
        check(ok, "first vertex values in 3DGS order (f_rest channel-major) %s", what);
    }
    fclose(f);
    vkd_gaussians_host_free(&h);
    vkd_gaussians_host_free(&r);
}

// A header + data written by hand: another writer's property order, extra properties and
// elements, and the values must land in the right fields.
static void ply_foreign(void) {
    const char* path = tmp_path("foreign.ply");
    FILE* f = fopen(path, "wb");
    fputs("ply\r\nformat binary_little_endian 1.0\r\ncomment made by hand\r\nelement camera 1\r\nproperty double fx\r\n"
          "element vertex 2\r\nproperty float rot_0\r\nproperty float rot_1\r\nproperty float rot_2\r\n"
          "property float rot_3\r\nproperty uchar red\r\nproperty float opacity\r\nproperty float x\r\n"
          "property float y\r\nproperty float z\r\nproperty float f_dc_2\r\nproperty float f_dc_1\r\n"
          "property float f_dc_0\r\nproperty float scale_2\r\nproperty float scale_1\r\nproperty float scale_0\r\n"
          "element face 1\r\nproperty list uchar int vertex_indices\r\nend_header\r\n",
          f);
    double fx = 500;
    fwrite(&fx, 8, 1, f);
    for (int v = 0; v < 2; v++) {
        float a[4] = {1.f + v, 2, 3, 4};
        fwrite(a, 4, 4, f);
        unsigned char red = 7;
        fwrite(&red, 1, 1, f);
        float b[10] = {0.25f + v, 10.f + v, 11, 12, 0.3f, 0.2f, 0.1f, -3, -2, -1};
        fwrite(b, 4, 10, f);
    }
    fputs("garbage face data", f);
    fclose(f);
    vkd_gaussians_host h;
    vkd_error err = {0};
    vkd_status st = vkd_gaussians_ply_read(path, &h, &err);
    if (!check(st == VKD_OK, "read a foreign-order PLY %s", err.msg)) return;
    bool ok = h.count == 2 && h.sh_degree == 0;
    for (int v = 0; ok && v < 2; v++) {
        ok &= h.quats[4 * v] == 1.f + v && h.quats[4 * v + 3] == 4;
        ok &= h.opacity_logits[v] == 0.25f + v;
        ok &= h.means[3 * v] == 10.f + v && h.means[3 * v + 2] == 12;
        ok &= h.sh[3 * v] == 0.1f && h.sh[3 * v + 2] == 0.3f;
        ok &= h.log_scales[3 * v] == -1 && h.log_scales[3 * v + 2] == -3;
    }
    check(ok, "foreign PLY values mapped by name%s", "");
    vkd_gaussians_host_free(&h);
}

static const char* base_props =
    "property float x\nproperty float y\nproperty float z\nproperty float f_dc_0\nproperty float f_dc_1\n"
    "property float f_dc_2\nproperty float opacity\nproperty float scale_0\nproperty float scale_1\n"
    "property float scale_2\nproperty float rot_0\nproperty float rot_1\nproperty float rot_2\nproperty float rot_3\n";

// Writes a PLY with the given header (the data: `rows` zero rows of `stride` bytes) and
// expects reading to fail with a message naming the file and containing `needle`.
static void ply_error(const char* name, const char* header, size_t data_bytes, const char* needle) {
    const char* path = tmp_path(name);
    FILE* f = fopen(path, "wb");
    fputs(header, f);
    for (size_t i = 0; i < data_bytes; i++) fputc(0, f);
    fclose(f);
    vkd_gaussians_host h;
    vkd_error err = {0};
    vkd_status st = vkd_gaussians_ply_read(path, &h, &err);
    char what[1400];
    snprintf(what, sizeof what, "%s: got \"%s\", want it to name the file and say '%s'", name, err.msg, needle);
    check(st != VKD_OK && strstr(err.msg, path) && strstr(err.msg, needle) && h.data == NULL, "ply error %s", what);
}

static void ply_errors(void) {
    char hdr[4096];
    vkd_gaussians_host h;
    vkd_error err = {0};
    const char* missing = tmp_path("does-not-exist.ply");
    check(vkd_gaussians_ply_read(missing, &h, &err) == VKD_ERR_IO && strstr(err.msg, missing), "missing file: %s",
          err.msg);
    ply_error("notply.ply", "PK\x03\x04 zip file\n", 10, "not a PLY");
    ply_error("ascii.ply", "ply\nformat ascii 1.0\nelement vertex 1\nend_header\n", 0, "ascii");
    ply_error("bigendian.ply", "ply\nformat binary_big_endian 1.0\nelement vertex 1\nend_header\n", 0,
              "binary_big_endian");
    ply_error("noend.ply", "ply\nformat binary_little_endian 1.0\nelement vertex 1\n", 0, "end_header");
    snprintf(hdr, sizeof hdr, "ply\nformat binary_little_endian 1.0\nelement face 1\n%send_header\n", base_props);
    ply_error("novertex.ply", hdr, 56, "vertex");
    // Every required property missing in turn.
    const char* req[] = {"x", "f_dc_1", "opacity", "scale_2", "rot_3"};
    for (int r = 0; r < 5; r++) {
        char props[2048] = "", needle[64], line[64];
        const char* p = base_props;
        while (*p) {
            const char* nl = strchr(p, '\n');
            snprintf(line, sizeof line, "%.*s", (int)(nl - p), p);
            char pname[32];
            sscanf(line, "property float %31s", pname);
            if (strcmp(pname, req[r])) strcat(props, line), strcat(props, "\n");
            p = nl + 1;
        }
        snprintf(hdr, sizeof hdr, "ply\nformat binary_little_endian 1.0\nelement vertex 1\n%send_header\n", props);
        snprintf(needle, sizeof needle, "missing vertex property '%s'", req[r]);
        char name[64];
        snprintf(name, sizeof name, "missing_%s.ply", req[r]);
        ply_error(name, hdr, 52, needle);
    }
    // Opacity as double.
    snprintf(hdr, sizeof hdr, "ply\nformat binary_little_endian 1.0\nelement vertex 1\n%send_header\n", base_props);
    char* o = strstr(hdr, "float opacity");
    memcpy(o, "flt32", 5);
    ply_error("badtype.ply", hdr, 60, "property 'opacity' has unknown type 'flt32'");
    snprintf(hdr, sizeof hdr, "ply\nformat binary_little_endian 1.0\nelement vertex 1\n%sproperty double opacity2\n"
                              "end_header\n", base_props);
    ply_error("nodata.ply", hdr, 0, "truncated");  // a valid header, no data
    snprintf(hdr, sizeof hdr, "ply\nformat binary_little_endian 1.0\nelement vertex 1\n%sproperty float opacity\n"
                              "end_header\n", base_props);
    ply_error("duplicate.ply", hdr, 60, "property 'opacity' appears twice");
    {
        char t[4096];
        snprintf(t, sizeof t, "ply\nformat binary_little_endian 1.0\nelement vertex 1\n%s", base_props);
        char* q = strstr(t, "float opacity");
        memcpy(q, "uint  opacity", 13);
        strcat(t, "end_header\n");
        ply_error("intopacity.ply", t, 56, "'opacity' must be float");
    }
    // 10 f_rest properties: no SH degree has that many.
    char rest[1024] = "";
    for (int k = 0; k < 10; k++) {
        char l[40];
        snprintf(l, sizeof l, "property float f_rest_%d\n", k);
        strcat(rest, l);
    }
    snprintf(hdr, sizeof hdr, "ply\nformat binary_little_endian 1.0\nelement vertex 1\n%s%send_header\n", base_props,
             rest);
    ply_error("rest10.ply", hdr, 96, "10 f_rest_* properties");
    // 9 f_rest but one misnumbered.
    rest[0] = 0;
    for (int k = 0; k < 9; k++) {
        char l[40];
        snprintf(l, sizeof l, "property float f_rest_%d\n", k == 4 ? 40 : k);
        strcat(rest, l);
    }
    snprintf(hdr, sizeof hdr, "ply\nformat binary_little_endian 1.0\nelement vertex 1\n%s%send_header\n", base_props,
             rest);
    ply_error("rest_gap.ply", hdr, 92, "missing vertex property 'f_rest_4'");
    // Truncated data: 3 vertices announced, 2 present.
    snprintf(hdr, sizeof hdr, "ply\nformat binary_little_endian 1.0\nelement vertex 3\n%send_header\n", base_props);
    ply_error("truncated.ply", hdr, 2 * 56, "truncated");
    ply_error("badcount.ply", "ply\nformat binary_little_endian 1.0\nelement vertex -3\nend_header\n", 0,
              "element 'vertex' has no valid count");
}

// ---------------------------------------------------------------------------
// OBJ

// A unit cube [-1,1]^3 with vertex colors (x+1)/2, (y+1)/2, (z+1)/2: barycentric
// interpolation of a linear field is exact, so a sample's color is a function of its position.
static void write_cube(const char* path, bool colors, bool quads) {
    FILE* f = fopen(path, "w");
    fprintf(f, "# cube\n");
    for (int i = 0; i < 8; i++) {
        int x = i & 1 ? 1 : -1, y = i & 2 ? 1 : -1, z = i & 4 ? 1 : -1;
        if (colors) fprintf(f, "v %d %d %d %g %g %g\n", x, y, z, (x + 1) / 2.0, (y + 1) / 2.0, (z + 1) / 2.0);
        else fprintf(f, "v %d %d %d\n", x, y, z);
    }
    // Outward faces, counter-clockwise seen from outside (1-based indices).
    const int q[6][4] = {{1, 3, 4, 2}, {5, 6, 8, 7}, {1, 2, 6, 5}, {3, 7, 8, 4}, {1, 5, 7, 3}, {2, 4, 8, 6}};
    for (int k = 0; k < 6; k++) {
        if (quads) fprintf(f, "f %d %d %d %d\n", q[k][0], q[k][1], q[k][2], q[k][3]);
        else fprintf(f, "f %d %d %d\nf %d %d %d\n", q[k][0], q[k][1], q[k][2], q[k][0], q[k][2], q[k][3]);
    }
    fclose(f);
}

static void obj_cube(bool quads) {
    const char* path = tmp_path(quads ? "cube_quads.obj" : "cube.obj");
    write_cube(path, true, quads);
    vkd_obj_mesh m;
    vkd_error err = {0};
    if (!check(vkd_obj_load(path, &m, &err) == VKD_OK, "load cube: %s", err.msg)) return;
    check(m.vertex_count == 8 && m.triangle_count == 12 && m.vertex_colors && !m.face_colors,
          "cube: 8 vertices, 12 triangles, vertex colors%s", "");
    check(fabs(vkd_obj_area(&m) - 24) < 1e-9, "cube area 24%s", "");
    enum { N = 6000 };
    float* p = malloc(N * 3 * sizeof(float));
    float* nrm = malloc(N * 3 * sizeof(float));
    float* col = malloc(N * 3 * sizeof(float));
    bool has = false;
    check(vkd_obj_sample(&m, N, 7, p, nrm, col, &has, &err) == VKD_OK && has, "sample cube%s", "");
    bool on = true, colors = true, normals = true;
    int face_count[6] = {0};
    for (int i = 0; i < N; i++) {
        const float* x = p + 3 * i;
        // On the surface: one coordinate at +-1, the others inside.
        int at = -1;
        for (int k = 0; k < 3; k++)
            if (fabsf(fabsf(x[k]) - 1) < 1e-6f) at = k;
        on &= at >= 0 && fabsf(x[0]) <= 1 + 1e-6f && fabsf(x[1]) <= 1 + 1e-6f && fabsf(x[2]) <= 1 + 1e-6f;
        if (at < 0) continue;
        for (int k = 0; k < 3; k++) colors &= fabsf(col[3 * i + k] - (x[k] + 1) / 2) < 1e-5f;
        // Outward unit normal along the axis of the face.
        for (int k = 0; k < 3; k++) normals &= fabsf(nrm[3 * i + k] - (k == at ? (x[k] > 0 ? 1.f : -1.f) : 0.f)) < 1e-6f;
        face_count[2 * at + (x[at] > 0)]++;
    }
    check(on, "cube samples lie on the surface%s", "");
    check(colors, "cube sample colors interpolate the vertex colors%s", "");
    check(normals, "cube sample normals are the outward face normals%s", "");
    bool uniform = true;  // each face gets 1/6: 1000 +- 4 sigma (sigma ~ 29)
    for (int k = 0; k < 6; k++) uniform &= abs(face_count[k] - N / 6) < 4 * 29;
    check(uniform, "cube samples spread evenly over the faces%s", "");
    free(p), free(nrm), free(col);
    vkd_obj_free(&m);
}

// Two triangles with areas 3:1 and material colors from an .mtl next to the OBJ.
static void obj_materials(void) {
    write_text(tmp_path("mats.mtl"), "newmtl red\nKd 1 0 0\nnewmtl blue\nKd 0 0 1\n");
    const char* path = tmp_path("mats.obj");
    write_text(path,
               "mtllib mats.mtl\nv 0 0 0\nv 3 0 0\nv 0 2 0\nv 10 0 0\nv 11 0 0\nv 10 2 0\n"
               "usemtl red\nf 1 2 3\nusemtl blue\nf 4 5 6\n");
    vkd_obj_mesh m;
    vkd_error err = {0};
    if (!check(vkd_obj_load(path, &m, &err) == VKD_OK, "load materials: %s", err.msg)) return;
    check(m.face_colors && !m.vertex_colors && m.triangle_count == 2, "material colors, no vertex colors%s", "");
    enum { N = 8000 };
    float p[N * 3], c[N * 3], nrm[N * 3];
    bool has = false;
    vkd_obj_sample(&m, N, 3, p, nrm, c, &has, &err);
    int red = 0;
    bool ok = has;
    for (int i = 0; i < N; i++) {
        bool is_red = p[3 * i] < 5;
        red += is_red;
        ok &= is_red ? (c[3 * i] == 1 && c[3 * i + 2] == 0) : (c[3 * i] == 0 && c[3 * i + 2] == 1);
        ok &= fabsf(p[3 * i + 2]) == 0 && nrm[3 * i + 2] == 1;
    }
    check(ok, "material colors per face, normals +z%s", "");
    // Area-weighted: 3/4 of the samples on the red triangle; sigma = sqrt(N 3/16) ~ 39.
    check(abs(red - 3 * N / 4) < 4 * 39, "samples proportional to triangle area%s", "");
    vkd_obj_free(&m);
    // Without the .mtl: a warning, not an error, and no colors.
    remove(tmp_path("mats.mtl"));
    if (check(vkd_obj_load(path, &m, &err) == VKD_OK, "load without .mtl: %s", err.msg)) {
        check(!m.face_colors && !m.vertex_colors, "no colors without the .mtl%s", "");
        vkd_obj_sample(&m, 10, 3, p, NULL, c, &has, &err);
        check(!has, "sample reports no colors%s", "");
        vkd_obj_free(&m);
    }
}

static void obj_errors(void) {
    vkd_obj_mesh m;
    vkd_error err = {0};
    const char* missing = tmp_path("missing.obj");
    check(vkd_obj_load(missing, &m, &err) == VKD_ERR_IO && strstr(err.msg, missing), "missing OBJ: %s", err.msg);
    const char* bad = tmp_path("bad_index.obj");
    write_text(bad, "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n");
    vkd_status st = vkd_obj_load(bad, &m, &err);
    check(st != VKD_OK && strstr(err.msg, bad) != NULL, "out-of-range index names the file: %s", err.msg);
    const char* none = tmp_path("nofaces.obj");
    write_text(none, "v 0 0 0\nv 1 0 0\n");
    st = vkd_obj_load(none, &m, &err);
    check(st == VKD_ERR_INVALID && strstr(err.msg, none) && strstr(err.msg, "no faces"), "no faces: %s", err.msg);
    const char* binary = tmp_path("binary.obj");
    FILE* f = fopen(binary, "wb");
    for (int i = 0; i < 4096; i++) fputc((i * 7919) & 0xff, f);
    fclose(f);
    st = vkd_obj_load(binary, &m, &err);
    check(st != VKD_OK && strstr(err.msg, binary), "binary garbage names the file: %s", err.msg);
    const char* flat = tmp_path("degenerate.obj");
    write_text(flat, "v 0 0 0\nv 1 0 0\nv 2 0 0\nf 1 2 3\n");
    if (vkd_obj_load(flat, &m, &err) == VKD_OK) {
        float p[3];
        st = vkd_obj_sample(&m, 1, 0, p, NULL, NULL, NULL, &err);
        check(st == VKD_ERR_INVALID && strstr(err.msg, "zero total area"), "zero-area mesh: %s", err.msg);
        vkd_obj_free(&m);
    } else {
        check(false, "degenerate OBJ should load: %s", err.msg);
    }
}

int main(void) {
    const char* tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/vkd_gaussians_io_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    for (int deg = 0; deg <= 3; deg++) {
        ply_round_trip(deg, 0);
        ply_round_trip(deg, 1);
        ply_round_trip(deg, 37);
    }
    ply_foreign();
    ply_errors();
    obj_cube(false);
    obj_cube(true);
    obj_materials();
    obj_errors();
    for (int i = 0; i < nmade; i++) remove(tmp_path(made[i]));
    if (rmdir(dir) != 0) printf("warning: could not remove %s\n", dir);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
