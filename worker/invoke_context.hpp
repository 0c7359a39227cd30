// The worker's side of one task: decoded argument records in, one encoded result out. Small
// results are kept for the reply message; large ones are written straight into the arena after
// the driver has allocated space for them (the worker never allocates in shared memory).
//
// Thread safety: none; one task at a time on the worker's thread.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <shoal/detail/byte_buffer.hpp>
#include <shoal/remote.hpp>

#include "src/transport/protocol.hpp"

namespace shoal::internal {

class InvokeContextImpl final : public detail::InvokeContext {
 public:
  /// Asks the driver for `size` bytes of store space for this task's result: returns the offset,
  /// or throws ObjectStoreFullError.
  using AllocateFn = std::function<std::uint64_t(std::uint64_t size)>;

  InvokeContextImpl(const std::vector<ValueRecord>* args, char* arena_base,
                    std::uint64_t arena_size, AllocateFn allocate);

  std::size_t arg_count() const override { return args_->size(); }
  detail::ValueView arg(std::size_t index) const override;
  detail::ValueSink& result() override { return sink_; }
  void set_void_result() override;

  /// The result as a value record (inline or store), ready to append to a reply.
  const detail::ByteBuffer& result_record() const noexcept { return record_; }
  bool has_result() const noexcept { return done_; }

 private:
  class ResultSink final : public detail::ValueSink {
   public:
    explicit ResultSink(InvokeContextImpl* ctx) : ctx_(ctx) {}
    char* reserve_raw(std::uint64_t type_hash, std::size_t size) override;
    detail::ByteBuffer& begin_msgpack(std::uint64_t type_hash) override;
    void finish() override;

   private:
    InvokeContextImpl* ctx_;
    std::uint64_t type_hash_ = 0;
    detail::Format format_ = detail::Format::kVoid;
    bool to_store_ = false;
    std::uint64_t offset_ = 0, size_ = 0;
  };

  const std::vector<ValueRecord>* args_;
  char* arena_base_;
  std::uint64_t arena_size_;
  AllocateFn allocate_;
  ResultSink sink_{this};
  detail::ByteBuffer record_;   // the finished result record
  detail::ByteBuffer scratch_;  // msgpack encoding before we know where it goes
  bool done_ = false;
};

}  // namespace shoal::internal
