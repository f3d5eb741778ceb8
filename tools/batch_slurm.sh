#!/usr/bin/env bash
# Slurm array job: one vkdream batch worker per array task, each its own deterministic shard.
#   sbatch --array=0-7 --gres=gpu:1 tools/batch_slurm.sh        (PROMPTS, OUT, SCENE from the env)
#SBATCH --job-name=vkdream-batch
#SBATCH --output=vkdream-batch-%A_%a.log
set -euo pipefail
: "${PROMPTS:?set PROMPTS to the prompts file}" "${OUT:?set OUT to the output folder}"
task="${SLURM_ARRAY_TASK_ID:?run as a Slurm array job}"
count="${SLURM_ARRAY_TASK_COUNT:-$(( ${SLURM_ARRAY_TASK_MAX:-0} - ${SLURM_ARRAY_TASK_MIN:-0} + 1 ))}"
exec vkdream batch "$PROMPTS" --out "$OUT" --shard "$task/$count" ${SCENE:+--scene "$SCENE"}
