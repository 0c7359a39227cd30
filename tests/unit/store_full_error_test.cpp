// The store-full error (src/core/store_full_error.hpp) over a real NodeStore, ReferenceTable and
// TaskManager: which case the message names, the holders it lists (largest first, at most five,
// results being written included), and what it tells the user to do. No process is forked.
#include "src/core/store_full_error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <shoal/shoal.hpp>

#include "src/common/function_registry.hpp"

namespace {

int sfe_make_frame(int x) { return x; }

}  // namespace

SHOAL_REMOTE(sfe_make_frame);

namespace shoal::internal {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kCapacity = 4 * 1024 * kKiB;

class StoreFullErrorTest : public ::testing::Test {
 protected:
  // A ready object of `size` bytes in the store, made by `origin`.
  ObjectId add_object(std::uint64_t size, ObjectOrigin origin = ObjectOrigin::kPut) {
    const std::optional<std::uint64_t> offset = store_.allocate(size);
    EXPECT_TRUE(offset.has_value()) << "no room for " << size << " bytes";
    const ObjectId id = next_id_++;
    ObjectEntry& e = refs_.add_pending(id, 0);
    e.origin = origin;
    if (origin == ObjectOrigin::kTaskResult) {
      e.function_index = FunctionRegistry::instance()
                             .index_of(reinterpret_cast<detail::AnyFn>(&sfe_make_frame))
                             .value_or(0);
    }
    refs_.complete_store(id, detail::Format::kRaw, 1, offset.value_or(0), size);
    return id;
  }

  NodeStore store_{kCapacity};
  ReferenceTable refs_{&store_};
  Scheduler scheduler_{2, 1ull << 30};
  TaskManager tasks_{refs_, scheduler_};
  ObjectId next_id_ = 1;
};

TEST_F(StoreFullErrorTest, LargerThanTheWholeStoreSaysSoAndNamesNoHolders) {
  add_object(kKiB);
  const std::uint64_t size = store_.max_object_bytes() + 1;
  const auto e = store_full_error(store_, refs_, tasks_, 1000, size, "a value given to put()");
  EXPECT_EQ(e->kind, ErrorInfo::Kind::kStoreFull);
  EXPECT_EQ(e->requested, size);
  EXPECT_EQ(e->capacity, kCapacity);
  EXPECT_THAT(e->holders, IsEmpty()) << "dropping references cannot make room for it";
  EXPECT_THAT(e->what, HasSubstr("cannot store a value given to put()"));
  EXPECT_THAT(e->what, HasSubstr("larger than the whole object store"));
  EXPECT_THAT(e->what, HasSubstr("Config::object_store_memory"));
  EXPECT_THAT(e->what, Not(HasSubstr("biggest holders")));
}

TEST_F(StoreFullErrorTest, FullStoreNamesTheBiggestHoldersLargestFirstAndWhatToDo) {
  const ObjectId small = add_object(10 * kKiB);
  const ObjectId big = add_object(300 * kKiB, ObjectOrigin::kTaskResult);
  const ObjectId mid = add_object(100 * kKiB, ObjectOrigin::kArgument);
  // A result a worker is writing holds its block too; it is named as being written.
  const std::optional<std::uint64_t> block = store_.allocate(200 * kKiB);
  ASSERT_TRUE(block.has_value());
  store_.give_result_block(/*worker=*/3, {*block, 200 * kKiB, /*task=*/99});

  const std::uint64_t size = store_.max_object_bytes();  // cannot fit while anything is held
  const auto e = store_full_error(store_, refs_, tasks_, 250, size, "a value given to put()");
  ASSERT_EQ(e->holders.size(), 4u);
  EXPECT_EQ(e->holders[0].object_id, big);
  EXPECT_EQ(e->holders[0].size_bytes, 300 * kKiB);
  EXPECT_EQ(e->holders[0].created_by, "sfe_make_frame");
  EXPECT_EQ(e->holders[1].object_id, 99u);
  EXPECT_EQ(e->holders[1].created_by, "a task (being written)");
  EXPECT_EQ(e->holders[2].object_id, mid);
  EXPECT_EQ(e->holders[2].created_by, "an argument of remote()");
  EXPECT_EQ(e->holders[3].object_id, small);
  EXPECT_EQ(e->holders[3].created_by, "put()");
  EXPECT_THAT(e->what, HasSubstr("stayed full for 250 ms (Config::object_store_full_timeout_ms)"));
  EXPECT_THAT(e->what, HasSubstr(std::to_string(store_.used_bytes()) + " of its " +
                                 std::to_string(kCapacity) + " bytes are held"));
  EXPECT_THAT(e->what, HasSubstr("The biggest holders: object " + std::to_string(big) + " (" +
                                 std::to_string(300 * kKiB) + " bytes, sfe_make_frame)"));
  EXPECT_THAT(e->what, HasSubstr("Drop ObjectRefs and Views you no longer need"));
  EXPECT_THAT(e->what, Not(HasSubstr("not in one piece")));
}

TEST_F(StoreFullErrorTest, NamesAtMostFiveHolders) {
  for (int i = 1; i <= 8; ++i) add_object(static_cast<std::uint64_t>(i) * 10 * kKiB);
  const auto e = store_full_error(store_, refs_, tasks_, 0, store_.max_object_bytes(), "a value");
  ASSERT_EQ(e->holders.size(), kStoreHoldersNamed);
  for (std::size_t i = 0; i < e->holders.size(); ++i) {
    EXPECT_EQ(e->holders[i].size_bytes, (8 - i) * 10 * kKiB) << "holder " << i;
  }
  EXPECT_THAT(e->what, HasSubstr("Config::object_store_full_timeout_ms is 0: no waiting"));
}

TEST_F(StoreFullErrorTest, FreeSpaceSplitIntoPiecesIsReported) {
  // Fill the store with equal blocks, then free every other one: half the store is free, but no
  // two free blocks are adjacent.
  constexpr std::uint64_t kBlock = 64 * kKiB;
  std::vector<ObjectId> ids;
  while (store_.free_bytes() >= 2 * kBlock) ids.push_back(add_object(kBlock));
  ASSERT_GE(ids.size(), 8u);
  for (std::size_t i = 0; i < ids.size(); i += 2) refs_.release(ids[i], Holder::program());
  const std::uint64_t size = 3 * kBlock;
  ASSERT_GE(store_.free_bytes(), size);
  ASSERT_FALSE(store_.allocate(size).has_value()) << "the free space is in one piece after all";

  const auto e = store_full_error(store_, refs_, tasks_, 10, size, "a value");
  EXPECT_THAT(e->what, HasSubstr("bytes are free, but not in one piece"));
}

}  // namespace
}  // namespace shoal::internal
