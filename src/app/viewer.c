// The viewer window (src/app/viewer.h): GLFW for the window and input, a Vulkan swapchain on
// the viewer's own vkd_gpu, frames from the compute renderers (src/app/view_render.c) copied
// into the swapchain images with vkCmdCopyBufferToImage. A copy moves bytes unchanged, so the
// frame's 8-bit values reach the display as they are with UNORM and SRGB swapchains alike
// (the renders are already display-referred); the compose kernel writes B,G,R,A or R,G,B,A to
// match the swapchain's byte order.
#define _POSIX_C_SOURCE 200809L
#include "app/viewer.h"
#include "app/view_internal.h"

#include "gpu/vk.h"  // the Vulkan entry points the GPU layer loaded
#include "vkdream/image.h"

#ifdef VKD_HAVE_GLFW
#define GLFW_INCLUDE_NONE
#include <GLFW/glfw3.h>
#endif

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int default_width(const vkd_viewer_desc* d) { return d->width > 0 ? d->width : 960; }
static int default_height(const vkd_viewer_desc* d) { return d->height > 0 ? d->height : 720; }

// The headless frame: one render at the requested size, written as a PNG.
static vkd_status headless_screenshot(const vkd_viewer_desc* d, const vkd_view_asset* asset, vkd_error* err) {
    vkd_gpu* gpu = NULL;
    vkd_view_renderer* r = NULL;
    vkd_image img = {0};
    vkd_status st = vkd_gpu_create(&(vkd_gpu_desc){.device = d->device, .validation = d->validation}, &gpu, err);
    if (!st) st = vkd_view_renderer_create(gpu, &r, err);
    float center[3], radius;
    if (!st) st = vkd_view_renderer_set_asset(r, asset, center, &radius, err);
    if (!st) {
        vkd_view_orbit o = {0};
        vkd_view_orbit_frame(&o, center, radius);
        int w = default_width(d), h = default_height(d);
        int mode = d->mode >= 0 && d->mode < VIEW_MODE_COUNT ? d->mode : 0;
        vkd_camera cam = vkd_view_orbit_camera(&o, w, h);
        char text[256];
        snprintf(text, sizeof text, "%s\nmode %d %s (headless)", asset->info, mode + 1,
                 asset->kind == VKD_VIEW_MESH && mode == VIEW_MODE_CENTERS ? "wireframe" : vkd_view_mode_names[mode]);
        vkd_view_frame_desc fd = {.width = w, .height = h, .render_scale = d->render_scale, .mode = mode,
                                  .text = d->no_overlay ? NULL : text};
        st = vkd_view_renderer_render(r, &cam, &fd, err);
    }
    if (!st) st = vkd_view_renderer_read(r, &img, err);
    if (!st) st = vkd_png_write(d->screenshot_path, &img, err);
    if (!st && gpu && vkd_gpu_validation_messages(gpu))
        st = vkd_error_set(err, VKD_ERR_GPU, "viewer: %u validation messages", vkd_gpu_validation_messages(gpu));
    if (!st && !d->quiet) fprintf(stderr, "vkdream view: wrote %s (%dx%d)\n", d->screenshot_path, img.width, img.height);
    vkd_image_free(&img);
    vkd_view_renderer_destroy(r);
    vkd_gpu_destroy(gpu);
    return st;
}

#ifndef VKD_HAVE_GLFW

bool vkd_viewer_display_available(char* why, size_t why_size) {
    snprintf(why, why_size, "this vkdream was built without GLFW (install libglfw3-dev and rebuild) so it has no window");
    return false;
}

vkd_status vkd_viewer_run_file(const vkd_viewer_desc* desc, const char* path, vkd_error* err) {
    vkd_view_asset asset;
    vkd_status st = vkd_view_asset_load(path, &asset, err);
    if (st) return st;
    char why[256];
    vkd_viewer_display_available(why, sizeof why);
    if (desc->screenshot_after > 0 && desc->screenshot_path) {
        if (!desc->quiet) fprintf(stderr, "vkdream view: %s; rendering the screenshot headless\n", why);
        st = headless_screenshot(desc, &asset, err);
    } else {
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s (use --screenshot-after N FILE to render a PNG without one)",
                           why);
    }
    vkd_view_asset_free(&asset);
    return st;
}

int vkd_viewer_run_live(const vkd_viewer_desc* desc, vkd_viewer_feed* feed, vkd_viewer_loop_fn loop, void* user,
                        vkd_error* err) {
    (void)err;
    char why[256];
    vkd_viewer_display_available(why, sizeof why);
    if (!desc->quiet) fprintf(stderr, "vkdream: %s; running without the viewer\n", why);
    int rc = loop(user, feed);
    vkd_viewer_feed_finish(feed);
    return rc;
}

#else  // VKD_HAVE_GLFW

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// ---------------------------------------------------------------------------
// Display detection

// GLFW reports errors through a process-wide callback without a user pointer, so the last
// message waits here (GLFW itself is process-wide state, used from the main thread only).
static char glfw_error[256];

static void on_glfw_error(int code, const char* msg) {
    snprintf(glfw_error, sizeof glfw_error, "%s (GLFW error 0x%x)", msg ? msg : "?", code);
}

