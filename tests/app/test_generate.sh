#!/usr/bin/env bash
# End to end `vkdream generate` with the shapes prior (known answer): outputs written, one
# log row per step, Ctrl-C keeps a checkpoint and --resume finishes the run with every step
# logged exactly once, a NeRF run, and clear errors for bad settings.
# Usage: test_generate.sh <vkdream> <source dir>
set -u
exe="$1"; src="$2"
dir="$(mktemp -d)"; trap 'rm -rf "$dir"' EXIT
fail=0
check() { if eval "$1"; then echo "ok: $2"; else echo "FAIL: $2"; fail=1; fi; }
small=(--scene "$src/scenes/shapes.ini" --width 32 --height 32 --points 600 --turntable_frames 4 --quiet)

"$exe" generate "a red cube" "${small[@]}" --steps 40 --preview_every 20 --out "$dir/a" 2>"$dir/a.err"
check "[ $? -eq 0 ]" "generate exits 0 ($(tail -1 "$dir/a.err"))"
for f in scene.ini log.csv asset.ply checkpoint.safetensors turntable.png turntable/frame_003.png preview/step_000040.png; do
  check "[ -s '$dir/a/$f' ]" "wrote $f"
done
check "[ \$(tail -n +2 '$dir/a/log.csv' | wc -l) -eq 40 ]" "log.csv has 40 step rows"
check "grep -q '^prompt = a red cube$' '$dir/a/scene.ini'" "scene.ini records the prompt"
check "head -c 3 '$dir/a/asset.ply' | grep -q ply" "asset.ply is a PLY"

# The mesh export: generate writes asset.glb (export_mesh defaults on); `vkdream export` meshes
# the .ply and the checkpoint; real tools read the files.
check "[ -s '$dir/a/asset.glb' ]" "generate exported asset.glb"
"$exe" export "$dir/a/asset.ply" --format ply --out "$dir/a/m.ply" 2>"$dir/x.err"
check "[ $? -eq 0 ] && [ -s '$dir/a/m.ply' ]" "export .ply -> PLY ($(tail -1 "$dir/x.err"))"
"$exe" export "$dir/a/checkpoint.safetensors" --format obj --out "$dir/a/m.obj" 2>"$dir/x.err"
check "[ $? -eq 0 ] && [ -s '$dir/a/m.obj' ]" "export checkpoint -> OBJ ($(tail -1 "$dir/x.err"))"
if command -v assimp >/dev/null; then
  check "assimp info '$dir/a/asset.glb' 2>&1 | grep -q 'Faces:'" "assimp reads asset.glb"
  check "assimp info '$dir/a/m.ply' 2>&1 | grep -q 'Faces:'" "assimp reads m.ply"
fi
NODE_PATH="$(npm root -g 2>/dev/null)" node "$src/tools/gltf_validate.cjs" "$dir/a/asset.glb" >"$dir/v.txt" 2>&1; rc=$?
[ $rc -eq 77 ] || [ $rc -eq 127 ] || check "[ $rc -eq 0 ]" "glTF validator accepts asset.glb: $(head -1 "$dir/v.txt")"
"$exe" export "$dir/a/asset.ply" --faces 800 --texture 128 --format glb --out "$dir/a/t.glb" 2>"$dir/x.err"
check "[ $? -eq 0 ] && [ -s '$dir/a/t.png' ]" "decimated + textured export ($(tail -1 "$dir/x.err"))"
NODE_PATH="$(npm root -g 2>/dev/null)" node "$src/tools/gltf_validate.cjs" "$dir/a/t.glb" >"$dir/v.txt" 2>&1; rc=$?
[ $rc -eq 77 ] || [ $rc -eq 127 ] || check "[ $rc -eq 0 ]" "glTF validator accepts the textured GLB: $(head -1 "$dir/v.txt")"
command -v assimp >/dev/null && check "assimp info '$dir/a/t.glb' 2>&1 | grep -q 'Faces:              800'" "assimp reads 800 faces"
out="$("$exe" export "$dir/a/log.csv" 2>&1)"
check "echo \"\$out\" | grep -q 'log.csv'" "a corrupt asset is named in the error"

