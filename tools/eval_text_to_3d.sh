#!/usr/bin/env bash
# Text-to-3D quality on a prior with known answers: for each prompt ("a <color> <shape>"),
# `vkdream generate` with the given model and scene, then tools/score_asset against the
# procedural ground truth from held-out views (silhouette IoU, color error). Prints a
# markdown table, with the untrained start (step 0: the initial Gaussian blob) as a baseline.
#
#   tools/eval_text_to_3d.sh [--model M] [--out DIR] [--build DIR] [-- generate flags...] [PROMPT...]
#   e.g. tools/eval_text_to_3d.sh --model builtin                      (the default prompt set)
#        tools/eval_text_to_3d.sh --model shapes -- --scene scenes/shapes.ini   (the exact-denoiser ceiling)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
model=builtin
out=/tmp/vkdream_eval
build="$root/build"
gen=()
prompts=()
while [ $# -gt 0 ]; do
    case $1 in
    --model) model=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --help|-h) sed -n 2,9p "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; while [ $# -gt 0 ] && [ "${1:0:2}" = "--" ]; do gen+=("$1" "$2"); shift 2; done ;;
    *) prompts+=("$1"); shift ;;
    esac
done
[ ${#prompts[@]} -gt 0 ] || prompts=("a red cube" "a blue sphere" "a green cylinder" "a yellow cone"
                                    "a purple torus" "a orange pyramid" "a white snowman" "a brown table")
for exe in "$build/vkdream" "$build/tools/score_asset"; do
    [ -x "$exe" ] || { echo "eval_text_to_3d: $exe is not built (cmake --build $build)" >&2; exit 1; }
done
mkdir -p "$out"
echo "| prompt | IoU start | IoU | color error start | color error | dominant color | seconds |"
echo "|---|---:|---:|---:|---:|---|---:|"
rows=()
for p in "${prompts[@]}"; do
    dir="$out/$(echo "$p" | tr ' ' '_')"
    mkdir -p "$dir"
    # The start: the same run stopped before its first step.
    "$build/vkdream" generate "$p" --model "$model" "${gen[@]}" --steps 0 --turntable_frames 0 \
        --export_mesh false --preview_every 0 --out "$dir/start" --quiet 2> "$dir.start.log" || { cat "$dir.start.log" >&2; exit 1; }
    t0=$(date +%s)
    "$build/vkdream" generate "$p" --model "$model" "${gen[@]}" --turntable_frames 8 --export_mesh false \
        --out "$dir" --quiet 2> "$dir.log" || { cat "$dir.log" >&2; exit 1; }
    t1=$(date +%s)
    s0=$("$build/tools/score_asset" "$dir/start/asset.ply" "$p")
    s1=$("$build/tools/score_asset" "$dir/asset.ply" "$p" --out "$dir/score.png")
    iou0=$(echo "$s0" | sed 's/.*IoU \([0-9.]*\).*/\1/') col0=$(echo "$s0" | sed 's/.*color error \([0-9.]*\).*/\1/')
    iou1=$(echo "$s1" | sed 's/.*IoU \([0-9.]*\).*/\1/') col1=$(echo "$s1" | sed 's/.*color error \([0-9.]*\).*/\1/')
    named=$(echo "$s1" | sed 's/.*color \([a-z]*\) (\([a-z]*\)).*/\1 (\2)/')
    echo "| $p | $iou0 | $iou1 | $col0 | $col1 | $named | $((t1 - t0)) |"
    rows+=("$iou0 $iou1 $col0 $col1")
done
printf '%s\n' "${rows[@]}" | awk '{a+=$1; b+=$2; c+=$3; d+=$4; n++}
    END {printf "| mean | %.3f | %.3f | %.3f | %.3f | | |\n", a/n, b/n, c/n, d/n}'
echo "(renders above truth per prompt: $out/<prompt>/score.png)"