static bool glfw_start(char* why, size_t why_size) {
    glfwSetErrorCallback(on_glfw_error);
#if defined(__linux__)
    const char* x = getenv("DISPLAY");
    const char* wl = getenv("WAYLAND_DISPLAY");
    if ((!x || !*x) && (!wl || !*wl)) {
        snprintf(why, why_size, "no display ($DISPLAY and $WAYLAND_DISPLAY are not set)");
        return false;
    }
#endif
    glfw_error[0] = 0;
    if (!glfwInit()) {
        snprintf(why, why_size, "cannot open the display: %s", glfw_error[0] ? glfw_error : "glfwInit failed");
        return false;
    }
    if (!glfwVulkanSupported()) {
        snprintf(why, why_size, "GLFW found no Vulkan loader able to present to this display");
        glfwTerminate();
        return false;
    }
    return true;
}

bool vkd_viewer_display_available(char* why, size_t why_size) {
    if (!glfw_start(why, why_size)) return false;
    glfwTerminate();
    return true;
}

// ---------------------------------------------------------------------------
// Window + swapchain

#define MAX_IMAGES 16

typedef struct viewer {
    const vkd_viewer_desc* desc;
    GLFWwindow* win;
    vkd_gpu* gpu;
    vkd_gpu_vk vk;
    VkDevice dev;
    VkSurfaceKHR surface;
    VkSwapchainKHR swapchain;
    VkExtent2D extent;
    bool bgra;
    VkImage images[MAX_IMAGES];
    uint32_t image_count;
    VkSemaphore acquired;
    VkSemaphore presented[MAX_IMAGES];
    VkCommandPool pool;
    VkCommandBuffer cmd;
    VkFence fence;
    bool need_recreate;

    vkd_view_renderer* renderer;
    vkd_view_orbit orbit;
    bool have_asset, is_mesh;
    char asset_info[160];
    int mode;
    bool overlay, auto_rotate;
    bool dirty;

    // input
    bool rotating, panning;
    double mouse_x, mouse_y;

    // live mode
    vkd_viewer_feed* feed;
    uint32_t snapshot_step;
    bool quitting;             // quit asked; waiting for the loop to stop
    double stats_shown_at;

    // timing
    double last_present, frame_ms, busy_s;
    double interactive_until;  // recent input: the live busy cap is relaxed until then
    int frames;
    int asset_frames;  // frames presented with an asset (live screenshots count these)
    char message[160];
    double message_until;
    int screenshot_index;
    bool close;
} viewer;

static bool present_support(void* user, void* instance, void* physical_device, uint32_t family) {
    (void)user;
    return glfwGetPhysicalDevicePresentationSupport((VkInstance)instance, (VkPhysicalDevice)physical_device,
                                                    family) == GLFW_TRUE;
}

static vkd_status vk_fail(vkd_error* err, VkResult r, const char* what) {
    return vkd_error_set(err, VKD_ERR_GPU, "viewer: %s failed (VkResult %d)", what, (int)r);
}

static void destroy_swapchain_objects(viewer* v) {
    for (uint32_t i = 0; i < MAX_IMAGES; i++)
        if (v->presented[i]) {
            vkDestroySemaphore(v->dev, v->presented[i], NULL);
            v->presented[i] = VK_NULL_HANDLE;
        }
}

