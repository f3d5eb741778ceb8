#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#include "common.glsl"
#include "nn/attention.h"
#include "nn/attention_tile.glsl"
layout(local_size_x_id = 4) in;
layout(push_constant) uniform Push { vkd_attention_push p; };

// Flash-attention backward, key side: a workgroup keeps BR key rows (k, v and the dk, dv
// accumulators) in registers and streams blocks of BC query rows (q, dout, lse, delta)
// through shared memory, recomputing P and dS per block:
//   dv = P^T dout,  dk = scale * dS^T q.
// Each dk / dv row is owned by one workgroup, so they are accumulated without atomics, in a
// fixed order (deterministic).
const uint QG_N = 2 * BC * NO;                   // octets of one double-buffered Q (or dout)
shared float lse_sh[2 * BC];                     // log2 units
shared float delta_sh[2 * BC];
shared float red_s[DS > 1 ? R * RS * RED_STRIDE : 1];
shared float red_p[DS > 1 ? R * RS * RED_STRIDE : 1];

// Stages query rows i0 .. i0 + BC - 1 (clamped to the last row) into buffer `buf` (in octets;
// buf / NO for the per-row floats).
void stage_q(uint64_t qb, uint64_t gb, uint lrow, uint i0, uint buf, uint tid) {
    for (uint e = tid; e < BC * NO; e += NT) {
        const uint row = min(i0 + e / NO, p.Tq - 1);
        sh[buf + e] = load_octet(qb, row * p.ldq, e % NO);
        sh[QG_N + buf + e] = load_octet(gb, row * p.ldo, e % NO);
    }
    for (uint e = tid; e < BC; e += NT) {
        const uint row = lrow + min(i0 + e, p.Tq - 1);
        lse_sh[buf / NO + e] = f32(p.lse).v[row] * LOG2E;
        delta_sh[buf / NO + e] = p.delta != 0 ? f32(p.delta).v[row] : 0.0;  // 0 when only dv is wanted
    }
}

