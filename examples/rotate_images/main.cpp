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
//
// It prints the resources, the means, and the milliseconds spent in init() and in processing.
// Given an empty or missing folder, it first writes deterministic sample images (775x522, like
// the blog's data set). Bad input (a folder it cannot create, a file that is not an image) ends
// with a message on stderr and exit code 2, as do command-line mistakes.
//
//   rotate_images [folder] [--count N] [--width W] [--height H] [--num-cpus N]
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include <CLI/CLI.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <shoal/shoal.hpp>

#include "sample_images.hpp"

namespace fs = std::filesystem;

// ------------------------------------------------------------------------------------------------
// The remote function: the blog's rotateImage90, line for line, plus the checks that Python's
// exceptions would make. A throw here reaches the driver as shoal::TaskError from get().

const std::string kSuffix = "_rot90.bmp";

std::string rot90_name(const std::string& fname) {  // "a/x.bmp" -> "a/x_rot90.bmp"
  const fs::path path(fname);
  return (path.parent_path() / (path.stem().string() + kSuffix)).string();
}

// numpy's img.mean(): the sum of every channel of every pixel over rows * cols * channels.
double mean_of_all_channels(const cv::Mat& img) {
  const cv::Scalar sums = cv::sum(img);
  return (sums[0] + sums[1] + sums[2] + sums[3]) /
         (static_cast<double>(img.total()) * img.channels());
}

double rotate_image90(const std::string& fname) {
  cv::Mat img = cv::imread(fname);
  if (img.empty()) throw std::runtime_error("cannot read " + fname + " as an image");
  cv::rotate(img, img, cv::ROTATE_90_CLOCKWISE);
  if (!cv::imwrite(rot90_name(fname), img))
    throw std::runtime_error("cannot write " + rot90_name(fname));
  return mean_of_all_channels(img);
}
SHOAL_REMOTE(rotate_image90);

// ------------------------------------------------------------------------------------------------
// The driver's helpers: options, the folder, printing.

struct Options {
  std::string folder = "demo-images";
  int count = 64;
  int width = 775;
  int height = 522;
  int num_cpus = 0;  // 0 = every CPU this process may use
};

// Bad input from the user: reported on stderr, exit code 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// glob.glob(folder + "/*.bmp"), sorted, without this program's own *_rot90.bmp outputs.
std::vector<std::string> list_images(const fs::path& folder) {
  std::vector<std::string> fnames;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const bool is_bmp = name.size() > 4 && name.ends_with(".bmp");
    if (is_bmp && !name.ends_with(kSuffix) && !it->is_directory()) {
      fnames.push_back(it->path().string());
    }
  }
  if (ec) throw InputError("cannot list folder " + folder.string() + ": " + ec.message());
  std::sort(fnames.begin(), fnames.end());
  return fnames;
}

// The images to process. A missing or empty folder is created and filled with sample images.
std::vector<std::string> prepare_images(const Options& opt) {
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
    std::cout << "generated " << opt.count << " sample images (" << opt.width << "x" << opt.height
              << ") in " << std::fixed << std::setprecision(1) << ms.count()
              << " ms: " << opt.folder << "\n"
              << std::defaultfloat;
  }
  std::vector<std::string> fnames = list_images(folder);
  if (fnames.empty()) {
    throw InputError("no .bmp images in " + opt.folder +
                     " (give an empty or missing folder to generate samples)");
  }
  return fnames;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void print_list(const std::vector<double>& values) {  // like Python's print(list)
  std::cout << "[";
  for (std::size_t i = 0; i < values.size(); ++i) std::cout << (i ? ", " : "") << values[i];
  std::cout << "]\n";
}

// ------------------------------------------------------------------------------------------------
// The blog's driver.

int run(const Options& opt) {
  // fnames = glob.glob("/opt/data/*.bmp"). Before init(): the workers are forks of this process,
  // and OpenCV must not have started its thread pool when they are made.
  const std::vector<std::string> fnames = prepare_images(opt);

  // ray.init(); ray.available_resources()
  auto t0 = std::chrono::steady_clock::now();
  shoal::Config config;
  config.num_cpus = opt.num_cpus;
  shoal::init(config);
  const double init_ms = ms_since(t0);
  std::cout << std::setprecision(15);
  for (const auto& [name, amount] : shoal::available_resources()) {
    std::cout << name << ": " << amount << "\n";
  }
  std::cout << std::setprecision(6);

  // futures = [ray_rotateImage90.remote(f) for f in fnames]; mean_vals = ray.get(futures)
  t0 = std::chrono::steady_clock::now();
  std::vector<shoal::ObjectRef<double>> futures;
  for (const auto& f : fnames) futures.push_back(shoal::task(rotate_image90).remote(f));
  std::vector<double> mean_vals = shoal::get(futures);
  const double processing_ms = ms_since(t0);

  print_list(mean_vals);  // print(mean_vals)
  std::cout << std::fixed << std::setprecision(1) << "init: " << init_ms << " ms\n"
            << "processing: " << processing_ms << " ms (" << fnames.size() << " images)\n"
            << "output: " << opt.folder << "/*" << kSuffix << "\n";
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
  app.add_option("--num-cpus", opt.num_cpus, "Worker processes (0 = one per CPU)")
      ->capture_default_str()
      ->check(CLI::Range(0, 4096));
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
