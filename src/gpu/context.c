// Vulkan instance and device: pick a device, enable what the kernels need, and
// report clear errors when the loader, the device or a feature is missing.
#include "gpu_internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

const char* vkd_vk_result_name(VkResult r) {
    switch (r) {
#define R(x) case x: return #x;
    R(VK_SUCCESS) R(VK_NOT_READY) R(VK_TIMEOUT) R(VK_INCOMPLETE)
    R(VK_ERROR_OUT_OF_HOST_MEMORY) R(VK_ERROR_OUT_OF_DEVICE_MEMORY) R(VK_ERROR_INITIALIZATION_FAILED)
    R(VK_ERROR_DEVICE_LOST) R(VK_ERROR_MEMORY_MAP_FAILED) R(VK_ERROR_LAYER_NOT_PRESENT)
    R(VK_ERROR_EXTENSION_NOT_PRESENT) R(VK_ERROR_FEATURE_NOT_PRESENT) R(VK_ERROR_INCOMPATIBLE_DRIVER)
    R(VK_ERROR_TOO_MANY_OBJECTS) R(VK_ERROR_FORMAT_NOT_SUPPORTED) R(VK_ERROR_FRAGMENTED_POOL)
    R(VK_ERROR_OUT_OF_POOL_MEMORY) R(VK_ERROR_INVALID_SHADER_NV) R(VK_ERROR_UNKNOWN)
#undef R
    default: return "VkResult(?)";
    }
}

vkd_status vkd_vk_error(vkd_error* err, VkResult r, const char* what) {
    vkd_status st = VKD_ERR_GPU;
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) st = VKD_ERR_OUT_OF_MEMORY;
    return vkd_error_set(err, st, "%s failed: %s (%d)", what, vkd_vk_result_name(r), (int)r);
}

const char* vkd_device_kind_name(vkd_device_kind kind) {
    switch (kind) {
    case VKD_DEVICE_CPU: return "cpu";
    case VKD_DEVICE_VIRTUAL: return "virtual";
    case VKD_DEVICE_INTEGRATED: return "integrated";
    case VKD_DEVICE_DISCRETE: return "discrete";
    default: return "other";
    }
}

static vkd_device_kind kind_of(VkPhysicalDeviceType t) {
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return VKD_DEVICE_DISCRETE;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return VKD_DEVICE_INTEGRATED;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return VKD_DEVICE_VIRTUAL;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return VKD_DEVICE_CPU;
    default: return VKD_DEVICE_OTHER;
    }
}

static bool env_flag(const char* name) {
    const char* v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

static VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                     VkDebugUtilsMessageTypeFlagsEXT type,
                                                     const VkDebugUtilsMessengerCallbackDataEXT* data,
                                                     void* user) {
    vkd_gpu* gpu = user;
    bool counts = (type & (VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT)) &&
                  (severity & (VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT));
    if (counts) atomic_fetch_add(&gpu->validation_messages, 1);
    if (counts || (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT))
        fprintf(stderr, "vkdream: validation: %s\n", data->pMessage);
    return VK_FALSE;
}

static bool layer_available(const char* name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS) return false;
    VkLayerProperties* props = calloc(n ? n : 1, sizeof *props);
    if (!props) return false;
    vkEnumerateInstanceLayerProperties(&n, props);
    bool found = false;
    for (uint32_t i = 0; i < n && !found; i++) found = strcmp(props[i].layerName, name) == 0;
    free(props);
    return found;
}

static bool instance_extension_available(const char* name) {
    uint32_t n = 0;
    if (vkEnumerateInstanceExtensionProperties(NULL, &n, NULL) != VK_SUCCESS) return false;
    VkExtensionProperties* props = calloc(n ? n : 1, sizeof *props);
    if (!props) return false;
    vkEnumerateInstanceExtensionProperties(NULL, &n, props);
    bool found = false;
    for (uint32_t i = 0; i < n && !found; i++) found = strcmp(props[i].extensionName, name) == 0;
    free(props);
    return found;
}

