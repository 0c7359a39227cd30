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
    if (bytes != 0) std::memcpy(m.data, data + kHeader, bytes);
    return m;
  }
};

}  // namespace shoal::detail
