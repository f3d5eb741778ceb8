// Mesh writers: OBJ (+MTL), binary PLY, and GLB (glTF 2.0 binary, JSON through cJSON).
#define _POSIX_C_SOURCE 200809L
#include "vkdream/mesh.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void vkd_mesh_center(vkd_mesh* m, float offset[3]) {
    float lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
    for (uint32_t v = 0; v < m->nverts; v++)
        for (int a = 0; a < 3; a++) lo[a] = fminf(lo[a], m->positions[3 * v + a]), hi[a] = fmaxf(hi[a], m->positions[3 * v + a]);
    for (int a = 0; a < 3; a++) offset[a] = m->nverts ? -0.5f * (lo[a] + hi[a]) : 0.0f;
    for (uint32_t v = 0; v < m->nverts; v++)
        for (int a = 0; a < 3; a++) m->positions[3 * v + a] += offset[a];
}

static uint8_t to_u8(float v) { return v <= 0 || v != v ? 0 : v >= 1 ? 255 : (uint8_t)lrintf(v * 255.0f); }

// Opens "<path>.tmp" for writing; finish_file closes it and renames it into place.
static FILE* open_tmp(const char* path, char* tmp, size_t cap, vkd_error* err) {
    snprintf(tmp, cap, "%s.tmp", path);
    FILE* f = fopen(tmp, "wb");
    if (!f) vkd_error_set(err, VKD_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    return f;
}

static vkd_status finish_file(FILE* f, const char* tmp, const char* path, vkd_error* err) {
    bool bad = ferror(f) != 0;
    if (fclose(f) || bad) {
        remove(tmp);
        return vkd_error_set(err, VKD_ERR_IO, "%s: write failed (disk full?)", path);
    }
    if (rename(tmp, path)) return vkd_error_set(err, VKD_ERR_IO, "%s: rename failed: %s", path, strerror(errno));
    return VKD_OK;
}

static const char* base_name(const char* path) {
    const char* s = strrchr(path, '/');
    return s ? s + 1 : path;
}

vkd_status vkd_mesh_write_obj(const vkd_mesh* m, const vkd_mesh_texture* tex, const char* path, vkd_error* err) {
    char tmp[4200];
    char mtl_path[4200] = "";
    if (tex) {
        // name.obj -> name.mtl next to it.
        snprintf(mtl_path, sizeof mtl_path, "%s", path);
        char* dot = strrchr(mtl_path, '.');
        char* slash = strrchr(mtl_path, '/');
        if (dot && (!slash || dot > slash)) *dot = 0;
        strncat(mtl_path, ".mtl", sizeof mtl_path - strlen(mtl_path) - 1);
        FILE* mf = open_tmp(mtl_path, tmp, sizeof tmp, err);
        if (!mf) return VKD_ERR_IO;
        fprintf(mf, "# vkdream\nnewmtl asset\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nd 1\nillum 1\nmap_Kd %s\n",
                base_name(tex->png_path));
        vkd_status st = finish_file(mf, tmp, mtl_path, err);
        if (st) return st;
    }
    FILE* f = open_tmp(path, tmp, sizeof tmp, err);
    if (!f) return VKD_ERR_IO;
    fprintf(f, "# vkdream mesh: %u vertices, %u triangles; +Y up\n", m->nverts, m->ntris);
    if (tex) fprintf(f, "mtllib %s\nusemtl asset\n", base_name(mtl_path));
    for (uint32_t v = 0; v < m->nverts; v++) {
        const float* p = &m->positions[3 * v];
        if (m->colors)
            fprintf(f, "v %.7g %.7g %.7g %.4f %.4f %.4f\n", p[0], p[1], p[2], m->colors[3 * v], m->colors[3 * v + 1],
                    m->colors[3 * v + 2]);
        else
            fprintf(f, "v %.7g %.7g %.7g\n", p[0], p[1], p[2]);
    }
    if (tex)
        for (uint32_t v = 0; v < m->nverts; v++) fprintf(f, "vt %.7g %.7g\n", tex->uvs[2 * v], tex->uvs[2 * v + 1]);
    if (m->normals)
        for (uint32_t v = 0; v < m->nverts; v++)
            fprintf(f, "vn %.6f %.6f %.6f\n", m->normals[3 * v], m->normals[3 * v + 1], m->normals[3 * v + 2]);
    for (uint32_t t = 0; t < m->ntris; t++) {
        const uint32_t* i = &m->indices[3 * t];
        fprintf(f, "f");
        for (int k = 0; k < 3; k++) {
            uint32_t j = i[k] + 1;
            if (tex && m->normals) fprintf(f, " %u/%u/%u", j, j, j);
            else if (tex) fprintf(f, " %u/%u", j, j);
            else if (m->normals) fprintf(f, " %u//%u", j, j);
            else fprintf(f, " %u", j);
        }
        fprintf(f, "\n");
    }
    return finish_file(f, tmp, path, err);
}

vkd_status vkd_mesh_write_ply(const vkd_mesh* m, const char* path, vkd_error* err) {
    char tmp[4200];
    FILE* f = open_tmp(path, tmp, sizeof tmp, err);
    if (!f) return VKD_ERR_IO;
    fprintf(f, "ply\nformat binary_little_endian 1.0\ncomment vkdream mesh, +Y up\nelement vertex %u\n"
               "property float x\nproperty float y\nproperty float z\n", m->nverts);
    if (m->normals) fprintf(f, "property float nx\nproperty float ny\nproperty float nz\n");
    if (m->colors) fprintf(f, "property uchar red\nproperty uchar green\nproperty uchar blue\n");
    fprintf(f, "element face %u\nproperty list uchar int vertex_indices\nend_header\n", m->ntris);
    for (uint32_t v = 0; v < m->nverts; v++) {
        fwrite(&m->positions[3 * v], sizeof(float), 3, f);
        if (m->normals) fwrite(&m->normals[3 * v], sizeof(float), 3, f);
        if (m->colors) {
            uint8_t c[3] = {to_u8(m->colors[3 * v]), to_u8(m->colors[3 * v + 1]), to_u8(m->colors[3 * v + 2])};
            fwrite(c, 1, 3, f);
        }
    }
    for (uint32_t t = 0; t < m->ntris; t++) {
        uint8_t three = 3;
        int32_t i[3] = {(int32_t)m->indices[3 * t], (int32_t)m->indices[3 * t + 1], (int32_t)m->indices[3 * t + 2]};
        fwrite(&three, 1, 1, f);
        fwrite(i, sizeof(int32_t), 3, f);
    }
    return finish_file(f, tmp, path, err);
}

// ---------------------------------------------------------------------------
// GLB

typedef struct bin_builder {
    uint8_t* data;
    size_t size, cap;
} bin_builder;

// Appends bytes 4-aligned (glTF accessors need component alignment); returns the offset.
static size_t bin_append(bin_builder* b, const void* src, size_t n, bool* oom) {
    size_t off = (b->size + 3) & ~(size_t)3;
    if (off + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 16;
        while (cap < off + n) cap *= 2;
        uint8_t* d = realloc(b->data, cap);
        if (!d) return *oom = true, 0;
        b->data = d, b->cap = cap;
    }
    memset(b->data + b->size, 0, off - b->size);
    memcpy(b->data + off, src, n);
    b->size = off + n;
    return off;
}

static cJSON* number_array(const double* v, int n) {
    cJSON* a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

// Adds a bufferView + accessor for data already in bin; returns the accessor index.
static int add_accessor(cJSON* root, size_t offset, size_t bytes, uint32_t count, int component, const char* type,
                        int target, const float* minmax_src) {
    cJSON* views = cJSON_GetObjectItem(root, "bufferViews");
    cJSON* accessors = cJSON_GetObjectItem(root, "accessors");
    cJSON* view = cJSON_CreateObject();
    cJSON_AddNumberToObject(view, "buffer", 0);
    cJSON_AddNumberToObject(view, "byteOffset", (double)offset);
    cJSON_AddNumberToObject(view, "byteLength", (double)bytes);
    if (target) cJSON_AddNumberToObject(view, "target", target);
    cJSON_AddItemToArray(views, view);
    cJSON* acc = cJSON_CreateObject();
    cJSON_AddNumberToObject(acc, "bufferView", cJSON_GetArraySize(views) - 1);
    cJSON_AddNumberToObject(acc, "componentType", component);
    cJSON_AddNumberToObject(acc, "count", count);
    cJSON_AddStringToObject(acc, "type", type);
    if (minmax_src) {  // POSITION needs min/max
        double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
        for (uint32_t v = 0; v < count; v++)
            for (int a = 0; a < 3; a++) lo[a] = fmin(lo[a], minmax_src[3 * v + a]), hi[a] = fmax(hi[a], minmax_src[3 * v + a]);
        cJSON_AddItemToObject(acc, "min", number_array(lo, 3));
        cJSON_AddItemToObject(acc, "max", number_array(hi, 3));
    }
    cJSON_AddItemToArray(accessors, acc);
    return cJSON_GetArraySize(accessors) - 1;
}

static uint8_t* read_whole(const char* path, size_t* size, vkd_error* err) {
    FILE* f = fopen(path, "rb");
    if (!f) return vkd_error_set(err, VKD_ERR_IO, "%s: cannot read texture: %s", path, strerror(errno)), NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t* d = n > 0 ? malloc((size_t)n) : NULL;
    if (!d || fread(d, 1, (size_t)n, f) != (size_t)n) {
        free(d);
        fclose(f);
        return vkd_error_set(err, VKD_ERR_IO, "%s: cannot read texture", path), NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return d;
}

vkd_status vkd_mesh_write_glb(const vkd_mesh* m, const vkd_mesh_texture* tex, const char* path, vkd_error* err) {
    if (!m->ntris) return vkd_error_set(err, VKD_ERR_INVALID, "%s: mesh has no triangles", path);
    cJSON* root = cJSON_CreateObject();
    cJSON* asset = cJSON_AddObjectToObject(root, "asset");
    cJSON_AddStringToObject(asset, "version", "2.0");
    cJSON_AddStringToObject(asset, "generator", "vkdream");
    cJSON_AddNumberToObject(root, "scene", 0);
    cJSON* scene = cJSON_CreateObject();
    cJSON_AddItemToObject(scene, "nodes", number_array((double[]){0}, 1));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "scenes"), scene);
    cJSON* node = cJSON_CreateObject();
    cJSON_AddNumberToObject(node, "mesh", 0);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "nodes"), node);
    cJSON_AddArrayToObject(root, "bufferViews");
    cJSON_AddArrayToObject(root, "accessors");

    bin_builder bin = {0};
    bool oom = false;
    cJSON* attrs = cJSON_CreateObject();
    size_t off = bin_append(&bin, m->positions, (size_t)m->nverts * 12, &oom);
    cJSON_AddNumberToObject(attrs, "POSITION", add_accessor(root, off, (size_t)m->nverts * 12, m->nverts, 5126, "VEC3", 34962, m->positions));
    if (m->normals) {
        off = bin_append(&bin, m->normals, (size_t)m->nverts * 12, &oom);
        cJSON_AddNumberToObject(attrs, "NORMAL", add_accessor(root, off, (size_t)m->nverts * 12, m->nverts, 5126, "VEC3", 34962, NULL));
    }
    if (tex) {
        // glTF's v axis points down the image.
        float* uv = malloc(((size_t)m->nverts ? m->nverts : 1) * 8);
        if (!uv) oom = true;
        for (uint32_t v = 0; uv && v < m->nverts; v++) uv[2 * v] = tex->uvs[2 * v], uv[2 * v + 1] = 1.0f - tex->uvs[2 * v + 1];
        off = uv ? bin_append(&bin, uv, (size_t)m->nverts * 8, &oom) : 0;
        free(uv);
        cJSON_AddNumberToObject(attrs, "TEXCOORD_0", add_accessor(root, off, (size_t)m->nverts * 8, m->nverts, 5126, "VEC2", 34962, NULL));
    } else if (m->colors) {
        off = bin_append(&bin, m->colors, (size_t)m->nverts * 12, &oom);
        cJSON_AddNumberToObject(attrs, "COLOR_0", add_accessor(root, off, (size_t)m->nverts * 12, m->nverts, 5126, "VEC3", 34962, NULL));
    }
    off = bin_append(&bin, m->indices, (size_t)m->ntris * 12, &oom);
    int idx_acc = add_accessor(root, off, (size_t)m->ntris * 12, m->ntris * 3, 5125, "SCALAR", 34963, NULL);

    cJSON* prim = cJSON_CreateObject();
    cJSON_AddItemToObject(prim, "attributes", attrs);
    cJSON_AddNumberToObject(prim, "indices", idx_acc);
    cJSON_AddNumberToObject(prim, "mode", 4);
    cJSON_AddNumberToObject(prim, "material", 0);
    cJSON* mesh = cJSON_CreateObject();
    cJSON_AddStringToObject(mesh, "name", "asset");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(mesh, "primitives"), prim);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "meshes"), mesh);

    cJSON* mat = cJSON_CreateObject();
    cJSON_AddStringToObject(mat, "name", "asset");
    cJSON* pbr = cJSON_AddObjectToObject(mat, "pbrMetallicRoughness");
    cJSON_AddNumberToObject(pbr, "metallicFactor", 0.0);
    cJSON_AddNumberToObject(pbr, "roughnessFactor", 1.0);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "materials"), mat);
    vkd_status st = VKD_OK;
    if (tex) {
        size_t png_size = 0;
        uint8_t* png = read_whole(tex->png_path, &png_size, err);
        if (!png) {
            st = VKD_ERR_IO;
        } else {
            off = bin_append(&bin, png, png_size, &oom);
            free(png);
            cJSON* view = cJSON_CreateObject();
            cJSON_AddNumberToObject(view, "buffer", 0);
            cJSON_AddNumberToObject(view, "byteOffset", (double)off);
            cJSON_AddNumberToObject(view, "byteLength", (double)png_size);
            cJSON* views = cJSON_GetObjectItem(root, "bufferViews");
            cJSON_AddItemToArray(views, view);
            cJSON* image = cJSON_CreateObject();
            cJSON_AddNumberToObject(image, "bufferView", cJSON_GetArraySize(views) - 1);
            cJSON_AddStringToObject(image, "mimeType", "image/png");
            cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "images"), image);
            cJSON* sampler = cJSON_CreateObject();
            cJSON_AddNumberToObject(sampler, "magFilter", 9729);
            cJSON_AddNumberToObject(sampler, "minFilter", 9729);
            cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "samplers"), sampler);
            cJSON* texture = cJSON_CreateObject();
            cJSON_AddNumberToObject(texture, "source", 0);
            cJSON_AddNumberToObject(texture, "sampler", 0);
            cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "textures"), texture);
            cJSON* info = cJSON_AddObjectToObject(pbr, "baseColorTexture");
            cJSON_AddNumberToObject(info, "index", 0);
        }
    }
    cJSON* buffer = cJSON_CreateObject();
    cJSON_AddNumberToObject(buffer, "byteLength", (double)((bin.size + 3) & ~(size_t)3));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "buffers"), buffer);
    char* json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json || oom) {
        free(json);
        free(bin.data);
        return st ? st : vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "%s: out of host memory", path);
    }
    if (st) {
        free(json);
        free(bin.data);
        return st;
    }
    size_t json_len = strlen(json), json_padded = (json_len + 3) & ~(size_t)3;
    size_t bin_padded = (bin.size + 3) & ~(size_t)3;
    char tmp[4200];
    FILE* f = open_tmp(path, tmp, sizeof tmp, err);
    if (!f) {
        free(json);
        free(bin.data);
        return VKD_ERR_IO;
    }
    uint32_t header[3] = {0x46546C67u, 2, (uint32_t)(12 + 8 + json_padded + 8 + bin_padded)};
    fwrite(header, 4, 3, f);
    uint32_t jchunk[2] = {(uint32_t)json_padded, 0x4E4F534Au};
    fwrite(jchunk, 4, 2, f);
    fwrite(json, 1, json_len, f);
    for (size_t i = json_len; i < json_padded; i++) fputc(' ', f);  // JSON chunk pads with spaces
    uint32_t bchunk[2] = {(uint32_t)bin_padded, 0x004E4942u};
    fwrite(bchunk, 4, 2, f);
    fwrite(bin.data, 1, bin.size, f);
    for (size_t i = bin.size; i < bin_padded; i++) fputc(0, f);
    free(json);
    free(bin.data);
    return finish_file(f, tmp, path, err);
}
