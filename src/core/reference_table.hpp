// The owner's table of objects (Ray's reference counter and in-memory store, on the driver):
// id -> state, where the value is, who holds references, who waits for it, which tasks need it.
//
//   pending (a task will produce it) --complete_*()--> ready (immutable from now on)
//                                    --fail()-------> failed (holds the error get() rethrows)
//
// Holders. An object counts its references per holder: the program (its ObjectRefs: all copies of
// one ref share one handle, which counts once; a get() decoding it counts while it reads), the
// pending tasks that take it as an argument (each counts once until it finishes), and each worker
// (release_all() drops everything a worker held, when it dies). When the last reference goes, a
// finished object is freed at once: its store block goes back through the BlockFreer, its entry
// is erased. A pending object without references is freed when its task finishes.
//
// Waiters are callbacks (ObjectWaiter): a program thread in get() or wait(), or, later, a request
// from a worker; finish() calls each once, with the table's caller holding its lock.
//
// Small values ("inline", up to the inline threshold) are kept on the driver's heap; larger ones
// in the node's store (an offset into its arena). Both are objects of this table all the same.
//
// Thread safety: none. The runtime calls it with its lock held.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <shoal/detail/byte_buffer.hpp>
#include <shoal/detail/value.hpp>
#include <shoal/errors.hpp>

#include "src/common/core_runtime.hpp"
#include "src/common/error_info.hpp"
#include "src/common/ids.hpp"
#include "src/common/pooled_map.hpp"
#include "store/block_freer.hpp"

namespace shoal::internal {

enum class ObjectState : std::uint8_t { kPending, kReady, kFailed };

/// Who holds a reference: the program, the pending tasks, one worker, or stored values that
/// contain the ref (an ObjectRef inside a vector, a struct, a task's result).
struct Holder {
  enum class Kind : std::uint8_t { kProgram, kTask, kWorker, kObject };
  Kind kind = Kind::kProgram;
  WorkerId worker = 0;  // kWorker

  static Holder program() noexcept { return {Kind::kProgram, 0}; }
  static Holder task() noexcept { return {Kind::kTask, 0}; }
  static Holder of_worker(WorkerId id) noexcept { return {Kind::kWorker, id}; }
  static Holder object() noexcept { return {Kind::kObject, 0}; }
};

/// Someone waiting for objects to finish.
class ObjectWaiter {
 public:
  /// One object it waits for finished (ready, or `failed`). Called with the table's lock held;
  /// must not call back into the table.
  virtual void on_finished(ObjectId id, bool failed) = 0;

 protected:
  ~ObjectWaiter() = default;
};

struct ObjectEntry {
  ObjectState state = ObjectState::kPending;
  detail::Format format = detail::Format::kVoid;
  std::uint64_t type_hash = 0;
  bool in_store = false;
  std::shared_ptr<const detail::ByteBuffer> inline_bytes;  // ready and not in the store
  std::uint64_t offset = 0, size = 0;                      // ready and in the store
  std::shared_ptr<const ErrorInfo> error;                  // failed
  std::uint32_t program_refs = 0;
  std::uint32_t task_refs = 0;
  std::uint32_t object_refs = 0;                                // values that contain a ref to it
  std::vector<std::pair<WorkerId, std::uint32_t>> worker_refs;  // usually empty
  TaskId producer = 0;  // the task that will complete it; 0 for put()
  ObjectOrigin origin = ObjectOrigin::kPut;
  std::uint32_t function_index = 0;  // kTaskResult: the function in the registry
  std::vector<TaskId> dependents;    // pending tasks that take it as an argument
  std::vector<ObjectWaiter*> waiters;
  std::vector<ObjectId> contained;  // refs inside its value: it holds them until it is freed
  bool actor = false;               // it stands for an actor: its holders hold the actor's handles
  std::uint32_t call_site = 0;      // the put() or remote() that made it (CallSites), 0: unknown
  bool on_other_nodes = false;  // copies of it live on other nodes (src/cluster/): say when freed

  bool referenced() const noexcept {
    return program_refs != 0 || task_refs != 0 || object_refs != 0 || !worker_refs.empty();
  }
};

class ReferenceTable {
 public:
  explicit ReferenceTable(BlockFreer* store) : store_(store) {}
  ReferenceTable(const ReferenceTable&) = delete;
  ReferenceTable& operator=(const ReferenceTable&) = delete;

  /// A new pending object with one reference of `owner` (its ObjectRef: in the program, or in a
  /// worker's task).
  ObjectEntry& add_pending(ObjectId id, TaskId producer, Holder owner = Holder::program());
  /// A new object, ready with a small value, with one reference of `owner` (put()): what
  /// add_pending() then complete_inline() make, in one step (nobody can wait for it yet).
  ObjectEntry& add_ready_inline(ObjectId id, detail::Format format, std::uint64_t type_hash,
                                detail::ByteBuffer bytes, Holder owner = Holder::program());

