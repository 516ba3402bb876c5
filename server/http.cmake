# kvc-server's HTTP layer (server/http_*): Boost.Beast and Asio, no engine, so it
# is built — and its tests run, under TSan too — whether or not llama.cpp is.
# Included from the top-level CMakeLists before server/.
#
# Boost 1.81 from Debian's libboost1.81-dev (scripts/deps): exactly that version,
# not the older default libboost-dev. Beast and Asio are header-only.
find_package(Boost 1.81.0 EXACT CONFIG REQUIRED)

add_library(kvc_http STATIC
  ${CMAKE_SOURCE_DIR}/server/http_message.cc ${CMAKE_SOURCE_DIR}/server/http_request_parser.cc
  ${CMAKE_SOURCE_DIR}/server/http_router.cc ${CMAKE_SOURCE_DIR}/server/http_server.cc
  ${CMAKE_SOURCE_DIR}/server/http_session.cc ${CMAKE_SOURCE_DIR}/server/http_session_write.cc)
target_include_directories(kvc_http PUBLIC ${CMAKE_SOURCE_DIR} ${CMAKE_SOURCE_DIR}/include)
target_compile_options(kvc_http PRIVATE ${KVC_WARNINGS})
target_link_libraries(kvc_http PUBLIC kvc_base Boost::headers Threads::Threads)
# GCC 12 at -O2 with sanitizers: a false -Wmaybe-uninitialized on the
# boost::optional body limit inlined from Beast's parser.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  set_source_files_properties(${CMAKE_SOURCE_DIR}/server/http_request_parser.cc PROPERTIES
                              COMPILE_OPTIONS -Wno-maybe-uninitialized)
endif()
# GCC 12 rejects std::atomic_thread_fence under -fsanitize=thread (-Wtsan); Asio
# uses fences around handler invocation, its queues are mutex-protected, which
# TSan sees. Keep the warning from failing the TSan build.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND "thread" IN_LIST KVC_SANITIZE)
  target_compile_options(kvc_http PUBLIC -Wno-tsan)
endif()

if(KVC_BUILD_TESTS)
  enable_testing()
  find_package(GTest REQUIRED)
  include(GoogleTest)
  add_executable(kvc_test_http ${CMAKE_SOURCE_DIR}/server/http_request_parser_test.cc
                               ${CMAKE_SOURCE_DIR}/server/http_router_test.cc ${CMAKE_SOURCE_DIR}/server/http_server_test.cc)
  target_compile_options(kvc_test_http PRIVATE ${KVC_WARNINGS})
  target_link_libraries(kvc_test_http PRIVATE kvc_http GTest::gtest_main)
  # Threads (I/O threads, worker pool, strands): run under TSan as well.
  gtest_discover_tests(kvc_test_http DISCOVERY_MODE PRE_TEST PROPERTIES LABELS "unit;server;concurrency" TIMEOUT 120)
endif()
