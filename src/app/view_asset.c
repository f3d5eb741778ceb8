// Assets for the viewer: 3DGS .ply through the Gaussian reader, meshes from OBJ (tinyobjloader),
// binary PLY and GLB, NeRF checkpoints (header checked here, loaded by the renderer). The PLY and GLB readers cover what vkdream's writers produce
// (src/export/mesh_write.c) and the common variants of those formats.
#define _POSIX_C_SOURCE 200809L
#include "app/view_internal.h"

#include "vkdream/obj.h"
#include "vkdream/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char* extension(const char* path) {
    const char* dot = strrchr(path, '.');
    const char* slash = strrchr(path, '/');
    return dot && (!slash || dot > slash) ? dot + 1 : "";
}

// ---------------------------------------------------------------------------
// PLY (binary little endian): vertex x y z [nx ny nz] [red green blue (uchar or float)],
// face vertex_indices lists (polygons fanned into triangles); other properties are skipped.

typedef struct ply_prop {
    char name[64];
    int type;        // bytes of the scalar (or of the list's items)
    bool is_float;   // float / double
    bool is_signed;
    bool list;
    int count_type;  // bytes of the list's count
} ply_prop;

typedef struct ply_elem {
    char name[64];
    uint64_t count;
    ply_prop props[32];
    int nprops;
} ply_elem;

static bool ply_type(const char* t, int* bytes, bool* is_float, bool* is_signed) {
    static const struct { const char* a; const char* b; int bytes; bool f, s; } types[] = {
        {"char", "int8", 1, false, true},     {"uchar", "uint8", 1, false, false},
        {"short", "int16", 2, false, true},   {"ushort", "uint16", 2, false, false},
        {"int", "int32", 4, false, true},     {"uint", "uint32", 4, false, false},
        {"float", "float32", 4, true, true},  {"double", "float64", 8, true, true},
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(t, types[i].a) || !strcmp(t, types[i].b)) {
            *bytes = types[i].bytes, *is_float = types[i].f, *is_signed = types[i].s;
            return true;
        }
    return false;
}

static double ply_value(const uint8_t* p, int bytes, bool is_float, bool is_signed) {
    if (is_float) {
        if (bytes == 4) {
            float f;
            memcpy(&f, p, 4);
            return f;
        }
        double d;
        memcpy(&d, p, 8);
        return d;
    }
    uint64_t u = 0;
    memcpy(&u, p, (size_t)bytes);  // little endian host (checked when the header is read)
    if (is_signed && bytes < 8 && (u >> (8 * bytes - 1)) & 1) return (double)(int64_t)(u | (~0ull << (8 * bytes)));
    return (double)u;
}

// Reads the header; leaves f at the first byte of the body.
static vkd_status ply_header(FILE* f, const char* path, ply_elem* elems, int* nelems, bool* binary_le,
                             vkd_error* err) {
    char line[512];
    *nelems = 0;
    *binary_le = false;
    bool format = false;
    if (!fgets(line, sizeof line, f) || strncmp(line, "ply", 3))
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: not a PLY file (no 'ply' magic)", path);
    while (fgets(line, sizeof line, f)) {
        char a[64] = "", b[64] = "", c[64] = "", d[64] = "", e[64] = "";
        int n = sscanf(line, "%63s %63s %63s %63s %63s", a, b, c, d, e);
        if (n < 1) continue;
        if (!strcmp(a, "end_header")) {
            if (!format) return vkd_error_set(err, VKD_ERR_INVALID, "%s: PLY header has no format line", path);
            return VKD_OK;
        }
        if (!strcmp(a, "format")) {
            format = true;
            *binary_le = !strcmp(b, "binary_little_endian");
        } else if (!strcmp(a, "element") && n >= 3) {
            if (*nelems == 8) return vkd_error_set(err, VKD_ERR_INVALID, "%s: more than 8 PLY elements", path);
            ply_elem* el = &elems[(*nelems)++];
            memset(el, 0, sizeof *el);
            snprintf(el->name, sizeof el->name, "%s", b);
            char* end = NULL;
            el->count = strtoull(c, &end, 10);
            if (!end || *end) return vkd_error_set(err, VKD_ERR_INVALID, "%s: bad element count '%s'", path, c);
        } else if (!strcmp(a, "property") && n >= 3) {
            if (!*nelems) return vkd_error_set(err, VKD_ERR_INVALID, "%s: property before any element", path);
            ply_elem* el = &elems[*nelems - 1];
            if (el->nprops == 32)
                return vkd_error_set(err, VKD_ERR_INVALID, "%s: element %s has over 32 properties", path, el->name);
            ply_prop* p = &el->props[el->nprops++];
            memset(p, 0, sizeof *p);
            bool fl, sg;
            if (!strcmp(b, "list") && n >= 5) {
                p->list = true;
                int cb;
                if (!ply_type(c, &cb, &fl, &sg) || fl || !ply_type(d, &p->type, &p->is_float, &p->is_signed))
                    return vkd_error_set(err, VKD_ERR_INVALID, "%s: bad list property types '%s %s'", path, c, d);
                p->count_type = cb;
                snprintf(p->name, sizeof p->name, "%s", e);
            } else {
                if (!ply_type(b, &p->type, &p->is_float, &p->is_signed))
                    return vkd_error_set(err, VKD_ERR_INVALID, "%s: unknown property type '%s'", path, b);
                snprintf(p->name, sizeof p->name, "%s", c);
            }
        }
    }
    return vkd_error_set(err, VKD_ERR_INVALID, "%s: PLY header has no end_header", path);
}

