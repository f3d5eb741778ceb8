// The viewer end to end (CTest app.viewer.*, driven by tests/app/viewer_test.sh under Xvfb):
//   test_viewer assets <dir>            writes ball.ply (400 Gaussians), sphere.obj/.ply/.glb
//   test_viewer check <png> [W H]       the image shows an asset: mostly foreground in the
//                                       middle, exactly the background at the four corners
//   test_viewer live <png>              the live mode: a fake optimisation loop feeds snapshots,
//                                       stats and a prior image through the viewer feed, the
//                                       viewer saves frame N, and the loop sees the quit
//   test_viewer live-headless           the live mode without a display: the loop runs alone
//   test_viewer overlay                 compose + text kernels pixel-exact against the CPU
//   test_viewer resize <asset> <png>    the window is resized mid-run: the swapchain follows
//   test_viewer keys <dir>              keys and mouse through the viewer's GLFW callbacks:
//                                       modes, pause/resume, S, E, drag, R, Q
#define _POSIX_C_SOURCE 200809L
#include "app/view_font.h"
#include "app/view_internal.h"
#include "app/viewer.h"
#include "viewer_assets.h"

#include "vkdream/image.h"

#ifdef VKD_HAVE_GLFW
#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>
#endif

#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// The viewer's background, 8-bit (src/app/view_render.c: 0.11, 0.11, 0.13).
static const int BG[3] = {28, 28, 33};

static int fail(const char* what, const vkd_error* e) {
    fprintf(stderr, "test_viewer: %s: %s\n", what, e ? e->msg : "");
    return 1;
}

static int write_assets(const char* dir) {
    char path[4096];
    vkd_error e = {0};
    vkd_gaussians_host g;
    if (test_ball_gaussians(&g, 400, &e)) return fail("ball", &e);
    snprintf(path, sizeof path, "%s/ball.ply", dir);
    vkd_status st = vkd_gaussians_ply_write(path, &g, &e);
    vkd_gaussians_host_free(&g);
    if (st) return fail(path, &e);
    vkd_mesh m;
    if (test_sphere_mesh(&m, 12, 24, &e)) return fail("sphere", &e);
    static const char* ext[3] = {"obj", "ply", "glb"};
    for (int i = 0; i < 3 && !st; i++) {
        snprintf(path, sizeof path, "%s/sphere.%s", dir, ext[i]);
        st = i == 0 ? vkd_mesh_write_obj(&m, NULL, path, &e)
             : i == 1 ? vkd_mesh_write_ply(&m, path, &e)
                      : vkd_mesh_write_glb(&m, NULL, path, &e);
    }
    vkd_mesh_free(&m);
    if (st) return fail(path, &e);
    printf("assets written to %s\n", dir);
    return 0;
}

static int diff(const uint8_t* p, const int* ref) {
    return abs(p[0] - ref[0]) + abs(p[1] - ref[1]) + abs(p[2] - ref[2]);
}

