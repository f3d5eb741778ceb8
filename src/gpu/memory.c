// Device memory: big blocks, each with one VkBuffer over all of it, so a
// suballocation is just (block, offset) and its device address is block + offset.
#include "gpu_internal.h"

#include <stdlib.h>
#include <string.h>

#define ALIGNMENT 256u
#define MiB(x) ((double)(x) / (1024.0 * 1024.0))

static VkDeviceSize align_up(VkDeviceSize v, VkDeviceSize a) { return (v + a - 1) / a * a; }

static vkd_status out_of_memory(vkd_gpu* gpu, VkDeviceSize asked, vkd_error* err) {
    return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY,
                         "out of device memory on %s: asked for %.1f MiB while this process holds %.1f MiB "
                         "of a %.1f MiB heap (budget %.1f MiB); reduce resolution, batch or model size",
                         gpu->info.name, MiB(asked), MiB(gpu->allocated_bytes), MiB(gpu->info.device_local_bytes),
                         MiB(gpu->info.budget_bytes));
}

static vkd_status create_raw_buffer(vkd_gpu* gpu, VkDeviceSize size, uint32_t type, bool device_address,
                                    VkBuffer* buf, VkDeviceMemory* mem, void** host, vkd_error* err) {
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                 VK_BUFFER_USAGE_TRANSFER_DST_BIT |
                 (device_address ? VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT : 0),
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult r = vkCreateBuffer(gpu->device, &bci, NULL, buf);
    if (r != VK_SUCCESS) return vkd_vk_error(err, r, "vkCreateBuffer");
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(gpu->device, *buf, &req);
    if (!(req.memoryTypeBits & (1u << type))) {
        vkDestroyBuffer(gpu->device, *buf, NULL);
        *buf = VK_NULL_HANDLE;
        return vkd_error_set(err, VKD_ERR_NO_VULKAN, "device %s cannot place storage buffers in memory type %u",
                             gpu->info.name, type);
    }
    VkMemoryAllocateFlagsInfo flags = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO,
        .flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT,
    };
    VkMemoryAllocateInfo mai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .pNext = device_address ? &flags : NULL,
        .allocationSize = req.size,
        .memoryTypeIndex = type,
    };
    r = vkAllocateMemory(gpu->device, &mai, NULL, mem);
    if (r != VK_SUCCESS) {
        vkDestroyBuffer(gpu->device, *buf, NULL);
        *buf = VK_NULL_HANDLE;
        if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
            return out_of_memory(gpu, size, err);
        return vkd_vk_error(err, r, "vkAllocateMemory");
    }
    r = vkBindBufferMemory(gpu->device, *buf, *mem, 0);
    if (r == VK_SUCCESS && host) r = vkMapMemory(gpu->device, *mem, 0, VK_WHOLE_SIZE, 0, host);
    if (r != VK_SUCCESS) {
        vkDestroyBuffer(gpu->device, *buf, NULL);
        vkFreeMemory(gpu->device, *mem, NULL);
        *buf = VK_NULL_HANDLE;
        *mem = VK_NULL_HANDLE;
        return vkd_vk_error(err, r, "binding or mapping device memory");
    }
    return VKD_OK;
}

static void block_release(vkd_gpu* gpu, vkd_block* b) {
    if (b->buffer) vkDestroyBuffer(gpu->device, b->buffer, NULL);
    if (b->memory) vkFreeMemory(gpu->device, b->memory, NULL);
    gpu->allocated_bytes -= b->size;
    free(b->free);
    memset(b, 0, sizeof *b);
}

static vkd_status block_create(vkd_gpu* gpu, VkDeviceSize size, bool dedicated, uint32_t* index, vkd_error* err) {
    if (gpu->info.max_allocation_bytes && size > gpu->info.max_allocation_bytes)
        return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY,
                             "one buffer of %.1f MiB exceeds the device's maxMemoryAllocationSize of %.1f MiB on %s",
                             MiB(size), MiB(gpu->info.max_allocation_bytes), gpu->info.name);
    uint32_t slot = UINT32_MAX;
    for (uint32_t i = 0; i < gpu->block_count; i++)
        if (!gpu->blocks[i].in_use) {
            slot = i;
            break;
        }
    if (slot == UINT32_MAX) {
        if (gpu->block_count == gpu->block_cap) {
            uint32_t cap = gpu->block_cap ? gpu->block_cap * 2 : 16;
            vkd_block* nb = realloc(gpu->blocks, cap * sizeof *nb);
            if (!nb) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
            gpu->blocks = nb;
            gpu->block_cap = cap;
        }
        slot = gpu->block_count++;
    }
    vkd_block* b = &gpu->blocks[slot];
    memset(b, 0, sizeof *b);
    vkd_status st = create_raw_buffer(gpu, size, gpu->device_memory_type, true, &b->buffer, &b->memory,
                                      gpu->device_memory_mapped ? &b->host : NULL, err);
    if (st) return st;
    VkBufferDeviceAddressInfo ai = {.sType = VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO, .buffer = b->buffer};
    b->addr = vkGetBufferDeviceAddress(gpu->device, &ai);
    b->size = size;
    b->dedicated = dedicated;
    b->in_use = true;
    b->free = malloc(4 * sizeof *b->free);
    b->free_cap = 4;
    b->free_count = 1;
    b->free[0] = (struct vkd_range){0, size};
    gpu->allocated_bytes += size;
    if (gpu->allocated_bytes > gpu->peak_allocated_bytes) gpu->peak_allocated_bytes = gpu->allocated_bytes;
    *index = slot;
    return VKD_OK;
}

