// Pipelines built from embedded SPIR-V on first use and cached per (module, spec constants).
#include "gpu_internal.h"

#include <stdlib.h>
#include <string.h>

static uint64_t kernel_hash(const vkd_kernel_desc* k) {
    uint64_t h = (uint64_t)(uintptr_t)k->spv * 0x9E3779B97F4A7C15ull;
    for (uint32_t i = 0; i < k->spec_count; i++) h = (h ^ k->spec[i]) * 0x100000001B3ull;
    return h ^ (h >> 29);
}

static bool kernel_equal(const vkd_pipeline* p, const vkd_kernel_desc* k) {
    return p->spv == k->spv && p->spec_count == k->spec_count &&
           memcmp(p->spec, k->spec, k->spec_count * sizeof k->spec[0]) == 0;
}

static vkd_status build(vkd_gpu* gpu, const vkd_kernel_desc* k, VkPipeline* out, vkd_error* err) {
    VkShaderModuleCreateInfo smci = {
        .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
        .codeSize = k->spv_size,
        .pCode = k->spv,
    };
    VkShaderModule module;
    VkResult r = vkCreateShaderModule(gpu->device, &smci, NULL, &module);
    if (r != VK_SUCCESS)
        return vkd_error_set(err, VKD_ERR_GPU, "kernel %s: vkCreateShaderModule failed: %s", k->name,
                             vkd_vk_result_name(r));
    VkSpecializationMapEntry entries[VKD_MAX_SPEC];
    for (uint32_t i = 0; i < k->spec_count; i++)
        entries[i] = (VkSpecializationMapEntry){.constantID = i, .offset = i * 4, .size = 4};
    VkSpecializationInfo spec = {
        .mapEntryCount = k->spec_count,
        .pMapEntries = entries,
        .dataSize = k->spec_count * 4,
        .pData = k->spec,
    };
    VkComputePipelineCreateInfo cpci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {
            .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
            .stage = VK_SHADER_STAGE_COMPUTE_BIT,
            .module = module,
            .pName = "main",
            .pSpecializationInfo = k->spec_count ? &spec : NULL,
        },
        .layout = gpu->layout,
    };
    r = vkCreateComputePipelines(gpu->device, gpu->pipeline_cache, 1, &cpci, NULL, out);
    vkDestroyShaderModule(gpu->device, module, NULL);
    if (r != VK_SUCCESS)
        return vkd_error_set(err, r == VK_ERROR_OUT_OF_HOST_MEMORY || r == VK_ERROR_OUT_OF_DEVICE_MEMORY
                                      ? VKD_ERR_OUT_OF_MEMORY : VKD_ERR_GPU,
                             "kernel %s: building the compute pipeline failed: %s", k->name, vkd_vk_result_name(r));
    return VKD_OK;
}

static bool grow(vkd_gpu* gpu) {
    uint32_t cap = gpu->pipeline_cap ? gpu->pipeline_cap * 2 : 64;
    vkd_pipeline* table = calloc(cap, sizeof *table);
    if (!table) return false;
    for (uint32_t i = 0; i < gpu->pipeline_cap; i++) {
        vkd_pipeline* p = &gpu->pipelines[i];
        if (!p->spv) continue;
        vkd_kernel_desc k = {.spv = p->spv, .spec_count = p->spec_count};
        memcpy(k.spec, p->spec, sizeof k.spec);
        uint32_t j = (uint32_t)kernel_hash(&k) & (cap - 1);
        while (table[j].spv) j = (j + 1) & (cap - 1);
        table[j] = *p;
    }
    free(gpu->pipelines);
    gpu->pipelines = table;
    gpu->pipeline_cap = cap;
    return true;
}

vkd_pipeline* vkd_gpu_pipeline(vkd_gpu* gpu, const vkd_kernel_desc* k, vkd_error* err) {
    if (!k->spv || k->spv_size < 20 || k->spec_count > VKD_MAX_SPEC) {
        vkd_error_set(err, VKD_ERR_INVALID, "kernel %s: no SPIR-V or too many specialization constants",
                      k->name ? k->name : "?");
        return NULL;
    }
    if (gpu->pipeline_cap) {
        uint32_t j = (uint32_t)kernel_hash(k) & (gpu->pipeline_cap - 1);
        while (gpu->pipelines[j].spv) {
            if (kernel_equal(&gpu->pipelines[j], k)) return &gpu->pipelines[j];
            j = (j + 1) & (gpu->pipeline_cap - 1);
        }
    }
    // Keep the load factor under one half.
    if ((gpu->pipeline_count + 1) * 2 > gpu->pipeline_cap && !grow(gpu)) {
        vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory caching kernel %s", k->name);
        return NULL;
    }
    VkPipeline pipeline;
    if (build(gpu, k, &pipeline, err)) return NULL;
    uint32_t j = (uint32_t)kernel_hash(k) & (gpu->pipeline_cap - 1);
    while (gpu->pipelines[j].spv) j = (j + 1) & (gpu->pipeline_cap - 1);
    vkd_pipeline* p = &gpu->pipelines[j];
    p->spv = k->spv;
    memcpy(p->spec, k->spec, sizeof p->spec);
    p->spec_count = k->spec_count;
    p->name = k->name;
    p->pipeline = pipeline;
    p->profile_slot = vkd_gpu_profile_slot(gpu, k->name);
    gpu->pipeline_count++;
    return p;
}

vkd_status vkd_kernel_prepare(vkd_gpu* gpu, const vkd_kernel_desc* kernel, vkd_error* err) {
    return vkd_gpu_pipeline(gpu, kernel, err) ? VKD_OK : (err ? err->status : VKD_ERR_GPU);
}

void vkd_gpu_pipelines_destroy(vkd_gpu* gpu) {
    for (uint32_t i = 0; i < gpu->pipeline_cap; i++)
        if (gpu->pipelines[i].spv) vkDestroyPipeline(gpu->device, gpu->pipelines[i].pipeline, NULL);
    free(gpu->pipelines);
    gpu->pipelines = NULL;
    gpu->pipeline_cap = gpu->pipeline_count = 0;
}
