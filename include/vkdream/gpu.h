// vkdream GPU layer: one Vulkan device, one compute queue, buffers addressed by
// buffer device address, kernels built from embedded SPIR-V, and command streams
// that batch many dispatches per submit.
//
// Kernels take raw device addresses in push constants (no descriptor sets), so a
// "tensor" on the device is just a vkd_addr plus the shape its caller knows.
#ifndef VKDREAM_GPU_H
#define VKDREAM_GPU_H

#include "vkdream/base.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef uint64_t vkd_addr; // a buffer device address; 0 means "none"

typedef struct vkd_gpu vkd_gpu;
typedef struct vkd_stream vkd_stream;

// ---------------------------------------------------------------------------
// Context

typedef struct vkd_gpu_desc {
    // Device by index ("1") or by a case-insensitive substring of its name ("llvmpipe").
    // NULL: $VKD_DEVICE if set, else the best one (discrete > integrated > virtual > CPU).
    const char* device;
    // Enable VK_LAYER_KHRONOS_validation. Also switched on by $VKD_VALIDATION=1.
    bool validation;
    // Fail creation when the validation layer is missing (the tests need it).
    bool require_validation;
    // Record per-kernel timestamps and print a table on destroy. Also $VKD_PROFILE=1.
    bool profile;
    // Device memory is suballocated from blocks of this size. 0 = 256 MiB.
    size_t block_size;
    // Print which device was chosen and why to stderr.
    bool verbose;

    // Presenting to a window (the viewer); all zero for compute only, which is unchanged by them.
    // Instance extensions to enable besides vkdream's own: the window system's, e.g. GLFW's
    // glfwGetRequiredInstanceExtensions(). Creation fails, naming it, when one is missing.
    const char* const* instance_extensions;
    uint32_t instance_extension_count;
    // Enable VK_KHR_swapchain and use a queue family that runs compute and can present.
    // present_support(user, VkInstance, VkPhysicalDevice, family) answers "can this family
    // present?" (GLFW's glfwGetPhysicalDevicePresentationSupport fits, handles passed as void*);
    // NULL takes families with graphics (they present on every desktop platform). When no
    // family qualifies, the device lacks VK_KHR_swapchain or the loader the WSI entry points,
    // the context is created as without `present` and vkd_gpu_info.present is false: the
    // caller falls back to headless.
    bool present;
    bool (*present_support)(void* user, void* instance, void* physical_device, uint32_t family);
    void* present_user;
} vkd_gpu_desc;

typedef enum vkd_device_kind {
    VKD_DEVICE_OTHER = 0,
    VKD_DEVICE_CPU,
    VKD_DEVICE_VIRTUAL,
    VKD_DEVICE_INTEGRATED,
    VKD_DEVICE_DISCRETE,
} vkd_device_kind;

typedef struct vkd_gpu_info {
    char name[256];
    char driver[256];        // driver name and info string
    uint32_t api_version;    // VK_MAKE_API_VERSION packed
    uint32_t vendor_id, device_id;
    uint32_t index;          // physical device index as enumerated
    vkd_device_kind kind;
    uint64_t device_local_bytes;  // size of the largest device-local heap
    uint64_t budget_bytes;        // what the driver says we may use now (VK_EXT_memory_budget), else the heap size
    bool host_visible_device_memory; // device-local memory is mappable (CPU / UMA / ReBAR)
    uint32_t subgroup_size;
    uint32_t max_shared_memory;   // bytes per workgroup
    uint32_t max_workgroup_invocations;
    uint32_t max_workgroup_count[3];
    uint64_t max_storage_buffer_range;
    uint64_t max_allocation_bytes;
    float timestamp_period_ns;
    bool fp16;                    // shaderFloat16 + 16-bit storage
    bool float_atomics;           // atomicAdd on float in buffers (VK_EXT_shader_atomic_float)
    bool validation;              // validation layer active
    bool present;                 // swapchain enabled and the queue can present (desc.present)
} vkd_gpu_info;

vkd_status vkd_gpu_create(const vkd_gpu_desc* desc, vkd_gpu** out, vkd_error* err);
void vkd_gpu_destroy(vkd_gpu* gpu);
const vkd_gpu_info* vkd_gpu_get_info(const vkd_gpu* gpu);
// Lists every physical device (index, name, kind, usable or why not) to f.
vkd_status vkd_gpu_list_devices(FILE* f, vkd_error* err);
// Validation-layer warnings and errors seen since creation (each is also printed to stderr).
uint32_t vkd_gpu_validation_messages(const vkd_gpu* gpu);
// Bytes of device memory currently held by this context (blocks, not just live buffers).
uint64_t vkd_gpu_allocated_bytes(const vkd_gpu* gpu);
uint64_t vkd_gpu_peak_allocated_bytes(const vkd_gpu* gpu);
const char* vkd_device_kind_name(vkd_device_kind kind);
// Runs a tiny kernel end to end (alloc, upload, dispatch, download, compare) and
// reports the subgroup size the kernel observed.
vkd_status vkd_gpu_selfcheck(vkd_gpu* gpu, uint32_t* subgroup_size, vkd_error* err);

