// The Gaussian model's host side, free of the GPU layer (so the parser can be fuzzed alone):
// the flat layout, host copies, and the standard 3DGS .ply writer and reader.
#include "vkdream/gaussians.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t coefs_of(int deg) { return (uint32_t)((deg + 1) * (deg + 1)); }

// Group starts in units of the capacity: the GAUSSIANS_OFF_* of shaders/field/gaussians.h
// (not included here so this file builds without the shader headers; gaussians.c asserts
// the two agree).
static const uint32_t group_units[VKD_GAUSSIANS_GROUP_COUNT] = {0, 3, 6, 10, 11};

uint32_t vkd_gaussians_row_floats(int sh_degree) { return group_units[VKD_GAUSSIANS_SH] + 3 * coefs_of(sh_degree); }

uint32_t vkd_gaussians_group_width(vkd_gaussians_group group, int sh_degree) {
    static const uint32_t w[4] = {3, 3, 4, 1};
    return group == VKD_GAUSSIANS_SH ? 3 * coefs_of(sh_degree) : w[group];
}

uint64_t vkd_gaussians_group_offset(vkd_gaussians_group group, uint32_t capacity, int sh_degree) {
    (void)sh_degree;  // the SH group is last, so no offset depends on it
    return (uint64_t)group_units[group] * capacity;
}

// ---------------------------------------------------------------------------
// Host copies

vkd_status vkd_gaussians_host_alloc(vkd_gaussians_host* h, uint32_t count, int sh_degree, vkd_error* err) {
    memset(h, 0, sizeof *h);
    if (sh_degree < 0 || sh_degree > VKD_GAUSSIANS_MAX_SH_DEGREE)
        return vkd_error_set(err, VKD_ERR_INVALID, "gaussians: sh_degree = %d, expected 0..3", sh_degree);
    size_t n = (size_t)count * vkd_gaussians_row_floats(sh_degree);
    h->data = calloc(n ? n : 1, sizeof(float));
    if (!h->data)
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "gaussians: out of host memory for %u Gaussians", count);
    h->count = count;
    h->sh_degree = sh_degree;
    h->means = h->data + vkd_gaussians_group_offset(VKD_GAUSSIANS_MEANS, count, sh_degree);
    h->log_scales = h->data + vkd_gaussians_group_offset(VKD_GAUSSIANS_LOG_SCALES, count, sh_degree);
    h->quats = h->data + vkd_gaussians_group_offset(VKD_GAUSSIANS_QUATS, count, sh_degree);
    h->opacity_logits = h->data + vkd_gaussians_group_offset(VKD_GAUSSIANS_OPACITY, count, sh_degree);
    h->sh = h->data + vkd_gaussians_group_offset(VKD_GAUSSIANS_SH, count, sh_degree);
    return VKD_OK;
}

void vkd_gaussians_host_free(vkd_gaussians_host* h) {
    if (!h) return;
    free(h->data);
    memset(h, 0, sizeof *h);
}

// ---------------------------------------------------------------------------
// PLY writing

static void put_f32(unsigned char* p, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    p[0] = (unsigned char)u, p[1] = (unsigned char)(u >> 8), p[2] = (unsigned char)(u >> 16),
    p[3] = (unsigned char)(u >> 24);
}

