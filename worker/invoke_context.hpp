// The worker's side of one task: decoded argument records in, one encoded result out. The result
// is written by the one value writer (src/transport/value_writer.hpp): a small result is kept for
// the reply message; a large one is written straight into the arena, after the driver has
// allocated space for it (the worker never allocates in shared memory).
//
// Thread safety: none; one task at a time on the worker's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <shoal/detail/byte_buffer.hpp>
#include <shoal/remote.hpp>

#include "src/transport/protocol.hpp"
#include "src/transport/value_writer.hpp"

namespace shoal::internal {

class InvokeContextImpl final : public detail::InvokeContext {
 public:
  /// Asks the driver for `size` bytes of store space for this task's result: returns the offset,
  /// or throws ObjectStoreFullError.
  using AllocateFn = std::function<std::uint64_t(std::uint64_t size)>;

  InvokeContextImpl(const std::vector<ValueRecord>* args, char* arena_base, AllocateFn allocate,
                    std::size_t num_returns = 1);

  std::size_t arg_count() const override { return args_->size(); }
  detail::ValueView arg(std::size_t index) const override;
  detail::ValueSink& result() override;
  void set_void_result() override;
  std::size_t num_returns() const override { return num_returns_; }

  /// The result as a value record (inline or store), ready to put in the reply; with several
  /// returns, one record per return, one after the other.
  const detail::ByteBuffer& result_record() const noexcept { return record_; }
  /// When the function returned and its result began to be written (steady clock), or 0 (void).
  std::int64_t result_started_ns() const noexcept { return result_started_ns_; }

 private:
  // A large result: space from the driver (AllocRequest), then a store record naming it.
  class ResultSpace final : public SpaceProvider {
   public:
    explicit ResultSpace(InvokeContextImpl* ctx) : ctx_(ctx) {}
    char* reserve(detail::Format format, std::uint64_t type_hash, std::uint64_t size) override;
    void seal(detail::ByteBuffer& records) override;

   private:
    InvokeContextImpl* ctx_;
    detail::Format format_ = detail::Format::kVoid;
    std::uint64_t type_hash_ = 0, offset_ = 0, size_ = 0;
  };

  const std::vector<ValueRecord>* args_;
  char* arena_base_;
  AllocateFn allocate_;
  std::size_t num_returns_;
  detail::ByteBuffer record_;  // the result record
  std::int64_t result_started_ns_ = 0;
  ResultSpace space_{this};
  detail::OpenValue open_;
  ValueWriter writer_{record_, space_, open_};
};

}  // namespace shoal::internal
