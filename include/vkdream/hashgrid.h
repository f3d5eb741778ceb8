// Multiresolution hash encoding (instant-ngp / tiny-cuda-nn "HashGrid") and the hash-grid NeRF
// field built on it (threestudio's "implicit-volume"), in Vulkan compute.
//
// Encoding, per point x in [0, 1]^3 (u = x * input_scale + input_offset, see the desc) and level l:
//   s_l = base * pls^l - 1 (float32, computed as a chain of multiplications so the host, the
//   reference and every device agree bit for bit), res_l = ceil(s_l) + 1,
//   p = s_l u + 0.5 (the half-cell shift of tiny-cuda-nn), corner cells floor(p) + {0,1}^3,
//   trilinear weights of frac(p); a corner's entry is, when res_l^3 fits the level (dense),
//   (x + y res_l + z res_l^2) mod size_l, else (x ^ y 2654435761 ^ z 805459861) mod size_l,
//   all in uint32 arithmetic (negative cells wrap), size_l = min(roundup(res_l^3, 8), 2^log2_table).
// Levels are stored back to back (tiny-cuda-nn's offset table, so a tcnn grid's parameters load
// as they are): entry e of level l is table[(offset_l + e) * F + f].
// Output (n, L * F) row-major: out[i, l * F + f]. Levels >= active_levels output 0 and get no
// gradient (progressive level unlocking, threestudio's ProgressiveBandHashGrid).
// The backward scatters d out * weights into the table with float atomics (a compare-and-swap
// loop on devices without VK_EXT_shader_atomic_float), so its summation order is not fixed.
#ifndef VKDREAM_HASHGRID_H
#define VKDREAM_HASHGRID_H

#include "vkdream/gpu.h"
#include "vkdream/mlp.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VKD_HASHGRID_MAX_LEVELS 32
#define VKD_HASHGRID_DEFAULT_PER_LEVEL_SCALE 1.447269237440378

typedef struct vkd_hashgrid_desc {
    uint32_t levels;           // L, 1..32; 0 = 16
    uint32_t features;         // F per level: 1, 2, 4 or 8; 0 = 2
    uint32_t log2_table;       // log2 of the entries per hashed level, 4..24; 0 = 19
    uint32_t base_resolution;  // 0 = 16
    float per_level_scale;     // 0 = 1.447269237440378 (vkd_hashgrid_per_level_scale computes others)
    uint32_t active_levels;    // levels that contribute; 0 = all
    float input_scale;         // u = x * input_scale + input_offset maps the inputs to [0, 1]^3; 0 = 1
    float input_offset;        // default 0
    bool cas_atomics;          // backward with the compare-and-swap loop even where float atomics exist
} vkd_hashgrid_desc;

typedef struct vkd_hashgrid_level {
    float scale;          // s_l
    uint32_t resolution;  // res_l
    uint32_t size;        // entries of this level
    uint64_t offset;      // first entry of this level
    bool hashed;
} vkd_hashgrid_level;

// desc with its defaults filled in; false (and a message in err) when out of range.
bool vkd_hashgrid_resolve(const vkd_hashgrid_desc* desc, vkd_hashgrid_desc* out, vkd_error* err);
// threestudio's exp(ln(max_resolution / base) / (levels - 1)), e.g. max_resolution = 2048 * bound.
double vkd_hashgrid_per_level_scale(uint32_t levels, double base_resolution, double max_resolution);
// Geometry of level l (0 <= l < levels).
vkd_hashgrid_level vkd_hashgrid_level_info(const vkd_hashgrid_desc* desc, uint32_t level);
// Floats of the table: F * (sum of the level sizes).
uint64_t vkd_hashgrid_param_count(const vkd_hashgrid_desc* desc);
// tiny-cuda-nn's initialisation U(-1e-4, 1e-4), from a splitmix64 stream seeded with `seed`.
void vkd_hashgrid_init_params(float* table /* (P,) */, const vkd_hashgrid_desc* desc, uint64_t seed);

void vkd_hashgrid_forward(vkd_stream* s,
                          vkd_addr out,        // (n, L * F)
                          vkd_addr positions,  // (n, 3)
                          vkd_addr table,      // (P,)
                          uint32_t n, const vkd_hashgrid_desc* desc);
// d_table += scatter of d out * weights; d_positions += d out * d out / d x (through the
// trilinear weights; the table is only read for this one).
void vkd_hashgrid_backward(vkd_stream* s,
                           vkd_addr d_positions,  // (n, 3) accumulated, or 0
                           vkd_addr d_table,      // (P,) accumulated, or 0
                           vkd_addr dout,         // (n, L * F)
                           vkd_addr positions,    // (n, 3)
                           vkd_addr table,        // (P,)
                           uint32_t n, const vkd_hashgrid_desc* desc);

void vkd_ref_hashgrid_forward(double* out, const double* positions, const double* table, uint64_t n,
                              const vkd_hashgrid_desc* desc);
void vkd_ref_hashgrid_backward(double* d_positions, double* d_table, const double* dout, const double* positions,
                               const double* table, uint64_t n, const vkd_hashgrid_desc* desc);

