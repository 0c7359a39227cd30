// The driver's ObjectTable (store/object_table.hpp) over a real Allocator on a heap arena:
// reference counting, when an object's bytes are given back, and who gets woken when it finishes.
#include "store/object_table.hpp"

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

class ObjectTableTest : public ::testing::Test {
 protected:
  // A block of `size` bytes from the arena, as a worker's result would get.
  std::uint64_t block(std::uint64_t size) {
    const std::optional<std::uint64_t> o = allocator_.allocate(size);
    EXPECT_TRUE(o.has_value());
    return o.value_or(0);
  }

  std::unique_ptr<ArenaBuffer> arena_ = std::make_unique<ArenaBuffer>();
  Allocator allocator_{arena_->bytes, kArenaSize};
  ObjectTable table_{&allocator_};
};

TEST_F(ObjectTableTest, AddPendingHasOneReference) {
  ObjectEntry& e = table_.add_pending(1, /*producer=*/77);
  EXPECT_EQ(e.refs, 1u);
  EXPECT_EQ(e.state, ObjectState::kPending);
  EXPECT_EQ(e.producer, 77u);
  EXPECT_EQ(table_.find(1), &e);
  EXPECT_EQ(table_.size(), 1u);
  EXPECT_EQ(table_.find(2), nullptr);
}

TEST_F(ObjectTableTest, ReleasingTheLastReferenceFreesAReadyArenaObject) {
  table_.add_pending(1, 0);
  const std::uint64_t offset = block(5000);
  EXPECT_THAT(table_.complete_arena(1, Format::kRaw, kTypeHash, offset, 5000), IsEmpty());
  const ObjectEntry* e = table_.find(1);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->state, ObjectState::kReady);
  EXPECT_TRUE(e->in_arena);
  EXPECT_EQ(e->offset, offset);
  EXPECT_EQ(e->size, 5000u);
  EXPECT_EQ(e->format, Format::kRaw);
  EXPECT_EQ(e->type_hash, kTypeHash);
  EXPECT_EQ(allocator_.used_bytes(), 5000u);

  table_.release(1);
  EXPECT_EQ(table_.find(1), nullptr);
  EXPECT_EQ(table_.size(), 0u);
  EXPECT_EQ(allocator_.used_bytes(), 0u);
  EXPECT_EQ(table_.inline_bytes(), 0u);
}

TEST_F(ObjectTableTest, ReleasingTheLastReferenceFreesAReadyInlineObject) {
  table_.add_pending(1, 0);
  table_.add_pending(2, 0);
  table_.complete_inline(1, Format::kMsgpack, kTypeHash, bytes_of_size(100));
  table_.complete_inline(2, Format::kMsgpack, kTypeHash, bytes_of_size(30));
  EXPECT_EQ(table_.inline_bytes(), 130u);
  const ObjectEntry* e = table_.find(1);
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->in_arena);
  ASSERT_NE(e->inline_bytes, nullptr);
  EXPECT_EQ(e->inline_bytes->size(), 100u);
  EXPECT_EQ(e->size, 100u);

  table_.release(1);
  EXPECT_EQ(table_.find(1), nullptr);
  EXPECT_EQ(table_.inline_bytes(), 30u);
  EXPECT_EQ(table_.size(), 1u);
  EXPECT_EQ(allocator_.used_bytes(), 0u);
}

TEST_F(ObjectTableTest, PendingObjectWithoutReferencesIsFreedWhenCompleted) {
  table_.add_pending(1, 10);
  table_.find(1)->dependents.push_back(20);
  table_.release(1);
  // Its producer is still running: the entry stays until the result arrives.
  ASSERT_NE(table_.find(1), nullptr);
  EXPECT_EQ(table_.find(1)->refs, 0u);

  const std::uint64_t offset = block(2048);
  EXPECT_THAT(table_.complete_arena(1, Format::kRaw, kTypeHash, offset, 2048), ElementsAre(20u));
  EXPECT_EQ(table_.find(1), nullptr);
  EXPECT_EQ(allocator_.used_bytes(), 0u);

  table_.add_pending(2, 11);
  table_.release(2);
  table_.complete_inline(2, Format::kMsgpack, kTypeHash, bytes_of_size(64));
  EXPECT_EQ(table_.find(2), nullptr);
  EXPECT_EQ(table_.inline_bytes(), 0u);

  table_.add_pending(3, 12);
  table_.release(3);
  table_.fail(3, task_error("boom"));
  EXPECT_EQ(table_.find(3), nullptr);
  EXPECT_EQ(table_.size(), 0u);
}

