// The viewer's frame renderer and orbit camera (src/app/view_internal.h): Gaussians through
// the splat renderer, meshes through the compute rasterizer, then one compose kernel that maps
// the render to the display size, applies the render mode, draws the corner image and the
// text overlay, and packs RGBA8 / BGRA8 pixels for the swapchain copy or a screenshot.
#define _POSIX_C_SOURCE 200809L
#include "app/view_internal.h"
#include "app/view_font.h"

#include "vkdream/nerf.h"
#include "vkdream/raster.h"
#include "vkdream/splat.h"
#include "vkd_shaders.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char* const vkd_view_mode_names[VIEW_MODE_COUNT] = {"RGB", "normals", "depth", "opacity", "centers"};

// ---------------------------------------------------------------------------
// Orbit camera

static const double PI = 3.14159265358979323846;

void vkd_view_orbit_frame(vkd_view_orbit* o, const float center[3], float radius) {
    if (!(radius > 0.0f) || !isfinite(radius)) radius = 1.0f;
    if (o->fov_y_deg <= 0.0f) o->fov_y_deg = 40.0f;
    memcpy(o->home_target, center, sizeof o->home_target);
    // The sphere's silhouette spans 2 asin(r / d); fill ~80% of the vertical field of view.
    double half = 0.4 * o->fov_y_deg * PI / 180.0;
    o->home_distance = (float)(radius / sin(half));
    vkd_view_orbit_reset(o);
}

void vkd_view_orbit_reset(vkd_view_orbit* o) {
    memcpy(o->target, o->home_target, sizeof o->target);
    o->distance = o->home_distance > 0.0f ? o->home_distance : 3.0f;
    o->azimuth_deg = 30.0f;
    o->elevation_deg = 20.0f;
}

void vkd_view_orbit_rotate(vkd_view_orbit* o, double dx, double dy) {
    // Dragging right turns the asset right: the camera moves the other way round.
    o->azimuth_deg = (float)fmod(o->azimuth_deg - 0.4 * dx, 360.0);
    double el = o->elevation_deg + 0.4 * dy;
    o->elevation_deg = (float)(el > 89.0 ? 89.0 : el < -89.0 ? -89.0 : el);
}

void vkd_view_orbit_pan(vkd_view_orbit* o, double dx, double dy, int height) {
    vkd_camera cam = vkd_view_orbit_camera(o, height > 0 ? height : 1, height > 0 ? height : 1);
    // World units per pixel at the target's distance.
    double unit = 2.0 * o->distance * tan(0.5 * o->fov_y_deg * PI / 180.0) / (height > 0 ? height : 1);
    // Camera axes in world space are the rows of the world -> camera rotation (x right, y down).
    const float* m = cam.viewmat;
    for (int k = 0; k < 3; k++) o->target[k] -= (float)(unit * (dx * m[k] + dy * m[4 + k]));
}

void vkd_view_orbit_zoom(vkd_view_orbit* o, double steps) {
    double d = o->distance * pow(0.9, steps);
    double lo = 1e-3 * (o->home_distance > 0 ? o->home_distance : 1.0);
    o->distance = (float)(d < lo ? lo : d);
}

vkd_camera vkd_view_orbit_camera(const vkd_view_orbit* o, int width, int height) {
    vkd_orbit_desc od = {
        .azimuth_deg = o->azimuth_deg,
        .elevation_deg = o->elevation_deg,
        .distance = o->distance,
        .fov_y_deg = o->fov_y_deg > 0 ? o->fov_y_deg : 40.0f,
        .width = width,
        .height = height,
        .target = {o->target[0], o->target[1], o->target[2]},
        // The renderers cull what is nearer than the near plane; keep it small relative to
        // the distance so zooming in stays usable, and the far plane well behind the asset.
        .near_plane = 0.01f * o->distance,
        .far_plane = 100.0f * o->distance + 10.0f,
    };
    return vkd_camera_orbit(&od);
}