vkd_status vkd_view_ply_is_mesh(const char* path, bool* is_mesh, vkd_error* err) {
    FILE* f = fopen(path, "rb");
    if (!f) return vkd_error_set(err, VKD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    ply_elem elems[8];
    int n = 0;
    bool le;
    vkd_status st = ply_header(f, path, elems, &n, &le, err);
    fclose(f);
    *is_mesh = false;
    for (int i = 0; i < n && !st; i++) *is_mesh |= !strcmp(elems[i].name, "face") && elems[i].count > 0;
    return st;
}

vkd_status vkd_view_read_mesh_ply(const char* path, vkd_mesh* out, vkd_error* err) {
    memset(out, 0, sizeof *out);
    FILE* f = fopen(path, "rb");
    if (!f) return vkd_error_set(err, VKD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    ply_elem elems[8];
    int ne = 0;
    bool le;
    vkd_status st = ply_header(f, path, elems, &ne, &le, err);
    if (!st && !le)
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                           "%s: only binary_little_endian PLY meshes are read (vkdream writes those); convert "
                           "ASCII or big-endian files first",
                           path);
    uint32_t* idx = NULL;
    size_t ntri = 0, cap = 0;
    for (int e = 0; e < ne && !st; e++) {
        ply_elem* el = &elems[e];
        bool vertex = !strcmp(el->name, "vertex"), face = !strcmp(el->name, "face");
        if (vertex) {
            if (el->count > 0x7FFFFFFF) {
                st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: %llu vertices", path, (unsigned long long)el->count);
                break;
            }
            int ix[9];
            static const char* names[9] = {"x", "y", "z", "nx", "ny", "nz", "red", "green", "blue"};
            for (int k = 0; k < 9; k++) {
                ix[k] = -1;
                for (int p = 0; p < el->nprops; p++)
                    if (!strcmp(el->props[p].name, names[k]) && !el->props[p].list) ix[k] = p;
            }
            if (ix[0] < 0 || ix[1] < 0 || ix[2] < 0) {
                st = vkd_error_set(err, VKD_ERR_INVALID, "%s: vertex element lacks x, y or z", path);
                break;
            }
            out->nverts = (uint32_t)el->count;
            size_t nv = out->nverts ? out->nverts : 1;
            out->positions = malloc(nv * 12);
            if (ix[3] >= 0 && ix[4] >= 0 && ix[5] >= 0) out->normals = malloc(nv * 12);
            if (ix[6] >= 0 && ix[7] >= 0 && ix[8] >= 0) out->colors = malloc(nv * 12);
            if (!out->positions || (ix[3] >= 0 && !out->normals) || (ix[6] >= 0 && !out->colors)) {
                st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
                break;
            }
            for (uint32_t v = 0; v < out->nverts && !st; v++) {
                double val[32];
                for (int p = 0; p < el->nprops && !st; p++) {
                    const ply_prop* pp = &el->props[p];
                    uint8_t buf[8];
                    if (pp->list) {
                        uint8_t cb[8] = {0};
                        uint64_t cnt = 0;
                        if (fread(cb, (size_t)pp->count_type, 1, f) == 1)
                            cnt = (uint64_t)ply_value(cb, pp->count_type, false, false);
                        else
                            st = vkd_error_set(err, VKD_ERR_INVALID, "%s: truncated at vertex %u", path, v);
                        if (!st && fseek(f, (long)(cnt * (uint64_t)pp->type), SEEK_CUR))
                            st = vkd_error_set(err, VKD_ERR_INVALID, "%s: truncated at vertex %u", path, v);
                        continue;
                    }
                    if (fread(buf, (size_t)pp->type, 1, f) != 1) {
                        st = vkd_error_set(err, VKD_ERR_INVALID, "%s: truncated at vertex %u", path, v);
                        break;
                    }
                    val[p] = ply_value(buf, pp->type, pp->is_float, pp->is_signed);
                }
                if (st) break;
                for (int k = 0; k < 3; k++) out->positions[3 * (size_t)v + k] = (float)val[ix[k]];
                if (out->normals)
                    for (int k = 0; k < 3; k++) out->normals[3 * (size_t)v + k] = (float)val[ix[3 + k]];
                if (out->colors)
                    for (int k = 0; k < 3; k++) {
                        const ply_prop* pp = &el->props[ix[6 + k]];
                        double c = val[ix[6 + k]];
                        // Integer colors are 0..255 (or 0..65535); float colors 0..1.
                        out->colors[3 * (size_t)v + k] =
                            (float)(pp->is_float ? c : c / (pp->type == 1 ? 255.0 : 65535.0));
                    }
                for (int k = 0; k < 3; k++)
                    if (!isfinite(out->positions[3 * (size_t)v + k]))
                        st = vkd_error_set(err, VKD_ERR_INVALID, "%s: vertex %u has a non-finite coordinate", path, v);
            }
        } else if (face) {
            int li = -1;
            for (int p = 0; p < el->nprops; p++)
                if (el->props[p].list && (!strcmp(el->props[p].name, "vertex_indices") ||
                                          !strcmp(el->props[p].name, "vertex_index")))
                    li = p;
            if (li < 0) {
                st = vkd_error_set(err, VKD_ERR_INVALID, "%s: face element has no vertex_indices list", path);
                break;
            }
            bool truncated = false;
            for (uint64_t fi = 0; fi < el->count && !st && !truncated; fi++) {
                for (int p = 0; p < el->nprops && !st && !truncated; p++) {
                    const ply_prop* pp = &el->props[p];
                    uint8_t cb[8] = {0};
                    if (!pp->list) {
                        truncated = fread(cb, (size_t)pp->type, 1, f) != 1;
                        continue;
                    }
                    if (fread(cb, (size_t)pp->count_type, 1, f) != 1) {
                        truncated = true;
                        break;
                    }
                    uint64_t cnt = (uint64_t)ply_value(cb, pp->count_type, false, false);
                    if (cnt > 1024) {
                        st = vkd_error_set(err, VKD_ERR_INVALID, "%s: face %llu has %llu vertices", path,
                                           (unsigned long long)fi, (unsigned long long)cnt);
                        break;
                    }
                    uint32_t poly[1024];
                    for (uint64_t k = 0; k < cnt && !truncated; k++) {
                        uint8_t b[8] = {0};
                        truncated = fread(b, (size_t)pp->type, 1, f) != 1;
                        double v = ply_value(b, pp->type, false, pp->is_signed);
                        poly[k] = v < 0 || v >= out->nverts ? UINT32_MAX : (uint32_t)v;
                    }
                    if (truncated || p != li) continue;
                    for (uint64_t k = 0; k < cnt && !st; k++)
                        if (poly[k] == UINT32_MAX)
                            st = vkd_error_set(err, VKD_ERR_INVALID, "%s: face %llu has an index out of range (%u vertices)",
                                               path, (unsigned long long)fi, out->nverts);
                    for (uint64_t k = 2; k < cnt && !st; k++) {  // polygons as triangle fans
                        if (ntri == cap) {
                            cap = cap ? 2 * cap : 1024;
                            uint32_t* ni = realloc(idx, cap * 12);
                            if (!ni) {
                                st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
                                break;
                            }
                            idx = ni;
                        }
                        idx[3 * ntri] = poly[0], idx[3 * ntri + 1] = poly[k - 1], idx[3 * ntri + 2] = poly[k];
                        ntri++;
                    }
                }
                if (truncated)
                    st = vkd_error_set(err, VKD_ERR_INVALID, "%s: truncated at face %llu", path, (unsigned long long)fi);
            }
        } else {
            // Skip another element (its lists too: each carries its count).
            for (uint64_t i = 0; i < el->count && !st; i++)
                for (int p = 0; p < el->nprops && !st; p++) {
                    const ply_prop* pp = &el->props[p];
                    uint8_t cb[8] = {0};
                    uint64_t cnt = 1;
                    if (pp->list) {
                        if (fread(cb, (size_t)pp->count_type, 1, f) != 1) st = VKD_ERR_INVALID;
                        cnt = (uint64_t)ply_value(cb, pp->count_type, false, false);
                    }
                    if (!st && fseek(f, (long)(cnt * (uint64_t)pp->type), SEEK_CUR)) st = VKD_ERR_INVALID;
                }
            if (st) st = vkd_error_set(err, VKD_ERR_INVALID, "%s: truncated in element %s", path, el->name);
        }
    }
    fclose(f);
    if (!st && (!out->nverts || !ntri))
        st = vkd_error_set(err, VKD_ERR_INVALID, "%s: the mesh has %u vertices and %zu triangles; nothing to show", path,
                           out->nverts, ntri);
    if (st) {
        free(idx);
        vkd_mesh_free(out);
        return st;
    }
    out->indices = idx;
    out->ntris = (uint32_t)ntri;
    return VKD_OK;
}

// ---------------------------------------------------------------------------
// GLB

typedef struct glb_ctx {
    const char* path;
    cJSON* root;
    const uint8_t* bin;
    size_t bin_size;
    vkd_error* err;
} glb_ctx;

static int json_int(const cJSON* o, const char* key, int dflt) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valueint : dflt;
}

