// Quadric-error edge collapse (Garland & Heckbert 1997): each vertex carries the sum of the
// squared-distance quadrics of its faces' planes; the edge whose collapse to the point that
// minimises the summed quadric costs least goes first (a binary heap with lazy deletion).
// A collapse is refused when it would flip a face, or when the two vertices share other than
// the two neighbours of their edge (the link condition), which keeps a closed manifold mesh
// closed and manifold.
#include "vkdream/mesh.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct quadric {
    double a[10];  // symmetric 4x4: xx xy xz xw yy yz yw zz zw ww
} quadric;

static void q_add_plane(quadric* q, double a, double b, double c, double d, double w) {
    double p[4] = {a, b, c, d};
    int k = 0;
    for (int i = 0; i < 4; i++)
        for (int j = i; j < 4; j++) q->a[k++] += w * p[i] * p[j];
}

static double q_eval(const quadric* q, const double v[3]) {
    const double* a = q->a;
    double x = v[0], y = v[1], z = v[2];
    return a[0] * x * x + 2 * a[1] * x * y + 2 * a[2] * x * z + 2 * a[3] * x + a[4] * y * y + 2 * a[5] * y * z +
           2 * a[6] * y + a[7] * z * z + 2 * a[8] * z + a[9];
}

// The minimiser of q (solve the 3x3 system), or false when it is singular.
static bool q_optimum(const quadric* q, double out[3]) {
    const double* a = q->a;
    double m[3][3] = {{a[0], a[1], a[2]}, {a[1], a[4], a[5]}, {a[2], a[5], a[7]}}, r[3] = {-a[3], -a[6], -a[8]};
    double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                 m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    double scale = fabs(m[0][0]) + fabs(m[1][1]) + fabs(m[2][2]);
    if (fabs(det) < 1e-12 * scale * scale * scale || scale == 0) return false;
    for (int c = 0; c < 3; c++) {
        double t[3][3];
        memcpy(t, m, sizeof t);
        for (int row = 0; row < 3; row++) t[row][c] = r[row];
        out[c] = (t[0][0] * (t[1][1] * t[2][2] - t[1][2] * t[2][1]) - t[0][1] * (t[1][0] * t[2][2] - t[1][2] * t[2][0]) +
                  t[0][2] * (t[1][0] * t[2][1] - t[1][1] * t[2][0])) /
                 det;
    }
    return true;
}

typedef struct heap_item {
    double cost;
    uint32_t u, v;
    uint32_t ver_u, ver_v;  // the vertices' versions when pushed (stale if they changed)
} heap_item;

typedef struct heap {
    heap_item* it;
    size_t n, cap;
} heap;

static bool heap_push(heap* h, heap_item x) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 1024;
        heap_item* it = realloc(h->it, cap * sizeof *it);
        if (!it) return false;
        h->it = it, h->cap = cap;
    }
    size_t i = h->n++;
    while (i && h->it[(i - 1) / 2].cost > x.cost) h->it[i] = h->it[(i - 1) / 2], i = (i - 1) / 2;
    h->it[i] = x;
    return true;
}

static heap_item heap_pop(heap* h) {
    heap_item top = h->it[0], last = h->it[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && h->it[c + 1].cost < h->it[c].cost) c++;
        if (h->it[c].cost >= last.cost) break;
        h->it[i] = h->it[c], i = c;
    }
    if (h->n) h->it[i] = last;
    return top;
}

// Faces around each vertex (grown as collapses move faces from v to u).
typedef struct adj {
    uint32_t* f;
    uint32_t n, cap;
} adj;

static bool adj_add(adj* a, uint32_t f) {
    if (a->n == a->cap) {
        uint32_t cap = a->cap ? a->cap * 2 : 8;
        uint32_t* nf = realloc(a->f, cap * sizeof *nf);
        if (!nf) return false;
        a->f = nf, a->cap = cap;
    }
    a->f[a->n++] = f;
    return true;
}

typedef struct dctx {
    vkd_mesh* m;
    double* pos;       // (nverts, 3)
    quadric* q;
    adj* vf;
    uint32_t* ver;
    bool* dead_v;
    bool* dead_f;
    heap h;
} dctx;

static void face_normal(const dctx* c, const uint32_t* t, const double* override_pos, uint32_t override_v, double n[3]) {
    const double* p[3];
    for (int k = 0; k < 3; k++) p[k] = t[k] == override_v ? override_pos : &c->pos[3 * (size_t)t[k]];
    double e1[3], e2[3];
    for (int a = 0; a < 3; a++) e1[a] = p[1][a] - p[0][a], e2[a] = p[2][a] - p[0][a];
    n[0] = e1[1] * e2[2] - e1[2] * e2[1];
    n[1] = e1[2] * e2[0] - e1[0] * e2[2];
    n[2] = e1[0] * e2[1] - e1[1] * e2[0];
}

