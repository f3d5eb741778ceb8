#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
#include "common.glsl"
#include "nn/attention.h"
#include "nn/attention_tile.glsl"
layout(local_size_x_id = 4) in;
layout(push_constant) uniform Push { vkd_attention_push p; };

// Flash-attention forward (FlashAttention-2 loop order): a workgroup keeps BR query rows in
// registers and streams K and V through shared memory in blocks of BC keys with an online
// softmax, so the (Tq, Tk) score matrix never exists. Scores are in log2 units (q is
// pre-scaled by scale * log2(e)) so every exponential is an exp2.
//
// Shared memory holds the Q tile at the start, then K and V blocks (two buffers each: block
// n + 1 is staged while block n is used, so one barrier per block suffices), then the O tile.
const uint KV_N = 2 * BC * NO;                   // octets of one double-buffered K (or V)
shared float red_s[DS > 1 ? R * RS * RED_STRIDE : 1];

// Stages keys and values j0 .. j0 + BC - 1 (clamped to the last row) into buffer `buf`.
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
    const uint64_t kb = head_base(p.k, b, p.Tk, p.ldk, h);
    const uint64_t vb = head_base(p.v, b, p.Tk, p.ldv, h);
    const float c = p.scale * LOG2E;

    // The Q tile, loaded cooperatively (coalesced) through shared memory.
    {
        const uint64_t qb = head_base(p.q, b, p.Tq, p.ldq, h);
        for (uint e = tid; e < BR * NO; e += NT)
            sh[e] = load_octet(qb, min(i0 + e / NO, p.Tq - 1) * p.ldq, e % NO);
    }
    sync_wg();
    float q[R][8 * OL], o[R][8 * OL], m[R], l[R];
    [[unroll]] for (uint rr = 0; rr < R; rr++) {
        [[unroll]] for (uint x = 0; x < 8 * OL; x++) q[rr][x] = o[rr][x] = 0.0;
        m[rr] = NEG;
        l[rr] = 0.0;
    }
    TILE_TO_REGS(q, c)
    sync_wg();

    // Causal: keys past the workgroup's last query row are masked for all of its rows.
    const uint kend = p.causal != 0 ? min(p.Tk, min(p.Tq, i0 + BR)) : p.Tk;
    stage_kv(kb, vb, 0, 0, tid);
    sync_wg();
    for (uint j0 = 0, buf = 0; j0 < kend; j0 += BC, buf = BC * NO - buf) {
        if (j0 + BC < kend) stage_kv(kb, vb, j0 + BC, BC * NO - buf, tid);

        float s[R][BC];
        [[unroll]] for (uint rr = 0; rr < R; rr++)
            [[unroll]] for (uint j = 0; j < BC; j++) s[rr][j] = 0.0;
        [[unroll]] for (uint j = 0; j < BC; j++)
            [[unroll]] for (uint k = 0; k < OL; k++) {
                float kv[8];
                unpack8(sh[buf + j * NO + t + DS * k], kv);
                [[unroll]] for (uint e = 0; e < 8; e++)
                    if (slot_used(8 * k + e))
                        [[unroll]] for (uint rr = 0; rr < R; rr++) s[rr][j] += q[rr][8 * k + e] * kv[e];
            }
        if (DS > 1) {  // sum the partial scores of the row's invocations
            [[unroll]] for (uint rr = 0; rr < R; rr++)
                [[unroll]] for (uint j = 0; j < BC; j++) red_s[(rr * RS + rs) * RED_STRIDE + j * DS + t] = s[rr][j];
            sync_wg();
            [[unroll]] for (uint rr = 0; rr < R; rr++)
                [[unroll]] for (uint j = 0; j < BC; j++) {
                    float sum = 0.0;
                    [[unroll]] for (uint u = 0; u < DS; u++) sum += red_s[(rr * RS + rs) * RED_STRIDE + j * DS + u];
                    s[rr][j] = sum;
                }
        }

        [[unroll]] for (uint rr = 0; rr < R; rr++) {
            const uint i = i0 + rs + RS * rr;
            float mb = NEG;
            [[unroll]] for (uint j = 0; j < BC; j++) {
                const uint jj = j0 + j;
                if (jj >= p.Tk || (p.causal != 0 && jj > i)) s[rr][j] = NEG;
                mb = max(mb, s[rr][j]);
            }
            const float mn = max(m[rr], mb), alpha = exp2(m[rr] - mn);
            l[rr] *= alpha;
            [[unroll]] for (uint j = 0; j < BC; j++) {
                s[rr][j] = exp2(s[rr][j] - mn);
                l[rr] += s[rr][j];
            }
            m[rr] = mn;
            [[unroll]] for (uint x = 0; x < 8 * OL; x++) o[rr][x] *= alpha;
        }
        [[unroll]] for (uint k = 0; k < OL; k++)
            [[unroll]] for (uint j = 0; j < BC; j++) {
                float vv[8];
                unpack8(sh[KV_N + buf + j * NO + t + DS * k], vv);
                [[unroll]] for (uint e = 0; e < 8; e++)
                    if (slot_used(8 * k + e))
                        [[unroll]] for (uint rr = 0; rr < R; rr++) o[rr][8 * k + e] += s[rr][j] * vv[e];
            }
        sync_wg();  // block n + 1 is staged; block n and red_s may be overwritten
    }

    // The O tile leaves through shared memory too (coalesced stores of the real rows).
    [[dont_unroll]] for (uint r = 0; r < R; r++) {
        float lr = l[0], mr = m[0];  // row r of l and m
        [[unroll]] for (uint rr = 1; rr < R; rr++) {
            lr = r == rr ? l[rr] : lr;
            mr = r == rr ? m[rr] : mr;
        }
        const float inv = 1.0 / lr;
        [[unroll]] for (uint k = 0; k < OL; k++) {
            float f[8];
            [[unroll]] for (uint e = 0; e < 8; e++) {
                f[e] = o[0][8 * k + e];
                [[unroll]] for (uint rr = 1; rr < R; rr++) f[e] = r == rr ? o[rr][8 * k + e] : f[e];
                f[e] *= inv;
            }
            set_tile_octet(r, rs, t, k, pack8(f));
        }
        const uint i = i0 + rs + RS * r;
        if (t == 0 && i < p.Tq && p.lse != 0) f32(p.lse).v[(b * p.H + h) * p.Tq + i] = (mr + log2(lr)) * LN2;
    }
    sync_wg();
    const uint64_t ob = head_base(p.o, b, p.Tq, p.ldo, h);
    const uint nrows = min(BR, p.Tq - i0);
    for (uint e = tid; e < nrows * NO; e += NT) store_octet(ob, (i0 + e / NO) * p.ldo, e % NO, sh[e]);
}
