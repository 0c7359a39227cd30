// The owner's ReferenceTable (src/core/reference_table.hpp) over a real Allocator on a heap arena:
// reference counting per holder, when an object's bytes are given back, and who is called when it
// finishes.
#include "src/core/reference_table.hpp"

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "store/allocator.hpp"

namespace shoal::internal {
namespace {

using detail::ByteBuffer;
using detail::Format;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr std::uint64_t kArenaSize = 1 << 20;
constexpr std::uint64_t kTypeHash = 0x5151;

struct alignas(64) ArenaBuffer {
  char bytes[kArenaSize];
};

ByteBuffer bytes_of_size(std::size_t n) {
  ByteBuffer b;
  std::memset(b.grow(n), 'v', n);
  return b;
}

std::shared_ptr<const ErrorInfo> task_error(const std::string& what) {
  auto e = std::make_shared<ErrorInfo>();
  e->kind = ErrorInfo::Kind::kTaskError;
  e->type_name = "std::runtime_error";
  e->what = what;
  e->function = "f";
  return e;
}

// A waiter that counts down the objects it still waits for, as a program thread in get() does.
struct CountingWaiter final : ObjectWaiter {
  explicit CountingWaiter(std::size_t n) : remaining(n) {}
  void on_finished(ObjectId id, bool failed) override {
    if (remaining > 0) --remaining;
    calls.emplace_back(id, failed);
  }
  std::size_t remaining;
  std::vector<std::pair<ObjectId, bool>> calls;
};

// The store's side, as the node's store does it: freed blocks go back to the allocator.
struct AllocatorFreer final : BlockFreer {
  explicit AllocatorFreer(Allocator& a) : allocator(a) {}
  void free_block(std::uint64_t offset) noexcept override { allocator.free(offset); }
  Allocator& allocator;
};

class ReferenceTableTest : public ::testing::Test {
 protected:
  // A block of `size` bytes from the arena, as a worker's result would get.
  std::uint64_t block(std::uint64_t size) {
    const std::optional<std::uint64_t> o = allocator_.allocate(size);
    EXPECT_TRUE(o.has_value());
    return o.value_or(0);
  }

  std::unique_ptr<ArenaBuffer> arena_ = std::make_unique<ArenaBuffer>();
  Allocator allocator_{arena_->bytes, kArenaSize};
  AllocatorFreer freer_{allocator_};
  ReferenceTable table_{&freer_};
};

TEST_F(ReferenceTableTest, AddPendingHasOneReference) {
  ObjectEntry& e = table_.add_pending(1, /*producer=*/77);
  EXPECT_EQ(e.program_refs, 1u);
  EXPECT_EQ(e.state, ObjectState::kPending);
  EXPECT_EQ(e.producer, 77u);
  EXPECT_EQ(table_.find(1), &e);
  EXPECT_EQ(table_.size(), 1u);
  EXPECT_EQ(table_.find(2), nullptr);
}

TEST_F(ReferenceTableTest, ReleasingTheLastReferenceFreesAReadyArenaObject) {
  table_.add_pending(1, 0);
  const std::uint64_t offset = block(5000);
  EXPECT_THAT(table_.complete_store(1, Format::kRaw, kTypeHash, offset, 5000), IsEmpty());
  const ObjectEntry* e = table_.find(1);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->state, ObjectState::kReady);
  EXPECT_TRUE(e->in_store);
  EXPECT_EQ(e->offset, offset);
  EXPECT_EQ(e->size, 5000u);
  EXPECT_EQ(e->format, Format::kRaw);
  EXPECT_EQ(e->type_hash, kTypeHash);
  EXPECT_EQ(allocator_.used_bytes(), 5000u);