// ---------------------------------------------------------------------------
// Bounds

static int cmp_float(const void* a, const void* b) {
    float x = *(const float*)a, y = *(const float*)b;
    return x < y ? -1 : x > y;
}

static void sphere_from_box(const float lo[3], const float hi[3], float center[3], float* radius) {
    double r2 = 0;
    for (int k = 0; k < 3; k++) {
        center[k] = 0.5f * (lo[k] + hi[k]);
        r2 += 0.25 * (double)(hi[k] - lo[k]) * (hi[k] - lo[k]);
    }
    *radius = (float)sqrt(r2);
    if (!(*radius > 1e-6f)) *radius = 1.0f;
}

void vkd_view_gaussians_bounds(const vkd_gaussians_host* g, float center[3], float* radius) {
    float lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};
    uint32_t n = g->count;
    float* v = n ? malloc(n * sizeof *v) : NULL;
    for (int k = 0; k < 3 && v; k++) {
        uint32_t m = 0;
        for (uint32_t i = 0; i < n; i++)
            if (isfinite(g->means[3 * i + k])) v[m++] = g->means[3 * i + k];
        if (!m) continue;
        qsort(v, m, sizeof *v, cmp_float);
        // Floaters far from the asset would shrink it to a dot: frame the 1st..99th percentile.
        uint32_t a = m >= 100 ? m / 100 : 0, b = m >= 100 ? m - 1 - m / 100 : m - 1;
        lo[k] = v[a];
        hi[k] = v[b];
    }
    free(v);
    sphere_from_box(lo, hi, center, radius);
}

void vkd_view_mesh_bounds(const vkd_mesh* m, float center[3], float* radius) {
    float lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (uint32_t i = 0; i < m->nverts; i++)
        for (int k = 0; k < 3; k++) {
            float x = m->positions[3 * i + k];
            if (!isfinite(x)) continue;
            lo[k] = fminf(lo[k], x);
            hi[k] = fmaxf(hi[k], x);
        }
    for (int k = 0; k < 3; k++)
        if (lo[k] > hi[k]) lo[k] = hi[k] = 0;
    sphere_from_box(lo, hi, center, radius);
}

// ---------------------------------------------------------------------------
// Renderer

typedef struct growbuf {
    vkd_buffer b;
    size_t cap;
} growbuf;

struct vkd_view_renderer {
    vkd_gpu* gpu;
    vkd_stream* s;
    vkd_splat_ctx* splat;
    vkd_raster_ctx* raster;

    vkd_view_asset_kind kind;
    // Gaussians: the packed host layout on the device; centers-mode scales and opacities.
    growbuf gparams, gscales, gopacity;
    uint32_t gcount;
    int sh_degree;
    // Mesh
    growbuf mpos, mnrm, mcol, mfcol, midx;
    bool has_nrm, has_col, has_fcol;
    uint32_t nverts, ntris;
    // NeRF: the checkpoint loaded on this renderer's device
    vkd_nerf* nerf;
    float center[3], radius;

    // Frame
    growbuf planes;   // rgb (3) | alpha | depth at render size
    growbuf frame;    // (H, W) uint32
    growbuf params, text, font, corner;
    int corner_c, corner_h, corner_w;
    int frame_w, frame_h;
    bool frame_bgra;
};

// Makes sure g holds `bytes`; the stream has nothing pending when the renderer calls this
// (every render ends with a submit), so the old buffer can go at once.
static vkd_status grow(vkd_gpu* gpu, growbuf* g, size_t bytes, vkd_error* err) {
    if (bytes <= g->cap) return VKD_OK;
    if (g->cap) vkd_buffer_free(gpu, &g->b);
    g->cap = 0;
    size_t want = bytes < 256 ? 256 : bytes;
    vkd_status st = vkd_buffer_alloc(gpu, want, &g->b, err);
    if (st) return st;
    g->cap = want;
    return VKD_OK;
}

