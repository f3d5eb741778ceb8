// Occupancy grid: reset (warm-up state), cell sampling (warm-up and uniform + occupied) and the
// EMA / bitfield update, each against the C reference over several rounds.
#include "harness.h"
#include "vkdream/volrend.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NO_CELL 0xffffffffu

static uint32_t* grid_download_u32(tu_ctx* t, vkd_addr src, size_t n) {
    tu_buf b = tu_alloc(t, n);
    vkd_stream_copy(t->s, b.addr, src, (uint32_t)n);
    tu_run(t);
    uint32_t* x = calloc(n ? n : 1, 4);
    vkd_error e = {0};
    if (n && vkd_buffer_download(t->gpu, &b.b, 0, x, n * 4, &e)) tu_check(t, false, "download: %s", e.msg);
    tu_free(t, &b);
    return x;
}

static double* grid_download_f(tu_ctx* t, vkd_addr src, size_t n) {
    tu_buf b = tu_alloc(t, n);
    vkd_stream_copy(t->s, b.addr, src, (uint32_t)n);
    tu_run(t);
    double* x = tu_download_d(t, b);
    tu_free(t, &b);
    return x;
}

// Compares bitfields, forgiving cells whose EMA sits within float rounding of the threshold
// (the GPU sums the mean in float32, the reference in float64).
static void expect_bits(tu_ctx* t, const uint32_t* got, const uint32_t* ref, const double* density, uint32_t cells,
                        double thre) {
    size_t diff = 0, forgiven = 0, on = 0;
    for (uint32_t c = 0; c < cells; c++) {
        bool g = (got[c >> 5] >> (c & 31)) & 1u, r = (ref[c >> 5] >> (c & 31)) & 1u;
        on += r;
        if (g == r) continue;
        if (density && fabs(density[c] - thre) <= 1e-5 * fmax(thre, 1e-30)) forgiven++;
        else diff++;
    }
    tu_check(t, diff == 0, "bitfield: %zu cells differ (%zu at the threshold), %zu of %u occupied", diff, forgiven, on,
             cells);
}

static void expect_warmup(tu_ctx* t, const char* what, const uint32_t* bits, const double* density, uint32_t cells) {
    size_t off = 0, nonzero = 0;
    for (uint32_t c = 0; c < cells; c++) off += !((bits[c >> 5] >> (c & 31)) & 1u), nonzero += density[c] != 0;
    tu_check(t, off == 0 && nonzero == 0, "%s: %zu cells empty, %zu non-zero EMA values (want all occupied, EMA 0)",
             what, off, nonzero);
}

static double ref_threshold(const double* density, uint32_t cells, double threshold) {
    double s = 0;
    for (uint32_t c = 0; c < cells; c++) s += density[c];
    return fmin(s / cells, threshold);
}

// One sample + update round on the GPU and in the reference; `field` gives the density at a
// position (random with a smooth blob so that the grid has both empty and occupied regions).
static double blob(const double* p, double noise) {
    double r2 = (p[0] - 0.2) * (p[0] - 0.2) + p[1] * p[1] + (p[2] + 0.1) * (p[2] + 0.1);
    return fmax(0.0, 4.0 * (0.5 - r2)) + noise;
}