// Reads accessor `index` as `comps` floats per element (normalized integers scaled to 0..1)
// into a new array; *count gets the element count.
static float* glb_accessor_floats(glb_ctx* g, int index, int comps, uint32_t* count, vkd_status* st) {
    const cJSON* acc = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g->root, "accessors"), index);
    const cJSON* views = cJSON_GetObjectItemCaseSensitive(g->root, "bufferViews");
    const cJSON* type = cJSON_GetObjectItemCaseSensitive(acc, "type");
    int ct = json_int(acc, "componentType", 0), n = json_int(acc, "count", -1);
    const cJSON* view = cJSON_GetArrayItem(views, json_int(acc, "bufferView", -1));
    int have = !cJSON_IsString(type) ? 0 : !strcmp(type->valuestring, "SCALAR") ? 1 : !strcmp(type->valuestring, "VEC2") ? 2
             : !strcmp(type->valuestring, "VEC3") ? 3 : !strcmp(type->valuestring, "VEC4") ? 4 : 0;
    int csize = ct == 5126 || ct == 5125 ? 4 : ct == 5123 || ct == 5122 ? 2 : ct == 5121 || ct == 5120 ? 1 : 0;
    if (!acc || !view || n < 0 || !have || !csize || have < comps) {
        *st = vkd_error_set(g->err, VKD_ERR_UNSUPPORTED, "%s: accessor %d is missing or of an unsupported type", g->path,
                            index);
        return NULL;
    }
    size_t offset = (size_t)json_int(view, "byteOffset", 0) + (size_t)json_int(acc, "byteOffset", 0);
    size_t stride = (size_t)json_int(view, "byteStride", 0);
    if (!stride) stride = (size_t)have * csize;
    if (n && offset + (size_t)(n - 1) * stride + (size_t)have * csize > g->bin_size) {
        *st = vkd_error_set(g->err, VKD_ERR_INVALID, "%s: accessor %d reaches past the binary chunk", g->path, index);
        return NULL;
    }
    bool normalized = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(acc, "normalized"));
    float* out = malloc(((size_t)n * comps + 1) * sizeof *out);
    if (!out) {
        *st = vkd_error_set(g->err, VKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", g->path);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < comps; k++) {
            const uint8_t* p = g->bin + offset + (size_t)i * stride + (size_t)k * csize;
            double v;
            if (ct == 5126) {
                float f;
                memcpy(&f, p, 4);
                v = f;
            } else {
                v = ply_value(p, csize, false, ct == 5120 || ct == 5122);
                if (normalized) v /= csize == 1 ? 255.0 : 65535.0;
            }
            out[(size_t)i * comps + k] = (float)v;
        }
    *count = (uint32_t)n;
    return out;
}

