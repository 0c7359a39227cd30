// The driver's table of objects: id -> state, where the bytes are, who holds references, who is
// waiting. Plasma's life cycle, run by one owner:
//
//   pending (a task will produce it) --complete()--> ready (immutable from now on)
//                                    --fail()------> failed (holds the error get() rethrows)
//
// References: an object counts its holders -- the program's ObjectRefs (all copies together
// count once), each pending task that takes it as an argument, and each get() decoding it at the
// moment. When the count reaches zero a finished object is freed at once: its arena block goes
// back to the allocator and its entry is erased. A pending object whose count reaches zero is
// freed when its task finishes.
//
// Small values ("inline", under the inline threshold) are kept on the driver's heap; larger ones
// in the shared arena. Both are objects of this table all the same.
//
// Thread safety: none. The runtime calls it with its lock held; Waiter::cv is waited on with
// that same lock.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <shoal/detail/byte_buffer.hpp>
#include <shoal/detail/value.hpp>
#include <shoal/errors.hpp>

#include "src/common/core_runtime.hpp"
#include "store/allocator.hpp"

namespace shoal::internal {

/// A thread blocked in get() or wait(). Lives on that thread's stack while registered.
struct Waiter {
  std::condition_variable_any cv;  // waited on with the runtime's lock
  std::size_t remaining = 0;       // objects that must still finish before it wakes
  /// get() of a list: wake as soon as one of the objects fails (Ray's rule: the error is
  /// raised without waiting for the rest), not only when `remaining` reaches 0.
  bool wake_on_failure = false;
  bool saw_failure = false;  // wake_on_failure and one of its objects failed
  /// Time to wake (remaining reached 0, or saw_failure): readable without the lock, to spin on.
  std::atomic<bool> done{false};
};

/// Why an object will never have a value. get() turns it into the matching exception.
struct ErrorInfo {
  enum class Kind { kTaskError, kWorkerCrashed, kStoreFull, kShutdown };
  Kind kind = Kind::kTaskError;
  std::string type_name;  // kTaskError: the exception's type
  std::string what;       // kTaskError: its what(); other kinds: the whole message
  std::string function;   // the function (or task name) that failed
  std::shared_ptr<const detail::TaskBacktrace> backtrace;  // kTaskError: where it was thrown
  std::int64_t pid = 0;
  int attempts = 0;
  int signal = 0, exit_code = -1;  // kWorkerCrashed: how the last worker ended
  std::uint64_t requested = 0, capacity = 0;
  std::vector<ObjectStoreHolder> holders;  // kStoreFull: the biggest objects at the time
};

enum class ObjectState : std::uint8_t { kPending, kReady, kFailed };

struct ObjectEntry {
  ObjectState state = ObjectState::kPending;
  detail::Format format = detail::Format::kVoid;
  std::uint64_t type_hash = 0;
  bool in_arena = false;
  std::shared_ptr<const detail::ByteBuffer> inline_bytes;  // ready and not in the arena
  std::uint64_t offset = 0, size = 0;                      // ready and in the arena
  std::shared_ptr<const ErrorInfo> error;                  // failed
  std::uint32_t refs = 0;
  std::uint64_t producer = 0;  // id of the task that will complete it; 0 for put()
  ObjectOrigin origin = ObjectOrigin::kPut;
  std::uint32_t function_index = 0;       // kTaskResult: the function in the registry
  std::vector<std::uint64_t> dependents;  // pending tasks that take it as an argument
  std::vector<Waiter*> waiters;
};

class ObjectTable {
 public:
  explicit ObjectTable(Allocator* allocator) : allocator_(allocator) {}

  /// A new pending object with one reference (its ObjectRef).
  ObjectEntry& add_pending(std::uint64_t id, std::uint64_t producer);

  ObjectEntry* find(std::uint64_t id) noexcept;

  /// Stores the value of a pending object and wakes its waiters. Returns the tasks waiting for it
  /// (the caller schedules them). If nobody holds the object any more it is freed at once.
  std::vector<std::uint64_t> complete_inline(std::uint64_t id, detail::Format format,
                                             std::uint64_t type_hash, detail::ByteBuffer bytes);
  std::vector<std::uint64_t> complete_arena(std::uint64_t id, detail::Format format,
                                            std::uint64_t type_hash, std::uint64_t offset,
                                            std::uint64_t size);
  std::vector<std::uint64_t> fail(std::uint64_t id, std::shared_ptr<const ErrorInfo> error);

  void add_ref(std::uint64_t id) noexcept;
  /// Drops one reference; frees the object if it was the last and the object is finished.
  void release(std::uint64_t id) noexcept;

  /// Fails every pending object with `error` and wakes every waiter (shutdown).
  void fail_all_pending(const std::shared_ptr<const ErrorInfo>& error);

  /// The `n` largest ready objects in the arena, largest first, as (id, entry). Linear in the
  /// table's size: for error messages only.
  std::vector<std::pair<std::uint64_t, const ObjectEntry*>> largest_in_arena(std::size_t n) const;

  std::uint64_t inline_bytes() const noexcept { return inline_bytes_; }
  std::uint64_t size() const noexcept { return entries_.size(); }

 private:
  std::vector<std::uint64_t> finish(std::uint64_t id, ObjectEntry& e, bool failed);
  void erase(std::unordered_map<std::uint64_t, ObjectEntry>::iterator it) noexcept;

  Allocator* allocator_;
  std::unordered_map<std::uint64_t, ObjectEntry> entries_;
  std::uint64_t inline_bytes_ = 0;
};

}  // namespace shoal::internal