static void round_check(tu_ctx* t, vkd_occgrid* g, double* density, uint32_t* bits, bool all, uint32_t seed,
                        const vkd_occgrid_update_desc* ud) {
    uint32_t res = vkd_occgrid_resolution(g), cells = res * res * res, words = (cells + 31) / 32;
    double radius = vkd_occgrid_radius(g);
    uint32_t m = vkd_occgrid_sample_count(g, all);
    tu_buf pos = tu_alloc(t, 3 * (size_t)m);
    vkd_occgrid_sample(g, t->s, pos.addr, all, seed);
    tu_run(t);
    double* rpos = tu_alloc_d(3 * (size_t)m);
    uint32_t* rcells = calloc(m ? m : 1, 4);
    uint32_t rm = vkd_ref_occgrid_sample(rpos, rcells, bits, res, radius, all, seed);
    tu_check(t, rm == m, "sample count %u, reference %u", m, rm);
    uint32_t* gcells = grid_download_u32(t, vkd_occgrid_cells(g), m);
    tu_check(t, !memcmp(gcells, rcells, (size_t)m * 4), "sampled cells identical (%u samples)", m);
    tu_expect_buf(t, "positions", pos, rpos, 0, 2e-6 * radius);
    // Every sample lies inside its cell.
    double* gpos = tu_download_d(t, pos);
    size_t outside = 0, none = 0;
    for (uint32_t k = 0; k < m; k++) {
        if (gcells[k] == NO_CELL) {
            none++;
            continue;
        }
        uint32_t xyz[3] = {gcells[k] / (res * res), (gcells[k] / res) % res, gcells[k] % res};
        for (int i = 0; i < 3; i++) {
            double lo = -radius + xyz[i] * 2 * radius / res, hi = lo + 2 * radius / res;
            outside += gpos[3 * k + i] < lo - 1e-6 || gpos[3 * k + i] > hi + 1e-6;
        }
    }
    tu_check(t, outside == 0, "samples outside their cell: %zu (%zu without a cell)", outside, none);
    // Field values at the GPU's positions (the reference uses the same numbers).
    double* s = tu_alloc_d(m);
    for (uint32_t k = 0; k < m; k++) s[k] = blob(gpos + 3 * k, tu_uniform(t, -0.002, 0.004));
    s[0] = NAN;  // a NaN density counts as 0
    tu_buf gs = tu_upload_d(t, s, m);
    vkd_occgrid_update(g, t->s, gs.addr, ud);
    tu_run(t);
    for (uint32_t k = 0; k < m; k++) s[k] = (float)s[k];
    vkd_ref_occgrid_update(density, bits, rcells, s, m, res, ud);
    double* gd = grid_download_f(t, vkd_occgrid_density(g), cells);
    tu_check_close(t, "density EMA", gd, density, cells, 1e-5, 1e-7);
    uint32_t* gb = grid_download_u32(t, vkd_occgrid_bits(g), words);
    double threshold = ud && ud->threshold > 0 ? ud->threshold : (double)0.01f;
    expect_bits(t, gb, bits, density, cells, ref_threshold(density, cells, threshold));
    // Continue from the GPU's state so a forgiven threshold cell cannot drift the two apart.
    memcpy(bits, gb, (size_t)words * 4);
    for (uint32_t c = 0; c < cells; c++) density[c] = (float)gd[c];
    free(gd), free(gb), free(s), free(gpos), free(rpos), free(rcells), free(gcells);
    tu_free(t, &pos), tu_free(t, &gs);
}

static void grid_case(tu_ctx* t, uint32_t res, float radius, int rounds, const vkd_occgrid_update_desc* ud) {
    tu_case(t, "occgrid %u^3 R=%g rounds=%d", res, radius, rounds);
    vkd_occgrid* g = NULL;
    vkd_error err = {0};
    if (!tu_check(t, vkd_occgrid_create(t->gpu, &(vkd_occgrid_desc){.resolution = res, .radius = radius}, &g,
                                        &err) == VKD_OK,
                  "occgrid_create: %s", err.msg))
        return;
    uint32_t cells = res * res * res, words = (cells + 31) / 32;
    // A new grid is in the warm-up state.
    uint32_t* bits = grid_download_u32(t, vkd_occgrid_bits(g), words);
    double* density = grid_download_f(t, vkd_occgrid_density(g), cells);
    expect_warmup(t, "new grid", bits, density, cells);
    for (int r = 0; r < rounds; r++) {
        tu_case(t, "occgrid %u^3 R=%g round %d (%s)", res, radius, r, r < 2 ? "all cells" : "uniform + occupied");
        round_check(t, g, density, bits, r < 2, 1000u * res + (uint32_t)r, ud);
    }
    // Some cells occupied, some empty: the blob and the threshold did something.
    size_t on = 0;
    for (uint32_t c = 0; c < cells; c++) on += (bits[c >> 5] >> (c & 31)) & 1u;
    tu_check(t, on > 0 && on < cells, "after %d rounds %zu of %u cells occupied", rounds, on, cells);
    free(bits), free(density);
    vkd_occgrid_reset(g, t->s);
    tu_run(t);
    bits = grid_download_u32(t, vkd_occgrid_bits(g), words);
    density = grid_download_f(t, vkd_occgrid_density(g), cells);
    expect_warmup(t, "after reset", bits, density, cells);
    free(bits), free(density);
    vkd_occgrid_destroy(g);
}

