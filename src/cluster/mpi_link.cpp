// The MPI thread's loop (see mpi_link.hpp). Built without MPI (SHOAL_HAVE_MPI 0), the link cannot
// be made and says so; everything else in shoal works on one machine.
#include "src/cluster/mpi_link.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <sched.h>

#include <shoal/errors.hpp>

#include "src/common/byte_reader.hpp"
#include "src/common/logging.hpp"
#include "src/common/system_info.hpp"
#include "src/core/timeline.hpp"  // steady_now_ns()

#if SHOAL_HAVE_MPI
#include <mpi.h>
#endif

namespace shoal::internal {

namespace {

int env_int(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return -1;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < 0 || n > std::numeric_limits<int>::max()) return -1;
  return static_cast<int>(n);
}

}  // namespace

MpiPlace mpi_place_from_environment() noexcept {
  // Open MPI, MPICH's Hydra (PMI), then PMIx launchers, in that order.
  static constexpr const char* kNames[][2] = {
      {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"},
      {"PMI_RANK", "PMI_SIZE"},
      {"PMIX_RANK", "PMIX_SIZE"},
  };
  for (const auto& [rank_name, size_name] : kNames) {
    const int rank = env_int(rank_name);
    const int size = env_int(size_name);
    if (rank >= 0 && size > 0 && rank < size) return MpiPlace{rank, size};
  }
  return MpiPlace{};
}

bool built_with_mpi() noexcept { return SHOAL_HAVE_MPI != 0; }

#if SHOAL_HAVE_MPI

namespace {

constexpr int kTagMessages = 1;
constexpr int kTagPayload = 2;

std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    return fmt::format("MPI error {}", code);
  return std::string(text, static_cast<std::size_t>(length));
}

void check(int code, const char* what) {
  if (code != MPI_SUCCESS) {
    throw Error(fmt::format("shoal: {} failed: {}", what, mpi_error_text(code)));
  }
}

}  // namespace

struct MpiLink::Impl {
  struct Outgoing {
    detail::ByteBuffer batch;  // u32 length + bytes, per message
    std::vector<Payload> payloads;
  };
  // A send or receive in flight, with what keeps its memory valid.
  struct InFlight {
    std::shared_ptr<const void> keep;
    std::shared_ptr<std::vector<char>> scratch;  // a dropped payload's bytes
    std::function<void()> done;                  // a receive's last chunk: its landing's done
    std::shared_ptr<int> chunks_left;            // shared by the chunks of one payload
    int peer = -1;
  };

  std::vector<Outgoing> outbox;  // per rank, guarded by MpiLink::mu_
  bool stop = false;             // guarded by MpiLink::mu_
  bool woken = false;            // guarded by MpiLink::mu_
  // The MPI thread's own.
  std::vector<MPI_Request> requests;
  std::vector<InFlight> in_flight;
  std::vector<char> receive_buffer;
  std::vector<bool> dead;           // per rank: forget_peer()
  std::vector<InFlight> graveyard;  // what a dead rank's requests may still point into

  void post(MPI_Request request, InFlight what) {
    requests.push_back(request);
    in_flight.push_back(std::move(what));
  }

  // Sends one payload in chunks; `keep` holds its memory until the last completes.
  void send_payload(int dest, const Payload& p) {
    std::uint64_t at = 0;
    do {
      const std::uint64_t n = std::min(kChunkBytes, p.size - at);
      MPI_Request r = MPI_REQUEST_NULL;
      check(MPI_Isend(p.data + at, static_cast<int>(n), MPI_BYTE, dest, kTagPayload, MPI_COMM_WORLD,
                      &r),
            "MPI_Isend");
      post(r, InFlight{p.keep, nullptr, nullptr, nullptr, dest});
      at += n;
    } while (at < p.size);
  }

  void receive_payload(int source, Landing landing) {
    InFlight base;
    char* dst = landing.dst;
    if (dst == nullptr) {
      base.scratch = std::make_shared<std::vector<char>>(std::max<std::uint64_t>(landing.size, 1));
      dst = base.scratch->data();
    }
    const std::uint64_t chunks =
        std::max<std::uint64_t>(1, (landing.size + kChunkBytes - 1) / kChunkBytes);
    base.chunks_left = std::make_shared<int>(static_cast<int>(chunks));
    base.done = std::move(landing.done);
    base.peer = source;
    std::uint64_t at = 0;
    for (std::uint64_t c = 0; c < chunks; ++c) {
      const std::uint64_t n = std::min(kChunkBytes, landing.size - at);
      MPI_Request r = MPI_REQUEST_NULL;
      check(MPI_Irecv(dst + at, static_cast<int>(n), MPI_BYTE, source, kTagPayload, MPI_COMM_WORLD,
                      &r),
            "MPI_Irecv");
      post(r, base);
      at += n;
    }
  }