  table_.release(1, Holder::program());
  EXPECT_EQ(table_.find(1), nullptr);
  EXPECT_EQ(table_.size(), 0u);
  EXPECT_EQ(allocator_.used_bytes(), 0u);
  EXPECT_EQ(table_.inline_bytes(), 0u);
}

TEST_F(ReferenceTableTest, ReleasingTheLastReferenceFreesAReadyInlineObject) {
  table_.add_pending(1, 0);
  table_.add_pending(2, 0);
  table_.complete_inline(1, Format::kMsgpack, kTypeHash, bytes_of_size(100));
  table_.complete_inline(2, Format::kMsgpack, kTypeHash, bytes_of_size(30));
  EXPECT_EQ(table_.inline_bytes(), 130u);
  const ObjectEntry* e = table_.find(1);
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->in_store);
  ASSERT_NE(e->inline_bytes, nullptr);
  EXPECT_EQ(e->inline_bytes->size(), 100u);
  EXPECT_EQ(e->size, 100u);

  table_.release(1, Holder::program());
  EXPECT_EQ(table_.find(1), nullptr);
  EXPECT_EQ(table_.inline_bytes(), 30u);
  EXPECT_EQ(table_.size(), 1u);
  EXPECT_EQ(allocator_.used_bytes(), 0u);
}

TEST_F(ReferenceTableTest, PendingObjectWithoutReferencesIsFreedWhenCompleted) {
  table_.add_pending(1, 10);
  table_.find(1)->dependents.push_back(20);
  table_.release(1, Holder::program());
  // Its producer is still running: the entry stays until the result arrives.
  ASSERT_NE(table_.find(1), nullptr);
  EXPECT_EQ(table_.find(1)->program_refs, 0u);

  const std::uint64_t offset = block(2048);
  EXPECT_THAT(table_.complete_store(1, Format::kRaw, kTypeHash, offset, 2048), ElementsAre(20u));
  EXPECT_EQ(table_.find(1), nullptr);
  EXPECT_EQ(allocator_.used_bytes(), 0u);

  table_.add_pending(2, 11);
  table_.release(2, Holder::program());
  table_.complete_inline(2, Format::kMsgpack, kTypeHash, bytes_of_size(64));
  EXPECT_EQ(table_.find(2), nullptr);
  EXPECT_EQ(table_.inline_bytes(), 0u);

  table_.add_pending(3, 12);
  table_.release(3, Holder::program());
  table_.fail(3, task_error("boom"));
  EXPECT_EQ(table_.find(3), nullptr);
  EXPECT_EQ(table_.size(), 0u);
}

TEST_F(ReferenceTableTest, CompletingReturnsDependentsAndWakesWaiters) {
  table_.add_pending(1, 0);
  table_.add_pending(2, 0);
  CountingWaiter both(2);      // waits for 1 and 2
  CountingWaiter only_one(1);  // waits for 1
  ObjectEntry* one = table_.find(1);
  one->dependents = {100, 101};
  table_.add_waiter(1, &both);
  table_.add_waiter(1, &only_one);
  table_.add_waiter(2, &both);

  EXPECT_THAT(table_.complete_inline(1, Format::kMsgpack, kTypeHash, bytes_of_size(8)),
              ElementsAre(100u, 101u));
  EXPECT_EQ(both.remaining, 1u);
  EXPECT_EQ(only_one.remaining, 0u);
  one = table_.find(1);
  ASSERT_NE(one, nullptr);
  EXPECT_THAT(one->dependents, IsEmpty());
  EXPECT_THAT(one->waiters, IsEmpty());

  const std::uint64_t offset = block(128);
  EXPECT_THAT(table_.complete_store(2, Format::kRaw, kTypeHash, offset, 128), IsEmpty());
  EXPECT_EQ(both.remaining, 0u);
  EXPECT_EQ(only_one.remaining, 0u);
}

// Waiters are callbacks: each is called once for each object it waits for, with how it ended.
TEST_F(ReferenceTableTest, WaiterIsCalledOncePerObjectWithHowItFinished) {
  table_.add_pending(1, 0);
  table_.add_pending(2, 0);
  table_.add_pending(3, 0);
  CountingWaiter w(3);
  for (ObjectId id : {1u, 2u, 3u}) table_.add_waiter(id, &w);
  table_.remove_waiter({3}, &w);  // it stops waiting for 3
  table_.complete_inline(1, Format::kMsgpack, kTypeHash, bytes_of_size(1));
  table_.fail(2, task_error("boom"));
  table_.complete_inline(3, Format::kMsgpack, kTypeHash, bytes_of_size(1));
  table_.complete_inline(1, Format::kMsgpack, kTypeHash, bytes_of_size(1));  // ignored: finished
  EXPECT_THAT(w.calls,
              ElementsAre(std::make_pair(ObjectId{1}, false), std::make_pair(ObjectId{2}, true)));
}

