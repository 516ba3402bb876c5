#!/usr/bin/env bash
# Proves that the build enforces the layering (CMakeLists.txt, kvc_layer_root):
#   layering_test.sh CXX SOURCE EXPECT INCLUDE_DIR...
# compiles SOURCE (-fsyntax-only) with exactly the include directories a target
# gets. EXPECT "ok": it must compile. Otherwise EXPECT names the header that must
# be out of reach: the compile must fail, and fail because that header is missing.
set -uo pipefail
cxx=$1 src=$2 expect=$3
shift 3
flags=()
for d in "$@"; do [ -n "$d" ] && flags+=("-I$d"); done
out=$("$cxx" -std=c++20 -fsyntax-only "${flags[@]}" "$src" 2>&1)
rc=$?
name=$(basename "$src")
if [ "$expect" = ok ]; then
  [ "$rc" = 0 ] || { echo "$out"; echo "layering_test: $name must compile with ${flags[*]}"; exit 1; }
  echo "layering_test: $name compiles with ${flags[*]}"
else
  [ "$rc" != 0 ] || { echo "layering_test: $name compiled, but $expect must be out of its reach (${flags[*]})"; exit 1; }
  grep -qF "$expect: No such file or directory" <<<"$out" ||
    { echo "$out"; echo "layering_test: $name failed, but not because $expect is out of reach"; exit 1; }
  echo "layering_test: $name cannot include $expect (${flags[*]}): ok"
fi