static float get_f32(const unsigned char* p) {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// Floats per vertex in the 3DGS file: xyz, normals, f_dc, f_rest, opacity, scale, rot.
static uint32_t ply_floats(int deg) { return 3 + 3 + 3 + 3 * (coefs_of(deg) - 1) + 1 + 3 + 4; }

vkd_status vkd_gaussians_ply_write(const char* path, const vkd_gaussians_host* h, vkd_error* err) {
    if (!path || !h) return vkd_error_set(err, VKD_ERR_INVALID, "gaussians_ply_write: path or data is NULL");
    if (h->sh_degree < 0 || h->sh_degree > VKD_GAUSSIANS_MAX_SH_DEGREE)
        return vkd_error_set(err, VKD_ERR_INVALID, "gaussians_ply_write: '%s': sh_degree = %d, expected 0..3", path,
                             h->sh_degree);
    if (h->count && !h->data)
        return vkd_error_set(err, VKD_ERR_INVALID, "gaussians_ply_write: '%s': no data for %u Gaussians", path,
                             h->count);
    uint32_t K = coefs_of(h->sh_degree), F = ply_floats(h->sh_degree);
    size_t tlen = strlen(path) + 5;
    char* tmp = malloc(tlen);
    unsigned char* row = malloc((size_t)F * 4);
    if (!tmp || !row) {
        free(tmp), free(row);
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "gaussians_ply_write: out of host memory");
    }
    snprintf(tmp, tlen, "%s.tmp", path);
    FILE* f = fopen(tmp, "wb");
    if (!f) {
        vkd_status st = vkd_error_set(err, VKD_ERR_IO, "gaussians_ply_write: cannot create '%s': %s", tmp,
                                      strerror(errno));
        free(tmp), free(row);
        return st;
    }
    bool ok = fprintf(f, "ply\nformat binary_little_endian 1.0\nelement vertex %u\n", h->count) > 0;
    const char* head[] = {"x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"};
    for (size_t k = 0; k < sizeof head / sizeof head[0]; k++) ok &= fprintf(f, "property float %s\n", head[k]) > 0;
    for (uint32_t k = 0; k < 3 * (K - 1); k++) ok &= fprintf(f, "property float f_rest_%u\n", k) > 0;
    ok &= fputs("property float opacity\n", f) >= 0;
    for (int k = 0; k < 3; k++) ok &= fprintf(f, "property float scale_%d\n", k) > 0;
    for (int k = 0; k < 4; k++) ok &= fprintf(f, "property float rot_%d\n", k) > 0;
    ok &= fputs("end_header\n", f) >= 0;
    for (uint32_t i = 0; ok && i < h->count; i++) {
        unsigned char* p = row;
        for (int k = 0; k < 3; k++, p += 4) put_f32(p, h->means[3 * (size_t)i + k]);
        for (int k = 0; k < 3; k++, p += 4) put_f32(p, 0.0f);
        const float* sh = h->sh + (size_t)i * K * 3;
        for (int c = 0; c < 3; c++, p += 4) put_f32(p, sh[c]);
        // Channel-major f_rest, as 3DGS's features_rest.transpose(1, 2).flatten().
        for (int c = 0; c < 3; c++)
            for (uint32_t k = 1; k < K; k++, p += 4) put_f32(p, sh[3 * k + (uint32_t)c]);
        put_f32(p, h->opacity_logits[i]), p += 4;
        for (int k = 0; k < 3; k++, p += 4) put_f32(p, h->log_scales[3 * (size_t)i + k]);
        for (int k = 0; k < 4; k++, p += 4) put_f32(p, h->quats[4 * (size_t)i + k]);
        ok = fwrite(row, 4, F, f) == F;
    }
    ok &= fflush(f) == 0;
    int saved = errno;
    ok &= fclose(f) == 0;
    vkd_status st = VKD_OK;
    if (!ok) {
        st = vkd_error_set(err, VKD_ERR_IO, "gaussians_ply_write: writing '%s' failed: %s", tmp, strerror(saved));
        remove(tmp);
    } else if (rename(tmp, path) != 0) {
        st = vkd_error_set(err, VKD_ERR_IO, "gaussians_ply_write: renaming '%s' to '%s' failed: %s", tmp, path,
                           strerror(errno));
        remove(tmp);
    }
    free(tmp), free(row);
    return st;
}

// ---------------------------------------------------------------------------
// PLY reading

typedef struct ply_prop {
    char name[64];
    uint32_t size;      // bytes
    bool is_float;      // float / float32
    uint32_t offset;    // within the element's row
} ply_prop;

typedef struct ply_elem {
    char name[64];
    uint64_t count;
    ply_prop* props;
    uint32_t nprops, cap;
    uint32_t stride;
    bool has_list;      // a list property: rows have no fixed size
} ply_elem;