static bool device_extension_available(VkPhysicalDevice pd, const char* name) {
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS) return false;
    VkExtensionProperties* props = calloc(n ? n : 1, sizeof *props);
    if (!props) return false;
    vkEnumerateDeviceExtensionProperties(pd, NULL, &n, props);
    bool found = false;
    for (uint32_t i = 0; i < n && !found; i++) found = strcmp(props[i].extensionName, name) == 0;
    free(props);
    return found;
}

static vkd_status create_instance(VkInstance* out, bool validation, const char* const* extra, uint32_t extra_count,
                                  bool* debug_utils, vkd_error* err) {
    vkd_status st = vkd_vk_load(err);
    if (st) return st;
    uint32_t version = 0;
    // vkEnumerateInstanceVersion exists from 1.1; a 1.0 loader cannot run us anyway.
    if (vkEnumerateInstanceVersion(&version) != VK_SUCCESS || version < VK_API_VERSION_1_2)
        return vkd_error_set(err, VKD_ERR_NO_VULKAN,
                             "the Vulkan loader supports only version %u.%u; vkdream needs 1.2 or newer "
                             "(install a current libvulkan1)",
                             VK_API_VERSION_MAJOR(version), VK_API_VERSION_MINOR(version));
    const char* layers[1];
    uint32_t layer_count = 0;
    if (validation) layers[layer_count++] = VALIDATION_LAYER;
    const char* exts[32];
    uint32_t ext_count = 0;
    *debug_utils = instance_extension_available(VK_EXT_DEBUG_UTILS_EXTENSION_NAME);
    if (*debug_utils) exts[ext_count++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    // The window system's extensions (presenting); duplicates of ours are skipped.
    for (uint32_t i = 0; i < extra_count; i++) {
        bool dup = false;
        for (uint32_t j = 0; j < ext_count && !dup; j++) dup = strcmp(exts[j], extra[i]) == 0;
        if (dup) continue;
        if (ext_count == sizeof exts / sizeof exts[0])
            return vkd_error_set(err, VKD_ERR_INVALID, "too many instance extensions asked for (%u)", extra_count);
        if (!instance_extension_available(extra[i]))
            return vkd_error_set(err, VKD_ERR_NO_VULKAN,
                                 "the Vulkan instance extension %s (needed to present to a window) is not "
                                 "available: update the Vulkan loader and driver, or run headless",
                                 extra[i]);
        exts[ext_count++] = extra[i];
    }
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "vkdream",
        .applicationVersion = VK_MAKE_API_VERSION(0, 0, 1, 0),
        .pEngineName = "vkdream",
        .apiVersion = version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3 : VK_API_VERSION_1_2,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pApplicationInfo = &app,
        .enabledLayerCount = layer_count,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = ext_count,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = vkCreateInstance(&ci, NULL, out);
    if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
        return vkd_error_set(err, VKD_ERR_NO_VULKAN,
                             "no Vulkan driver found: install your GPU's Vulkan driver, or Mesa's CPU "
                             "driver lavapipe (Debian: apt-get install mesa-vulkan-drivers)");
    if (r != VK_SUCCESS) return vkd_vk_error(err, r, "vkCreateInstance");
    return VKD_OK;
}

// Why a device cannot run vkdream, or NULL if it can.
static const char* device_unusable(VkPhysicalDevice pd) {
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(pd, &props);
    if (props.apiVersion < VK_API_VERSION_1_2) return "Vulkan 1.2 not supported";
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f12};
    vkGetPhysicalDeviceFeatures2(pd, &f2);
    if (!f12.bufferDeviceAddress) return "no bufferDeviceAddress";
    if (!f12.scalarBlockLayout) return "no scalarBlockLayout";
    if (!f2.features.shaderInt64) return "no shaderInt64";
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, NULL);
    VkQueueFamilyProperties q[32];
    if (nq > 32) nq = 32;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, q);
    for (uint32_t i = 0; i < nq; i++)
        if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) return NULL;
    return "no compute queue";
}

