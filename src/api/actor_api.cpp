// The public actor functions (shoal/actor.hpp): registration, and the calls that find the runtime
// (the process's current one, or the one that made the handle) and check what the program can get
// wrong.
#include <string>
#include <string_view>

#include <shoal/actor.hpp>
#include <shoal/errors.hpp>

#include "src/common/actor_classes.hpp"
#include "src/common/core_runtime.hpp"
#include "src/common/function_registry.hpp"

namespace shoal::detail {
namespace {

const ObjectHandle& checked_actor(const ObjectHandle* h) {
  if (h == nullptr) {
    throw InvalidObjectRefError(
        "shoal: this ActorHandle is empty (default-constructed or moved-from); use one returned "
        "by actor<C>().remote() or get_actor<C>()");
  }
  return *h;
}

}  // namespace

bool register_actor_class(std::uint64_t class_hash, const char* class_name, const char* names,
                          const FunctionInfo* methods, std::size_t count) {
  internal::add_actor_class(class_hash, class_name);
  // Methods are registered as "Class::method" ("&Class::method" as written, cleaned).
  internal::FunctionRegistry::instance().add(names, methods, count);
  return true;
}

bool register_actor_constructor(std::uint64_t class_hash, const char* mangled_class,
                                const FunctionInfo& info) {
  std::string cls = demangle(mangled_class);
  // The registry splits a SHOAL_REMOTE line's names at parentheses: "(anonymous namespace)::"
  // would lose its "(" (and the timeline showed "anonymous namespace)::C::C").
  for (std::size_t at; (at = cls.find("(anonymous namespace)::")) != std::string::npos;) {
    cls.erase(at, std::string_view("(anonymous namespace)::").size());
  }
  const std::string tail =
      cls.substr(cls.rfind("::") == std::string::npos ? 0 : cls.rfind("::") + 2);
  const std::string name = cls + "::" + tail;  // "app::Counter::Counter"
  (void)class_hash;
  internal::FunctionRegistry::instance().add(name.c_str(), &info, 1);
  return true;
}

bool actor_class_registered(std::uint64_t class_hash) noexcept {
  return internal::actor_class_known(class_hash);
}

void throw_method_not_registered(std::uint64_t class_hash) {
  const std::string cls = internal::actor_class_name(class_hash);
  throw FunctionNotRegisteredError("shoal: this method of " + cls +
                                       " is not listed in SHOAL_ACTOR(" + cls +
                                       ", ...); add it there to call it remotely",
                                   cls + "::<method>");
}

void throw_actor_not_registered(const char* mangled_class) {
  const std::string cls = demangle(mangled_class);
  throw FunctionNotRegisteredError("shoal: " + cls +
                                       " is not an actor class: register it with "
                                       "SHOAL_ACTOR(" +
                                       cls + ", &" + cls + "::method, ...) at namespace scope",
                                   cls);
}

HandlePtr create_actor(AnyFn constructor, const char* signature, std::uint64_t class_hash,
                       const ActorOptions& options, TaskArgs&& args) {
  return args.runtime().create_actor(constructor, signature, class_hash, options, std::move(args));
}

HandlePtr submit_actor_task(const ObjectHandle* actor, AnyFn method, const char* signature,
                            TaskArgs&& args) {
  const ObjectHandle& h = checked_actor(actor);
  if (&h.runtime() != &args.runtime()) {
    throw InvalidObjectRefError(
        "shoal: this ActorHandle belongs to a shoal session that was shut down; handles do not "
        "carry over from one init() to the next");
  }
  return h.runtime().submit_actor_task(h.id(), method, signature, std::move(args));
}

HandlePtr find_named_actor(const std::string& name, std::uint64_t class_hash) {
  return internal::current_runtime()->find_named_actor(name, class_hash);
}

void kill_actor(const ObjectHandle* actor, bool no_restart) {
  const ObjectHandle& h = checked_actor(actor);
  h.runtime().kill_actor(h.id(), no_restart);
}

}  // namespace shoal::detail
