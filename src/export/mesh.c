// Mesh bookkeeping: freeing, measures, edge statistics, small-component cleanup.
#include "vkdream/mesh.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void vkd_mesh_free(vkd_mesh* m) {
    free(m->positions);
    free(m->normals);
    free(m->colors);
    free(m->indices);
    free(m->uvs);
    free(m->texture);
    memset(m, 0, sizeof(*m));
}

static void tri_vectors(const vkd_mesh* m, uint32_t t, double a[3], double b[3], double c[3]) {
    const uint32_t* i = &m->indices[3 * (size_t)t];
    for (int k = 0; k < 3; k++) {
        a[k] = m->positions[3 * (size_t)i[0] + k];
        b[k] = m->positions[3 * (size_t)i[1] + k];
        c[k] = m->positions[3 * (size_t)i[2] + k];
    }
}

double vkd_mesh_area(const vkd_mesh* m) {
    double area = 0;
    for (uint32_t t = 0; t < m->ntris; t++) {
        double a[3], b[3], c[3], u[3], v[3];
        tri_vectors(m, t, a, b, c);
        for (int k = 0; k < 3; k++) u[k] = b[k] - a[k], v[k] = c[k] - a[k];
        double x = u[1] * v[2] - u[2] * v[1], y = u[2] * v[0] - u[0] * v[2], z = u[0] * v[1] - u[1] * v[0];
        area += 0.5 * sqrt(x * x + y * y + z * z);
    }
    return area;
}

double vkd_mesh_volume(const vkd_mesh* m) {
    // Divergence theorem: sum of signed tetrahedra (origin, a, b, c).
    double vol = 0;
    for (uint32_t t = 0; t < m->ntris; t++) {
        double a[3], b[3], c[3];
        tri_vectors(m, t, a, b, c);
        vol += (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) +
                a[2] * (b[0] * c[1] - b[1] * c[0])) / 6.0;
    }
    return vol;
}

static int cmp_u64(const void* a, const void* b) {
    uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
    return x < y ? -1 : x > y;
}

void vkd_mesh_edge_stats(const vkd_mesh* m, uint32_t* boundary, uint32_t* nonmanifold, uint32_t* misoriented) {
    *boundary = *nonmanifold = *misoriented = 0;
    size_t n = 3 * (size_t)m->ntris;
    // key: (min vertex, max vertex) with the lowest bit of a parallel array giving direction.
    uint64_t* keys = malloc((n ? n : 1) * sizeof(*keys));
    if (!keys) return;
    for (uint32_t t = 0; t < m->ntris; t++)
        for (int k = 0; k < 3; k++) {
            uint64_t a = m->indices[3 * (size_t)t + k], b = m->indices[3 * (size_t)t + (k + 1) % 3];
            uint64_t lo = a < b ? a : b, hi = a < b ? b : a;
            // Direction bit in the lowest position, so equal edges stay adjacent after sorting.
            keys[3 * (size_t)t + k] = (lo << 33) | (hi << 1) | (a > b);
        }
    qsort(keys, n, sizeof(*keys), cmp_u64);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && (keys[j] >> 1) == (keys[i] >> 1)) j++;
        size_t run = j - i;
        if (run == 1) (*boundary)++;
        else if (run > 2) (*nonmanifold)++;
        else if ((keys[i] & 1) == (keys[i + 1] & 1)) (*misoriented)++;
        i = j;
    }
    free(keys);
}

static uint32_t find_root(uint32_t* parent, uint32_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
}

// Copies the (n, 3) rows of src listed by order[] into a new array.
static float* gather3(const float* src, const uint32_t* order, uint32_t n) {
    if (!src) return NULL;
    float* dst = malloc(((size_t)n ? n : 1) * 3 * sizeof(float));
    if (!dst) return NULL;
    for (uint32_t v = 0; v < n; v++) memcpy(dst + 3 * (size_t)v, src + 3 * (size_t)order[v], 3 * sizeof(float));
    return dst;
}

uint32_t vkd_mesh_remove_small_components(vkd_mesh* m, float min_fraction) {
    if (!m->ntris) return 0;
    uint32_t* parent = malloc(m->nverts * sizeof(*parent));
    uint32_t* tris_per_root = calloc(m->nverts, sizeof(*tris_per_root));
    uint32_t* remap = malloc(m->nverts * sizeof(*remap));
    uint32_t* order = malloc(m->nverts * sizeof(*order));
    uint32_t removed = 0;
    if (!parent || !tris_per_root || !remap || !order) goto done;
    for (uint32_t v = 0; v < m->nverts; v++) parent[v] = v, remap[v] = UINT32_MAX;
    for (uint32_t t = 0; t < m->ntris; t++) {
        uint32_t* i = &m->indices[3 * (size_t)t];
        uint32_t r0 = find_root(parent, i[0]);
        for (int k = 1; k < 3; k++) {
            uint32_t r = find_root(parent, i[k]);
            if (r != r0) parent[r] = r0;
        }
    }
    uint32_t largest = 0;
    for (uint32_t t = 0; t < m->ntris; t++) {
        uint32_t r = find_root(parent, m->indices[3 * (size_t)t]);
        if (++tris_per_root[r] > largest) largest = tris_per_root[r];
    }
    for (uint32_t v = 0; v < m->nverts; v++)
        if (parent[v] == v && tris_per_root[v] && (float)tris_per_root[v] < min_fraction * (float)largest) removed++;
    if (!removed) goto done;
    // Renumber the vertices of big components in first-use order, gather their data, and only
    // then rewrite the indices: an allocation failure leaves the mesh untouched.
    uint32_t nverts = 0;
    for (uint32_t t = 0; t < m->ntris; t++) {
        const uint32_t* i = &m->indices[3 * (size_t)t];
        if ((float)tris_per_root[find_root(parent, i[0])] < min_fraction * (float)largest) continue;
        for (int k = 0; k < 3; k++)
            if (remap[i[k]] == UINT32_MAX) order[nverts] = i[k], remap[i[k]] = nverts++;
    }
    float* pos = gather3(m->positions, order, nverts);
    float* nrm = gather3(m->normals, order, nverts);
    float* col = gather3(m->colors, order, nverts);
    if (!pos || (m->normals && !nrm) || (m->colors && !col)) {
        free(pos), free(nrm), free(col);
        removed = 0;
        goto done;
    }
    uint32_t kept = 0;
    for (uint32_t t = 0; t < m->ntris; t++) {
        uint32_t* i = &m->indices[3 * (size_t)t];
        if (remap[i[0]] == UINT32_MAX) continue;
        for (int k = 0; k < 3; k++) m->indices[3 * (size_t)kept + k] = remap[i[k]];
        kept++;
    }
    free(m->positions), free(m->normals), free(m->colors);
    m->positions = pos, m->normals = nrm, m->colors = col;
    m->ntris = kept;
    m->nverts = nverts;
done:
    free(parent), free(tris_per_root), free(remap), free(order);
    return removed;
}