static uint32_t* glb_indices(glb_ctx* g, int index, uint32_t* count, vkd_status* st) {
    const cJSON* acc = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g->root, "accessors"), index);
    const cJSON* view = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g->root, "bufferViews"),
                                           json_int(acc, "bufferView", -1));
    int ct = json_int(acc, "componentType", 0), n = json_int(acc, "count", -1);
    int csize = ct == 5125 ? 4 : ct == 5123 ? 2 : ct == 5121 ? 1 : 0;
    size_t offset = (size_t)json_int(view, "byteOffset", 0) + (size_t)json_int(acc, "byteOffset", 0);
    if (!acc || !view || n < 0 || !csize || offset + (size_t)n * csize > g->bin_size) {
        *st = vkd_error_set(g->err, VKD_ERR_INVALID, "%s: index accessor %d is missing, not unsigned, or out of range",
                            g->path, index);
        return NULL;
    }
    uint32_t* out = malloc(((size_t)n + 1) * 4);
    if (!out) {
        *st = vkd_error_set(g->err, VKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", g->path);
        return NULL;
    }
    for (int i = 0; i < n; i++) out[i] = (uint32_t)ply_value(g->bin + offset + (size_t)i * csize, csize, false, false);
    *count = (uint32_t)n;
    return out;
}

