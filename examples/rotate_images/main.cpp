// rotate_images: the seed blog post's Ray program, in C++ with shoal. Every .bmp image in a folder
// is read with OpenCV, rotated 90 degrees clockwise and saved next to itself as NAME_rot90.bmp,
// in parallel on one worker process per CPU; each task returns its image's mean value.
//
//   Python + Ray                                      C++ + shoal
//   @ray.remote                                       SHOAL_REMOTE(rotate_image90);
//   def ray_rotateImage90(fname): ...                 double rotate_image90(const std::string&)
//   ray.init()                                        shoal::init()
//   ray.available_resources()                         shoal::available_resources()
//   futures = [ray_rotateImage90.remote(f)            futures.push_back(
//              for f in fnames]                           shoal::task(rotate_image90).remote(f))
//   mean_vals = ray.get(futures)                      mean_vals = shoal::get(futures)
//   (tqdm(...) around it, for a progress bar)         shoal::get(futures, shoal::Progress{...})
//
// It prints the resources (memory and object_store_memory also in GiB), the means, and the
// milliseconds spent in init() and in processing. While the images are processed, a progress bar
// (<shoal/progress.hpp>) shows on stderr how many are done, how fast, and the time left, if stderr
// is a terminal (not with --json, whose timings bench/compare.py compares with the plain get()).
// Given an empty or missing folder, it first writes deterministic sample images (775x522, like
// the blog's data set). Bad input (a folder it cannot create, a file that is not an image) ends
// with a message on stderr and exit code 2, as do command-line mistakes.
//
// On several machines (docs/cluster.md), the same binary under mpirun, one rank per machine:
//   mpirun -np 2 --map-by ppr:1:node --bind-to none rotate_images /shared/images
// The images spread over every node's workers; the folder must be the same path on every machine
// (a shared folder: NFS, or a copy of it at that path), since each task opens its file where it
// runs.
//
// For scripts and bench/compare.py: --json prints one JSON document on stdout instead of the text:
//   {"mode": "shoal" or "sequential", "folder": "...", "images": N, "num_cpus": N, "nodes": N,
//    "init_ms": ..., "processing_ms": ..., "shutdown_ms": ...,
//    "results": [{"file": "<folder>/sample_000.bmp", "mean": <the image's mean>}, ...]}
// with one entry of "results" per image, in file order; "file" is the path the image was read
// from. --sequential does the same work in a plain loop in this process, without shoal (but with
// the workers' malloc settings); --generate-only only writes the samples.
//
//   rotate_images [folder] [--count N] [--width W] [--height H] [--num-cpus N]
//                 [--json] [--sequential] [--generate-only]
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <ostream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <CLI/CLI.hpp>
#include <malloc.h>
#include <nlohmann/json.hpp>

#include <shoal/shoal.hpp>

#include "rotate.hpp"
#include "sample_images.hpp"

namespace fs = std::filesystem;

// The remote function lives in rotate.cpp, shared with bench/image_workload.
using rotate_images::rotate_image90;
SHOAL_REMOTE(rotate_image90);

// ------------------------------------------------------------------------------------------------
// The driver's helpers: options, the folder, printing.

struct Options {
  std::string folder = "demo-images";
  int count = 64;
  int width = 775;
  int height = 522;
  int num_cpus = 0;  // 0 = every CPU this process may use
  bool json = false;
  bool sequential = false;
  bool generate_only = false;
};

// What one run measured. init_ms and shutdown_ms stay 0 in --sequential mode.
struct Result {
  std::vector<double> means;  // in file order
  double init_ms = 0;
  double processing_ms = 0;
  double shutdown_ms = 0;
  int num_cpus = 1;  // worker processes (1 for the sequential loop)
  int nodes = 1;     // machines (ranks under mpirun) whose workers took part
};