static int kind_score(vkd_device_kind k) {
    switch (k) {
    case VKD_DEVICE_DISCRETE: return 4;
    case VKD_DEVICE_INTEGRATED: return 3;
    case VKD_DEVICE_VIRTUAL: return 2;
    case VKD_DEVICE_CPU: return 1;
    default: return 0;
    }
}

static bool name_matches(const char* name, const char* want) {
    size_t n = strlen(name), m = strlen(want);
    for (size_t i = 0; i + m <= n; i++) {
        size_t j = 0;
        while (j < m && tolower((unsigned char)name[i + j]) == tolower((unsigned char)want[j])) j++;
        if (j == m) return true;
    }
    return false;
}

static vkd_status enumerate(VkInstance inst, VkPhysicalDevice** pds, uint32_t* n, vkd_error* err) {
    VkResult r = vkEnumeratePhysicalDevices(inst, n, NULL);
    if (r != VK_SUCCESS) return vkd_vk_error(err, r, "vkEnumeratePhysicalDevices");
    if (*n == 0)
        return vkd_error_set(err, VKD_ERR_NO_VULKAN,
                             "no Vulkan device found: install a Vulkan driver for your GPU, or Mesa's "
                             "lavapipe for the CPU (Debian: apt-get install mesa-vulkan-drivers)");
    *pds = calloc(*n, sizeof **pds);
    if (!*pds) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory listing devices");
    r = vkEnumeratePhysicalDevices(inst, n, *pds);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return vkd_vk_error(err, r, "vkEnumeratePhysicalDevices");
    return VKD_OK;
}

static vkd_status pick_device(VkInstance inst, const char* want, uint32_t* index, VkPhysicalDevice* out,
                              vkd_error* err) {
    VkPhysicalDevice* pds = NULL;
    uint32_t n = 0;
    vkd_status st = enumerate(inst, &pds, &n, err);
    if (st) {
        free(pds);
        return st;
    }
    int best = -1, best_score = -1;
    if (want && *want) {
        char* end = NULL;
        long idx = strtol(want, &end, 10);
        bool by_index = end && *end == '\0';
        for (uint32_t i = 0; i < n; i++) {
            VkPhysicalDeviceProperties p;
            vkGetPhysicalDeviceProperties(pds[i], &p);
            if (by_index ? (long)i == idx : name_matches(p.deviceName, want)) {
                const char* why = device_unusable(pds[i]);
                if (why) {
                    vkd_error_set(err, VKD_ERR_NO_VULKAN, "device %u (%s) was asked for but cannot run vkdream: %s",
                                  i, p.deviceName, why);
                    free(pds);
                    return VKD_ERR_NO_VULKAN;
                }
                best = (int)i;
                break;
            }
        }
        if (best < 0) {
            vkd_error_set(err, VKD_ERR_NO_VULKAN,
                          "no Vulkan device matches '%s' (of %u devices; run `vkdream info --list` to see them)",
                          want, n);
            free(pds);
            return VKD_ERR_NO_VULKAN;
        }
    } else {
        for (uint32_t i = 0; i < n; i++) {
            if (device_unusable(pds[i])) continue;
            VkPhysicalDeviceProperties p;
            vkGetPhysicalDeviceProperties(pds[i], &p);
            int score = kind_score(kind_of(p.deviceType));
            if (score > best_score) best_score = score, best = (int)i;
        }
        if (best < 0) {
            VkPhysicalDeviceProperties p;
            vkGetPhysicalDeviceProperties(pds[0], &p);
            vkd_error_set(err, VKD_ERR_NO_VULKAN,
                          "none of the %u Vulkan devices can run vkdream (e.g. %s: %s); it needs Vulkan 1.2 "
                          "with bufferDeviceAddress, scalarBlockLayout and shaderInt64",
                          n, p.deviceName, device_unusable(pds[0]));
            free(pds);
            return VKD_ERR_NO_VULKAN;
        }
    }
    *index = (uint32_t)best;
    *out = pds[best];
    free(pds);
    return VKD_OK;
}

