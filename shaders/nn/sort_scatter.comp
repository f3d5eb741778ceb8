#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "nn/sort.h"
// Stable scatter of one block of keys (and values) by the current digit, for GPUs. The
// block is walked in tiles of WG * ITEMS keys; each tile is loaded coalesced, transposed
// through shared memory, ranked in shared memory and written out in digit order, so equal
// digits land in consecutive addresses (coalesced stores).
//
// Ranking without subgroup operations (correct for any subgroup size): invocation t
// owns the ITEMS consecutive keys t*ITEMS .. t*ITEMS+ITEMS-1 of the tile and counts
// their digits in its own column of 16-bit counters (two digits per 32-bit word, word
// (d % 128) * WG + t). One exclusive scan over all counter words in (word, column)
// order then gives, for every (digit, invocation), the number of tile keys that come
// before it in (digit, input position) order: exactly a stable rank. The scan is raked:
// invocation t sums 128 consecutive words, a workgroup scan combines the sums.
layout(constant_id = 0) const uint WG = 64;
layout(constant_id = 1) const uint ITEMS = 16;
layout(constant_id = 2) const uint KEY_WORDS = 2;     // 2: uint64 keys, 1: uint32 keys
layout(local_size_x_id = 0) in;
layout(push_constant) uniform Push { vkd_sort_push p; };

layout(buffer_reference, scalar, buffer_reference_align = 8) buffer sort_u32x2 { uvec2 v[]; };

const uint TILE = WG * ITEMS;
const uint LANES = VKD_SORT_RADIX / 2;
// Counter word L lives at L + L / LANES: one pad word per raking segment keeps the
// segments in different banks.
const uint COUNTER_WORDS = LANES * WG + WG;
// Exchange planes (key low words, key high words, values), one pad word per 32.
const uint PLANE = TILE + TILE / 32;
const uint EXCHANGE_WORDS = PLANE * (KEY_WORDS + 1);
// The counters and the exchange planes are never live at the same time.
shared uint sm[COUNTER_WORDS > EXCHANGE_WORDS ? COUNTER_WORDS : EXCHANGE_WORDS];
shared uint s_run[VKD_SORT_RADIX];    // global position of the block's next key of each digit
shared uint s_start[VKD_SORT_RADIX];  // tile: first sorted position of each digit
shared uint s_count[VKD_SORT_RADIX];  // tile: keys of each digit
shared uint scan_tmp[2 * WG];
#include "nn/scan_block.glsl"

uint counter_at(uint d, uint col) {
    uint l = (d & (LANES - 1)) * WG + col;
    return l + l / LANES;
}
uint xpos(uint i) { return i + (i >> 5); }

uint digit_of(uint lo, uint hi) { return ((p.shift >= 32 ? hi : lo) >> (p.shift & 31u)) & p.mask; }