static void release(vkd_gpu* gpu, growbuf* g) {
    if (g->cap) vkd_buffer_free(gpu, &g->b);
    g->cap = 0;
}

vkd_status vkd_view_renderer_create(vkd_gpu* gpu, vkd_view_renderer** out, vkd_error* err) {
    *out = NULL;
    vkd_view_renderer* r = calloc(1, sizeof *r);
    if (!r) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "viewer: out of host memory");
    r->gpu = gpu;
    vkd_status st = vkd_stream_create(gpu, &r->s, err);
    if (!st) st = vkd_splat_ctx_create(gpu, NULL, &r->splat, err);
    if (!st) st = vkd_raster_ctx_create(gpu, &r->raster, err);
    if (!st) st = grow(gpu, &r->params, VIEW_P_WORDS * 4, err);
    uint32_t font[2 * VKD_VIEW_FONT_GLYPHS];
    vkd_view_font_pack(font);
    if (!st) st = grow(gpu, &r->font, sizeof font, err);
    if (!st) st = vkd_buffer_upload(gpu, &r->font.b, 0, font, sizeof font, err);
    if (!st) st = grow(gpu, &r->corner, 16, err);  // a valid address even without an image
    if (st) {
        vkd_view_renderer_destroy(r);
        return vkd_error_prefix(err, "viewer: ");
    }
    *out = r;
    return VKD_OK;
}

void vkd_view_renderer_destroy(vkd_view_renderer* r) {
    if (!r) return;
    growbuf* all[] = {&r->gparams, &r->gscales, &r->gopacity, &r->mpos, &r->mnrm, &r->mcol, &r->mfcol,
                      &r->midx, &r->planes, &r->frame, &r->params, &r->text, &r->font, &r->corner};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) release(r->gpu, all[i]);
    vkd_nerf_destroy(r->nerf);
    vkd_raster_ctx_destroy(r->raster);
    vkd_splat_ctx_destroy(r->splat);
    vkd_stream_destroy(r->s);
    free(r);
}

static vkd_status upload_floats(vkd_gpu* gpu, growbuf* g, const void* src, size_t bytes, vkd_error* err) {
    vkd_status st = grow(gpu, g, bytes ? bytes : 4, err);
    if (!st && bytes) st = vkd_buffer_upload(gpu, &g->b, 0, src, bytes, err);
    return st;
}

