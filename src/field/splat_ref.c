// Reference Gaussian splatting in float64: plain loops, a CPU depth sort per view, and a
// per-pixel walk over every Gaussian whose tile rectangle covers the pixel's tile (the GPU's
// binning, so the results match it exactly). The backward replays each pixel's forward and
// walks its contributors back to front, then backpropagates each projection.
#include "vkdream/splat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// Real spherical harmonics constants as in 3DGS (sh_utils / forward.cu).
static const double SH_C0 = 0.28209479177387814;
static const double SH_C1 = 0.4886025119029199;
static const double SH_C2[5] = {1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792,
                                0.5462742152960396};
static const double SH_C3[7] = {-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
                                -0.4570457994644658, 1.445305721320277, -0.5900435899266435};

typedef struct cam_d {
    double R[9], t[3], fx, fy, cx, cy, znear, zfar, pos[3];
    int w, h;
} cam_d;

typedef struct rproj {
    bool visible;
    double u, v, z;      // 2D mean (pixels) and camera-space depth
    double conic[3];     // a, b, c of the inverse 2D covariance
    double opac;
    double color[3];
    double normal[3];    // world-space shortest axis facing the camera
    double radius;       // pixels, ceil(3 sqrt(lambda_max))
    int x0, y0, x1, y1;  // tiles [x0, x1) x [y0, y1)
} rproj;

static cam_d cam_from(const vkd_camera* c) {
    cam_d d;
    for (int r = 0; r < 3; r++) {
        for (int k = 0; k < 3; k++) d.R[r * 3 + k] = c->viewmat[r * 4 + k];
        d.t[r] = c->viewmat[r * 4 + 3];
    }
    for (int k = 0; k < 3; k++) d.pos[k] = -(d.R[0 * 3 + k] * d.t[0] + d.R[1 * 3 + k] * d.t[1] + d.R[2 * 3 + k] * d.t[2]);
    d.fx = c->fx, d.fy = c->fy, d.cx = c->cx, d.cy = c->cy;
    d.znear = c->near_plane, d.zfar = c->far_plane;
    d.w = c->width, d.h = c->height;
    return d;
}

static uint32_t sh_stride(const vkd_ref_splat_params* p) {
    return p->sh_stride ? p->sh_stride : (uint32_t)((p->sh_degree + 1) * (p->sh_degree + 1));
}

static double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

// Basis values for the (degree + 1)^2 coefficients, and their gradients w.r.t. the direction.
static void sh_basis(int deg, const double d[3], double b[16], double g[16][3]) {
    double x = d[0], y = d[1], z = d[2];
    double xx = x * x, yy = y * y, zz = z * z;
    memset(b, 0, 16 * sizeof *b);
    if (g) memset(g, 0, 16 * sizeof *g);
    b[0] = SH_C0;
    if (deg < 1) return;
    b[1] = -SH_C1 * y, b[2] = SH_C1 * z, b[3] = -SH_C1 * x;
    if (g) g[1][1] = -SH_C1, g[2][2] = SH_C1, g[3][0] = -SH_C1;
    if (deg < 2) return;
    b[4] = SH_C2[0] * x * y;
    b[5] = SH_C2[1] * y * z;
    b[6] = SH_C2[2] * (2 * zz - xx - yy);
    b[7] = SH_C2[3] * x * z;
    b[8] = SH_C2[4] * (xx - yy);
    if (g) {
        g[4][0] = SH_C2[0] * y, g[4][1] = SH_C2[0] * x;
        g[5][1] = SH_C2[1] * z, g[5][2] = SH_C2[1] * y;
        g[6][0] = -2 * SH_C2[2] * x, g[6][1] = -2 * SH_C2[2] * y, g[6][2] = 4 * SH_C2[2] * z;
        g[7][0] = SH_C2[3] * z, g[7][2] = SH_C2[3] * x;
        g[8][0] = 2 * SH_C2[4] * x, g[8][1] = -2 * SH_C2[4] * y;
    }
    if (deg < 3) return;
    b[9] = SH_C3[0] * y * (3 * xx - yy);
    b[10] = SH_C3[1] * x * y * z;
    b[11] = SH_C3[2] * y * (4 * zz - xx - yy);
    b[12] = SH_C3[3] * z * (2 * zz - 3 * xx - 3 * yy);
    b[13] = SH_C3[4] * x * (4 * zz - xx - yy);
    b[14] = SH_C3[5] * z * (xx - yy);
    b[15] = SH_C3[6] * x * (xx - 3 * yy);
    if (g) {
        g[9][0] = SH_C3[0] * 6 * x * y, g[9][1] = SH_C3[0] * (3 * xx - 3 * yy);
        g[10][0] = SH_C3[1] * y * z, g[10][1] = SH_C3[1] * x * z, g[10][2] = SH_C3[1] * x * y;
        g[11][0] = -2 * SH_C3[2] * x * y, g[11][1] = SH_C3[2] * (4 * zz - xx - 3 * yy), g[11][2] = 8 * SH_C3[2] * y * z;
        g[12][0] = -6 * SH_C3[3] * x * z, g[12][1] = -6 * SH_C3[3] * y * z,
        g[12][2] = SH_C3[3] * (6 * zz - 3 * xx - 3 * yy);
        g[13][0] = SH_C3[4] * (4 * zz - 3 * xx - yy), g[13][1] = -2 * SH_C3[4] * x * y, g[13][2] = 8 * SH_C3[4] * x * z;
        g[14][0] = 2 * SH_C3[5] * x * z, g[14][1] = -2 * SH_C3[5] * y * z, g[14][2] = SH_C3[5] * (xx - yy);
        g[15][0] = SH_C3[6] * (3 * xx - 3 * yy), g[15][1] = -6 * SH_C3[6] * x * y;
    }
}