// (Re)creates the swapchain for the window's current size. A zero-sized window (minimized)
// leaves extent 0 x 0 and no swapchain change; the caller then skips rendering.
static vkd_status create_swapchain(viewer* v, vkd_error* err) {
    VkPhysicalDevice pd = (VkPhysicalDevice)v->vk.physical_device;
    VkSurfaceCapabilitiesKHR caps;
    VkResult r = vkGetPhysicalDeviceSurfaceCapabilitiesKHR(pd, v->surface, &caps);
    if (r != VK_SUCCESS) return vk_fail(err, r, "vkGetPhysicalDeviceSurfaceCapabilitiesKHR");
    int fw = 0, fh = 0;
    glfwGetFramebufferSize(v->win, &fw, &fh);
    VkExtent2D ext = caps.currentExtent;
    if (ext.width == UINT32_MAX) {
        ext.width = (uint32_t)(fw > 0 ? fw : 0);
        ext.height = (uint32_t)(fh > 0 ? fh : 0);
        if (ext.width < caps.minImageExtent.width) ext.width = caps.minImageExtent.width;
        if (ext.height < caps.minImageExtent.height) ext.height = caps.minImageExtent.height;
        if (ext.width > caps.maxImageExtent.width) ext.width = caps.maxImageExtent.width;
        if (ext.height > caps.maxImageExtent.height) ext.height = caps.maxImageExtent.height;
    }
    if (ext.width == 0 || ext.height == 0 || fw == 0 || fh == 0) {
        v->extent = (VkExtent2D){0, 0};
        return VKD_OK;  // minimized: try again when the window has a size
    }
    if (!(caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_DST_BIT))
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                             "viewer: the swapchain images of this display cannot be copied to (no TRANSFER_DST usage)");
    uint32_t nf = 0;
    vkGetPhysicalDeviceSurfaceFormatsKHR(pd, v->surface, &nf, NULL);
    VkSurfaceFormatKHR formats[64];
    if (nf > 64) nf = 64;
    vkGetPhysicalDeviceSurfaceFormatsKHR(pd, v->surface, &nf, formats);
    // 8-bit 4-channel formats only: the frame is copied byte for byte. UNORM first (the bytes
    // are shown as they are); SRGB shows the same bytes the same way, as sRGB-encoded values.
    static const VkFormat wanted[] = {VK_FORMAT_B8G8R8A8_UNORM, VK_FORMAT_R8G8B8A8_UNORM, VK_FORMAT_B8G8R8A8_SRGB,
                                      VK_FORMAT_R8G8B8A8_SRGB};
    int pick = -1;
    for (size_t w = 0; w < sizeof wanted / sizeof wanted[0] && pick < 0; w++)
        for (uint32_t i = 0; i < nf && pick < 0; i++)
            if (formats[i].format == wanted[w]) pick = (int)i;
    if (pick < 0)
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED,
                             "viewer: the display offers no 8-bit RGBA/BGRA swapchain format (%u formats, first %d)", nf,
                             nf ? (int)formats[0].format : -1);
    VkFormat fmt = formats[pick].format;
    v->bgra = fmt == VK_FORMAT_B8G8R8A8_UNORM || fmt == VK_FORMAT_B8G8R8A8_SRGB;

    uint32_t nm = 0;
    VkPresentModeKHR modes[16];
    vkGetPhysicalDeviceSurfacePresentModesKHR(pd, v->surface, &nm, NULL);
    if (nm > 16) nm = 16;
    vkGetPhysicalDeviceSurfacePresentModesKHR(pd, v->surface, &nm, modes);
    VkPresentModeKHR mode = VK_PRESENT_MODE_FIFO_KHR;  // always there
    for (uint32_t i = 0; i < nm; i++)
        if (modes[i] == VK_PRESENT_MODE_MAILBOX_KHR) mode = modes[i];

    uint32_t count = caps.minImageCount + 1;
    if (caps.maxImageCount && count > caps.maxImageCount) count = caps.maxImageCount;
    if (count > MAX_IMAGES) count = MAX_IMAGES;
    VkCompositeAlphaFlagBitsKHR alpha = VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR;
    if (!(caps.supportedCompositeAlpha & alpha))
        for (uint32_t b = 1; b; b <<= 1)
            if (caps.supportedCompositeAlpha & b) {
                alpha = (VkCompositeAlphaFlagBitsKHR)b;
                break;
            }
    VkSwapchainKHR old = v->swapchain;
    VkSwapchainCreateInfoKHR sci = {
        .sType = VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR,
        .surface = v->surface,
        .minImageCount = count,
        .imageFormat = fmt,
        .imageColorSpace = formats[pick].colorSpace,
        .imageExtent = ext,
        .imageArrayLayers = 1,
        .imageUsage = VK_IMAGE_USAGE_TRANSFER_DST_BIT,
        .imageSharingMode = VK_SHARING_MODE_EXCLUSIVE,
        .preTransform = caps.currentTransform,
        .compositeAlpha = alpha,
        .presentMode = mode,
        .clipped = VK_TRUE,
        .oldSwapchain = old,
    };
    r = vkCreateSwapchainKHR(v->dev, &sci, NULL, &v->swapchain);
    if (old) vkDestroySwapchainKHR(v->dev, old, NULL);
    if (r != VK_SUCCESS) {
        v->swapchain = VK_NULL_HANDLE;
        return vk_fail(err, r, "vkCreateSwapchainKHR");
    }
    v->image_count = MAX_IMAGES;
    r = vkGetSwapchainImagesKHR(v->dev, v->swapchain, &v->image_count, v->images);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return vk_fail(err, r, "vkGetSwapchainImagesKHR");
    // One "rendered" semaphore per image: a semaphore the presentation engine may still hold
    // is only reused once its image comes back from vkAcquireNextImageKHR.
    destroy_swapchain_objects(v);
    VkSemaphoreCreateInfo sem = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    for (uint32_t i = 0; i < v->image_count; i++) {
        r = vkCreateSemaphore(v->dev, &sem, NULL, &v->presented[i]);
        if (r != VK_SUCCESS) return vk_fail(err, r, "vkCreateSemaphore");
    }
    v->extent = ext;
    v->need_recreate = false;
    v->dirty = true;
    return VKD_OK;
}

static vkd_status recreate_swapchain(viewer* v, vkd_error* err) {
    vkQueueWaitIdle((VkQueue)v->vk.queue);
    return create_swapchain(v, err);
}

// ---------------------------------------------------------------------------
// Input

static void set_message(viewer* v, const char* msg) {
    snprintf(v->message, sizeof v->message, "%s", msg);
    v->message_until = now_s() + 3.0;
    v->dirty = true;
}

static void save_screenshot(viewer* v, const char* path) {
    vkd_image img;
    vkd_error e = {0};
    char msg[160];
    vkd_status st = vkd_view_renderer_read(v->renderer, &img, &e);
    if (!st) st = vkd_png_write(path, &img, &e);
    if (!st) vkd_image_free(&img);
    if (st)
        snprintf(msg, sizeof msg, "screenshot failed: %.120s", e.msg);
    else
        snprintf(msg, sizeof msg, "saved %.140s", path);
    if (!v->desc->quiet) fprintf(stderr, "vkdream view: %s\n", msg);
    set_message(v, msg);
}

static void request_quit(viewer* v) {
    if (v->feed) {
        vkd_viewer_feed_request(v->feed, VKD_VIEWER_QUIT);
        v->quitting = true;
        if (!vkd_viewer_feed_finished(v->feed)) set_message(v, "stopping: the optimisation saves a checkpoint...");
    } else {
        v->close = true;
    }
}

// Input marks the next second as interactive: the user is steering the view and wants frames.
static void touched(viewer* v) {
    v->interactive_until = now_s() + 1.0;
    v->dirty = true;
}

