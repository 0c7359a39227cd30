// File: shoal/opencv.hpp -- include it (after OpenCV) to pass cv::Mat to and from tasks.
//
// A cv::Mat travels as raw bytes: a 16-byte header (rows, cols, type) and then its pixels, so an
// image costs one memcpy into the store and one out, with no encoding. Only 2-D matrices are
// supported; a non-continuous Mat (a ROI) is copied row by row. The decoded Mat owns its pixels.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>

#include <opencv2/core.hpp>

#include <shoal/detail/codec.hpp>
#include <shoal/view.hpp>

namespace shoal::detail {

template <>
struct Codec<cv::Mat> {
  static constexpr Format kFormat = Format::kRaw;
  static constexpr std::size_t kHeader = 16;  // int32 rows, cols, type, reserved

  static std::size_t size(const cv::Mat& m) {
    if (m.dims > 2) throw std::invalid_argument("shoal: only 2-D cv::Mat values are supported");
    return kHeader + m.total() * m.elemSize();
  }
  static void write(const cv::Mat& m, char* dst) {
    const std::int32_t header[4] = {m.rows, m.cols, m.type(), 0};
    std::memcpy(dst, header, kHeader);
    char* out = dst + kHeader;
    const std::size_t row_bytes = static_cast<std::size_t>(m.cols) * m.elemSize();
    if (m.isContinuous()) {
      if (!m.empty()) std::memcpy(out, m.data, row_bytes * static_cast<std::size_t>(m.rows));
      return;
    }
    for (int r = 0; r < m.rows; ++r) std::memcpy(out + row_bytes * r, m.ptr(r), row_bytes);
  }
  static cv::Mat decode(const char* data, std::size_t size) {
    if (size < kHeader) throw std::length_error("cv::Mat value shorter than its header");
    std::int32_t header[4];
    std::memcpy(header, data, kHeader);
    if (header[0] < 0 || header[1] < 0)
      throw std::length_error("cv::Mat value with a negative size");
    cv::Mat m(header[0], header[1], header[2]);
    const std::size_t bytes = m.total() * m.elemSize();
    if (bytes != size - kHeader)
      throw std::length_error("cv::Mat value size does not match its header");
    if (bytes != 0) {
      prepare_copy_destination(m.data, bytes);  // the Mat's pixels are fresh, not yet written
      std::memcpy(m.data, data + kHeader, bytes);
    }
    return m;
  }
};

}  // namespace shoal::detail

namespace shoal {

/// A view of a stored cv::Mat: mat() is a Mat header over the pixels in shared memory (no copy).
/// The header does not own the pixels: keep the view alive while you use it, and do not write
/// through it (stored objects are immutable). mat().clone() gives an independent copy.
template <>
class View<cv::Mat> : public detail::ViewBase {
 public:
  View() = default;
  View(detail::Fetched fetched, detail::HandlePtr handle)
      : ViewBase(std::move(fetched), std::move(handle)) {
    detail::check_view_type<cv::Mat>(bytes_);
    constexpr std::size_t kHeader = detail::Codec<cv::Mat>::kHeader;
    if (bytes_.size >= kHeader) std::memcpy(header_, bytes_.data, kHeader);
    const bool fits = bytes_.size >= kHeader && header_[0] >= 0 && header_[1] >= 0 &&
                      static_cast<std::size_t>(header_[0]) * static_cast<std::size_t>(header_[1]) *
                              CV_ELEM_SIZE(header_[2]) ==
                          bytes_.size - kHeader;
    if (!fits) {
      detail::throw_type_mismatch(typeid(cv::Mat).name(), bytes_,
                                  "the stored bytes do not match a cv::Mat header");
    }
  }
  cv::Mat mat() const {
    void* pixels = const_cast<char*>(bytes_.data + detail::Codec<cv::Mat>::kHeader);
    return cv::Mat(header_[0], header_[1], header_[2], pixels);
  }

 private:
  std::int32_t header_[4] = {0, 0, 0, 0};  // rows, cols, type, reserved
};

}  // namespace shoal
