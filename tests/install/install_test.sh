#!/usr/bin/env bash
# Installs kvc into a temporary prefix and uses it from there only.
#   install_test.sh consumers SOURCE_DIR BUILD_DIR
#     builds examples/c (copied out of the tree) with find_package(kvc) against
#     kvc::kvc (static) and kvc::kvc_shared, and with its Makefile and pkg-config;
#     runs each twice on one cache dir (save, then find after a restart); and a
#     C++ consumer (tests/install/cxx_consumer) with find_package and kvc::kvc.
#   install_test.sh headers SOURCE_DIR BUILD_DIR
#     compiles every installed header on its own with only <prefix>/include
#     (C++20; kvc.h also as C11 -pedantic), every header of include/kvc/ (the
#     engine's too) on its own with include/ and no src/, checks that the installed
#     set is include/kvc/ minus the engine's, and that libkvc.so exports only kvc_*.
set -euo pipefail
mode=$1 src=$2 build=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvc-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
fail() { echo "install_test: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || { cat "$tmp/install.log"; fail "cmake --install failed"; }
libdir=$(dirname "$(find "$prefix" -name libkvc_capi.a | head -1)")
[ -d "$libdir" ] || fail "libkvc_capi.a was not installed under $prefix"
for f in include/kvc/kvc.h; do [ -f "$prefix/$f" ] || fail "$f was not installed"; done
for f in libkvc.so kvc.pc kvcConfig.cmake kvcConfigVersion.cmake kvcTargets.cmake; do
  [ -n "$(find "$prefix" -name "$f")" ] || fail "$f was not installed under $prefix"
done
# A consumer must not see the source tree or the build tree.
unset CPATH C_INCLUDE_PATH CPLUS_INCLUDE_PATH LIBRARY_PATH PKG_CONFIG_PATH CMAKE_PREFIX_PATH

run_twice() {  # BINARY LABEL: save on the first run, find the row on disk after a "restart"
  local bin=$1 label=$2 data=$tmp/data-$2 out
  mkdir -p "$data"
  out=$("$bin" "$data") || { echo "$out"; fail "$label: first run failed"; }
  echo "$out" | sed "s/^/[$label 1] /"
  grep -q '^saved ' <<<"$out" || fail "$label: first run did not save"
  grep -q 'longest prefix of a 74-token prompt: 64 tokens' <<<"$out" || fail "$label: no longest-prefix hit"
  grep -q 'bytes verified' <<<"$out" || fail "$label: bytes not verified"
  out=$("$bin" "$data") || { echo "$out"; fail "$label: second run failed"; }
  echo "$out" | sed "s/^/[$label 2] /"
  grep -q 'already saved' <<<"$out" || fail "$label: the restarted process did not find the saved row"
  grep -q 'loaded .* from the disk tier: bytes verified' <<<"$out" || fail "$label: not loaded from disk after restart"
}

case "$mode" in
  consumers)
    cp -r "$src/examples/c" "$tmp/example"
    for link in static shared; do
      flag=OFF; [ "$link" = static ] && flag=ON
      cmake -S "$tmp/example" -B "$tmp/build-$link" -DCMAKE_PREFIX_PATH="$prefix" -DKVC_EXAMPLE_STATIC=$flag \
        -DCMAKE_BUILD_TYPE=Release >"$tmp/cfg-$link.log" 2>&1 || { cat "$tmp/cfg-$link.log"; fail "find_package ($link) failed"; }
      cmake --build "$tmp/build-$link" >"$tmp/build-$link.log" 2>&1 || { cat "$tmp/build-$link.log"; fail "build ($link) failed"; }
      run_twice "$tmp/build-$link/kvc_example" "cmake-$link"
    done
    cp -r "$src/examples/c" "$tmp/example-pc"
    rm -f "$tmp/example-pc/kvc_example"
    PKG_CONFIG_PATH=$libdir/pkgconfig make -C "$tmp/example-pc" >"$tmp/make.log" 2>&1 || { cat "$tmp/make.log"; fail "make with pkg-config failed"; }
    loaded=$(ldd "$tmp/example-pc/kvc_example" | awk '$1 ~ /^libkvc\.so/ {print $3}')
    [ -n "$loaded" ] && [ "$(realpath "$loaded")" = "$(realpath "$libdir"/libkvc.so)" ] ||
      fail "the pkg-config build loads '${loaded:-no libkvc.so}', not $libdir/libkvc.so"

    run_twice "$tmp/example-pc/kvc_example" pkg-config
    cmake -S "$src/tests/install/cxx_consumer" -B "$tmp/build-cxx" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_BUILD_TYPE=Release >"$tmp/cfg-cxx.log" 2>&1 || { cat "$tmp/cfg-cxx.log"; fail "find_package (C++) failed"; }
    cmake --build "$tmp/build-cxx" >"$tmp/build-cxx.log" 2>&1 || { cat "$tmp/build-cxx.log"; fail "build (C++) failed"; }
    mkdir -p "$tmp/data-cxx"
    for run in 1 2; do  # the second run finds the row the first saved
      out=$("$tmp/build-cxx/kvc_cxx_consumer" "$tmp/data-cxx") || { echo "$out"; fail "C++ consumer run $run failed"; }
      echo "$out" | sed "s/^/[c++ $run] /"
      grep -q 'C API: key .*: found and verified' <<<"$out" || fail "C++ consumer run $run: the C API did not find the row"
      if [ "$run" = 1 ]; then grep -q '^kvc_cxx_consumer: saved ' <<<"$out" || fail "C++ consumer: the first run did not save"; fi
    done
    grep -q 'found .* after a restart .* through the user Env .*bytes verified' <<<"$out" ||
      fail "C++ consumer: the restarted kvc::Cache did not find and load the row through its Env"
    echo "install_test consumers: ok (C: find_package static and shared, pkg-config; C++: find_package)"
    ;;
  headers)
    n=0
    for h in "$prefix"/include/kvc/*.h; do
      name=kvc/$(basename "$h")
      printf '#include <%s>\n#include <%s>\n' "$name" "$name" >"$tmp/one.cc"  # twice: include guards hold
      c++ -std=c++20 -Wall -Wextra -Werror -fsyntax-only -I"$prefix/include" "$tmp/one.cc" ||
        fail "$name does not compile on its own (C++20) with only $prefix/include"
      n=$((n + 1))
    done
    printf '#include <kvc/kvc.h>\n#include <kvc/kvc.h>\nint main(void) { return kvc_status_name(KVC_OK)[0] == 0; }\n' >"$tmp/one.c"
    cc -std=c11 -Wall -Wextra -pedantic -Werror -fsyntax-only -I"$prefix/include" "$tmp/one.c" ||
      fail "kvc/kvc.h does not compile as C11 with only $prefix/include"
    # The source tree's headers, the engine's included, with include/ and the
    # generated version.h only: none may reach into src/.
    m=0
    for h in "$src"/include/kvc/*.h; do
      name=kvc/$(basename "$h")
      printf '#include <%s>\n' "$name" >"$tmp/one.cc"
      c++ -std=c++20 -Wall -Wextra -Werror -fsyntax-only -I"$src/include" -I"$build/generated" "$tmp/one.cc" ||
        fail "$name does not compile on its own with only include/ (no src/)"
      m=$((m + 1))
    done
    # Every public header of the cache library is installed (only the engine's are not).
    for h in "$src"/include/kvc/*.h; do
      base=$(basename "$h")
      case "$base" in engine.h | chat.h) continue ;; esac
      [ -f "$prefix/include/kvc/$base" ] || fail "kvc/$base is public but not installed (cmake/install.cmake)"
    done
    for h in engine.h chat.h; do
      [ ! -e "$prefix/include/kvc/$h" ] || fail "kvc/$h is installed, but the engine layer (libkvc_engine) is not"
    done
    extra=$(nm -D --defined-only "$libdir/libkvc.so" | awk '$2 ~ /^[TDBRVW]$/ && $3 !~ /^kvc_/ {print $3}')
    [ -z "$extra" ] || fail "libkvc.so exports more than kvc_*: $extra"
    echo "install_test headers: ok ($n installed headers on their own, kvc.h as C11; $m source headers without src/; libkvc.so exports only kvc_*)"
    ;;
  *) fail "unknown mode '$mode' (consumers or headers)" ;;
esac