static uint32_t ply_type_size(const char* t, bool* is_float) {
    static const struct {
        const char* name;
        uint32_t size;
    } types[] = {{"char", 1},  {"int8", 1},   {"uchar", 1},  {"uint8", 1},   {"short", 2},  {"int16", 2},
                 {"ushort", 2}, {"uint16", 2}, {"int", 4},    {"int32", 4},   {"uint", 4},   {"uint32", 4},
                 {"float", 4},  {"float32", 4}, {"double", 8}, {"float64", 8}};
    *is_float = !strcmp(t, "float") || !strcmp(t, "float32");
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcmp(t, types[i].name)) return types[i].size;
    return 0;
}

static void free_elems(ply_elem* e, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) free(e[i].props);
    free(e);
}

// Index of the vertex property `name`, or -1.
static int find_prop(const ply_elem* v, const char* name) {
    for (uint32_t i = 0; i < v->nprops; i++)
        if (!strcmp(v->props[i].name, name)) return (int)i;
    return -1;
}

#define PLY_MAX_HEADER (1u << 20)

VKD_PRINTF(4, 5)
static vkd_status ply_fail(vkd_error* err, vkd_status st, const char* path, const char* fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vkd_error_set(err, st, "gaussians_ply_read: '%s': %s", path, msg);
}

// Parses the header: fills the element list and returns the byte offset of the data.
static vkd_status parse_header(const char* path, FILE* f, ply_elem** elems_out, uint32_t* nelems_out,
                               long* data_start, vkd_error* err) {
    char line[512];
    uint32_t nelems = 0, ecap = 0;
    ply_elem* elems = NULL;
    vkd_status st = VKD_OK;
    size_t consumed = 0;
    bool magic = false, format = false, ended = false;
    int lineno = 0;
    while (!st && !ended && fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        consumed += len;
        if (consumed > PLY_MAX_HEADER) {
            st = ply_fail(err, VKD_ERR_INVALID, path, "the header is longer than 1 MiB (not a PLY file?)");
            break;
        }
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            st = vkd_error_set(err, VKD_ERR_INVALID, "gaussians_ply_read: '%s': header line %d is too long", path,
                               lineno);
            break;
        }
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (lineno == 1) {
            if (strcmp(line, "ply")) st = ply_fail(err, VKD_ERR_INVALID, path, "not a PLY file (first line is not 'ply')");
            magic = true;
            continue;
        }
        char w0[64] = "", w1[64] = "", w2[64] = "", w3[64] = "", w4[64] = "";
        int nw = sscanf(line, "%63s %63s %63s %63s %63s", w0, w1, w2, w3, w4);
        if (nw <= 0) continue;
        if (!strcmp(w0, "comment") || !strcmp(w0, "obj_info")) continue;
        if (!strcmp(w0, "end_header")) {
            ended = true;
        } else if (!strcmp(w0, "format")) {
            if (strcmp(w1, "binary_little_endian"))
                st = ply_fail(err, VKD_ERR_UNSUPPORTED, path,
                              "format '%s', only binary_little_endian (what 3DGS writes) is read", w1);
            else if (strcmp(w2, "1.0"))
                st = ply_fail(err, VKD_ERR_UNSUPPORTED, path, "format version '%s', expected 1.0", w2);
            format = true;
        } else if (!strcmp(w0, "element")) {
            char* end = NULL;
            errno = 0;
            unsigned long long count = strtoull(w2, &end, 10);
            if (nw < 3 || !end || *end || errno || w2[0] == '-') {
                st = ply_fail(err, VKD_ERR_INVALID, path, "element '%s' has no valid count", w1);
                break;
            }
            if (nelems == ecap) {
                ecap = ecap ? 2 * ecap : 4;
                ply_elem* ne = realloc(elems, ecap * sizeof *ne);
                if (!ne) {
                    st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "gaussians_ply_read: out of host memory");
                    break;
                }
                elems = ne;
            }
            ply_elem* e = &elems[nelems++];
            memset(e, 0, sizeof *e);
            snprintf(e->name, sizeof e->name, "%s", w1);
            e->count = count;
        } else if (!strcmp(w0, "property")) {
            if (!nelems) {
                st = ply_fail(err, VKD_ERR_INVALID, path, "property '%s' before any element", nw >= 3 ? w2 : w1);
                break;
            }
            ply_elem* e = &elems[nelems - 1];
            if (!strcmp(w1, "list")) {
                e->has_list = true;
                continue;
            }
            if (nw < 3) {
                st = ply_fail(err, VKD_ERR_INVALID, path, "malformed property line '%s'", line);
                break;
            }
            bool is_float;
            uint32_t size = ply_type_size(w1, &is_float);
            if (!size) {
                st = ply_fail(err, VKD_ERR_INVALID, path, "property '%s' has unknown type '%s'", w2, w1);
                break;
            }
            if (e->nprops == e->cap) {
                e->cap = e->cap ? 2 * e->cap : 32;
                ply_prop* np = realloc(e->props, e->cap * sizeof *np);
                if (!np) {
                    st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "gaussians_ply_read: out of host memory");
                    break;
                }
                e->props = np;
            }
            ply_prop* p = &e->props[e->nprops++];
            snprintf(p->name, sizeof p->name, "%s", w2);
            p->size = size, p->is_float = is_float, p->offset = e->stride;
            e->stride += size;
        } else {
            st = ply_fail(err, VKD_ERR_INVALID, path, "unexpected header line '%s'", line);
        }
    }
    if (!st && !magic) st = ply_fail(err, VKD_ERR_INVALID, path, "empty file");
    if (!st && !ended) st = ply_fail(err, VKD_ERR_INVALID, path, "the header has no 'end_header' line");
    if (!st && !format) st = ply_fail(err, VKD_ERR_INVALID, path, "the header has no 'format' line");
    if (st) {
        free_elems(elems, nelems);
        return st;
    }
    *elems_out = elems;
    *nelems_out = nelems;
    *data_start = ftell(f);
    return VKD_OK;
}