vkd_status vkd_view_renderer_set_asset(vkd_view_renderer* r, const vkd_view_asset* a, float center[3],
                                       float* radius, vkd_error* err) {
    vkd_status st = VKD_OK;
    r->kind = VKD_VIEW_NONE;
    if (a->kind == VKD_VIEW_GAUSSIANS) {
        const vkd_gaussians_host* g = &a->gaussians;
        if (g->sh_degree < 0 || g->sh_degree > VKD_GAUSSIANS_MAX_SH_DEGREE)
            return vkd_error_set(err, VKD_ERR_INVALID, "viewer: Gaussians with SH degree %d (expected 0..3)",
                                 g->sh_degree);
        size_t bytes = (size_t)g->count * vkd_gaussians_row_floats(g->sh_degree) * 4;
        if ((st = upload_floats(r->gpu, &r->gparams, g->data, bytes, err)) ||
            (st = grow(r->gpu, &r->gscales, (size_t)g->count * 12 + 4, err)) ||
            (st = grow(r->gpu, &r->gopacity, (size_t)g->count * 4 + 4, err)))
            return vkd_error_prefix(err, "viewer: uploading %u Gaussians: ", g->count);
        r->gcount = g->count;
        r->sh_degree = g->sh_degree;
        vkd_view_gaussians_bounds(g, r->center, &r->radius);
    } else if (a->kind == VKD_VIEW_MESH) {
        const vkd_mesh* m = &a->mesh;
        for (uint64_t i = 0; i < 3ull * m->ntris; i++)
            if (m->indices[i] >= m->nverts)
                return vkd_error_set(err, VKD_ERR_INVALID, "viewer: mesh index %u at %llu is out of range (%u vertices)",
                                     m->indices[i], (unsigned long long)i, m->nverts);
        r->has_nrm = m->normals != NULL;
        r->has_col = m->colors != NULL;
        r->has_fcol = a->face_colors != NULL;
        size_t vb = (size_t)m->nverts * 12;
        if ((st = upload_floats(r->gpu, &r->mpos, m->positions, vb, err)) ||
            (r->has_nrm && (st = upload_floats(r->gpu, &r->mnrm, m->normals, vb, err))) ||
            (r->has_col && (st = upload_floats(r->gpu, &r->mcol, m->colors, vb, err))) ||
            (r->has_fcol && (st = upload_floats(r->gpu, &r->mfcol, a->face_colors, (size_t)m->ntris * 12, err))) ||
            (st = upload_floats(r->gpu, &r->midx, m->indices, (size_t)m->ntris * 12, err)))
            return vkd_error_prefix(err, "viewer: uploading a mesh of %u triangles: ", m->ntris);
        r->nverts = m->nverts;
        r->ntris = m->ntris;
        vkd_view_mesh_bounds(m, r->center, &r->radius);
    } else if (a->kind == VKD_VIEW_NERF) {
        vkd_nerf* n = NULL;
        if ((st = vkd_nerf_load_checkpoint(r->gpu, a->nerf_path, &n, err))) return vkd_error_prefix(err, "viewer: ");
        vkd_nerf_destroy(r->nerf);
        r->nerf = n;
        // The field lives in the ball |p| <= bound; generated objects fill most of it.
        memset(r->center, 0, sizeof r->center);
        r->radius = 0.8f * vkd_nerf_desc_of(n)->field.bound;
    } else {
        r->radius = 0;
        memset(r->center, 0, sizeof r->center);
    }
    r->kind = a->kind;
    if (center) memcpy(center, r->center, sizeof r->center);
    if (radius) *radius = r->radius;
    return VKD_OK;
}

void vkd_view_renderer_bounds(const vkd_view_renderer* r, float center[3], float* radius) {
    memcpy(center, r->center, sizeof r->center);
    *radius = r->kind ? r->radius : 0.0f;
}

vkd_status vkd_view_renderer_set_corner(vkd_view_renderer* r, const float* chw, int c, int h, int w, vkd_error* err) {
    if (!chw) {
        r->corner_w = r->corner_h = 0;
        return VKD_OK;
    }
    if ((c != 1 && c != 3) || h < 1 || w < 1)
        return vkd_error_set(err, VKD_ERR_INVALID, "viewer: corner image %dx%dx%d, expected 1 or 3 channels", c, h, w);
    size_t plane = (size_t)h * w;
    float* rgb = malloc(3 * plane * sizeof *rgb);
    if (!rgb) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "viewer: out of host memory");
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < plane; i++) {
            float v = chw[(c == 3 ? (size_t)k : 0) * plane + i];
            rgb[k * plane + i] = isfinite(v) ? v : 0.0f;
        }
    vkd_status st = upload_floats(r->gpu, &r->corner, rgb, 3 * plane * sizeof *rgb, err);
    free(rgb);
    if (st) return vkd_error_prefix(err, "viewer: corner image: ");
    r->corner_c = 3;
    r->corner_h = h;
    r->corner_w = w;
    return VKD_OK;
}

