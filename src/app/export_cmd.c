// `vkdream export <asset> --format obj|ply|glb --out FILE`: a mesh from a 3DGS .ply, a
// Gaussian checkpoint or a NeRF checkpoint.
#define _POSIX_C_SOURCE 200809L
#include "app/commands.h"
#include "vkdream/export.h"
#include "vkdream/safetensors.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE* f) {
    fprintf(f,
            "usage: vkdream export <asset> [--format obj|ply|glb] [--out FILE] [--resolution N] [--iso X]\n"
            "                      [--faces N] [--texture N] [--keep-small] [--no-center]\n"
            "\n"
            "Meshes an asset: a 3DGS .ply (what generate writes as asset.ply), a Gaussian checkpoint or a NeRF\n"
            "checkpoint (.safetensors):\n"
            "  density grid (--resolution, default 128)\n"
            "  -> marching cubes at the iso-level (default: 0.5 of the Gaussians' opacity field; for a NeRF the\n"
            "     density where a voxel-thick slab is half opaque, ln 2 / voxel size)\n"
            "  -> components below 5%% of the largest dropped (unless --keep-small)\n"
            "  -> decimation to --faces N triangles (quadric error; default: keep all)\n"
            "  -> per-vertex colors -> centered (+Y up, scene units)\n"
            "  -> with --texture N: a UV atlas (one chart per triangle) and a baked N x N PNG instead\n"
            "  -> OBJ (vertex colors; or MTL + PNG), binary PLY (vertex colors) or GLB (glTF 2.0, COLOR_0\n"
            "     or an embedded texture).\n"
            "Default --out: the asset's name with the format's extension.\n");
}

int vkd_cmd_export(int argc, char** argv) {
    const char* in = NULL;
    const char* format = "glb";
    const char* out = NULL;
    vkd_export_desc d = {0};
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        bool has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--format") && has) {
            format = argv[++i];
        } else if (!strcmp(a, "--out") && has) {
            out = argv[++i];
        } else if (!strcmp(a, "--resolution") && has) {
            long r = strtol(argv[++i], NULL, 10);
            if (r < 8 || r > 1024) {
                fprintf(stderr, "vkdream export: --resolution %s: expected 8..1024\n", argv[i]);
                return 2;
            }
            d.resolution = (uint32_t)r;
        } else if (!strcmp(a, "--iso") && has) {
            d.iso = strtof(argv[++i], NULL);
            if (!(d.iso > 0)) {
                fprintf(stderr, "vkdream export: --iso %s: expected a positive number\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--faces") && has) {
            long f = strtol(argv[++i], NULL, 10);
            if (f < 4) {
                fprintf(stderr, "vkdream export: --faces %s: expected at least 4\n", argv[i]);
                return 2;
            }
            d.faces = (uint32_t)f;
        } else if (!strcmp(a, "--texture") && has) {
            long t = strtol(argv[++i], NULL, 10);
            if (t < 16 || t > 16384) {
                fprintf(stderr, "vkdream export: --texture %s: expected a size in 16..16384\n", argv[i]);
                return 2;
            }
            d.texture = (uint32_t)t;
        } else if (!strcmp(a, "--keep-small")) {
            d.min_component = -1;
        } else if (!strcmp(a, "--no-center")) {
            d.no_center = true;
        } else if (a[0] == '-' || in) {
            fprintf(stderr, "vkdream export: unexpected argument '%s'\n\n", a);
            usage(stderr);
            return 2;
        } else {
            in = a;
        }
    }
    if (!in) {
        usage(stderr);
        return 2;
    }
    if (strcmp(format, "obj") && strcmp(format, "ply") && strcmp(format, "glb")) {
        fprintf(stderr, "vkdream export: --format %s: expected obj, ply or glb\n", format);
        return 2;
    }
    char outbuf[4200];
    if (!out) {
        snprintf(outbuf, sizeof outbuf, "%s", in);
        char* dot = strrchr(outbuf, '.');
        char* slash = strrchr(outbuf, '/');
        if (dot && (!slash || dot > slash)) *dot = 0;
        strncat(outbuf, ".", sizeof outbuf - strlen(outbuf) - 1);
        strncat(outbuf, format, sizeof outbuf - strlen(outbuf) - 1);
        out = outbuf;
    }
    vkd_error err = {0};
    vkd_mesh m = {0};
    vkd_gpu* gpu = NULL;
    vkd_stream* s = NULL;
    vkd_status st;
    size_t n = strlen(in);
    if (n > 4 && !strcmp(in + n - 4, ".ply")) {
        vkd_gaussians_host h = {0};
        st = vkd_gaussians_ply_read(in, &h, &err);
        if (!st) st = vkd_export_gaussians(&h, &d, &m, &err);
        vkd_gaussians_host_free(&h);
    } else {
        vkd_safetensors* f = NULL;
        st = vkd_safetensors_open(in, &f, &err);
        const char* fmt = f ? vkd_safetensors_metadata(f, "format") : NULL;
        char kind[64];
        snprintf(kind, sizeof kind, "%s", fmt ? fmt : "");
        if (f) vkd_safetensors_close(f);
        if (!st) st = vkd_gpu_create(&(vkd_gpu_desc){0}, &gpu, &err);
        if (!st) st = vkd_stream_create(gpu, &s, &err);
        if (!st && !strcmp(kind, "vkdream-nerf")) {
            vkd_nerf* nerf = NULL;
            st = vkd_nerf_load_checkpoint(gpu, in, &nerf, &err);
            if (!st) st = vkd_export_nerf(nerf, s, &d, &m, &err);
            if (nerf) vkd_nerf_destroy(nerf);
        } else if (!st && !strcmp(kind, "vkdream-gaussians")) {
            vkd_gaussians* g = NULL;
            vkd_gaussians_host h = {0};
            st = vkd_gaussians_load_checkpoint(gpu, s, in, &(vkd_gaussians_desc){0}, &g, &err);
            if (!st) st = vkd_gaussians_download(g, s, VKD_GAUSSIANS_PARAMS, &h, &err);
            if (!st) st = vkd_export_gaussians(&h, &d, &m, &err);
            vkd_gaussians_host_free(&h);
            if (g) vkd_gaussians_destroy(g);
        } else if (!st) {
            st = vkd_error_set(&err, VKD_ERR_INVALID,
                               "%s: not a vkdream checkpoint (metadata format '%s'; expected vkdream-gaussians or "
                               "vkdream-nerf), nor a .ply",
                               in, kind);
        }
    }
    if (!st) st = vkd_export_write(&m, format, out, &err);
    if (st) fprintf(stderr, "vkdream export: %s\n", err.msg);
    else fprintf(stderr, "vkdream export: %u vertices, %u triangles -> %s\n", m.nverts, m.ntris, out);
    vkd_mesh_free(&m);
    if (s) vkd_stream_destroy(s);
    if (gpu) vkd_gpu_destroy(gpu);
    return st ? 1 : 0;
}
