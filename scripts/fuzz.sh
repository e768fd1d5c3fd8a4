#!/usr/bin/env bash
# npm run fuzz:native [-- SECONDS]: the coverage-guided fuzzers of the model loader (libFuzzer,
# clang-14), built into build-fuzz/:
#   validate_fuzz  the archive checks alone (native/core/validate.cc), AddressSanitizer + UBSan;
#   load_fuzz      the whole loader: the checks, then libtorch's torch::jit::load (libtorch 2.x).
# Each first replays every crasher kept in test/fuzz/crashers/ (regressions), then fuzzes for
# SECONDS (default 60) from test/fuzz/corpus/ plus the test fixtures. A new finding is written
# to test/fuzz/crashers/ and fails the run. Prints "N passed, N failed" (one per fuzzer).
# A long run: bash scripts/fuzz.sh 3600  (or run build-fuzz/load_fuzz by hand with -jobs=N).
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
torch=$(echo "$PWD"/.torch/lib/python3*/site-packages/torch)
mkdir -p build-fuzz test/fuzz/corpus test/fuzz/crashers
build() { # target, then the compile line's extra arguments
  local out=build-fuzz/$1; shift
  if [ ! -x "$out" ] || [ -n "$(find native -newer "$out" -print -quit)" ]; then
    clang++-14 -g -O1 "$@" -o "$out" || return 1
  fi
}
build validate_fuzz -std=c++17 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Inative \
  native/fuzz/validate_fuzz.cc native/core/validate.cc -lz || exit 1
build load_fuzz -std=c++20 -fsanitize=fuzzer -Inative -I"$torch/include" -I"$torch/include/torch/csrc/api/include" \
  native/fuzz/load_fuzz.cc native/core/{model,package,errors,validate,runtime}.cc -L"$torch/lib" -Wl,-rpath,"$torch/lib" \
  -Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 || exit 1

# Seeds: the kept corpus, and the fixtures (small ones; malformed ones too).
seeds=$(mktemp -d)
cp test/fuzz/corpus/* "$seeds"/ 2>/dev/null || true
find test/fixtures -name '*.pt' -size -200k -exec cp --backup=numbered {} "$seeds"/ \;
passed=0 failed=0
for fuzzer in validate_fuzz load_fuzz; do
  work=$(mktemp -d)
  crashers=(test/fuzz/crashers/*)
  if [ -e "${crashers[0]}" ] && ! build-fuzz/$fuzzer "${crashers[@]}" > "$work/replay.log" 2>&1; then
    echo "FAIL $fuzzer: a kept crasher fails again"; tail -20 "$work/replay.log"; failed=$((failed + 1)); continue
  fi
  mkdir -p "$work/corpus"
  (cd "$work" && "$OLDPWD/build-fuzz/$fuzzer" "$work/corpus" "$seeds" -max_total_time="$seconds" -max_len=262144 -timeout=20 \
    -rss_limit_mb=4096 -print_final_stats=1 ${CI:+-seed=1} > "$work/fuzz.log" 2>&1)
  runs=$(grep -o 'number_of_executed_units: [0-9]*' "$work/fuzz.log" | awk '{print $2}')
  found=$(ls "$work" | grep -E '^(crash|timeout|oom|leak)-' || true)
  if [ -n "$found" ]; then
    for f in $found; do cp "$work/$f" "test/fuzz/crashers/$fuzzer-$f.bin"; done
    echo "FAIL $fuzzer: $(echo "$found" | wc -w) finding(s) after ${runs:-?} inputs, kept in test/fuzz/crashers/"; grep -E "ERROR|SUMMARY" "$work/fuzz.log" | head -5
    failed=$((failed + 1))
  else
    echo "ok   $fuzzer: ${runs:-?} inputs in ${seconds} s, no crash, hang or leak"
    passed=$((passed + 1))
  fi
  rm -rf "$work"
done
rm -rf "$seeds"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
