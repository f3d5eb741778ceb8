// Command streams: many dispatches per submit, a global barrier between them,
// optional timestamps around each for the profile table.
#include "gpu_internal.h"
#include "gpu/fill.h"
#include "vkd_shaders.h"

#include <stdlib.h>
#include <string.h>

#define QUERY_PAIRS 4096

struct vkd_stream {
    vkd_gpu* gpu;
    VkCommandPool pool;
    VkCommandBuffer cmd;
    VkFence fence;
    bool recording;
    uint32_t dispatches;      // recorded since the last submit
    VkPipeline bound;
    vkd_error error;          // first recording error, reported by submit
    VkQueryPool queries;
    uint32_t query_pairs;     // used pairs since the last submit
    uint32_t slots[QUERY_PAIRS];
};

vkd_status vkd_stream_create(vkd_gpu* gpu, vkd_stream** out, vkd_error* err) {
    vkd_stream* s = calloc(1, sizeof *s);
    if (!s) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "out of host memory");
    s->gpu = gpu;
    VkCommandPoolCreateInfo cpci = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = gpu->queue_family,
    };
    VkResult r = vkCreateCommandPool(gpu->device, &cpci, NULL, &s->pool);
    VkCommandBufferAllocateInfo cbai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = s->pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1,
    };
    if (r == VK_SUCCESS) r = vkAllocateCommandBuffers(gpu->device, &cbai, &s->cmd);
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if (r == VK_SUCCESS) r = vkCreateFence(gpu->device, &fci, NULL, &s->fence);
    if (r == VK_SUCCESS && gpu->profile) {
        VkQueryPoolCreateInfo qci = {
            .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
            .queryType = VK_QUERY_TYPE_TIMESTAMP,
            .queryCount = 2 * QUERY_PAIRS,
        };
        r = vkCreateQueryPool(gpu->device, &qci, NULL, &s->queries);
    }
    if (r != VK_SUCCESS) {
        vkd_stream_destroy(s);
        return vkd_vk_error(err, r, "creating a command stream");
    }
    *out = s;
    return VKD_OK;
}

void vkd_stream_destroy(vkd_stream* s) {
    if (!s) return;
    VkDevice d = s->gpu->device;
    if (s->recording) {
        vkEndCommandBuffer(s->cmd);
    }
    if (s->queries) vkDestroyQueryPool(d, s->queries, NULL);
    if (s->fence) vkDestroyFence(d, s->fence, NULL);
    if (s->pool) vkDestroyCommandPool(d, s->pool, NULL);
    free(s);
}

vkd_gpu* vkd_stream_gpu(vkd_stream* s) { return s->gpu; }

void vkd_stream_fail(vkd_stream* s, vkd_status status, const char* fmt, ...) {
    if (s->error.status) return;  // keep the first: later ones are usually consequences
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error.msg, sizeof s->error.msg, fmt, ap);
    va_end(ap);
    s->error.status = status;
}

static bool begin(vkd_stream* s) {
    if (s->recording) return true;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    VkResult r = vkBeginCommandBuffer(s->cmd, &bi);
    if (r != VK_SUCCESS) {
        vkd_stream_fail(s, VKD_ERR_GPU, "vkBeginCommandBuffer failed: %s", vkd_vk_result_name(r));
        return false;
    }
    if (s->queries) vkCmdResetQueryPool(s->cmd, s->queries, 0, 2 * QUERY_PAIRS);
    s->recording = true;
    s->dispatches = 0;
    s->query_pairs = 0;
    s->bound = VK_NULL_HANDLE;
    return true;
}

static void collect_timestamps(vkd_stream* s) {
    if (!s->queries || !s->query_pairs) return;
    uint64_t* ts = malloc(2 * s->query_pairs * sizeof *ts);
    if (!ts) return;
    VkResult r = vkGetQueryPoolResults(s->gpu->device, s->queries, 0, 2 * s->query_pairs,
                                       2 * s->query_pairs * sizeof *ts, ts, sizeof *ts,
                                       VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
    if (r == VK_SUCCESS) {
        for (uint32_t i = 0; i < s->query_pairs; i++) {
            uint32_t slot = s->slots[i];
            if (slot >= s->gpu->profile_count) continue;
            uint64_t dt = (ts[2 * i + 1] - ts[2 * i]) & s->gpu->timestamp_mask;
            s->gpu->profile_rows[slot].calls++;
            s->gpu->profile_rows[slot].total_ns += (double)dt * s->gpu->info.timestamp_period_ns;
        }
    }
    free(ts);
}

static vkd_status submit_and_wait(vkd_stream* s, vkd_error* err) {
    // Make shader writes visible to the host and to transfers that follow.
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
        .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
    };
    vkCmdPipelineBarrier(s->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    VkResult r = vkEndCommandBuffer(s->cmd);
    s->recording = false;
    if (r == VK_SUCCESS) {
        VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1,
                           .pCommandBuffers = &s->cmd};
        r = vkQueueSubmit(s->gpu->queue, 1, &si, s->fence);
    }
    if (r == VK_SUCCESS) r = vkWaitForFences(s->gpu->device, 1, &s->fence, VK_TRUE, UINT64_MAX);
    vkResetFences(s->gpu->device, 1, &s->fence);
    if (r == VK_SUCCESS) collect_timestamps(s);
    vkResetCommandBuffer(s->cmd, 0);
    if (r != VK_SUCCESS) return vkd_vk_error(err, r, "submitting a command stream");
    return VKD_OK;
}

