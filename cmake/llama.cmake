# The llama.cpp layer: finds llama.cpp and records which build it is.
#
#   KVC_WITH_ENGINE   ON, OFF or AUTO (default): AUTO enables the engine layer when
#                     llama.cpp is found; ON makes a missing llama.cpp an error.
#                     After this file it is a plain ON/OFF variable.
#   KVC_LLAMA_PREFIX  install prefix of llama.cpp (cache variable; defaults to the
#                     environment variable of the same name, else to the build
#                     scripts/llama-build made for this machine and compiler, if any;
#                     else a llama.cpp installed on CMAKE_PREFIX_PATH / the system).
#
# Build llama.cpp with `scripts/llama-build` (prints the prefix). When llama.cpp is
# found this defines the imported targets llama and ggml::ggml (their headers are
# SYSTEM includes) and llama_common (llama.cpp's `common` library: chat templates,
# tool-call parsing, json_schema_to_grammar, the sampler chain; built since
# recipe 2 of scripts/llama-build), sets KVC_LLAMA_SERVER_TESTS to llama.cpp's
# server test suite in the prefix ("" when absent), and generates
# ${CMAKE_BINARY_DIR}/generated/kvc/llama_build.h:
#   KVC_LLAMA_COMMIT     the llama.cpp commit (40 hex) or "unknown"
#   KVC_LLAMA_BUILD_KEY  scripts/llama-build's compiler/CPU key, or "unknown"
#   KVC_LLAMA_VOCAB_DIR  directory of the vocab-only GGUFs, or "" if unknown
#   KVC_LLAMA_TEMPLATES_DIR  llama.cpp's models/templates (chat templates), or ""
# (the commit goes into the context-parameters hash).

set(KVC_WITH_ENGINE AUTO CACHE STRING "Build the llama.cpp engine layer: ON, OFF or AUTO (ON when llama.cpp is found)")
set_property(CACHE KVC_WITH_ENGINE PROPERTY STRINGS AUTO ON OFF)
set(KVC_LLAMA_PREFIX "$ENV{KVC_LLAMA_PREFIX}" CACHE PATH "Install prefix of llama.cpp (scripts/llama-build prints it)")

string(TOUPPER "${KVC_WITH_ENGINE}" _kvc_engine_mode)
if(NOT _kvc_engine_mode STREQUAL "AUTO" AND NOT KVC_WITH_ENGINE)
  message(STATUS "kvc: llama.cpp engine layer disabled (KVC_WITH_ENGINE=${KVC_WITH_ENGINE})")
  set(KVC_WITH_ENGINE OFF)
  return()
endif()