// Vulkan handles behind a context, for code that talks to Vulkan itself (the viewer's
// swapchain), typed void* so this header needs no Vulkan headers: cast to VkInstance,
// VkPhysicalDevice, VkDevice, VkQueue. The queue is the one streams submit to; like the rest of
// a context it is used from one thread at a time.
typedef struct vkd_gpu_vk {
    void* instance;
    void* physical_device;
    void* device;
    void* queue;
    uint32_t queue_family;
} vkd_gpu_vk;
void vkd_gpu_vk_handles(const vkd_gpu* gpu, vkd_gpu_vk* out);

// ---------------------------------------------------------------------------
// Buffers. Suballocated from big blocks; `addr` is what kernels take.

typedef struct vkd_buffer {
    vkd_addr addr;
    size_t size;
    void* host;        // mapped pointer when device memory is host-visible, else NULL
    uint32_t block;    // owning block (allocator bookkeeping)
    size_t offset;     // offset inside that block
} vkd_buffer;

// Contents are undefined after allocation. Alignment is 256 bytes.
vkd_status vkd_buffer_alloc(vkd_gpu* gpu, size_t bytes, vkd_buffer* out, vkd_error* err);
void vkd_buffer_free(vkd_gpu* gpu, vkd_buffer* buf);
// The VkBuffer holding buf (a non-dispatchable handle, as uint64_t) and buf's byte offset in it,
// for Vulkan commands on buffers (vkCmdCopyBufferToImage). Valid until buf is freed.
void vkd_buffer_vk_handle(const vkd_gpu* gpu, const vkd_buffer* buf, uint64_t* vk_buffer, uint64_t* offset);
// Synchronous copies; the caller makes sure no submitted work is still using the range.
vkd_status vkd_buffer_upload(vkd_gpu* gpu, const vkd_buffer* buf, size_t offset, const void* src,
                             size_t bytes, vkd_error* err);
vkd_status vkd_buffer_download(vkd_gpu* gpu, const vkd_buffer* buf, size_t offset, void* dst,
                               size_t bytes, vkd_error* err);

// ---------------------------------------------------------------------------
// Kernels: an embedded SPIR-V module plus specialization constants. Pipelines
// are built on first use and cached per (module, constants).

#define VKD_MAX_SPEC 8

typedef struct vkd_kernel_desc {
    const char* name;          // for errors and the profile table
    const uint32_t* spv;
    size_t spv_size;           // bytes
    uint32_t spec[VKD_MAX_SPEC]; // value of constant_id i (32-bit: int, uint or float bits)
    uint32_t spec_count;
} vkd_kernel_desc;

// VKD_KERNEL(nn_add) names the shader shaders/nn/add.comp.
#define VKD_KERNEL(sym) ((vkd_kernel_desc){.name = #sym, .spv = vkd_spv_##sym, .spv_size = vkd_spv_##sym##_size})
#define VKD_KERNEL_SPEC(sym, ...)                                                               \
    ((vkd_kernel_desc){.name = #sym, .spv = vkd_spv_##sym, .spv_size = vkd_spv_##sym##_size,    \
                       .spec = {__VA_ARGS__},                                                   \
                       .spec_count = sizeof((uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t)})

// Builds (or finds) the pipeline now, so compile errors surface at a known place.
vkd_status vkd_kernel_prepare(vkd_gpu* gpu, const vkd_kernel_desc* kernel, vkd_error* err);

// ---------------------------------------------------------------------------
// Command streams: record dispatches, then submit and wait. Dispatches in one
// stream run in order: a global memory barrier separates each from the next.
// Recording never fails on its own; the first error (e.g. a pipeline that
// could not be built) is kept and returned by vkd_stream_submit.

vkd_status vkd_stream_create(vkd_gpu* gpu, vkd_stream** out, vkd_error* err);
void vkd_stream_destroy(vkd_stream* s);
vkd_gpu* vkd_stream_gpu(vkd_stream* s);

void vkd_stream_dispatch(vkd_stream* s, vkd_kernel_desc kernel, const void* push, uint32_t push_size,
                         uint32_t groups_x, uint32_t groups_y, uint32_t groups_z);
// Convenience for 1-D kernels written with vkd_global_id() from common.glsl: splits
// ceil(n / local_size) workgroups over x and y so no grid dimension exceeds the device limit.
void vkd_stream_dispatch_1d(vkd_stream* s, vkd_kernel_desc kernel, const void* push, uint32_t push_size,
                            uint64_t n, uint32_t local_size);
// Sets `count` 32-bit words at addr to `value` (a kernel, so it works on any address).
void vkd_stream_fill(vkd_stream* s, vkd_addr addr, uint32_t count, uint32_t value);
// Copies `count` 32-bit words from src to dst (non-overlapping).
void vkd_stream_copy(vkd_stream* s, vkd_addr dst, vkd_addr src, uint32_t count);
// Records a stream-level error (used by ops that detect bad arguments while recording).
void vkd_stream_fail(vkd_stream* s, vkd_status status, const char* fmt, ...) VKD_PRINTF(3, 4);
// Submits what was recorded and waits for it. Returns the first recording error, if any
// (and then submits nothing), or a Vulkan error.
vkd_status vkd_stream_submit(vkd_stream* s, vkd_error* err);

// ---------------------------------------------------------------------------
// Profiling (timestamps around each dispatch while profiling is on).

bool vkd_gpu_profiling(const vkd_gpu* gpu);
void vkd_gpu_profile_reset(vkd_gpu* gpu);
// Prints a table: kernel, calls, total ms, mean us, share.
void vkd_gpu_profile_print(const vkd_gpu* gpu, FILE* f);

#ifdef __cplusplus
}
#endif
#endif
