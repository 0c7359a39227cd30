// The actor classes SHOAL_ACTOR registered (before main(), so every worker has the same table):
// their names, for messages and for get_actor()'s class check. Their methods and constructors are
// in the FunctionRegistry like remote functions ("Counter::add", "Counter::Counter").
//
// Thread safety: all functions may be called from any thread.
#pragma once

#include <cstdint>
#include <string>

namespace shoal::internal {

/// Records class `class_hash`'s name as SHOAL_ACTOR wrote it.
void add_actor_class(std::uint64_t class_hash, const std::string& name);
/// True if SHOAL_ACTOR registered the class.
bool actor_class_known(std::uint64_t class_hash) noexcept;
/// The class's name, or its demangled type name if it was never registered.
std::string actor_class_name(std::uint64_t class_hash);

}  // namespace shoal::internal