static void handle_key(viewer* v, int key) {
    if (key >= GLFW_KEY_1 && key <= GLFW_KEY_5) {
        v->mode = key - GLFW_KEY_1;
    } else if (key == GLFW_KEY_R) {
        vkd_view_orbit_reset(&v->orbit);
    } else if (key == GLFW_KEY_A) {
        v->auto_rotate = !v->auto_rotate;
    } else if (key == GLFW_KEY_H) {
        v->overlay = !v->overlay;
    } else if (key == GLFW_KEY_SPACE) {
        if (v->feed && !vkd_viewer_feed_finished(v->feed)) {
            bool p = !vkd_viewer_feed_paused(v->feed);
            vkd_viewer_feed_set_paused(v->feed, p);
            set_message(v, p ? "paused (space resumes)" : "resumed");
        }
    } else if (key == GLFW_KEY_S) {
        const char* prefix = v->desc->screenshot_prefix ? v->desc->screenshot_prefix : "vkdream-screenshot";
        char path[1200];
        for (int i = 0; i < 1000; i++) {
            snprintf(path, sizeof path, "%.1100s-%03d.png", prefix, v->screenshot_index++);
            if (access(path, F_OK) != 0) break;
        }
        save_screenshot(v, path);
        if (v->feed) vkd_viewer_feed_request(v->feed, VKD_VIEWER_CHECKPOINT);
    } else if (key == GLFW_KEY_E) {
        if (v->feed && !vkd_viewer_feed_finished(v->feed)) {
            vkd_viewer_feed_request(v->feed, VKD_VIEWER_EXPORT);
            set_message(v, "export requested");
        } else {
            set_message(v, "E exports while an optimisation runs (vkdream generate --view)");
        }
    } else if (key == GLFW_KEY_Q || key == GLFW_KEY_ESCAPE) {
        request_quit(v);
    }
    touched(v);
}

static void on_key(GLFWwindow* w, int key, int scancode, int action, int mods) {
    (void)scancode, (void)mods;
    if (action == GLFW_PRESS) handle_key(glfwGetWindowUserPointer(w), key);
}

static void on_button(GLFWwindow* w, int button, int action, int mods) {
    (void)mods;
    viewer* v = glfwGetWindowUserPointer(w);
    glfwGetCursorPos(w, &v->mouse_x, &v->mouse_y);
    if (button == GLFW_MOUSE_BUTTON_LEFT) v->rotating = action == GLFW_PRESS;
    if (button == GLFW_MOUSE_BUTTON_RIGHT || button == GLFW_MOUSE_BUTTON_MIDDLE) v->panning = action == GLFW_PRESS;
}

static void on_cursor(GLFWwindow* w, double x, double y) {
    viewer* v = glfwGetWindowUserPointer(w);
    double dx = x - v->mouse_x, dy = y - v->mouse_y;
    v->mouse_x = x, v->mouse_y = y;
    if (v->rotating) vkd_view_orbit_rotate(&v->orbit, dx, dy);
    if (v->panning) vkd_view_orbit_pan(&v->orbit, dx, dy, v->extent.height ? (int)v->extent.height : 1);
    if (v->rotating || v->panning) touched(v);
}

static void on_scroll(GLFWwindow* w, double dx, double dy) {
    (void)dx;
    viewer* v = glfwGetWindowUserPointer(w);
    vkd_view_orbit_zoom(&v->orbit, dy);
    touched(v);
}

static void on_resize(GLFWwindow* w, int width, int height) {
    (void)width, (void)height;
    viewer* v = glfwGetWindowUserPointer(w);
    v->need_recreate = true;
    v->dirty = true;
}

// ---------------------------------------------------------------------------
// Setup and teardown

static void viewer_destroy(viewer* v) {
    if (v->dev) vkDeviceWaitIdle(v->dev);
    destroy_swapchain_objects(v);
    if (v->acquired) vkDestroySemaphore(v->dev, v->acquired, NULL);
    if (v->fence) vkDestroyFence(v->dev, v->fence, NULL);
    if (v->pool) vkDestroyCommandPool(v->dev, v->pool, NULL);
    if (v->swapchain) vkDestroySwapchainKHR(v->dev, v->swapchain, NULL);
    if (v->surface) vkDestroySurfaceKHR((VkInstance)v->vk.instance, v->surface, NULL);
    vkd_view_renderer_destroy(v->renderer);
    vkd_gpu_destroy(v->gpu);
    if (v->win) glfwDestroyWindow(v->win);
    glfwTerminate();
    memset(v, 0, sizeof *v);
}

