// The viewer's host side, no GPU: the mesh readers (PLY, GLB) against vkdream's writers and
// hand-made variants, asset detection (3DGS .ply vs mesh .ply), the orbit camera, the font
// table, and the viewer feed's hand-over rules across threads.
#define _POSIX_C_SOURCE 200809L
#include "app/view_font.h"
#include "app/view_internal.h"
#include "app/viewer.h"
#include "unit/check.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/vkd_viewer_XXXXXX";

static void path_in(char* out, size_t n, const char* name) { snprintf(out, n, "%s/%s", dir, name); }

// An octahedron: 6 vertices, 8 triangles, normals and colors.
static void octahedron(vkd_mesh* m) {
    static const float p[18] = {1, 0, 0, -1, 0, 0, 0, 1, 0, 0, -1, 0, 0, 0, 1, 0, 0, -1};
    static const uint32_t t[24] = {0, 2, 4, 2, 1, 4, 1, 3, 4, 3, 0, 4, 2, 0, 5, 1, 2, 5, 3, 1, 5, 0, 3, 5};
    m->nverts = 6, m->ntris = 8;
    m->positions = malloc(sizeof p), m->normals = malloc(sizeof p), m->colors = malloc(sizeof p);
    m->indices = malloc(sizeof t);
    memcpy(m->positions, p, sizeof p);
    memcpy(m->normals, p, sizeof p);
    for (int i = 0; i < 18; i++) m->colors[i] = 0.5f + 0.5f * p[i];
    memcpy(m->indices, t, sizeof t);
}

static float max_diff(const float* a, const float* b, size_t n) {
    float d = 0;
    for (size_t i = 0; i < n; i++) d = fmaxf(d, fabsf(a[i] - b[i]));
    return d;
}

static void same_mesh(const char* what, const vkd_mesh* got, const vkd_mesh* want, float color_tol) {
    CHECK(got->nverts == want->nverts && got->ntris == want->ntris, "%s: %u verts %u tris, want %u %u", what,
          got->nverts, got->ntris, want->nverts, want->ntris);
    if (got->nverts != want->nverts || got->ntris != want->ntris) return;
    CHECK(max_diff(got->positions, want->positions, 3 * want->nverts) == 0, "%s: positions differ", what);
    CHECK(got->normals && max_diff(got->normals, want->normals, 3 * want->nverts) == 0, "%s: normals", what);
    CHECK(got->colors && max_diff(got->colors, want->colors, 3 * want->nverts) <= color_tol, "%s: colors", what);
    CHECK(!memcmp(got->indices, want->indices, 12 * (size_t)want->ntris), "%s: indices differ", what);
}