// ---------------------------------------------------------------------------
// NeRF field (threestudio implicit-volume): world positions in [-bound, bound]^3 are mapped to
// [0, 1]^3, encoded, and fed to
//   separate (threestudio): a density MLP (L F -> hidden -> 1) and a feature MLP (L F -> hidden -> 3);
//   shared (instant-ngp's geometry network, color read directly): one MLP (L F -> hidden -> 4):
//                           output 0 is the raw density, outputs 1..3 the color features.
//   density = act(raw + bias(x)), bias (pre-activation, x in world units):
//     blob_magic3d:     blob_density * (1 - |x| / blob_radius)
//     blob_dreamfusion: blob_density * exp(-|x|^2 / (2 blob_radius^2))
//     constant:         blob_density
//     none:             0
//   act = softplus (PyTorch's, linear above 20), exp, or trunc_exp (exp whose backward uses
//   exp(min(raw, 15)), torch-ngp / threestudio); rgb = sigmoid(features[0..2]) (albedo, no view
//   dependence). The positions get gradients through the encoding and through the bias.
//
// Parameters and gradients: one flat fp32 buffer each: hash table | density (or geometry) MLP |
// feature MLP (vkd_nerf_field_layout). Evaluation writes what the backward needs into a caller
// workspace, so several batches can be in flight with separate workspaces.

typedef enum vkd_nerf_density_activation {
    VKD_NERF_DENSITY_SOFTPLUS = 0,
    VKD_NERF_DENSITY_EXP,
    VKD_NERF_DENSITY_TRUNC_EXP,
} vkd_nerf_density_activation;

typedef enum vkd_nerf_density_bias {
    VKD_NERF_BIAS_BLOB_MAGIC3D = 0,
    VKD_NERF_BIAS_BLOB_DREAMFUSION,
    VKD_NERF_BIAS_CONSTANT,
    VKD_NERF_BIAS_NONE,
} vkd_nerf_density_bias;

typedef enum vkd_nerf_mlp_layout {
    VKD_NERF_MLP_SEPARATE = 0,
    VKD_NERF_MLP_SHARED,
} vkd_nerf_mlp_layout;

typedef struct vkd_nerf_field_desc {
    vkd_hashgrid_desc grid;  // zeros: threestudio's defaults; input_scale / offset are set from bound
    float bound;             // positions in [-bound, bound]^3; 0 = 1
    uint32_t hidden;         // MLP width; 0 = 64
    uint32_t hidden_layers;  // 0 = 1
    bool mlp_bias;           // Linear biases (threestudio: none)
    vkd_nerf_mlp_layout mlp_layout;
    vkd_nerf_density_activation density_activation;  // default softplus
    vkd_nerf_density_bias density_bias;              // default blob_magic3d
    float blob_density;                              // 0 = 10 (the bias's scale, threestudio's density_blob_scale)
    float blob_radius;                               // 0 = 0.5 (threestudio's density_blob_std)
    uint64_t seed;                                   // parameter initialisation
} vkd_nerf_field_desc;

// Where each part lives in the flat parameter (and gradient) buffer, in floats.
typedef struct vkd_nerf_field_layout {
    uint64_t grid_offset, grid_count;
    uint64_t density_mlp_offset, density_mlp_count;  // the geometry MLP in the shared layout
    uint64_t feature_mlp_offset, feature_mlp_count;  // count 0 in the shared layout
    uint64_t total;
    vkd_mlp_desc density_mlp, feature_mlp;
} vkd_nerf_field_layout;

typedef struct vkd_nerf_field vkd_nerf_field;

// desc with its defaults filled in (grid.input_scale / input_offset from bound).
bool vkd_nerf_field_resolve(const vkd_nerf_field_desc* desc, vkd_nerf_field_desc* out, vkd_error* err);
void vkd_nerf_field_get_layout(const vkd_nerf_field_desc* desc, vkd_nerf_field_layout* out);
// Host initialisation: table U(-1e-4, 1e-4), MLPs as nn.Linear, from desc.seed.
void vkd_nerf_field_init_params(float* params /* (total,) */, const vkd_nerf_field_desc* desc);

// Allocates and initialises the parameters (vkd_nerf_field_init_params) and zeroes the gradients.
vkd_status vkd_nerf_field_create(vkd_gpu* gpu, const vkd_nerf_field_desc* desc, vkd_nerf_field** out, vkd_error* err);
// Work recorded on a stream that uses the field must have been submitted.
void vkd_nerf_field_destroy(vkd_nerf_field* f);
const vkd_nerf_field_desc* vkd_nerf_field_desc_of(const vkd_nerf_field* f);  // resolved
const vkd_nerf_field_layout* vkd_nerf_field_layout_of(const vkd_nerf_field* f);
vkd_addr vkd_nerf_field_params(const vkd_nerf_field* f);  // (total,)
vkd_addr vkd_nerf_field_grads(const vkd_nerf_field* f);   // (total,)
// Progressive unlocking: only the first `levels` levels contribute (clamped to 1..L).
void vkd_nerf_field_set_active_levels(vkd_nerf_field* f, uint32_t levels);
uint32_t vkd_nerf_field_active_levels(const vkd_nerf_field* f);
// Synchronous host transfers of the flat parameter buffer (no work may be pending on it).
vkd_status vkd_nerf_field_upload_params(vkd_nerf_field* f, const float* params, vkd_error* err);
vkd_status vkd_nerf_field_download_params(vkd_nerf_field* f, float* params, vkd_error* err);
vkd_status vkd_nerf_field_download_grads(vkd_nerf_field* f, float* grads, vkd_error* err);
// Records gradients = 0.
void vkd_nerf_field_zero_grad(vkd_nerf_field* f, vkd_stream* s);