// Bad input from the user: reported on stderr, exit code 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The images to process. A missing or empty folder is created and filled with sample images; the
// note saying so goes to `info` (stdout, or stderr when stdout carries JSON).
std::vector<std::string> prepare_images(const Options& opt, std::ostream& info) {
  const fs::path folder(opt.folder);
  std::error_code ec;
  if (!fs::exists(folder, ec)) {
    if (!fs::create_directories(folder, ec) && ec) {
      throw InputError("cannot create folder " + opt.folder + ": " + ec.message());
    }
  } else if (!fs::is_directory(folder, ec)) {
    throw InputError(opt.folder + " is not a folder");
  }
  if (fs::is_empty(folder, ec) && !ec) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      rotate_images::write_sample_images(folder, opt.count, opt.width, opt.height);
    } catch (const std::runtime_error& e) {
      throw InputError(e.what());
    }
    const std::chrono::duration<double, std::milli> ms = std::chrono::steady_clock::now() - t0;
    info << "generated " << opt.count << " sample images (" << opt.width << "x" << opt.height
         << ") in " << std::fixed << std::setprecision(1) << ms.count() << " ms: " << opt.folder
         << "\n"
         << std::defaultfloat;
  }
  std::vector<std::string> fnames;
  try {
    fnames = rotate_images::list_images(folder);
  } catch (const std::runtime_error& e) {
    throw InputError(e.what());
  }
  if (fnames.empty()) {
    throw InputError("no .bmp images in " + opt.folder +
                     " (give an empty or missing folder to generate samples)");
  }
  return fnames;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// print(ray.available_resources()), one per line, with byte counts also in GiB:
//   memory: 12.3 GiB (13207024435 bytes)
void print_resources(const std::map<std::string, double>& resources) {
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  for (const auto& [name, amount] : resources) {
    std::cout << name << ": ";
    if (name == "memory" || name == "object_store_memory") {
      std::cout << std::fixed << std::setprecision(1) << amount / kGiB << " GiB ("
                << std::setprecision(0) << amount << " bytes)" << std::defaultfloat;
    } else {
      std::cout << std::setprecision(15) << amount;
    }
    std::cout << "\n";
  }
  std::cout << std::setprecision(6);
}

void print_list(const std::vector<double>& values) {  // like Python's print(list)
  std::cout << "[";
  for (std::size_t i = 0; i < values.size(); ++i) std::cout << (i ? ", " : "") << values[i];
  std::cout << "]\n";
}

// ------------------------------------------------------------------------------------------------
// The blog's driver, and the same work without shoal.

// Under mpirun every rank runs this: init() returns on rank 0 only (the driver); the other ranks
// become nodes inside it and never return, so only the driver lists (or generates) the images.
// init() comes first for that reason, and because it forks the workers' helper while this
// process has no other thread yet (OpenCV may start its thread pool writing samples).
Result run_shoal(const Options& opt, std::vector<std::string>& fnames, std::ostream& info) {
  Result r;
  // ray.init(); ray.available_resources()
  auto t0 = std::chrono::steady_clock::now();
  shoal::Config config;
  config.num_cpus = opt.num_cpus;
  shoal::init(config);
  r.init_ms = ms_since(t0);
  const std::map<std::string, double> resources = shoal::cluster_resources();
  r.num_cpus = static_cast<int>(resources.at("CPU"));
  r.nodes = static_cast<int>(std::count_if(resources.begin(), resources.end(), [](const auto& kv) {
    return kv.first.rfind("node:", 0) == 0;  // one "node:<address>" entry per machine
  }));
  if (!opt.json) print_resources(shoal::available_resources());
  fnames = prepare_images(opt, info);

  // futures = [ray_rotateImage90.remote(f) for f in fnames]; mean_vals = ray.get(futures)
  t0 = std::chrono::steady_clock::now();
  std::vector<shoal::ObjectRef<double>> futures;
  for (const auto& f : fnames) futures.push_back(shoal::task(rotate_image90).remote(f));
  // With --json the timings are compared with Ray's plain ray.get(): no bar.
  r.means =
      opt.json ? shoal::get(futures) : shoal::get(futures, shoal::Progress{"rotating", "images"});
  r.processing_ms = ms_since(t0);

  t0 = std::chrono::steady_clock::now();
  shoal::shutdown();
  r.shutdown_ms = ms_since(t0);
  return r;
}

// mean_vals = [rotateImage90(f) for f in fnames]: the blog's sequential version. shoal's workers
// keep the memory they free (mallopt in worker/worker_loop.cpp) instead of faulting an image's
// buffers in again for every image; the loop gets the same settings, or its comparison with the
// workers would mostly measure page faults.
Result run_sequential(const std::vector<std::string>& fnames) {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 16 << 20);
  Result r;
  const auto t0 = std::chrono::steady_clock::now();
  r.means.reserve(fnames.size());
  for (const auto& f : fnames) {
    try {
      r.means.push_back(rotate_image90(f));
    } catch (const std::runtime_error& e) {  // what a task's failure means: bad input
      throw InputError(e.what());
    }
  }
  r.processing_ms = ms_since(t0);
  return r;
}