TEST_F(ReferenceTableTest, FinishedObjectIgnoresASecondCompletion) {
  table_.add_pending(1, 0);
  table_.complete_inline(1, Format::kMsgpack, kTypeHash, bytes_of_size(10));
  table_.find(1)->dependents.push_back(5);  // would be handed out again by a second completion

  EXPECT_THAT(table_.complete_inline(1, Format::kRaw, 1, bytes_of_size(99)), IsEmpty());
  EXPECT_EQ(table_.inline_bytes(), 10u);
  EXPECT_EQ(table_.find(1)->format, Format::kMsgpack);

  // A late arena result for a finished (or unknown) object must not leak its block.
  const std::uint64_t late = block(4096);
  EXPECT_THAT(table_.complete_store(1, Format::kRaw, kTypeHash, late, 4096), IsEmpty());
  EXPECT_EQ(allocator_.used_bytes(), 0u);
  EXPECT_FALSE(table_.find(1)->in_store);
  const std::uint64_t orphan = block(4096);
  EXPECT_THAT(table_.complete_store(999, Format::kRaw, kTypeHash, orphan, 4096), IsEmpty());
  EXPECT_EQ(allocator_.used_bytes(), 0u);

  EXPECT_THAT(table_.fail(1, task_error("late")), IsEmpty());
  EXPECT_EQ(table_.find(1)->state, ObjectState::kReady);
}

TEST_F(ReferenceTableTest, FailKeepsTheErrorAndWakesEveryone) {
  table_.add_pending(1, 0);
  CountingWaiter w(1);
  table_.add_waiter(1, &w);
  table_.find(1)->dependents.push_back(8);
  const std::shared_ptr<const ErrorInfo> error = task_error("division by zero");

  EXPECT_THAT(table_.fail(1, error), ElementsAre(8u));
  EXPECT_EQ(w.remaining, 0u);
  const ObjectEntry* e = table_.find(1);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->state, ObjectState::kFailed);
  ASSERT_EQ(e->error, error);
  EXPECT_EQ(e->error->what, "division by zero");
  EXPECT_EQ(e->error->type_name, "std::runtime_error");

  // A failure cannot be overwritten by a result that arrives later.
  EXPECT_THAT(table_.complete_inline(1, Format::kMsgpack, kTypeHash, bytes_of_size(4)), IsEmpty());
  EXPECT_EQ(table_.find(1)->state, ObjectState::kFailed);
  EXPECT_EQ(table_.inline_bytes(), 0u);

  table_.release(1, Holder::program());
  EXPECT_EQ(table_.find(1), nullptr);
}

TEST_F(ReferenceTableTest, FailAllPendingFailsOnlyPendingObjects) {
  table_.add_pending(1, 0);
  table_.add_pending(2, 0);
  table_.add_pending(3, 0);
  table_.add_pending(4, 0);
  table_.complete_inline(3, Format::kMsgpack, kTypeHash, bytes_of_size(16));
  table_.release(4, Holder::program());  // pending and unreferenced: dropped once it fails
  CountingWaiter w(2);
  table_.add_waiter(1, &w);
  table_.add_waiter(2, &w);

  auto shutdown = std::make_shared<ErrorInfo>();
  shutdown->kind = ErrorInfo::Kind::kShutdown;
  shutdown->what = "shut down";
  table_.fail_all_pending(shutdown);

  EXPECT_EQ(w.remaining, 0u);
  for (std::uint64_t id : {1u, 2u}) {
    const ObjectEntry* e = table_.find(id);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->state, ObjectState::kFailed);
    EXPECT_EQ(e->error.get(), shutdown.get());
  }
  EXPECT_EQ(table_.find(3)->state, ObjectState::kReady);
  EXPECT_EQ(table_.find(3)->error, nullptr);
  EXPECT_EQ(table_.find(4), nullptr);
  EXPECT_EQ(table_.size(), 3u);
}