static void push_edge(dctx* c, uint32_t u, uint32_t v) {
    quadric q;
    for (int k = 0; k < 10; k++) q.a[k] = c->q[u].a[k] + c->q[v].a[k];
    double x[3];
    double cost;
    if (q_optimum(&q, x)) {
        cost = q_eval(&q, x);
    } else {
        double mid[3];
        for (int a = 0; a < 3; a++) mid[a] = 0.5 * (c->pos[3 * u + a] + c->pos[3 * v + a]);
        cost = q_eval(&q, mid);
    }
    heap_push(&c->h, (heap_item){cost < 0 ? 0 : cost, u, v, c->ver[u], c->ver[v]});
}

// Vertices adjacent to x through live faces, into out (deduplicated); returns the count.
static uint32_t neighbours(const dctx* c, uint32_t x, uint32_t* out, uint32_t cap) {
    uint32_t n = 0;
    const adj* a = &c->vf[x];
    for (uint32_t i = 0; i < a->n; i++) {
        uint32_t f = a->f[i];
        if (c->dead_f[f]) continue;
        for (int k = 0; k < 3; k++) {
            uint32_t w = c->m->indices[3 * (size_t)f + k];
            if (w == x) continue;
            bool seen = false;
            for (uint32_t j = 0; j < n && !seen; j++) seen = out[j] == w;
            if (!seen && n < cap) out[n++] = w;
        }
    }
    return n;
}

// Tries to collapse v into u at position x. Returns false (nothing changed) when invalid.
static bool collapse(dctx* c, uint32_t u, uint32_t v, const double x[3], uint32_t* live) {
    uint32_t nu[256], nv[256];
    uint32_t cu = neighbours(c, u, nu, 256), cv = neighbours(c, v, nv, 256);
    if (cu >= 256 || cv >= 256) return false;
    uint32_t common = 0;
    for (uint32_t i = 0; i < cu; i++)
        for (uint32_t j = 0; j < cv; j++) common += nu[i] == nv[j];
    if (common != 2) return false;  // the link condition (closed manifold meshes)
    // No face around u or v may flip (or become a sliver of the wrong orientation).
    for (int side = 0; side < 2; side++) {
        uint32_t w = side ? v : u;
        const adj* a = &c->vf[w];
        for (uint32_t i = 0; i < a->n; i++) {
            uint32_t f = a->f[i];
            if (c->dead_f[f]) continue;
            const uint32_t* t = &c->m->indices[3 * (size_t)f];
            if ((t[0] == u || t[1] == u || t[2] == u) && (t[0] == v || t[1] == v || t[2] == v)) continue;  // removed
            double n0[3], n1[3];
            face_normal(c, t, NULL, UINT32_MAX, n0);
            face_normal(c, t, x, w, n1);
            double d = n0[0] * n1[0] + n0[1] * n1[1] + n0[2] * n1[2];
            double l0 = sqrt(n0[0] * n0[0] + n0[1] * n0[1] + n0[2] * n0[2]);
            double l1 = sqrt(n1[0] * n1[0] + n1[1] * n1[1] + n1[2] * n1[2]);
            if (!(l1 > 0) || d < 0.2 * l0 * l1) return false;
        }
    }
    // Apply: faces of v move to u, faces with both die.
    adj* av = &c->vf[v];
    for (uint32_t i = 0; i < av->n; i++) {
        uint32_t f = av->f[i];
        if (c->dead_f[f]) continue;
        uint32_t* t = &c->m->indices[3 * (size_t)f];
        if (t[0] == u || t[1] == u || t[2] == u) {
            c->dead_f[f] = true;
            (*live)--;
            continue;
        }
        for (int k = 0; k < 3; k++)
            if (t[k] == v) t[k] = u;
        if (!adj_add(&c->vf[u], f)) return true;
    }
    for (int a = 0; a < 3; a++) c->pos[3 * u + a] = x[a];
    for (int k = 0; k < 10; k++) c->q[u].a[k] += c->q[v].a[k];
    if (c->m->colors)
        for (int a = 0; a < 3; a++)
            c->m->colors[3 * u + a] = 0.5f * (c->m->colors[3 * u + a] + c->m->colors[3 * v + a]);
    c->dead_v[v] = true;
    c->ver[u]++, c->ver[v]++;
    uint32_t nn[256];
    uint32_t cn = neighbours(c, u, nn, 256);
    for (uint32_t i = 0; i < cn; i++) {
        c->ver[nn[i]]++;  // their edges to u changed cost
    }
    for (uint32_t i = 0; i < cn; i++) push_edge(c, u, nn[i]);
    return true;
}

