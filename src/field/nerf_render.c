// Rendering and its backward for the assembled NeRF: rays -> march -> field (chunked) -> normals
// -> shading -> compositing over the background, and the chain back to the parameters.
#include "field/nerf_internal.h"

#include <math.h>
#include <stdlib.h>

#define MAX_RAYS (1u << 26)

static uint32_t min_u32(uint64_t a, uint64_t b) { return (uint32_t)(a < b ? a : b); }

#define RAY(region) NERF_AT(n->rays, n->rl.region)
#define SMP(region) NERF_AT(n->samples, n->sl.region)

// Field forward over samples [0, count), in chunks through ws (densities into sigma, albedo into
// albedo when `color`); ws keeps the state for the backward when one chunk holds them all.
static void field_chunks(vkd_nerf* n, vkd_stream* s, uint32_t count, bool color) {
    uint32_t chunk = n->desc.chunk;
    for (uint32_t first = 0; first < count; first += chunk) {
        uint32_t c = min_u32(count - first, chunk);
        vkd_nerf_field_forward(n->field, s, SMP(sigma) + 4ull * first, color ? SMP(albedo) + 12ull * first : 0,
                               SMP(positions) + 12ull * first, c, n->ws.buf.addr);
    }
    n->ws_valid = count <= chunk;
}

// Density gradients (n, 3) of the samples into grad: finite differences through ws_fd, or the
// analytic gradient through ws (before the field forward, which then overwrites its state).
static void gradient_chunks(vkd_nerf* n, vkd_stream* s, uint32_t count) {
    bool fd = n->desc.normals == VKD_NERF_NORMALS_FINITE_DIFFERENCE;
    uint32_t chunk = fd ? vkd_nerf_fd_chunk(n) : n->desc.chunk;
    for (uint32_t first = 0; first < count; first += chunk) {
        uint32_t c = min_u32(count - first, chunk);
        vkd_addr grad = SMP(grad) + 12ull * first, pos = SMP(positions) + 12ull * first;
        if (fd)
            vkd_nerf_field_fd_grad_forward(n->field, s, grad, pos, c, n->desc.normal_eps, n->ws_fd.buf.addr);
        else
            vkd_nerf_field_density_grad(n->field, s, grad, 0, pos, c, n->ws.buf.addr);
    }
    n->ws_fd_valid = fd && count <= chunk;
    if (!fd) n->ws_valid = false;
}

static vkd_status check_render(const vkd_volrend_image* out, const vkd_camera* cams, uint32_t views,
                               const vkd_nerf_render_desc* rd, vkd_error* err) {
    if (!out || !cams || !views)
        return vkd_error_set(err, VKD_ERR_INVALID, "nerf_render: out, cams and views >= 1 are required (views = %u)",
                             views);
    if ((unsigned)rd->shading > VKD_VOLREND_SHADE_TEXTURELESS)
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "nerf_render: shading = %d, expected albedo, lambertian or textureless", (int)rd->shading);
    for (uint32_t b = 0; b < views; b++)
        if (cams[b].width != cams[0].width || cams[b].height != cams[0].height || cams[b].width <= 0 ||
            cams[b].height <= 0)
            return vkd_error_set(err, VKD_ERR_INVALID,
                                 "nerf_render: camera %u is %dx%d, expected every camera to be %dx%d (and non-empty)",
                                 b, cams[b].width, cams[b].height, cams[0].width, cams[0].height);
    uint64_t rays = (uint64_t)views * (uint64_t)cams[0].width * (uint64_t)cams[0].height;
    if (rays > MAX_RAYS)
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "nerf_render: %u views of %dx%d are %llu rays, at most %u per render", views,
                             cams[0].width, cams[0].height, (unsigned long long)rays, MAX_RAYS);
    return VKD_OK;
}

static vkd_status reserve_render(vkd_nerf* n, vkd_stream* s, uint32_t samples, bool normals, vkd_error* err) {
    // Sample counts vary from step to step: a quarter of headroom avoids regrowing every time.
    uint64_t want = (uint64_t)samples + samples / 4 + 1024;
    vkd_status st = VKD_OK;
    if (n->samples.cap < samples)
        st = vkd_nerf_pool_reserve(n, s, &n->samples, want, 4 * vkd_nerf_sample_layout((uint32_t)want).total, "sample",
                                   err);
    uint32_t pts = min_u32(want, n->desc.chunk);
    if (!st && n->ws.cap < min_u32(samples, n->desc.chunk))
        st = vkd_nerf_pool_reserve(n, s, &n->ws, pts, vkd_nerf_field_workspace_bytes(n->field, pts), "workspace", err);
    uint32_t fd = min_u32(want, vkd_nerf_fd_chunk(n));
    if (!st && normals && n->desc.normals == VKD_NERF_NORMALS_FINITE_DIFFERENCE &&
        n->ws_fd.cap < min_u32(samples, vkd_nerf_fd_chunk(n)))
        st = vkd_nerf_pool_reserve(n, s, &n->ws_fd, fd, vkd_nerf_field_workspace_bytes(n->field, 6 * fd),
                                   "normals workspace", err);
    return st;
}

