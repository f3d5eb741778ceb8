// Private state of the GPU layer, shared by the files of src/gpu/.
#ifndef VKD_GPU_INTERNAL_H
#define VKD_GPU_INTERNAL_H

#include "vkdream/gpu.h"

#include "vk.h"
#include <stdatomic.h>

typedef struct vkd_block {
    VkDeviceMemory memory;
    VkBuffer buffer;
    vkd_addr addr;
    VkDeviceSize size;
    void* host;           // persistent mapping, NULL if not host-visible
    bool dedicated;       // released as soon as its one allocation is freed
    // Free ranges sorted by offset, coalesced on free.
    struct vkd_range { VkDeviceSize offset, size; }* free;
    uint32_t free_count, free_cap;
    bool in_use;          // slot holds a live block
} vkd_block;

typedef struct vkd_pipeline {
    const uint32_t* spv;
    uint32_t spec[VKD_MAX_SPEC];
    uint32_t spec_count;
    const char* name;
    VkPipeline pipeline;
    uint32_t profile_slot;
} vkd_pipeline;

typedef struct vkd_profile_row {
    const char* name;
    uint64_t calls;
    double total_ns;
} vkd_profile_row;

struct vkd_gpu {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice physical;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    vkd_gpu_info info;
    uint64_t timestamp_mask;

    atomic_uint validation_messages;

    // Memory: device-local type for everything; a host-visible one for staging.
    uint32_t device_memory_type;
    uint32_t staging_memory_type;
    bool device_memory_mapped;
    VkDeviceSize block_size;
    vkd_block* blocks;
    uint32_t block_count, block_cap;
    uint64_t allocated_bytes, peak_allocated_bytes;

    // Staging for uploads/downloads when device memory is not mappable.
    VkBuffer staging_buffer;
    VkDeviceMemory staging_memory;
    void* staging_host;
    VkDeviceSize staging_size;
    VkCommandPool transfer_pool;
    VkCommandBuffer transfer_cmd;
    VkFence transfer_fence;

    // Kernels: one layout (128 bytes of push constants, no descriptor sets) for all.
    VkPipelineLayout layout;
    VkPipelineCache pipeline_cache;
    vkd_pipeline* pipelines;  // open-addressing hash table
    uint32_t pipeline_cap, pipeline_count;

    // Profiling.
    bool profile;
    vkd_profile_row* profile_rows;
    uint32_t profile_count, profile_cap;
};

// Returns the pipeline for a kernel, building it on first use. NULL on failure (err filled).
vkd_pipeline* vkd_gpu_pipeline(vkd_gpu* gpu, const vkd_kernel_desc* kernel, vkd_error* err);
void vkd_gpu_pipelines_destroy(vkd_gpu* gpu);
uint32_t vkd_gpu_profile_slot(vkd_gpu* gpu, const char* name);
void vkd_gpu_memory_destroy(vkd_gpu* gpu);
vkd_status vkd_vk_error(vkd_error* err, VkResult r, const char* what);
const char* vkd_vk_result_name(VkResult r);

#endif
