// The session's driver runtime, for tests that reach its TEST_ hooks (processes, waiters).
#pragma once

#include <memory>
#include <stdexcept>

#include "src/common/core_runtime.hpp"
#include "src/core/driver_runtime.hpp"

namespace shoal::testing {

/// The current runtime as the driver's concrete class. Throws if there is none, or if the session
/// is not a driver with worker processes (local mode).
inline std::shared_ptr<internal::DriverRuntime> driver_runtime() {
  auto rt = std::dynamic_pointer_cast<internal::DriverRuntime>(internal::current_runtime());
  if (!rt) throw std::logic_error("this test needs a session with worker processes");
  return rt;
}

}  // namespace shoal::testing
