// The viewer feed (src/app/viewer.h): a mailbox between the optimisation loop's thread and the
// viewer's. Everything crosses as host copies under one mutex; the loop only ever waits while
// the user has paused it.
#define _POSIX_C_SOURCE 200809L
#include "app/viewer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct vkd_viewer_feed {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t snapshot_every;
    bool attached;

    // loop -> viewer
    vkd_viewer_stats stats;
    char prompt[512];
    bool stats_changed;
    vkd_gaussians_host snap;
    bool snap_ready;             // snap holds a snapshot the viewer has not taken
    bool snap_any;               // a snapshot was ever handed over
    uint32_t snap_step, last_snap_step;
    float* prior;
    int prior_c, prior_h, prior_w;
    bool prior_ready;
    char nerf_path[4096];        // the latest NeRF checkpoint the loop wrote
    uint32_t nerf_step;
    bool nerf_ready;
    bool finished;

    // viewer -> loop
    bool paused, quit;
    uint32_t events;
};

vkd_viewer_feed* vkd_viewer_feed_create(const vkd_viewer_feed_desc* desc) {
    vkd_viewer_feed* f = calloc(1, sizeof *f);
    if (!f) return NULL;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->snapshot_every = desc && desc->snapshot_every ? desc->snapshot_every : 50;
    return f;
}

