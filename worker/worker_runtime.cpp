#include "worker/worker_runtime.hpp"

#include <algorithm>
#include <chrono>
#include <limits>
#include <utility>

#include <fmt/format.h>
#include <unistd.h>

#include <shoal/errors.hpp>

#include "src/common/contained_refs.hpp"
#include "src/common/error_info.hpp"
#include "src/common/limits.hpp"
#include "src/transport/task_calls.hpp"
#include "src/transport/value_writer.hpp"

namespace shoal::internal {
namespace {

[[noreturn]] void throw_refusal(const Refusal& r) {
  switch (r.kind) {
    case RefusalKind::kInvalidObjectRef:
      throw InvalidObjectRefError(r.message);
    case RefusalKind::kInvalidConfig:
      throw InvalidConfigError(r.message);
    case RefusalKind::kCancelled:
      throw TaskCancelledError(r.message);
    case RefusalKind::kDeadlock:
      throw DeadlockError(r.message);
    case RefusalKind::kTypeMismatch:
      throw TypeMismatchError(r.message);
    case RefusalKind::kError:
      break;
  }
  throw Error(r.message);
}

[[noreturn]] void bad_reply(const char* what) {
  throw Error(std::string("shoal: the driver's answer to ") + what +
              " could not be read; this is a bug in shoal, please report it");
}

// put()'s space: a value too large to send inline becomes a store object (CreateObject).
class PutSpace final : public SpaceProvider {
 public:
  PutSpace(CoreRuntime& runtime, const detail::CallSite& site) : runtime_(runtime), site_(site) {}
  char* reserve(detail::Format format, std::uint64_t type_hash, std::uint64_t size) override {
    space_ = runtime_.reserve_object(format, type_hash, size, ObjectOrigin::kPut, site_);
    return space_.dst;
  }
  void seal(detail::ByteBuffer&) override {}
  detail::HandlePtr take() { return std::move(space_.handle); }