# The resolved scene reproduces the run: same seed, same log (loss column).
"$exe" generate --scene "$dir/a/scene.ini" --out "$dir/a2" --quiet 2>/dev/null
check "[ \"\$(cut -d, -f1,2 '$dir/a/log.csv')\" = \"\$(cut -d, -f1,2 '$dir/a2/log.csv')\" ]" "scene.ini reproduces the run"

# Interrupt, then resume: every step logged exactly once, exit code 130 on the interrupt.
"$exe" generate "a blue sphere" "${small[@]}" --steps 400 --checkpoint_every 10 --preview_every 0 --out "$dir/b" 2>"$dir/b.err" &
pid=$!
for i in $(seq 1 600); do [ -s "$dir/b/checkpoint.step" ] && break; sleep 0.1; done
kill -INT $pid; wait $pid; rc=$?
check "[ $rc -eq 130 ]" "Ctrl-C exits 130 (got $rc: $(tail -1 "$dir/b.err"))"
stopped=$(cat "$dir/b/checkpoint.step" 2>/dev/null || echo 0)
check "[ $stopped -gt 0 ] && [ $stopped -lt 400 ]" "checkpoint kept at step $stopped"
check "grep -q 'resume' '$dir/b.err'" "the message says how to resume"
"$exe" generate "a blue sphere" "${small[@]}" --steps 60 --preview_every 0 --out "$dir/c" 2>/dev/null
"$exe" generate "a blue sphere" "${small[@]}" --steps 60 --checkpoint_every 25 --preview_every 0 --out "$dir/d" 2>/dev/null &
pid=$!
for i in $(seq 1 600); do [ -s "$dir/d/checkpoint.step" ] && break; sleep 0.1; done
kill -INT $pid; wait $pid
"$exe" generate "a blue sphere" "${small[@]}" --steps 60 --checkpoint_every 25 --preview_every 0 --out "$dir/d" --resume 2>"$dir/d.err"
check "[ $? -eq 0 ]" "--resume finishes ($(tail -1 "$dir/d.err"))"
check "[ \$(tail -n +2 '$dir/d/log.csv' | cut -d, -f1 | sort -n | uniq | wc -l) -eq 60 ] && [ \$(tail -n +2 '$dir/d/log.csv' | wc -l) -eq 60 ]" "resumed log has each of the 60 steps once"
check "[ \"\$(tail -n +2 '$dir/c/log.csv' | cut -d, -f1,2)\" = \"\$(tail -n +2 '$dir/d/log.csv' | cut -d, -f1,2)\" ]" "interrupted + resumed run equals the straight run"

# A NeRF run.
"$exe" generate "a yellow cone" "${small[@]}" --repr nerf --steps 6 --levels 8 --log2_table 14 --samples 64 --batch 1 --preview_every 0 --out "$dir/e" 2>"$dir/e.err"
check "[ $? -eq 0 ] && [ -s '$dir/e/nerf.safetensors' ] && [ -s '$dir/e/turntable.png' ]" "NeRF run writes nerf.safetensors ($(tail -1 "$dir/e.err"))"

# Errors name the key and what is allowed; unknown prompts for the shapes prior list the shapes.
out="$("$exe" generate "a red cube" --method dds 2>&1)"; rc=$?
check "[ $rc -eq 2 ] && echo \"\$out\" | grep -q 'sds|vsd|bsd|asd'" "bad --method names the allowed values"
out="$("$exe" generate "a ripe strawberry" "${small[@]}" --steps 2 --out "$dir/f" 2>&1)"
check "echo \"\$out\" | grep -q 'Shapes: sphere'" "unknown object for the shapes prior lists the shapes"
out="$("$exe" generate "a red cube" --scene /nonexistent.ini 2>&1)"
check "echo \"\$out\" | grep -q '/nonexistent.ini'" "missing scene file is named"
exit $fail