// Lays the overlay text out on the cell grid: lines from the top; lines starting with '\v'
// from the bottom (in order). Characters outside printable ASCII show as '?'. Rows
// [*top, *bottom) stay blank (the compose kernel skips them).
static void layout_text(const char* text, uint8_t* grid, uint32_t cols, uint32_t rows, uint32_t* top,
                        uint32_t* bottom) {
    memset(grid, ' ', (size_t)cols * rows);
    const char* lines[64];
    size_t lens[64];
    int n = 0;
    for (const char* p = text; *p && n < 64;) {
        const char* e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        lines[n] = p;
        lens[n++] = len;
        p += len + (e ? 1 : 0);
    }
    uint32_t nbottom = 0;
    for (int i = 0; i < n; i++) nbottom += lines[i][0] == '\v';
    uint32_t top_row = 0, bottom_row = rows >= nbottom ? rows - nbottom : 0;
    *bottom = bottom_row;
    for (int i = 0; i < n; i++) {
        bool at_bottom = lines[i][0] == '\v';
        uint32_t row = at_bottom ? bottom_row++ : top_row++;
        if (row >= rows) continue;
        const char* s = lines[i] + at_bottom;
        size_t len = lens[i] - at_bottom;
        for (size_t c = 0; c < len && c < cols; c++) {
            unsigned char ch = (unsigned char)s[c];
            grid[(size_t)row * cols + c] = ch >= 32 && ch <= 126 ? ch : '?';
        }
    }
    *top = top_row < *bottom ? top_row : *bottom;
}

