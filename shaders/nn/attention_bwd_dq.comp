#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#include "common.glsl"
#include "nn/attention.h"
#include "nn/attention_tile.glsl"
layout(local_size_x_id = 4) in;
layout(push_constant) uniform Push { vkd_attention_push p; };

// Flash-attention backward, query side: a workgroup keeps BR query rows (q, dout and the dq
// accumulator) in registers and streams K and V blocks through shared memory, recomputing
//   P = exp(S - lse),  dP = dout V^T,  dS = P * (dP - delta),  dq = scale * dS K.
// Each dq row is owned by one workgroup, so dq is accumulated without atomics.
const uint KV_N = 2 * BC * NO;                   // octets of one double-buffered K (or V)
shared float red_s[DS > 1 ? R * RS * RED_STRIDE : 1];
shared float red_p[DS > 1 ? R * RS * RED_STRIDE : 1];

void stage_kv(uint64_t kb, uint64_t vb, uint j0, uint buf, uint tid) {
    for (uint e = tid; e < BC * NO; e += NT) {
        const uint row = min(j0 + e / NO, p.Tk - 1);
        sh[buf + e] = load_octet(kb, row * p.ldk, e % NO);
        sh[KV_N + buf + e] = load_octet(vb, row * p.ldv, e % NO);
    }
}

void main() {
    const uint tid = gl_LocalInvocationID.x, rs = tid / DS, t = tid % DS;
    const uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
    const uint i0 = gl_WorkGroupID.x * BR;
    const uint64_t qb = head_base(p.q, b, p.Tq, p.ldq, h);
    const uint64_t gb = head_base(p.o, b, p.Tq, p.ldo, h);
    const uint64_t kb = head_base(p.k, b, p.Tk, p.ldk, h);
    const uint64_t vb = head_base(p.v, b, p.Tk, p.ldv, h);
    const float c = p.scale * LOG2E;

    // q (pre-scaled to log2 units) and dout rows, through shared memory.
    float q[R][8 * OL], g[R][8 * OL], dq[R][8 * OL], lse2[R], delta[R];
    [[unroll]] for (uint rr = 0; rr < R; rr++) {
        [[unroll]] for (uint x = 0; x < 8 * OL; x++) q[rr][x] = g[rr][x] = dq[rr][x] = 0.0;
        lse2[rr] = delta[rr] = 0.0;
    }
    for (uint e = tid; e < BR * NO; e += NT) sh[e] = load_octet(qb, min(i0 + e / NO, p.Tq - 1) * p.ldq, e % NO);
    sync_wg();
    TILE_TO_REGS(q, c)
    sync_wg();
    for (uint e = tid; e < BR * NO; e += NT) sh[e] = load_octet(gb, min(i0 + e / NO, p.Tq - 1) * p.ldo, e % NO);
    sync_wg();
    TILE_TO_REGS(g, 1.0)
    [[dont_unroll]] for (uint r = 0; r < R; r++) {
        const uint row = (b * p.H + h) * p.Tq + min(i0 + rs + RS * r, p.Tq - 1);
        const float lv = f32(p.lse).v[row] * LOG2E, dv = f32(p.delta).v[row];
        [[unroll]] for (uint rr = 0; rr < R; rr++) {
            lse2[rr] = r == rr ? lv : lse2[rr];
            delta[rr] = r == rr ? dv : delta[rr];
        }
    }
    sync_wg();

    const uint kend = p.causal != 0 ? min(p.Tk, min(p.Tq, i0 + BR)) : p.Tk;
    stage_kv(kb, vb, 0, 0, tid);
    sync_wg();
    for (uint j0 = 0, buf = 0; j0 < kend; j0 += BC, buf = BC * NO - buf) {
        if (j0 + BC < kend) stage_kv(kb, vb, j0 + BC, BC * NO - buf, tid);

        float s[R][BC], dp[R][BC];
        [[unroll]] for (uint rr = 0; rr < R; rr++)
            [[unroll]] for (uint j = 0; j < BC; j++) s[rr][j] = dp[rr][j] = 0.0;
        [[unroll]] for (uint j = 0; j < BC; j++)
            [[unroll]] for (uint k = 0; k < OL; k++) {
                float kv[8], vv[8];
                unpack8(sh[buf + j * NO + t + DS * k], kv);
                unpack8(sh[KV_N + buf + j * NO + t + DS * k], vv);
                [[unroll]] for (uint e = 0; e < 8; e++)
                    if (slot_used(8 * k + e))
                        [[unroll]] for (uint rr = 0; rr < R; rr++) {
                            s[rr][j] += q[rr][8 * k + e] * kv[e];
                            dp[rr][j] += g[rr][8 * k + e] * vv[e];
                        }
            }
        if (DS > 1) {  // sum the partial products of the row's invocations
            [[unroll]] for (uint rr = 0; rr < R; rr++)
                [[unroll]] for (uint j = 0; j < BC; j++) {
                    red_s[(rr * RS + rs) * RED_STRIDE + j * DS + t] = s[rr][j];
                    red_p[(rr * RS + rs) * RED_STRIDE + j * DS + t] = dp[rr][j];
                }
            sync_wg();
            [[unroll]] for (uint rr = 0; rr < R; rr++)
                [[unroll]] for (uint j = 0; j < BC; j++) {
                    float ss = 0.0, sp = 0.0;
                    [[unroll]] for (uint u = 0; u < DS; u++) {
                        ss += red_s[(rr * RS + rs) * RED_STRIDE + j * DS + u];
                        sp += red_p[(rr * RS + rs) * RED_STRIDE + j * DS + u];
                    }
                    s[rr][j] = ss;
                    dp[rr][j] = sp;
                }
        }

        // dS in place of dp (natural units: dS = P * (dP - delta)).
        [[unroll]] for (uint rr = 0; rr < R; rr++) {
            const uint i = i0 + rs + RS * rr;
            [[unroll]] for (uint j = 0; j < BC; j++) {
                const uint jj = j0 + j;
                const float pr = exp2(s[rr][j] - lse2[rr]);
                dp[rr][j] = (jj >= p.Tk || (p.causal != 0 && jj > i)) ? 0.0 : pr * (dp[rr][j] - delta[rr]);
            }
        }
        [[unroll]] for (uint k = 0; k < OL; k++)
            [[unroll]] for (uint j = 0; j < BC; j++) {
                float kv[8];
                unpack8(sh[buf + j * NO + t + DS * k], kv);
                [[unroll]] for (uint e = 0; e < 8; e++)
                    if (slot_used(8 * k + e))
                        [[unroll]] for (uint rr = 0; rr < R; rr++) dq[rr][8 * k + e] += dp[rr][j] * kv[e];
            }
        sync_wg();  // block n + 1 is staged; block n and the red arrays may be overwritten
    }

    // dq += scale * acc, through shared memory (coalesced read-modify-write of the real rows).
    REGS_TO_TILE(dq, p.scale)
    sync_wg();
    const uint64_t db = head_base(p.dq, b, p.Tq, p.ldq, h);
    const uint nrows = min(BR, p.Tq - i0);
    for (uint e = tid; e < nrows * NO; e += NT) {
        const uint row = (i0 + e / NO) * p.ldq;
        store_octet(db, row, e % NO, add_octets(load_octet(db, row, e % NO), sh[e]));
    }
}