 private:
  CoreRuntime& runtime_;
  const detail::CallSite& site_;
  StoreSpace space_;
};

}  // namespace

WorkerRuntime::WorkerRuntime(TaskChannel& channel) : channel_(&channel), pid_(getpid()) {}

void WorkerRuntime::check_usable() const {
  if (getpid() != pid_) throw Error(forked_session_refusal());
  if (detached_.load(std::memory_order_acquire)) {
    throw Error("shoal: this worker is shutting down");
  }
  if (!channel_->in_task()) {
    throw Error(
        "shoal: the shoal API was called in a worker outside any task (from a thread that a task "
        "started and that outlived it); wait for such threads before the task returns");
  }
}

detail::HandlePtr WorkerRuntime::handle_of(ObjectId id) {
  return std::make_shared<detail::ObjectHandle>(shared_from_this(), id);
}

TaskSpec WorkerRuntime::checked_spec(detail::AnyFn fn, const char* signature,
                                     const TaskOptions& options, detail::TaskArgs&& args,
                                     std::vector<detail::HandlePtr>& refs) {
  check_usable();
  TaskSpec spec = make_task_spec(fn, signature, options, channel_->limits());
  if (spec.node >= 0) {
    throw InvalidConfigError(fmt::format(
        "shoal: TaskOptions::node_rank is {} for {}, inside a task; a task's tasks run on its own "
        "node: leave it at -1",
        spec.node, spec.name));
  }
  take_arguments(spec, args, *this, refs);
  return spec;
}

detail::HandlePtr WorkerRuntime::submit(detail::AnyFn fn, const char* signature,
                                        const TaskOptions& options, detail::TaskArgs&& args) {
  // Held until the task is registered: a large argument's object has no other holder yet.
  std::vector<detail::HandlePtr> refs;
  TaskSpec spec = checked_spec(fn, signature, options, std::move(args), refs);
  spec.id = channel_->new_id();
  // The handle first: if sending fails, dropping it tells the driver nothing it does not know.
  detail::HandlePtr handle = handle_of(spec.id);
  channel_->send([&](detail::ByteBuffer& out) { encode_submit(out, spec); });
  return handle;
}

detail::HandlePtr WorkerRuntime::submit_actor_task(ObjectId actor, detail::AnyFn method,
                                                   const char* signature, detail::TaskArgs&& args) {
  TaskOptions call;
  call.num_cpus = 0;  // the driver applies the actor's own rules (it holds the CPUs)
  call.max_retries = 0;
  std::vector<detail::HandlePtr> refs;
  TaskSpec spec = checked_spec(method, signature, call, std::move(args), refs);
  spec.id = channel_->new_id();
  spec.actor = actor;
  detail::HandlePtr handle = handle_of(spec.id);
  channel_->send([&](detail::ByteBuffer& out) { encode_submit(out, spec); });
  return handle;
}

std::vector<detail::HandlePtr> WorkerRuntime::submit_returns(detail::AnyFn fn,
                                                             const char* signature,
                                                             const TaskOptions& options,
                                                             detail::TaskArgs&& args,
                                                             std::size_t num_returns) {
  // Held until the task is registered: a large argument's object has no other holder yet.
  std::vector<detail::HandlePtr> refs;
  TaskSpec spec = checked_spec(fn, signature, options, std::move(args), refs);
  spec.id = channel_->new_id();
  std::vector<detail::HandlePtr> handles;
  for (std::size_t k = 0; k < num_returns; ++k) {
    std::vector<ObjectId>& returns = spec.rare_parts().returns;
    returns.push_back(k == 0 ? spec.id : channel_->new_id());
    handles.push_back(handle_of(returns.back()));
  }
  channel_->send([&](detail::ByteBuffer& out) { encode_submit(out, spec); });
  return handles;
}

detail::HandlePtr WorkerRuntime::put(void (*encode)(detail::ValueSink&, const void*),
                                     const void* value, const detail::CallSite& site) {
  check_usable();
  detail::ByteBuffer bytes(256);
  detail::OpenValue open;
  PutSpace space(*this, site);
  ValueWriter writer(bytes, space, open, std::numeric_limits<std::size_t>::max(),
                     InlineForm::kBare);
  RefCollector contained(this);
  encode(writer, value);
  detail::HandlePtr handle = space.take();  // a large value: stored already (CreateObject)
  const bool stored = handle != nullptr;
  if (!stored) handle = handle_of(channel_->new_id());
  const ObjectId id = handle->id();
  if (!stored || !contained.ids().empty()) {
    channel_->send([&](detail::ByteBuffer& out) {
      if (!stored) {
        encode_put(out, id, open.format, open.type_hash, bytes.data(), bytes.size(),
                   call_site_text(site));
      }
      // Refs inside the value: the object holds them (the task's own refs go later, after this).
      if (!contained.ids().empty()) {
        encode_id_list(out, MessageType::kContain, contained.ids(), id);
      }
    });
  }
  return handle;
}

detail::HandlePtr WorkerRuntime::adopt(ObjectId id) {
  check_usable();
  channel_->hold(id);
  return handle_of(id);
}

StoreSpace WorkerRuntime::reserve_object(detail::Format format, std::uint64_t type_hash,
                                         std::uint64_t size, ObjectOrigin,
                                         const detail::CallSite& site) {
  check_usable();
  const ObjectId id = channel_->new_id();
  const OwnedFrame reply = channel_->call([&](detail::ByteBuffer& out, std::uint64_t request) {
    encode_create_object(out,
                         CreateObject{request, id, format, type_hash, size, call_site_text(site)});
  });
  CreateReply r;
  try {
    r = decode_create_reply(reply.frame());
  } catch (const DecodeError&) {
    bad_reply("a request for store space");
  }
  if (!r.ok) {
    throw ObjectStoreFullError(
        fmt::format("shoal: the object store has no room for a value of {} bytes put() or passed "
                    "to remote() inside a task (capacity {} bytes); a task does not wait for "
                    "space: drop references to large objects, or raise "
                    "Config::object_store_memory",
                    size, r.value),
        size, r.value);
  }
  if (r.value > channel_->arena_size() || size > channel_->arena_size() - r.value) {
    bad_reply("a request for store space");
  }
  // The object exists in the driver, held by this worker, from now on.
  return StoreSpace{handle_of(id), channel_->arena_base() + r.value, nullptr};
}

std::vector<detail::Fetched> WorkerRuntime::get_values(const std::vector<ObjectId>& ids,
                                                       std::uint8_t flags,
                                                       std::int64_t timeout_ns) {
  check_usable();
  auto reply = std::make_shared<OwnedFrame>(
      channel_->call([&](detail::ByteBuffer& out, std::uint64_t request) {
        encode_get(out, Get{request, flags, timeout_ns, ids});
      }));
  GetReply r;
  try {
    r = decode_get_reply(reply->frame());
  } catch (const DecodeError&) {
    bad_reply("get()");
  }
  switch (r.status) {
    case ReplyStatus::kOk:
      break;
    case ReplyStatus::kFailed:
      throw_error(r.error);
    case ReplyStatus::kTimeout:
      throw GetTimeoutError(fmt::format(
          "shoal: get() timed out after {} ms with {} of {} objects not ready yet. Wait longer, or "
          "use shoal::wait() to take results as they come",
          timeout_ns / 1'000'000, r.not_ready, ids.size()));
    case ReplyStatus::kRefused:
      throw_refusal(r.refusal);
  }
  if (r.values.size() != ids.size()) bad_reply("get()");
  std::vector<detail::Fetched> out;
  out.reserve(ids.size());
  for (const ValueRecord& v : r.values) {
    detail::Fetched f;
    f.view.format = v.format;
    f.view.type_hash = v.type_hash;
    f.view.size = v.size;
    if (v.kind == RecordKind::kStore) {
      if (v.offset > channel_->arena_size() || v.size > channel_->arena_size() - v.offset) {
        bad_reply("get()");
      }
      // The arena stays mapped for the worker's life; the caller's ref keeps the object.
      f.view.data = channel_->arena_base() + v.offset;
    } else {
      // A copy of its own: in the reply the bytes sit behind a record header, unaligned for the
      // element type a View reads them as.
      auto bytes = std::make_shared<detail::ByteBuffer>(v.size);
      bytes->write(v.data, v.size);
      f.view.data = bytes->data();
      f.keep = std::move(bytes);
    }
    out.push_back(std::move(f));
  }
  return out;
}

detail::Fetched WorkerRuntime::fetch(ObjectId id, std::int64_t timeout_ns) {
  return std::move(get_values({id}, 0, timeout_ns).front());
}

std::vector<detail::Fetched> WorkerRuntime::fetch_all(const std::vector<ObjectId>& ids,
                                                      std::int64_t timeout_ns) {
  if (ids.empty()) {
    check_usable();
    return {};
  }
  // A reply carries small values inline, up to kInlineThreshold each: a long list is asked for in
  // chunks whose replies stay well under the frame limit, with one deadline for all of them.
  constexpr std::size_t kChunk = kMaxBodySize / 2 / kInlineThreshold;
  if (ids.size() <= kChunk) return get_values(ids, kGetFailFast, timeout_ns);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::nanoseconds(timeout_ns);
  std::vector<detail::Fetched> out;
  out.reserve(ids.size());
  for (std::size_t at = 0; at < ids.size(); at += kChunk) {
    std::int64_t left = timeout_ns;
    if (timeout_ns > 0) {
      left = std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(
                                           deadline - std::chrono::steady_clock::now())
                                           .count());
    }
    const std::vector<ObjectId> chunk(
        ids.begin() + static_cast<std::ptrdiff_t>(at),
        ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), at + kChunk)));
    for (detail::Fetched& f : get_values(chunk, kGetFailFast, left)) out.push_back(std::move(f));
  }
  return out;
}

