#!/usr/bin/env bash
# The native core under AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer:
# builds native/tools/core_check (no Node) into build-asan/ and runs it on the test models,
# through the plan, the interpreter, training and the error paths. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
passed=0 failed=0

# One sanitizer build per libtorch (scripts/builds.mjs): 2.x (the package's pip torch, or
# LIBTORCH / Torch_DIR) into build-asan/, Debian's 1.13 into build-asan-1.13/.
sanitize() { # build folder, fixtures folder, then environment assignments for the finder
  local dir=$1 F=$2; shift 2
  mkdir -p "$dir"
  if [ ! -x "$dir/core_check" ] || [ -n "$(find native CMakeLists.txt -newer "$dir/core_check" -print -quit)" ]; then
    env "$@" cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -Wno-maybe-uninitialized" \
      -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" > "$dir/configure.log" 2>&1 || { cat "$dir/configure.log"; failed=$((failed + 1)); return; }
    cmake --build "$dir" --target core_check -j "$(nproc)" > "$dir/build.log" 2>&1 || { tail -30 "$dir/build.log"; failed=$((failed + 1)); return; }
  fi
  local v; v=$("$dir/core_check" --version 2>/dev/null || echo "?")
  check() { # expected exit code, then core_check's arguments
    local want=$1; shift
    local out; out=$("$dir/core_check" "$@" 2>&1); local got=$?
    if [ "$got" -eq "$want" ] && ! grep -q "Sanitizer" <<<"$out"; then passed=$((passed + 1)); echo "ok   [$v] core_check $*";
    else failed=$((failed + 1)); echo "FAIL [$v] core_check $* (exit $got, expected $want)"; echo "$out" | tail -40; fi
  }
  check 0 $F/script_pd_controller.pt 1 1 12 12 12 12 --iters 2000
  check 0 $F/mlp_m2.pt 1x48 --iters 2000
  check 0 $F/mlp_m2.pt 5x48 --iters 200 --no-plan --train 30
  check 0 $F/kinds.pt 4 4 --iters 100
  check 1 $F/deep_shape_error.pt 1x4
  check 1 $F/truncated.pt 1x4
  check 1 $F/state_dict.pt 1x4
}
sanitize build-asan test/fixtures/torch-2.13
sanitize build-asan-1.13 test/fixtures/torch-1.13 LIBTORCH= Torch_DIR=/usr/lib/x86_64-linux-gnu/cmake/Torch
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
