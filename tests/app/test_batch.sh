#!/usr/bin/env bash
# `vkdream batch`: a batch runs every prompt once; interrupted and resumed it still completes
# each prompt exactly once; two shard workers, and two workers on the same shard, share one
# folder without running a prompt twice; a failure is recorded and reported without stopping
# the batch; bad prompt files name file:line; the Slurm / Kubernetes / GNU parallel examples
# produce the right command lines; and one real batch with the shapes prior.
# Usage: test_batch.sh <vkdream> <source dir>
set -u
exe="$1"; src="$2"
dir="$(mktemp -d)"; trap 'rm -rf "$dir"' EXIT
fail=0
check() { if eval "$1"; then echo "ok: $2"; else echo "FAIL: $2"; fail=1; fi; }
export VKD_BATCH_GENERATOR="$src/tests/app/fake_generate.sh" FAKE_LOG="$dir/log"
done_once() {  # every prompt of $1 completed exactly once in $FAKE_LOG
  local n; n=$(grep -c . "$1")
  [ "$(grep -c '^done ' "$FAKE_LOG")" -eq "$n" ] && [ "$(grep '^done ' "$FAKE_LOG" | sort | uniq -d | wc -l)" -eq 0 ]
}
printf '# test prompts\na red cube\na blue sphere | seed=3 steps=7\n\na green torus\na pink snowman\na gray table\n' > "$dir/p.txt"
grep -v '^#' "$dir/p.txt" | grep . > "$dir/plain.txt"

: > "$FAKE_LOG"
"$exe" batch "$dir/p.txt" --out "$dir/o1" 2>"$dir/e1"; rc=$?
check "[ $rc -eq 0 ] && done_once '$dir/plain.txt'" "a batch completes every prompt once"
check "[ \$(ls -d '$dir'/o1/*/DONE | wc -l) -eq 5 ] && [ -d '$dir/o1/0001-a-blue-sphere' ]" "one folder per prompt with DONE"
check "grep -q 'flag a blue sphere --seed 3' '$FAKE_LOG' && grep -q 'flag a blue sphere --steps 7' '$FAKE_LOG'" "per-line overrides reach generate"
: > "$FAKE_LOG"
"$exe" batch "$dir/p.txt" --out "$dir/o1" 2>/dev/null
check "[ ! -s '$FAKE_LOG' ]" "a finished batch runs nothing again"

# Interrupt and resume.
: > "$FAKE_LOG"
FAKE_SLEEP=0.6 "$exe" batch "$dir/p.txt" --out "$dir/o2" 2>/dev/null & pid=$!
sleep 1.5; kill -INT $pid; wait $pid; rc=$?
check "[ $rc -eq 130 ] && grep -q '^interrupted ' '$FAKE_LOG'" "Ctrl-C stops the batch and the running generator (exit $rc)"
"$exe" batch "$dir/p.txt" --out "$dir/o2" 2>/dev/null
check "done_once '$dir/plain.txt' && grep -q '^resume ' '$FAKE_LOG'" "resumed: every prompt done exactly once, the interrupted one resumed"

# Two shard workers at once, then two workers on the same shard at once.
: > "$FAKE_LOG"
FAKE_SLEEP=0.3 "$exe" batch "$dir/p.txt" --out "$dir/o3" --shard 0/2 2>/dev/null & a=$!
FAKE_SLEEP=0.3 "$exe" batch "$dir/p.txt" --out "$dir/o3" --shard 1/2 2>/dev/null & b=$!
wait $a; wait $b
check "done_once '$dir/plain.txt'" "two shards: every prompt done exactly once"
check "[ \$(grep -c '^start ' '$FAKE_LOG') -eq 5 ]" "two shards: no prompt started twice"
: > "$FAKE_LOG"
FAKE_SLEEP=0.3 "$exe" batch "$dir/p.txt" --out "$dir/o4" 2>/dev/null & a=$!
FAKE_SLEEP=0.3 "$exe" batch "$dir/p.txt" --out "$dir/o4" 2>/dev/null & b=$!
wait $a; wait $b
check "done_once '$dir/plain.txt' && [ \$(grep -c '^start ' '$FAKE_LOG') -eq 5 ]" "two workers on one shard: each prompt started and done once"