void vkd_stream_dispatch(vkd_stream* s, vkd_kernel_desc kernel, const void* push, uint32_t push_size,
                         uint32_t gx, uint32_t gy, uint32_t gz) {
    if (s->error.status) return;
    if (push_size > 128 || push_size % 4) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "kernel %s: push constants of %u bytes (must be <= 128, multiple of 4)",
                        kernel.name, push_size);
        return;
    }
    const uint32_t* lim = s->gpu->info.max_workgroup_count;
    if (gx > lim[0] || gy > lim[1] || gz > lim[2]) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "kernel %s: grid %ux%ux%u exceeds the device limit %ux%ux%u",
                        kernel.name, gx, gy, gz, lim[0], lim[1], lim[2]);
        return;
    }
    if (!gx || !gy || !gz) return;
    vkd_error e = {0};
    vkd_pipeline* p = vkd_gpu_pipeline(s->gpu, &kernel, &e);
    if (!p) {
        vkd_stream_fail(s, e.status, "%s", e.msg);
        return;
    }
    if (s->queries && s->recording && s->query_pairs == QUERY_PAIRS) {
        // Query pool full: flush what we have; the stream stays in order.
        vkd_error se = {0};
        if (submit_and_wait(s, &se)) {
            vkd_stream_fail(s, se.status, "%s", se.msg);
            return;
        }
    }
    if (!begin(s)) return;
    if (s->dispatches) {
        VkMemoryBarrier mb = {
            .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
            .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT,
            .dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT,
        };
        vkCmdPipelineBarrier(s->cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1,
                             &mb, 0, NULL, 0, NULL);
    }
    if (s->bound != p->pipeline) {
        vkCmdBindPipeline(s->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, p->pipeline);
        s->bound = p->pipeline;
    }
    if (push_size) vkCmdPushConstants(s->cmd, s->gpu->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, push_size, push);
    bool timed = s->queries != VK_NULL_HANDLE;
    if (timed) vkCmdWriteTimestamp(s->cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, s->queries, 2 * s->query_pairs);
    vkCmdDispatch(s->cmd, gx, gy, gz);
    if (timed) {
        vkCmdWriteTimestamp(s->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, s->queries, 2 * s->query_pairs + 1);
        s->slots[s->query_pairs++] = p->profile_slot;
    }
    s->dispatches++;
}

void vkd_stream_dispatch_1d(vkd_stream* s, vkd_kernel_desc kernel, const void* push, uint32_t push_size, uint64_t n,
                            uint32_t local_size) {
    if (n > (uint64_t)UINT32_MAX - local_size) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "kernel %s: %llu elements exceed the 32-bit index range", kernel.name,
                        (unsigned long long)n);
        return;
    }
    uint64_t groups = (n + local_size - 1) / local_size;
    uint64_t max_x = s->gpu->info.max_workgroup_count[0];
    uint64_t gx = groups < max_x ? groups : max_x;
    uint64_t gy = gx ? (groups + gx - 1) / gx : 0;
    if (gy > s->gpu->info.max_workgroup_count[1]) {
        vkd_stream_fail(s, VKD_ERR_INVALID, "kernel %s: %llu elements exceed the device's 2-D grid", kernel.name,
                        (unsigned long long)n);
        return;
    }
    vkd_stream_dispatch(s, kernel, push, push_size, (uint32_t)gx, (uint32_t)gy, 1);
}

void vkd_stream_fill(vkd_stream* s, vkd_addr addr, uint32_t count, uint32_t value) {
    vkd_fill_push p = {.dst = addr, .count = count, .value = value};
    vkd_stream_dispatch_1d(s, VKD_KERNEL(gpu_fill), &p, sizeof p, count, 256);
}

void vkd_stream_copy(vkd_stream* s, vkd_addr dst, vkd_addr src, uint32_t count) {
    vkd_fill_push p = {.dst = dst, .count = count, .src = src};
    vkd_stream_dispatch_1d(s, VKD_KERNEL(gpu_copy), &p, sizeof p, count, 256);
}

vkd_status vkd_stream_submit(vkd_stream* s, vkd_error* err) {
    if (s->error.status) {
        vkd_status st = vkd_error_set(err, s->error.status, "%s", s->error.msg);
        if (s->recording) {
            vkEndCommandBuffer(s->cmd);
            vkResetCommandBuffer(s->cmd, 0);
            s->recording = false;
        }
        memset(&s->error, 0, sizeof s->error);
        return st;
    }
    if (!s->recording) return VKD_OK;
    return submit_and_wait(s, err);
}
