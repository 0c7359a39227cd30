// The worker's side of TaskOptions::retry_exceptions: does the exception being handled match one
// of the types a task names (include/shoal/detail/exception_match.hpp registers the matchers).
#pragma once

#include <cstdint>
#include <vector>

#include <shoal/detail/exception_match.hpp>

namespace shoal::internal {

/// Call inside a catch handler. True if `type_hashes` is empty (retry any exception) or the
/// exception being handled matches one of them (`catch (const E&)`); a type whose matcher was
/// never registered in this process matches nothing.
bool current_exception_matches(const std::vector<std::uint64_t>& type_hashes);

}  // namespace shoal::internal