static vkd_status upload_lights(vkd_nerf* n, const vkd_camera* cams, uint32_t views, const float* lights,
                                vkd_error* err) {
    float* h = malloc(12ull * views);
    if (!h) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "nerf_render: out of host memory");
    for (uint32_t b = 0; b < views; b++) {
        if (lights)
            for (int k = 0; k < 3; k++) h[3 * b + k] = lights[3 * b + k];
        else
            vkd_camera_position(&cams[b], h + 3 * b);
    }
    vkd_status st = vkd_buffer_upload(n->gpu, &n->rays.buf, 4 * n->rl.lights, h, 12ull * views, err);
    free(h);
    return st;
}

vkd_status vkd_nerf_render(vkd_nerf* n, vkd_stream* s, const vkd_volrend_image* out, const vkd_camera* cams,
                           uint32_t views, const vkd_nerf_render_desc* desc, vkd_error* err) {
    n->rendered = false;
    vkd_nerf_render_desc rd = desc ? *desc : (vkd_nerf_render_desc){0};
    vkd_status st = check_render(out, cams, views, &rd, err);
    if (st) return st;
    uint32_t rpv = (uint32_t)(cams[0].width * cams[0].height), rays = views * rpv;
    bool lit = rd.shading != VKD_VOLREND_SHADE_ALBEDO, color = rd.shading != VKD_VOLREND_SHADE_TEXTURELESS;
    bool normals = lit || out->normals;
    // The pool is sized as if every ray were a view, so any view count of this many rays fits.
    st = vkd_nerf_pool_reserve(n, s, &n->rays, rays, 4 * vkd_nerf_ray_layout(n, rays, rays).total, "ray", err);
    if (st) return st;
    n->rl = vkd_nerf_ray_layout(n, rays, views);
    float bound = n->desc.field.bound;
    vkd_volrend_rays(s, RAY(origins), RAY(dirs), RAY(near_far), cams, views, bound);
    vkd_volrend_march_desc md = {.radius = bound,
                                 .num_steps = n->desc.num_steps,
                                 .stratified = rd.stratified,
                                 .seed = rd.seed,
                                 .grid_bits = n->grid ? vkd_occgrid_bits(n->grid) : 0,
                                 .grid_res = n->grid ? vkd_occgrid_resolution(n->grid) : 0};
    vkd_volrend_march_count(s, RAY(offsets), RAY(origins), RAY(dirs), RAY(near_far), rays, &md, RAY(scratch));
    uint32_t N = 0;
    if ((st = vkd_stream_submit(s, err)) ||
        (st = vkd_buffer_download(n->gpu, &n->rays.buf, 4 * (n->rl.offsets + rays), &N, 4, err)))
        return vkd_error_prefix(err, "nerf_render: counting samples: ");
    if ((st = reserve_render(n, s, N, normals, err))) return st;
    n->sl = vkd_nerf_sample_layout(N);
    if (lit && (st = upload_lights(n, cams, views, rd.lights, err))) return st;

    vkd_volrend_samples smp = {SMP(positions), SMP(dirs), SMP(intervals), SMP(ray)};
    vkd_volrend_march_emit(s, &smp, RAY(offsets), RAY(origins), RAY(dirs), RAY(near_far), rays, &md);
    n->bg_learned = !rd.bg_color && n->bg_count;
    if (n->bg_learned) {
        vkd_nerf_sh_encode(s, RAY(bg_sh), RAY(dirs), rays);
        vkd_mlp_forward(s, RAY(bg), RAY(bg_saved), RAY(bg_sh), n->bg_params.addr, rays, &n->bg_mlp);
    } else {
        vkd_volrend_fill_bg(s, RAY(bg), rays, rd.bg_color ? rd.bg_color : n->desc.bg_color);
    }
    n->ws_fd_valid = false;
    if (normals && N) {
        gradient_chunks(n, s, N);
        vkd_volrend_normals_forward(s, SMP(normals), SMP(grad), N, 0);
    }
    field_chunks(n, s, N, color);
    n->shade = (vkd_volrend_shade_desc){.mode = rd.shading};
    for (int k = 0; k < 3; k++) n->shade.ambient[k] = rd.ambient[k], n->shade.diffuse[k] = rd.diffuse[k];
    if (lit)
        vkd_volrend_shade_forward(s, SMP(color), SMP(albedo), SMP(normals), SMP(positions), SMP(ray), RAY(lights), N,
                                  rpv, &n->shade);
    // The opacity always lands in the ray pool too: the regularisers read it in the backward.
    vkd_volrend_image img = {.rgb = out->rgb, .opacity = RAY(opacity), .depth = out->depth, .normals = out->normals};
    vkd_volrend_composite_forward(s, &img, SMP(weights), RAY(offsets), SMP(sigma), lit ? SMP(color) : SMP(albedo),
                                  SMP(intervals), normals ? SMP(normals) : 0, RAY(bg), rays, rpv);
    if (out->opacity) vkd_stream_copy(s, out->opacity, RAY(opacity), rays);
    n->views = views;
    n->rays_per_view = rpv;
    n->n_rays = rays;
    n->n_samples = N;
    n->has_normals = normals;
    n->rendered = true;
    n->reg_ran = false;
    return VKD_OK;
}

