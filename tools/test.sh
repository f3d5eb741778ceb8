#!/usr/bin/env bash
# The test command (what .ci/run runs): installs what is missing, builds warning-free,
# runs the suite with the Khronos validation layer on, then the sanitizer pass.
#   tools/test.sh           full suite
#   tools/test.sh --quick   quick subset (ctest label "quick"), no sanitizer pass
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
quick=0
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "tools/test.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
"$root/tools/deps.sh"
jobs="$(nproc)"
export VKD_VALIDATION=1
# Lavapipe's LLVM JIT uses every core per device; two tests at once keep both busy.
label=()
[ "$quick" = 1 ] && label=(-L quick)

cmake -S "$root" -B "$root/build-test" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVKD_WERROR=ON -DVKD_FUZZ=ON >/dev/null
cmake --build "$root/build-test" -j"$jobs"
ctest --test-dir "$root/build-test" --output-on-failure -j2 "${label[@]}"

if [ "$quick" = 0 ]; then
  # C references, parsers and the harness under AddressSanitizer + UBSan.
  cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=Debug -DVKD_SANITIZE=ON -DVKD_WERROR=ON >/dev/null
  cmake --build "$root/build-asan" -j"$jobs"
  # Mesa and the loader keep a few allocations until exit; leaks are not what this pass hunts.
  ASAN_OPTIONS=detect_leaks=0 ctest --test-dir "$root/build-asan" --output-on-failure -j2 -L quick
fi