// Opens the window and everything behind it. On failure returns an error with v cleaned up;
// *headless_ok says the failure means "no way to present here" (fall back to headless).
static vkd_status viewer_open(viewer* v, const vkd_viewer_desc* d, const char* title, bool* headless_ok,
                              vkd_error* err) {
    memset(v, 0, sizeof *v);
    v->desc = d;
    v->mode = d->mode >= 0 && d->mode < VIEW_MODE_COUNT ? d->mode : 0;
    v->overlay = !d->no_overlay;
    *headless_ok = true;
    char why[256];
    if (!glfw_start(why, sizeof why)) return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "%s", why);
    uint32_t next = 0;
    const char** exts = glfwGetRequiredInstanceExtensions(&next);
    if (!exts) {
        glfwTerminate();
        return vkd_error_set(err, VKD_ERR_UNSUPPORTED, "GLFW cannot present with Vulkan on this display: %s",
                             glfw_error[0] ? glfw_error : "no instance extensions");
    }
    vkd_gpu_desc gd = {
        .device = d->device,
        .validation = d->validation,
        .instance_extensions = exts,
        .instance_extension_count = next,
        .present = true,
        .present_support = present_support,
    };
    vkd_status st = vkd_gpu_create(&gd, &v->gpu, err);
    if (st) {
        *headless_ok = st == VKD_ERR_NO_VULKAN;
        glfwTerminate();
        return st;
    }
    vkd_gpu_vk_handles(v->gpu, &v->vk);
    v->dev = (VkDevice)v->vk.device;
    if (!vkd_gpu_get_info(v->gpu)->present) {
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "device %s has no queue that computes and presents to this display",
                           vkd_gpu_get_info(v->gpu)->name);
        viewer_destroy(v);
        return st;
    }
    *headless_ok = false;
    glfwWindowHint(GLFW_CLIENT_API, GLFW_NO_API);
    glfwWindowHint(GLFW_RESIZABLE, GLFW_TRUE);
    v->win = glfwCreateWindow(default_width(d), default_height(d), title, NULL, NULL);
    if (!v->win) {
        *headless_ok = true;
        st = vkd_error_set(err, VKD_ERR_UNSUPPORTED, "cannot create a window: %s", glfw_error);
        viewer_destroy(v);
        return st;
    }
    glfwSetWindowUserPointer(v->win, v);
    glfwSetKeyCallback(v->win, on_key);
    glfwSetMouseButtonCallback(v->win, on_button);
    glfwSetCursorPosCallback(v->win, on_cursor);
    glfwSetScrollCallback(v->win, on_scroll);
    glfwSetFramebufferSizeCallback(v->win, on_resize);
    VkResult r = glfwCreateWindowSurface((VkInstance)v->vk.instance, v->win, NULL, &v->surface);
    VkBool32 ok = VK_FALSE;
    if (r == VK_SUCCESS)
        r = vkGetPhysicalDeviceSurfaceSupportKHR((VkPhysicalDevice)v->vk.physical_device, v->vk.queue_family,
                                                 v->surface, &ok);
    if (r != VK_SUCCESS || !ok) {
        *headless_ok = true;
        st = r != VK_SUCCESS ? vk_fail(err, r, "creating the window surface")
                             : vkd_error_set(err, VKD_ERR_UNSUPPORTED, "the compute queue cannot present to this window");
        viewer_destroy(v);
        return st;
    }
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = v->vk.queue_family};
    r = vkCreateCommandPool(v->dev, &pci, NULL, &v->pool);
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = v->pool, .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    if (r == VK_SUCCESS) r = vkAllocateCommandBuffers(v->dev, &cai, &v->cmd);
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if (r == VK_SUCCESS) r = vkCreateFence(v->dev, &fci, NULL, &v->fence);
    VkSemaphoreCreateInfo sci = {.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO};
    if (r == VK_SUCCESS) r = vkCreateSemaphore(v->dev, &sci, NULL, &v->acquired);
    if (r != VK_SUCCESS) {
        st = vk_fail(err, r, "creating the present command buffer");
        viewer_destroy(v);
        return st;
    }
    if ((st = vkd_view_renderer_create(v->gpu, &v->renderer, err)) || (st = create_swapchain(v, err))) {
        viewer_destroy(v);
        return st;
    }
    v->orbit.fov_y_deg = 40.0f;
    vkd_view_orbit_frame(&v->orbit, (float[3]){0, 0, 0}, 1.0f);
    v->dirty = true;
    return VKD_OK;
}

static vkd_status set_asset(viewer* v, const vkd_view_asset* a, bool reframe, vkd_error* err) {
    float center[3], radius;
    vkd_status st = vkd_view_renderer_set_asset(v->renderer, a, center, &radius, err);
    if (st) return st;
    if (reframe || !v->have_asset) vkd_view_orbit_frame(&v->orbit, center, radius);
    v->have_asset = a->kind != VKD_VIEW_NONE;
    v->is_mesh = a->kind == VKD_VIEW_MESH;
    v->dirty = true;
    return VKD_OK;
}

// ---------------------------------------------------------------------------
// Frames

static void overlay_text(viewer* v, char* out, size_t size) {
    size_t n = 0;
#define ADD(...)                                                                       \
    do {                                                                               \
        if (n < size) n += (size_t)snprintf(out + n, size - n, __VA_ARGS__);           \
    } while (0)
    const char* mode_name = vkd_view_mode_names[v->mode];
    bool mesh_wire = v->mode == VIEW_MODE_CENTERS && v->is_mesh;
    if (v->feed) {
        vkd_viewer_stats s;
        char prompt[256];
        vkd_viewer_feed_read_stats(v->feed, &s, prompt, sizeof prompt);
        if (prompt[0]) ADD("\"%s\"\n", prompt);
        if (s.steps) ADD("step %u/%u", s.step, s.steps);
        else ADD("step %u", s.step);
        if (s.loss != 0.0f) ADD("  loss %.4g", (double)s.loss);
        if (s.t > 0.0f) ADD("  t %.3g", (double)s.t);
        if (s.its > 0.0f) ADD("  %.2f it/s", (double)s.its);
        bool done = vkd_viewer_feed_finished(v->feed);
        ADD("%s\n", done ? "  DONE" : vkd_viewer_feed_paused(v->feed) ? "  PAUSED" : v->quitting ? "  STOPPING" : "");
        if (v->have_asset) ADD("%s  (snapshot of step %u)\n", v->asset_info, v->snapshot_step);
        else ADD("waiting for the first snapshot\n");
    } else {
        ADD("%s\n", v->asset_info);
    }
    // The frame time is what drawing costs; fps = 1000 / that, the rate the view could run at
    // (it draws only when something changes).
    ADD("mode %d %s%s  frame %.1f ms (%.1f fps)\n", v->mode + 1, mesh_wire ? "wireframe" : mode_name,
        v->auto_rotate ? "  auto-rotate" : "", v->frame_ms, v->frame_ms > 0 ? 1e3 / v->frame_ms : 0.0);
    if (v->message[0] && now_s() < v->message_until) ADD("%s\n", v->message);
    ADD("\vdrag rotate  right-drag pan  wheel zoom  R reset  A auto-rotate  H overlay\n");
    ADD("\v1 RGB  2 normals  3 depth  4 opacity  5 centers/wireframe  S screenshot  %sQ quit",
        v->feed ? "space pause  E export  " : "");
#undef ADD
}