vkd_status vkd_gpu_list_devices(FILE* f, vkd_error* err) {
    VkInstance inst;
    bool dbg;
    vkd_status st = create_instance(&inst, false, NULL, 0, &dbg, err);
    if (st) return st;
    VkPhysicalDevice* pds = NULL;
    uint32_t n = 0;
    st = enumerate(inst, &pds, &n, err);
    for (uint32_t i = 0; st == VKD_OK && i < n; i++) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(pds[i], &p);
        const char* why = device_unusable(pds[i]);
        fprintf(f, "  [%u] %-40s %-10s Vulkan %u.%u  %s%s\n", i, p.deviceName,
                vkd_device_kind_name(kind_of(p.deviceType)), VK_API_VERSION_MAJOR(p.apiVersion),
                VK_API_VERSION_MINOR(p.apiVersion), why ? "unusable: " : "usable", why ? why : "");
    }
    free(pds);
    vkDestroyInstance(inst, NULL);
    return st;
}

static uint32_t find_memory_type(const VkPhysicalDeviceMemoryProperties* mp, VkMemoryPropertyFlags want,
                                 VkMemoryPropertyFlags avoid) {
    for (uint32_t i = 0; i < mp->memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mp->memoryTypes[i].propertyFlags;
        if ((f & want) == want && !(f & avoid)) return i;
    }
    return UINT32_MAX;
}

static void fill_info(vkd_gpu* gpu, uint32_t index, bool budget_ext) {
    vkd_gpu_info* info = &gpu->info;
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES,
                                             .pNext = &drv};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sg};
    vkGetPhysicalDeviceProperties2(gpu->physical, &p2);
    const VkPhysicalDeviceProperties* p = &p2.properties;
    snprintf(info->name, sizeof info->name, "%s", p->deviceName);
    snprintf(info->driver, sizeof info->driver, "%.120s %.120s", drv.driverName, drv.driverInfo);
    info->api_version = p->apiVersion;
    info->vendor_id = p->vendorID;
    info->device_id = p->deviceID;
    info->index = index;
    info->kind = kind_of(p->deviceType);
    info->subgroup_size = sg.subgroupSize;
    info->max_shared_memory = p->limits.maxComputeSharedMemorySize;
    info->max_workgroup_invocations = p->limits.maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; i++) info->max_workgroup_count[i] = p->limits.maxComputeWorkGroupCount[i];
    info->max_storage_buffer_range = p->limits.maxStorageBufferRange;
    info->timestamp_period_ns = p->limits.timestampPeriod;

    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 p2b = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
    vkGetPhysicalDeviceProperties2(gpu->physical, &p2b);
    info->max_allocation_bytes = m3.maxMemoryAllocationSize;

    VkPhysicalDeviceMemoryBudgetPropertiesEXT budget = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_BUDGET_PROPERTIES_EXT};
    VkPhysicalDeviceMemoryProperties2 mp2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MEMORY_PROPERTIES_2,
                                             .pNext = budget_ext ? &budget : NULL};
    vkGetPhysicalDeviceMemoryProperties2(gpu->physical, &mp2);
    const VkPhysicalDeviceMemoryProperties* mp = &mp2.memoryProperties;
    for (uint32_t h = 0; h < mp->memoryHeapCount; h++) {
        if (!(mp->memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)) continue;
        if (mp->memoryHeaps[h].size > info->device_local_bytes) {
            info->device_local_bytes = mp->memoryHeaps[h].size;
            info->budget_bytes = budget_ext ? budget.heapBudget[h] : mp->memoryHeaps[h].size;
        }
    }
}

