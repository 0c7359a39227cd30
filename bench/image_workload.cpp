// image_workload: the seed blog's image work (examples/rotate_images/rotate.cpp) without shoal,
// as the yardsticks of bench/compare.py:
//
//   --threads     N std::threads in this process (N = the CPUs it may use, or --num-threads),
//                 each taking the next file from a shared atomic index: no processes, no copies,
//                 no messages -- the ideal that shoal's worker processes must approach.
//   --sequential  one plain loop, the blog's `[rotateImage90(f) for f in fnames]`.
//
// Both rotate every .bmp in the folder (not *_rot90.bmp; sorted, as the demo lists them) and
// print one JSON document on stdout: mode, threads, images, processing_ms (listing excluded) and
// the per-file means in file order. Exit code 2 for bad input (no images, an unreadable file).
//
// Memory: shoal's workers tell glibc to keep freed memory (worker/worker_loop.cpp, mallopt), so
// an image's buffers are not returned to the kernel and faulted in again for the next image. On
// this project's VMs a page fault is expensive, and that alone made the loop here several times
// slower. This program makes the same mallopt calls, so that the comparison is of the parallel
// machinery and not of glibc's defaults; --glibc-defaults leaves them out.
//
//   image_workload FOLDER (--threads [--num-threads N] | --sequential) [--glibc-defaults]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <malloc.h>
#include <nlohmann/json.hpp>
#include <opencv2/core/version.hpp>
#include <sched.h>

#include "examples/rotate_images/rotate.hpp"

namespace {

// The CPUs this process may run on: what shoal::init() sizes its worker pool by.
int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// The settings of shoal's workers: freed blocks stay in the heap for the next image.
void keep_memory() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 16 << 20);
}

std::vector<double> rotate_sequential(const std::vector<std::string>& fnames) {
  std::vector<double> means;
  means.reserve(fnames.size());
  for (const auto& f : fnames) means.push_back(rotate_images::rotate_image90(f));
  return means;
}

// Each thread claims the next index until none is left and writes its mean into that slot. The
// first exception (in claim order) stops the others from claiming more and is rethrown.
std::vector<double> rotate_threads(const std::vector<std::string>& fnames, int num_threads) {
  std::vector<double> means(fnames.size());
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mu;
  const auto work = [&] {
    while (!failed.load(std::memory_order_relaxed)) {
      const std::size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= fnames.size()) break;
      try {
        means[i] = rotate_images::rotate_image90(fnames[i]);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(num_threads));
  for (int t = 0; t < num_threads; ++t) threads.emplace_back(work);
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
  return means;
}

}  // namespace

int main(int argc, char** argv) {
  std::string folder;
  bool threads = false, sequential = false, glibc_defaults = false;
  int num_threads = 0;
  CLI::App app{"Rotates every .bmp in a folder on threads or in a loop, as a yardstick for shoal"};
  app.add_option("folder", folder, "Folder of .bmp images (see rotate_images --generate-only)")
      ->required();
  auto* t = app.add_flag("--threads", threads, "One std::thread per CPU, sharing an atomic index");
  auto* s = app.add_flag("--sequential", sequential, "One plain loop");
  t->excludes(s);
  app.add_option("--num-threads", num_threads, "Threads for --threads (0 = one per usable CPU)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
  app.add_flag(
      "--glibc-defaults", glibc_defaults,
      "Keep glibc's malloc defaults (shoal's workers change them; see the top of the file)");
  try {
    app.parse(argc, argv);
    if (!threads && !sequential) throw CLI::RequiredError("--threads or --sequential");
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (num_threads == 0) num_threads = usable_cpus();
  if (sequential) num_threads = 1;
  if (!glibc_defaults) keep_memory();

  try {
    const std::vector<std::string> fnames = rotate_images::list_images(folder);
    if (fnames.empty()) throw std::runtime_error("no .bmp images in " + folder);
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<double> means =
        sequential ? rotate_sequential(fnames) : rotate_threads(fnames, num_threads);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const nlohmann::json doc = {
        {"mode", sequential ? "sequential" : "threads"},
        {"threads", num_threads},
        {"glibc_defaults", glibc_defaults},
        {"opencv", CV_VERSION},
        {"images", fnames.size()},
        {"processing_ms", ms},
        {"means", means},
    };
    std::cout << doc.dump(2) << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "image_workload: " << e.what() << "\n";
    return 2;
  }
}