// Renders one frame and presents it. *presented is false when nothing was shown (minimized,
// swapchain out of date).
static vkd_status frame(viewer* v, bool* presented, vkd_error* err) {
    *presented = false;
    vkd_status st;
    if (v->need_recreate && (st = recreate_swapchain(v, err))) return st;
    if (!v->extent.width || !v->extent.height) return VKD_OK;  // minimized
    // Render first, then take a swapchain image only for the copy: the image is held briefly,
    // and a failed render leaves no acquired image behind.
    double t0 = now_s();
    char text[2048];
    overlay_text(v, text, sizeof text);
    vkd_camera cam = vkd_view_orbit_camera(&v->orbit, (int)v->extent.width, (int)v->extent.height);
    vkd_view_frame_desc fd = {
        .width = (int)v->extent.width,
        .height = (int)v->extent.height,
        .render_scale = v->desc->render_scale,
        .mode = v->mode,
        .bgra = v->bgra,
        .text = v->overlay ? text : NULL,
        .corner = v->feed != NULL,
    };
    st = vkd_view_renderer_render(v->renderer, &cam, &fd, err);
    if (st) return st;
    uint32_t idx = 0;
    VkResult r = vkAcquireNextImageKHR(v->dev, v->swapchain, UINT64_MAX, v->acquired, VK_NULL_HANDLE, &idx);
    if (r == VK_ERROR_OUT_OF_DATE_KHR) {
        v->need_recreate = true;  // the window changed: rebuild and draw again at the new size
        v->dirty = true;
        return VKD_OK;
    }
    if (r != VK_SUCCESS && r != VK_SUBOPTIMAL_KHR) return vk_fail(err, r, "vkAcquireNextImageKHR");
    if (r == VK_SUBOPTIMAL_KHR) v->need_recreate = true;  // present this one, then rebuild
    uint64_t vb = 0, off = 0;
    vkd_buffer_vk_handle(v->gpu, vkd_view_renderer_frame(v->renderer), &vb, &off);
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    vkResetCommandBuffer(v->cmd, 0);
    vkBeginCommandBuffer(v->cmd, &bi);
    VkImageMemoryBarrier to_dst = {
        .sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER,
        .srcAccessMask = 0,
        .dstAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
        .oldLayout = VK_IMAGE_LAYOUT_UNDEFINED,  // every pixel is overwritten
        .newLayout = VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL,
        .srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
        .dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED,
        .image = v->images[idx],
        .subresourceRange = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 1, 0, 1},
    };
    // Source stage = the stage the acquire semaphore is waited at, so the transition follows it.
    vkCmdPipelineBarrier(v->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 0, NULL, 0, NULL,
                         1, &to_dst);
    VkBufferImageCopy region = {
        .bufferOffset = off,
        .bufferRowLength = 0,  // tightly packed: width pixels per row
        .bufferImageHeight = 0,
        .imageSubresource = {VK_IMAGE_ASPECT_COLOR_BIT, 0, 0, 1},
        .imageExtent = {v->extent.width, v->extent.height, 1},
    };
    vkCmdCopyBufferToImage(v->cmd, (VkBuffer)(uintptr_t)vb, v->images[idx], VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1,
                           &region);
    VkImageMemoryBarrier to_present = to_dst;
    to_present.srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT;
    to_present.dstAccessMask = 0;
    to_present.oldLayout = VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL;
    to_present.newLayout = VK_IMAGE_LAYOUT_PRESENT_SRC_KHR;
    vkCmdPipelineBarrier(v->cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, 0, 0, NULL, 0,
                         NULL, 1, &to_present);
    vkEndCommandBuffer(v->cmd);
    VkPipelineStageFlags wait_stage = VK_PIPELINE_STAGE_TRANSFER_BIT;
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .waitSemaphoreCount = 1,
        .pWaitSemaphores = &v->acquired,
        .pWaitDstStageMask = &wait_stage,
        .commandBufferCount = 1,
        .pCommandBuffers = &v->cmd,
        .signalSemaphoreCount = 1,
        .pSignalSemaphores = &v->presented[idx],
    };
    VkQueue q = (VkQueue)v->vk.queue;
    r = vkQueueSubmit(q, 1, &si, v->fence);
    if (r != VK_SUCCESS) return vk_fail(err, r, "vkQueueSubmit (present copy)");
    VkPresentInfoKHR pi = {
        .sType = VK_STRUCTURE_TYPE_PRESENT_INFO_KHR,
        .waitSemaphoreCount = 1,
        .pWaitSemaphores = &v->presented[idx],
        .swapchainCount = 1,
        .pSwapchains = &v->swapchain,
        .pImageIndices = &idx,
    };
    VkResult pr = vkQueuePresentKHR(q, &pi);
    // The fence makes the command buffer and the acquire semaphore reusable.
    r = vkWaitForFences(v->dev, 1, &v->fence, VK_TRUE, UINT64_MAX);
    vkResetFences(v->dev, 1, &v->fence);
    if (r != VK_SUCCESS) return vk_fail(err, r, "vkWaitForFences (present copy)");
    if (pr == VK_ERROR_OUT_OF_DATE_KHR || pr == VK_SUBOPTIMAL_KHR) v->need_recreate = true;
    else if (pr != VK_SUCCESS) return vk_fail(err, pr, "vkQueuePresentKHR");
    double t1 = now_s();
    v->busy_s = t1 - t0;
    v->frame_ms = v->frame_ms > 0 ? 0.8 * v->frame_ms + 0.2 * 1e3 * v->busy_s : 1e3 * v->busy_s;
    v->last_present = t1;
    v->frames++;
    if (v->have_asset) v->asset_frames++;
    *presented = true;
    return VKD_OK;
}