// First fit inside one block. Returns false when the block has no room.
static bool block_take(vkd_block* b, VkDeviceSize size, VkDeviceSize* offset) {
    for (uint32_t i = 0; i < b->free_count; i++) {
        struct vkd_range* r = &b->free[i];
        if (r->size < size) continue;
        *offset = r->offset;
        r->offset += size;
        r->size -= size;
        if (r->size == 0) {
            memmove(r, r + 1, (b->free_count - i - 1) * sizeof *r);
            b->free_count--;
        }
        return true;
    }
    return false;
}

static bool block_give(vkd_block* b, VkDeviceSize offset, VkDeviceSize size) {
    uint32_t i = 0;
    while (i < b->free_count && b->free[i].offset < offset) i++;
    bool merge_prev = i > 0 && b->free[i - 1].offset + b->free[i - 1].size == offset;
    bool merge_next = i < b->free_count && offset + size == b->free[i].offset;
    if (merge_prev && merge_next) {
        b->free[i - 1].size += size + b->free[i].size;
        memmove(&b->free[i], &b->free[i + 1], (b->free_count - i - 1) * sizeof *b->free);
        b->free_count--;
    } else if (merge_prev) {
        b->free[i - 1].size += size;
    } else if (merge_next) {
        b->free[i].offset = offset;
        b->free[i].size += size;
    } else {
        if (b->free_count == b->free_cap) {
            uint32_t cap = b->free_cap * 2;
            struct vkd_range* nf = realloc(b->free, cap * sizeof *nf);
            if (!nf) return false;  // leaks the range; never corrupts
            b->free = nf;
            b->free_cap = cap;
        }
        memmove(&b->free[i + 1], &b->free[i], (b->free_count - i) * sizeof *b->free);
        b->free[i] = (struct vkd_range){offset, size};
        b->free_count++;
    }
    return true;
}

vkd_status vkd_buffer_alloc(vkd_gpu* gpu, size_t bytes, vkd_buffer* out, vkd_error* err) {
    memset(out, 0, sizeof *out);
    VkDeviceSize size = align_up(bytes ? bytes : 4, ALIGNMENT);
    uint32_t block = UINT32_MAX;
    VkDeviceSize offset = 0;
    if (size > gpu->block_size / 2) {
        vkd_status st = block_create(gpu, size, true, &block, err);
        if (st) return st;
        block_take(&gpu->blocks[block], size, &offset);
    } else {
        for (uint32_t i = 0; i < gpu->block_count && block == UINT32_MAX; i++) {
            vkd_block* b = &gpu->blocks[i];
            if (b->in_use && !b->dedicated && block_take(b, size, &offset)) block = i;
        }
        if (block == UINT32_MAX) {
            vkd_status st = block_create(gpu, gpu->block_size, false, &block, err);
            if (st) return st;
            block_take(&gpu->blocks[block], size, &offset);
        }
    }
    vkd_block* b = &gpu->blocks[block];
    out->addr = b->addr + offset;
    out->size = bytes;
    out->host = b->host ? (char*)b->host + offset : NULL;
    out->block = block;
    out->offset = offset;
    return VKD_OK;
}

void vkd_buffer_free(vkd_gpu* gpu, vkd_buffer* buf) {
    if (!buf || !buf->addr) return;
    vkd_block* b = &gpu->blocks[buf->block];
    if (b->dedicated) {
        block_release(gpu, b);
    } else {
        block_give(b, buf->offset, align_up(buf->size ? buf->size : 4, ALIGNMENT));
    }
    memset(buf, 0, sizeof *buf);
}

void vkd_gpu_memory_destroy(vkd_gpu* gpu) {
    for (uint32_t i = 0; i < gpu->block_count; i++)
        if (gpu->blocks[i].in_use) block_release(gpu, &gpu->blocks[i]);
    free(gpu->blocks);
    gpu->blocks = NULL;
    gpu->block_count = gpu->block_cap = 0;
    if (gpu->staging_buffer) vkDestroyBuffer(gpu->device, gpu->staging_buffer, NULL);
    if (gpu->staging_memory) vkFreeMemory(gpu->device, gpu->staging_memory, NULL);
}

uint64_t vkd_gpu_allocated_bytes(const vkd_gpu* gpu) { return gpu->allocated_bytes; }
uint64_t vkd_gpu_peak_allocated_bytes(const vkd_gpu* gpu) { return gpu->peak_allocated_bytes; }

// ---------------------------------------------------------------------------
// Transfers through a staging buffer, in chunks, when memory is not mappable.

#define STAGING_BYTES ((VkDeviceSize)64 << 20)

