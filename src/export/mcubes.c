// Marching cubes with a case table derived at first use from the cube's faces (no stored
// 256-entry table): on each face the iso-line segments separate the inside corners, the
// segments of all six faces chain into closed loops, and each loop is fanned into triangles.
// Two cells that share a face derive the same segments on it, so the surface has no cracks.
#include "vkdream/mesh.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// Corner c of a cell is at offset (c & 1, (c >> 1) & 1, (c >> 2) & 1).
// Edge e runs along axis e / 4 from corner edge_c0[e] to edge_c1[e].
static int edge_c0[12], edge_c1[12];
// Per case: triangles as edge triples, terminated by -1. At most 10 triangles (12 crossings).
static signed char case_tris[256][31];
static int tables_ready;

static int edge_between(int a, int b) {
    for (int e = 0; e < 12; e++)
        if ((edge_c0[e] == a && edge_c1[e] == b) || (edge_c0[e] == b && edge_c1[e] == a)) return e;
    return -1;
}

static void build_tables(void) {
    for (int axis = 0, e = 0; axis < 3; axis++)
        for (int c = 0; c < 8; c++)
            if (!(c & (1 << axis))) edge_c0[e] = c, edge_c1[e] = c | (1 << axis), e++;
    for (int m = 0; m < 256; m++) {
        int next[12];
        for (int e = 0; e < 12; e++) next[e] = -1;
        for (int axis = 0; axis < 3; axis++) {
            int u = (axis + 1) % 3, v = (axis + 2) % 3;
            for (int side = 0; side < 2; side++) {
                // Face corners counter-clockwise seen from outside (outward normal (2 side - 1) e_axis).
                static const int uv_pos[4][2] = {{0, 0}, {1, 0}, {1, 1}, {0, 1}};
                static const int uv_neg[4][2] = {{0, 0}, {0, 1}, {1, 1}, {1, 0}};
                int q[4], in[4];
                for (int k = 0; k < 4; k++) {
                    const int* uv = side ? uv_pos[k] : uv_neg[k];
                    q[k] = (side << axis) | (uv[0] << u) | (uv[1] << v);
                    in[k] = (m >> q[k]) & 1;
                }
                // Each inside run is cut off by one segment, from the edge where the boundary
                // leaves the run to the edge where it entered it: the inside lies on the segment's
                // left seen from outside, and inside corners are never joined across the face.
                for (int k = 0; k < 4; k++) {
                    int k1 = (k + 1) & 3;
                    if (!(in[k] && !in[k1])) continue;  // exit at face edge k
                    int j = k;
                    while (in[(j + 3) & 3] && ((j + 3) & 3) != k) j = (j + 3) & 3;
                    int entry_edge = edge_between(q[(j + 3) & 3], q[j]);
                    next[edge_between(q[k], q[k1])] = entry_edge;
                }
            }
        }
        // Chain segments into loops; fan each loop in reverse (outward-facing triangles).
        int used[12] = {0}, t = 0;
        for (int start = 0; start < 12; start++) {
            if (next[start] < 0 || used[start]) continue;
            int loop[12], n = 0;
            for (int e = start; !used[e]; e = next[e]) used[e] = 1, loop[n++] = e;
            for (int i = 1; i + 1 < n; i++) {
                case_tris[m][t++] = (signed char)loop[0];
                case_tris[m][t++] = (signed char)loop[i + 1];
                case_tris[m][t++] = (signed char)loop[i];
            }
        }
        case_tris[m][t] = -1;
    }
    tables_ready = 1;
}

