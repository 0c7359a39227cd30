// Sample input for the rotate_images demo: deterministic, textured BGR images, so that the demo
// runs without the seed blog's data set and gives the same means on every machine.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace rotate_images {

/// The image number `index` (0, 1, ...) of the sample set: width x height, 8-bit BGR. Each image
/// mixes gradients, sine waves and hash noise whose frequencies, phase and brightness depend on
/// the index, so no two are alike and none is flat. A pure function of its arguments. Uses no
/// OpenCV parallel code, so it is safe to call before shoal::init() forks the workers.
cv::Mat make_sample_image(int index, int width, int height);

/// Writes sample images 0..count-1 into `folder` (which must exist) as sample_000.bmp, ... and
/// returns their paths in order. Throws std::runtime_error naming the file that could not be
/// written.
std::vector<std::string> write_sample_images(const std::filesystem::path& folder, int count,
                                             int width, int height);

}  // namespace rotate_images
