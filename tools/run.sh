#!/usr/bin/env bash
# The main command: installs what is missing, builds vkdream (release), and runs it
# with the given arguments, e.g. `tools/run.sh info`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/tools/deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j"$(nproc)" >/dev/null
exec "$root/build/vkdream" "$@"
