// The live viewer (GLFW window, Vulkan swapchain) and the "viewer feed" through which an
// optimisation loop shows its progress in it.
//
// Threads: GLFW wants its window on the main thread, and a vkd_gpu is used from one thread
// at a time. So the viewer runs on the calling (main) thread with its OWN vkd_gpu, and the
// optimisation loop runs on a worker thread with the loop's vkd_gpu; they share nothing but
// the feed, a mutex-protected mailbox of host copies. The loop never waits for the viewer
// (except while the user pauses it): it hands over a snapshot only when the viewer has taken
// the previous one.
//
// Integration into a loop (e.g. `vkdream generate --view`), all of it:
//
//   static int loop(void* user, vkd_viewer_feed* feed) {          // runs on a worker thread
//       vkd_viewer_feed_set_prompt(feed, prompt);
//       for (uint32_t step = 1; step <= steps; step++) {
//           if (!vkd_viewer_feed_wait_while_paused(feed)) break;   // space pauses; Q quits
//           ... one optimisation step ...
//           vkd_viewer_feed_stats(feed, &(vkd_viewer_stats){.step = step, .steps = steps,
//                                 .loss = loss, .t = t, .its = its});
//           if (vkd_viewer_feed_wants_snapshot(feed, step))
//               vkd_viewer_feed_gaussians_from(feed, gaussians, stream, &err);
//           if (step % 50 == 0) vkd_viewer_feed_prior_image(feed, rgb_chw, 3, 64, 64);
//           uint32_t ev = vkd_viewer_feed_poll(feed);
//           if (ev & VKD_VIEWER_CHECKPOINT) ... save a checkpoint ...;   // S (also saved a screenshot)
//           if (ev & VKD_VIEWER_EXPORT) ... export a mesh ...;           // E
//           if (ev & VKD_VIEWER_QUIT) { ... save a checkpoint ...; break; }  // Q, Esc, window closed
//       }
//       return 0;
//   }
//   ...
//   vkd_viewer_feed* feed = vkd_viewer_feed_create(NULL);
//   int rc = vkd_viewer_run_live(&(vkd_viewer_desc){.title = prompt}, feed, loop, ctx, &err);
//   vkd_viewer_feed_destroy(feed);
//
// With no display, vkd_viewer_run_live prints why and runs the loop on the calling thread; the
// feed then reports no viewer (wants_snapshot is false, poll returns 0), so it costs nothing.
//
// Preview rate (the documented default, chosen so the optimisation slows by well under 10%):
// an asset snapshot every 50 steps (vkd_viewer_feed_desc.snapshot_every) and only once the
// viewer has taken the previous one; the viewer renders a frame only when something changed
// (new snapshot, camera input, overlay text at most 4 times a second) and, while the loop
// runs, keeps its own busy time under 5% of wall time (vkd_viewer_desc.max_busy) by waiting
// between frames; for a second after mouse or key input the cap is 50%, so steering the view
// stays responsive. Paused, it renders freely. See README "Viewer" for measurements.
#ifndef VKD_APP_VIEWER_H
#define VKD_APP_VIEWER_H

#include "vkdream/gaussians.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------------------
// Viewer feed (thread-safe; every function may be called from any thread)

typedef struct vkd_viewer_feed vkd_viewer_feed;

typedef struct vkd_viewer_feed_desc {
    uint32_t snapshot_every;   // steps between asset snapshots; 0 = 50
} vkd_viewer_feed_desc;

// What the overlay shows about the optimisation; zero / negative fields are left out.
typedef struct vkd_viewer_stats {
    uint32_t step, steps;      // current step and total (steps 0 = unknown)
    float loss;
    float t;                   // diffusion timestep of the step (0..1 or 0..1000, shown as given)
    float its;                 // optimisation speed, iterations per second
} vkd_viewer_stats;

// Events and state the loop polls (vkd_viewer_feed_poll).
#define VKD_VIEWER_PAUSED 1u      // state: the user paused (space); wait_while_paused blocks
#define VKD_VIEWER_QUIT 2u        // state: Q / Esc / window closed: save a checkpoint and stop
#define VKD_VIEWER_CHECKPOINT 4u  // event: S pressed (the viewer saved a screenshot): save a checkpoint
#define VKD_VIEWER_EXPORT 8u      // event: E pressed: export a mesh now

vkd_viewer_feed* vkd_viewer_feed_create(const vkd_viewer_feed_desc* desc);  // NULL only when out of memory
void vkd_viewer_feed_destroy(vkd_viewer_feed* f);

