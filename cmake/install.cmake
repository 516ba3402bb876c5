# libkvc.so, `cmake --install` and the exported CMake package (kvc::kvc) plus kvc.pc.
#
# Installed: the public headers of the cache library (include/kvc/, C and C++),
# the static library of every layer
# (libkvc_base.a … libkvc_capi.a), libkvc.so (the C API only), the CMake package
# (<libdir>/cmake/kvc) and kvc.pc (<libdir>/pkgconfig). The package and kvc.pc
# are relocatable: `cmake --install build --prefix T` works for any T.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The public headers: self-contained (they include only each other and the
# standard library). kvc/engine.h and kvc/chat.h belong to the engine layer
# (src/engine, built on llama.cpp), which is not installed.
set(KVC_INSTALLED_HEADERS
    ${CMAKE_SOURCE_DIR}/include/kvc/kvc.h
    ${CMAKE_SOURCE_DIR}/include/kvc/status.h
    ${CMAKE_SOURCE_DIR}/include/kvc/key.h
    ${CMAKE_SOURCE_DIR}/include/kvc/buffer.h
    ${CMAKE_SOURCE_DIR}/include/kvc/options.h
    ${CMAKE_SOURCE_DIR}/include/kvc/env.h
    ${CMAKE_SOURCE_DIR}/include/kvc/row.h
    ${CMAKE_SOURCE_DIR}/include/kvc/lease.h
    ${CMAKE_SOURCE_DIR}/include/kvc/stats.h
    ${CMAKE_SOURCE_DIR}/include/kvc/cache.h
    ${CMAKE_BINARY_DIR}/generated/kvc/version.h)

set(_kvc_modules ${KVC_CORE_MODULES})  # base … cache capi, each below the next
foreach(m ${_kvc_modules})
  set_target_properties(kvc_${m} PROPERTIES EXPORT_NAME ${m})  # kvc::base, …, kvc::capi
endforeach()

# kvc::kvc: the whole library (C API and C++ layers), static. A C program linking
# it needs the C++ linker (CMake picks it when the project enables CXX).
add_library(kvc_library INTERFACE)
target_link_libraries(kvc_library INTERFACE kvc_capi)
set_target_properties(kvc_library PROPERTIES EXPORT_NAME kvc)
add_library(kvc::kvc ALIAS kvc_library)

set(_kvc_export_targets kvc_library)
foreach(m ${_kvc_modules})
  list(APPEND _kvc_export_targets kvc_${m})
endforeach()

# libkvc.so exports the kvc_* C functions and nothing else (a version script):
# Python ctypes and other FFIs can only load a shared library, and an Erlang NIF
# (itself a shared object) needs position-independent code. C++ users link the
# static libraries (kvc::kvc) instead: the C++ API has no stable ABI.
if(KVC_BUILD_SHARED)
  add_library(kvc_shared SHARED ${CMAKE_SOURCE_DIR}/cmake/kvc_shared.c)
  target_link_libraries(kvc_shared PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,kvc_capi>")
  target_include_directories(kvc_shared INTERFACE $<INSTALL_INTERFACE:include>)
  target_link_options(kvc_shared PRIVATE -Wl,--version-script=${CMAKE_SOURCE_DIR}/cmake/kvc_shared.map)
  if(NOT KVC_SANITIZE AND NOT KVC_FUZZ)  # sanitizer runtimes come with the executable
    target_link_options(kvc_shared PRIVATE -Wl,--no-undefined)
  endif()
  set_target_properties(kvc_shared PROPERTIES
    OUTPUT_NAME kvc VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR}
    LINKER_LANGUAGE CXX EXPORT_NAME kvc_shared
    LINK_DEPENDS ${CMAKE_SOURCE_DIR}/cmake/kvc_shared.map)
  add_library(kvc::kvc_shared ALIAS kvc_shared)
  list(APPEND _kvc_export_targets kvc_shared)
endif()

install(TARGETS ${_kvc_export_targets} EXPORT kvcTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${KVC_INSTALLED_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/kvc)

set(_kvc_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/kvc)
install(EXPORT kvcTargets NAMESPACE kvc:: DESTINATION ${_kvc_cmake_dir})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/kvcConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/generated/kvcConfig.cmake
                              INSTALL_DESTINATION ${_kvc_cmake_dir})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/generated/kvcConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/generated/kvcConfig.cmake ${CMAKE_BINARY_DIR}/generated/kvcConfigVersion.cmake
        DESTINATION ${_kvc_cmake_dir})

# kvc.pc (the shared library): its prefix is found from its own location.
file(RELATIVE_PATH KVC_PC_TO_PREFIX /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" KVC_PC_TO_PREFIX "${KVC_PC_TO_PREFIX}")
if(KVC_BUILD_SHARED)
  configure_file(${CMAKE_SOURCE_DIR}/cmake/kvc.pc.in ${CMAKE_BINARY_DIR}/generated/kvc.pc @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/generated/kvc.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