// Few occupied cells: the occupied half takes them all, in order, and leaves the rest unused.
static void sparse_case(tu_ctx* t, uint32_t res) {
    tu_case(t, "occgrid %u^3 few occupied cells", res);
    vkd_occgrid* g = NULL;
    vkd_error err = {0};
    if (!tu_check(t, vkd_occgrid_create(t->gpu, &(vkd_occgrid_desc){.resolution = res}, &g, &err) == VKD_OK,
                  "occgrid_create: %s", err.msg))
        return;
    uint32_t cells = res * res * res, words = (cells + 31) / 32;
    uint32_t* bits = calloc(words, 4);
    for (uint32_t c = 3; c < cells; c += 97) bits[c >> 5] |= 1u << (c & 31);
    // Padding bits past the last cell must be ignored.
    if (cells % 32) bits[words - 1] |= ~((1u << (cells % 32)) - 1u);
    tu_buf b = tu_alloc(t, words);
    vkd_buffer_upload(t->gpu, &b.b, 0, bits, (size_t)words * 4, &err);
    vkd_stream_copy(t->s, vkd_occgrid_bits(g), b.addr, words);
    vkd_stream_fill(t->s, vkd_occgrid_density(g), cells, 0);
    tu_run(t);
    uint32_t m = vkd_occgrid_sample_count(g, false);
    tu_buf pos = tu_alloc(t, 3 * (size_t)m);
    vkd_occgrid_sample(g, t->s, pos.addr, false, 9);
    tu_run(t);
    double* rpos = tu_alloc_d(3 * (size_t)m);
    uint32_t* rcells = calloc(m, 4);
    if (cells % 32) bits[words - 1] &= (1u << (cells % 32)) - 1u;  // the reference reads cells only
    vkd_ref_occgrid_sample(rpos, rcells, bits, res, 1.0, false, 9);
    uint32_t* gcells = grid_download_u32(t, vkd_occgrid_cells(g), m);
    tu_check(t, !memcmp(gcells, rcells, (size_t)m * 4), "sampled cells identical");
    tu_expect_buf(t, "positions", pos, rpos, 0, 2e-6);
    uint32_t q = cells / 4, listed = 0, unused = 0;
    for (uint32_t k = q; k < m; k++) listed += gcells[k] != NO_CELL, unused += gcells[k] == NO_CELL;
    uint32_t expect = 0;
    for (uint32_t c = 3; c < cells; c += 97) expect++;
    tu_check(t, listed == expect && gcells[q] == 3 && unused == m - q - expect,
             "occupied half: %u listed (expected %u), %u unused", listed, expect, unused);
    free(bits), free(rpos), free(rcells), free(gcells);
    tu_free(t, &b), tu_free(t, &pos);
    vkd_occgrid_destroy(g);
}

void test_occgrid(tu_ctx* t) {
    grid_case(t, 8, 1.0f, 4, NULL);
    grid_case(t, 5, 1.5f, 4, &(vkd_occgrid_update_desc){.decay = 0.8f, .threshold = 0.05f, .occ_scale = 0.5f});
    grid_case(t, 33, 1.0f, 5, NULL);
    sparse_case(t, 16);
    sparse_case(t, 7);
    if (!t->quick) grid_case(t, 128, 1.0f, 3, NULL);
}
