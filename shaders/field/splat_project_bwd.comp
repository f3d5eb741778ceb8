#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "field/splat.h"
layout(local_size_x = 64) in;
// Spec constant 0: grad2d records carry the gradient of the normals image's per-Gaussian normal.
layout(constant_id = 0) const bool NORMALS = false;
layout(push_constant) uniform Push { vkd_splat_project_bwd_push p; };
#include "field/splat_math.glsl"

// One invocation per Gaussian: for every view where it was visible, recompute the projection
// and backpropagate that view's gradient of (2D mean, conic, opacity, color, depth) to the
// parameters; then add the sums to the gradients (one owner per Gaussian: no atomics).
void main() {
    uint i = vkd_global_id();
    if (i >= p.n) return;
    f32 m = f32(p.means), ls = f32(p.log_scales), qs = f32(p.quats), shb = f32(p.sh);
    vec3 mu = vec3(m.v[3 * i], m.v[3 * i + 1], m.v[3 * i + 2]);
    vec3 log_s = vec3(ls.v[3 * i], ls.v[3 * i + 1], ls.v[3 * i + 2]);
    vec4 q = vec4(qs.v[4 * i], qs.v[4 * i + 1], qs.v[4 * i + 2], qs.v[4 * i + 3]);
    float opac = 1.0 / (1.0 + exp(-f32(p.opacity_logits).v[i]));
    int deg = int(p.sh_degree);
    uint nb = (p.sh_degree + 1) * (p.sh_degree + 1);
    uint sh_base = i * p.sh_stride * 3;
    vec3 shc[16];
    for (uint k = 0; k < 16; k++)
        shc[k] = k < nb ? vec3(shb.v[sh_base + 3 * k], shb.v[sh_base + 3 * k + 1], shb.v[sh_base + 3 * k + 2]) : vec3(0.0);
    vec3 v_mu = vec3(0.0), v_ls = vec3(0.0);
    vec4 v_q = vec4(0.0);
    float v_logit = 0.0;
    vec3 v_sh[16];
    for (uint k = 0; k < 16; k++) v_sh[k] = vec3(0.0);
    float width = float(p.width), height = float(p.height);
    u32 counts = u32(p.counts);
    f32 g2 = f32(p.grad2d);
    for (uint view = 0; view < p.views; view++) {
        uint e = view * p.n + i;
        if (counts.v[e] == 0) continue;
        splat_cam cam = splat_load_cam(p.cams, view);
        splat_geom g;
        if (!splat_geometry(mu, log_s, q, cam, width, height, g)) continue;
        uint o = e * (NORMALS ? SPLAT_G_FLOATS_NORMALS : SPLAT_G_FLOATS);
        float vu = g2.v[o + SPLAT_G_U], vv = g2.v[o + SPLAT_G_V];
        vec3 v_conic = vec3(g2.v[o + SPLAT_G_A], g2.v[o + SPLAT_G_B], g2.v[o + SPLAT_G_C]);
        vec3 v_col = vec3(g2.v[o + SPLAT_G_COLOR], g2.v[o + SPLAT_G_COLOR + 1], g2.v[o + SPLAT_G_COLOR + 2]);
        float v_z = g2.v[o + SPLAT_G_Z];
        v_logit += g2.v[o + SPLAT_G_OPAC] * opac * (1.0 - opac);

        // Color = max(SH(dir) + 0.5, 0): coefficients, and the direction through its normalization.
        vec3 d = mu - cam.pos;
        float dl = length(d);
        vec3 dir = dl > 0.0 ? d / dl : vec3(0.0);
        float b[16];
        splat_sh_basis(deg, dir, b);
        vec3 raw = vec3(0.5);
        for (uint k = 0; k < nb; k++) raw += b[k] * shc[k];
        v_col = mix(v_col, vec3(0.0), lessThan(raw, vec3(0.0)));
        for (uint k = 0; k < nb; k++) v_sh[k] += b[k] * v_col;
        if (deg > 0 && dl > 0.0) {
            float w[16];
            for (uint k = 0; k < 16; k++) w[k] = k < nb ? dot(shc[k], v_col) : 0.0;
            vec3 v_dir = splat_sh_dir_grad(deg, dir, w);
            v_mu += (v_dir - dir * dot(dir, v_dir)) / dl;
        }

        // Conic = cov^-1: dL/dcov = -C G C, the off-diagonal gradient split over both entries.
        float det = g.cov.x * g.cov.z - g.cov.y * g.cov.y;
        mat2 Ci = mat2(g.cov.z, -g.cov.y, -g.cov.y, g.cov.x) / det;
        mat2 G = mat2(v_conic.x, 0.5 * v_conic.y, 0.5 * v_conic.y, v_conic.z);
        mat2 V = -(Ci * G * Ci);
        // cov = T Sigma T^T (+0.3 I), T = J W.
        mat3 v_Sigma = transpose(g.T) * V * g.T;
        mat3x2 v_T = 2.0 * (V * g.T * g.Sigma);
        mat3x2 v_J = v_T * transpose(cam.R);

        // Camera-space mean: from the 2D mean, the Jacobian (x/z, y/z clamped) and the depth.
        float x = g.pc.x, y = g.pc.y, z = g.pc.z, rz = 1.0 / z, rz2 = rz * rz;
        vec3 v_pc;
        v_pc.x = cam.fx * rz * vu;
        v_pc.y = cam.fy * rz * vv;
        v_pc.z = -(cam.fx * x * vu + cam.fy * y * vv) * rz2 + v_z;
        v_pc.z -= v_J[0][0] * cam.fx * rz2 + v_J[1][1] * cam.fy * rz2;
        float dux_dx = g.clamp_x ? 0.0 : rz, dux_dz = g.clamp_x ? 0.0 : -x * rz2;
        float duy_dy = g.clamp_y ? 0.0 : rz, duy_dz = g.clamp_y ? 0.0 : -y * rz2;
        v_pc.x -= v_J[2][0] * cam.fx * rz * dux_dx;
        v_pc.z += v_J[2][0] * (cam.fx * g.ux * rz2 - cam.fx * rz * dux_dz);
        v_pc.y -= v_J[2][1] * cam.fy * rz * duy_dy;
        v_pc.z += v_J[2][1] * (cam.fy * g.uy * rz2 - cam.fy * rz * duy_dz);
        v_mu += transpose(cam.R) * v_pc;

        // Sigma = M M^T, M = R S.
        mat3 v_M = 2.0 * (v_Sigma * g.M);
        v_ls += vec3(dot(v_M[0], g.R[0]), dot(v_M[1], g.R[1]), dot(v_M[2], g.R[2])) * g.s;
        mat3 v_R = v_M * mat3(g.s.x, 0.0, 0.0, 0.0, g.s.y, 0.0, 0.0, 0.0, g.s.z);
        if (NORMALS) {
            // normal = sgn R[axis], with the smallest-scale axis and the flip held constant.
            uint axis;
            float sgn;
            splat_normal(g, log_s, mu, cam.pos, axis, sgn);
            v_R[axis] += sgn * vec3(g2.v[o + SPLAT_G_NORMAL], g2.v[o + SPLAT_G_NORMAL + 1], g2.v[o + SPLAT_G_NORMAL + 2]);
        }
        // R(q) for the normalized q, then through the normalization.
        float qw = g.qn.x, qx = g.qn.y, qy = g.qn.z, qz = g.qn.w;
        float r00 = v_R[0][0], r01 = v_R[1][0], r02 = v_R[2][0];
        float r10 = v_R[0][1], r11 = v_R[1][1], r12 = v_R[2][1];
        float r20 = v_R[0][2], r21 = v_R[1][2], r22 = v_R[2][2];
        vec4 vq;
        vq.x = 2.0 * (-qz * r01 + qy * r02 + qz * r10 - qx * r12 - qy * r20 + qx * r21);
        vq.y = 2.0 * (qy * r01 + qz * r02 + qy * r10 - 2.0 * qx * r11 - qw * r12 + qz * r20 + qw * r21 - 2.0 * qx * r22);
        vq.z = 2.0 * (-2.0 * qy * r00 + qx * r01 + qw * r02 + qx * r10 + qz * r12 - qw * r20 + qz * r21 - 2.0 * qy * r22);
        vq.w = 2.0 * (-2.0 * qz * r00 - qw * r01 + qx * r02 + qw * r10 - 2.0 * qz * r11 + qy * r12 + qx * r20 + qy * r21);
        v_q += (vq - g.qn * dot(g.qn, vq)) / g.qlen;
    }
    if (p.g_means != 0) {
        f32 o = f32(p.g_means);
        for (uint k = 0; k < 3; k++) o.v[3 * i + k] += v_mu[k];
    }
    if (p.g_log_scales != 0) {
        f32 o = f32(p.g_log_scales);
        for (uint k = 0; k < 3; k++) o.v[3 * i + k] += v_ls[k];
    }
    if (p.g_quats != 0) {
        f32 o = f32(p.g_quats);
        for (uint k = 0; k < 4; k++) o.v[4 * i + k] += v_q[k];
    }
    if (p.g_opacity_logits != 0) f32(p.g_opacity_logits).v[i] += v_logit;
    if (p.g_sh != 0) {
        f32 o = f32(p.g_sh);
        for (uint k = 0; k < nb; k++) {
            o.v[sh_base + 3 * k] += v_sh[k].x;
            o.v[sh_base + 3 * k + 1] += v_sh[k].y;
            o.v[sh_base + 3 * k + 2] += v_sh[k].z;
        }
    }
}