static void write_file(const char* path, const void* data, size_t n) {
    FILE* f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static void test_readers(void) {
    vkd_error err = {0};
    vkd_mesh m = {0}, back = {0};
    octahedron(&m);
    char ply[512], glb[512], obj[512], gs[512];
    path_in(ply, sizeof ply, "o.ply");
    path_in(glb, sizeof glb, "o.glb");
    path_in(obj, sizeof obj, "o.obj");
    path_in(gs, sizeof gs, "g.ply");

    // Our writers' output reads back exactly (colors through 8 bits in PLY).
    CHECK(vkd_mesh_write_ply(&m, ply, &err) == VKD_OK, "write ply: %s", err.msg);
    CHECK(vkd_view_read_mesh_ply(ply, &back, &err) == VKD_OK, "read ply: %s", err.msg);
    same_mesh("ply", &back, &m, 0.5f / 255 + 1e-6f);
    vkd_mesh_free(&back);
    CHECK(vkd_mesh_write_glb(&m, NULL, glb, &err) == VKD_OK, "write glb: %s", err.msg);
    CHECK(vkd_view_read_glb(glb, &back, &err) == VKD_OK, "read glb: %s", err.msg);
    same_mesh("glb", &back, &m, 0);
    vkd_mesh_free(&back);

    // Asset detection by content and extension.
    vkd_view_asset a;
    CHECK(vkd_view_asset_load(ply, &a, &err) == VKD_OK && a.kind == VKD_VIEW_MESH && a.mesh.ntris == 8,
          "mesh .ply detected: %s", err.msg);
    CHECK(strstr(a.info, "8 triangles") != NULL, "info line: %s", a.info);
    vkd_view_asset_free(&a);
    vkd_gaussians_host g;
    CHECK(vkd_gaussians_host_alloc(&g, 7, 1, &err) == VKD_OK, "alloc");
    for (int i = 0; i < 7; i++) g.quats[4 * i] = 1, g.means[3 * i] = (float)i;
    CHECK(vkd_gaussians_ply_write(gs, &g, &err) == VKD_OK, "write 3dgs: %s", err.msg);
    CHECK(vkd_view_asset_load(gs, &a, &err) == VKD_OK && a.kind == VKD_VIEW_GAUSSIANS && a.gaussians.count == 7 &&
              a.gaussians.sh_degree == 1,
          "3dgs .ply detected: %s", err.msg);
    vkd_view_asset_free(&a);
    vkd_gaussians_host_free(&g);
    CHECK(vkd_mesh_write_obj(&m, NULL, obj, &err) == VKD_OK, "write obj: %s", err.msg);
    CHECK(vkd_view_asset_load(obj, &a, &err) == VKD_OK && a.kind == VKD_VIEW_MESH && a.mesh.ntris == 8 &&
              a.mesh.colors,
          "obj: %s", err.msg);
    vkd_view_asset_free(&a);
    CHECK(vkd_view_asset_load("/nonexistent/x.glb", &a, &err) == VKD_ERR_IO && strstr(err.msg, "x.glb"),
          "missing file named: %s", err.msg);
    CHECK(vkd_view_asset_load("model.fbx", &a, &err) == VKD_ERR_UNSUPPORTED && strstr(err.msg, ".fbx"),
          "unknown extension: %s", err.msg);

    // A hand-made PLY: quads (fanned), float colors, an extra property and element to skip,
    // int16 vertex property, uint indices.
    {
        char hp[512];
        path_in(hp, sizeof hp, "quad.ply");
        const char* hdr = "ply\nformat binary_little_endian 1.0\ncomment hand made\nelement vertex 4\n"
                          "property float x\nproperty float y\nproperty float z\nproperty short tag\n"
                          "property float red\nproperty float green\nproperty float blue\n"
                          "element face 1\nproperty list uchar uint vertex_indices\nproperty float q\n"
                          "element note 2\nproperty int n\nend_header\n";
        FILE* f = fopen(hp, "wb");
        fputs(hdr, f);
        for (int v = 0; v < 4; v++) {
            float xyz[3] = {(float)(v & 1), (float)(v >> 1), 0.0f};
            int16_t tag = (int16_t)-v;
            float rgb[3] = {0.25f, 0.5f, 1.0f};
            fwrite(xyz, 4, 3, f);
            fwrite(&tag, 2, 1, f);
            fwrite(rgb, 4, 3, f);
        }
        uint8_t four = 4;
        uint32_t q[4] = {0, 1, 3, 2};
        float qq = 1.5f;
        int32_t notes[2] = {7, 8};
        fwrite(&four, 1, 1, f);
        fwrite(q, 4, 4, f);
        fwrite(&qq, 4, 1, f);
        fwrite(notes, 4, 2, f);
        fclose(f);
        CHECK(vkd_view_read_mesh_ply(hp, &back, &err) == VKD_OK, "hand-made ply: %s", err.msg);
        CHECK(back.nverts == 4 && back.ntris == 2 && back.colors && !back.normals, "quad fanned: %u verts %u tris",
              back.nverts, back.ntris);
        if (back.ntris == 2) {
            static const uint32_t want[6] = {0, 1, 3, 0, 3, 2};
            CHECK(!memcmp(back.indices, want, sizeof want), "fan order");
            CHECK(back.colors[2] == 1.0f && back.colors[0] == 0.25f, "float colors kept");
            CHECK(back.positions[9] == 1.0f && back.positions[10] == 1.0f, "vertex 3 position");
        }
        vkd_mesh_free(&back);
    }

    // Broken files say what is wrong.
    {
        char bp[512];
        path_in(bp, sizeof bp, "bad.ply");
        const char* ascii = "ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\n"
                            "property float z\nelement face 0\nproperty list uchar int vertex_indices\nend_header\n0 0 0\n";
        write_file(bp, ascii, strlen(ascii));
        CHECK(vkd_view_read_mesh_ply(bp, &back, &err) == VKD_ERR_UNSUPPORTED && strstr(err.msg, "binary_little_endian"),
              "ascii refused: %s", err.msg);
        // Truncated body: the header promises 2 vertices and a face.
        CHECK(vkd_mesh_write_ply(&m, bp, &err) == VKD_OK, "write");
        FILE* f = fopen(bp, "rb");
        char buf[4096];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        write_file(bp, buf, n - 20);
        CHECK(vkd_view_read_mesh_ply(bp, &back, &err) == VKD_ERR_INVALID && strstr(err.msg, "truncated"),
              "truncated: %s", err.msg);
        // An index out of range.
        memcpy(buf + n - 4, &(int32_t){99}, 4);
        write_file(bp, buf, n);
        CHECK(vkd_view_read_mesh_ply(bp, &back, &err) == VKD_ERR_INVALID && strstr(err.msg, "out of range"),
              "bad index: %s", err.msg);
        path_in(bp, sizeof bp, "bad.glb");
        write_file(bp, "glTF\2\0\0\0", 8);
        CHECK(vkd_view_read_glb(bp, &back, &err) == VKD_ERR_INVALID && strstr(err.msg, "glTF 2.0 binary"),
              "short glb: %s", err.msg);
        // A GLB whose index accessor points past the binary chunk.
        CHECK(vkd_mesh_write_glb(&m, NULL, bp, &err) == VKD_OK, "write glb");
        f = fopen(bp, "rb");
        n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        char* cnt = strstr(buf + 20, "\"count\":24");
        CHECK(cnt != NULL, "index accessor in the JSON");
        if (cnt) {
            memcpy(cnt, "\"count\":99", 10);
            write_file(bp, buf, n);
            CHECK(vkd_view_read_glb(bp, &back, &err) == VKD_ERR_INVALID && strstr(err.msg, "index accessor"),
                  "glb index past the chunk: %s", err.msg);
        }
    }
    vkd_mesh_free(&m);
}

static void project(const vkd_camera* c, const float p[3], float* u, float* v, float* z) {
    const float* m = c->viewmat;
    float x = m[0] * p[0] + m[1] * p[1] + m[2] * p[2] + m[3];
    float y = m[4] * p[0] + m[5] * p[1] + m[6] * p[2] + m[7];
    *z = m[8] * p[0] + m[9] * p[1] + m[10] * p[2] + m[11];
    *u = c->fx * x / *z + c->cx;
    *v = c->fy * y / *z + c->cy;
}

static void test_orbit(void) {
    vkd_view_orbit o = {.fov_y_deg = 40};
    float center[3] = {1, 2, 3};
    vkd_view_orbit_frame(&o, center, 0.5f);
    vkd_camera c = vkd_view_orbit_camera(&o, 200, 100);
    float u, v, z;
    project(&c, center, &u, &v, &z);
    CHECK(fabsf(u - 100) < 1e-3f && fabsf(v - 50) < 1e-3f && z > 0, "framed center projects to the middle: %g %g", u,
          v);
    // The bounding sphere fills ~80% of the height: its top at ~10 px from the top edge.
    float vertical_half = 0.5f * 100 * 0.5f / (z * tanf(20.0f * 3.14159265f / 180));
    CHECK(vertical_half > 35 && vertical_half < 50, "sphere half-height %g px of 50", vertical_half);
    float d0 = o.distance;
    vkd_view_orbit_zoom(&o, 3);
    CHECK(fabsf(o.distance - d0 * 0.729f) < 1e-4f * d0, "zoom 3 steps: %g -> %g", d0, o.distance);
    vkd_view_orbit_rotate(&o, 100, 1000);
    CHECK(o.elevation_deg <= 89.0f, "elevation clamped: %g", o.elevation_deg);
    // Panning right by a pixel moves the target one pixel's worth to the camera's left, so the
    // old target appears right of the center.
    vkd_view_orbit_reset(&o);
    vkd_view_orbit_pan(&o, 10, 0, 100);
    c = vkd_view_orbit_camera(&o, 100, 100);
    project(&c, center, &u, &v, &z);
    CHECK(fabsf(u - 60) < 0.05f && fabsf(v - 50) < 0.05f, "pan 10 px: the old center at %g %g (want 60 50)", u, v);
    vkd_view_orbit_reset(&o);
    CHECK(o.target[0] == 1 && o.target[1] == 2 && o.target[2] == 3 && o.distance == d0, "reset");
}

static void test_font(void) {
    uint32_t packed[2 * VKD_VIEW_FONT_GLYPHS];
    vkd_view_font_pack(packed);
    int blank = 0;
    for (int g = 0; g < VKD_VIEW_FONT_GLYPHS; g++) {
        int ink = 0;
        for (int r = 0; r < VKD_VIEW_FONT_ROWS; r++)
            for (int c = 0; c < VKD_VIEW_FONT_COLS; c++) {
                bool a = vkd_view_font_ink((char)(32 + g), c, r);
                bool b = (packed[2 * g + r / 4] >> (8 * (r % 4) + c)) & 1;
                CHECK(a == b, "glyph %c (%d, %d): table and packed bits agree", 32 + g, c, r);
                ink += a;
            }
        blank += ink == 0;
    }
    CHECK(blank == 1, "only the space is blank (%d blank glyphs)", blank);
    CHECK(vkd_view_font_ink('|', 2, 0) && !vkd_view_font_ink('|', 0, 0), "bar in the middle column");
    CHECK(!vkd_view_font_ink('\n', 0, 0) && !vkd_view_font_ink('A', 5, 0), "outside the table");
    // Distinct glyphs look distinct: no two printable characters share a bitmap.
    int same = 0;
    for (int a = 0; a < VKD_VIEW_FONT_GLYPHS; a++)
        for (int b = a + 1; b < VKD_VIEW_FONT_GLYPHS; b++)
            same += packed[2 * a] == packed[2 * b] && packed[2 * a + 1] == packed[2 * b + 1];
    CHECK(same == 0, "%d pairs of identical glyphs", same);
}

// ---------------------------------------------------------------------------
// Feed

typedef struct paused_loop {
    vkd_viewer_feed* f;
    atomic_bool returned;
    bool result;
} paused_loop;

static void* wait_thread(void* arg) {
    paused_loop* p = arg;
    p->result = vkd_viewer_feed_wait_while_paused(p->f);
    atomic_store(&p->returned, true);
    return NULL;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_feed(void) {
    vkd_error err = {0};
    vkd_viewer_feed* f = vkd_viewer_feed_create(&(vkd_viewer_feed_desc){.snapshot_every = 10});
    vkd_gaussians_host g, got;
    vkd_gaussians_host_alloc(&g, 3, 0, &err);
    g.means[0] = 42;
    // No viewer attached: the loop pays nothing.
    CHECK(!vkd_viewer_feed_wants_snapshot(f, 0), "detached: no snapshot wanted");
    vkd_viewer_feed_set_paused(f, true);
    CHECK(vkd_viewer_feed_poll(f) == 0, "detached: poll 0");
    CHECK(vkd_viewer_feed_wait_while_paused(f), "detached: pause does not block");
    vkd_viewer_feed_set_paused(f, false);

    vkd_viewer_feed_attach(f, true);
    CHECK(vkd_viewer_feed_wants_snapshot(f, 3), "first snapshot wanted at once");
    CHECK(vkd_viewer_feed_gaussians(f, 3, &g, &err) == VKD_OK, "hand over");
    CHECK(!vkd_viewer_feed_wants_snapshot(f, 20), "not while the viewer has not taken the last one");
    uint32_t step = 0;
    CHECK(vkd_viewer_feed_take_gaussians(f, &got, &step) && step == 3 && got.count == 3 && got.means[0] == 42,
          "viewer takes it (step %u)", step);
    vkd_gaussians_host_free(&got);
    CHECK(!vkd_viewer_feed_take_gaussians(f, &got, &step), "nothing new");
    CHECK(!vkd_viewer_feed_wants_snapshot(f, 12), "9 steps later: not yet");
    CHECK(vkd_viewer_feed_wants_snapshot(f, 13), "10 steps later: due");

    vkd_viewer_feed_stats(f, &(vkd_viewer_stats){.step = 5, .loss = 0.25f});
    vkd_viewer_feed_set_prompt(f, "a red apple");
    vkd_viewer_stats s;
    char prompt[64];
    CHECK(vkd_viewer_feed_read_stats(f, &s, prompt, sizeof prompt) && s.step == 5 && !strcmp(prompt, "a red apple"),
          "stats and prompt");
    CHECK(!vkd_viewer_feed_read_stats(f, &s, prompt, sizeof prompt), "unchanged since");

    float img[2 * 3 * 4];
    for (int i = 0; i < 24; i++) img[i] = (float)i;
    CHECK(vkd_viewer_feed_prior_image(f, img, 2, 3, 4, &err) == VKD_ERR_INVALID, "2 channels refused");
    CHECK(vkd_viewer_feed_prior_image(f, img, 1, 4, 6, &err) == VKD_OK, "gray image");
    float* chw = NULL;
    int c, h, w;
    CHECK(vkd_viewer_feed_take_prior_image(f, &chw, &c, &h, &w) && c == 1 && h == 4 && w == 6 && chw[23] == 23,
          "prior image taken");
    free(chw);

    // Events are one-shot, states persist.
    vkd_viewer_feed_request(f, VKD_VIEWER_CHECKPOINT | VKD_VIEWER_EXPORT);
    CHECK(vkd_viewer_feed_poll(f) == (VKD_VIEWER_CHECKPOINT | VKD_VIEWER_EXPORT), "events");
    CHECK(vkd_viewer_feed_poll(f) == 0, "events cleared");

    // Pause blocks the loop until resumed; quit releases it with false.
    paused_loop pl = {.f = f};
    atomic_init(&pl.returned, false);
    vkd_viewer_feed_set_paused(f, true);
    CHECK(vkd_viewer_feed_poll(f) == VKD_VIEWER_PAUSED, "paused state");
    pthread_t th;
    pthread_create(&th, NULL, wait_thread, &pl);
    sleep_ms(50);
    CHECK(!atomic_load(&pl.returned), "loop blocked while paused");
    vkd_viewer_feed_set_paused(f, false);
    pthread_join(th, NULL);
    CHECK(pl.returned && pl.result, "resumed");
    // A closing viewer detaches: a paused loop runs on.
    atomic_store(&pl.returned, false);
    vkd_viewer_feed_set_paused(f, true);
    pthread_create(&th, NULL, wait_thread, &pl);
    sleep_ms(20);
    vkd_viewer_feed_attach(f, false);
    pthread_join(th, NULL);
    CHECK(pl.returned && pl.result && !vkd_viewer_feed_paused(f), "detach unpauses");
    vkd_viewer_feed_attach(f, true);
    atomic_store(&pl.returned, false);
    vkd_viewer_feed_set_paused(f, true);
    pthread_create(&th, NULL, wait_thread, &pl);
    sleep_ms(20);
    vkd_viewer_feed_request(f, VKD_VIEWER_QUIT);
    pthread_join(th, NULL);
    CHECK(pl.returned && !pl.result, "quit while paused releases the loop with false");
    CHECK(vkd_viewer_feed_poll(f) & VKD_VIEWER_QUIT, "quit state");

    CHECK(!vkd_viewer_feed_finished(f), "not finished");
    vkd_viewer_feed_finish(f);
    CHECK(vkd_viewer_feed_finished(f), "finished");
    // An untaken snapshot is freed with the feed (checked by the sanitizer build).
    vkd_viewer_feed_attach(f, true);
    vkd_viewer_feed_gaussians(f, 30, &g, &err);
    vkd_gaussians_host_free(&g);
    vkd_viewer_feed_destroy(f);
}

int main(void) {
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_readers();
    test_orbit();
    test_font();
    test_feed();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