// ---------------------------------------------------------------------------
// Backward

// The opacity cotangent: the image's plus the opacity regularisers' gradients (d_opacity region),
// their losses (mean over the pixels) into losses[0] and [1].
static vkd_addr opacity_cotangent(vkd_nerf* n, vkd_stream* s, vkd_addr g_op, const vkd_nerf_regularisers* r) {
    if (!(r->sparsity > 0) && !(r->opaque > 0)) return g_op;
    uint32_t rays = n->n_rays;
    float scale = 1.0f / (float)rays;
    vkd_addr d = RAY(d_opacity), op = RAY(opacity), losses = RAY(losses);
    if (g_op)
        vkd_stream_copy(s, d, g_op, rays);
    else
        vkd_stream_fill(s, d, rays, 0);
    static const vkd_volrend_opacity_loss kinds[2] = {VKD_VOLREND_OPACITY_SQRT, VKD_VOLREND_OPACITY_ENTROPY};
    float w[2] = {r->sparsity, r->opaque};
    for (int i = 0; i < 2; i++) {
        if (!(w[i] > 0)) continue;
        vkd_volrend_opacity_loss_forward(s, losses + 4 * i, op, rays, kinds[i], scale, 0);
        vkd_volrend_opacity_loss_backward(s, d, w[i], op, rays, kinds[i], scale, 0);
    }
    return d;
}

// Field parameter gradients from d sigma and d albedo, chunk by chunk; a chunk's forward runs
// again when the workspace does not hold its state.
static void field_backward_chunks(vkd_nerf* n, vkd_stream* s, uint32_t count, bool color) {
    uint32_t chunk = n->desc.chunk;
    for (uint32_t first = 0; first < count; first += chunk) {
        uint32_t c = min_u32(count - first, chunk);
        vkd_addr pos = SMP(positions) + 12ull * first;
        if (!n->ws_valid)
            vkd_nerf_field_forward(n->field, s, SMP(sigma) + 4ull * first, color ? SMP(albedo) + 12ull * first : 0, pos,
                                   c, n->ws.buf.addr);
        vkd_nerf_field_backward(n->field, s, 0, SMP(d_sigma) + 4ull * first, color ? SMP(d_albedo) + 12ull * first : 0,
                                pos, c, n->ws.buf.addr);
    }
}

static void fd_backward_chunks(vkd_nerf* n, vkd_stream* s, uint32_t count) {
    uint32_t chunk = vkd_nerf_fd_chunk(n);
    float eps = n->desc.normal_eps;
    for (uint32_t first = 0; first < count; first += chunk) {
        uint32_t c = min_u32(count - first, chunk);
        if (!n->ws_fd_valid)
            vkd_nerf_field_fd_grad_forward(n->field, s, SMP(grad) + 12ull * first, SMP(positions) + 12ull * first, c,
                                           eps, n->ws_fd.buf.addr);
        vkd_nerf_field_fd_grad_backward(n->field, s, SMP(d_grad) + 12ull * first, c, eps, n->ws_fd.buf.addr);
    }
}

