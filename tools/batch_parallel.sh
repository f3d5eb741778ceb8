#!/usr/bin/env bash
# One vkdream batch worker per local GPU with GNU parallel: worker k takes shard k/GPUS and
# runs on Vulkan device k.   GPUS=4 PROMPTS=prompts.txt OUT=out tools/batch_parallel.sh
set -euo pipefail
: "${PROMPTS:?set PROMPTS}" "${OUT:?set OUT}"
gpus="${GPUS:-1}"
if command -v parallel >/dev/null; then
  seq 0 $((gpus - 1)) | parallel -j "$gpus" --halt never \
    vkdream batch "$PROMPTS" --out "$OUT" --shard {}/"$gpus" --device {} ${SCENE:+--scene "$SCENE"}
else
  # Same without GNU parallel: background jobs.
  for k in $(seq 0 $((gpus - 1))); do
    vkdream batch "$PROMPTS" --out "$OUT" --shard "$k/$gpus" --device "$k" ${SCENE:+--scene "$SCENE"} &
  done
  wait
fi
