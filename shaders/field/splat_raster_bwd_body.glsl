// Body of splat_raster_bwd.comp (float atomics) and splat_raster_bwd_cas.comp (compare-and-swap
// fallback): they define splat_atomic_add(addr, index, value) and include this.
//
// One workgroup per (tile, view), PPT pixels per invocation (as in splat_raster.comp), walking
// the tile's Gaussians back to front from each pixel's last contributor and undoing the
// compositing from the saved final transmittance (T_before = T_after / (1 - alpha)). Per
// Gaussian, an invocation sums its pixels, the subgroup sums its invocations, and one lane adds
// the result to the (view, Gaussian) slot of grad2d. With spec constant 2 (NORMALS) the normals
// image's gradient d_normal is backpropagated too: the records are SPLAT_G_FLOATS_NORMALS long
// and end with the gradient of the Gaussian's normal.
layout(constant_id = 0) const uint PPT = 1;
layout(local_size_x = SPLAT_TILE, local_size_y_id = 1) in;
layout(constant_id = 2) const bool NORMALS = false;
layout(push_constant) uniform Push { vkd_splat_raster_bwd_push p; };

shared vec4 s_uvab[SPLAT_TILE_PIXELS];
shared vec4 s_coz[SPLAT_TILE_PIXELS];
shared vec4 s_rgb[SPLAT_TILE_PIXELS];
// The normal as in splat_raster.comp: x in s_coz.w, y in s_rgb.w, z here (16 KiB shared limit).
shared float s_nz[SPLAT_TILE_PIXELS];
shared uint s_id[SPLAT_TILE_PIXELS];
shared uint s_last;