TEST_F(ObjectTableTest, CompletingReturnsDependentsAndWakesWaiters) {
  table_.add_pending(1, 0);
  table_.add_pending(2, 0);
  Waiter both;  // waits for 1 and 2
  both.remaining = 2;
  Waiter only_one;  // waits for 1
  only_one.remaining = 1;
  ObjectEntry* one = table_.find(1);
  one->dependents = {100, 101};
  one->waiters = {&both, &only_one};
  table_.find(2)->waiters = {&both};

  EXPECT_THAT(table_.complete_inline(1, Format::kMsgpack, kTypeHash, bytes_of_size(8)),
              ElementsAre(100u, 101u));
  EXPECT_EQ(both.remaining, 1u);
  EXPECT_EQ(only_one.remaining, 0u);
  one = table_.find(1);
  ASSERT_NE(one, nullptr);
  EXPECT_THAT(one->dependents, IsEmpty());
  EXPECT_THAT(one->waiters, IsEmpty());

  const std::uint64_t offset = block(128);
  EXPECT_THAT(table_.complete_arena(2, Format::kRaw, kTypeHash, offset, 128), IsEmpty());
  EXPECT_EQ(both.remaining, 0u);
  EXPECT_EQ(only_one.remaining, 0u);
}

TEST_F(ObjectTableTest, WaiterThatIsAlreadySatisfiedIsNotDecrementedPastZero) {
  table_.add_pending(1, 0);
  Waiter w;
  w.remaining = 0;
  table_.find(1)->waiters.push_back(&w);
  table_.complete_inline(1, Format::kMsgpack, kTypeHash, bytes_of_size(1));
  EXPECT_EQ(w.remaining, 0u);
}

TEST_F(ObjectTableTest, FinishedObjectIgnoresASecondCompletion) {
  table_.add_pending(1, 0);
  table_.complete_inline(1, Format::kMsgpack, kTypeHash, bytes_of_size(10));
  table_.find(1)->dependents.push_back(5);  // would be handed out again by a second completion

  EXPECT_THAT(table_.complete_inline(1, Format::kRaw, 1, bytes_of_size(99)), IsEmpty());
  EXPECT_EQ(table_.inline_bytes(), 10u);
  EXPECT_EQ(table_.find(1)->format, Format::kMsgpack);

  // A late arena result for a finished (or unknown) object must not leak its block.
  const std::uint64_t late = block(4096);
  EXPECT_THAT(table_.complete_arena(1, Format::kRaw, kTypeHash, late, 4096), IsEmpty());
  EXPECT_EQ(allocator_.used_bytes(), 0u);
  EXPECT_FALSE(table_.find(1)->in_arena);
  const std::uint64_t orphan = block(4096);
  EXPECT_THAT(table_.complete_arena(999, Format::kRaw, kTypeHash, orphan, 4096), IsEmpty());
  EXPECT_EQ(allocator_.used_bytes(), 0u);

  EXPECT_THAT(table_.fail(1, task_error("late")), IsEmpty());
  EXPECT_EQ(table_.find(1)->state, ObjectState::kReady);
}

TEST_F(ObjectTableTest, FailKeepsTheErrorAndWakesEveryone) {
  table_.add_pending(1, 0);
  Waiter w;
  w.remaining = 1;
  table_.find(1)->waiters.push_back(&w);
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

  table_.release(1);
  EXPECT_EQ(table_.find(1), nullptr);
}

TEST_F(ObjectTableTest, FailAllPendingFailsOnlyPendingObjects) {
  table_.add_pending(1, 0);
  table_.add_pending(2, 0);
  table_.add_pending(3, 0);
  table_.add_pending(4, 0);
  table_.complete_inline(3, Format::kMsgpack, kTypeHash, bytes_of_size(16));
  table_.release(4);  // pending and unreferenced: dropped once it fails
  Waiter w;
  w.remaining = 2;
  table_.find(1)->waiters.push_back(&w);
  table_.find(2)->waiters.push_back(&w);

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

TEST_F(ObjectTableTest, AddRefKeepsAnObjectAliveAcrossOneRelease) {
  table_.add_pending(1, 0);
  const std::uint64_t offset = block(300);
  table_.complete_arena(1, Format::kRaw, kTypeHash, offset, 300);
  table_.add_ref(1);
  EXPECT_EQ(table_.find(1)->refs, 2u);

  table_.release(1);
  ASSERT_NE(table_.find(1), nullptr);
  EXPECT_EQ(table_.find(1)->state, ObjectState::kReady);
  EXPECT_EQ(allocator_.used_bytes(), 300u);

  table_.release(1);
  EXPECT_EQ(table_.find(1), nullptr);
  EXPECT_EQ(allocator_.used_bytes(), 0u);
}

TEST_F(ObjectTableTest, ReferenceCountsOfUnknownOrUnreferencedObjectsAreLeftAlone) {
  table_.add_ref(5);  // unknown: ignored, nothing is created
  table_.release(5);
  EXPECT_EQ(table_.size(), 0u);

  table_.add_pending(1, 0);
  table_.release(1);
  table_.release(1);  // already at zero: must not wrap around
  EXPECT_EQ(table_.find(1)->refs, 0u);
  table_.add_ref(1);  // e.g. a get() decoding it while its producer still runs
  table_.complete_inline(1, Format::kMsgpack, kTypeHash, bytes_of_size(5));
  ASSERT_NE(table_.find(1), nullptr);
  table_.release(1);
  EXPECT_EQ(table_.find(1), nullptr);
}

}  // namespace
}  // namespace shoal::internal