// Open-addressing map from a global edge id to a vertex index.
typedef struct edge_map {
    uint64_t* keys;  // id + 1 (0 = empty)
    uint32_t* vals;
    uint64_t cap;    // power of two
    uint64_t count;
} edge_map;

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static bool map_grow(edge_map* mp) {
    uint64_t cap = mp->cap ? mp->cap * 2 : 4096;
    uint64_t* keys = calloc(cap, sizeof(*keys));
    uint32_t* vals = malloc(cap * sizeof(*vals));
    if (!keys || !vals) return free(keys), free(vals), false;
    for (uint64_t i = 0; i < mp->cap; i++) {
        if (!mp->keys[i]) continue;
        uint64_t h = mix64(mp->keys[i]) & (cap - 1);
        while (keys[h]) h = (h + 1) & (cap - 1);
        keys[h] = mp->keys[i];
        vals[h] = mp->vals[i];
    }
    free(mp->keys);
    free(mp->vals);
    mp->keys = keys, mp->vals = vals, mp->cap = cap;
    return true;
}

// Returns the slot for id (existing or empty); grows first when needed. NULL on OOM.
static uint64_t* map_slot(edge_map* mp, uint64_t id, uint32_t** val) {
    if ((mp->count + 1) * 2 > mp->cap && !map_grow(mp)) return NULL;
    uint64_t h = mix64(id + 1) & (mp->cap - 1);
    while (mp->keys[h] && mp->keys[h] != id + 1) h = (h + 1) & (mp->cap - 1);
    *val = &mp->vals[h];
    return &mp->keys[h];
}

typedef struct grow_buf {
    void* data;
    size_t count, cap, elem;
} grow_buf;

static void* buf_push(grow_buf* b, size_t n) {
    if (b->count + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->count + n) cap *= 2;
        void* d = realloc(b->data, cap * b->elem);
        if (!d) return NULL;
        b->data = d, b->cap = cap;
    }
    void* p = (char*)b->data + b->count * b->elem;
    b->count += n;
    return p;
}

static float density_at(const vkd_grid_desc* g, int x, int y, int z) {
    x = x < 0 ? 0 : x >= g->nx ? g->nx - 1 : x;
    y = y < 0 ? 0 : y >= g->ny ? g->ny - 1 : y;
    z = z < 0 ? 0 : z >= g->nz ? g->nz - 1 : z;
    return g->density[((size_t)z * g->ny + y) * g->nx + x];
}

// Density gradient at a grid point in world units (one-sided at the border).
static void gradient_at(const vkd_grid_desc* g, int x, int y, int z, const float step[3], float out[3]) {
    int p[3] = {x, y, z}, n[3] = {g->nx, g->ny, g->nz};
    for (int a = 0; a < 3; a++) {
        int lo[3] = {x, y, z}, hi[3] = {x, y, z};
        lo[a] = p[a] > 0 ? p[a] - 1 : p[a];
        hi[a] = p[a] < n[a] - 1 ? p[a] + 1 : p[a];
        float d = (float)(hi[a] - lo[a]) * step[a];
        out[a] = d > 0 ? (density_at(g, hi[0], hi[1], hi[2]) - density_at(g, lo[0], lo[1], lo[2])) / d : 0.0f;
    }
}