TEST_F(ReferenceTableTest, AddRefKeepsAnObjectAliveAcrossOneRelease) {
  table_.add_pending(1, 0);
  const std::uint64_t offset = block(300);
  table_.complete_store(1, Format::kRaw, kTypeHash, offset, 300);
  table_.add_ref(1, Holder::program());
  EXPECT_EQ(table_.find(1)->program_refs, 2u);

  table_.release(1, Holder::program());
  ASSERT_NE(table_.find(1), nullptr);
  EXPECT_EQ(table_.find(1)->state, ObjectState::kReady);
  EXPECT_EQ(allocator_.used_bytes(), 300u);

  table_.release(1, Holder::program());
  EXPECT_EQ(table_.find(1), nullptr);
  EXPECT_EQ(allocator_.used_bytes(), 0u);
}

// Each holder counts on its own: the program, pending tasks, each worker; a dead worker's
// references go all at once.
TEST_F(ReferenceTableTest, ReferencesAreCountedPerHolder) {
  table_.add_pending(1, 0);
  table_.complete_store(1, Format::kRaw, kTypeHash, block(256), 256);
  table_.add_ref(1, Holder::task());
  table_.add_ref(1, Holder::of_worker(7));
  table_.add_ref(1, Holder::of_worker(7));
  table_.add_ref(1, Holder::of_worker(8));
  table_.release(1, Holder::program());
  table_.release(1, Holder::task());
  ASSERT_NE(table_.find(1), nullptr) << "two workers still hold it";
  table_.release(1, Holder::of_worker(9));  // holds nothing: ignored
  table_.release(1, Holder::of_worker(8));
  ASSERT_NE(table_.find(1), nullptr);
  EXPECT_TRUE(table_.release_all(7).empty());  // worker 7 died: both its references go
  EXPECT_EQ(table_.find(1), nullptr);
  EXPECT_EQ(allocator_.used_bytes(), 0u);
  EXPECT_TRUE(table_.release_all(7).empty());
}

// A worker's task submitted tasks and died: the results only it held are orphans, which the task
// manager drops; one the program also holds is not.
TEST_F(ReferenceTableTest, ADeadWorkersPendingObjectsThatNobodyElseHoldsAreOrphans) {
  table_.add_pending(1, 1, Holder::of_worker(7));
  table_.add_pending(2, 2, Holder::of_worker(7));
  table_.add_ref(2, Holder::program());
  table_.add_ready_inline(3, Format::kRaw, kTypeHash, detail::ByteBuffer(8), Holder::of_worker(7));
  EXPECT_EQ(table_.find(1)->program_refs, 0u);
  EXPECT_EQ(table_.release_all(7), std::vector<ObjectId>{1});
  EXPECT_NE(table_.find(1), nullptr) << "pending: freed when its task is dropped or finishes";
  EXPECT_NE(table_.find(2), nullptr);
  EXPECT_EQ(table_.find(3), nullptr) << "a ready object only the worker held is freed at once";
}

TEST_F(ReferenceTableTest, ReferenceCountsOfUnknownOrUnreferencedObjectsAreLeftAlone) {
  table_.add_ref(5, Holder::program());  // unknown: ignored, nothing is created
  table_.release(5, Holder::program());
  EXPECT_EQ(table_.size(), 0u);

  table_.add_pending(1, 0);
  table_.release(1, Holder::program());
  table_.release(1, Holder::program());  // already at zero: must not wrap around
  EXPECT_EQ(table_.find(1)->program_refs, 0u);
  table_.add_ref(1, Holder::program());  // e.g. a get() decoding it while its producer still runs
  table_.complete_inline(1, Format::kMsgpack, kTypeHash, bytes_of_size(5));
  ASSERT_NE(table_.find(1), nullptr);
  table_.release(1, Holder::program());
  EXPECT_EQ(table_.find(1), nullptr);
}

}  // namespace
}  // namespace shoal::internal
