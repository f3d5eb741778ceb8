// Point-light shading shared by the forward and backward.
layout(local_size_x = 256) in;
layout(push_constant) uniform Push { vkd_volrend_shade_push p; };

vec3 shade_load3(uint64_t a, uint i) {
    f32 b = f32(a);
    return vec3(b.v[3 * i], b.v[3 * i + 1], b.v[3 * i + 2]);
}

// Unit vector from sample i towards its view's light.
vec3 shade_light_dir(uint i) {
    uint view = u32(p.ray).v[i] / p.rays_per_view;
    return normalize(shade_load3(p.lights, view) - shade_load3(p.positions, i));
}