vkd_status vkd_view_renderer_render(vkd_view_renderer* r, const vkd_camera* cam_in, const vkd_view_frame_desc* f,
                                    vkd_error* err) {
    if (f->width < 1 || f->height < 1)
        return vkd_error_set(err, VKD_ERR_INVALID, "viewer: frame size %dx%d", f->width, f->height);
    if (f->mode < 0 || f->mode >= VIEW_MODE_COUNT)
        return vkd_error_set(err, VKD_ERR_INVALID, "viewer: render mode %d (expected 0..%d)", f->mode,
                             VIEW_MODE_COUNT - 1);
    uint32_t W = (uint32_t)f->width, H = (uint32_t)f->height;
    // Auto: on CPU devices (lavapipe) Gaussians render at half the size and NeRFs at a quarter;
    // rasterizing / ray marching them is most of a frame's time there, and it scales with the
    // pixels. Meshes are cheap: full size.
    bool cpu = vkd_gpu_get_info(r->gpu)->kind == VKD_DEVICE_CPU;
    float scale = f->render_scale > 0.0f                   ? f->render_scale
                  : cpu && r->kind == VKD_VIEW_GAUSSIANS ? 0.5f
                  : cpu && r->kind == VKD_VIEW_NERF      ? 0.25f
                                                         : 1.0f;
    if (scale > 1.0f) scale = 1.0f;
    uint32_t rw = (uint32_t)fmax(1.0, floor(W * scale + 0.5)), rh = (uint32_t)fmax(1.0, floor(H * scale + 0.5));
    // The camera at render size: the same view with intrinsics scaled.
    vkd_camera cam = *cam_in;
    float sx = (float)rw / (float)cam_in->width, sy = (float)rh / (float)cam_in->height;
    cam.fx *= sx, cam.cx *= sx, cam.fy *= sy, cam.cy *= sy;
    cam.width = (int32_t)rw, cam.height = (int32_t)rh;

    size_t plane = (size_t)rw * rh;
    vkd_status st;
    if ((st = grow(r->gpu, &r->planes, 5 * plane * 4, err)) || (st = grow(r->gpu, &r->frame, (size_t)W * H * 4, err)))
        return vkd_error_prefix(err, "viewer: frame buffers for %ux%u: ", W, H);
    vkd_addr rgb = r->planes.b.addr, alpha = rgb + 3 * plane * 4, depth = rgb + 4 * plane * 4;

    // Text grid (host -> device before anything is recorded: nothing is pending on the stream).
    int ts = f->width >= 1600 ? 2 : 1;
    uint32_t cols = 0, rows = 0, top = 0, bottom = 0;
    if (f->text) {
        int usable_w = f->width - 2 * VIEW_TEXT_MARGIN, usable_h = f->height - 2 * VIEW_TEXT_MARGIN;
        cols = usable_w > 0 ? (uint32_t)(usable_w / (VIEW_CELL_W * ts)) : 0;
        rows = usable_h > 0 ? (uint32_t)(usable_h / (VIEW_CELL_H * ts)) : 0;
    }
    bool text = cols && rows;
    if (text) {
        size_t bytes = ((size_t)cols * rows + 3) & ~(size_t)3;
        uint8_t* grid = malloc(bytes);
        if (!grid) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "viewer: out of host memory");
        memset(grid, ' ', bytes);
        layout_text(f->text, grid, cols, rows, &top, &bottom);
        st = upload_floats(r->gpu, &r->text, grid, bytes, err);
        free(grid);
        if (st) return vkd_error_prefix(err, "viewer: overlay text: ");
    } else if ((st = grow(r->gpu, &r->text, 4, err))) {
        return st;
    }

    // Parameter block.
    union {
        uint32_t u;
        float f;
    } pw[VIEW_P_WORDS];
    memset(pw, 0, sizeof pw);
    static const float bg[3] = {0.11f, 0.11f, 0.13f};
    bool corner = f->corner && r->corner_w > 0;
    bool mesh = r->kind == VKD_VIEW_MESH, gauss = r->kind == VKD_VIEW_GAUSSIANS, nerf = r->kind == VKD_VIEW_NERF;
    uint32_t flags = (f->bgra ? VIEW_FLAG_BGRA : 0) | (gauss || nerf ? VIEW_FLAG_NORMALS_FROM_DEPTH : 0) |
                     (corner ? VIEW_FLAG_CORNER : 0);
    if (corner) {
        // Bottom right, a quarter of the display height (at least 64 px), aspect kept.
        int dh = f->height / 4 < 64 ? 64 : f->height / 4;
        int dw = (int)((double)dh * r->corner_w / r->corner_h + 0.5);
        if (dw > f->width / 2) dw = f->width / 2, dh = (int)((double)dw * r->corner_h / r->corner_w + 0.5);
        if (dw < 1) dw = 1;
        if (dh < 1) dh = 1;
        pw[VIEW_P_CORNER_W].u = (uint32_t)r->corner_w, pw[VIEW_P_CORNER_H].u = (uint32_t)r->corner_h;
        pw[VIEW_P_CORNER_DW].u = (uint32_t)dw, pw[VIEW_P_CORNER_DH].u = (uint32_t)dh;
        int x0 = f->width - dw - 2 * VIEW_TEXT_MARGIN, y0 = f->height - dh - 2 * VIEW_TEXT_MARGIN;
        pw[VIEW_P_CORNER_X].u = (uint32_t)(x0 > 1 ? x0 : 1), pw[VIEW_P_CORNER_Y].u = (uint32_t)(y0 > 1 ? y0 : 1);
    }
    // Depth range: from the nearest point of the asset's bounding sphere to a quarter radius
    // behind its center; what is visible of a solid asset is its front half, and the bounding
    // sphere of a box is loose.
    float campos[3];
    vkd_camera_position(&cam, campos);
    double dist = sqrt((campos[0] - r->center[0]) * (campos[0] - r->center[0]) +
                       (campos[1] - r->center[1]) * (campos[1] - r->center[1]) +
                       (campos[2] - r->center[2]) * (campos[2] - r->center[2]));
    double rad = r->radius > 0 ? r->radius : 1.0;
    pw[VIEW_P_NEAR_F].f = (float)fmax(dist - rad, 1e-4);
    pw[VIEW_P_FAR_F].f = (float)(dist + 0.25 * rad);
    pw[VIEW_P_FX_F].f = cam.fx, pw[VIEW_P_FX_F + 1].f = cam.fy;
    pw[VIEW_P_FX_F + 2].f = cam.cx, pw[VIEW_P_FX_F + 3].f = cam.cy;
    for (int rr = 0; rr < 3; rr++)
        for (int cc = 0; cc < 3; cc++) pw[VIEW_P_ROT_F + 3 * rr + cc].f = cam.viewmat[4 * rr + cc];
    if ((st = vkd_buffer_upload(r->gpu, &r->params.b, 0, pw, sizeof pw, err))) return vkd_error_prefix(err, "viewer: ");

    // The asset at render size.
    if (gauss && r->gcount) {
        uint32_t n = r->gcount;
        int K = (r->sh_degree + 1) * (r->sh_degree + 1);
        vkd_addr base = r->gparams.b.addr;
#define GROUP_ADDR(g) (base + 4 * vkd_gaussians_group_offset(g, n, r->sh_degree))
        vkd_splat_params sp = {
            .means = GROUP_ADDR(VKD_GAUSSIANS_MEANS),
            .log_scales = GROUP_ADDR(VKD_GAUSSIANS_LOG_SCALES),
            .quats = GROUP_ADDR(VKD_GAUSSIANS_QUATS),
            .opacity_logits = GROUP_ADDR(VKD_GAUSSIANS_OPACITY),
            .sh = GROUP_ADDR(VKD_GAUSSIANS_SH),
            .count = n,
            .sh_degree = r->sh_degree,
            .sh_stride = (uint32_t)K,
        };
#undef GROUP_ADDR
        if (f->mode == VIEW_MODE_CENTERS) {
            const float* m = cam.viewmat;
            vkd_view_centers_push cp = {
                .means = sp.means, .log_scales = r->gscales.b.addr, .opacity = r->gopacity.b.addr, .n = n,
                .r20 = m[8], .r21 = m[9], .r22 = m[10], .t2 = m[11], .fx = cam.fx,
                .pixels = 1.2f, .logit = 4.0f,  // sigmoid(4) = 0.98
            };
            vkd_stream_dispatch_1d(r->s, VKD_KERNEL(view_centers), &cp, sizeof cp, n, 128);
            sp.log_scales = r->gscales.b.addr;
            sp.opacity_logits = r->gopacity.b.addr;
        }
        vkd_splat_outputs so = {.rgb = rgb, .alpha = alpha, .depth = depth};
        if ((st = vkd_splat_forward(r->splat, r->s, &so, &sp, &cam, 1, bg, err)))
            return vkd_error_prefix(err, "viewer: ");
    } else if (mesh) {
        vkd_raster_mesh rm = {
            .positions = r->mpos.b.addr,
            .normals = r->has_nrm ? r->mnrm.b.addr : 0,
            .colors = r->has_col ? r->mcol.b.addr : 0,
            .face_colors = r->has_fcol ? r->mfcol.b.addr : 0,
            .indices = r->midx.b.addr,
            .vertex_count = r->nverts,
            .triangle_count = r->ntris,
        };
        vkd_raster_shade shade = f->mode == VIEW_MODE_NORMALS   ? VKD_RASTER_NORMALS
                                 : f->mode == VIEW_MODE_CENTERS ? VKD_RASTER_WIREFRAME
                                                                : VKD_RASTER_LIT;
        vkd_raster_outputs ro = {.rgb = rgb, .alpha = alpha, .depth = depth};
        if ((st = vkd_raster_forward(r->raster, r->s, &ro, &rm, &cam, shade, bg, err)))
            return vkd_error_prefix(err, "viewer: ");
    } else if (nerf) {
        // Albedo over the viewer's background; depth is the expected ray distance times the
        // opacity, which the compose kernel reads like the splat renderer's depth. (No centers
        // mode for a volume: it shows RGB.)
        vkd_volrend_image out = {.rgb = rgb, .opacity = alpha, .depth = depth};
        if ((st = vkd_nerf_render(r->nerf, r->s, &out, &cam, 1, &(vkd_nerf_render_desc){.bg_color = bg}, err)))
            return vkd_error_prefix(err, "viewer: ");
    } else {
        // Nothing yet (a live view before the first snapshot): background only.
        for (int k = 0; k < 3; k++) {
            uint32_t bits;
            memcpy(&bits, &bg[k], 4);
            vkd_stream_fill(r->s, rgb + (vkd_addr)k * plane * 4, (uint32_t)plane, bits);
        }
        vkd_stream_fill(r->s, alpha, 2 * (uint32_t)plane, 0);
    }
    vkd_view_compose_push cp = {
        .rgb = rgb, .alpha = alpha, .depth = depth, .params = r->params.b.addr, .text = r->text.b.addr,
        .font = r->font.b.addr, .corner = r->corner.b.addr, .dst = r->frame.b.addr,
        .width = W, .height = H, .rwidth = rw, .rheight = rh, .bg_r = bg[0], .bg_g = bg[1], .bg_b = bg[2],
    };
    vkd_stream_dispatch(r->s, VKD_KERNEL_SPEC(view_compose, (uint32_t)f->mode, flags), &cp, sizeof cp, (W + 15) / 16,
                        (H + 15) / 16, 1);
    if (text) {
        // Two bands: the top rows [0, top) and the bottom rows [bottom, rows), each with the
        // one-pixel-per-text-pixel shadow below and right of it.
        uint32_t cw = VIEW_CELL_W * (uint32_t)ts, ch = VIEW_CELL_H * (uint32_t)ts;
        uint32_t band_w = VIEW_TEXT_MARGIN + cols * cw + (uint32_t)ts;
        uint32_t y0[2] = {0, VIEW_TEXT_MARGIN + bottom * ch}, y1[2] = {VIEW_TEXT_MARGIN + top * ch + (uint32_t)ts,
                                                                        VIEW_TEXT_MARGIN + rows * ch + (uint32_t)ts};
        for (int b = 0; b < 2; b++) {
            if (y1[b] > H) y1[b] = H;
            if ((b == 0 ? top == 0 : bottom >= rows) || y1[b] <= y0[b]) continue;
            vkd_view_text_push tp = {
                .text = r->text.b.addr, .font = r->font.b.addr, .dst = r->frame.b.addr, .width = W, .height = H,
                .x0 = 0, .y0 = y0[b], .w = band_w < W ? band_w : W, .h = y1[b] - y0[b], .cols = cols, .rows = rows,
                .scale = (uint32_t)ts,
            };
            vkd_stream_dispatch(r->s, VKD_KERNEL(view_text), &tp, sizeof tp, (tp.w + 15) / 16, (tp.h + 15) / 16, 1);
        }
    }
    if ((st = vkd_stream_submit(r->s, err))) return vkd_error_prefix(err, "viewer: rendering a frame: ");
    r->frame_w = f->width;
    r->frame_h = f->height;
    r->frame_bgra = f->bgra;
    return VKD_OK;
}

