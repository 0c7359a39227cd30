#include "src/common/task_spec.hpp"

#include <fmt/format.h>

#include <shoal/errors.hpp>

#include "src/common/core_runtime.hpp"
#include "src/common/function_registry.hpp"
#include "src/common/symbolize.hpp"

namespace shoal::internal {
namespace {

std::string describe_function(detail::AnyFn fn, const char* signature) {
  std::string name = function_name_at(reinterpret_cast<const void*>(fn));
  if (name.empty()) name = fmt::format("the function at {}", reinterpret_cast<const void*>(fn));
  return fmt::format("{} (type {})", name, detail::demangle(signature));
}

}  // namespace

TaskSpec make_task_spec(detail::AnyFn fn, const char* signature, const TaskOptions& options,
                        const TaskLimits& limits) {
  const FunctionRegistry& registry = FunctionRegistry::instance();
  const std::optional<std::uint32_t> index = registry.index_of(fn);
  if (!index) {
    const std::string what = describe_function(fn, signature);
    throw FunctionNotRegisteredError(
        fmt::format(
            "shoal: {} is not a remote function; add SHOAL_REMOTE(name) for it at namespace "
            "scope in a file linked into the program",
            what),
        what);
  }
  const RegisteredFunction* function = registry.at(*index);
  if (*index >= limits.known_functions) {
    throw FunctionNotRegisteredError(
        fmt::format(
            "shoal: {} was registered after {}, so the workers do not have it; make sure its "
            "SHOAL_REMOTE runs before init(), at namespace scope in the program itself (with "
            "Config::start_method \"forkserver\", workers know only what the program's static "
            "initialisers register, not a library it loads at run time)",
            function->name, limits.functions_from_fresh_start ? "the program started" : "init()"),
        function->name);
  }
  if (!(options.num_cpus >= 0) || options.num_cpus > limits.cpus) {
    throw InvalidConfigError(fmt::format(
        "shoal: TaskOptions::num_cpus is {} for {}; use 0 to {} (the CPUs shoal was started with)",
        options.num_cpus, function->name, limits.cpus));
  }
  if (options.memory > limits.memory) {
    throw InvalidConfigError(fmt::format(
        "shoal: TaskOptions::memory is {} bytes for {}, more than the {} bytes shoal has for tasks",
        options.memory, function->name, limits.memory));
  }
  if (options.max_retries && *options.max_retries < -1) {
    throw InvalidConfigError(fmt::format(
        "shoal: TaskOptions::max_retries is {}; use 0 or more, or -1 to retry without limit",
        *options.max_retries));
  }
  if (options.node_rank < -1) {
    throw InvalidConfigError(fmt::format(
        "shoal: TaskOptions::node_rank is {}; use -1 (shoal places the task) or a node's MPI rank",
        options.node_rank));
  }
  TaskSpec spec;
  spec.node = options.node_rank;
  spec.function_index = *index;
  spec.function_check = function->check;
  spec.name = options.name.empty() ? function->name : options.name;
  spec.num_cpus = options.num_cpus;
  spec.memory = options.memory;
  spec.max_retries = options.max_retries.value_or(limits.default_max_retries);
  spec.retry_exceptions = options.retry_exceptions.enabled();
  if (!options.retry_exceptions.types().empty()) {
    spec.rare_parts().retry_types = options.retry_exceptions.types();
  }
  return spec;
}

void take_arguments(TaskSpec& spec, detail::TaskArgs& args, const CoreRuntime& owner,
                    std::vector<detail::HandlePtr>& refs) {
  spec.arg_count = args.count();
  spec.call_site = args.call_site();
  refs = args.take_refs();
  spec.args = args.take_records();
  spec.deps.reserve(refs.size());
  for (const detail::HandlePtr& ref : refs) {
    if (&ref->runtime() != &owner) {
      throw InvalidObjectRefError(
          "shoal: an argument is an ObjectRef from another shoal session; refs do not carry "
          "over from one init() to the next");
    }
    spec.deps.push_back(ref->id());
  }
  for (detail::HandlePtr& h : args.take_contained()) {  // checked when they were packed
    spec.rare_parts().contained.push_back(h->id());
    refs.push_back(std::move(h));
  }
}

void check_num_returns(std::size_t num_returns, std::size_t refs) {
  if (num_returns > refs) {
    throw InvalidConfigError(fmt::format(
        "shoal: wait() was asked for {} ready objects out of {}; num_returns must be at most the "
        "number of refs",
        num_returns, refs));
  }
}

TaskSpec copy_task_spec(const TaskSpec& spec) {
  TaskSpec c;
  c.id = spec.id;
  c.function_index = spec.function_index;
  c.function_check = spec.function_check;
  c.name = spec.name;
  c.num_cpus = spec.num_cpus;
  c.memory = spec.memory;
  c.max_retries = spec.max_retries;
  c.retry_exceptions = spec.retry_exceptions;
  c.cancelled = spec.cancelled;
  c.args.write(spec.args.data(), spec.args.size());
  c.arg_count = spec.arg_count;
  c.deps = spec.deps;
  c.parent = spec.parent;
  c.actor = spec.actor;
  c.call_site = spec.call_site;
  c.call_site_index = spec.call_site_index;
  if (spec.rare) c.rare = std::make_unique<TaskSpec::Rare>(*spec.rare);
  return c;
}

}  // namespace shoal::internal