void main() {
    uint block = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
    if (block >= p.blocks) return;
    uint t = gl_LocalInvocationID.x;
    bool has_values = p.values_in != 0;
    const uint X_LO = 0, X_HI = PLANE, X_VAL = PLANE * (KEY_WORDS == 2 ? 2 : 1);
    u32 keys32_in = u32(p.keys_in);
    sort_u32x2 keys64_in = sort_u32x2(p.keys_in);
    u32 vals_in = u32(p.values_in);

    for (uint d = t; d < VKD_SORT_RADIX; d += WG) s_run[d] = u32(p.hist).v[d * p.blocks + block];
    uint begin = block * p.block_items;
    uint end = min(p.n, begin + p.block_items);

    for (uint base = begin; base < end; base += TILE) {
        uint valid = min(TILE, end - base);
        // Keys past the end (only in the very last tile) are all ones: they have the
        // largest digit and come last in input order, so they rank last and are not stored.
        uint klo[ITEMS], khi[ITEMS], val[ITEMS];
        // Coalesced loads, then each invocation takes ITEMS consecutive keys.
        for (uint j = 0; j < ITEMS; j++) {
            uint i = j * WG + t;
            bool ok = i < valid;
            uvec2 k = uvec2(0xFFFFFFFFu);
            if (ok) k = KEY_WORDS == 2 ? keys64_in.v[base + i] : uvec2(keys32_in.v[base + i], 0u);
            sm[X_LO + xpos(i)] = k.x;
            if (KEY_WORDS == 2) sm[X_HI + xpos(i)] = k.y;
            if (has_values) sm[X_VAL + xpos(i)] = ok ? vals_in.v[base + i] : 0u;
        }
        barrier();
        for (uint j = 0; j < ITEMS; j++) {
            uint i = t * ITEMS + j;
            klo[j] = sm[X_LO + xpos(i)];
            khi[j] = KEY_WORDS == 2 ? sm[X_HI + xpos(i)] : 0u;
            val[j] = has_values ? sm[X_VAL + xpos(i)] : 0u;
        }
        barrier();

        // Count into the private column; rank[j] = keys of the same digit before key j
        // in this invocation.
        for (uint w = 0; w < LANES; w++) sm[counter_at(w, t)] = 0;
        uint rank[ITEMS];
        for (uint j = 0; j < ITEMS; j++) {
            uint d = digit_of(klo[j], khi[j]);
            uint at = counter_at(d, t);
            uint sh = (d / LANES) * 16u;
            uint c = sm[at];
            rank[j] = (c >> sh) & 0xFFFFu;
            sm[at] = c + (1u << sh);
        }
        barrier();

        // Raked exclusive scan of the packed words. Both halves are scanned at once; the
        // low half's partial sums never exceed TILE < 2^16, so nothing carries into the
        // high half, and every high-half digit comes after all low-half ones: it is offset
        // by the low-half total afterwards.
        uint seg = t * (LANES + 1);
        uint sum = 0;
        for (uint i = 0; i < LANES; i++) sum += sm[seg + i];
        uint total;
        uint run = block_scan_exclusive(sum, total);
        for (uint i = 0; i < LANES; i++) {
            uint c = sm[seg + i];
            sm[seg + i] = run;
            run += c;
        }
        barrier();
        uint low_total = total & 0xFFFFu;

        uint pos[ITEMS];
        for (uint j = 0; j < ITEMS; j++) {
            uint d = digit_of(klo[j], khi[j]);
            uint c = sm[counter_at(d, t)];
            pos[j] = rank[j] + (d >= LANES ? (c >> 16) + low_total : c & 0xFFFFu);
        }
        for (uint d = t; d < VKD_SORT_RADIX; d += WG) {
            uint c = sm[counter_at(d, 0)];
            s_start[d] = d >= LANES ? (c >> 16) + low_total : c & 0xFFFFu;
        }
        barrier();

        // Into shared memory in sorted order.
        for (uint j = 0; j < ITEMS; j++) {
            uint x = xpos(pos[j]);
            sm[X_LO + x] = klo[j];
            if (KEY_WORDS == 2) sm[X_HI + x] = khi[j];
            if (has_values) sm[X_VAL + x] = val[j];
        }
        for (uint d = t; d < VKD_SORT_RADIX; d += WG)
            s_count[d] = (d + 1 < VKD_SORT_RADIX ? s_start[d + 1] : TILE) - s_start[d];
        barrier();

        // Out in sorted order: key i of the tile goes to its digit's running position plus
        // its place among the tile's keys of that digit.
        sort_u32x2 keys64_out = sort_u32x2(p.keys_out);
        u32 keys32_out = u32(p.keys_out);
        u32 vals_out = u32(p.values_out);
        for (uint j = 0; j < ITEMS; j++) {
            uint i = j * WG + t;
            if (i >= valid) break;
            uint x = xpos(i);
            uint lo = sm[X_LO + x];
            uint hi = KEY_WORDS == 2 ? sm[X_HI + x] : 0u;
            uint d = digit_of(lo, hi);
            uint dst = s_run[d] + i - s_start[d];
            if (KEY_WORDS == 2) keys64_out.v[dst] = uvec2(lo, hi);
            else keys32_out.v[dst] = lo;
            if (has_values) vals_out.v[dst] = sm[X_VAL + x];
        }
        barrier();
        for (uint d = t; d < VKD_SORT_RADIX; d += WG) s_run[d] += s_count[d];
    }
}
