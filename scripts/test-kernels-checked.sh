#!/usr/bin/env bash
# The kernel property tests and the engine's tests against the checked build of the compiled kernels:
# Cython's bounds checks on and AddressSanitizer for the raw pointers (setup.py, DP_KERNELS_CHECKED=1).
# Built in a scratch copy of the sources, so nothing that runs meanwhile from the work tree (another
# test run, a pipeline) ever loads it, and the release build stays in place whatever happens here.
#   bash scripts/test-kernels-checked.sh [pytest args]   (default: tests/anonymize)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="$PWD/.venv/bin/python"
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
cp -r setup.py pyproject.toml README.md data_pipeline assets anonymizers expectations docs tests "$SCRATCH"/
find "$SCRATCH" \( -name '*.so' -o -name __pycache__ \) -prune -exec rm -rf {} +
cd "$SCRATCH"
echo "building the checked kernels (bounds checks, AddressSanitizer)"
DP_KERNELS_CHECKED=1 "$PY" setup.py -q build_ext --inplace >build.log 2>&1 || { cat build.log; exit 1; }
[ $# -gt 0 ] || set -- tests/anonymize tests/test_checks.py
# ASan's runtime must be loaded first (Python is not built with it); Arrow allocates through malloc so
# ASan sees its buffers; DP_TEST_KERNELS_CHECKED makes the tests assert that this build is the one loaded
# (python -m pytest puts this copy first on sys.path, before the editable install); --capture=sys leaves
# file descriptor 2 alone, so an ASan report reaches the terminal even though it ends the process.
LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
  ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 \
  ARROW_DEFAULT_MEMORY_POOL=system \
  DP_TEST_KERNELS_CHECKED=1 \
  "$PY" -m pytest -q -p no:cacheprovider --capture=sys "$@"