const vkd_buffer* vkd_view_renderer_frame(const vkd_view_renderer* r) { return r->frame_w ? &r->frame.b : NULL; }

vkd_status vkd_view_renderer_read(vkd_view_renderer* r, vkd_image* out, vkd_error* err) {
    memset(out, 0, sizeof *out);
    if (!r->frame_w) return vkd_error_set(err, VKD_ERR_INVALID, "viewer: no frame rendered yet");
    size_t px = (size_t)r->frame_w * r->frame_h;
    uint32_t* raw = malloc(px * 4);
    if (!raw) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "viewer: out of host memory");
    vkd_status st = vkd_buffer_download(r->gpu, &r->frame.b, 0, raw, px * 4, err);
    if (!st) st = vkd_image_alloc(out, r->frame_w, r->frame_h, 3, err);
    if (!st) {
        // The frame's byte order follows the swapchain's (RGBA or BGRA).
        bool bgra = r->frame_bgra;
        for (size_t i = 0; i < px && !st; i++) {
            uint32_t v = raw[i];
            uint8_t c0 = v & 0xFF, c1 = (v >> 8) & 0xFF, c2 = (v >> 16) & 0xFF;
            out->pixels[3 * i] = bgra ? c2 : c0;
            out->pixels[3 * i + 1] = c1;
            out->pixels[3 * i + 2] = bgra ? c0 : c2;
        }
    }
    free(raw);
    if (st) vkd_image_free(out);
    return st;
}
