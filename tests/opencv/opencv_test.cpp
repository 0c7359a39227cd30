// cv::Mat as a task argument and result, through <shoal/opencv.hpp>: raw bytes, both ways,
// inline (small) and through the shared-memory store (large).
#include <gtest/gtest.h>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <shoal/opencv.hpp>
#include <shoal/shoal.hpp>

#include "tests/support/session.hpp"

namespace {

cv::Mat rotate90(const cv::Mat& m) {
  cv::Mat out;
  cv::rotate(m, out, cv::ROTATE_90_CLOCKWISE);
  return out;
}
cv::Mat make_image(int rows, int cols) {
  cv::Mat m(rows, cols, CV_8UC3);
  cv::randu(m, cv::Scalar::all(0), cv::Scalar::all(255));
  return m;
}
SHOAL_REMOTE(rotate90, make_image);

using OpenCvTest = shoal::testing::SessionTest;

bool same(const cv::Mat& a, const cv::Mat& b) {
  return a.size() == b.size() && a.type() == b.type() && cv::norm(a, b, cv::NORM_INF) == 0;
}

TEST_F(OpenCvTest, SmallMatRoundTripsThroughATask) {
  cv::Mat m(4, 5, CV_32FC1);
  cv::randu(m, 0.0f, 1.0f);
  const cv::Mat r = shoal::get(shoal::task(rotate90).remote(m));
  cv::Mat expected;
  cv::rotate(m, expected, cv::ROTATE_90_CLOCKWISE);
  EXPECT_TRUE(same(r, expected));
}

TEST_F(OpenCvTest, LargeMatGoesThroughTheStore) {
  auto image = shoal::task(make_image).remote(522, 775);  // 1.2 MB: an arena object
  auto rotated = shoal::task(rotate90).remote(image);     // read by the worker from the store
  const cv::Mat original = shoal::get(image);
  cv::Mat expected;
  cv::rotate(original, expected, cv::ROTATE_90_CLOCKWISE);
  EXPECT_TRUE(same(shoal::get(rotated), expected));
  EXPECT_GT(shoal::object_store_stats().used_bytes, 2u * 522 * 775 * 3);
}

TEST_F(OpenCvTest, ViewGivesAMatHeaderOverTheStore) {
  auto image = shoal::task(make_image).remote(522, 775);
  const shoal::View<cv::Mat> view = shoal::get_view(image);
  const cv::Mat header = view.mat();
  EXPECT_EQ(header.rows, 522);
  EXPECT_EQ(header.cols, 775);
  EXPECT_EQ(header.type(), CV_8UC3);
  EXPECT_TRUE(same(header, shoal::get(image)));
  EXPECT_EQ(header.data, shoal::get_view(image).mat().data) << "a view must not copy the pixels";
}

// Issue 9: above the huge-page threshold the decoder advises the fresh Mat before copying into it;
// the pixels must come back exactly, for a Mat with an odd row size.
TEST_F(OpenCvTest, Issue9LargeMatDecodesExactly) {
  const cv::Mat big = make_image(1501, 2003);  // 9 MB of CV_8UC3
  const cv::Mat got = shoal::get(shoal::put(big));
  EXPECT_TRUE(same(got, big));
  EXPECT_NE(got.data, big.data);
}

TEST_F(OpenCvTest, NonContinuousMatIsCopiedRowByRow) {
  const cv::Mat big = make_image(100, 100);
  const cv::Mat roi = big(cv::Rect(10, 20, 30, 40));
  ASSERT_FALSE(roi.isContinuous());
  EXPECT_TRUE(same(shoal::get(shoal::put(roi)), roi));
}

}  // namespace
