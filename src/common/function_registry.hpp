// The table of remote functions, filled by SHOAL_REMOTE before main() runs. Workers are forks of
// the driver, so the driver and every worker hold the same table: a task message names a function
// by its index here, plus a check hash of its name and signature that the worker verifies.
//
// Thread safety: all members may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <shoal/remote.hpp>

#include "src/common/mutex.hpp"
#include "src/common/thread_annotations.hpp"

namespace shoal::internal {

struct RegisteredFunction {
  std::string name;                 // as written in SHOAL_REMOTE, e.g. "rotate_image90" or "ns::f"
  detail::AnyFn address = nullptr;  // identical in the driver and its workers (same binary, forked)
  detail::Invoker invoker = nullptr;
  std::string signature;    // demangled, e.g. "double (std::string const&)"
  std::uint64_t check = 0;  // hash of name and mangled signature
};

class FunctionRegistry {
 public:
  static FunctionRegistry& instance();

  /// Adds the functions of one SHOAL_REMOTE(...) line; `names` is its stringified argument list.
  /// A function already registered (same address) is ignored.
  void add(const char* names, const detail::FunctionInfo* infos, std::size_t count)
      SHOAL_EXCLUDES(mu_);

  std::optional<std::uint32_t> index_of(detail::AnyFn fn) const SHOAL_EXCLUDES(mu_);
  /// The entry at index; entries are never removed, so the reference stays valid.
  const RegisteredFunction* at(std::uint32_t index) const SHOAL_EXCLUDES(mu_);
  std::uint32_t size() const SHOAL_EXCLUDES(mu_);
  /// A hash of the first `count` entries' checks (names and signatures, in order): two processes
  /// of the same program that agree on it know the same first `count` functions.
  std::uint64_t prefix_hash(std::uint32_t count) const SHOAL_EXCLUDES(mu_);

  /// Splits "f, ns::g, static_cast<int (*)(int)>(h)" into {"f", "ns::g", "h"}.
  static std::vector<std::string> split_names(const char* names);

 private:
  mutable Mutex mu_;
  std::vector<std::unique_ptr<RegisteredFunction>> entries_ SHOAL_GUARDED_BY(mu_);
  std::unordered_map<std::uintptr_t, std::uint32_t> by_address_ SHOAL_GUARDED_BY(mu_);
};

}  // namespace shoal::internal
