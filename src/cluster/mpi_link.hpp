// The one thread of a process that talks MPI (docs/cluster.md). Every MPI call of shoal is made
// on it: it initialises MPI (MPI_THREAD_FUNNELED: no other thread calls MPI), runs the loop that
// sends and receives, and finalises MPI. Other threads queue messages with send().
//
// Messages. A message is a byte string (src/cluster/cluster_protocol.hpp) with, optionally,
// *payloads* after it: large values, sent as they lie in memory (an object's bytes in the store)
// and received straight into their destination, in chunks of kChunkBytes, so that a 100 MB object
// is neither copied into a message nor received into a temporary buffer. Messages queued for one
// destination between two turns of the loop leave as one MPI message (a batch: u32 length and
// bytes, each), on tag kTagMessages; payload chunks follow on tag kTagPayload. MPI keeps the order
// of messages between two ranks on one tag, and the receiver posts the payload receives in the
// order it reads the messages that announce them, so chunks always land in the right place.
//
// Waiting. MPI has no way to sleep until a message arrives that does not also spin a core (Open
// MPI's blocking receive polls). The loop polls while there is traffic (for kSpinNs after the last
// message, yielding the core between polls) and then sleeps between polls, up to kMaxSleepNs;
// send() and wake() end the sleep at once. So a round trip costs no sleep, and an idle rank uses
// no core.
//
// Thread safety: send(), wake() and stop() from any thread; run() on the thread that made the
// link; the Handler is called on that thread only.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <shoal/detail/byte_buffer.hpp>

namespace shoal::internal {

/// Where this process stands in an MPI job, read from the environment mpirun gives it (Open MPI,
/// MPICH/Hydra, PMIx), before MPI is initialised. nullopt-like {0, 1} when it was not started by
/// mpirun, or by an mpirun of one process.
struct MpiPlace {
  int rank = 0;
  int size = 1;
  bool under_mpirun() const noexcept { return size > 1; }
};
MpiPlace mpi_place_from_environment() noexcept;

/// True if shoal was built with MPI (a build without it runs on one machine only).
bool built_with_mpi() noexcept;

class MpiLink {
 public:
  static constexpr std::uint64_t kChunkBytes = std::uint64_t{8} << 20;
  static constexpr std::int64_t kSpinNs = 2'000'000;
  static constexpr std::int64_t kMaxSleepNs = 1'000'000;

  /// A large value sent after a message: `data` stays valid while `keep` lives.
  struct Payload {
    const char* data = nullptr;
    std::uint64_t size = 0;
    std::shared_ptr<const void> keep;
  };
  /// Where a payload announced by a received message lands: `dst` (null: received and dropped,
  /// e.g. when its destination could not be allocated), then `done` runs on the MPI thread.
  struct Landing {
    char* dst = nullptr;
    std::uint64_t size = 0;
    std::function<void()> done;
  };
  class Handler {
   public:
    /// One message from rank `source`. Fills `landings` with one entry per payload it announces,
    /// in order. Exceptions are caught and logged by the loop (the message is dropped).
    virtual void on_message(int source, const char* data, std::size_t size,
                            std::vector<Landing>& landings) = 0;
    /// Each turn of the loop: work other threads queued for the MPI thread. Returns true if it did
    /// something (the loop then keeps polling instead of sleeping).
    virtual bool on_turn() = 0;

   protected:
    ~Handler() = default;
  };

  /// Initialises MPI on the calling thread. Throws Error (built without MPI, or MPI_Init_thread
  /// failed, or MPI cannot give MPI_THREAD_FUNNELED).
  MpiLink();
  /// Finalises MPI (MPI_Finalize), on the thread that made the link.
  ~MpiLink();
  MpiLink(const MpiLink&) = delete;
  MpiLink& operator=(const MpiLink&) = delete;

  int rank() const noexcept { return rank_; }
  int size() const noexcept { return size_; }
  /// The MPI library's version string (for the benchmarks' machine line).
  std::string library_version() const;

  /// Queues a message (and its payloads) for rank `dest`. Thread safe.
  void send(int dest, detail::ByteBuffer message, std::vector<Payload> payloads = {});
  /// Ends the loop's sleep. Thread safe.
  void wake();
  /// Runs the loop on the calling thread until stop(); then sends what is queued and waits for
  /// every send and receive in flight to complete, and returns.
  void run(Handler& handler);
  /// Makes run() return (after flushing). Thread safe.
  void stop();
  /// Rank `rank` is dead: its sends and receives in flight are no longer waited for (their
  /// memory is kept until the link goes, since MPI may still hold it), nothing more is sent to it,
  /// and the destructor will not call MPI_Finalize (which would wait for the dead rank). On the
  /// MPI thread only (from the Handler).
  void forget_peer(int rank);
  /// The destructor does not call MPI_Finalize (a peer is gone). On the MPI thread only.
  void abandon() noexcept { finalize_ = false; }

  /// Runs `fn` on the MPI thread at the end of this turn of the loop, after the queued messages
  /// have been handed to MPI. On the MPI thread only.
  void after_flush(std::function<void()> fn) { after_flush_.push_back(std::move(fn)); }

  /// Blocking MPI calls for the benchmarks (bench/cluster_bench.cpp), only while run() is not
  /// running: a ping-pong of `bytes` with `peer` (`rounds` round trips; this side sends first if
  /// `first`), returning each round trip's nanoseconds.
  std::vector<std::int64_t> ping_pong(int peer, std::size_t bytes, int rounds, bool first);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int rank_ = 0;
  int size_ = 1;
  bool finalize_ = true;
  std::vector<std::function<void()>> after_flush_;  // the MPI thread's own
  std::mutex mu_;                                   // guards the outbox, stop_ and woken_
  std::condition_variable cv_;
};

}  // namespace shoal::internal