void main() {
    uint view = gl_WorkGroupID.z;
    uint tile = view * p.tiles_per_view + gl_WorkGroupID.y * p.tiles_x + gl_WorkGroupID.x;
    uint threads = gl_WorkGroupSize.x * gl_WorkGroupSize.y;
    uint tid = gl_LocalInvocationIndex;
    uint px = gl_WorkGroupID.x * SPLAT_TILE + gl_LocalInvocationID.x;
    uint py0 = gl_WorkGroupID.y * SPLAT_TILE + gl_LocalInvocationID.y * PPT;
    uint start = u32(p.ranges).v[2 * tile], end = u32(p.ranges).v[2 * tile + 1];
    uint hw = p.width * p.height;
    vec3 bg = vec3(p.bg_r, p.bg_g, p.bg_b);
    float Tf[PPT], T[PPT], d_a[PPT], d_z[PPT], acc_z[PPT], bg_dot[PPT];
    vec3 d_rgb[PPT], acc_rgb[PPT], d_n[PPT], acc_n[PPT];
    uint last[PPT];
    uint my_last = 0;
    for (uint r = 0; r < PPT; r++) {
        uint py = py0 + r, pixel = py * p.width + px;
        bool inside = px < p.width && py < p.height;
        Tf[r] = inside ? f32(p.final_t).v[view * hw + pixel] : 1.0;
        last[r] = inside ? u32(p.last).v[view * hw + pixel] : 0;
        d_rgb[r] = vec3(0.0);
        if (inside && p.d_rgb != 0) {
            f32 g = f32(p.d_rgb);
            d_rgb[r] = vec3(g.v[(3 * view) * hw + pixel], g.v[(3 * view + 1) * hw + pixel], g.v[(3 * view + 2) * hw + pixel]);
        }
        d_n[r] = vec3(0.0);
        if (NORMALS && inside) {
            f32 g = f32(p.d_normal);
            d_n[r] = vec3(g.v[(3 * view) * hw + pixel], g.v[(3 * view + 1) * hw + pixel], g.v[(3 * view + 2) * hw + pixel]);
        }
        acc_n[r] = vec3(0.0);
        d_a[r] = inside && p.d_alpha != 0 ? f32(p.d_alpha).v[view * hw + pixel] : 0.0;
        d_z[r] = inside && p.d_depth != 0 ? f32(p.d_depth).v[view * hw + pixel] : 0.0;
        bg_dot[r] = dot(bg, d_rgb[r]);
        T[r] = Tf[r];
        acc_rgb[r] = vec3(0.0);
        acc_z[r] = 0.0;
        my_last = max(my_last, last[r]);
    }
    if (tid == 0) s_last = 0;
    barrier();
    atomicMax(s_last, my_last);
    barrier();
    // Nothing after the tile's last contributor needs visiting.
    uint stop = min(end, s_last);
    if (stop <= start) return;  // uniform: every invocation read the same s_last
    f32x4 proj = f32x4(p.proj);
    u32 values = u32(p.values);
    uint batches = (stop - start + SPLAT_TILE_PIXELS - 1) / SPLAT_TILE_PIXELS;
    for (uint bi = batches; bi-- > 0;) {
        uint base = start + bi * SPLAT_TILE_PIXELS;
        uint count = min(uint(SPLAT_TILE_PIXELS), stop - base);
        barrier();
        for (uint k = tid; k < count; k += threads) {
            uint id = values.v[base + k];
            uint e = view * p.n + id;
            s_id[k] = id;
            s_uvab[k] = proj.v[3 * e];
            s_coz[k] = proj.v[3 * e + 1];
            s_rgb[k] = proj.v[3 * e + 2];
            if (NORMALS) {
                vec4 nrm = f32x4(p.normals).v[e];
                s_coz[k].w = nrm.x;
                s_rgb[k].w = nrm.y;
                s_nz[k] = nrm.z;
            }
        }
        barrier();
        for (uint j = count; j-- > 0;) {
            vec4 uvab = s_uvab[j], coz = s_coz[j];
            vec3 col = s_rgb[j].rgb;
            vec3 nrm = NORMALS ? vec3(coz.w, s_rgb[j].w, s_nz[j]) : vec3(0.0);
            vec4 g_uvab = vec4(0.0), g_coz = vec4(0.0);
            vec3 g_rgb = vec3(0.0), g_n = vec3(0.0);
            bool any_valid = false;
            for (uint r = 0; r < PPT; r++) {
                vec2 d = uvab.xy - vec2(px + 0.5, py0 + r + 0.5);
                float power = -0.5 * (uvab.z * d.x * d.x + coz.x * d.y * d.y) - uvab.w * d.x * d.y;
                float vis = exp(power);
                float alpha = min(0.99, coz.y * vis);
                if (!(base + j < last[r] && power <= 0.0 && alpha >= 1.0 / 255.0)) continue;
                any_valid = true;
                float ra = 1.0 / (1.0 - alpha);
                T[r] *= ra;
                float fac = alpha * T[r];
                g_rgb += fac * d_rgb[r];
                float v_alpha = dot(col * T[r] - acc_rgb[r] * ra, d_rgb[r]) + Tf[r] * ra * (d_a[r] - bg_dot[r]) +
                                (coz.z * T[r] - acc_z[r] * ra) * d_z[r];
                g_coz.z += fac * d_z[r];
                acc_rgb[r] += col * fac;
                acc_z[r] += coz.z * fac;
                if (NORMALS) {
                    v_alpha += dot(nrm * T[r] - acc_n[r] * ra, d_n[r]);
                    g_n += fac * d_n[r];
                    acc_n[r] += nrm * fac;
                }
                if (coz.y * vis <= 0.99) {
                    float v_power = alpha * v_alpha;
                    g_coz.y += vis * v_alpha;
                    g_uvab.z += -0.5 * d.x * d.x * v_power;
                    g_uvab.w += -d.x * d.y * v_power;
                    g_coz.x += -0.5 * d.y * d.y * v_power;
                    g_uvab.x += -(uvab.z * d.x + uvab.w * d.y) * v_power;
                    g_uvab.y += -(uvab.w * d.x + coz.x * d.y) * v_power;
                }
            }
            if (subgroupAny(any_valid)) {
                g_uvab = subgroupAdd(g_uvab);
                g_coz = subgroupAdd(g_coz);
                g_rgb = subgroupAdd(g_rgb);
                if (NORMALS) g_n = subgroupAdd(g_n);
                if (subgroupElect()) {
                    uint o = (view * p.n + s_id[j]) * (NORMALS ? SPLAT_G_FLOATS_NORMALS : SPLAT_G_FLOATS);
                    if (g_uvab.x != 0.0) splat_atomic_add(p.grad2d, o + SPLAT_G_U, g_uvab.x);
                    if (g_uvab.y != 0.0) splat_atomic_add(p.grad2d, o + SPLAT_G_V, g_uvab.y);
                    if (g_uvab.z != 0.0) splat_atomic_add(p.grad2d, o + SPLAT_G_A, g_uvab.z);
                    if (g_uvab.w != 0.0) splat_atomic_add(p.grad2d, o + SPLAT_G_B, g_uvab.w);
                    if (g_coz.x != 0.0) splat_atomic_add(p.grad2d, o + SPLAT_G_C, g_coz.x);
                    if (g_coz.y != 0.0) splat_atomic_add(p.grad2d, o + SPLAT_G_OPAC, g_coz.y);
                    if (g_coz.z != 0.0) splat_atomic_add(p.grad2d, o + SPLAT_G_Z, g_coz.z);
                    if (g_rgb.r != 0.0) splat_atomic_add(p.grad2d, o + SPLAT_G_COLOR, g_rgb.r);
                    if (g_rgb.g != 0.0) splat_atomic_add(p.grad2d, o + SPLAT_G_COLOR + 1, g_rgb.g);
                    if (g_rgb.b != 0.0) splat_atomic_add(p.grad2d, o + SPLAT_G_COLOR + 2, g_rgb.b);
                    if (g_n.x != 0.0) splat_atomic_add(p.grad2d, o + SPLAT_G_NORMAL, g_n.x);
                    if (g_n.y != 0.0) splat_atomic_add(p.grad2d, o + SPLAT_G_NORMAL + 1, g_n.y);
                    if (g_n.z != 0.0) splat_atomic_add(p.grad2d, o + SPLAT_G_NORMAL + 2, g_n.z);
                }
            }
        }
    }
}