vkd_status vkd_gaussians_ply_read(const char* path, vkd_gaussians_host* out, vkd_error* err) {
    memset(out, 0, sizeof *out);
    if (!path) return vkd_error_set(err, VKD_ERR_INVALID, "gaussians_ply_read: path is NULL");
    FILE* f = fopen(path, "rb");
    if (!f) return vkd_error_set(err, VKD_ERR_IO, "gaussians_ply_read: cannot open '%s': %s", path, strerror(errno));
    ply_elem* elems = NULL;
    uint32_t nelems = 0;
    long start = 0;
    unsigned char* raw = NULL;
    vkd_status st = parse_header(path, f, &elems, &nelems, &start, err);
    if (st) goto done;

    // The vertex element, and the bytes of the elements stored before it.
    const ply_elem* v = NULL;
    uint64_t skip = 0;
    for (uint32_t i = 0; i < nelems && !v; i++) {
        if (!strcmp(elems[i].name, "vertex")) {
            v = &elems[i];
        } else if (elems[i].has_list && elems[i].count) {
            st = ply_fail(err, VKD_ERR_UNSUPPORTED, path,
                          "element '%s' with list properties precedes 'vertex' (its size is unknown)", elems[i].name);
            goto done;
        } else {
            uint64_t stride = elems[i].stride;
            if (stride && elems[i].count > (UINT64_MAX - skip) / stride) {
                st = ply_fail(err, VKD_ERR_INVALID, path, "element '%s' is impossibly large", elems[i].name);
                goto done;
            }
            skip += elems[i].count * stride;
        }
    }
    if (!v) {
        st = ply_fail(err, VKD_ERR_INVALID, path, "no 'vertex' element");
        goto done;
    }
    if (v->has_list) {
        st = ply_fail(err, VKD_ERR_UNSUPPORTED, path, "the vertex element has a list property");
        goto done;
    }
    if (v->count > UINT32_MAX) {
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "gaussians_ply_read: '%s': %" PRIu64 " vertices, at most %u",
                           path, v->count, UINT32_MAX);
        goto done;
    }

    // Every required property: present once and float.
    for (uint32_t i = 0; i < v->nprops; i++)
        for (uint32_t j = i + 1; j < v->nprops; j++)
            if (!strcmp(v->props[i].name, v->props[j].name)) {
                st = ply_fail(err, VKD_ERR_INVALID, path, "property '%s' appears twice", v->props[i].name);
                goto done;
            }
    uint32_t n_rest = 0;
    for (uint32_t i = 0; i < v->nprops; i++) n_rest += !strncmp(v->props[i].name, "f_rest_", 7);
    int deg = -1;
    for (int d = 0; d <= VKD_GAUSSIANS_MAX_SH_DEGREE; d++)
        if (n_rest == 3 * (coefs_of(d) - 1)) deg = d;
    if (deg < 0) {
        st = ply_fail(err, VKD_ERR_INVALID, path, "%u f_rest_* properties; expected 0, 9, 24 or 45 (SH degree 0..3)",
                      n_rest);
        goto done;
    }
    uint32_t K = coefs_of(deg);
    enum { P_X = 0, P_DC = 3, P_OPACITY = 6, P_SCALE = 7, P_ROT = 10, P_REST = 14 };
    int col[P_REST + 45];
    const char* fixed[P_REST] = {"x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
                                 "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"};
    uint32_t ncols = P_REST + 3 * (K - 1);
    for (uint32_t c = 0; c < ncols; c++) {
        char name[32];
        if (c < P_REST) snprintf(name, sizeof name, "%s", fixed[c]);
        else snprintf(name, sizeof name, "f_rest_%u", c - P_REST);
        col[c] = find_prop(v, name);
        if (col[c] < 0) {
            st = ply_fail(err, VKD_ERR_INVALID, path, "missing vertex property '%s' (not a 3DGS .ply?)", name);
            goto done;
        }
        if (!v->props[col[c]].is_float) {
            st = ply_fail(err, VKD_ERR_INVALID, path, "vertex property '%s' must be float", name);
            goto done;
        }
    }

    // The data: exactly count rows must be there (more is fine: later elements).
    uint64_t bytes = v->count * v->stride;
    if (fseek(f, 0, SEEK_END) != 0) {
        st = vkd_error_set(err, VKD_ERR_IO, "gaussians_ply_read: '%s': cannot seek: %s", path, strerror(errno));
        goto done;
    }
    long end = ftell(f);
    uint64_t avail = end > start ? (uint64_t)(end - start) : 0;
    if (skip > avail || bytes > avail - skip) {
        st = vkd_error_set(err, VKD_ERR_INVALID,
                           "gaussians_ply_read: '%s': truncated: %" PRIu64 " vertices of %u bytes need %" PRIu64
                           " bytes of data, the file has %" PRIu64,
                           path, v->count, v->stride, skip + bytes, avail);
        goto done;
    }
    if ((st = vkd_gaussians_host_alloc(out, (uint32_t)v->count, deg, err))) goto done;
    raw = malloc(bytes ? bytes : 1);
    if (!raw) {
        st = vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "gaussians_ply_read: '%s': out of host memory", path);
        goto done;
    }
    if (fseek(f, start + (long)skip, SEEK_SET) != 0 || fread(raw, 1, bytes, f) != bytes) {
        st = vkd_error_set(err, VKD_ERR_IO, "gaussians_ply_read: '%s': read failed", path);
        goto done;
    }
    uint32_t off[P_REST + 45];
    for (uint32_t c = 0; c < ncols; c++) off[c] = v->props[col[c]].offset;
    for (uint32_t i = 0; i < out->count; i++) {
        const unsigned char* r = raw + (size_t)i * v->stride;
        for (int k = 0; k < 3; k++) out->means[3 * (size_t)i + k] = get_f32(r + off[P_X + k]);
        float* sh = out->sh + (size_t)i * K * 3;
        for (int c = 0; c < 3; c++) sh[c] = get_f32(r + off[P_DC + c]);
        for (uint32_t c = 0; c < 3; c++)
            for (uint32_t k = 1; k < K; k++) sh[3 * k + c] = get_f32(r + off[P_REST + c * (K - 1) + k - 1]);
        out->opacity_logits[i] = get_f32(r + off[P_OPACITY]);
        for (int k = 0; k < 3; k++) out->log_scales[3 * (size_t)i + k] = get_f32(r + off[P_SCALE + k]);
        for (int k = 0; k < 4; k++) out->quats[4 * (size_t)i + k] = get_f32(r + off[P_ROT + k]);
    }
done:
    if (st) vkd_gaussians_host_free(out);
    free(raw);
    free_elems(elems, nelems);
    fclose(f);
    return st;
}

