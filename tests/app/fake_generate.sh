#!/usr/bin/env bash
# A stand-in for `vkdream generate` in the batch tests (VKD_BATCH_GENERATOR): logs each start
# and each completion to $FAKE_LOG, takes $FAKE_SLEEP seconds, fails on prompts containing
# FAILME, and on SIGINT/SIGTERM exits 130 without completing (as generate does).
# Usage (as called by batch): fake_generate.sh generate <prompt> --out DIR [flags...]
prompt="$2"; out=""
shift 2
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --resume) echo "resume $prompt" >> "$FAKE_LOG"; shift ;;
    *) echo "flag $prompt $1 ${2:-}" >> "$FAKE_LOG"; shift 2 ;;
  esac
done
trap 'kill $! 2>/dev/null; echo "interrupted $prompt" >> "$FAKE_LOG"; exit 130' INT TERM
echo "start $prompt" >> "$FAKE_LOG"
echo 1 > "$out/checkpoint.step"
sleep "${FAKE_SLEEP:-0}" & wait $!
case "$prompt" in *FAILME*) echo "vkdream generate: the prior refused '$prompt'" >&2; exit 1 ;; esac
echo "asset" > "$out/asset.ply"
echo "done $prompt" >> "$FAKE_LOG"