static void quat_to_rot(const double q[4], double R[9]) {
    double w = q[0], x = q[1], y = q[2], z = q[3];
    R[0] = 1 - 2 * (y * y + z * z), R[1] = 2 * (x * y - w * z), R[2] = 2 * (x * z + w * y);
    R[3] = 2 * (x * y + w * z), R[4] = 1 - 2 * (x * x + z * z), R[5] = 2 * (y * z - w * x);
    R[6] = 2 * (x * z - w * y), R[7] = 2 * (y * z + w * x), R[8] = 1 - 2 * (x * x + y * y);
}

// Everything the projection computes, kept for its backward.
typedef struct pstate {
    double pc[3];           // camera-space mean
    double qn[4], qlen;     // normalized quaternion and the length it had
    double R[9], s[3], M[9], Sigma[9];
    double ux, uy;          // x/z, y/z after the field-of-view clamp
    bool clamp_x, clamp_y;
    double J[6], T[6];      // T = J W (2x3)
    double cov[3];          // 2D covariance (with the 0.3 blur): a, b, c
    double dir[3], dlen;    // view direction for SH and |mu - campos|
    double basis[16], raw[3];
    int axis;               // the normal: column `axis` of R times sgn
    double sgn;
} pstate;

static bool project(const vkd_ref_splat_params* p, uint32_t i, const cam_d* c, rproj* o, pstate* st) {
    memset(o, 0, sizeof *o);
    memset(st, 0, sizeof *st);
    const double* mu = p->means + 3 * (size_t)i;
    for (int r = 0; r < 3; r++) st->pc[r] = c->R[r * 3] * mu[0] + c->R[r * 3 + 1] * mu[1] + c->R[r * 3 + 2] * mu[2] + c->t[r];
    double x = st->pc[0], y = st->pc[1], z = st->pc[2];
    if (!(z >= c->znear && z <= c->zfar && z > 0)) return false;
    const double* q = p->quats + 4 * (size_t)i;
    st->qlen = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
    if (!(st->qlen > 0)) return false;
    for (int k = 0; k < 4; k++) st->qn[k] = q[k] / st->qlen;
    quat_to_rot(st->qn, st->R);
    for (int k = 0; k < 3; k++) st->s[k] = exp(p->log_scales[3 * (size_t)i + k]);
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 3; k++) st->M[r * 3 + k] = st->R[r * 3 + k] * st->s[k];
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 3; k++)
            st->Sigma[r * 3 + k] = st->M[r * 3] * st->M[k * 3] + st->M[r * 3 + 1] * st->M[k * 3 + 1] +
                                   st->M[r * 3 + 2] * st->M[k * 3 + 2];
    double tanx = 0.5 * c->w / c->fx, tany = 0.5 * c->h / c->fy;
    double lxp = (c->w - c->cx) / c->fx + 0.3 * tanx, lxn = c->cx / c->fx + 0.3 * tanx;
    double lyp = (c->h - c->cy) / c->fy + 0.3 * tany, lyn = c->cy / c->fy + 0.3 * tany;
    double rx = x / z, ry = y / z;
    st->ux = clampd(rx, -lxn, lxp), st->uy = clampd(ry, -lyn, lyp);
    st->clamp_x = st->ux != rx, st->clamp_y = st->uy != ry;
    double* J = st->J;
    J[0] = c->fx / z, J[1] = 0, J[2] = -c->fx * st->ux / z;
    J[3] = 0, J[4] = c->fy / z, J[5] = -c->fy * st->uy / z;
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < 3; k++) st->T[r * 3 + k] = J[r * 3] * c->R[k] + J[r * 3 + 1] * c->R[3 + k] + J[r * 3 + 2] * c->R[6 + k];
    double TS[6];  // T Sigma
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < 3; k++)
            TS[r * 3 + k] = st->T[r * 3] * st->Sigma[k] + st->T[r * 3 + 1] * st->Sigma[3 + k] + st->T[r * 3 + 2] * st->Sigma[6 + k];
    double c00 = TS[0] * st->T[0] + TS[1] * st->T[1] + TS[2] * st->T[2] + 0.3;
    double c01 = TS[0] * st->T[3] + TS[1] * st->T[4] + TS[2] * st->T[5];
    double c11 = TS[3] * st->T[3] + TS[4] * st->T[4] + TS[5] * st->T[5] + 0.3;
    st->cov[0] = c00, st->cov[1] = c01, st->cov[2] = c11;
    double det = c00 * c11 - c01 * c01;
    if (!(det > 0)) return false;
    double bm = 0.5 * (c00 + c11);
    double lambda = bm + sqrt(fmax(0.1, bm * bm - det));
    double radius = ceil(3 * sqrt(lambda));
    double u = c->fx * x / z + c->cx, v = c->fy * y / z + c->cy;
    int tiles_x = (c->w + VKD_SPLAT_TILE - 1) / VKD_SPLAT_TILE, tiles_y = (c->h + VKD_SPLAT_TILE - 1) / VKD_SPLAT_TILE;
    o->x0 = (int)clampd(floor((u - radius) / VKD_SPLAT_TILE), 0, tiles_x);
    o->x1 = (int)clampd(ceil((u + radius) / VKD_SPLAT_TILE), 0, tiles_x);
    o->y0 = (int)clampd(floor((v - radius) / VKD_SPLAT_TILE), 0, tiles_y);
    o->y1 = (int)clampd(ceil((v + radius) / VKD_SPLAT_TILE), 0, tiles_y);
    if (!(radius > 0) || o->x1 <= o->x0 || o->y1 <= o->y0) return false;
    o->u = u, o->v = v, o->z = z, o->radius = radius;
    o->conic[0] = c11 / det, o->conic[1] = -c01 / det, o->conic[2] = c00 / det;
    o->opac = 1.0 / (1.0 + exp(-p->opacity_logits[i]));
    double d[3];
    for (int k = 0; k < 3; k++) d[k] = mu[k] - c->pos[k];
    st->dlen = sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
    for (int k = 0; k < 3; k++) st->dir[k] = st->dlen > 0 ? d[k] / st->dlen : 0;
    sh_basis(p->sh_degree, st->dir, st->basis, NULL);
    int nb = (p->sh_degree + 1) * (p->sh_degree + 1);
    const double* sh = p->sh + (size_t)i * sh_stride(p) * 3;
    for (int ch = 0; ch < 3; ch++) {
        double acc = 0;
        for (int k = 0; k < nb; k++) acc += st->basis[k] * sh[k * 3 + ch];
        st->raw[ch] = acc + 0.5;
        o->color[ch] = fmax(st->raw[ch], 0.0);
    }
    // Normal: the axis of the smallest scale (first of equal ones), flipped toward the camera.
    const double* ls = p->log_scales + 3 * (size_t)i;
    st->axis = 0;
    if (ls[1] < ls[st->axis]) st->axis = 1;
    if (ls[2] < ls[st->axis]) st->axis = 2;
    double facing = 0;
    for (int k = 0; k < 3; k++) facing += st->R[k * 3 + st->axis] * (c->pos[k] - mu[k]);
    st->sgn = facing >= 0 ? 1.0 : -1.0;
    for (int k = 0; k < 3; k++) o->normal[k] = st->sgn * st->R[k * 3 + st->axis];
    o->visible = true;
    return true;
}