std::vector<bool> WorkerRuntime::wait(const std::vector<ObjectId>& ids, std::size_t num_returns,
                                      std::int64_t timeout_ns) {
  check_usable();
  check_num_returns(num_returns, ids.size());
  if (ids.empty()) return {};
  const OwnedFrame reply = channel_->call([&](detail::ByteBuffer& out, std::uint64_t request) {
    encode_wait(out, Wait{request, static_cast<std::uint32_t>(num_returns), timeout_ns, ids});
  });
  WaitReply r;
  try {
    r = decode_wait_reply(reply.frame());
  } catch (const DecodeError&) {
    bad_reply("wait()");
  }
  if (r.status == ReplyStatus::kRefused) throw_refusal(r.refusal);
  if (r.ready.size() != ids.size()) bad_reply("wait()");
  return r.ready;
}

void WorkerRuntime::release(ObjectId id) noexcept {
  if (detached_.load(std::memory_order_acquire) || getpid() != pid_) return;
  channel_->release(id);
}

void WorkerRuntime::cancel(ObjectId id, bool force, bool recursive) {
  check_usable();
  channel_->send([&](detail::ByteBuffer& out) {
    encode_cancel(out, Cancel{id, force, recursive});
  });
}

bool WorkerRuntime::is_cancelled() {
  if (getpid() != pid_ || detached_.load(std::memory_order_acquire)) return false;
  return channel_->current_task_cancelled();
}

std::map<std::string, double> WorkerRuntime::resources(bool available) {
  check_usable();
  const OwnedFrame reply = channel_->call([&](detail::ByteBuffer& out, std::uint64_t request) {
    encode_info(out, request,
                available ? InfoKind::kAvailableResources : InfoKind::kClusterResources);
  });
  InfoReply r;
  try {
    r = decode_info_reply(reply.frame());
  } catch (const DecodeError&) {
    bad_reply("available_resources()");
  }
  if (r.status == ReplyStatus::kRefused) throw_refusal(r.refusal);
  return r.values;
}

ObjectStoreStats WorkerRuntime::stats() {
  check_usable();
  const OwnedFrame reply = channel_->call([&](detail::ByteBuffer& out, std::uint64_t request) {
    encode_info(out, request, InfoKind::kStats);
  });
  InfoReply r;
  try {
    r = decode_info_reply(reply.frame());
  } catch (const DecodeError&) {
    bad_reply("object_store_stats()");
  }
  if (r.status == ReplyStatus::kRefused) throw_refusal(r.refusal);
  ObjectStoreStats s;
  s.capacity_bytes = static_cast<std::uint64_t>(r.values["capacity_bytes"]);
  s.used_bytes = static_cast<std::uint64_t>(r.values["used_bytes"]);
  s.inline_bytes = static_cast<std::uint64_t>(r.values["inline_bytes"]);
  s.num_objects = static_cast<std::uint64_t>(r.values["num_objects"]);
  return s;
}

void WorkerRuntime::detach() noexcept { detached_.store(true, std::memory_order_release); }

}  // namespace shoal::internal
