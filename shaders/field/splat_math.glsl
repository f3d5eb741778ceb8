// Projection of one Gaussian into one view, shared by splat_project.comp (forward) and
// splat_project_bwd.comp (which recomputes it to backpropagate). Matrices follow GLSL's
// column-major convention with math semantics: M[col][row], M * v.

// Real spherical harmonics constants as in 3DGS.
const float SH_C0 = 0.28209479177387814;
const float SH_C1 = 0.4886025119029199;
const float SH_C2_0 = 1.0925484305920792;
const float SH_C2_1 = -1.0925484305920792;
const float SH_C2_2 = 0.31539156525252005;
const float SH_C2_3 = -1.0925484305920792;
const float SH_C2_4 = 0.5462742152960396;
const float SH_C3_0 = -0.5900435899266435;
const float SH_C3_1 = 2.890611442640554;
const float SH_C3_2 = -0.4570457994644658;
const float SH_C3_3 = 0.3731763325901154;
const float SH_C3_4 = -0.4570457994644658;
const float SH_C3_5 = 1.445305721320277;
const float SH_C3_6 = -0.5900435899266435;

struct splat_cam {
    mat3 R;      // world -> camera rotation
    vec3 t;
    float fx, fy, cx, cy, znear, zfar;
    vec3 pos;    // camera center in world space
};

splat_cam splat_load_cam(uint64_t addr, uint view) {
    f32 c = f32(addr);
    uint o = view * SPLAT_CAM_FLOATS;
    splat_cam k;
    vec3 r0 = vec3(c.v[o + 0], c.v[o + 1], c.v[o + 2]);
    vec3 r1 = vec3(c.v[o + 3], c.v[o + 4], c.v[o + 5]);
    vec3 r2 = vec3(c.v[o + 6], c.v[o + 7], c.v[o + 8]);
    k.R = transpose(mat3(r0, r1, r2));
    k.t = vec3(c.v[o + 9], c.v[o + 10], c.v[o + 11]);
    k.fx = c.v[o + 12];
    k.fy = c.v[o + 13];
    k.cx = c.v[o + 14];
    k.cy = c.v[o + 15];
    k.znear = c.v[o + 16];
    k.zfar = c.v[o + 17];
    k.pos = vec3(c.v[o + 18], c.v[o + 19], c.v[o + 20]);
    return k;
}

// q normalized, (w, x, y, z).
mat3 splat_quat_to_rot(vec4 q) {
    float w = q.x, x = q.y, y = q.z, z = q.w;
    vec3 r0 = vec3(1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - w * z), 2.0 * (x * z + w * y));
    vec3 r1 = vec3(2.0 * (x * y + w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - w * x));
    vec3 r2 = vec3(2.0 * (x * z - w * y), 2.0 * (y * z + w * x), 1.0 - 2.0 * (x * x + y * y));
    return transpose(mat3(r0, r1, r2));
}

// The (deg + 1)^2 basis values for a unit direction d; unused entries are 0.
void splat_sh_basis(int deg, vec3 d, out float b[16]) {
    for (int k = 0; k < 16; k++) b[k] = 0.0;
    b[0] = SH_C0;
    if (deg < 1) return;
    float x = d.x, y = d.y, z = d.z;
    b[1] = -SH_C1 * y;
    b[2] = SH_C1 * z;
    b[3] = -SH_C1 * x;
    if (deg < 2) return;
    float xx = x * x, yy = y * y, zz = z * z;
    b[4] = SH_C2_0 * x * y;
    b[5] = SH_C2_1 * y * z;
    b[6] = SH_C2_2 * (2.0 * zz - xx - yy);
    b[7] = SH_C2_3 * x * z;
    b[8] = SH_C2_4 * (xx - yy);
    if (deg < 3) return;
    b[9] = SH_C3_0 * y * (3.0 * xx - yy);
    b[10] = SH_C3_1 * x * y * z;
    b[11] = SH_C3_2 * y * (4.0 * zz - xx - yy);
    b[12] = SH_C3_3 * z * (2.0 * zz - 3.0 * xx - 3.0 * yy);
    b[13] = SH_C3_4 * x * (4.0 * zz - xx - yy);
    b[14] = SH_C3_5 * z * (xx - yy);
    b[15] = SH_C3_6 * x * (xx - 3.0 * yy);
}

