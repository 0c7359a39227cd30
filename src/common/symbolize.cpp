#include "src/common/symbolize.hpp"

#include <boost/stacktrace/frame.hpp>

namespace shoal::internal {

std::string function_name_at(const void* address) {
  return boost::stacktrace::frame(
             reinterpret_cast<boost::stacktrace::frame::native_frame_ptr_t>(address))
      .name();
}

}  // namespace shoal::internal
