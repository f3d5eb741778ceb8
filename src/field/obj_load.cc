// C API over tinyobjloader (Debian's header-only <tiny_obj_loader.h>, compiled here) and
// area-weighted surface sampling. No C++ exceptions cross the API: allocation failures
// become VKD_ERR_OUT_OF_MEMORY.
#include "vkdream/obj.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#define TINYOBJLOADER_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#endif
#include <tiny_obj_loader.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace {

// tinyobjloader's messages end with newlines and may hold several lines: keep the first
// line (the one that says what failed), trimmed.
std::string first_line(const std::string& s) {
    size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) return std::string();
    size_t e = s.find_first_of("\r\n", b);
    return s.substr(b, e == std::string::npos ? std::string::npos : e - b);
}

std::string dir_of(const char* path) {
    std::string p(path);
    size_t slash = p.find_last_of('/');
    return slash == std::string::npos ? std::string("./") : p.substr(0, slash + 1);
}

template <typename T>
T* copy_out(const std::vector<T>& v) {
    T* p = static_cast<T*>(std::malloc(v.size() ? v.size() * sizeof(T) : sizeof(T)));
    if (p && !v.empty()) std::memcpy(p, v.data(), v.size() * sizeof(T));
    return p;
}

uint64_t splitmix64(uint64_t* s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
double uniform01(uint64_t* s) { return (double)(splitmix64(s) >> 11) * (1.0 / 9007199254740992.0); }

vkd_status load(const char* path, vkd_obj_mesh* out, vkd_error* err) {
    // tinyobjloader reports a missing file as a generic parse failure; say why.
    FILE* f = std::fopen(path, "rb");
    if (!f) return vkd_error_set(err, VKD_ERR_IO, "obj: cannot open '%s': %s", path, std::strerror(errno));
    std::fclose(f);

    tinyobj::attrib_t attrib;
    std::vector<tinyobj::shape_t> shapes;
    std::vector<tinyobj::material_t> materials;
    std::string warn, terr;
    std::string base = dir_of(path);
    // default_vcols_fallback = false: colors stay empty unless every vertex has one.
    bool ok = tinyobj::LoadObj(&attrib, &shapes, &materials, &warn, &terr, path, base.c_str(), true, false);
    if (!ok)
        return vkd_error_set(err, VKD_ERR_INVALID, "obj: '%s' is not a readable OBJ file: %s", path,
                             terr.empty() ? "tinyobjloader gave no reason" : first_line(terr).c_str());

    size_t nv = attrib.vertices.size() / 3;
    if (nv > UINT32_MAX)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "obj: '%s' has %zu vertices, more than 2^32 - 1", path, nv);
    for (size_t i = 0; i < nv * 3; i++)
        if (!std::isfinite(attrib.vertices[i]))
            return vkd_error_set(err, VKD_ERR_INVALID, "obj: '%s': vertex %zu has a non-finite coordinate", path,
                                 i / 3 + 1);
    bool vcols = attrib.colors.size() == nv * 3 && nv > 0;

    std::vector<uint32_t> tris;
    std::vector<float> fcols;
    bool any_material = false;
    for (const tinyobj::shape_t& sh : shapes) {
        const tinyobj::mesh_t& m = sh.mesh;
        size_t at = 0;
        for (size_t fi = 0; fi < m.num_face_vertices.size(); fi++) {
            size_t fv = m.num_face_vertices[fi];
            if (at + fv > m.indices.size())
                return vkd_error_set(err, VKD_ERR_INVALID, "obj: '%s': shape '%s' has truncated face data", path,
                                     sh.name.c_str());
            for (size_t k = 0; k < fv; k++) {
                int vi = m.indices[at + k].vertex_index;
                if (vi < 0 || (size_t)vi >= nv) {
                    std::string where = sh.name.empty() ? std::string() : " of shape '" + sh.name + "'";
                    return vkd_error_set(err, VKD_ERR_INVALID,
                                         "obj: '%s': face %zu%s uses vertex %d, but the file has %zu vertices", path,
                                         fi + 1, where.c_str(), vi + 1, nv);
                }
            }
            int mat = fi < m.material_ids.size() ? m.material_ids[fi] : -1;
            float c[3] = {1, 1, 1};
            if (mat >= 0 && (size_t)mat < materials.size()) {
                any_material = true;
                for (int j = 0; j < 3; j++) c[j] = (float)materials[(size_t)mat].diffuse[j];
            }
            // Triangulation normally happened in the loader; a fan keeps any polygon it left.
            for (size_t k = 1; k + 1 < fv; k++) {
                tris.push_back((uint32_t)m.indices[at].vertex_index);
                tris.push_back((uint32_t)m.indices[at + k].vertex_index);
                tris.push_back((uint32_t)m.indices[at + k + 1].vertex_index);
                fcols.insert(fcols.end(), c, c + 3);
            }
            at += fv;
        }
    }
    if (tris.empty())
        return vkd_error_set(err, VKD_ERR_INVALID, "obj: '%s' has no faces (%zu vertices, no 'f' lines with 3+ vertices)",
                             path, nv);
    if (tris.size() / 3 > UINT32_MAX)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "obj: '%s' has more than 2^32 - 1 triangles", path);

    std::vector<float> pos(attrib.vertices.begin(), attrib.vertices.end());
    std::vector<float> col;
    if (vcols) col.assign(attrib.colors.begin(), attrib.colors.end());
    out->vertex_count = (uint32_t)nv;
    out->triangle_count = (uint32_t)(tris.size() / 3);
    out->positions = copy_out(pos);
    out->triangles = copy_out(tris);
    out->vertex_colors = vcols ? copy_out(col) : nullptr;
    out->face_colors = any_material ? copy_out(fcols) : nullptr;
    if (!out->positions || !out->triangles || (vcols && !out->vertex_colors) || (any_material && !out->face_colors)) {
        vkd_obj_free(out);
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "obj: out of host memory for '%s'", path);
    }
    return VKD_OK;
}

