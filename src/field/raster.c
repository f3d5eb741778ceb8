// Compute-shader triangle rasterizer (include/vkdream/raster.h): depth pass, id pass, shading.
#include "vkdream/raster.h"

#include "field/raster.h"
#include "field/splat.h"
#include "vkd_shaders.h"

#include <stdlib.h>

struct vkd_raster_ctx {
    vkd_gpu* gpu;
    vkd_buffer cam;          // SPLAT_CAM_FLOATS floats, written in stream order
    vkd_buffer depth, ids;   // (H, W) uint32 each
    size_t pixel_cap;        // pixels depth and ids hold
};

vkd_status vkd_raster_ctx_create(vkd_gpu* gpu, vkd_raster_ctx** out, vkd_error* err) {
    vkd_raster_ctx* c = calloc(1, sizeof *c);
    if (!c) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "raster: out of host memory for the context");
    c->gpu = gpu;
    vkd_status st = vkd_buffer_alloc(gpu, SPLAT_CAM_FLOATS * sizeof(float), &c->cam, err);
    if (st) {
        free(c);
        return vkd_error_prefix(err, "raster: allocating the camera buffer: ");
    }
    *out = c;
    return VKD_OK;
}

void vkd_raster_ctx_destroy(vkd_raster_ctx* c) {
    if (!c) return;
    vkd_buffer_free(c->gpu, &c->cam);
    if (c->pixel_cap) {
        vkd_buffer_free(c->gpu, &c->depth);
        vkd_buffer_free(c->gpu, &c->ids);
    }
    free(c);
}

const vkd_buffer* vkd_raster_ctx_ids(const vkd_raster_ctx* c) { return c->pixel_cap ? &c->ids : NULL; }

// Growing frees buffers that work recorded on s may still use: submit s first.
static vkd_status ensure_pixels(vkd_raster_ctx* c, vkd_stream* s, size_t pixels, vkd_error* err) {
    if (pixels <= c->pixel_cap) return VKD_OK;
    vkd_status st = vkd_stream_submit(s, err);
    if (st) return st;
    if (c->pixel_cap) {
        vkd_buffer_free(c->gpu, &c->depth);
        vkd_buffer_free(c->gpu, &c->ids);
        c->pixel_cap = 0;
    }
    if ((st = vkd_buffer_alloc(c->gpu, pixels * 4, &c->depth, err))) return vkd_error_prefix(err, "raster: depth buffer: ");
    if ((st = vkd_buffer_alloc(c->gpu, pixels * 4, &c->ids, err))) {
        vkd_buffer_free(c->gpu, &c->depth);
        return vkd_error_prefix(err, "raster: id buffer: ");
    }
    c->pixel_cap = pixels;
    return VKD_OK;
}

vkd_status vkd_raster_forward(vkd_raster_ctx* c, vkd_stream* s, const vkd_raster_outputs* out,
                              const vkd_raster_mesh* m, const vkd_camera* cam, vkd_raster_shade shade,
                              const float bg[3], vkd_error* err) {
    if (!m || !cam || !out)
        return vkd_error_set(err, VKD_ERR_INVALID, "raster_forward: mesh, camera and outputs must not be NULL");
    if (cam->width < 1 || cam->height < 1)
        return vkd_error_set(err, VKD_ERR_INVALID, "raster_forward: camera size %dx%d, expected at least 1x1",
                             cam->width, cam->height);
    if (m->triangle_count && (!m->positions || !m->indices || !m->vertex_count))
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "raster_forward: %u triangles need positions, indices and vertices (%u vertices)",
                             m->triangle_count, m->vertex_count);
    if ((unsigned)shade > VKD_RASTER_WIREFRAME)
        return vkd_error_set(err, VKD_ERR_INVALID, "raster_forward: shade = %d, expected 0..2", (int)shade);
    uint32_t W = (uint32_t)cam->width, H = (uint32_t)cam->height;
    vkd_status st = ensure_pixels(c, s, (size_t)W * H, err);
    if (st) return st;
    const float* v = cam->viewmat;
    float pos[3];
    vkd_camera_position(cam, pos);
    vkd_splat_cam_push cp = {
        .cams = c->cam.addr, .view = 0,
        .r00 = v[0], .r01 = v[1], .r02 = v[2], .r10 = v[4], .r11 = v[5], .r12 = v[6],
        .r20 = v[8], .r21 = v[9], .r22 = v[10], .t0 = v[3], .t1 = v[7], .t2 = v[11],
        .fx = cam->fx, .fy = cam->fy, .cx = cam->cx, .cy = cam->cy,
        .znear = cam->near_plane, .zfar = cam->far_plane, .px = pos[0], .py = pos[1], .pz = pos[2],
    };
    vkd_stream_dispatch(s, VKD_KERNEL(field_splat_cam), &cp, sizeof cp, 1, 1, 1);
    vkd_stream_fill(s, c->depth.addr, W * H, RASTER_FAR_BITS);
    vkd_stream_fill(s, c->ids.addr, W * H, RASTER_NO_TRIANGLE);
    if (m->triangle_count) {
        vkd_raster_tri_push tp = {
            .positions = m->positions, .indices = m->indices, .cam = c->cam.addr, .depth = c->depth.addr,
            .ids = c->ids.addr, .triangles = m->triangle_count, .width = W, .height = H,
        };
        vkd_stream_dispatch_1d(s, VKD_KERNEL_SPEC(field_raster_tri, 0), &tp, sizeof tp, m->triangle_count, 64);
        vkd_stream_dispatch_1d(s, VKD_KERNEL_SPEC(field_raster_tri, 1), &tp, sizeof tp, m->triangle_count, 64);
    }
    vkd_raster_shade_push sp = {
        .positions = m->positions, .normals = m->normals, .colors = m->colors, .face_colors = m->face_colors,
        .indices = m->indices, .cam = c->cam.addr, .ids = c->ids.addr, .rgb = out->rgb, .alpha = out->alpha,
        .depth = out->depth, .width = W, .height = H, .shade = (uint32_t)shade,
        .bg_r = bg ? bg[0] : 0.0f, .bg_g = bg ? bg[1] : 0.0f, .bg_b = bg ? bg[2] : 0.0f,
    };
    vkd_stream_dispatch(s, VKD_KERNEL(field_raster_shade), &sp, sizeof sp, (W + 15) / 16, (H + 15) / 16, 1);
    return VKD_OK;
}
