// Shared by the attention kernels: a workgroup owns BR rows of one (batch, head) and keeps
// their vectors in registers; the other operand is walked in blocks of BC rows that the
// workgroup stages in shared memory, where every invocation reads them as broadcasts.
//
// Vectors are handled in octets of 8 dims, zero-padded past D: shared memory holds a block as
// [row][octet] u64vec4 words (32 bytes), so one shared-memory read feeds 8 dims. On GPUs that
// is two 128-bit reads that every row of a warp shares; on llvmpipe, where each memory access
// is a loop over the SIMD lanes, it is 8 floats per such loop instead of 1.
//
// DS invocations cooperate on a row (DS divides the octet count NO): invocation t of a row
// holds octets t + DS * k (k < OL) of it, so a head dim of 160 costs 40 registers per vector
// at DS = 4, and partial dot products are summed over the DS invocations in shared memory.
// Each invocation holds R rows (slots rs + RS * rr), which multiplies the use of every
// shared-memory read by R.
layout(constant_id = 0) const uint D = 64;      // head dim
layout(constant_id = 1) const uint R = 1;       // rows per invocation
layout(constant_id = 2) const uint BC = 32;     // rows of the other operand per block
layout(constant_id = 3) const uint DS = 1;      // invocations per row
layout(constant_id = 4) const uint NT = 64;     // local size (a multiple of DS)
// Bit 0: the rows of q, k, v, dout (and out) are 8-byte aligned pairs of floats (D, the
// row strides and the base addresses are even), so global loads move 2 floats at a time.
// Bit 1: the workgroup is a single subgroup (NT == subgroup size), so subgroup barriers order
// its shared memory. On llvmpipe that avoids the coroutine every workgroup barrier becomes
// (each suspension spills and reloads the rows' registers): about 25% faster there.
layout(constant_id = 5) const uint FLAGS = 0;

const uint NO = (D + 7) / 8;    // octets per row
const uint OL = NO / DS;        // octets per invocation
const uint RS = NT / DS;        // row slots per workgroup
const uint BR = RS * R;         // rows per workgroup
const bool PAIRS = (FLAGS & 1u) * (1u - D % 2u) != 0u;  // (no &&: glslang would emit it as code)

const bool ONE_SUBGROUP = (FLAGS & 2u) != 0u;

void sync_wg() {
    if (ONE_SUBGROUP) {
        subgroupMemoryBarrierShared();
        subgroupBarrier();
    } else {
        barrier();
    }
}

// Scores of masked entries: finite, so no inf - inf can appear, and exp2 of it minus any
// real logit is 0.
const float NEG = -1.0e30;
const float LOG2E = 1.4426950408889634;
const float LN2 = 0.6931471805599453;

layout(buffer_reference, scalar, buffer_reference_align = 8) buffer u64s { uint64_t v[]; };

// Element offset of (batch b, row 0, head h) in a (B, T, ld) sequence, as an address.
uint64_t head_base(uint64_t base, uint b, uint T, uint ld, uint h) {
    return base + 4ul * (uint64_t(b) * uint64_t(T) * uint64_t(ld) + uint64_t(h) * uint64_t(D));
}

uint64_t pack2(float x, float y) { return pack64(u32vec2(floatBitsToUint(x), floatBitsToUint(y))); }

void unpack8(u64vec4 w, out float f[8]) {
    [[unroll]] for (uint i = 0; i < 4; i++) {
        u32vec2 u = unpack32(w[i]);
        f[2 * i] = uintBitsToFloat(u.x);
        f[2 * i + 1] = uintBitsToFloat(u.y);
    }
}

// Dims 8 * o .. 8 * o + 7 of the row starting at element `row` of base (zeros past D).
u64vec4 load_octet(uint64_t base, uint row, uint o) {
    uint64_t w[4];
    [[unroll]] for (uint c = 0; c < 4; c++) {
        uint d = 8 * o + 2 * c;
        if (PAIRS) {
            uint64_t u = u64s(base).v[(row + min(d, D - 2)) / 2];
            w[c] = D % 8 == 0 || d < D ? u : 0ul;
        } else {
            float x = f32(base).v[row + min(d, D - 1)];
            float y = f32(base).v[row + min(d + 1, D - 1)];
            w[c] = pack2(D % 8 == 0 || d < D ? x : 0.0, D % 8 == 0 || d + 1 < D ? y : 0.0);
        }
    }
    return u64vec4(w[0], w[1], w[2], w[3]);
}