static vkd_status create_device(vkd_gpu* gpu, const vkd_gpu_desc* desc, bool* budget_ext, vkd_error* err) {
    VkPhysicalDevice pd = gpu->physical;
    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, NULL);
    VkQueueFamilyProperties q[32];
    if (nq > 32) nq = 32;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &nq, q);
    uint32_t family = UINT32_MAX;
    // Presenting: one queue for compute and present, so the frame a kernel wrote is copied to
    // the swapchain image without a queue-family ownership transfer.
    bool present = desc->present && vkd_vk_present_loaded() &&
                   device_extension_available(pd, VK_KHR_SWAPCHAIN_EXTENSION_NAME);
    for (uint32_t i = 0; present && i < nq && family == UINT32_MAX; i++) {
        if (!(q[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
        bool can = desc->present_support ? desc->present_support(desc->present_user, gpu->instance, pd, i)
                                         : (q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) != 0;
        if (can) family = i;
    }
    present = family != UINT32_MAX;
    // Otherwise prefer a compute-only family (async compute on discrete GPUs), else any with compute.
    for (uint32_t i = 0; i < nq && family == UINT32_MAX; i++)
        if ((q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) && !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) {
            family = i;
            break;
        }
    for (uint32_t i = 0; i < nq && family == UINT32_MAX; i++)
        if (q[i].queueFlags & VK_QUEUE_COMPUTE_BIT) family = i;
    gpu->queue_family = family;
    gpu->timestamp_mask = q[family].timestampValidBits >= 64 ? ~0ull : ((1ull << q[family].timestampValidBits) - 1);

    VkPhysicalDeviceVulkan11Features a11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    VkPhysicalDeviceVulkan12Features a12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                            .pNext = &a11};
    VkPhysicalDeviceFeatures2 avail = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &a12};
    vkGetPhysicalDeviceFeatures2(pd, &avail);

    VkPhysicalDeviceShaderAtomicFloatFeaturesEXT atomics = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT};
    bool atomic_ext = device_extension_available(pd, VK_EXT_SHADER_ATOMIC_FLOAT_EXTENSION_NAME);
    if (atomic_ext) {
        VkPhysicalDeviceFeatures2 f = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &atomics};
        vkGetPhysicalDeviceFeatures2(pd, &f);
        atomics.pNext = NULL;
        atomic_ext = atomics.shaderBufferFloat32AtomicAdd;
    }
    *budget_ext = device_extension_available(pd, VK_EXT_MEMORY_BUDGET_EXTENSION_NAME);

    VkPhysicalDeviceVulkan11Features e11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
        .storageBuffer16BitAccess = a11.storageBuffer16BitAccess,
    };
    VkPhysicalDeviceVulkan12Features e12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .pNext = &e11,
        .bufferDeviceAddress = VK_TRUE,
        .scalarBlockLayout = VK_TRUE,
        .shaderFloat16 = a12.shaderFloat16,
        .storageBuffer8BitAccess = a12.storageBuffer8BitAccess,
        .shaderInt8 = a12.shaderInt8,
        .hostQueryReset = a12.hostQueryReset,
    };
    VkPhysicalDeviceShaderAtomicFloatFeaturesEXT e_atomics = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_ATOMIC_FLOAT_FEATURES_EXT,
        .shaderBufferFloat32AtomicAdd = VK_TRUE,
    };
    if (atomic_ext) e11.pNext = &e_atomics;
    VkPhysicalDeviceFeatures2 enable = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
        .pNext = &e12,
        .features = {.shaderInt64 = VK_TRUE, .shaderInt16 = avail.features.shaderInt16},
    };
    const char* exts[4];
    uint32_t ext_count = 0;
    if (atomic_ext) exts[ext_count++] = VK_EXT_SHADER_ATOMIC_FLOAT_EXTENSION_NAME;
    if (*budget_ext) exts[ext_count++] = VK_EXT_MEMORY_BUDGET_EXTENSION_NAME;
    if (present) exts[ext_count++] = VK_KHR_SWAPCHAIN_EXTENSION_NAME;
    float priority = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = family,
        .queueCount = 1,
        .pQueuePriorities = &priority,
    };
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = &enable,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qci,
        .enabledExtensionCount = ext_count,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = vkCreateDevice(pd, &dci, NULL, &gpu->device);
    if (r != VK_SUCCESS) return vkd_vk_error(err, r, "vkCreateDevice");
    vkGetDeviceQueue(gpu->device, family, 0, &gpu->queue);
    gpu->info.fp16 = a12.shaderFloat16 && a11.storageBuffer16BitAccess;
    gpu->info.float_atomics = atomic_ext;
    gpu->info.present = present;
    return VKD_OK;
}