uint32_t vkd_mesh_decimate(vkd_mesh* m, uint32_t target_tris) {
    if (!m->ntris || m->ntris <= target_tris) return m->ntris;
    dctx c = {.m = m};
    size_t V = m->nverts, F = m->ntris;
    c.pos = malloc(V * 3 * sizeof(double));
    c.q = calloc(V, sizeof(quadric));
    c.vf = calloc(V, sizeof(adj));
    c.ver = calloc(V, sizeof(uint32_t));
    c.dead_v = calloc(V, sizeof(bool));
    c.dead_f = calloc(F, sizeof(bool));
    uint32_t live = m->ntris;
    if (!c.pos || !c.q || !c.vf || !c.ver || !c.dead_v || !c.dead_f) goto done;
    for (size_t i = 0; i < V * 3; i++) c.pos[i] = m->positions[i];
    for (size_t f = 0; f < F; f++) {
        const uint32_t* t = &m->indices[3 * f];
        double n[3];
        face_normal(&c, t, NULL, UINT32_MAX, n);
        double l = sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
        if (l > 0) {
            double d = -(n[0] * c.pos[3 * t[0]] + n[1] * c.pos[3 * t[0] + 1] + n[2] * c.pos[3 * t[0] + 2]) / l;
            for (int k = 0; k < 3; k++) q_add_plane(&c.q[t[k]], n[0] / l, n[1] / l, n[2] / l, d, 0.5 * l);
        }
        for (int k = 0; k < 3; k++) adj_add(&c.vf[t[k]], (uint32_t)f);
    }
    for (size_t f = 0; f < F; f++)
        for (int k = 0; k < 3; k++) {
            uint32_t a = m->indices[3 * f + k], b = m->indices[3 * f + (k + 1) % 3];
            if (a < b) push_edge(&c, a, b);  // each interior edge once (its other face has b < a)
        }
    while (live > target_tris && c.h.n) {
        heap_item it = heap_pop(&c.h);
        if (c.dead_v[it.u] || c.dead_v[it.v] || it.ver_u != c.ver[it.u] || it.ver_v != c.ver[it.v]) continue;
        quadric q;
        for (int k = 0; k < 10; k++) q.a[k] = c.q[it.u].a[k] + c.q[it.v].a[k];
        double x[3];
        if (!q_optimum(&q, x))
            for (int a = 0; a < 3; a++) x[a] = 0.5 * (c.pos[3 * it.u + a] + c.pos[3 * it.v + a]);
        collapse(&c, it.u, it.v, x, &live);
    }
    // Compact: live faces, used vertices; normals from the faces (area-weighted).
    {
        uint32_t* remap = malloc(V * sizeof(uint32_t));
        if (!remap) goto done;
        for (size_t i = 0; i < V; i++) remap[i] = UINT32_MAX;
        uint32_t nv = 0, nf = 0;
        for (size_t f = 0; f < F; f++) {
            if (c.dead_f[f]) continue;
            for (int k = 0; k < 3; k++) {
                uint32_t w = m->indices[3 * f + k];
                if (remap[w] == UINT32_MAX) remap[w] = nv++;
            }
        }
        float* pos = malloc((size_t)nv * 3 * sizeof(float));
        float* col = m->colors ? malloc((size_t)nv * 3 * sizeof(float)) : NULL;
        float* nrm = calloc((size_t)nv * 3, sizeof(float));
        if (!pos || !nrm || (m->colors && !col)) {
            free(pos), free(col), free(nrm), free(remap);
            goto done;
        }
        for (size_t i = 0; i < V; i++) {
            if (remap[i] == UINT32_MAX) continue;
            for (int a = 0; a < 3; a++) {
                pos[3 * remap[i] + a] = (float)c.pos[3 * i + a];
                if (col) col[3 * remap[i] + a] = m->colors[3 * i + a];
            }
        }
        for (size_t f = 0; f < F; f++) {
            if (c.dead_f[f]) continue;
            uint32_t t[3];
            for (int k = 0; k < 3; k++) t[k] = remap[m->indices[3 * f + k]];
            double n[3];
            face_normal(&c, &m->indices[3 * f], NULL, UINT32_MAX, n);
            for (int k = 0; k < 3; k++) {
                for (int a = 0; a < 3; a++) nrm[3 * t[k] + a] += (float)n[a];
                m->indices[3 * (size_t)nf + k] = t[k];
            }
            nf++;
        }
        for (uint32_t i = 0; i < nv; i++) {
            float l = sqrtf(nrm[3 * i] * nrm[3 * i] + nrm[3 * i + 1] * nrm[3 * i + 1] + nrm[3 * i + 2] * nrm[3 * i + 2]);
            for (int a = 0; a < 3; a++) nrm[3 * i + a] = l > 0 ? nrm[3 * i + a] / l : 0;
        }
        free(m->positions), free(m->colors), free(m->normals);
        m->positions = pos, m->colors = col, m->normals = nrm;
        m->nverts = nv, m->ntris = nf;
        free(remap);
    }
done:
    for (size_t i = 0; c.vf && i < V; i++) free(c.vf[i].f);
    free(c.pos), free(c.q), free(c.vf), free(c.ver), free(c.dead_v), free(c.dead_f), free(c.h.it);
    return m->ntris;
}