// sum_k w[k] * d b_k / d d (the direction treated as three free variables).
vec3 splat_sh_dir_grad(int deg, vec3 d, float w[16]) {
    vec3 g = vec3(0.0);
    if (deg < 1) return g;
    float x = d.x, y = d.y, z = d.z;
    g += vec3(-SH_C1 * w[3], -SH_C1 * w[1], SH_C1 * w[2]);
    if (deg < 2) return g;
    float xx = x * x, yy = y * y, zz = z * z;
    g += SH_C2_0 * w[4] * vec3(y, x, 0.0);
    g += SH_C2_1 * w[5] * vec3(0.0, z, y);
    g += SH_C2_2 * w[6] * vec3(-2.0 * x, -2.0 * y, 4.0 * z);
    g += SH_C2_3 * w[7] * vec3(z, 0.0, x);
    g += SH_C2_4 * w[8] * vec3(2.0 * x, -2.0 * y, 0.0);
    if (deg < 3) return g;
    g += SH_C3_0 * w[9] * vec3(6.0 * x * y, 3.0 * xx - 3.0 * yy, 0.0);
    g += SH_C3_1 * w[10] * vec3(y * z, x * z, x * y);
    g += SH_C3_2 * w[11] * vec3(-2.0 * x * y, 4.0 * zz - xx - 3.0 * yy, 8.0 * y * z);
    g += SH_C3_3 * w[12] * vec3(-6.0 * x * z, -6.0 * y * z, 6.0 * zz - 3.0 * xx - 3.0 * yy);
    g += SH_C3_4 * w[13] * vec3(4.0 * zz - 3.0 * xx - yy, -2.0 * x * y, 8.0 * x * z);
    g += SH_C3_5 * w[14] * vec3(2.0 * x * z, -2.0 * y * z, xx - yy);
    g += SH_C3_6 * w[15] * vec3(3.0 * xx - 3.0 * yy, -6.0 * x * y, 0.0);
    return g;
}

// Everything the projection computes that its backward needs again.
struct splat_geom {
    vec3 pc;        // camera-space mean
    vec4 qn;        // normalized quaternion
    float qlen;
    mat3 R;         // its rotation
    vec3 s;         // exp(log_scales)
    mat3 M;         // R S
    mat3 Sigma;     // M M^T
    float ux, uy;   // x/z, y/z clamped to 1.3x the field of view
    bool clamp_x, clamp_y;
    mat3x2 T;       // J W (2x3)
    vec3 cov;       // 2D covariance with the 0.3 blur: a, b, c
};

// False when the Gaussian is culled by depth or is degenerate.
bool splat_geometry(vec3 mu, vec3 log_s, vec4 q, splat_cam cam, float width, float height, out splat_geom g) {
    g.pc = cam.R * mu + cam.t;
    float x = g.pc.x, y = g.pc.y, z = g.pc.z;
    if (!(z >= cam.znear && z <= cam.zfar && z > 0.0)) return false;
    g.qlen = length(q);
    if (!(g.qlen > 0.0)) return false;
    g.qn = q / g.qlen;
    g.R = splat_quat_to_rot(g.qn);
    g.s = exp(log_s);
    g.M = g.R * mat3(g.s.x, 0.0, 0.0, 0.0, g.s.y, 0.0, 0.0, 0.0, g.s.z);
    g.Sigma = g.M * transpose(g.M);
    float tanx = 0.5 * width / cam.fx, tany = 0.5 * height / cam.fy;
    float lxp = (width - cam.cx) / cam.fx + 0.3 * tanx, lxn = cam.cx / cam.fx + 0.3 * tanx;
    float lyp = (height - cam.cy) / cam.fy + 0.3 * tany, lyn = cam.cy / cam.fy + 0.3 * tany;
    float rx = x / z, ry = y / z;
    g.ux = clamp(rx, -lxn, lxp);
    g.uy = clamp(ry, -lyn, lyp);
    g.clamp_x = g.ux != rx;
    g.clamp_y = g.uy != ry;
    mat3x2 J = mat3x2(cam.fx / z, 0.0, 0.0, cam.fy / z, -cam.fx * g.ux / z, -cam.fy * g.uy / z);
    g.T = J * cam.R;
    mat2 cov = g.T * g.Sigma * transpose(g.T);
    g.cov = vec3(cov[0][0] + 0.3, cov[1][0], cov[1][1] + 0.3);
    float det = g.cov.x * g.cov.z - g.cov.y * g.cov.y;
    return det > 0.0;
}

// The Gaussian's normal for the normals image: the world-space axis of its smallest scale
// (column `axis` of R; the first of equal ones), flipped to face the camera, i.e. so that
// dot(n, campos - mu) >= 0 (GaussianShader's shortest-axis normal with flip_align_view).
// sgn is the flip (+1 or -1); the backward treats axis and sgn as constants.
vec3 splat_normal(splat_geom g, vec3 log_s, vec3 mu, vec3 campos, out uint axis, out float sgn) {
    axis = 0u;
    if (log_s.y < log_s[axis]) axis = 1u;
    if (log_s.z < log_s[axis]) axis = 2u;
    vec3 n = g.R[axis];
    sgn = dot(n, campos - mu) >= 0.0 ? 1.0 : -1.0;
    return sgn * n;
}