static vkd_status setup_memory_types(vkd_gpu* gpu, vkd_error* err) {
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(gpu->physical, &mp);
    const VkMemoryPropertyFlags dl = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    // On CPUs and UMA devices device-local memory is mappable: use it directly and skip
    // staging copies. On discrete GPUs the small ReBAR window is left alone.
    uint32_t t = UINT32_MAX;
    if (gpu->info.kind == VKD_DEVICE_CPU || gpu->info.kind == VKD_DEVICE_INTEGRATED)
        t = find_memory_type(&mp, dl | hv, 0);
    gpu->device_memory_mapped = t != UINT32_MAX;
    if (t == UINT32_MAX) t = find_memory_type(&mp, dl, 0);
    if (t == UINT32_MAX) t = find_memory_type(&mp, 0, 0);
    gpu->device_memory_type = t;
    gpu->staging_memory_type = find_memory_type(&mp, hv | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, 0);
    if (gpu->staging_memory_type == UINT32_MAX) gpu->staging_memory_type = find_memory_type(&mp, hv, 0);
    if (t == UINT32_MAX || gpu->staging_memory_type == UINT32_MAX)
        return vkd_error_set(err, VKD_ERR_NO_VULKAN, "device %s has no usable memory type", gpu->info.name);
    gpu->info.host_visible_device_memory = gpu->device_memory_mapped;
    return VKD_OK;
}

static vkd_status create_shared_objects(vkd_gpu* gpu, vkd_error* err) {
    VkPushConstantRange range = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = 128};
    VkPipelineLayoutCreateInfo lci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &range,
    };
    VkResult r = vkCreatePipelineLayout(gpu->device, &lci, NULL, &gpu->layout);
    if (r != VK_SUCCESS) return vkd_vk_error(err, r, "vkCreatePipelineLayout");
    VkPipelineCacheCreateInfo pcci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
    r = vkCreatePipelineCache(gpu->device, &pcci, NULL, &gpu->pipeline_cache);
    if (r != VK_SUCCESS) return vkd_vk_error(err, r, "vkCreatePipelineCache");
    VkCommandPoolCreateInfo cpci = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = gpu->queue_family,
    };
    r = vkCreateCommandPool(gpu->device, &cpci, NULL, &gpu->transfer_pool);
    if (r != VK_SUCCESS) return vkd_vk_error(err, r, "vkCreateCommandPool");
    VkCommandBufferAllocateInfo cbai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = gpu->transfer_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    r = vkAllocateCommandBuffers(gpu->device, &cbai, &gpu->transfer_cmd);
    if (r != VK_SUCCESS) return vkd_vk_error(err, r, "vkAllocateCommandBuffers");
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    r = vkCreateFence(gpu->device, &fci, NULL, &gpu->transfer_fence);
    if (r != VK_SUCCESS) return vkd_vk_error(err, r, "vkCreateFence");
    return VKD_OK;
}

