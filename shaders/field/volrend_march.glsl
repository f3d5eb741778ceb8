// Both ray-marching passes: the candidate lattice and the occupancy test. Every operation
// that decides whether a sample exists is `precise` (no contraction into fma), in the same
// order as the C reference's float32 code, so both keep exactly the same samples.
layout(local_size_x = VOLREND_RAY_WG) in;
layout(push_constant) uniform Push { vkd_volrend_march_push p; };

bool occupied(vec3 pos) {
    if (p.bits == 0) return true;
    precise vec3 q = (pos + vec3(p.radius)) * p.inv_cell;
    int hi = int(p.res) - 1;
    ivec3 c = clamp(ivec3(floor(q)), ivec3(0), ivec3(hi));
    uint idx = (uint(c.x) * p.res + uint(c.y)) * p.res + uint(c.z);
    return (u32(p.bits).v[idx >> 5] & (1u << (idx & 31u))) != 0u;
}

// Returns the number of samples of ray r; writes them from `base` when emit.
uint march(uint r, bool emit, uint base) {
    f32 O = f32(p.origins), D = f32(p.dirs), NF = f32(p.near_far);
    vec3 o = vec3(O.v[3 * r], O.v[3 * r + 1], O.v[3 * r + 2]);
    vec3 d = vec3(D.v[3 * r], D.v[3 * r + 1], D.v[3 * r + 2]);
    float tn = NF.v[2 * r], tf = NF.v[2 * r + 1];
    float u = p.stratified != 0u ? float(volrend_hash2(p.seed, r) >> 8) * (1.0 / 16777216.0) : 0.0;
    uint count = 0;
    // The bound only guards against a corrupt t_far; a sphere holds far fewer steps.
    for (uint k = 0; k < (1u << 24); k++) {
        precise float tm = tn + ((float(k) + u) + 0.5) * p.step;
        if (!(tm < tf)) break;
        precise vec3 pos = o + tm * d;
        if (!occupied(pos)) continue;
        if (emit) {
            uint i = base + count;
            if (p.positions != 0) {
                f32 P = f32(p.positions);
                P.v[3 * i + 0] = pos.x;
                P.v[3 * i + 1] = pos.y;
                P.v[3 * i + 2] = pos.z;
            }
            if (p.sdirs != 0) {
                f32 S = f32(p.sdirs);
                S.v[3 * i + 0] = d.x;
                S.v[3 * i + 1] = d.y;
                S.v[3 * i + 2] = d.z;
            }
            if (p.intervals != 0) {
                f32 I = f32(p.intervals);
                I.v[2 * i + 0] = tm;
                I.v[2 * i + 1] = p.step;
            }
            if (p.ray != 0) u32(p.ray).v[i] = r;
        }
        count++;
    }
    return count;
}
