# Build flags shared by every shoal target (library, tests, examples), carried by the INTERFACE
# target shoal_build_flags so that nothing is set globally and a parent project is not affected.
add_library(shoal_build_flags INTERFACE)
target_compile_options(shoal_build_flags INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wimplicit-fallthrough)

if(SHOAL_SANITIZE)
  if(NOT SHOAL_SANITIZE MATCHES "^(address|thread|undefined)$")
    message(FATAL_ERROR "SHOAL_SANITIZE must be address, thread or undefined, not '${SHOAL_SANITIZE}'")
  endif()
  set(_shoal_san -fsanitize=${SHOAL_SANITIZE} -fno-omit-frame-pointer)
  if(SHOAL_SANITIZE STREQUAL "address")
    list(APPEND _shoal_san -fsanitize=undefined)
  endif()
  # Sanitizers are applied to everything in the tree (the library included): a worker is a fork of
  # the test binary, so both sides must be instrumented the same way.
  add_compile_options(${_shoal_san})
  add_link_options(${_shoal_san})
endif()

# Clang's thread-safety analysis over the lock annotations (src/common/thread_annotations.hpp),
# with its findings as errors. Off by default because only clang has it; CI runs it through
# scripts/check-thread-safety.sh.
option(SHOAL_THREAD_SAFETY "Check lock annotations with clang's -Wthread-safety, as errors" OFF)
if(SHOAL_THREAD_SAFETY)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "SHOAL_THREAD_SAFETY=ON needs clang (configure with CXX=clang++): "
                        "${CMAKE_CXX_COMPILER_ID} has no thread-safety analysis, and the "
                        "annotations expand to nothing there")
  endif()
  target_compile_options(shoal_build_flags INTERFACE -Wthread-safety -Werror=thread-safety)
endif()