  // Completes what has finished; returns true if anything did.
  bool test_in_flight() {
    if (requests.empty()) return false;
    int count = 0;
    std::vector<int> indices(requests.size());
    check(MPI_Testsome(static_cast<int>(requests.size()), requests.data(), &count, indices.data(),
                       MPI_STATUSES_IGNORE),
          "MPI_Testsome");
    if (count <= 0) return false;  // MPI_UNDEFINED: none active
    std::vector<std::function<void()>> finished;
    for (int k = 0; k < count; ++k) {
      InFlight& f = in_flight[static_cast<std::size_t>(indices[static_cast<std::size_t>(k)])];
      if (f.chunks_left && --*f.chunks_left == 0 && f.done) finished.push_back(std::move(f.done));
      f = InFlight{};
    }
    // Drop the completed entries (MPI set their requests to MPI_REQUEST_NULL).
    std::size_t out = 0;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      if (requests[i] == MPI_REQUEST_NULL) continue;
      requests[out] = requests[i];
      in_flight[out] = std::move(in_flight[i]);
      ++out;
    }
    requests.resize(out);
    in_flight.resize(out);
    for (std::function<void()>& done : finished) {
      try {
        done();
      } catch (const std::exception& e) {
        SHOAL_LOG(kError, "shoal: a transfer between nodes could not be completed: {}", e.what());
      }
    }
    return true;
  }

  // Reads one batch, if one is waiting; returns true if there was one. One a turn, because the
  // turn then sends what handling it made (a finished task's result) before probing again: a
  // second MPI_Iprobe first delayed every round trip (docs/benchmarks.md, "More than one machine").
  bool receive(Handler& handler) {
    int flag = 0;
    MPI_Status status;
    check(MPI_Iprobe(MPI_ANY_SOURCE, kTagMessages, MPI_COMM_WORLD, &flag, &status), "MPI_Iprobe");
    if (flag == 0) return false;
    int count = 0;
    MPI_Get_count(&status, MPI_BYTE, &count);
    receive_buffer.resize(static_cast<std::size_t>(std::max(count, 1)));
    check(MPI_Recv(receive_buffer.data(), count, MPI_BYTE, status.MPI_SOURCE, kTagMessages,
                   MPI_COMM_WORLD, MPI_STATUS_IGNORE),
          "MPI_Recv");
    ByteReader batch(receive_buffer.data(), static_cast<std::size_t>(count));
    while (!batch.done()) {
      std::vector<Landing> landings;
      const char* data = nullptr;
      std::size_t size = 0;
      try {
        size = batch.get<std::uint32_t>("batch length");
        data = batch.bytes(size, "batch message");
      } catch (const std::exception& e) {
        SHOAL_LOG(kError, "shoal: a malformed batch from rank {}: {}", status.MPI_SOURCE, e.what());
        break;
      }
      try {
        handler.on_message(status.MPI_SOURCE, data, size, landings);
      } catch (const std::exception& e) {
        SHOAL_LOG(kError, "shoal: a message from rank {} could not be handled: {}",
                  status.MPI_SOURCE, e.what());
      }
      for (Landing& l : landings) receive_payload(status.MPI_SOURCE, std::move(l));
    }
    return true;
  }

  // Sends what other threads queued; returns true if there was something.
  bool flush(std::vector<Outgoing>& taken) {
    bool any = false;
    for (std::size_t dest = 0; dest < taken.size(); ++dest) {
      Outgoing& o = taken[dest];
      if (o.batch.size() == 0) continue;
      if (dead[dest]) {
        o = Outgoing{};
        continue;
      }
      any = true;
      auto batch = std::make_shared<detail::ByteBuffer>(std::move(o.batch));
      MPI_Request r = MPI_REQUEST_NULL;
      check(MPI_Isend(batch->data(), static_cast<int>(batch->size()), MPI_BYTE,
                      static_cast<int>(dest), kTagMessages, MPI_COMM_WORLD, &r),
            "MPI_Isend");
      post(r, InFlight{batch, nullptr, nullptr, nullptr, static_cast<int>(dest)});
      for (const Payload& p : o.payloads) send_payload(static_cast<int>(dest), p);
      o = Outgoing{};
    }
    return any;
  }
};

MpiLink::MpiLink() : impl_(std::make_unique<Impl>()) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (initialised != 0) {
    throw Error(
        "shoal: MPI was initialised before shoal::init(); call shoal::init() first, and do not "
        "initialise MPI yourself: shoal forks its workers before MPI starts, then initialises MPI "
        "and makes every MPI call itself (docs/cluster.md)");
  }
  int provided = 0;
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    throw Error("shoal: this MPI library cannot be used from a thread other than main()'s");
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  impl_->outbox.resize(static_cast<std::size_t>(size_));
  impl_->dead.resize(static_cast<std::size_t>(size_), false);
}

MpiLink::~MpiLink() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized == 0 && finalize_) MPI_Finalize();
}