void print_json(const Options& opt, const std::vector<std::string>& fnames, const Result& r) {
  // Each mean with its file, so that a script need not rely on the order of two lists.
  nlohmann::json results = nlohmann::json::array();
  for (std::size_t i = 0; i < fnames.size(); ++i) {
    results.push_back(nlohmann::json{{"file", fnames[i]}, {"mean", r.means.at(i)}});
  }
  const nlohmann::json doc = {
      {"mode", opt.sequential ? "sequential" : "shoal"},
      {"folder", opt.folder},
      {"images", fnames.size()},
      {"num_cpus", r.num_cpus},
      {"nodes", r.nodes},
      {"init_ms", r.init_ms},
      {"processing_ms", r.processing_ms},
      {"shutdown_ms", r.shutdown_ms},
      {"results", results},
  };
  std::cout << doc.dump(2) << "\n";
}

void print_text(const Options& opt, const Result& r, std::size_t images) {
  print_list(r.means);  // print(mean_vals)
  std::cout << std::fixed << std::setprecision(1) << "init: " << r.init_ms << " ms"
            << (opt.sequential ? " (sequential: no shoal)" : "") << "\n"
            << "processing: " << r.processing_ms << " ms (" << images << " images)\n"
            << "output: " << opt.folder << "/*" << rotate_images::kSuffix << "\n";
}

int run(const Options& opt) {
  // fnames = glob.glob("/opt/data/*.bmp")
  std::ostream& info = opt.json ? std::cerr : std::cout;
  std::vector<std::string> fnames;
  if (opt.generate_only) {
    fnames = prepare_images(opt, info);
    if (opt.json) {
      std::cout << nlohmann::json{{"folder", opt.folder}, {"images", fnames.size()}}.dump(2)
                << "\n";
    } else {
      std::cout << fnames.size() << " images in " << opt.folder << "\n";
    }
    return 0;
  }
  Result r;
  if (opt.sequential) {
    fnames = prepare_images(opt, info);
    r = run_sequential(fnames);
  } else {
    r = run_shoal(opt, fnames, info);
  }
  if (opt.json) {
    print_json(opt, fnames, r);
  } else {
    print_text(opt, r, fnames.size());
  }
  return 0;
}

int main(int argc, char** argv) {
  Options opt;
  CLI::App app{"Rotates every .bmp image in a folder 90 degrees clockwise, in parallel with shoal"};
  app.add_option("folder", opt.folder, "Folder of .bmp images; generated if missing or empty")
      ->capture_default_str();
  app.add_option("--count", opt.count, "How many sample images to generate")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--width", opt.width, "Width of generated images")
      ->capture_default_str()
      ->check(CLI::Range(1, 16384));
  app.add_option("--height", opt.height, "Height of generated images")
      ->capture_default_str()
      ->check(CLI::Range(1, 16384));
  auto* num_cpus = app.add_option("--num-cpus", opt.num_cpus, "Worker processes (0 = one per CPU)")
                       ->capture_default_str()
                       ->check(CLI::Range(0, 4096));
  app.add_flag("--json", opt.json,
               "Print one JSON document instead of text: mode, folder, images, num_cpus, init_ms, "
               "processing_ms, shutdown_ms, and results: [{\"file\": path, \"mean\": value}, ...] "
               "in file order");
  app.add_flag("--sequential", opt.sequential,
               "Do the same work in a plain loop in this process, without shoal")
      ->excludes(num_cpus);
  app.add_flag("--generate-only", opt.generate_only,
               "Only make sure the folder has images (generating samples if it is empty); no "
               "rotation");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help is not an error
  }

  try {
    return run(opt);
  } catch (const InputError& e) {
    std::cerr << "rotate_images: " << e.what() << "\n";
    return 2;
  } catch (const shoal::TaskError& e) {  // a task threw: an image that cannot be read or written
    std::cerr << "rotate_images: " << e.original_what() << " (" << e.type_name() << " in task "
              << e.function_name() << ", worker pid " << e.pid() << ")\n";
    return 2;
  } catch (const std::exception& e) {  // shoal could not start, a worker crashed, ...
    std::cerr << "rotate_images: " << e.what() << "\n";
    return 1;
  }
}