// --- loop side
void vkd_viewer_feed_set_prompt(vkd_viewer_feed* f, const char* prompt);
// Latest numbers; cheap (a lock and a copy), fine every step.
void vkd_viewer_feed_stats(vkd_viewer_feed* f, const vkd_viewer_stats* s);
// True when the loop should hand over a snapshot at this step: a viewer is attached, at least
// snapshot_every steps passed since the last one (or there was none yet), and the viewer has
// taken the previous one.
bool vkd_viewer_feed_wants_snapshot(vkd_viewer_feed* f, uint32_t step);
// Hands over a copy of host Gaussians (packed layout); replaces an untaken one.
vkd_status vkd_viewer_feed_gaussians(vkd_viewer_feed* f, uint32_t step, const vkd_gaussians_host* h, vkd_error* err);
// Downloads g's parameters (SUBMITS s: see vkd_gaussians_download) and hands them over
// without another copy. Uses the step count of g.
vkd_status vkd_viewer_feed_gaussians_from(vkd_viewer_feed* f, vkd_gaussians* g, vkd_stream* s, vkd_error* err);
// A NeRF loop's snapshot: a checkpoint file it has just written (atomically: write + rename)
// at `step`; the viewer loads it on its own device. Free for the loop when it checkpoints
// anyway (`generate` every output.checkpoint_every steps). Ignored with no viewer attached.
void vkd_viewer_feed_nerf_checkpoint(vkd_viewer_feed* f, uint32_t step, const char* path);
// The prior-side image for the corner: planar (c, h, w) floats in [0, 1], c = 1 or 3; copied.
vkd_status vkd_viewer_feed_prior_image(vkd_viewer_feed* f, const float* chw, int c, int h, int w, vkd_error* err);
// Returns the state bits (PAUSED, QUIT) and the events since the last poll (CHECKPOINT,
// EXPORT), clearing the events. 0 when no viewer is attached.
uint32_t vkd_viewer_feed_poll(vkd_viewer_feed* f);
// Blocks while paused. Returns false when the user asked to quit (then stop and save).
bool vkd_viewer_feed_wait_while_paused(vkd_viewer_feed* f);
// The loop has ended (the viewer then shows "done" and stays open until closed, unless
// close_when_done). vkd_viewer_run_live calls it when the loop returns.
void vkd_viewer_feed_finish(vkd_viewer_feed* f);

// --- viewer side (src/app/viewer.c; public for tests)
void vkd_viewer_feed_attach(vkd_viewer_feed* f, bool attached);
// Takes the newest snapshot if there is one (ownership moves to *out; free it with
// vkd_gaussians_host_free). *step gets its step.
bool vkd_viewer_feed_take_gaussians(vkd_viewer_feed* f, vkd_gaussians_host* out, uint32_t* step);
// Takes the newest NeRF checkpoint path if one arrived since the last call.
bool vkd_viewer_feed_take_nerf(vkd_viewer_feed* f, char* path, size_t size, uint32_t* step);
// Takes the prior image if a new one arrived (*chw malloc'ed, caller frees).
bool vkd_viewer_feed_take_prior_image(vkd_viewer_feed* f, float** chw, int* c, int* h, int* w);
// Copies the latest stats and prompt; returns whether they changed since the last call.
bool vkd_viewer_feed_read_stats(vkd_viewer_feed* f, vkd_viewer_stats* s, char* prompt, size_t prompt_size);
void vkd_viewer_feed_request(vkd_viewer_feed* f, uint32_t events);  // CHECKPOINT / EXPORT / QUIT
void vkd_viewer_feed_set_paused(vkd_viewer_feed* f, bool paused);
bool vkd_viewer_feed_paused(vkd_viewer_feed* f);
bool vkd_viewer_feed_finished(vkd_viewer_feed* f);

// ---------------------------------------------------------------------------
// The viewer

typedef struct vkd_viewer_desc {
    int width, height;           // window size; 0 = 960 x 720
    const char* title;           // window title; NULL = "vkdream"
    const char* device;          // Vulkan device (as vkd_gpu_desc.device)
    bool validation;             // enable the validation layer (also $VKD_VALIDATION=1)
    // After this many presented frames, save the last one to screenshot_path and close
    // (for tests and scripts). Headless, the one frame is rendered without a window. Live,
    // frames count from the first snapshot (frames that show an asset).
    int screenshot_after;
    const char* screenshot_path;
    float render_scale;          // render at this fraction of the window size; 0 = auto (0.5 for
                                 // Gaussians on CPU devices such as lavapipe, else 1)
    bool no_overlay;             // start with the overlay hidden (H toggles it)
    int mode;                    // initial render mode (0..4 = keys 1..5)
    float max_busy;              // live mode: viewer busy-time cap while the loop runs; 0 = 0.05
    bool quiet;                  // no progress lines on stderr
    bool close_when_done;        // live mode: close when the loop returns (default: stay open)
    const char* screenshot_prefix; // S key: "<prefix>-NNN.png"; NULL = "vkdream-screenshot"
    // For tests and tools: called on the viewer's thread after every presented frame with the
    // GLFWwindow* (as void*), the number of frames presented so far and the seconds the frame
    // took (render + copy + present: the viewer's busy time).
    void (*on_frame)(void* user, void* window, int frames, double busy_s);
    void* on_frame_user;
} vkd_viewer_desc;

// Whether a window can be opened: a display is set and GLFW initialises with Vulkan
// support. Otherwise why, in *why (a full sentence).
bool vkd_viewer_display_available(char* why, size_t why_size);

// Opens a window on one asset file (3DGS .ply, or a mesh .obj / .ply / .glb) and runs until
// closed. Headless (no display): with screenshot_after, renders the screenshot without a
// window and returns VKD_OK; without, returns VKD_ERR_UNSUPPORTED saying there is no display.
vkd_status vkd_viewer_run_file(const vkd_viewer_desc* desc, const char* path, vkd_error* err);

// Live mode: runs loop(user, feed) on a worker thread and the viewer on the calling thread
// until the window is closed and the loop has returned, and returns the loop's return value.
// A viewer failure (also validation messages when the layer is on) is reported on stderr and
// in err (zero it before the call to tell); the loop then runs on without a viewer.
// Without a display: prints why on stderr and runs the loop on the calling thread.
typedef int (*vkd_viewer_loop_fn)(void* user, vkd_viewer_feed* feed);
int vkd_viewer_run_live(const vkd_viewer_desc* desc, vkd_viewer_feed* feed, vkd_viewer_loop_fn loop, void* user,
                        vkd_error* err);

#ifdef __cplusplus
}
#endif
#endif