vkd_status vkd_nerf_backward(vkd_nerf* n, vkd_stream* s, const vkd_volrend_image* dout,
                             const vkd_nerf_regularisers* reg, vkd_error* err) {
    if (!n->rendered)
        return vkd_error_set(err, VKD_ERR_INVALID, "nerf_backward: no render to differentiate (call vkd_nerf_render)");
    if (!dout) return vkd_error_set(err, VKD_ERR_INVALID, "nerf_backward: dout is NULL");
    vkd_nerf_regularisers r = reg ? *reg : (vkd_nerf_regularisers){0};
    if (!(r.sparsity >= 0) || !(r.opaque >= 0) || !(r.orientation >= 0) || !isfinite(r.sparsity) ||
        !isfinite(r.opaque) || !isfinite(r.orientation))
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "nerf_backward: regulariser weights sparsity %g, opaque %g, orientation %g must be finite "
                             "and >= 0",
                             r.sparsity, r.opaque, r.orientation);
    if ((r.orientation > 0 || dout->normals) && !n->has_normals)
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "nerf_backward: the %s needs normals, and the render computed none (render with "
                             "lambertian or textureless shading, or ask for the normals image)",
                             r.orientation > 0 ? "orientation loss" : "normals cotangent");
    uint32_t N = n->n_samples, rays = n->n_rays, rpv = n->rays_per_view;
    bool lit = n->shade.mode != VKD_VOLREND_SHADE_ALBEDO, color = n->shade.mode != VKD_VOLREND_SHADE_TEXTURELESS;
    // Gradients reach the normals only through shading, the normals image or the orientation
    // loss, and the field only through finite-difference normals.
    bool dn = n->has_normals && (lit || dout->normals || r.orientation > 0);
    bool fd = dn && n->desc.normals == VKD_NERF_NORMALS_FINITE_DIFFERENCE;

    vkd_stream_fill(s, RAY(losses), 4, 0);
    n->reg_ran = true;
    vkd_volrend_image g = {.rgb = dout->rgb,
                           .opacity = opacity_cotangent(n, s, dout->opacity, &r),
                           .depth = dout->depth,
                           .normals = dout->normals};
    if (n->bg_learned) vkd_stream_fill(s, RAY(d_bg), 3 * rays, 0);
    if (N) {
        vkd_stream_fill(s, SMP(d_sigma), N, 0);
        if (color) vkd_stream_fill(s, SMP(d_albedo), 3 * N, 0);
        if (lit) vkd_stream_fill(s, SMP(d_color), 3 * N, 0);
        if (dn) vkd_stream_fill(s, SMP(d_normals), 3 * N, 0);
        if (fd) vkd_stream_fill(s, SMP(d_grad), 3 * N, 0);
    }
    if (r.orientation > 0) {
        float scale = 1.0f / (float)rays;
        vkd_volrend_orientation_loss_forward(s, RAY(losses) + 8, SMP(weights), SMP(normals), SMP(dirs), N, scale);
        vkd_volrend_orientation_loss_backward(s, SMP(d_normals), r.orientation, SMP(weights), SMP(normals), SMP(dirs),
                                              N, scale);
    }
    vkd_addr normals = n->has_normals ? SMP(normals) : 0;
    vkd_volrend_composite_backward(s, SMP(d_sigma), lit ? SMP(d_color) : SMP(d_albedo), 0, dn ? SMP(d_normals) : 0,
                                   n->bg_learned ? RAY(d_bg) : 0, &g, RAY(offsets), SMP(sigma),
                                   lit ? SMP(color) : SMP(albedo), SMP(intervals), normals, RAY(bg), rays, rpv);
    if (lit && N)
        vkd_volrend_shade_backward(s, color ? SMP(d_albedo) : 0, SMP(d_normals), SMP(d_color), SMP(albedo), normals,
                                   SMP(positions), SMP(ray), RAY(lights), N, rpv, &n->shade);
    field_backward_chunks(n, s, N, color);
    if (fd && N) {
        vkd_volrend_normals_backward(s, SMP(d_grad), SMP(d_normals), SMP(grad), N, 0);
        fd_backward_chunks(n, s, N);
    }
    if (n->bg_learned)
        vkd_mlp_backward(s, 0, n->bg_grads.addr, RAY(d_bg), RAY(bg), RAY(bg_saved), RAY(bg_sh), n->bg_params.addr, rays,
                         &n->bg_mlp, RAY(bg_scratch));
    return VKD_OK;
}

vkd_status vkd_nerf_regulariser_losses(vkd_nerf* n, float out[3], vkd_error* err) {
    if (!n->reg_ran)
        return vkd_error_set(err, VKD_ERR_INVALID, "nerf_regulariser_losses: no backward since the render");
    return vkd_buffer_download(n->gpu, &n->rays.buf, 4 * n->rl.losses, out, 12, err);
}