// Takes what the loop handed over (live mode). Returns whether anything changed.
static vkd_status ingest_feed(viewer* v, bool* changed, vkd_error* err) {
    *changed = false;
    vkd_view_asset a = {.kind = VKD_VIEW_GAUSSIANS};
    uint32_t step = 0;
    if (vkd_viewer_feed_take_gaussians(v->feed, &a.gaussians, &step)) {
        snprintf(v->asset_info, sizeof v->asset_info, "3DGS  %u Gaussians  SH %d", a.gaussians.count,
                 a.gaussians.sh_degree);
        v->snapshot_step = step;
        vkd_status st = set_asset(v, &a, false, err);
        vkd_gaussians_host_free(&a.gaussians);
        if (st) return st;
        *changed = true;
    }
    char path[4096];
    if (vkd_viewer_feed_take_nerf(v->feed, path, sizeof path, &step)) {
        vkd_view_asset n = {.kind = VKD_VIEW_NERF, .nerf_path = path};
        snprintf(v->asset_info, sizeof v->asset_info, "NeRF  checkpoint of step %u", step);
        v->snapshot_step = step;
        vkd_status st = set_asset(v, &n, false, err);  // framed on the first one
        if (st) return st;
        *changed = true;
    }
    float* chw = NULL;
    int c, h, w;
    if (vkd_viewer_feed_take_prior_image(v->feed, &chw, &c, &h, &w)) {
        vkd_status st = vkd_view_renderer_set_corner(v->renderer, chw, c, h, w, err);
        free(chw);
        if (st) return st;
        *changed = true;
    }
    return VKD_OK;
}

// The event loop. Returns when the window should close (and, live, the loop has stopped).
static vkd_status run_loop(viewer* v, vkd_error* err) {
    const vkd_viewer_desc* d = v->desc;
    float max_busy = d->max_busy > 0 && d->max_busy < 1 ? d->max_busy : 0.05f;
    double last_anim = now_s();
    while (!v->close) {
        if (glfwWindowShouldClose(v->win)) {
            glfwSetWindowShouldClose(v->win, GLFW_FALSE);
            request_quit(v);
        }
        bool live_running = false;
        if (v->feed) {
            bool changed;
            vkd_status st = ingest_feed(v, &changed, err);
            if (st) return st;
            bool finished = vkd_viewer_feed_finished(v->feed);
            if (finished && (v->quitting || d->close_when_done)) break;
            live_running = !finished && !vkd_viewer_feed_paused(v->feed);
            // The overlay's numbers change every step: show them at most 4 times a second.
            double t = now_s();
            if (changed || t - v->stats_shown_at > 0.25) {
                v->dirty = true;
                v->stats_shown_at = t;
            }
        }
        bool continuous = v->auto_rotate || d->screenshot_after > 0;
        if (v->message[0] && now_s() > v->message_until) {
            v->message[0] = 0;
            v->dirty = true;
        }
        double t = now_s();
        if (v->auto_rotate) {
            v->orbit.azimuth_deg = (float)fmod(v->orbit.azimuth_deg + 20.0 * (t - last_anim), 360.0);
            v->dirty = true;
        }
        last_anim = t;
        // While the optimisation runs, the viewer's busy time stays under max_busy of the wall
        // time: after a frame that took b seconds it waits b (1 / cap - 1). For a second after
        // input the cap is 50%: the user steering the view trades some speed for responsiveness.
        double cap = t < v->interactive_until ? fmax(max_busy, 0.5) : max_busy;
        double next_allowed = v->last_present + v->busy_s * (1.0 / cap - 1.0);
        if (live_running && d->screenshot_after <= 0 && t < next_allowed) {
            glfwWaitEventsTimeout(next_allowed - t);
            continue;
        }
        int fw = 0, fh = 0;
        glfwGetFramebufferSize(v->win, &fw, &fh);
        if (fw == 0 || fh == 0 || glfwGetWindowAttrib(v->win, GLFW_ICONIFIED)) {
            // Minimized (a zero-sized framebuffer on Windows, an iconified window on X11, where
            // the size stays): nothing to show; sleep until something happens.
            if (v->feed) glfwWaitEventsTimeout(0.1);
            else glfwWaitEvents();
            continue;
        }
        if (v->dirty || continuous || v->need_recreate) {
            v->dirty = false;
            bool presented;
            vkd_status st = frame(v, &presented, err);
            if (st) return st;
            if (presented && d->on_frame) d->on_frame(d->on_frame_user, v->win, v->frames, v->busy_s);
            if (presented && d->screenshot_after > 0 &&
                (v->feed ? v->asset_frames : v->frames) == d->screenshot_after) {
                vkd_image img;
                st = vkd_view_renderer_read(v->renderer, &img, err);
                if (!st) st = vkd_png_write(d->screenshot_path, &img, err);
                if (!st && !d->quiet)
                    fprintf(stderr, "vkdream view: wrote %s (%dx%d) after %d frames\n", d->screenshot_path, img.width,
                            img.height, v->frames);
                if (!st) vkd_image_free(&img);
                if (st) return st;
                request_quit(v);
                if (!v->feed) break;
            }
            glfwPollEvents();
        } else {
            // Idle: sleep until input; live, wake up to look at the feed; with a message on
            // screen, wake up to take it down.
            if (v->feed) glfwWaitEventsTimeout(0.05);
            else if (v->message[0]) glfwWaitEventsTimeout(fmax(v->message_until - now_s(), 0.01));
            else glfwWaitEvents();
        }
    }
    return VKD_OK;
}

