// Sample images for the rotate_images demo. Every pixel is a fixed formula of (index, x, y), so
// the set, and the means the demo prints, are the same on every run and every machine:
//
//   blue  = horizontal gradient + a vertical-stripe sine
//   green = vertical gradient   + a horizontal-stripe cosine
//   red   = diagonal waves      + a checker of the two
//   each  + a per-image brightness offset + hash noise in [-12, 12]
//
// The sines depend on x alone or y alone, so they are tabulated once per image and the per-pixel
// work is a few additions (64 images of 775x522 take well under a second). std::sin is not
// bit-identical across libm versions, but it rounds to the same 8-bit values in practice.
#include "sample_images.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>

namespace rotate_images {

namespace {

constexpr double kTwoPi = 6.283185307179586;

// splitmix64's finaliser: a cheap, well-mixed hash, identical on every platform.
std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Deterministic noise in [-12, 12] for one channel of one pixel.
int noise(int index, int x, int y, int channel) {
  const std::uint64_t key = (static_cast<std::uint64_t>(index) << 40) ^
                            (static_cast<std::uint64_t>(y) << 20) ^ static_cast<std::uint64_t>(x) ^
                            (static_cast<std::uint64_t>(channel) << 62);
  return static_cast<int>(mix(key) % 25) - 12;
}

std::string sample_name(int index, int count) {
  const int digits = std::max(3, static_cast<int>(std::to_string(count - 1).size()));
  std::string number = std::to_string(index);
  number.insert(0, static_cast<std::size_t>(digits) - number.size(), '0');
  return "sample_" + number + ".bmp";
}

}  // namespace

cv::Mat make_sample_image(int index, int width, int height) {
  // Per-image parameters: 2..6 periods across, 3..6 periods down, a phase and a brightness.
  const double fx = kTwoPi * (2 + index % 5) / width;
  const double fy = kTwoPi * (3 + (index / 5) % 4) / height;
  const double phase = 0.7 * index;
  const double offset = (index * 37) % 64 - 32;

  std::vector<double> sin_x(width), cos_x(width), sin_y(height), cos_y(height);
  for (int x = 0; x < width; ++x) {
    sin_x[x] = std::sin(fx * x + phase);
    cos_x[x] = std::cos(fx * x + phase);
  }
  for (int y = 0; y < height; ++y) {
    sin_y[y] = std::sin(fy * y);
    cos_y[y] = std::cos(fy * y);
  }

  cv::Mat img(height, width, CV_8UC3);
  for (int y = 0; y < height; ++y) {
    auto* row = img.ptr<cv::Vec3b>(y);
    const double green_base = 40 + 140.0 * y / height + 50 * cos_y[y] + offset;
    for (int x = 0; x < width; ++x) {
      const double diagonal = sin_x[x] * cos_y[y] + cos_x[x] * sin_y[y];  // sin(ax + by + phase)
      const double blue = 40 + 140.0 * x / width + 50 * sin_x[x] + offset;
      const double red = 128 + 70 * diagonal + 40 * sin_x[x] * sin_y[y] + offset;
      row[x][0] = cv::saturate_cast<uchar>(blue + noise(index, x, y, 0));
      row[x][1] = cv::saturate_cast<uchar>(green_base + noise(index, x, y, 1));
      row[x][2] = cv::saturate_cast<uchar>(red + noise(index, x, y, 2));
    }
  }
  return img;
}

std::vector<std::string> write_sample_images(const std::filesystem::path& folder, int count,
                                             int width, int height) {
  std::vector<std::string> paths;
  paths.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    const std::string path = (folder / sample_name(i, count)).string();
    bool written = false;
    try {
      written = cv::imwrite(path, make_sample_image(i, width, height));
    } catch (const cv::Exception& e) {
      throw std::runtime_error("cannot write sample image " + path + ": " + e.what());
    }
    if (!written) throw std::runtime_error("cannot write sample image " + path);
    paths.push_back(path);
  }
  return paths;
}

}  // namespace rotate_images
