// The seed blog's rotateImage90 in C++, shared by the rotate_images demo (which registers it with
// SHOAL_REMOTE) and bench/image_workload (which runs it on threads and in a plain loop), so that
// every contestant of bench/compare.py does exactly the same work per image.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

namespace rotate_images {

/// The suffix of a rotated output: "a/x.bmp" is saved as "a/x_rot90.bmp".
inline constexpr std::string_view kSuffix = "_rot90.bmp";

/// "a/x.bmp" -> "a/x_rot90.bmp".
std::string rot90_name(const std::string& fname);

/// numpy's img.mean(): the sum of every channel of every pixel over rows * cols * channels.
double mean_of_all_channels(const cv::Mat& img);

/// Reads fname with OpenCV, rotates it 90 degrees clockwise, writes it as rot90_name(fname) and
/// returns its mean_of_all_channels(). Throws std::runtime_error naming the file if it cannot be
/// read as an image or the output cannot be written. Thread-safe for distinct files.
double rotate_image90(const std::string& fname);

/// glob.glob(folder + "/*.bmp"), sorted, without rotated outputs (*_rot90.bmp): the input list of
/// the demo and of every benchmark contestant, in the same order. Throws std::runtime_error if
/// the folder cannot be listed.
std::vector<std::string> list_images(const std::filesystem::path& folder);

}  // namespace rotate_images
