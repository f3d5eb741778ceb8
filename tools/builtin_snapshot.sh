#!/usr/bin/env bash
# Scores the built-in prior as it trains: copies the model folder that tools/train_prior
# writes (without its training state) to OUT/step_<N> and runs sample_prior there (DDIM,
# CFG; samples, the truth renders, sheet.png, scores.csv and the score table in scores.txt).
#
#   tools/builtin_snapshot.sh [MODEL_DIR] [OUT] [sample_prior options...]
#   e.g. tools/builtin_snapshot.sh assets/builtin /tmp/builtin_snapshots --count 24 --guidance 3
set -euo pipefail
model=${1:-assets/builtin}
out=${2:-/tmp/builtin_snapshots}
shift $(( $# > 2 ? 2 : $# ))
here=$(cd "$(dirname "$0")/.." && pwd)
sample=${SAMPLE_PRIOR:-$here/build/tools/sample_prior}
[ -x "$sample" ] || { echo "builtin_snapshot: $sample not built (set SAMPLE_PRIOR=path)" >&2; exit 1; }
[ -f "$model/unet/config.json" ] || { echo "builtin_snapshot: no model in $model" >&2; exit 1; }
step=$(sed -n 's/.*"_vkdream": "trained \([0-9]*\) steps.*/\1/p' "$model/unet/config.json")
dir="$out/step_${step:-unknown}"
mkdir -p "$dir"
# The trainer replaces each file atomically; copy the parts a sampler needs.
for part in model_index.json unet text_encoder scheduler tokenizer; do
  cp -r "$model/$part" "$dir/"
done
"$sample" "$dir" --out "$dir/samples" "$@" | tee "$dir/scores.txt"
echo "builtin_snapshot: step ${step:-?} -> $dir"
