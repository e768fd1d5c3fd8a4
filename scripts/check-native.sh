#!/usr/bin/env bash
# The native core under AddressSanitizer, UndefinedBehaviorSanitizer and LeakSanitizer:
# builds native/tools/core_check (no Node) into build-asan/ and runs it on the test models,
# through the plan, the interpreter, training and the error paths. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
F=test/fixtures
mkdir -p build-asan
if [ ! -x build-asan/core_check ] || [ -n "$(find native CMakeLists.txt -newer build-asan/core_check -print -quit)" ]; then
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -Wno-maybe-uninitialized" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" > build-asan/configure.log 2>&1 || { cat build-asan/configure.log; exit 1; }
  cmake --build build-asan --target core_check -j "$(nproc)" > build-asan/build.log 2>&1 || { tail -30 build-asan/build.log; exit 1; }
fi
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
passed=0 failed=0
check() { # expected exit code, then core_check's arguments
  local want=$1; shift
  local out; out=$(build-asan/core_check "$@" 2>&1); local got=$?
  if [ "$got" -eq "$want" ] && ! grep -q "Sanitizer" <<<"$out"; then passed=$((passed + 1)); echo "ok   core_check $*";
  else failed=$((failed + 1)); echo "FAIL core_check $* (exit $got, expected $want)"; echo "$out" | tail -40; fi
}
check 0 $F/script_pd_controller.pt 1 1 12 12 12 12 --iters 2000
check 0 $F/mlp_m2.pt 1x48 --iters 2000
check 0 $F/mlp_m2.pt 5x48 --iters 200 --no-plan --train 30
check 0 $F/kinds.pt 4 4 --iters 100
check 1 $F/deep_shape_error.pt 1x4
check 1 $F/truncated.pt 1x4
check 1 $F/state_dict.pt 1x4
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