// Writes the real dims of octet o (dims 8 * o ..) of the row starting at element `row`.
void store_octet(uint64_t base, uint row, uint o, u64vec4 w) {
    [[unroll]] for (uint c = 0; c < 4; c++) {
        uint d = 8 * o + 2 * c;
        if (PAIRS) {
            if (D % 8 == 0 || d < D) u64s(base).v[(row + d) / 2] = w[c];
        } else {
            u32vec2 u = unpack32(w[c]);
            if (D % 8 == 0 || d < D) f32(base).v[row + d] = uintBitsToFloat(u.x);
            if (D % 8 == 0 || d + 1 < D) f32(base).v[row + d + 1] = uintBitsToFloat(u.y);
        }
    }
}

u64vec4 add_octets(u64vec4 a, u64vec4 b) {
    float x[8], y[8];
    unpack8(a, x);
    unpack8(b, y);
    uint64_t w[4];
    [[unroll]] for (uint c = 0; c < 4; c++) w[c] = pack2(x[2 * c] + y[2 * c], x[2 * c + 1] + y[2 * c + 1]);
    return u64vec4(w[0], w[1], w[2], w[3]);
}

u64vec4 pack8(float f[8]) {
    uint64_t w[4];
    [[unroll]] for (uint c = 0; c < 4; c++) w[c] = pack2(f[2 * c], f[2 * c + 1]);
    return u64vec4(w[0], w[1], w[2], w[3]);
}

// Shared memory: a tile of BR rows (the prologue and epilogue), or two double-buffered blocks
// of BC rows of the other operand (the main loop).
const uint SH_N = BR * NO > 4 * BC * NO ? BR * NO : 4 * BC * NO;
shared u64vec4 sh[SH_N];

// Octet k of the invocation's part of row slot rs + RS * r of a tile staged in shared memory
// ([row][octet], NO octets per row).
u64vec4 tile_octet(uint r, uint rs, uint t, uint k) { return sh[(rs + RS * r) * NO + t + DS * k]; }
void set_tile_octet(uint r, uint rs, uint t, uint k, u64vec4 w) { sh[(rs + RS * r) * NO + t + DS * k] = w; }

// The kernels keep R rows per invocation in register arrays indexed by compile-time
// constants. Moving a tile row in or out takes OL shared-memory accesses; doing that for the R
// rows in a loop that is not unrolled, with selects picking the register row, keeps one copy
// of those accesses in the code. On llvmpipe each access is a loop over the SIMD lanes, and
// the compile time grows with their number (times the live registers): this halves it there.
//
// A[rr][x] = a * (tile row rr), for every register row rr (A initialized).
#define TILE_TO_REGS(A, a)                                                                          \
    [[dont_unroll]] for (uint r_ = 0; r_ < R; r_++)                                                 \
        [[unroll]] for (uint k_ = 0; k_ < OL; k_++) {                                               \
            float f_[8];                                                                            \
            unpack8(tile_octet(r_, rs, t, k_), f_);                                                 \
            [[unroll]] for (uint rr_ = 0; rr_ < R; rr_++)                                           \
                [[unroll]] for (uint e_ = 0; e_ < 8; e_++)                                          \
                    A[rr_][8 * k_ + e_] = r_ == rr_ ? (a) * f_[e_] : A[rr_][8 * k_ + e_];           \
        }

// Tile row rr = a * A[rr][x], for every register row rr.
#define REGS_TO_TILE(A, a)                                                                          \
    [[dont_unroll]] for (uint r_ = 0; r_ < R; r_++)                                                 \
        [[unroll]] for (uint k_ = 0; k_ < OL; k_++) {                                               \
            float f_[8];                                                                            \
            [[unroll]] for (uint e_ = 0; e_ < 8; e_++) {                                            \
                f_[e_] = A[0][8 * k_ + e_];                                                         \
                [[unroll]] for (uint rr_ = 1; rr_ < R; rr_++) f_[e_] = r_ == rr_ ? A[rr_][8 * k_ + e_] : f_[e_]; \
                f_[e_] *= (a);                                                                      \
            }                                                                                       \
            set_tile_octet(r_, rs, t, k_, pack8(f_));                                               \
        }

// Whether register slot x (dim 8 * (t + DS * (x / 8)) + x % 8 of invocation t's row) can be a
// real dim: with one invocation per row, slots past D are known zero and their FMAs are skipped.
bool slot_used(uint x) { return DS > 1 || x < D; }

// Partial dot products of a row, summed over its DS invocations through shared memory.
// The padded row stride puts the rows of a warp in different banks.
const uint RED_STRIDE = BC * DS + 1;