static bool append(float** dst, size_t have, const float* src, size_t n) {
    float* d = realloc(*dst, (have + n + 1) * sizeof *d);
    if (!d) return false;
    memcpy(d + have, src, n * sizeof *d);
    *dst = d;
    return true;
}

vkd_status vkd_view_read_glb(const char* path, vkd_mesh* out, vkd_error* err) {
    memset(out, 0, sizeof *out);
    FILE* f = fopen(path, "rb");
    if (!f) return vkd_error_set(err, VKD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint8_t* data = NULL;
    size_t size = 0;
    if (!fseek(f, 0, SEEK_END)) {
        long n = ftell(f);
        if (n > 0 && !fseek(f, 0, SEEK_SET) && (data = malloc((size_t)n)) && fread(data, 1, (size_t)n, f) == (size_t)n)
            size = (size_t)n;
    }
    fclose(f);
    uint32_t hdr[5] = {0};
    if (size >= 20) memcpy(hdr, data, 20);
    if (size < 20 || hdr[0] != 0x46546C67u || hdr[1] != 2 || hdr[4] != 0x4E4F534Au || 20ull + hdr[3] > size) {
        free(data);
        return vkd_error_set(err, VKD_ERR_INVALID, "%s: not a glTF 2.0 binary (.glb) file", path);
    }
    glb_ctx g = {.path = path, .err = err};
    g.root = cJSON_ParseWithLength((const char*)data + 20, hdr[3]);
    size_t bin_at = 20 + (((size_t)hdr[3] + 3) & ~(size_t)3);
    if (bin_at + 8 <= size) {
        uint32_t bh[2];
        memcpy(bh, data + bin_at, 8);
        if (bh[1] == 0x004E4942u && bin_at + 8 + bh[0] <= size) g.bin = data + bin_at + 8, g.bin_size = bh[0];
    }
    vkd_status st = VKD_OK;
    if (!g.root) st = vkd_error_set(err, VKD_ERR_INVALID, "%s: the JSON chunk does not parse", path);
    float *pos = NULL, *nrm = NULL, *col = NULL;
    uint32_t* idx = NULL;
    size_t nv = 0, nt = 0;
    bool all_normals = true, all_colors = true;
    const cJSON* mesh;
    const cJSON* meshes = st ? NULL : cJSON_GetObjectItemCaseSensitive(g.root, "meshes");
    cJSON_ArrayForEach(mesh, meshes) {
        const cJSON* prim;
        cJSON_ArrayForEach(prim, cJSON_GetObjectItemCaseSensitive(mesh, "primitives")) {
            if (st) break;
            if (json_int(prim, "mode", 4) != 4) continue;  // triangles only (points and lines have no surface)
            const cJSON* attrs = cJSON_GetObjectItemCaseSensitive(prim, "attributes");
            int pa = json_int(attrs, "POSITION", -1), na = json_int(attrs, "NORMAL", -1);
            int ca = json_int(attrs, "COLOR_0", -1);
            if (pa < 0) continue;
            uint32_t n = 0, m = 0;
            float* p = glb_accessor_floats(&g, pa, 3, &n, &st);
            float* nn = na >= 0 && !st ? glb_accessor_floats(&g, na, 3, &m, &st) : NULL;
            float* cc = ca >= 0 && !st ? glb_accessor_floats(&g, ca, 3, &m, &st) : NULL;
            uint32_t ni = 0;
            uint32_t* ii = NULL;
            int ia = json_int(prim, "indices", -1);
            if (!st && ia >= 0) {
                ii = glb_indices(&g, ia, &ni, &st);
            } else if (!st) {  // non-indexed: consecutive triples
                ni = n - n % 3;
                ii = malloc(((size_t)ni + 1) * 4);
                for (uint32_t i = 0; ii && i < ni; i++) ii[i] = i;
                if (!ii) st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
            }
            for (uint32_t i = 0; !st && i < ni; i++)
                if (ii[i] >= n)
                    st = vkd_error_set(err, VKD_ERR_INVALID, "%s: index %u out of range (%u vertices)", path, ii[i], n);
            if (!st) {
                all_normals &= nn != NULL;
                all_colors &= cc != NULL;
                uint32_t* shifted = realloc(idx, (nt * 3 + ni + 1) * 4);
                bool ok = shifted && append(&pos, nv * 3, p, (size_t)n * 3);
                if (shifted) idx = shifted;
                if (ok && all_normals) ok = append(&nrm, nv * 3, nn, (size_t)n * 3);
                if (ok && all_colors) ok = append(&col, nv * 3, cc, (size_t)n * 3);
                if (!ok) {
                    st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
                } else {
                    for (uint32_t i = 0; i + 2 < ni; i += 3)
                        for (int k = 0; k < 3; k++) idx[3 * nt + i + k] = (uint32_t)nv + ii[i + k];
                    nt += ni / 3;
                    nv += n;
                }
            }
            free(p);
            free(nn);
            free(cc);
            free(ii);
        }
    }
    cJSON_Delete(g.root);
    free(data);
    for (size_t i = 0; !st && i < 3 * nv; i++)
        if (!isfinite(pos[i])) st = vkd_error_set(err, VKD_ERR_INVALID, "%s: non-finite vertex position", path);
    if (!st && (!nv || !nt))
        st = vkd_error_set(err, VKD_ERR_INVALID, "%s: no triangle primitive with positions; nothing to show", path);
    if (st || nv > 0xFFFFFFFFu) {
        free(pos);
        free(nrm);
        free(col);
        free(idx);
        return st ? st : vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s: too many vertices", path);
    }
    if (!all_normals) free(nrm), nrm = NULL;
    if (!all_colors) free(col), col = NULL;
    out->positions = pos;
    out->normals = nrm;
    out->colors = col;
    out->indices = idx;
    out->nverts = (uint32_t)nv;
    out->ntris = (uint32_t)nt;
    return VKD_OK;
}

// ---------------------------------------------------------------------------

static vkd_status load_obj(const char* path, vkd_view_asset* a, vkd_error* err) {
    vkd_obj_mesh m;
    vkd_status st = vkd_obj_load(path, &m, err);
    if (st) return st;
    a->mesh.nverts = m.vertex_count;
    a->mesh.ntris = m.triangle_count;
    a->mesh.positions = m.positions;
    a->mesh.colors = m.vertex_colors;
    a->mesh.indices = m.triangles;
    a->face_colors = m.face_colors;
    return VKD_OK;  // the arrays moved into the asset; nothing else in m to free
}

// A NeRF checkpoint is loaded onto a device by the renderer; here only its header is read, so
// a wrong file is reported before a window opens. a->info gets the step count.
static vkd_status check_nerf_checkpoint(const char* path, const char* base, vkd_view_asset* a, vkd_error* err) {
    vkd_safetensors* sf = NULL;
    vkd_status st = vkd_safetensors_open(path, &sf, err);
    if (st) return st;
    const char* fmt = vkd_safetensors_metadata(sf, "format");
    if (!fmt || strcmp(fmt, "vkdream-nerf")) {
        st = vkd_error_set(err, VKD_ERR_INVALID,
                           "%s: metadata format is '%s', expected 'vkdream-nerf' (a NeRF checkpoint; view Gaussians "
                           "through their .ply)",
                           path, fmt ? fmt : "(none)");
    } else {
        const char* step = vkd_safetensors_metadata(sf, "step");
        snprintf(a->info, sizeof a->info, "%.80s  NeRF%s%.20s", base, step ? "  step " : "", step ? step : "");
        size_t n = strlen(path) + 1;
        a->nerf_path = malloc(n);
        if (a->nerf_path) memcpy(a->nerf_path, path, n);
        else st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
    }
    vkd_safetensors_close(sf);
    return st;
}

vkd_status vkd_view_asset_load(const char* path, vkd_view_asset* a, vkd_error* err) {
    memset(a, 0, sizeof *a);
    const char* ext = extension(path);
    const char* base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    vkd_status st;
    if (!strcasecmp(ext, "ply")) {
        bool is_mesh = false;
        if ((st = vkd_view_ply_is_mesh(path, &is_mesh, err))) return st;
        if (is_mesh) {
            a->kind = VKD_VIEW_MESH;
            st = vkd_view_read_mesh_ply(path, &a->mesh, err);
        } else {
            a->kind = VKD_VIEW_GAUSSIANS;
            st = vkd_gaussians_ply_read(path, &a->gaussians, err);
        }
    } else if (!strcasecmp(ext, "obj")) {
        a->kind = VKD_VIEW_MESH;
        st = load_obj(path, a, err);
    } else if (!strcasecmp(ext, "glb")) {
        a->kind = VKD_VIEW_MESH;
        st = vkd_view_read_glb(path, &a->mesh, err);
    } else if (!strcasecmp(ext, "safetensors")) {
        a->kind = VKD_VIEW_NERF;
        st = check_nerf_checkpoint(path, base, a, err);
    } else {
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                             "%s: unknown asset type '.%s'; the viewer opens 3DGS .ply, meshes as .obj, .ply or .glb, "
                             "and NeRF checkpoints (.safetensors)",
                             path, ext);
    }
    if (st) {
        vkd_view_asset_free(a);
        return st;
    }
    if (a->kind == VKD_VIEW_GAUSSIANS)
        snprintf(a->info, sizeof a->info, "%.80s  3DGS  %u Gaussians  SH %d", base, a->gaussians.count,
                 a->gaussians.sh_degree);
    else if (a->kind == VKD_VIEW_MESH)  // (a NeRF's line comes from check_nerf_checkpoint)
        snprintf(a->info, sizeof a->info, "%.80s  mesh  %u vertices  %u triangles%s", base, a->mesh.nverts,
                 a->mesh.ntris, a->mesh.colors ? "  colors" : a->face_colors ? "  materials" : "");
    return VKD_OK;
}

void vkd_view_asset_free(vkd_view_asset* a) {
    if (!a) return;
    vkd_gaussians_host_free(&a->gaussians);
    vkd_mesh_free(&a->mesh);
    free(a->face_colors);
    free(a->nerf_path);
    memset(a, 0, sizeof *a);
}
