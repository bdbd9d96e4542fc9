#!/usr/bin/env bash
# tools/test.sh — every test: installs what is missing, builds, runs the unit, parity and
# end-to-end tests (ctest) on a Release build, the unit tests again on a Release build with
# the CUDA backend (HERD_CUDA=ON, nvcc from /usr/local/cuda, sm_80 + sm_90; without a GPU the
# GPU-vs-CPU comparisons report SKIPPED), all of them again under AddressSanitizer +
# UndefinedBehaviorSanitizer (without CUDA), runs the graph tests under ThreadSanitizer,
# then smoke-runs every fuzz harness.
#   FUZZ_SECONDS=20 (per harness; 0 skips)   BUILD_ROOT=build (where the build trees go)
#   HERD_TEST_CUDA=0 skips the CUDA build (e.g. on a machine without the CUDA toolkit)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh

BUILD_ROOT=${BUILD_ROOT:-build}
JOBS=$(nproc)
export PYTHON=/usr/bin/python3
status=0

run_suite() { # name, ctest regex ('' = all), cmake args...
  local name=$1 only=$2; shift 2
  echo "=== $name build ===" >&2
  cmake -S . -B "$BUILD_ROOT/$name" "$@" >/dev/null
  cmake --build "$BUILD_ROOT/$name" -j"$JOBS" >/dev/null
  echo "=== $name tests${only:+ ($only)} ===" >&2
  (cd "$BUILD_ROOT/$name" && ctest --output-on-failure -j"$JOBS" ${only:+-R "$only"}) || status=1
}

run_suite release '' -DCMAKE_BUILD_TYPE=Release

if [ "${HERD_TEST_CUDA:-1}" != 0 ]; then
  if [ -x /usr/local/cuda/bin/nvcc ] || [ -n "${CUDACXX:-}" ]; then
    # without a GPU the CUDA build runs the CPU paths the release suite has run already: its
    # unit tests cover the backend dispatch and the CUDA kernels' math on the host
    run_suite cuda '^test_' -DCMAKE_BUILD_TYPE=Release -DHERD_CUDA=ON
  else
    echo "=== cuda: no nvcc at /usr/local/cuda/bin (set CUDACXX, or HERD_TEST_CUDA=0 to skip) ===" >&2
    status=1
  fi
fi
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite sanitize '' -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERD_SANITIZE=address,undefined

# the processing graph's concurrency (queues, scheduler, model cache, cancellation) under
# ThreadSanitizer: the graph unit tests and the herd binary they drive
echo "=== thread (graph) build ===" >&2
graph_tests=$(cd tests/unit && ls test_graph*.c | sed 's/\.c$//' | tr '\n' ' ')
cmake -S . -B "$BUILD_ROOT/thread" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHERD_SANITIZE=thread >/dev/null
# shellcheck disable=SC2086
cmake --build "$BUILD_ROOT/thread" -j"$JOBS" --target herd $graph_tests >/dev/null
echo "=== thread (graph) tests ===" >&2
(cd "$BUILD_ROOT/thread" && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --output-on-failure -j"$JOBS" -R '^test_graph') || status=1

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
if [ "$FUZZ_SECONDS" != 0 ] && [ -f tools/fuzz-smoke.sh ]; then
  echo "=== fuzz smoke ($FUZZ_SECONDS s each) ===" >&2
  case "$BUILD_ROOT" in /*) fuzz_root=$BUILD_ROOT ;; *) fuzz_root=$PWD/$BUILD_ROOT ;; esac
  BUILD_ROOT="$fuzz_root" bash tools/fuzz-smoke.sh "$FUZZ_SECONDS" || status=1
fi

if [ $status -ne 0 ]; then echo "tools/test.sh: FAILED" >&2; else echo "tools/test.sh: all suites passed" >&2; fi
exit $status