typedef struct zkey {
    double z;
    uint32_t i;
} zkey;

static int cmp_zkey(const void* a, const void* b) {
    const zkey *x = a, *y = b;
    if (x->z < y->z) return -1;
    if (x->z > y->z) return 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

// Visible Gaussians of one view in front-to-back order (ties by index, like the GPU's stable sort).
static uint32_t sorted_visible(const rproj* pr, uint32_t n, uint32_t* order) {
    zkey* keys = malloc((n ? n : 1) * sizeof *keys);
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (pr[i].visible) keys[m++] = (zkey){pr[i].z, i};
    qsort(keys, m, sizeof *keys, cmp_zkey);
    for (uint32_t k = 0; k < m; k++) order[k] = keys[k].i;
    free(keys);
    return m;
}

// One contributor of a pixel, as the forward saw it.
typedef struct contrib {
    uint32_t i;
    double alpha, vis, T, dx, dy;
} contrib;

// Composites one pixel (color C, depth D, normal N); fills list (if not NULL) with its
// contributors. Returns the count.
static uint32_t composite(const rproj* pr, const uint32_t* order, uint32_t m, int px, int py, double C[3], double* D,
                          double N[3], double* Tfinal, contrib* list) {
    int tx = px / VKD_SPLAT_TILE, ty = py / VKD_SPLAT_TILE;
    double fx = px + 0.5, fy = py + 0.5, T = 1;
    uint32_t nc = 0;
    C[0] = C[1] = C[2] = 0;
    N[0] = N[1] = N[2] = 0;
    *D = 0;
    for (uint32_t k = 0; k < m; k++) {
        const rproj* g = &pr[order[k]];
        if (tx < g->x0 || tx >= g->x1 || ty < g->y0 || ty >= g->y1) continue;
        double dx = g->u - fx, dy = g->v - fy;
        double power = -0.5 * (g->conic[0] * dx * dx + g->conic[2] * dy * dy) - g->conic[1] * dx * dy;
        if (power > 0) continue;
        double vis = exp(power);
        double alpha = fmin(0.99, g->opac * vis);
        if (alpha < 1.0 / 255.0) continue;
        double next = T * (1 - alpha);
        if (next < 1e-4) break;
        for (int ch = 0; ch < 3; ch++) C[ch] += g->color[ch] * alpha * T;
        for (int k = 0; k < 3; k++) N[k] += g->normal[k] * alpha * T;
        *D += g->z * alpha * T;
        if (list) list[nc] = (contrib){order[k], alpha, vis, T, dx, dy};
        nc++;
        T = next;
    }
    *Tfinal = T;
    return nc;
}

void vkd_ref_splat_forward(double* rgb, double* alpha, double* depth, double* normal, const vkd_ref_splat_params* p,
                           const vkd_camera* cams, int views, const double bg[3]) {
    uint32_t n = p->count;
    rproj* pr = malloc((n ? n : 1) * sizeof *pr);
    uint32_t* order = malloc((n ? n : 1) * sizeof *order);
    pstate st;
    for (int b = 0; b < views; b++) {
        cam_d c = cam_from(&cams[b]);
        size_t hw = (size_t)c.w * c.h;
        for (uint32_t i = 0; i < n; i++) project(p, i, &c, &pr[i], &st);
        uint32_t m = sorted_visible(pr, n, order);
        for (int y = 0; y < c.h; y++)
            for (int x = 0; x < c.w; x++) {
                double C[3], D, N[3], T;
                composite(pr, order, m, x, y, C, &D, N, &T, NULL);
                size_t pix = (size_t)y * c.w + x;
                if (rgb)
                    for (int ch = 0; ch < 3; ch++) rgb[((size_t)b * 3 + ch) * hw + pix] = C[ch] + T * (bg ? bg[ch] : 0);
                if (alpha) alpha[(size_t)b * hw + pix] = 1 - T;
                if (depth) depth[(size_t)b * hw + pix] = D;
                if (normal)
                    for (int k = 0; k < 3; k++) normal[((size_t)b * 3 + k) * hw + pix] = N[k];
            }
    }
    free(pr);
    free(order);
}

// Per (view, Gaussian) gradient w.r.t. the projected quantities.
enum { G_U, G_V, G_A, G_B, G_C, G_OPAC, G_R, G_G, G_BL, G_Z, G_N, G_COUNT = G_N + 3 };

static void project_backward(const vkd_ref_splat_params* p, uint32_t i, const cam_d* c, const pstate* st,
                             const double g2[G_COUNT], const vkd_ref_splat_grads* g) {
    double x = st->pc[0], y = st->pc[1], z = st->pc[2];
    double v_mu[3] = {0, 0, 0};
    // Color: clamp, SH coefficients, and the view direction.
    double v_col[3];
    for (int ch = 0; ch < 3; ch++) v_col[ch] = st->raw[ch] < 0 ? 0 : g2[G_R + ch];
    uint32_t K = sh_stride(p);
    int nb = (p->sh_degree + 1) * (p->sh_degree + 1);
    if (g->sh)
        for (int k = 0; k < nb; k++)
            for (int ch = 0; ch < 3; ch++) g->sh[((size_t)i * K + k) * 3 + ch] += st->basis[k] * v_col[ch];
    if (p->sh_degree > 0 && st->dlen > 0) {
        double basis[16], dg[16][3], v_dir[3] = {0, 0, 0};
        sh_basis(p->sh_degree, st->dir, basis, dg);
        const double* sh = p->sh + (size_t)i * K * 3;
        for (int k = 1; k < nb; k++) {
            double w = sh[k * 3] * v_col[0] + sh[k * 3 + 1] * v_col[1] + sh[k * 3 + 2] * v_col[2];
            for (int a = 0; a < 3; a++) v_dir[a] += w * dg[k][a];
        }
        double dd = st->dir[0] * v_dir[0] + st->dir[1] * v_dir[1] + st->dir[2] * v_dir[2];
        for (int a = 0; a < 3; a++) v_mu[a] += (v_dir[a] - st->dir[a] * dd) / st->dlen;
    }
    if (g->opacity_logits) {
        double s = 1.0 / (1.0 + exp(-p->opacity_logits[i]));
        g->opacity_logits[i] += g2[G_OPAC] * s * (1 - s);
    }
    // Conic -> 2D covariance: d(A^-1) = -A^-1 dA A^-1, with the symmetric b split over both entries.
    double det = st->cov[0] * st->cov[2] - st->cov[1] * st->cov[1];
    double Ci[4] = {st->cov[2] / det, -st->cov[1] / det, -st->cov[1] / det, st->cov[0] / det};
    double G[4] = {g2[G_A], 0.5 * g2[G_B], 0.5 * g2[G_B], g2[G_C]};
    double CG[4], V[4];
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < 2; k++) CG[r * 2 + k] = Ci[r * 2] * G[k] + Ci[r * 2 + 1] * G[2 + k];
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < 2; k++) V[r * 2 + k] = -(CG[r * 2] * Ci[k] + CG[r * 2 + 1] * Ci[2 + k]);
    // cov = T Sigma T^T: v_Sigma = T^T V T, v_T = 2 V T Sigma.
    const double* T = st->T;
    double v_Sigma[9], VT[6], v_T[6], v_J[6];
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < 3; k++) VT[r * 3 + k] = V[r * 2] * T[k] + V[r * 2 + 1] * T[3 + k];
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 3; k++) v_Sigma[r * 3 + k] = T[r] * VT[k] + T[3 + r] * VT[3 + k];
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < 3; k++)
            v_T[r * 3 + k] = 2 * (VT[r * 3] * st->Sigma[k] + VT[r * 3 + 1] * st->Sigma[3 + k] + VT[r * 3 + 2] * st->Sigma[6 + k]);
    // T = J W: v_J = v_T W^T.
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < 3; k++)
            v_J[r * 3 + k] = v_T[r * 3] * c->R[k * 3] + v_T[r * 3 + 1] * c->R[k * 3 + 1] + v_T[r * 3 + 2] * c->R[k * 3 + 2];
    // Camera-space mean: 2D mean, the Jacobian (with the clamp), and depth.
    double v_pc[3];
    double vu = g2[G_U], vv = g2[G_V];
    v_pc[0] = c->fx / z * vu;
    v_pc[1] = c->fy / z * vv;
    v_pc[2] = -(c->fx * x * vu + c->fy * y * vv) / (z * z) + g2[G_Z];
    v_pc[2] += v_J[0] * (-c->fx / (z * z)) + v_J[4] * (-c->fy / (z * z));
    double dux_dx = st->clamp_x ? 0 : 1 / z, dux_dz = st->clamp_x ? 0 : -x / (z * z);
    double duy_dy = st->clamp_y ? 0 : 1 / z, duy_dz = st->clamp_y ? 0 : -y / (z * z);
    // J02 = -fx ux / z, J12 = -fy uy / z
    v_pc[0] += v_J[2] * (-c->fx / z * dux_dx);
    v_pc[2] += v_J[2] * (c->fx * st->ux / (z * z) - c->fx / z * dux_dz);
    v_pc[1] += v_J[5] * (-c->fy / z * duy_dy);
    v_pc[2] += v_J[5] * (c->fy * st->uy / (z * z) - c->fy / z * duy_dz);
    for (int a = 0; a < 3; a++) v_mu[a] += c->R[a] * v_pc[0] + c->R[3 + a] * v_pc[1] + c->R[6 + a] * v_pc[2];
    if (g->means)
        for (int a = 0; a < 3; a++) g->means[3 * (size_t)i + a] += v_mu[a];
    // Sigma = M M^T, M = R S.
    double v_M[9], v_R[9];
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 3; k++)
            v_M[r * 3 + k] = 2 * (v_Sigma[r * 3] * st->M[k] + v_Sigma[r * 3 + 1] * st->M[3 + k] + v_Sigma[r * 3 + 2] * st->M[6 + k]);
    for (int k = 0; k < 3; k++) {
        double vs = 0;
        for (int r = 0; r < 3; r++) {
            v_R[r * 3 + k] = v_M[r * 3 + k] * st->s[k];
            vs += v_M[r * 3 + k] * st->R[r * 3 + k];
        }
        if (g->log_scales) g->log_scales[3 * (size_t)i + k] += vs * st->s[k];
    }
    // normal = sgn R[:, axis], with the axis and the flip held constant (piecewise constant).
    for (int r = 0; r < 3; r++) v_R[r * 3 + st->axis] += st->sgn * g2[G_N + r];
    if (g->quats) {
        double w = st->qn[0], qx = st->qn[1], qy = st->qn[2], qz = st->qn[3];
        const double* r = v_R;
        double vq[4];
        vq[0] = 2 * (-qz * r[1] + qy * r[2] + qz * r[3] - qx * r[5] - qy * r[6] + qx * r[7]);
        vq[1] = 2 * (qy * r[1] + qz * r[2] + qy * r[3] - 2 * qx * r[4] - w * r[5] + qz * r[6] + w * r[7] - 2 * qx * r[8]);
        vq[2] = 2 * (-2 * qy * r[0] + qx * r[1] + w * r[2] + qx * r[3] + qz * r[5] - w * r[6] + qz * r[7] - 2 * qy * r[8]);
        vq[3] = 2 * (-2 * qz * r[0] - w * r[1] + qx * r[2] + w * r[3] - 2 * qz * r[4] + qy * r[5] + qx * r[6] + qy * r[7]);
        double dq = st->qn[0] * vq[0] + st->qn[1] * vq[1] + st->qn[2] * vq[2] + st->qn[3] * vq[3];
        for (int k = 0; k < 4; k++) g->quats[4 * (size_t)i + k] += (vq[k] - st->qn[k] * dq) / st->qlen;
    }
}