# A failure does not stop the batch; --status reports it with its message.
printf 'a red cube\nFAILME please\na blue sphere\n' > "$dir/f.txt"
: > "$FAKE_LOG"
"$exe" batch "$dir/f.txt" --out "$dir/o5" 2>/dev/null; rc=$?
check "[ $rc -eq 1 ] && [ -e '$dir/o5/0002-a-blue-sphere/DONE' ] && [ -e '$dir/o5/0001-failme-please/FAILED' ]" "a failing prompt is recorded and the batch goes on (exit $rc)"
out="$("$exe" batch --status "$dir/o5" 2>&1)"
check "echo \"\$out\" | grep -q '2 done, 1 failed, 0 pending, 0 running' && echo \"\$out\" | grep -q 'the prior refused'" "--status: counts and the failure's message"
out="$("$exe" batch --status "$dir/o5" "$dir/p.txt" 2>&1)"
check "echo \"\$out\" | grep -q 'pending'" "--status with the prompts file counts pending prompts"

# Bad prompt files.
printf 'a red cube\n\na cube | seed3\n' > "$dir/bad.txt"
out="$("$exe" batch "$dir/bad.txt" --out "$dir/o6" 2>&1)"; rc=$?
check "[ $rc -eq 2 ] && echo \"\$out\" | grep -q 'bad.txt:3' && echo \"\$out\" | grep -q 'key=value'" "bad override names file:line"
printf 'a cube | colour=red\n' > "$dir/bad2.txt"
out="$("$exe" batch "$dir/bad2.txt" --out "$dir/o6" 2>&1)"
check "echo \"\$out\" | grep -q \"bad2.txt:1: unknown scene key 'colour'\"" "unknown scene key names file:line"

# Scheduler examples: the right worker command lines.
mkdir -p "$dir/bin"; printf '#!/bin/sh\necho "vkdream $*" >> "%s"\n' "$dir/cmds" > "$dir/bin/vkdream"; chmod +x "$dir/bin/vkdream"
PATH="$dir/bin:$PATH" SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=4 PROMPTS=p.txt OUT=o bash "$src/tools/batch_slurm.sh"
check "grep -q 'vkdream batch p.txt --out o --shard 2/4' '$dir/cmds'" "Slurm array task 2 of 4 runs shard 2/4"
check "grep -q 'JOB_COMPLETION_INDEX' '$src/tools/batch_k8s.yaml' && grep -q 'completionMode: Indexed' '$src/tools/batch_k8s.yaml' && grep -q -- '--shard' '$src/tools/batch_k8s.yaml'" "Kubernetes Indexed Job passes JOB_COMPLETION_INDEX as the shard"
: > "$dir/cmds"
PATH="$dir/bin:$PATH" GPUS=2 PROMPTS=p.txt OUT=o bash "$src/tools/batch_parallel.sh"
check "grep -q 'vkdream batch p.txt --out o --shard 0/2 --device 0' '$dir/cmds' && grep -q 'vkdream batch p.txt --out o --shard 1/2 --device 1' '$dir/cmds'" "local GPUs: one worker per device"

# A real batch: two prompts with the shapes prior, a few steps each.
unset VKD_BATCH_GENERATOR
printf 'a red cube | steps=6\na green torus | steps=6 seed=2\n' > "$dir/real.txt"
"$exe" batch "$dir/real.txt" --out "$dir/o7" --scene "$src/scenes/shapes.ini" -- --width 32 --height 32 --points 300 --turntable_frames 2 --preview_every 0 2>"$dir/e7"; rc=$?
check "[ $rc -eq 0 ] && [ -s '$dir/o7/0000-a-red-cube/asset.ply' ] && [ -s '$dir/o7/0001-a-green-torus/asset.glb' ]" "real generate batch ($(tail -1 "$dir/e7"))"
exit $fail