// Checks the picture: every pixel of 4x4 corner patches is the background; in the middle
// third at least min_frac of the pixels differ from it clearly (the asset fills the middle).
static int check_png(const char* path, int want_w, int want_h, double min_frac) {
    vkd_image img;
    vkd_error e = {0};
    if (vkd_png_read(path, &img, &e)) return fail("reading the screenshot", &e);
    int bad = 0;
    if ((want_w && img.width != want_w) || (want_h && img.height != want_h)) {
        fprintf(stderr, "test_viewer: %s is %dx%d, expected %dx%d\n", path, img.width, img.height, want_w, want_h);
        bad++;
    }
    int W = img.width, H = img.height, C = img.channels;
    int corners[4][2] = {{0, 0}, {W - 4, 0}, {0, H - 4}, {W - 4, H - 4}};
    for (int c = 0; c < 4; c++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++) {
                const uint8_t* p = &img.pixels[((size_t)(corners[c][1] + y) * W + corners[c][0] + x) * C];
                if (diff(p, BG) > 3) {
                    if (!bad) fprintf(stderr, "test_viewer: corner pixel (%d, %d) is %d %d %d, not the background %d %d %d\n",
                                      corners[c][0] + x, corners[c][1] + y, p[0], p[1], p[2], BG[0], BG[1], BG[2]);
                    bad++;
                }
            }
    long fg = 0, total = 0;
    for (int y = H / 3; y < 2 * H / 3; y++)
        for (int x = W / 3; x < 2 * W / 3; x++, total++) fg += diff(&img.pixels[((size_t)y * W + x) * C], BG) > 30;
    double frac = total ? (double)fg / total : 0;
    printf("%s: %dx%d, %.0f%% of the middle third is foreground, corners %s\n", path, W, H, 100 * frac,
           bad ? "NOT background" : "background");
    if (frac < min_frac) {
        fprintf(stderr, "test_viewer: the middle of %s shows no asset (%.1f%% foreground)\n", path, 100 * frac);
        bad++;
    }
    vkd_image_free(&img);
    return bad ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Live mode

typedef struct live_ctx {
    uint32_t steps_run;
    uint32_t snapshots;
    bool saw_quit;
    int errors;
} live_ctx;

// A stand-in for the optimisation loop: "trains" a ball whose color drifts, hands over what
// the viewer asks for, and stops when the viewer quits (after its screenshot).
static int fake_loop(void* user, vkd_viewer_feed* feed) {
    live_ctx* c = user;
    vkd_error e = {0};
    vkd_gaussians_host g;
    if (test_ball_gaussians(&g, 400, &e)) return 1;
    float prior[3 * 32 * 32];
    for (int i = 0; i < 32 * 32; i++) prior[i] = 1.0f, prior[1024 + i] = (float)(i % 32) / 31, prior[2048 + i] = 0.2f;
    vkd_viewer_feed_set_prompt(feed, "a colored ball");
    for (uint32_t step = 1; step <= 20000; step++) {
        if (!vkd_viewer_feed_wait_while_paused(feed)) {
            c->saw_quit = true;
            break;
        }
        for (uint32_t i = 0; i < g.count; i++) g.sh[3 * i] += 1e-4f;  // "optimisation"
        vkd_viewer_feed_stats(feed, &(vkd_viewer_stats){.step = step, .steps = 20000, .loss = 1.0f / step, .t = 0.5f,
                                                        .its = 123.0f});
        if (vkd_viewer_feed_wants_snapshot(feed, step)) {
            if (vkd_viewer_feed_gaussians(feed, step, &g, &e)) c->errors++;
            c->snapshots++;
        }
        if (step % 100 == 1 && vkd_viewer_feed_prior_image(feed, prior, 3, 32, 32, &e)) c->errors++;
        uint32_t ev = vkd_viewer_feed_poll(feed);
        c->steps_run = step;
        if (ev & VKD_VIEWER_QUIT) {
            c->saw_quit = true;
            break;
        }
        struct timespec ts = {0, 1000000};  // 1 ms a step
        nanosleep(&ts, NULL);
    }
    vkd_gaussians_host_free(&g);
    return 0;
}

static int headless_loop(void* user, vkd_viewer_feed* feed) {
    live_ctx* c = user;
    vkd_error e = {0};
    vkd_gaussians_host g;
    if (test_ball_gaussians(&g, 50, &e)) return 1;
    for (uint32_t step = 1; step <= 200; step++) {
        if (!vkd_viewer_feed_wait_while_paused(feed)) break;
        vkd_viewer_feed_stats(feed, &(vkd_viewer_stats){.step = step});
        if (vkd_viewer_feed_wants_snapshot(feed, step)) {
            c->snapshots++;
            if (vkd_viewer_feed_gaussians(feed, step, &g, &e)) c->errors++;
        }
        if (vkd_viewer_feed_poll(feed)) c->errors++;
        c->steps_run = step;
    }
    vkd_gaussians_host_free(&g);
    return 0;
}

static int run_live(const char* png) {
    vkd_viewer_feed* feed = vkd_viewer_feed_create(&(vkd_viewer_feed_desc){.snapshot_every = 10});
    live_ctx c = {0};
    vkd_error e = {0};
    vkd_viewer_desc d = {.width = 320, .height = 240, .title = "test_viewer live", .validation = true,
                         .screenshot_after = 5, .screenshot_path = png};
    int rc = vkd_viewer_run_live(&d, feed, fake_loop, &c, &e);
    vkd_viewer_feed_destroy(feed);
    printf("live: loop rc %d, %u steps, %u snapshots, quit seen %d, viewer %s\n", rc, c.steps_run, c.snapshots,
           c.saw_quit, e.status ? e.msg : "ok");
    if (rc || e.status || c.errors || !c.snapshots || !c.saw_quit) return 1;
    // The prior image sits in the bottom-right corner (64 x 64 px for a 240 px high window,
    // 12 px from the edges): its middle column is red 1, green 16/31, blue 0.2.
    vkd_image img;
    if (vkd_png_read(png, &img, &e)) return fail("reading the live screenshot", &e);
    const uint8_t* p = &img.pixels[((size_t)196 * img.width + 276) * img.channels];
    int want[3] = {255, 132, 51};
    bool ok = diff(p, want) <= 6;
    printf("live: corner image pixel %d %d %d (want %d %d %d)\n", p[0], p[1], p[2], want[0], want[1], want[2]);
    vkd_image_free(&img);
    return ok ? 0 : 1;
}

// Without a display the loop runs on the calling thread with the feed detached: no snapshot
// is asked for, polls return 0, pausing never blocks.
static int run_live_headless(void) {
    vkd_viewer_feed* feed = vkd_viewer_feed_create(NULL);
    live_ctx c = {0};
    vkd_error e = {0};
    char why[256];
    if (vkd_viewer_display_available(why, sizeof why)) {
        fprintf(stderr, "test_viewer: live-headless needs no display, but one is available\n");
        return 1;
    }
    int rc = vkd_viewer_run_live(&(vkd_viewer_desc){.validation = true}, feed, headless_loop, &c, &e);
    bool finished = vkd_viewer_feed_finished(feed);
    vkd_viewer_feed_destroy(feed);
    printf("live-headless: rc %d, %u steps, %u snapshots, finished %d\n", rc, c.steps_run, c.snapshots, finished);
    return rc == 0 && c.steps_run == 200 && c.snapshots == 0 && finished && !c.errors ? 0 : 1;
}

#ifdef VKD_HAVE_GLFW
// Resizes the window after frame 2 (GLFW call on the viewer's thread, from the frame hook).
static void resize_hook(void* user, void* window, int frames, double busy_s) {
    (void)user, (void)busy_s;
    if (frames == 2) glfwSetWindowSize((GLFWwindow*)window, 400, 300);
}
#endif

static int run_resize(const char* asset, const char* png) {
#ifndef VKD_HAVE_GLFW
    (void)asset, (void)png;
    fprintf(stderr, "test_viewer: built without GLFW: skipping the resize case\n");
    return 77;
#else
    vkd_error e = {0};
    vkd_viewer_desc d = {.width = 320, .height = 240, .validation = true, .screenshot_after = 8,
                         .screenshot_path = png, .on_frame = resize_hook};
    if (vkd_viewer_run_file(&d, asset, &e)) return fail("resize", &e);
    return 0;
#endif
}

#ifdef VKD_HAVE_GLFW
// Keys and mouse, end to end: the hook plays a script, one action per presented frame (every
// input makes the viewer draw a frame, so the script always advances), through the very
// callbacks GLFW calls (glfwSet*Callback returns the viewer's). The loop records what it sees.
typedef struct key_script {
    live_ctx* loop;
    const char* dir;
    int step;
    uint32_t steps_at_pause;
    bool blocked;      // the loop made no step while paused
    int errors;
} key_script;

typedef struct key_loop_state {
    live_ctx c;
    atomic_uint steps;
    bool saw_checkpoint, saw_export, saw_quit;
} key_loop_state;

static void press(GLFWwindow* w, int key) {
    GLFWkeyfun cb = glfwSetKeyCallback(w, NULL);
    glfwSetKeyCallback(w, cb);
    cb(w, key, 0, GLFW_PRESS, 0);
    cb(w, key, 0, GLFW_RELEASE, 0);
}

static void drag(GLFWwindow* w) {
    GLFWmousebuttonfun button = glfwSetMouseButtonCallback(w, NULL);
    glfwSetMouseButtonCallback(w, button);
    GLFWcursorposfun cursor = glfwSetCursorPosCallback(w, NULL);
    glfwSetCursorPosCallback(w, cursor);
    double x, y;
    glfwGetCursorPos(w, &x, &y);
    button(w, GLFW_MOUSE_BUTTON_LEFT, GLFW_PRESS, 0);
    for (int i = 1; i <= 5; i++) cursor(w, x + 20 * i, y + 4 * i);
    button(w, GLFW_MOUSE_BUTTON_LEFT, GLFW_RELEASE, 0);
}

static void sleep_ms(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static void key_hook(void* user, void* window, int frames, double busy_s) {
    (void)frames, (void)busy_s;
    key_script* k = user;
    key_loop_state* ls = (key_loop_state*)k->loop;
    GLFWwindow* w = window;
    switch (k->step++) {
    case 2: press(w, GLFW_KEY_3); break;           // depth mode
    case 3: press(w, GLFW_KEY_SPACE); break;       // pause
    case 4:
        sleep_ms(30);  // let the loop reach its wait
        k->steps_at_pause = atomic_load(&ls->steps);
        sleep_ms(150);
        k->blocked = atomic_load(&ls->steps) == k->steps_at_pause;
        press(w, GLFW_KEY_S);                      // screenshot 000 + checkpoint request
        break;
    case 5: press(w, GLFW_KEY_E); break;           // export request
    case 6: press(w, GLFW_KEY_SPACE); break;       // resume
    case 7: press(w, GLFW_KEY_1); break;
    case 8: press(w, GLFW_KEY_S); break;           // screenshot 001
    case 9: drag(w); break;                        // rotate
    case 10: press(w, GLFW_KEY_S); break;          // screenshot 002: another view
    case 11: press(w, GLFW_KEY_R); break;
    case 12: press(w, GLFW_KEY_S); break;          // screenshot 003: back home
    case 13: press(w, GLFW_KEY_Q); break;          // quit: the loop stops
    default: break;
    }
}

static int key_loop(void* user, vkd_viewer_feed* feed) {
    key_loop_state* s = user;
    vkd_error e = {0};
    vkd_gaussians_host g;
    if (test_ball_gaussians(&g, 400, &e)) return 1;
    for (uint32_t step = 1; step <= 100000; step++) {
        if (!vkd_viewer_feed_wait_while_paused(feed)) {
            s->saw_quit = true;
            break;
        }
        if (vkd_viewer_feed_wants_snapshot(feed, step) && vkd_viewer_feed_gaussians(feed, step, &g, &e)) s->c.errors++;
        uint32_t ev = vkd_viewer_feed_poll(feed);
        s->saw_checkpoint |= (ev & VKD_VIEWER_CHECKPOINT) != 0;
        s->saw_export |= (ev & VKD_VIEWER_EXPORT) != 0;
        atomic_store(&s->steps, step);
        if (ev & VKD_VIEWER_QUIT) {
            s->saw_quit = true;
            break;
        }
        sleep_ms(2);
    }
    vkd_gaussians_host_free(&g);
    return 0;
}

static bool same_png(const char* a, const char* b) {
    vkd_image x, y;
    vkd_error e = {0};
    if (vkd_png_read(a, &x, &e) || vkd_png_read(b, &y, &e)) return false;
    bool same = x.width == y.width && x.height == y.height && !memcmp(x.pixels, y.pixels, (size_t)x.width * x.height * 3);
    vkd_image_free(&x);
    vkd_image_free(&y);
    return same;
}

static int run_keys(const char* dir) {
    char prefix[4096], shot[4][4200];
    snprintf(prefix, sizeof prefix, "%s/shot", dir);
    for (int i = 0; i < 4; i++) snprintf(shot[i], sizeof shot[i], "%s-%03d.png", prefix, i);
    vkd_viewer_feed* feed = vkd_viewer_feed_create(&(vkd_viewer_feed_desc){.snapshot_every = 5});
    key_loop_state ls = {0};
    atomic_init(&ls.steps, 0);
    key_script k = {.loop = &ls.c, .dir = dir};
    vkd_error e = {0};
    vkd_viewer_desc d = {.width = 320, .height = 240, .validation = true, .screenshot_prefix = prefix,
                         .on_frame = key_hook, .on_frame_user = &k, .no_overlay = true};
    int rc = vkd_viewer_run_live(&d, feed, key_loop, &ls, &e);
    vkd_viewer_feed_destroy(feed);
    bool files = true;
    for (int i = 0; i < 4; i++) files &= access(shot[i], F_OK) == 0;
    bool rotated = files && !same_png(shot[1], shot[2]), reset = files && same_png(shot[1], shot[3]);
    bool mode3 = files && !same_png(shot[0], shot[1]);
    printf("keys: rc %d, viewer %s, script at %d, loop blocked while paused %d, checkpoint %d, export %d, quit %d, "
           "screenshots %d, depth mode differs %d, drag rotates %d, R resets %d\n",
           rc, e.status ? e.msg : "ok", k.step, k.blocked, ls.saw_checkpoint, ls.saw_export, ls.saw_quit, files, mode3,
           rotated, reset);
    return rc == 0 && !e.status && k.step >= 14 && k.blocked && ls.saw_checkpoint && ls.saw_export && ls.saw_quit &&
                   files && mode3 && rotated && reset && !ls.c.errors
               ? 0
               : 1;
}
#endif

// The compose and text kernels against a CPU rendering of the same frame: an empty scene (the
// background), two top lines and one bottom line of text with their shadows, and a 4x2 corner
// image scaled into its framed rectangle; pixel-exact, in RGBA and BGRA byte order.
static int run_overlay(void) {
    enum { W = 200, H = 100 };
    vkd_error e = {0};
    vkd_gpu* gpu = NULL;
    vkd_view_renderer* r = NULL;
    if (vkd_gpu_create(&(vkd_gpu_desc){.require_validation = true}, &gpu, &e) || vkd_view_renderer_create(gpu, &r, &e))
        return fail("setup", &e);
    vkd_view_asset none = {0};
    float corner[3 * 2 * 4];
    for (int i = 0; i < 8; i++) corner[i] = (float)i / 7, corner[8 + i] = 1.0f - (float)i / 7, corner[16 + i] = 0.5f;
    if (vkd_view_renderer_set_asset(r, &none, NULL, NULL, &e) || vkd_view_renderer_set_corner(r, corner, 3, 2, 4, &e))
        return fail("asset", &e);
    const char* text = "Hello, vkdream!\n0123456789 ~{|}\n\vbottom line: A-Z a-z";
    const char* lines[3] = {"Hello, vkdream!", "0123456789 ~{|}", "bottom line: A-Z a-z"};
    int cols = (W - 2 * 6) / 6, rows = (H - 2 * 6) / 9;
    int line_row[3] = {0, 1, rows - 1};
    // Expected image.
    static uint8_t want[H][W][3];
    const uint8_t bg[3] = {28, 28, 33};
    int dh = 64, dw = 128;  // a quarter of the height, at least 64; aspect 2:1
    if (dw > W / 2) dw = W / 2, dh = (int)((double)dw * 2 / 4 + 0.5);
    int cx0 = W - dw - 12, cy0 = H - dh - 12;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t* p = want[y][x];
            memcpy(p, bg, 3);
            int lx = x - cx0, ly = y - cy0;
            if (lx >= -1 && ly >= -1 && lx <= dw && ly <= dh) {
                if (lx < 0 || ly < 0 || lx == dw || ly == dh) {
                    p[0] = p[1] = p[2] = 217;
                } else {
                    int sx = (int)(((float)lx + 0.5f) * 4.0f / (float)dw);
                    int sy = (int)(((float)ly + 0.5f) * 2.0f / (float)dh);
                    for (int k = 0; k < 3; k++) p[k] = (uint8_t)(corner[k * 8 + sy * 4 + sx] * 255.0f + 0.5f);
                }
            }
            for (int pass = 0; pass < 2; pass++) {  // 0: ink at (x, y); 1: shadow from (x - 1, y - 1)
                int tx = x - 6 - pass, ty = y - 6 - pass;
                if (tx < 0 || ty < 0) continue;
                int col = tx / 6, row = ty / 9, gx = tx % 6, gy = ty % 9;
                char ch = ' ';
                for (int l = 0; l < 3; l++)
                    if (line_row[l] == row && col < cols && col < (int)strlen(lines[l])) ch = lines[l][col];
                if (vkd_view_font_ink(ch, gx, gy)) {
                    if (pass == 0) p[0] = p[1] = p[2] = 245;
                    else for (int k = 0; k < 3; k++) p[k] = (uint8_t)(p[k] / 5);
                    break;
                }
            }
        }
    int bad = 0;
    for (int bgra = 0; bgra < 2; bgra++) {
        vkd_camera cam = vkd_camera_orbit(&(vkd_orbit_desc){.width = W, .height = H});
        vkd_view_frame_desc fd = {.width = W, .height = H, .bgra = bgra, .text = text, .corner = true};
        vkd_image img;
        if (vkd_view_renderer_render(r, &cam, &fd, &e) || vkd_view_renderer_read(r, &img, &e)) return fail("render", &e);
        int diffs = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                if (memcmp(&img.pixels[((size_t)y * W + x) * 3], want[y][x], 3)) {
                    if (!diffs++) {
                        const uint8_t* g = &img.pixels[((size_t)y * W + x) * 3];
                        fprintf(stderr, "overlay%s: pixel (%d, %d) is %d %d %d, want %d %d %d\n", bgra ? " bgra" : "", x,
                                y, g[0], g[1], g[2], want[y][x][0], want[y][x][1], want[y][x][2]);
                    }
                }
        printf("overlay %s: %d of %d pixels differ from the CPU rendering\n", bgra ? "BGRA" : "RGBA", diffs, W * H);
        bad += diffs > 0;
        vkd_image_free(&img);
    }
    uint32_t msgs = vkd_gpu_validation_messages(gpu);
    vkd_view_renderer_destroy(r);
    vkd_gpu_destroy(gpu);
    return bad || msgs ? 1 : 0;
}

int main(int argc, char** argv) {
    if (argc >= 3 && !strcmp(argv[1], "assets")) return write_assets(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "check"))
        return check_png(argv[2], argc >= 5 ? atoi(argv[3]) : 0, argc >= 5 ? atoi(argv[4]) : 0,
                         argc >= 6 ? atof(argv[5]) : 0.5);
    if (argc >= 3 && !strcmp(argv[1], "live")) return run_live(argv[2]);
    if (argc >= 2 && !strcmp(argv[1], "live-headless")) return run_live_headless();
    if (argc >= 2 && !strcmp(argv[1], "overlay")) return run_overlay();
    if (argc >= 4 && !strcmp(argv[1], "resize")) return run_resize(argv[2], argv[3]);
#ifdef VKD_HAVE_GLFW
    if (argc >= 3 && !strcmp(argv[1], "keys")) return run_keys(argv[2]);
#else
    if (argc >= 3 && !strcmp(argv[1], "keys")) return 77;  // no window to type into
#endif
    fprintf(stderr, "usage: test_viewer assets <dir> | check <png> [W H [min_fraction]] | live <png> | "
                    "live-headless | overlay | resize <asset> <png> | keys <dir>\n");
    return 2;
}
