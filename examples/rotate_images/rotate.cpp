// The image work of the rotate_images demo, line for line the blog's Python function:
//
//   def rotateImage90(fname):
//       img = cv2.imread(fname)
//       img = cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
//       cv2.imwrite(fname.replace('.bmp', '_rot90.bmp'), img)
//       return img.mean()
//
// plus the checks that Python's exceptions would make. A throw inside a shoal task reaches the
// driver as shoal::TaskError from get().
#include "rotate.hpp"

#include <algorithm>
#include <stdexcept>
#include <system_error>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace rotate_images {

namespace fs = std::filesystem;

std::string rot90_name(const std::string& fname) {
  const fs::path path(fname);
  return (path.parent_path() / (path.stem().string() + std::string(kSuffix))).string();
}

double mean_of_all_channels(const cv::Mat& img) {
  const cv::Scalar sums = cv::sum(img);
  return (sums[0] + sums[1] + sums[2] + sums[3]) /
         (static_cast<double>(img.total()) * img.channels());
}

double rotate_image90(const std::string& fname) {
  cv::Mat img = cv::imread(fname);
  if (img.empty()) throw std::runtime_error("cannot read " + fname + " as an image");
  cv::rotate(img, img, cv::ROTATE_90_CLOCKWISE);
  if (!cv::imwrite(rot90_name(fname), img)) {
    throw std::runtime_error("cannot write " + rot90_name(fname));
  }
  return mean_of_all_channels(img);
}

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
  if (ec) throw std::runtime_error("cannot list folder " + folder.string() + ": " + ec.message());
  std::sort(fnames.begin(), fnames.end());
  return fnames;
}

}  // namespace rotate_images
