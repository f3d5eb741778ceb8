// Mesh writers: OBJ, PLY and GLB of a marching-cubes sphere with vertex colors, read back
// by our own readers (tinyobjloader for OBJ, a PLY header/body parser, the GLB chunks and
// JSON), and by real tools: `assimp info` must load each file with the right vertex/face
// counts, and the Khronos glTF validator must report no errors on the GLB.
#define _POSIX_C_SOURCE 200809L
#include "vkdream/image.h"
#include "vkdream/mesh.h"
#include "vkdream/obj.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit/check.h"

static void make_sphere(vkd_mesh* m) {
    int n = 20;
    float* d = malloc((size_t)n * n * n * sizeof(float));
    for (int z = 0; z < n; z++)
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++) {
                float s = 2.0f / (n - 1), px = -1 + x * s, py = -1 + y * s, pz = -1 + z * s;
                d[((size_t)z * n + y) * n + x] = 0.7f - sqrtf(px * px + py * py + pz * pz);
            }
    vkd_grid_desc g = {.density = d, .nx = n, .ny = n, .nz = n, .bmin = {-1, -1, -1}, .bmax = {1, 1, 1}};
    vkd_error err = {0};
    if (vkd_marching_cubes(&g, 0, m, &err)) {
        fprintf(stderr, "marching cubes: %s\n", err.msg);
        exit(1);
    }
    free(d);
    m->colors = malloc((size_t)m->nverts * 3 * sizeof(float));
    for (uint32_t v = 0; v < m->nverts; v++)
        for (int a = 0; a < 3; a++) m->colors[3 * v + a] = 0.5f + 0.5f * m->positions[3 * v + a] / 0.7f;
}