  ObjectEntry* find(ObjectId id) noexcept;

  /// Stores the value of a pending object and calls its waiters. Returns the tasks waiting for it
  /// (the caller schedules them). If nobody holds the object any more it is freed at once. A
  /// finished or unknown object is left alone (a store block given for it is freed).
  std::vector<TaskId> complete_inline(ObjectId id, detail::Format format, std::uint64_t type_hash,
                                      detail::ByteBuffer bytes);
  std::vector<TaskId> complete_store(ObjectId id, detail::Format format, std::uint64_t type_hash,
                                     std::uint64_t offset, std::uint64_t size);
  std::vector<TaskId> fail(ObjectId id, std::shared_ptr<const ErrorInfo> error);

  void add_ref(ObjectId id, Holder holder) noexcept;
  /// Object `container`'s value holds refs to `ids` (a ref inside a vector, a struct): each is
  /// held (Holder::object()) until the container is freed. Ids the table does not know are
  /// skipped and returned (a ref to an object already gone).
  std::vector<ObjectId> add_contained(ObjectId container, const std::vector<ObjectId>& ids);
  /// Drops one reference of `holder`; frees the object if it was the last and it is finished.
  void release(ObjectId id, Holder holder) noexcept;
  /// Drops every reference a worker holds (it died). Returns the objects it held that are still
  /// pending and that nobody holds any more (their tasks need not run: TaskManager).
  std::vector<ObjectId> release_all(WorkerId worker);

  /// `waiter` is called when `id` finishes. The object must be pending.
  void add_waiter(ObjectId id, ObjectWaiter* waiter);
  /// The same for an entry the caller has looked up (find()) and that is pending.
  void add_waiter(ObjectEntry& entry, ObjectWaiter* waiter) { entry.waiters.push_back(waiter); }
  /// Forgets `waiter` for these objects (it stops waiting: a timeout, a failure, shutdown).
  void remove_waiter(const std::vector<ObjectId>& ids, ObjectWaiter* waiter) noexcept;

  /// Fails every pending object with `error` (shutdown, a broken session).
  void fail_all_pending(const std::shared_ptr<const ErrorInfo>& error);
  /// Forgets every object without giving its block back (the store itself is going away).
  void clear() noexcept;

  /// The `n` largest ready objects in the store, largest first, as (id, entry). Linear in the
  /// table's size: for error messages only.
  std::vector<std::pair<ObjectId, const ObjectEntry*>> largest_in_store(std::size_t n) const;

  /// Actors (objects marked ObjectEntry::actor) freed since the last call: no handle is left.
  std::vector<ObjectId> take_freed_actors() { return std::exchange(freed_actors_, {}); }
  bool has_freed_actors() const noexcept { return !freed_actors_.empty(); }

  /// Called, with the table's caller holding its lock, when an object marked
  /// ObjectEntry::on_other_nodes is freed: the other nodes drop their copies. Must only queue.
  void set_copies_freed(void (*fn)(void* context, ObjectId id) noexcept, void* context) noexcept {
    copies_freed_ = fn;
    copies_freed_context_ = context;
  }

  std::uint64_t inline_bytes() const noexcept { return inline_bytes_; }
  /// Tasks whose result became ready (failed) since the table was made: a task's own result is
  /// the object whose id is the task's (shoal::status()).
  std::uint64_t tasks_finished() const noexcept { return tasks_finished_; }
  std::uint64_t tasks_failed() const noexcept { return tasks_failed_; }
  std::uint64_t size() const noexcept { return entries_.size(); }
  /// Calls f(id, entry) for every object, in no particular order (memory_summary()).
  template <class F>
  void for_each(F&& f) const {
    for (const auto& [id, entry] : entries_) f(id, entry);
  }
  /// Faults in the table's first memory now rather than in the session's first task
  /// (PooledMap::prime; 0 is never an id).
  void prime() { entries_.prime(0); }

 private:
  using Entries = PooledMap<ObjectId, ObjectEntry>;
  std::vector<TaskId> finish(ObjectId id, ObjectEntry& e, bool failed);
  void free_if_unreferenced(Entries::iterator it) noexcept;
  void erase(Entries::iterator it) noexcept;

  BlockFreer* store_;
  Entries entries_;  // nodes from a pool of its own (pooled_map.hpp)
  // For release_all(): the objects each worker holds references to.
  std::unordered_map<WorkerId, std::unordered_set<ObjectId>> by_worker_;
  std::uint64_t inline_bytes_ = 0;
  std::uint64_t tasks_finished_ = 0, tasks_failed_ = 0;
  std::vector<ObjectId> freed_actors_;
  void (*copies_freed_)(void*, ObjectId) noexcept = nullptr;
  void* copies_freed_context_ = nullptr;
};

}  // namespace shoal::internal
