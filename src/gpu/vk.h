// The Vulkan entry points vkdream uses, loaded at run time from libvulkan.so.1, so a
// machine without the loader gets an error that says what to install instead of a
// dynamic-linker failure before main(). The pointers are written once (pthread_once)
// and read-only afterwards; they are the loader's exported trampolines, valid for
// every instance and device.
#ifndef VKD_GPU_VK_H
#define VKD_GPU_VK_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include "vkdream/base.h"

#define VKD_VK_FUNCTIONS(X)                                                                              \
    X(vkGetInstanceProcAddr) X(vkCreateInstance) X(vkDestroyInstance) X(vkEnumerateInstanceVersion)      \
    X(vkEnumerateInstanceLayerProperties) X(vkEnumerateInstanceExtensionProperties)                      \
    X(vkEnumeratePhysicalDevices) X(vkGetPhysicalDeviceProperties) X(vkGetPhysicalDeviceProperties2)     \
    X(vkGetPhysicalDeviceFeatures2) X(vkGetPhysicalDeviceQueueFamilyProperties)                          \
    X(vkGetPhysicalDeviceMemoryProperties) X(vkGetPhysicalDeviceMemoryProperties2)                       \
    X(vkEnumerateDeviceExtensionProperties) X(vkCreateDevice) X(vkDestroyDevice) X(vkGetDeviceQueue)     \
    X(vkDeviceWaitIdle) X(vkCreateBuffer) X(vkDestroyBuffer) X(vkGetBufferMemoryRequirements)            \
    X(vkAllocateMemory) X(vkFreeMemory) X(vkBindBufferMemory) X(vkMapMemory) X(vkGetBufferDeviceAddress) \
    X(vkCreateCommandPool) X(vkDestroyCommandPool) X(vkAllocateCommandBuffers) X(vkBeginCommandBuffer)   \
    X(vkEndCommandBuffer) X(vkResetCommandBuffer) X(vkCmdPipelineBarrier) X(vkCmdCopyBuffer)             \
    X(vkCmdBindPipeline) X(vkCmdPushConstants) X(vkCmdDispatch) X(vkCmdWriteTimestamp)                   \
    X(vkCmdResetQueryPool) X(vkQueueSubmit) X(vkCreateFence) X(vkDestroyFence) X(vkWaitForFences)        \
    X(vkResetFences) X(vkCreateShaderModule) X(vkDestroyShaderModule) X(vkCreateComputePipelines)        \
    X(vkDestroyPipeline) X(vkCreatePipelineLayout) X(vkDestroyPipelineLayout) X(vkCreatePipelineCache)   \
    X(vkDestroyPipelineCache) X(vkCreateQueryPool) X(vkDestroyQueryPool) X(vkGetQueryPoolResults)        \
    X(vkCreateSemaphore) X(vkDestroySemaphore) X(vkCmdCopyBufferToImage) X(vkQueueWaitIdle)

// Presenting (the viewer's swapchain): the WSI entry points. Every desktop loader exports them,
// but compute needs none, so a loader without them only turns presenting off
// (vkd_vk_present_loaded) instead of failing vkd_vk_load.
#define VKD_VK_PRESENT_FUNCTIONS(X)                                                                      \
    X(vkGetPhysicalDeviceSurfaceSupportKHR) X(vkGetPhysicalDeviceSurfaceCapabilitiesKHR)                 \
    X(vkGetPhysicalDeviceSurfaceFormatsKHR) X(vkGetPhysicalDeviceSurfacePresentModesKHR)                 \
    X(vkDestroySurfaceKHR) X(vkCreateSwapchainKHR) X(vkDestroySwapchainKHR) X(vkGetSwapchainImagesKHR)   \
    X(vkAcquireNextImageKHR) X(vkQueuePresentKHR)

#define VKD_VK_DECLARE(name) extern PFN_##name name;
VKD_VK_FUNCTIONS(VKD_VK_DECLARE)
VKD_VK_PRESENT_FUNCTIONS(VKD_VK_DECLARE)
#undef VKD_VK_DECLARE

// Loads libvulkan.so.1 and every entry point above, once per process.
vkd_status vkd_vk_load(vkd_error* err);
// After vkd_vk_load: whether every VKD_VK_PRESENT_FUNCTIONS entry point was found.
bool vkd_vk_present_loaded(void);

#endif