void vkd_ref_splat_backward(const vkd_ref_splat_grads* g, const vkd_ref_splat_stats* stats, const double* d_rgb,
                            const double* d_alpha, const double* d_depth, const double* d_normal,
                            const vkd_ref_splat_params* p, const vkd_camera* cams, int views, const double bg[3]) {
    vkd_ref_splat_stats no_stats = {0};
    if (!stats) stats = &no_stats;
    uint32_t n = p->count;
    size_t nn = n ? n : 1;
    rproj* pr = malloc(nn * sizeof *pr);
    pstate* st = malloc(nn * sizeof *st);
    uint32_t* order = malloc(nn * sizeof *order);
    contrib* list = malloc(nn * sizeof *list);
    double(*g2)[G_COUNT] = malloc(nn * sizeof *g2);
    for (int b = 0; b < views; b++) {
        cam_d c = cam_from(&cams[b]);
        size_t hw = (size_t)c.w * c.h;
        for (uint32_t i = 0; i < n; i++) project(p, i, &c, &pr[i], &st[i]);
        uint32_t m = sorted_visible(pr, n, order);
        memset(g2, 0, nn * sizeof *g2);
        for (int y = 0; y < c.h; y++)
            for (int x = 0; x < c.w; x++) {
                double C[3], D, N[3], Tf;
                uint32_t nc = composite(pr, order, m, x, y, C, &D, N, &Tf, list);
                size_t pix = (size_t)y * c.w + x;
                double vc[3] = {0, 0, 0}, vn[3] = {0, 0, 0}, va = 0, vd = 0;
                if (d_rgb)
                    for (int ch = 0; ch < 3; ch++) vc[ch] = d_rgb[((size_t)b * 3 + ch) * hw + pix];
                if (d_normal)
                    for (int k = 0; k < 3; k++) vn[k] = d_normal[((size_t)b * 3 + k) * hw + pix];
                if (d_alpha) va = d_alpha[(size_t)b * hw + pix];
                if (d_depth) vd = d_depth[(size_t)b * hw + pix];
                double bgdot = bg ? bg[0] * vc[0] + bg[1] * vc[1] + bg[2] * vc[2] : 0;
                double buf[3] = {0, 0, 0}, bufn[3] = {0, 0, 0}, bufd = 0;
                for (uint32_t k = nc; k-- > 0;) {
                    const contrib* e = &list[k];
                    const rproj* q = &pr[e->i];
                    double* gi = g2[e->i];
                    double ra = 1 / (1 - e->alpha), fac = e->alpha * e->T;
                    double v_alpha = 0;
                    for (int ch = 0; ch < 3; ch++) {
                        gi[G_R + ch] += fac * vc[ch];
                        v_alpha += (q->color[ch] * e->T - buf[ch] * ra) * vc[ch];
                        buf[ch] += q->color[ch] * fac;
                    }
                    for (int k = 0; k < 3; k++) {
                        gi[G_N + k] += fac * vn[k];
                        v_alpha += (q->normal[k] * e->T - bufn[k] * ra) * vn[k];
                        bufn[k] += q->normal[k] * fac;
                    }
                    v_alpha += -Tf * ra * bgdot + Tf * ra * va;
                    v_alpha += (q->z * e->T - bufd * ra) * vd;
                    gi[G_Z] += fac * vd;
                    bufd += q->z * fac;
                    if (q->opac * e->vis <= 0.99) {
                        double v_power = q->opac * e->vis * v_alpha;
                        gi[G_OPAC] += e->vis * v_alpha;
                        gi[G_A] += -0.5 * e->dx * e->dx * v_power;
                        gi[G_B] += -e->dx * e->dy * v_power;
                        gi[G_C] += -0.5 * e->dy * e->dy * v_power;
                        gi[G_U] += -(q->conic[0] * e->dx + q->conic[1] * e->dy) * v_power;
                        gi[G_V] += -(q->conic[1] * e->dx + q->conic[2] * e->dy) * v_power;
                    }
                }
            }
        for (uint32_t i = 0; i < n; i++) {
            if (!pr[i].visible) continue;
            project_backward(p, i, &c, &st[i], g2[i], g);
            if (stats->grad2d_norm)
                stats->grad2d_norm[i] += sqrt(pow(g2[i][G_U] * 0.5 * c.w, 2) + pow(g2[i][G_V] * 0.5 * c.h, 2));
            if (stats->vis_count) stats->vis_count[i] += 1;
            if (stats->max_radius) stats->max_radius[i] = fmax(stats->max_radius[i], pr[i].radius);
        }
    }
    free(pr);
    free(st);
    free(order);
    free(list);
    free(g2);
}