static vkd_status ensure_staging(vkd_gpu* gpu, vkd_error* err) {
    if (gpu->staging_buffer) return VKD_OK;
    vkd_status st = create_raw_buffer(gpu, STAGING_BYTES, gpu->staging_memory_type, false, &gpu->staging_buffer,
                                      &gpu->staging_memory, &gpu->staging_host, err);
    if (st) return vkd_error_prefix(err, "creating the %d MiB staging buffer: ", (int)(STAGING_BYTES >> 20));
    gpu->staging_size = STAGING_BYTES;
    return VKD_OK;
}

static vkd_status staged_copy(vkd_gpu* gpu, const vkd_buffer* buf, size_t offset, size_t bytes, bool to_device,
                              VkDeviceSize staging_offset, vkd_error* err) {
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    vkResetCommandBuffer(gpu->transfer_cmd, 0);
    vkBeginCommandBuffer(gpu->transfer_cmd, &bi);
    const vkd_block* b = &gpu->blocks[buf->block];
    VkBufferCopy region = {
        .srcOffset = to_device ? staging_offset : buf->offset + offset,
        .dstOffset = to_device ? buf->offset + offset : staging_offset,
        .size = bytes,
    };
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_MEMORY_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_MEMORY_READ_BIT | VK_ACCESS_MEMORY_WRITE_BIT,
    };
    vkCmdPipelineBarrier(gpu->transfer_cmd, VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1,
                         &mb, 0, NULL, 0, NULL);
    if (to_device)
        vkCmdCopyBuffer(gpu->transfer_cmd, gpu->staging_buffer, b->buffer, 1, &region);
    else
        vkCmdCopyBuffer(gpu->transfer_cmd, b->buffer, gpu->staging_buffer, 1, &region);
    mb.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_MEMORY_READ_BIT;
    vkCmdPipelineBarrier(gpu->transfer_cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_ALL_COMMANDS_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    vkEndCommandBuffer(gpu->transfer_cmd);
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1,
                       .pCommandBuffers = &gpu->transfer_cmd};
    VkResult r = vkQueueSubmit(gpu->queue, 1, &si, gpu->transfer_fence);
    if (r == VK_SUCCESS) r = vkWaitForFences(gpu->device, 1, &gpu->transfer_fence, VK_TRUE, UINT64_MAX);
    vkResetFences(gpu->device, 1, &gpu->transfer_fence);
    if (r != VK_SUCCESS) return vkd_vk_error(err, r, to_device ? "upload" : "download");
    return VKD_OK;
}

static vkd_status check_range(const vkd_buffer* buf, size_t offset, size_t bytes, const char* what, vkd_error* err) {
    if (!buf || !buf->addr) return vkd_error_set(err, VKD_ERR_INVALID, "%s: buffer is not allocated", what);
    if (offset > buf->size || bytes > buf->size - offset)
        return vkd_error_set(err, VKD_ERR_INVALID, "%s of %zu bytes at offset %zu overruns a buffer of %zu bytes",
                             what, bytes, offset, buf->size);
    return VKD_OK;
}

vkd_status vkd_buffer_upload(vkd_gpu* gpu, const vkd_buffer* buf, size_t offset, const void* src, size_t bytes,
                             vkd_error* err) {
    vkd_status st = check_range(buf, offset, bytes, "upload", err);
    if (st || bytes == 0) return st;
    if (buf->host) {
        memcpy((char*)buf->host + offset, src, bytes);
        return VKD_OK;
    }
    if ((st = ensure_staging(gpu, err))) return st;
    for (size_t done = 0; done < bytes;) {
        size_t n = bytes - done < gpu->staging_size ? bytes - done : (size_t)gpu->staging_size;
        memcpy(gpu->staging_host, (const char*)src + done, n);
        if ((st = staged_copy(gpu, buf, offset + done, n, true, 0, err))) return st;
        done += n;
    }
    return VKD_OK;
}

vkd_status vkd_buffer_download(vkd_gpu* gpu, const vkd_buffer* buf, size_t offset, void* dst, size_t bytes,
                               vkd_error* err) {
    vkd_status st = check_range(buf, offset, bytes, "download", err);
    if (st || bytes == 0) return st;
    if (buf->host) {
        memcpy(dst, (const char*)buf->host + offset, bytes);
        return VKD_OK;
    }
    if ((st = ensure_staging(gpu, err))) return st;
    for (size_t done = 0; done < bytes;) {
        size_t n = bytes - done < gpu->staging_size ? bytes - done : (size_t)gpu->staging_size;
        if ((st = staged_copy(gpu, buf, offset + done, n, false, 0, err))) return st;
        memcpy((char*)dst + done, gpu->staging_host, n);
        done += n;
    }
    return VKD_OK;
}

void vkd_buffer_vk_handle(const vkd_gpu* gpu, const vkd_buffer* buf, uint64_t* vk_buffer, uint64_t* offset) {
    // VkBuffer is a pointer or a uint64_t depending on the platform's handle definition.
    *vk_buffer = (uint64_t)(uintptr_t)gpu->blocks[buf->block].buffer;
    *offset = buf->offset;
}
