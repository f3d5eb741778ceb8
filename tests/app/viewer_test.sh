#!/bin/sh
# Viewer end-to-end cases (tests/app/CMakeLists.txt): viewer_test.sh <case> <vkdream> <test_viewer> <dir>
# Windowed cases run under a private Xvfb (xvfb-run -a) with lavapipe and the validation
# layer on; any validation message fails (the viewer exits non-zero, and CTest also greps for
# "validation:"). Exit 77 = skipped (no Xvfb installed).
set -eu
case=$1
vkdream=$2
tv=$3
dir=$4
rm -rf "$dir"
mkdir -p "$dir"
"$tv" assets "$dir"
export VKD_VALIDATION=1

with_x() {
    if ! command -v xvfb-run > /dev/null 2>&1; then
        echo "xvfb-run (package xvfb) is not installed: skipping"
        exit 77
    fi
    xvfb-run -a -s "-screen 0 1280x1024x24 -nolisten tcp" "$@"
}

shot() {  # shot <asset> <png> <frames> [view options...]
    asset=$1 png=$2 frames=$3
    shift 3
    with_x "$vkdream" view "$asset" --width 320 --height 240 --screenshot-after "$frames" "$png" "$@"
}

case $case in
gaussians)
    shot "$dir/ball.ply" "$dir/ball.png" 3
    "$tv" check "$dir/ball.png" 320 240
    ;;
modes)
    # keys 1-5 as --mode: every mode shows the asset (centers: small dots, so less of the middle)
    for m in 1 2 3 4 5; do
        min=0.5
        [ $m = 5 ] && min=0.02
        shot "$dir/ball.ply" "$dir/ball-mode$m.png" 2 --mode $m
        "$tv" check "$dir/ball-mode$m.png" 320 240 $min
        shot "$dir/sphere.ply" "$dir/sphere-mode$m.png" 2 --mode $m
        "$tv" check "$dir/sphere-mode$m.png" 320 240
    done
    ;;
mesh)
    for e in obj ply glb; do
        shot "$dir/sphere.$e" "$dir/sphere-$e.png" 3
        "$tv" check "$dir/sphere-$e.png" 320 240
    done
    ;;
live)
    with_x "$tv" live "$dir/live.png"
    "$tv" check "$dir/live.png" 320 240
    ;;
keys)
    # space pauses the loop, S saves screenshots and asks for a checkpoint, E for an export,
    # 3/1 switch modes, a drag rotates, R resets, Q stops the loop
    with_x "$tv" keys "$dir"
    ;;
resize)
    # the window is resized to 400x300 after frame 2: the swapchain is rebuilt and frame 6 has the new size
    with_x "$tv" resize "$dir/ball.ply" "$dir/resized.png"
    "$tv" check "$dir/resized.png" 400 300
    ;;
overlay)
    # no window needed: the overlay kernels pixel by pixel against a CPU rendering
    "$tv" overlay
    ;;
headless)
    # no display: `view` says so; with --screenshot-after it renders the PNG anyway
    env -u DISPLAY -u WAYLAND_DISPLAY "$vkdream" view "$dir/ball.ply" --width 320 --height 240 \
        --screenshot-after 2 "$dir/headless.png" 2> "$dir/headless.log" || { cat "$dir/headless.log"; exit 1; }
    cat "$dir/headless.log"
    grep -q "no display" "$dir/headless.log"
    "$tv" check "$dir/headless.png" 320 240
    if env -u DISPLAY -u WAYLAND_DISPLAY "$vkdream" view "$dir/ball.ply" 2> "$dir/nowindow.log"; then
        echo "view without a display and without --screenshot-after should fail"
        exit 1
    fi
    cat "$dir/nowindow.log"
    grep -q "no display" "$dir/nowindow.log"
    grep -q -- "--screenshot-after" "$dir/nowindow.log"
    # the live mode without a display runs the loop without a viewer
    env -u DISPLAY -u WAYLAND_DISPLAY "$tv" live-headless
    ;;
live-generate)
    # `generate --view`: the live viewer on a real run (shapes prior); the screenshot closes the
    # window, which stops the run with a checkpoint it can resume from
    scene=$(dirname "$0")/../../scenes/shapes.ini
    with_x "$vkdream" generate "a red cube" --scene "$scene" --steps 400 --out "$dir/gen" \
        --screenshot-after 12 "$dir/gen.png" 2> "$dir/gen.log" || { cat "$dir/gen.log"; exit 1; }
    cat "$dir/gen.log"
    grep -q "stopped from the viewer" "$dir/gen.log"
    step=$(cat "$dir/gen/checkpoint.step")
    [ "$step" -ge 1 ] && [ "$step" -lt 400 ] || { echo "checkpoint at step $step, expected 1..399"; exit 1; }
    "$tv" check "$dir/gen.png" 960 720
    # headless: says so and runs to the end
    env -u DISPLAY -u WAYLAND_DISPLAY "$vkdream" generate "a red cube" --scene "$scene" --steps 4 --view \
        --turntable_frames 0 --export_mesh false --out "$dir/gen-headless" 2> "$dir/gen-headless.log" ||
        { cat "$dir/gen-headless.log"; exit 1; }
    grep -q "no display" "$dir/gen-headless.log"
    [ -s "$dir/gen-headless/asset.ply" ]
    ;;
nerf)
    # a NeRF checkpoint in `view` (every mode), then `generate --repr nerf --view`: the viewer
    # shows the run's checkpoints as they are written
    scene=$(dirname "$0")/../../scenes/shapes.ini
    small="--scene $scene --repr nerf --levels 8 --log2_table 14 --samples 64 --batch 1 --preview_every 0"
    # shellcheck disable=SC2086
    "$vkdream" generate "a yellow cone" $small --steps 30 --turntable_frames 0 --export_mesh false \
        --out "$dir/nerf" 2> "$dir/nerf.log" || { cat "$dir/nerf.log"; exit 1; }
    for m in 1 2 3 4; do
        shot "$dir/nerf/nerf.safetensors" "$dir/nerf-mode$m.png" 2 --mode $m
        "$tv" check "$dir/nerf-mode$m.png" 320 240
    done
    if "$vkdream" view "$dir/nerf/checkpoint.step.missing.safetensors" 2> "$dir/nerf-bad.log"; then
        echo "view of a missing checkpoint should fail"; exit 1
    fi
    # shellcheck disable=SC2086
    with_x "$vkdream" generate "a yellow cone" $small --steps 200 --checkpoint_every 3 --out "$dir/nerf-live" \
        --screenshot-after 40 "$dir/nerf-live.png" 2> "$dir/nerf-live.log" || { cat "$dir/nerf-live.log"; exit 1; }
    grep -q "stopped from the viewer" "$dir/nerf-live.log"
    "$tv" check "$dir/nerf-live.png" 960 720 0.3
    ;;
*)
    echo "unknown case $case"
    exit 2
    ;;
esac
echo "viewer case $case passed"