void MpiLink::forget_peer(int rank) {
  Impl& im = *impl_;
  if (rank < 0 || rank >= size_) return;
  im.dead[static_cast<std::size_t>(rank)] = true;
  finalize_ = false;
  std::size_t out = 0;
  for (std::size_t i = 0; i < im.requests.size(); ++i) {
    if (im.in_flight[i].peer == rank) {
      im.graveyard.push_back(std::move(im.in_flight[i]));  // MPI may still write into it
      continue;
    }
    im.requests[out] = im.requests[i];
    im.in_flight[out] = std::move(im.in_flight[i]);
    ++out;
  }
  im.requests.resize(out);
  im.in_flight.resize(out);
  std::lock_guard<std::mutex> lock(mu_);
  im.outbox[static_cast<std::size_t>(rank)] = Impl::Outgoing{};
}

std::string MpiLink::library_version() const {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(text, &length);
  std::string v(text, static_cast<std::size_t>(length));
  if (const auto eol = v.find_first_of("\r\n,"); eol != std::string::npos) v.resize(eol);
  return v;
}

void MpiLink::send(int dest, detail::ByteBuffer message, std::vector<Payload> payloads) {
  if (dest < 0 || dest >= size_) throw Error(fmt::format("shoal: no rank {}", dest));
  if (message.size() > std::numeric_limits<std::uint32_t>::max()) {
    throw Error("shoal: a message between nodes is larger than 4 GiB");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    Impl::Outgoing& o = impl_->outbox[static_cast<std::size_t>(dest)];
    o.batch.put(static_cast<std::uint32_t>(message.size()));
    o.batch.write(message.data(), message.size());
    for (Payload& p : payloads) o.payloads.push_back(std::move(p));
    impl_->woken = true;
  }
  cv_.notify_one();
}

void MpiLink::wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    impl_->woken = true;
  }
  cv_.notify_one();
}

void MpiLink::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    impl_->stop = true;
  }
  cv_.notify_one();
}

void MpiLink::run(Handler& handler) {
  Impl& im = *impl_;
  std::vector<Impl::Outgoing> taken(static_cast<std::size_t>(size_));
  std::int64_t last_activity = steady_now_ns();
  std::int64_t sleep_ns = 1000;
  for (;;) {
    bool active = im.receive(handler);
    active |= handler.on_turn();
    bool stopping = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      taken.swap(im.outbox);
      im.woken = false;
      stopping = im.stop;
    }
    active |= im.flush(taken);
    if (!after_flush_.empty()) {
      std::vector<std::function<void()>> run_now;
      run_now.swap(after_flush_);
      for (auto& fn : run_now) fn();
      active = true;
    }
    active |= im.test_in_flight();
    if (stopping && im.requests.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      const bool empty = std::all_of(im.outbox.begin(), im.outbox.end(),
                                     [](const Impl::Outgoing& o) { return o.batch.size() == 0; });
      if (empty) return;
      continue;
    }
    const std::int64_t now = steady_now_ns();
    if (active) {
      last_activity = now;
      sleep_ns = 1000;
      continue;
    }
    if (now - last_activity < kSpinNs || !im.requests.empty()) {
      sched_yield();  // traffic: poll again soon, but let a worker have the core
      continue;
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::nanoseconds(sleep_ns), [&] { return im.woken || im.stop; });
    sleep_ns = std::min<std::int64_t>(sleep_ns * 2, kMaxSleepNs);
  }
}

std::vector<std::int64_t> MpiLink::ping_pong(int peer, std::size_t bytes, int rounds, bool first) {
  std::vector<char> buffer(std::max<std::size_t>(bytes, 1));
  std::vector<std::int64_t> out;
  constexpr int kTagPing = 3;
  for (int i = 0; i < rounds; ++i) {
    const std::int64_t t0 = steady_now_ns();
    const int n = static_cast<int>(bytes);
    if (first) {
      check(MPI_Send(buffer.data(), n, MPI_BYTE, peer, kTagPing, MPI_COMM_WORLD), "MPI_Send");
      check(MPI_Recv(buffer.data(), n, MPI_BYTE, peer, kTagPing, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
            "MPI_Recv");
    } else {
      check(MPI_Recv(buffer.data(), n, MPI_BYTE, peer, kTagPing, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
            "MPI_Recv");
      check(MPI_Send(buffer.data(), n, MPI_BYTE, peer, kTagPing, MPI_COMM_WORLD), "MPI_Send");
    }
    out.push_back(steady_now_ns() - t0);
  }
  return out;
}

#else  // built without MPI

struct MpiLink::Impl {};

MpiLink::MpiLink() {
  throw Error(
      "shoal: this program was started by mpirun, but shoal was built without MPI; install "
      "libopenmpi-dev (scripts/install-deps.sh) and build shoal again");
}
MpiLink::~MpiLink() = default;
std::string MpiLink::library_version() const { return {}; }
void MpiLink::send(int, detail::ByteBuffer, std::vector<Payload>) {}
void MpiLink::wake() {}
void MpiLink::run(Handler&) {}
void MpiLink::stop() {}
void MpiLink::forget_peer(int) {}
std::vector<std::int64_t> MpiLink::ping_pong(int, std::size_t, int, bool) { return {}; }

#endif

}  // namespace shoal::internal