// Runs a shell command; returns its exit status and its output in out.
static int run(const char* cmd, char* out, size_t cap) {
    FILE* p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = 0;
    int c;
    while ((c = fgetc(p)) != EOF)
        if (n + 1 < cap) out[n++] = (char)c;
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static long field_after(const char* text, const char* key) {
    const char* p = strstr(text, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

static void check_assimp(const char* path, long verts, long faces) {
    char cmd[1200], out[1 << 16];
    snprintf(cmd, sizeof cmd, "assimp info '%s' 2>&1", path);
    int rc = run(cmd, out, sizeof out);
    CHECK(rc == 0, "assimp info %s failed (%d): is assimp-utils installed? %.300s", path, rc, out);
    long v = field_after(out, "Vertices:"), f = field_after(out, "Faces:");
    CHECK(f == faces, "%s: assimp reads %ld faces, expected %ld", path, f, faces);
    // assimp's OBJ importer splits vertices per face corner; then at least `verts` remain.
    CHECK(verts < 0 ? v >= -verts : v == verts, "%s: assimp reads %ld vertices, expected %ld", path, v, verts);
}

int main(void) {
    vkd_error err = {0};
    vkd_mesh m;
    make_sphere(&m);
    char dir[] = "/tmp/vkd_mesh_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char obj[256], ply[256], glb[256], tex_glb[256], tex_obj[256], png[256];
    snprintf(obj, sizeof obj, "%s/a.obj", dir);
    snprintf(ply, sizeof ply, "%s/a.ply", dir);
    snprintf(glb, sizeof glb, "%s/a.glb", dir);
    snprintf(tex_glb, sizeof tex_glb, "%s/t.glb", dir);
    snprintf(tex_obj, sizeof tex_obj, "%s/t.obj", dir);
    snprintf(png, sizeof png, "%s/t.png", dir);
    float off[3];
    vkd_mesh_center(&m, off);
    CHECK(fabsf(off[0]) < 1e-5f && fabsf(off[1]) < 1e-5f, "sphere is centered already: %g %g", off[0], off[1]);

    // OBJ back through tinyobjloader: same counts, positions and vertex colors.
    CHECK(vkd_mesh_write_obj(&m, NULL, obj, &err) == VKD_OK, "obj: %s", err.msg);
    vkd_obj_mesh back;
    CHECK(vkd_obj_load(obj, &back, &err) == VKD_OK, "obj reload: %s", err.msg);
    CHECK(back.vertex_count == m.nverts && back.triangle_count == m.ntris, "obj counts %u/%u vs %u/%u",
          back.vertex_count, back.triangle_count, m.nverts, m.ntris);
    float maxd = 0;
    for (uint32_t i = 0; i < 3 * m.nverts && back.vertex_colors; i++) {
        maxd = fmaxf(maxd, fabsf(back.positions[i] - m.positions[i]));
        maxd = fmaxf(maxd, fabsf(back.vertex_colors[i] - m.colors[i]) * 1e-2f);
    }
    CHECK(back.vertex_colors && maxd < 1e-5f, "obj values differ by %g", maxd);
    CHECK(back.triangles && !memcmp(back.triangles, m.indices, (size_t)m.ntris * 12), "obj indices differ");
    vkd_obj_free(&back);

    // PLY: header then binary body of the announced size.
    CHECK(vkd_mesh_write_ply(&m, ply, &err) == VKD_OK, "ply: %s", err.msg);
    FILE* f = fopen(ply, "rb");
    char line[256];
    long nv = -1, nf = -1;
    while (f && fgets(line, sizeof line, f) && strcmp(line, "end_header\n")) {
        sscanf(line, "element vertex %ld", &nv);
        sscanf(line, "element face %ld", &nf);
    }
    long body_start = f ? ftell(f) : 0;
    if (f) fseek(f, 0, SEEK_END);
    long size = f ? ftell(f) : 0;
    if (f) {
        fseek(f, body_start, SEEK_SET);
        float p0[3];
        CHECK(fread(p0, 4, 3, f) == 3 && !memcmp(p0, m.positions, 12), "ply first vertex");
        fclose(f);
    }
    CHECK(nv == m.nverts && nf == m.ntris, "ply header counts %ld/%ld", nv, nf);
    CHECK(size - body_start == (long)m.nverts * 27 + (long)m.ntris * 13, "ply body %ld bytes", size - body_start);

    // GLB: magic, version, length, JSON chunk describing the accessors.
    CHECK(vkd_mesh_write_glb(&m, NULL, glb, &err) == VKD_OK, "glb: %s", err.msg);
    f = fopen(glb, "rb");
    uint32_t hdr[5] = {0};
    if (f) {
        CHECK(fread(hdr, 4, 5, f) == 5, "glb header");
        char* json = calloc(hdr[3] + 1, 1);
        CHECK(fread(json, 1, hdr[3], f) == hdr[3], "glb json");
        cJSON* root = cJSON_Parse(json);
        cJSON* acc = cJSON_GetObjectItem(root, "accessors");
        CHECK(root && cJSON_GetArraySize(acc) == 4, "glb accessors");
        CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(acc, 0), "count")->valueint == (int)m.nverts, "glb POSITION count");
        CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(acc, 3), "count")->valueint == (int)m.ntris * 3, "glb index count");
        cJSON_Delete(root);
        free(json);
        fseek(f, 0, SEEK_END);
        CHECK((uint32_t)ftell(f) == hdr[2], "glb length field %u vs file %ld", hdr[2], ftell(f));
        fclose(f);
    }
    CHECK(hdr[0] == 0x46546C67u && hdr[1] == 2 && hdr[4] == 0x4E4F534Au, "glb magic/version/chunk");

    // Textured variants: UVs from positions, a small PNG.
    float* uvs = malloc((size_t)m.nverts * 8);
    for (uint32_t v = 0; v < m.nverts; v++) uvs[2 * v] = 0.5f + 0.5f * m.positions[3 * v], uvs[2 * v + 1] = 0.5f + 0.5f * m.positions[3 * v + 1];
    vkd_image img;
    vkd_image_alloc(&img, 8, 8, 3, &err);
    for (int i = 0; i < 8 * 8 * 3; i++) img.pixels[i] = (uint8_t)(i * 5);
    CHECK(vkd_png_write(png, &img, &err) == VKD_OK, "png: %s", err.msg);
    vkd_image_free(&img);
    vkd_mesh_texture tex = {.uvs = uvs, .png_path = png};
    CHECK(vkd_mesh_write_glb(&m, &tex, tex_glb, &err) == VKD_OK, "textured glb: %s", err.msg);
    CHECK(vkd_mesh_write_obj(&m, &tex, tex_obj, &err) == VKD_OK, "textured obj: %s", err.msg);
    vkd_mesh_texture missing = {.uvs = uvs, .png_path = "/nonexistent/t.png"};
    CHECK(vkd_mesh_write_glb(&m, &missing, tex_glb, &err) == VKD_ERR_IO && strstr(err.msg, "/nonexistent/t.png"),
          "missing texture: %s", err.msg);
    free(uvs);

    // Real tools.
    check_assimp(obj, -(long)m.nverts, m.ntris);
    check_assimp(ply, m.nverts, m.ntris);
    check_assimp(glb, m.nverts, m.ntris);
    check_assimp(tex_glb, m.nverts, m.ntris);
    check_assimp(tex_obj, -(long)m.nverts, m.ntris);
    int skipped = 0;
    const char* files[] = {glb, tex_glb};
    for (int i = 0; i < 2; i++) {
        char cmd[1400], out[1 << 14];
        snprintf(cmd, sizeof cmd, "NODE_PATH=\"$(npm root -g 2>/dev/null)\" node '%s/tools/gltf_validate.cjs' '%s' 2>&1",
                 VKD_SOURCE_DIR, files[i]);
        int rc = run(cmd, out, sizeof out);
        printf("%s", out);
        if (rc == 77 || rc == 127) {
            skipped = 1;
            continue;
        }
        CHECK(rc == 0, "gltf validator: %s", out);
    }
    snprintf(line, sizeof line, "rm -rf '%s'", dir);
    if (system(line)) fprintf(stderr, "could not remove %s\n", dir);
    vkd_mesh_free(&m);
    printf("mesh_io: %d checks, %d failed%s\n", checks, failures,
           skipped ? " (glTF validator not installed: GLB validation SKIPPED)" : "");
    return failures ? 1 : 0;
}