vkd_status vkd_gpu_create(const vkd_gpu_desc* desc_in, vkd_gpu** out, vkd_error* err) {
    vkd_gpu_desc desc = desc_in ? *desc_in : (vkd_gpu_desc){0};
    *out = NULL;
    vkd_status loaded = vkd_vk_load(err);
    if (loaded) return loaded;
    bool validation = desc.validation || desc.require_validation || env_flag("VKD_VALIDATION");
    if (validation && !layer_available(VALIDATION_LAYER)) {
        if (desc.require_validation)
            return vkd_error_set(err, VKD_ERR_NO_VULKAN,
                                 "the Khronos validation layer is required but not installed "
                                 "(Debian: apt-get install vulkan-validationlayers)");
        fprintf(stderr, "vkdream: warning: validation layer not installed, running without it\n");
        validation = false;
    }
    vkd_gpu* gpu = calloc(1, sizeof *gpu);
    if (!gpu) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
    atomic_init(&gpu->validation_messages, 0);
    bool debug_utils = false, budget_ext = false;
    vkd_status st = create_instance(&gpu->instance, validation, desc.instance_extensions,
                                    desc.instance_extension_count, &debug_utils, err);
    if (st) goto fail;
    if (debug_utils && validation) {
        PFN_vkCreateDebugUtilsMessengerEXT create =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(gpu->instance, "vkCreateDebugUtilsMessengerEXT");
        VkDebugUtilsMessengerCreateInfoEXT mci = {
            .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
            .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                               VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
            .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
            .pfnUserCallback = debug_callback,
            .pUserData = gpu,
        };
        if (create) create(gpu->instance, &mci, NULL, &gpu->messenger);
    }
    gpu->info.validation = validation;
    const char* want = desc.device ? desc.device : getenv("VKD_DEVICE");
    uint32_t index = 0;
    st = pick_device(gpu->instance, want, &index, &gpu->physical, err);
    if (st) goto fail;
    st = create_device(gpu, &desc, &budget_ext, err);
    if (st) goto fail;
    fill_info(gpu, index, budget_ext);
    st = setup_memory_types(gpu, err);
    if (st) goto fail;
    st = create_shared_objects(gpu, err);
    if (st) goto fail;
    gpu->block_size = desc.block_size ? desc.block_size : (VkDeviceSize)256 << 20;
    if (gpu->info.max_allocation_bytes && gpu->block_size > gpu->info.max_allocation_bytes)
        gpu->block_size = gpu->info.max_allocation_bytes;
    gpu->profile = desc.profile || env_flag("VKD_PROFILE");
    if (desc.verbose)
        fprintf(stderr, "vkdream: device %u: %s (%s, %s)%s\n", index, gpu->info.name,
                vkd_device_kind_name(gpu->info.kind), gpu->info.driver, validation ? ", validation on" : "");
    *out = gpu;
    return VKD_OK;
fail:
    vkd_gpu_destroy(gpu);
    return st;
}

void vkd_gpu_destroy(vkd_gpu* gpu) {
    if (!gpu) return;
    if (gpu->device) {
        vkDeviceWaitIdle(gpu->device);
        if (gpu->profile && gpu->profile_count) vkd_gpu_profile_print(gpu, stderr);
        vkd_gpu_pipelines_destroy(gpu);
        vkd_gpu_memory_destroy(gpu);
        if (gpu->transfer_fence) vkDestroyFence(gpu->device, gpu->transfer_fence, NULL);
        if (gpu->transfer_pool) vkDestroyCommandPool(gpu->device, gpu->transfer_pool, NULL);
        if (gpu->pipeline_cache) vkDestroyPipelineCache(gpu->device, gpu->pipeline_cache, NULL);
        if (gpu->layout) vkDestroyPipelineLayout(gpu->device, gpu->layout, NULL);
        vkDestroyDevice(gpu->device, NULL);
    }
    if (gpu->messenger) {
        PFN_vkDestroyDebugUtilsMessengerEXT destroy = (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(
            gpu->instance, "vkDestroyDebugUtilsMessengerEXT");
        if (destroy) destroy(gpu->instance, gpu->messenger, NULL);
    }
    if (gpu->instance) vkDestroyInstance(gpu->instance, NULL);
    free(gpu->profile_rows);
    free(gpu);
}

const vkd_gpu_info* vkd_gpu_get_info(const vkd_gpu* gpu) { return &gpu->info; }

void vkd_gpu_vk_handles(const vkd_gpu* gpu, vkd_gpu_vk* out) {
    *out = (vkd_gpu_vk){
        .instance = gpu->instance,
        .physical_device = gpu->physical,
        .device = gpu->device,
        .queue = gpu->queue,
        .queue_family = gpu->queue_family,
    };
}

uint32_t vkd_gpu_validation_messages(const vkd_gpu* gpu) {
    return atomic_load(&((vkd_gpu*)gpu)->validation_messages);
}