void main() {
    const uint tid = gl_LocalInvocationID.x, rs = tid / DS, t = tid % DS;
    const uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
    const uint j0 = gl_WorkGroupID.x * BR;
    const uint64_t qb = head_base(p.q, b, p.Tq, p.ldq, h);
    const uint64_t gb = head_base(p.o, b, p.Tq, p.ldo, h);
    const uint64_t kb = head_base(p.k, b, p.Tk, p.ldk, h);
    const uint64_t vb = head_base(p.v, b, p.Tk, p.ldv, h);
    const uint lrow = (b * p.H + h) * p.Tq;  // lse / delta row 0 of this (batch, head)
    const float c = p.scale * LOG2E;

    // k (pre-scaled to log2 units) and v rows, through shared memory.
    float k[R][8 * OL], v[R][8 * OL], dk[R][8 * OL], dv[R][8 * OL];
    [[unroll]] for (uint rr = 0; rr < R; rr++)
        [[unroll]] for (uint x = 0; x < 8 * OL; x++) k[rr][x] = v[rr][x] = dk[rr][x] = dv[rr][x] = 0.0;
    for (uint e = tid; e < BR * NO; e += NT) sh[e] = load_octet(kb, min(j0 + e / NO, p.Tk - 1) * p.ldk, e % NO);
    sync_wg();
    TILE_TO_REGS(k, c)
    sync_wg();
    for (uint e = tid; e < BR * NO; e += NT) sh[e] = load_octet(vb, min(j0 + e / NO, p.Tk - 1) * p.ldv, e % NO);
    sync_wg();
    TILE_TO_REGS(v, 1.0)
    sync_wg();

    // Causal: queries before the workgroup's first key see none of its keys.
    const uint ibeg = p.causal != 0 ? (min(j0, p.Tq) / BC) * BC : 0;
    if (ibeg < p.Tq) stage_q(qb, gb, lrow, ibeg, 0, tid);
    sync_wg();
    for (uint i0 = ibeg, buf = 0; i0 < p.Tq; i0 += BC, buf = BC * NO - buf) {
        if (i0 + BC < p.Tq) stage_q(qb, gb, lrow, i0 + BC, BC * NO - buf, tid);

        float s[R][BC], dp[R][BC];
        [[unroll]] for (uint rr = 0; rr < R; rr++)
            [[unroll]] for (uint i = 0; i < BC; i++) s[rr][i] = dp[rr][i] = 0.0;
        [[unroll]] for (uint i = 0; i < BC; i++)
            [[unroll]] for (uint x = 0; x < OL; x++) {
                float qv[8], gv[8];
                unpack8(sh[buf + i * NO + t + DS * x], qv);
                unpack8(sh[QG_N + buf + i * NO + t + DS * x], gv);
                [[unroll]] for (uint e = 0; e < 8; e++)
                    if (slot_used(8 * x + e))
                        [[unroll]] for (uint rr = 0; rr < R; rr++) {
                            s[rr][i] += k[rr][8 * x + e] * qv[e];
                            dp[rr][i] += v[rr][8 * x + e] * gv[e];
                        }
            }
        if (DS > 1) {  // sum the partial products of the row's invocations
            [[unroll]] for (uint rr = 0; rr < R; rr++)
                [[unroll]] for (uint i = 0; i < BC; i++) {
                    red_s[(rr * RS + rs) * RED_STRIDE + i * DS + t] = s[rr][i];
                    red_p[(rr * RS + rs) * RED_STRIDE + i * DS + t] = dp[rr][i];
                }
            sync_wg();
            [[unroll]] for (uint rr = 0; rr < R; rr++)
                [[unroll]] for (uint i = 0; i < BC; i++) {
                    float ss = 0.0, sp = 0.0;
                    [[unroll]] for (uint u = 0; u < DS; u++) {
                        ss += red_s[(rr * RS + rs) * RED_STRIDE + i * DS + u];
                        sp += red_p[(rr * RS + rs) * RED_STRIDE + i * DS + u];
                    }
                    s[rr][i] = ss;
                    dp[rr][i] = sp;
                }
        }

        // P in place of s, dS in place of dp.
        float lb[BC], db[BC];
        [[unroll]] for (uint i = 0; i < BC; i++) {
            lb[i] = lse_sh[buf / NO + i];
            db[i] = delta_sh[buf / NO + i];
        }
        [[unroll]] for (uint rr = 0; rr < R; rr++) {
            const uint j = j0 + rs + RS * rr;
            [[unroll]] for (uint i = 0; i < BC; i++) {
                const uint ii = i0 + i;
                const bool masked = ii >= p.Tq || (p.causal != 0 && j > ii);
                const float pr = masked ? 0.0 : exp2(s[rr][i] - lb[i]);
                s[rr][i] = pr;
                dp[rr][i] = pr * (dp[rr][i] - db[i]);
            }
        }
        [[unroll]] for (uint x = 0; x < OL; x++)
            [[unroll]] for (uint i = 0; i < BC; i++) {
                float qv[8], gv[8];
                unpack8(sh[buf + i * NO + t + DS * x], qv);
                unpack8(sh[QG_N + buf + i * NO + t + DS * x], gv);
                [[unroll]] for (uint e = 0; e < 8; e++)
                    if (slot_used(8 * x + e))
                        [[unroll]] for (uint rr = 0; rr < R; rr++) {
                            dv[rr][8 * x + e] += s[rr][i] * gv[e];
                            dk[rr][8 * x + e] += dp[rr][i] * qv[e];
                        }
            }
        sync_wg();  // block n + 1 is staged; block n and the red arrays may be overwritten
    }

    // dk += scale * acc, dv += acc, through shared memory (coalesced read-modify-write).
    const uint nrows = min(BR, p.Tk - j0);
    if (p.dk != 0) {
        REGS_TO_TILE(dk, p.scale)
        sync_wg();
        const uint64_t db = head_base(p.dk, b, p.Tk, p.ldk, h);
        for (uint e = tid; e < nrows * NO; e += NT) {
            const uint row = (j0 + e / NO) * p.ldk;
            store_octet(db, row, e % NO, add_octets(load_octet(db, row, e % NO), sh[e]));
        }
        sync_wg();
    }
    if (p.dv != 0) {
        REGS_TO_TILE(dv, 1.0)
        sync_wg();
        const uint64_t db = head_base(p.dv, b, p.Tk, p.ldv, h);
        for (uint e = tid; e < nrows * NO; e += NT) {
            const uint row = (j0 + e / NO) * p.ldv;
            store_octet(db, row, e % NO, add_octets(load_octet(db, row, e % NO), sh[e]));
        }
    }
}