void tri_normal(const float* a, const float* b, const float* c, double n[3], double* area2) {
    double e1[3], e2[3];
    for (int j = 0; j < 3; j++) e1[j] = (double)b[j] - a[j], e2[j] = (double)c[j] - a[j];
    n[0] = e1[1] * e2[2] - e1[2] * e2[1];
    n[1] = e1[2] * e2[0] - e1[0] * e2[2];
    n[2] = e1[0] * e2[1] - e1[1] * e2[0];
    *area2 = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    if (*area2 > 0)
        for (int j = 0; j < 3; j++) n[j] /= *area2;
}

}  // namespace

extern "C" {

vkd_status vkd_obj_load(const char* path, vkd_obj_mesh* out, vkd_error* err) {
    std::memset(out, 0, sizeof *out);
    if (!path) return vkd_error_set(err, VKD_ERR_INVALID, "obj: path is NULL");
    try {
        return load(path, out, err);
    } catch (const std::bad_alloc&) {
        vkd_obj_free(out);
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "obj: out of host memory reading '%s'", path);
    } catch (const std::exception& e) {
        vkd_obj_free(out);
        return vkd_error_set(err, VKD_ERR_INVALID, "obj: reading '%s' failed: %s", path, e.what());
    }
}

void vkd_obj_free(vkd_obj_mesh* mesh) {
    if (!mesh) return;
    std::free(mesh->positions);
    std::free(mesh->vertex_colors);
    std::free(mesh->triangles);
    std::free(mesh->face_colors);
    std::memset(mesh, 0, sizeof *mesh);
}

double vkd_obj_area(const vkd_obj_mesh* mesh) {
    double total = 0;
    for (uint32_t t = 0; t < mesh->triangle_count; t++) {
        const uint32_t* v = mesh->triangles + 3 * (size_t)t;
        double n[3], a2;
        tri_normal(mesh->positions + 3 * (size_t)v[0], mesh->positions + 3 * (size_t)v[1],
                   mesh->positions + 3 * (size_t)v[2], n, &a2);
        total += 0.5 * a2;
    }
    return total;
}

vkd_status vkd_obj_sample(const vkd_obj_mesh* mesh, uint32_t n, uint64_t seed, float* points, float* normals,
                          float* colors, bool* has_colors, vkd_error* err) {
    if (has_colors) *has_colors = false;
    if (!mesh || mesh->triangle_count == 0)
        return vkd_error_set(err, VKD_ERR_INVALID, "obj_sample: the mesh has no triangles");
    double* cdf = static_cast<double*>(std::malloc(mesh->triangle_count * sizeof(double)));
    if (!cdf) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "obj_sample: out of host memory");
    double total = 0;
    for (uint32_t t = 0; t < mesh->triangle_count; t++) {
        const uint32_t* v = mesh->triangles + 3 * (size_t)t;
        double nn[3], a2;
        tri_normal(mesh->positions + 3 * (size_t)v[0], mesh->positions + 3 * (size_t)v[1],
                   mesh->positions + 3 * (size_t)v[2], nn, &a2);
        total += a2;
        cdf[t] = total;
    }
    if (!(total > 0) || !std::isfinite(total)) {
        std::free(cdf);
        return vkd_error_set(err, VKD_ERR_INVALID, "obj_sample: the mesh's %u triangles have zero total area",
                             mesh->triangle_count);
    }
    bool want_colors = colors && (mesh->vertex_colors || mesh->face_colors);
    uint64_t state = seed;
    for (uint32_t i = 0; i < n; i++) {
        // Triangle with probability area / total: first cdf entry above u.
        double u = uniform01(&state) * total;
        uint32_t lo = 0, hi = mesh->triangle_count - 1;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (cdf[mid] > u) hi = mid;
            else lo = mid + 1;
        }
        const uint32_t* v = mesh->triangles + 3 * (size_t)lo;
        const float* a = mesh->positions + 3 * (size_t)v[0];
        const float* b = mesh->positions + 3 * (size_t)v[1];
        const float* c = mesh->positions + 3 * (size_t)v[2];
        // Uniform barycentrics (Osada et al. 2002): sqrt warps r1 so area is uniform.
        double r1 = std::sqrt(uniform01(&state)), r2 = uniform01(&state);
        double w0 = 1 - r1, w1 = r1 * (1 - r2), w2 = r1 * r2;
        for (int j = 0; j < 3; j++) points[3 * (size_t)i + j] = (float)(w0 * a[j] + w1 * b[j] + w2 * c[j]);
        if (normals) {
            double nn[3], a2;
            tri_normal(a, b, c, nn, &a2);
            for (int j = 0; j < 3; j++) normals[3 * (size_t)i + j] = (float)nn[j];
        }
        if (want_colors) {
            if (mesh->vertex_colors) {
                const float* ca = mesh->vertex_colors + 3 * (size_t)v[0];
                const float* cb = mesh->vertex_colors + 3 * (size_t)v[1];
                const float* cc = mesh->vertex_colors + 3 * (size_t)v[2];
                for (int j = 0; j < 3; j++) colors[3 * (size_t)i + j] = (float)(w0 * ca[j] + w1 * cb[j] + w2 * cc[j]);
            } else {
                for (int j = 0; j < 3; j++) colors[3 * (size_t)i + j] = mesh->face_colors[3 * (size_t)lo + j];
            }
        }
    }
    std::free(cdf);
    if (has_colors) *has_colors = want_colors;
    return VKD_OK;
}

}  // extern "C"