# No prefix given: ask scripts/llama-build for the build valid here (never builds).
set(_kvc_llama_prefix "${KVC_LLAMA_PREFIX}")
if(NOT _kvc_llama_prefix)
  execute_process(
    COMMAND ${CMAKE_SOURCE_DIR}/scripts/llama-build --query
    OUTPUT_VARIABLE _kvc_query_out
    ERROR_QUIET
    RESULT_VARIABLE _kvc_query_rc
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(_kvc_query_rc EQUAL 0 AND _kvc_query_out)
    string(REGEX REPLACE ".*\n" "" _kvc_llama_prefix "${_kvc_query_out}")
  endif()
endif()

# The package and its libraries are cached by find_package/find_library: when the
# prefix changes (another compiler, a rebuilt llama.cpp), forget the old ones.
if(DEFINED _KVC_LLAMA_CACHED_PREFIX AND NOT _KVC_LLAMA_CACHED_PREFIX STREQUAL _kvc_llama_prefix)
  foreach(_var llama_DIR ggml_DIR llama_LIBRARY GGML_LIBRARY GGML_BASE_LIBRARY GGML_CPU_LIBRARY)
    unset(${_var} CACHE)
  endforeach()
endif()
set(_KVC_LLAMA_CACHED_PREFIX "${_kvc_llama_prefix}" CACHE INTERNAL "llama.cpp prefix the cached package paths belong to")

if(_kvc_llama_prefix)
  find_package(llama CONFIG QUIET PATHS "${_kvc_llama_prefix}" NO_DEFAULT_PATH)
  if(NOT llama_FOUND AND KVC_LLAMA_PREFIX)
    message(WARNING "kvc: no llama.cpp CMake package under KVC_LLAMA_PREFIX=${KVC_LLAMA_PREFIX}")
  endif()
else()
  find_package(llama CONFIG QUIET)
endif()

if(NOT llama_FOUND OR NOT TARGET llama)
  if(_kvc_engine_mode STREQUAL "AUTO")
    message(STATUS "kvc: llama.cpp not found, engine layer skipped "
                   "(run scripts/llama-build, then configure with -DKVC_LLAMA_PREFIX=<printed prefix>)")
    set(KVC_WITH_ENGINE OFF)
    return()
  endif()
  message(FATAL_ERROR "kvc: KVC_WITH_ENGINE=ON but llama.cpp was not found; run scripts/llama-build "
                      "and pass -DKVC_LLAMA_PREFIX=<printed prefix>")
endif()
set(KVC_WITH_ENGINE ON)

# tools/ (kvc-mkmodel and its engine_smoke test) is configured before the top level
# calls enable_testing(); enable it here so ctest sees tests added there.
if(KVC_BUILD_TESTS)
  enable_testing()
endif()

# Which build: the stamp written by scripts/llama-build, else whatever the package says.
get_filename_component(_kvc_llama_root "${llama_DIR}/../../.." ABSOLUTE)  # <prefix>/lib/cmake/llama
set(_kvc_stamp "${_kvc_llama_root}/share/kvc/llama-build.stamp")
set(KVC_LLAMA_COMMIT "unknown")
set(KVC_LLAMA_BUILD_KEY "unknown")
set(KVC_LLAMA_VOCAB_DIR "")
set(KVC_LLAMA_TEMPLATES_DIR "")
if(IS_DIRECTORY "${_kvc_llama_root}/share/kvc/templates")
  set(KVC_LLAMA_TEMPLATES_DIR "${_kvc_llama_root}/share/kvc/templates")
endif()
if(EXISTS "${_kvc_stamp}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${_kvc_stamp}")
  file(STRINGS "${_kvc_stamp}" _kvc_stamp_lines)
  foreach(_line IN LISTS _kvc_stamp_lines)
    if(_line MATCHES "^commit=([0-9a-f]+)$")
      set(KVC_LLAMA_COMMIT "${CMAKE_MATCH_1}")
    elseif(_line MATCHES "^key=([0-9a-f]+)$")
      set(KVC_LLAMA_BUILD_KEY "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  if(IS_DIRECTORY "${_kvc_llama_root}/share/kvc/vocab")
    set(KVC_LLAMA_VOCAB_DIR "${_kvc_llama_root}/share/kvc/vocab")
  endif()
elseif(LLAMA_BUILD_COMMIT AND NOT LLAMA_BUILD_COMMIT STREQUAL "unknown")
  set(KVC_LLAMA_COMMIT "${LLAMA_BUILD_COMMIT}")
endif()

# llama.cpp's common library, installed by scripts/llama-build beside libllama.
set(_kvc_common_lib "${_kvc_llama_root}/lib/libllama-common.a")
if(NOT EXISTS "${_kvc_common_lib}" OR NOT EXISTS "${_kvc_llama_root}/include/llama-common/chat.h")
  if(_kvc_engine_mode STREQUAL "AUTO")
    message(STATUS "kvc: ${_kvc_llama_root} has no llama.cpp common library (an older scripts/llama-build "
                   "recipe); engine layer skipped: run scripts/llama-build and reconfigure")
    set(KVC_WITH_ENGINE OFF)
    return()
  endif()
  message(FATAL_ERROR "kvc: ${_kvc_llama_root} has no llama.cpp common library (lib/libllama-common.a); "
                      "it was built by an older scripts/llama-build recipe: run scripts/llama-build and reconfigure")
endif()
if(NOT TARGET llama_common)
  add_library(llama_common_base STATIC IMPORTED)
  set_target_properties(llama_common_base PROPERTIES IMPORTED_LOCATION "${_kvc_llama_root}/lib/libllama-common-base.a")
  # libcpp-httplib.a (llama.cpp's vendored cpp-httplib, which common's download
  # code uses) is deliberately not linked: kvc never downloads, no object of
  # common that kvc uses refers to it, and its non-inline httplib:: definitions
  # would replace the inline ones of the cpp-httplib kvc-server is compiled
  # against (another version: an ODR violation that crashes the server).
  add_library(llama_common STATIC IMPORTED)
  set_target_properties(llama_common PROPERTIES
    IMPORTED_LOCATION "${_kvc_common_lib}"
    IMPORTED_LINK_INTERFACE_LANGUAGES CXX
    INTERFACE_LINK_LIBRARIES "llama_common_base;llama;ggml::ggml;Threads::Threads")
  # SYSTEM, like llama's own headers: warnings in them are not kvc's. The vendor/
  # directory holds the nlohmann/ headers common's sources were built with; kvc's
  # code keeps using Debian's (common's public headers expose no nlohmann type).
  target_include_directories(llama_common SYSTEM INTERFACE "${_kvc_llama_root}/include/llama-common")
endif()
set(KVC_LLAMA_SERVER_TESTS "")
if(EXISTS "${_kvc_llama_root}/share/kvc/server-tests/utils.py")
  set(KVC_LLAMA_SERVER_TESTS "${_kvc_llama_root}/share/kvc/server-tests")
endif()

message(STATUS "kvc: llama.cpp ${llama_VERSION} commit ${KVC_LLAMA_COMMIT} from ${_kvc_llama_root}")
file(CONFIGURE OUTPUT ${CMAKE_BINARY_DIR}/generated/kvc/llama_build.h CONTENT
"// Generated by cmake/llama.cmake: which llama.cpp build kvc links.
#pragma once
#define KVC_LLAMA_COMMIT \"${KVC_LLAMA_COMMIT}\"
#define KVC_LLAMA_BUILD_KEY \"${KVC_LLAMA_BUILD_KEY}\"
#define KVC_LLAMA_VOCAB_DIR \"${KVC_LLAMA_VOCAB_DIR}\"
#define KVC_LLAMA_TEMPLATES_DIR \"${KVC_LLAMA_TEMPLATES_DIR}\"
")
