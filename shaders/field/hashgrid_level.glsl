// Level geometry and corner lookup of the hash encoding, shared by the forward and the backward.
// Must match vkd_hashgrid_level_info (src/field/hashgrid.c) bit for bit: s_l is a chain of
// float32 multiplications (correctly rounded in Vulkan; `precise` keeps them unfused).
layout(constant_id = 0) const uint F = 2;  // features per level

// Pairs of features are read as one 64-bit word: a CPU device (llvmpipe) pays per load
// instruction and lane, and GPUs like the wider access too. Needs an 8-byte aligned table.
layout(buffer_reference, scalar, buffer_reference_align = 8) buffer hg_u64 { uint64_t v[]; };
const bool HG_PAIRS = F % 2u == 0u;

vec2 hg_pair(uint64_t table, uint e) { return uintBitsToFloat(unpackUint2x32(hg_u64(table).v[e / 2u])); }

struct hg_level {
    float scale;
    uint res;
    uint size;
    uint offset;  // first entry of the level
    bool hashed;
};

hg_level hg_make_level(float s, uint offset, uint table_size) {
    hg_level lv;
    precise float scale = s - 1.0;
    lv.scale = scale;
    lv.res = uint(ceil(scale)) + 1u;
    // res^3 <= table_size <= 2^24 needs res <= 256, so the product below cannot overflow.
    lv.hashed = lv.res > 256u || lv.res * lv.res * lv.res > table_size;
    lv.size = lv.hashed ? table_size : ((lv.res * lv.res * lv.res + 7u) & ~7u);
    lv.offset = offset;
    return lv;
}

// Entry (in floats: times F) of lattice vertex c; uint32 arithmetic, as tiny-cuda-nn.
// Hashed levels hold 2^log2_table entries, so the modulo is a mask; a dense index is below
// 2 size for lattice points inside [0, res]^3 (inputs in [0, 1]^3), which needs one subtraction.
// Vector integer division is slow on CPUs, so the general modulo is the rare path.
uint hg_entry(hg_level lv, uvec3 c) {
    uint i;
    if (lv.hashed) {
        i = (c.x ^ (c.y * HASHGRID_PRIME_Y) ^ (c.z * HASHGRID_PRIME_Z)) & (lv.size - 1u);
    } else {
        i = c.x + c.y * lv.res + c.z * (lv.res * lv.res);
        if (max(c.x, max(c.y, c.z)) <= lv.res) i = i >= lv.size ? i - lv.size : i;
        else i = i % lv.size;
    }
    return (lv.offset + i) * F;
}

// Cell and fractional position of u (in [0, 1]^3) on level lv: p = s u + 0.5.
void hg_cell(hg_level lv, vec3 u, out uvec3 cell, out vec3 t) {
    vec3 pf = lv.scale * u + 0.5;
    vec3 fl = floor(pf);
    t = pf - fl;
    cell = uvec3(ivec3(fl));
}

// Trilinear weight of corner c (bit 0: x + 1, bit 1: y + 1, bit 2: z + 1) and its gradient in t.
float hg_weight(uint c, vec3 t) {
    vec3 w = vec3((c & 1u) != 0u ? t.x : 1.0 - t.x, (c & 2u) != 0u ? t.y : 1.0 - t.y,
                  (c & 4u) != 0u ? t.z : 1.0 - t.z);
    return w.x * w.y * w.z;
}

vec3 hg_weight_grad(uint c, vec3 t) {
    vec3 w = vec3((c & 1u) != 0u ? t.x : 1.0 - t.x, (c & 2u) != 0u ? t.y : 1.0 - t.y,
                  (c & 4u) != 0u ? t.z : 1.0 - t.z);
    vec3 s = vec3((c & 1u) != 0u ? 1.0 : -1.0, (c & 2u) != 0u ? 1.0 : -1.0, (c & 4u) != 0u ? 1.0 : -1.0);
    return s * vec3(w.y * w.z, w.x * w.z, w.x * w.y);
}