vkd_status vkd_marching_cubes(const vkd_grid_desc* g, float iso, vkd_mesh* out, vkd_error* err) {
    memset(out, 0, sizeof(*out));
    if (g->nx < 2 || g->ny < 2 || g->nz < 2 || !g->density)
        return vkd_error_set(err, VKD_ERR_INVALID, "marching cubes: grid %dx%dx%d, expected at least 2 a side",
                             g->nx, g->ny, g->nz);
    if (!isfinite(iso)) return vkd_error_set(err, VKD_ERR_INVALID, "marching cubes: iso-level is not finite");
    if (!tables_ready) build_tables();
    float step[3];
    for (int a = 0; a < 3; a++) {
        int n = a == 0 ? g->nx : a == 1 ? g->ny : g->nz;
        step[a] = (g->bmax[a] - g->bmin[a]) / (float)(n - 1);
    }
    edge_map map = {0};
    grow_buf pos = {.elem = 3 * sizeof(float)}, nrm = {.elem = 3 * sizeof(float)}, idx = {.elem = 3 * sizeof(uint32_t)};
    bool oom = false;
    for (int z = 0; z + 1 < g->nz && !oom; z++)
        for (int y = 0; y + 1 < g->ny && !oom; y++)
            for (int x = 0; x + 1 < g->nx && !oom; x++) {
                float f[8];
                int m = 0;
                for (int c = 0; c < 8; c++) {
                    f[c] = density_at(g, x + (c & 1), y + ((c >> 1) & 1), z + ((c >> 2) & 1));
                    if (f[c] > iso) m |= 1 << c;  // NaN counts as outside
                }
                if (m == 0 || m == 255) continue;
                const signed char* t = case_tris[m];
                for (int k = 0; t[k] >= 0 && !oom; k += 3) {
                    uint32_t* tri = buf_push(&idx, 1);
                    if (!tri) { oom = true; break; }
                    for (int j = 0; j < 3; j++) {
                        int e = t[k + j], c0 = edge_c0[e], c1 = edge_c1[e], axis = e / 4;
                        int gx = x + (c0 & 1), gy = y + ((c0 >> 1) & 1), gz = z + ((c0 >> 2) & 1);
                        uint64_t id = (((uint64_t)gz * (uint64_t)g->ny + (uint64_t)gy) * (uint64_t)g->nx + (uint64_t)gx) * 3u +
                                      (uint64_t)axis;
                        uint32_t* val;
                        uint64_t* key = map_slot(&map, id, &val);
                        if (!key) { oom = true; break; }
                        if (!*key) {
                            *key = id + 1;
                            map.count++;
                            *val = (uint32_t)pos.count;
                            float s = (iso - f[c0]) / (f[c1] - f[c0]);
                            s = s < 0 ? 0 : s > 1 ? 1 : s;
                            float* p = buf_push(&pos, 1);
                            float* nv = buf_push(&nrm, 1);
                            if (!p || !nv) { oom = true; break; }
                            float g0[3], g1[3];
                            gradient_at(g, gx, gy, gz, step, g0);
                            int hx = gx + (axis == 0), hy = gy + (axis == 1), hz = gz + (axis == 2);
                            gradient_at(g, hx, hy, hz, step, g1);
                            float len = 0;
                            int gp[3] = {gx, gy, gz};
                            for (int a = 0; a < 3; a++) {
                                p[a] = g->bmin[a] + ((float)gp[a] + (a == axis ? s : 0.0f)) * step[a];
                                nv[a] = -((1 - s) * g0[a] + s * g1[a]);
                                len += nv[a] * nv[a];
                            }
                            len = sqrtf(len);
                            for (int a = 0; a < 3; a++) nv[a] = len > 0 ? nv[a] / len : 0.0f;
                        }
                        tri[j] = *val;
                    }
                }
            }
    free(map.keys);
    free(map.vals);
    if (oom) {
        free(pos.data), free(nrm.data), free(idx.data);
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "marching cubes: out of host memory");
    }
    if (idx.count == 0) {
        float lo = INFINITY, hi = -INFINITY;
        size_t n = (size_t)g->nx * g->ny * g->nz;
        for (size_t i = 0; i < n; i++)
            if (isfinite(g->density[i])) lo = fminf(lo, g->density[i]), hi = fmaxf(hi, g->density[i]);
        free(pos.data), free(nrm.data), free(idx.data);
        return vkd_error_set(err, VKD_ERR_INVALID,
                             "marching cubes: no surface at iso-level %g (the density ranges over [%g, %g]); "
                             "the asset may be empty, or pass a lower level",
                             iso, lo, hi);
    }
    out->nverts = (uint32_t)pos.count;
    out->ntris = (uint32_t)idx.count;
    out->positions = pos.data;
    out->normals = nrm.data;
    out->indices = idx.data;
    return VKD_OK;
}
