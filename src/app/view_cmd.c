// `vkdream view <asset>`: opens a finished asset in the viewer window (or renders it to a PNG
// without one).
#include "app/commands.h"
#include "app/viewer.h"
#include "view/view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void help(void) {
    printf("usage: vkdream view <asset> [options]\n\n"
           "Opens a 3DGS .ply (Gaussians), a NeRF checkpoint (nerf.safetensors from generate --repr nerf)\n"
           "or a mesh (.obj, .ply, .glb) in a window, rendered by vkdream's compute renderers.\n"
           "Without a display it says so; with --screenshot-after\n"
           "it then renders the picture headless instead.\n\n"
           "options:\n"
           "  --width W --height H        window (or headless image) size, default 960 x 720\n"
           "  --screenshot-after N FILE   save frame N as a PNG and exit (headless: one frame)\n"
           "  --mode M                    start in mode M: 1-5 or rgb|normals|depth|opacity|centers\n"
           "  --scale S                   render at S times the window size (0.1..1); default 0.5 for\n"
           "                              Gaussians on CPU devices (lavapipe), else 1\n"
           "  --no-overlay                start with the text overlay hidden\n"
           "  --device <d>                Vulkan device by index or name (also $VKD_DEVICE)\n"
           "  --validation                enable the Vulkan validation layer (also $VKD_VALIDATION=1)\n\n"
           "mouse and keys:\n"
           "  left drag rotate, right (or middle) drag pan, wheel zoom\n"
           "  1 RGB  2 normals  3 depth  4 opacity  5 splat centers (meshes: wireframe)\n"
           "  R reset the camera, A auto-rotate, H overlay on/off, S screenshot, Q / Esc quit\n");
}

static int parse_mode(const char* s) {
    static const char* names[VIEW_MODE_COUNT] = {"rgb", "normals", "depth", "opacity", "centers"};
    for (int i = 0; i < VIEW_MODE_COUNT; i++) {
        if (!strcasecmp(s, names[i])) return i;
        if (s[0] == '1' + i && s[1] == 0) return i;
    }
    return -1;
}

static bool parse_int(const char* s, int lo, int hi, int* out) {
    char* end = NULL;
    long v = strtol(s, &end, 10);
    if (!end || *end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

int vkd_cmd_view(int argc, char** argv) {
    vkd_viewer_desc d = {0};
    const char* path = NULL;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        bool has1 = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help();
            return 0;
        } else if (!strcmp(a, "--width") && has1) {
            if (!parse_int(argv[++i], 16, 16384, &d.width)) {
                fprintf(stderr, "vkdream view: --width %s: expected 16..16384\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--height") && has1) {
            if (!parse_int(argv[++i], 16, 16384, &d.height)) {
                fprintf(stderr, "vkdream view: --height %s: expected 16..16384\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--screenshot-after") && i + 2 < argc) {
            if (!parse_int(argv[++i], 1, 1000000, &d.screenshot_after)) {
                fprintf(stderr, "vkdream view: --screenshot-after %s: expected a frame count >= 1\n", argv[i]);
                return 2;
            }
            d.screenshot_path = argv[++i];
        } else if (!strcmp(a, "--mode") && has1) {
            if ((d.mode = parse_mode(argv[++i])) < 0) {
                fprintf(stderr, "vkdream view: --mode %s: expected 1-5 or rgb|normals|depth|opacity|centers\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--scale") && has1) {
            char* end = NULL;
            d.render_scale = strtof(argv[++i], &end);
            if (!end || *end || !(d.render_scale >= 0.1f && d.render_scale <= 1.0f)) {
                fprintf(stderr, "vkdream view: --scale %s: expected 0.1..1\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--no-overlay")) {
            d.no_overlay = true;
        } else if (!strcmp(a, "--device") && has1) {
            d.device = argv[++i];
        } else if (!strcmp(a, "--validation")) {
            d.validation = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "vkdream view: unknown option '%s' or missing value (see --help)\n", a);
            return 2;
        } else if (!path) {
            path = a;
        } else {
            fprintf(stderr, "vkdream view: one asset at a time ('%s' and '%s')\n", path, a);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "vkdream view: which asset? (vkdream view <file.ply|.obj|.glb|.safetensors>, see --help)\n");
        return 2;
    }
    vkd_error err = {0};
    vkd_status st = vkd_viewer_run_file(&d, path, &err);
    if (st) {
        fprintf(stderr, "vkdream view: %s\n", err.msg);
        return 1;
    }
    return 0;
}