void vkd_viewer_feed_destroy(vkd_viewer_feed* f) {
    if (!f) return;
    vkd_gaussians_host_free(&f->snap);
    free(f->prior);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

void vkd_viewer_feed_set_prompt(vkd_viewer_feed* f, const char* prompt) {
    pthread_mutex_lock(&f->mu);
    snprintf(f->prompt, sizeof f->prompt, "%s", prompt ? prompt : "");
    f->stats_changed = true;
    pthread_mutex_unlock(&f->mu);
}

void vkd_viewer_feed_stats(vkd_viewer_feed* f, const vkd_viewer_stats* s) {
    pthread_mutex_lock(&f->mu);
    f->stats = *s;
    f->stats_changed = true;
    pthread_mutex_unlock(&f->mu);
}

void vkd_viewer_feed_nerf_checkpoint(vkd_viewer_feed* f, uint32_t step, const char* path) {
    pthread_mutex_lock(&f->mu);
    if (f->attached) {
        snprintf(f->nerf_path, sizeof f->nerf_path, "%s", path);
        f->nerf_step = step;
        f->nerf_ready = true;
    }
    pthread_mutex_unlock(&f->mu);
}

bool vkd_viewer_feed_take_nerf(vkd_viewer_feed* f, char* path, size_t size, uint32_t* step) {
    pthread_mutex_lock(&f->mu);
    bool ready = f->nerf_ready;
    if (ready) {
        snprintf(path, size, "%s", f->nerf_path);
        *step = f->nerf_step;
        f->nerf_ready = false;
    }
    pthread_mutex_unlock(&f->mu);
    return ready;
}

bool vkd_viewer_feed_wants_snapshot(vkd_viewer_feed* f, uint32_t step) {
    pthread_mutex_lock(&f->mu);
    bool due = !f->snap_any || step >= f->last_snap_step + f->snapshot_every || step < f->last_snap_step;
    bool want = f->attached && !f->snap_ready && due;
    pthread_mutex_unlock(&f->mu);
    return want;
}

// Takes ownership of *h (moved into the feed).
static void put_snapshot(vkd_viewer_feed* f, uint32_t step, vkd_gaussians_host* h) {
    pthread_mutex_lock(&f->mu);
    vkd_gaussians_host old = f->snap;
    f->snap = *h;
    f->snap_ready = true;
    f->snap_any = true;
    f->snap_step = f->last_snap_step = step;
    pthread_mutex_unlock(&f->mu);
    memset(h, 0, sizeof *h);
    vkd_gaussians_host_free(&old);
}

vkd_status vkd_viewer_feed_gaussians(vkd_viewer_feed* f, uint32_t step, const vkd_gaussians_host* h, vkd_error* err) {
    vkd_gaussians_host copy;
    vkd_status st = vkd_gaussians_host_alloc(&copy, h->count, h->sh_degree, err);
    if (st) return vkd_error_prefix(err, "viewer feed: ");
    memcpy(copy.data, h->data, (size_t)h->count * vkd_gaussians_row_floats(h->sh_degree) * sizeof(float));
    put_snapshot(f, step, &copy);
    return VKD_OK;
}

vkd_status vkd_viewer_feed_gaussians_from(vkd_viewer_feed* f, vkd_gaussians* g, vkd_stream* s, vkd_error* err) {
    vkd_gaussians_host h;
    vkd_status st = vkd_gaussians_download(g, s, VKD_GAUSSIANS_PARAMS, &h, err);
    if (st) return vkd_error_prefix(err, "viewer feed: ");
    put_snapshot(f, vkd_gaussians_step_count(g), &h);
    return VKD_OK;
}

vkd_status vkd_viewer_feed_prior_image(vkd_viewer_feed* f, const float* chw, int c, int h, int w, vkd_error* err) {
    if (!chw || (c != 1 && c != 3) || h < 1 || w < 1 || (size_t)h * w > (size_t)1 << 24)
        return vkd_error_set(err, VKD_ERR_INVALID, "viewer feed: prior image %dx%dx%d (expected 1 or 3 channels)", c, h,
                             w);
    size_t n = (size_t)c * h * w;
    float* copy = malloc(n * sizeof *copy);
    if (!copy) return vkd_error_set(err, VKD_ERR_OUT_OF_MEMORY, "viewer feed: out of host memory");
    memcpy(copy, chw, n * sizeof *copy);
    pthread_mutex_lock(&f->mu);
    float* old = f->prior;
    f->prior = copy;
    f->prior_c = c, f->prior_h = h, f->prior_w = w;
    f->prior_ready = true;
    pthread_mutex_unlock(&f->mu);
    free(old);
    return VKD_OK;
}

uint32_t vkd_viewer_feed_poll(vkd_viewer_feed* f) {
    pthread_mutex_lock(&f->mu);
    uint32_t r = f->attached ? (f->paused ? VKD_VIEWER_PAUSED : 0) | (f->quit ? VKD_VIEWER_QUIT : 0) | f->events : 0;
    f->events = 0;
    pthread_mutex_unlock(&f->mu);
    return r;
}

bool vkd_viewer_feed_wait_while_paused(vkd_viewer_feed* f) {
    pthread_mutex_lock(&f->mu);
    while (f->attached && f->paused && !f->quit) pthread_cond_wait(&f->cv, &f->mu);
    bool go = !(f->attached && f->quit);
    pthread_mutex_unlock(&f->mu);
    return go;
}

void vkd_viewer_feed_finish(vkd_viewer_feed* f) {
    pthread_mutex_lock(&f->mu);
    f->finished = true;
    pthread_mutex_unlock(&f->mu);
}

void vkd_viewer_feed_attach(vkd_viewer_feed* f, bool attached) {
    pthread_mutex_lock(&f->mu);
    f->attached = attached;
    if (!attached) f->paused = false;  // a closed viewer must not leave the loop blocked
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

bool vkd_viewer_feed_take_gaussians(vkd_viewer_feed* f, vkd_gaussians_host* out, uint32_t* step) {
    pthread_mutex_lock(&f->mu);
    bool ready = f->snap_ready;
    if (ready) {
        *out = f->snap;
        if (step) *step = f->snap_step;
        memset(&f->snap, 0, sizeof f->snap);
        f->snap_ready = false;
    }
    pthread_mutex_unlock(&f->mu);
    return ready;
}

bool vkd_viewer_feed_take_prior_image(vkd_viewer_feed* f, float** chw, int* c, int* h, int* w) {
    pthread_mutex_lock(&f->mu);
    bool ready = f->prior_ready;
    if (ready) {
        *chw = f->prior;
        *c = f->prior_c, *h = f->prior_h, *w = f->prior_w;
        f->prior = NULL;
        f->prior_ready = false;
    }
    pthread_mutex_unlock(&f->mu);
    return ready;
}

bool vkd_viewer_feed_read_stats(vkd_viewer_feed* f, vkd_viewer_stats* s, char* prompt, size_t prompt_size) {
    pthread_mutex_lock(&f->mu);
    bool changed = f->stats_changed;
    *s = f->stats;
    if (prompt && prompt_size) snprintf(prompt, prompt_size, "%s", f->prompt);
    f->stats_changed = false;
    pthread_mutex_unlock(&f->mu);
    return changed;
}

void vkd_viewer_feed_request(vkd_viewer_feed* f, uint32_t events) {
    pthread_mutex_lock(&f->mu);
    if (events & VKD_VIEWER_QUIT) f->quit = true;
    f->events |= events & (VKD_VIEWER_CHECKPOINT | VKD_VIEWER_EXPORT);
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

void vkd_viewer_feed_set_paused(vkd_viewer_feed* f, bool paused) {
    pthread_mutex_lock(&f->mu);
    f->paused = paused;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

bool vkd_viewer_feed_paused(vkd_viewer_feed* f) {
    pthread_mutex_lock(&f->mu);
    bool p = f->paused;
    pthread_mutex_unlock(&f->mu);
    return p;
}

bool vkd_viewer_feed_finished(vkd_viewer_feed* f) {
    pthread_mutex_lock(&f->mu);
    bool d = f->finished;
    pthread_mutex_unlock(&f->mu);
    return d;
}