// Bytes of workspace for batches of up to n points (forward state, backward scratch, grid chunks).
uint64_t vkd_nerf_field_workspace_bytes(const vkd_nerf_field* f, uint32_t n);
// density (n,) and rgb (n, 3) at world positions; rgb = 0 evaluates the density only (in the
// separate layout the feature MLP is skipped). Saves the backward's state in the workspace.
void vkd_nerf_field_forward(vkd_nerf_field* f, vkd_stream* s,
                            vkd_addr density,    // (n,)
                            vkd_addr rgb,        // (n, 3) or 0
                            vkd_addr positions,  // (n, 3) world
                            uint32_t n, vkd_addr workspace);
// After a forward with the same positions, n and workspace (and rgb != 0 when d_rgb != 0):
// the field's gradients += d params, d_positions += d positions (0 = not needed).
void vkd_nerf_field_backward(vkd_nerf_field* f, vkd_stream* s,
                             vkd_addr d_positions,  // (n, 3) accumulated, or 0
                             vkd_addr d_density,    // (n,)
                             vkd_addr d_rgb,        // (n, 3) or 0
                             vkd_addr positions,    // (n, 3)
                             uint32_t n, vkd_addr workspace);
// grad = d density / d x (n, 3), overwritten ("analytic" normals are -grad / |grad|); also
// writes density (n,) when not 0. Runs its own forward and a parameter-free backward, so it
// leaves no state for vkd_nerf_field_backward. The result has no gradient to the parameters.
void vkd_nerf_field_density_grad(vkd_nerf_field* f, vkd_stream* s, vkd_addr grad /* (n, 3) */,
                                 vkd_addr density /* (n,) or 0 */, vkd_addr positions /* (n, 3) */, uint32_t n,
                                 vkd_addr workspace);
// Finite-difference density gradient (threestudio's "finite_difference" normals, whose gradients
// reach the parameters): grad[i, k] = (density(x_i + eps e_k) - density(x_i - eps e_k)) / (2 eps),
// the offset points clamped to [-bound, bound]^3 (threestudio: eps = 0.01). Needs a workspace sized
// for 6 n points (vkd_nerf_field_workspace_bytes(f, 6 n)); the backward, after the forward with the
// same workspace, adds the parameter gradients from d grad (n, 3) (no position gradients).
void vkd_nerf_field_fd_grad_forward(vkd_nerf_field* f, vkd_stream* s, vkd_addr grad /* (n, 3) */,
                                    vkd_addr positions /* (n, 3) */, uint32_t n, float eps, vkd_addr workspace);
void vkd_nerf_field_fd_grad_backward(vkd_nerf_field* f, vkd_stream* s, vkd_addr d_grad /* (n, 3) */, uint32_t n,
                                     float eps, vkd_addr workspace);
// Densities at the res^3 vertices of a regular grid over [-bound, bound]^3 (bound 0 = the field's):
// out[(i * res + j) * res + k] = density(-bound + 2 bound (i, j, k) / (res - 1)), for marching
// cubes. Evaluates in chunks of `chunk` points with a workspace sized for `chunk`.
void vkd_nerf_field_density_grid(vkd_nerf_field* f, vkd_stream* s, vkd_addr out /* (res^3,) */, uint32_t res,
                                 float bound, vkd_addr workspace, uint32_t chunk);

// Float64 references on a resolved desc (vkd_nerf_field_resolve); rgb / d_rgb / d_positions may be NULL.
void vkd_ref_nerf_field_forward(double* density, double* rgb, const double* params, const double* positions, uint64_t n,
                                const vkd_nerf_field_desc* desc);
void vkd_ref_nerf_field_backward(double* d_params, double* d_positions, const double* d_density, const double* d_rgb,
                                 const double* params, const double* positions, uint64_t n,
                                 const vkd_nerf_field_desc* desc);
void vkd_ref_nerf_field_fd_grad_forward(double* grad, const double* params, const double* positions, uint64_t n,
                                        double eps, const vkd_nerf_field_desc* desc);
void vkd_ref_nerf_field_fd_grad_backward(double* d_params, const double* d_grad, const double* params,
                                         const double* positions, uint64_t n, double eps,
                                         const vkd_nerf_field_desc* desc);

#ifdef __cplusplus
}
#endif
#endif