static vkd_status check_validation(viewer* v, vkd_error* err) {
    uint32_t n = vkd_gpu_validation_messages(v->gpu);
    if (n) return vkd_error_set(err, VKD_ERR_GPU, "viewer: %u validation messages (printed above)", n);
    return VKD_OK;
}

vkd_status vkd_viewer_run_file(const vkd_viewer_desc* desc, const char* path, vkd_error* err) {
    vkd_view_asset asset;
    vkd_status st = vkd_view_asset_load(path, &asset, err);
    if (st) return st;
    bool can_shoot = desc->screenshot_after > 0 && desc->screenshot_path;
    viewer v;
    bool headless_ok = false;
    char title[300];
    snprintf(title, sizeof title, "%s - vkdream view", desc->title ? desc->title : path);
    vkd_error open_err = {0};
    st = viewer_open(&v, desc, title, &headless_ok, &open_err);
    if (st) {
        if (headless_ok && can_shoot) {
            if (!desc->quiet) fprintf(stderr, "vkdream view: %s; rendering the screenshot headless\n", open_err.msg);
            st = headless_screenshot(desc, &asset, err);
        } else if (headless_ok) {
            st = vkd_error_set(err, st,
                               "cannot open a window (use --screenshot-after N FILE to render a PNG without one): %s",
                               open_err.msg);
        } else {
            st = vkd_error_set(err, st, "%s", open_err.msg);
        }
        vkd_view_asset_free(&asset);
        return st;
    }
    snprintf(v.asset_info, sizeof v.asset_info, "%s", asset.info);
    st = set_asset(&v, &asset, true, err);
    vkd_view_asset_free(&asset);
    if (!st) st = run_loop(&v, err);
    if (!st) st = check_validation(&v, err);
    viewer_destroy(&v);
    return st;
}

typedef struct live_job {
    vkd_viewer_loop_fn loop;
    void* user;
    vkd_viewer_feed* feed;
    int rc;
} live_job;

static void* live_thread(void* arg) {
    live_job* j = arg;
    j->rc = j->loop(j->user, j->feed);
    vkd_viewer_feed_finish(j->feed);
    return NULL;
}

int vkd_viewer_run_live(const vkd_viewer_desc* desc, vkd_viewer_feed* feed, vkd_viewer_loop_fn loop, void* user,
                        vkd_error* err) {
    viewer v;
    bool headless_ok = false;
    vkd_error open_err = {0};
    vkd_status st = viewer_open(&v, desc, desc->title ? desc->title : "vkdream", &headless_ok, &open_err);
    if (st) {
        if (!desc->quiet) fprintf(stderr, "vkdream: no viewer: %s; running without it\n", open_err.msg);
        int rc = loop(user, feed);
        vkd_viewer_feed_finish(feed);
        return rc;
    }
    v.feed = feed;
    snprintf(v.asset_info, sizeof v.asset_info, "(no asset yet)");
    vkd_viewer_feed_attach(feed, true);
    live_job job = {.loop = loop, .user = user, .feed = feed};
    pthread_t th;
    if (pthread_create(&th, NULL, live_thread, &job)) {
        vkd_viewer_feed_attach(feed, false);
        viewer_destroy(&v);
        if (!desc->quiet) fprintf(stderr, "vkdream: no viewer: cannot start the optimisation thread\n");
        job.rc = loop(user, feed);
        vkd_viewer_feed_finish(feed);
        return job.rc;
    }
    vkd_error loop_err = {0};
    st = run_loop(&v, &loop_err);
    if (st) {
        if (!desc->quiet) fprintf(stderr, "vkdream: viewer: %s; the optimisation goes on without it\n", loop_err.msg);
        vkd_error_set(err, st, "%s", loop_err.msg);
    }
    // Detaching unblocks a paused loop and makes the feed cost-free for the rest of the run.
    vkd_viewer_feed_attach(feed, false);
    if (!st) st = check_validation(&v, err);
    viewer_destroy(&v);  // closes the window now, not when a loop that runs on ends
    pthread_join(th, NULL);
    return job.rc;
}

#endif  // VKD_HAVE_GLFW
