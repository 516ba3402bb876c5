# The C API's test compiled as C11 (src/capi/c_api_c_test.c), beside the gtest
# binary kvc_test_capi that kvc_module builds from *_test.cc. Included from the
# top-level CMakeLists.txt when tests are built.
add_executable(kvc_test_capi_c ${CMAKE_CURRENT_LIST_DIR}/c_api_c_test.c)
set_target_properties(kvc_test_capi_c PROPERTIES C_STANDARD 11 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF
                                                 LINKER_LANGUAGE CXX)  # the library is C++
target_compile_options(kvc_test_capi_c PRIVATE -Wall -Wextra -Werror -pedantic)
target_link_libraries(kvc_test_capi_c PRIVATE kvc_capi)
add_test(NAME capi_c11 COMMAND kvc_test_capi_c)
set_tests_properties(capi_c11 PROPERTIES LABELS "unit;capi" PASS_REGULAR_EXPRESSION "all checks passed")
