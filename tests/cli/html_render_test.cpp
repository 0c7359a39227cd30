// The timeline page as a browser draws it: headless Chromium renders `shoal timeline --html` pages
// to a PNG, and the test counts the lanes it drew by scanning the page's left columns for runs of
// the lane label colour (trace_html.hpp: every lane's label cell starts at the left edge, filled
// with kLaneLabelColour, with page background between lanes). --dump-dom checks the data-lane
// elements of the page after its script ran, and that the script raised no error.
//
// Chromium runs with a private profile, HOME and TMPDIR in a temporary directory that is removed
// afterwards, in a process group of its own that is killed when it exits or at a hard timeout.
// Skipped, with the reason, where /usr/bin/chromium is absent.
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <unistd.h>

#include "src/control/trace_html.hpp"
#include "tests/cli/cli_support.hpp"

namespace shoal::testing {
namespace {

using namespace std::chrono_literals;
namespace control = internal::control;

constexpr char kChromium[] = "/usr/bin/chromium";
constexpr int kWidth = 1400;
constexpr int kHeight = 900;

// Runs chromium once on `page` with `mode` ("--screenshot=<png>" or "--dump-dom"). A loaded
// machine can make a start fail or crawl, so it tries twice.
RunResult chromium(const TempDir& dir, const std::string& page, const std::string& mode) {
  RunOptions options;
  options.own_process_group = true;
  options.env = {"HOME=" + dir.path(), "TMPDIR=" + dir.path(),
                 "XDG_CONFIG_HOME=" + dir.path() + "/config",
                 "XDG_CACHE_HOME=" + dir.path() + "/cache"};
  const std::vector<std::string> argv{
      kChromium,
      "--headless",
      "--no-sandbox",  // needed as root; harmless otherwise
      "--disable-gpu",
      "--disable-dev-shm-usage",  // nothing in /dev/shm
      "--no-first-run",
      "--hide-scrollbars",
      "--enable-logging=stderr",  // the page's console messages too
      "--v=0",
      "--user-data-dir=" + dir.path() + "/profile",
      "--window-size=" + std::to_string(kWidth) + "," + std::to_string(kHeight),
      mode,
      "file://" + page};
  RunResult r;
  for (int attempt = 0; attempt < 2; ++attempt) {
    r = run(argv, 50s, options);
    if (r.exit_code == 0 && !r.timed_out) break;
  }
  return r;
}

// The vertical runs of the lane label colour in column x of `image` (BGR): [first row, end).
std::vector<std::pair<int, int>> label_runs(const cv::Mat& image, int x) {
  std::vector<std::pair<int, int>> runs;
  int start = -1;
  for (int y = 0; y <= image.rows; ++y) {
    bool on = false;
    if (y < image.rows) {
      const cv::Vec3b p = image.at<cv::Vec3b>(y, x);
      on = std::abs(p[2] - control::kLaneLabelRed) <= 6 &&
           std::abs(p[1] - control::kLaneLabelGreen) <= 6 &&
           std::abs(p[0] - control::kLaneLabelBlue) <= 6;
    }
    if (on && start < 0) start = y;
    if (!on && start >= 0) {
      runs.emplace_back(start, y);
      start = -1;
    }
  }
  return runs;
}

// Renders `page` and returns the number of lanes drawn, checked in three columns of the label
// cells; -1 (with a failure) if chromium gave no screenshot.
int lanes_in_screenshot(const std::string& page) {
  TempDir dir("html_render_test_");
  const std::string png = dir.path() + "/shot.png";
  const RunResult r = chromium(dir, page, "--screenshot=" + png);
  const cv::Mat image = cv::imread(png, cv::IMREAD_COLOR);
  if (image.empty()) {
    ADD_FAILURE() << "chromium made no screenshot (exit " << r.exit_code
                  << (r.timed_out ? ", timed out" : "") << "):\n"
                  << r.err;
    return -1;
  }
  EXPECT_EQ(image.cols, kWidth);
  const auto runs = label_runs(image, 4);
  // Left of the label text (12 px of padding), and right of it (6 px).
  for (int x : {1, 8, control::kLaneLabelWidthPx - 3}) {
    EXPECT_EQ(label_runs(image, x).size(), runs.size()) << "column " << x;
  }
  for (const auto& [top, end] : runs) {
    EXPECT_GE(end - top, 20) << "a lane is at least one row high";
  }
  return static_cast<int>(runs.size());
}

int data_lanes_in_dom(const std::string& page) {
  TempDir dir("html_render_test_");
  const RunResult r = chromium(dir, page, "--dump-dom");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // The page's script ran without an error (chromium logs the console to stderr).
  EXPECT_EQ(r.err.find("Uncaught"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("</html>"), std::string::npos) << "no DOM dumped:\n" << r.err;
  int lanes = 0;
  for (auto at = r.out.find(" data-lane=\""); at != std::string::npos;
       at = r.out.find(" data-lane=\"", at + 1)) {
    ++lanes;
  }
  return lanes;
}

class HtmlRender : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kChromium, X_OK) != 0) {
      GTEST_SKIP() << kChromium << " is not installed (Debian package chromium)";
    }
  }
};

TEST_F(HtmlRender, DrawsOneLanePerProcessOfTheTrace) {
  TempDir dir("html_render_test_");
  const std::string trace = dir.path() + "/trace.json";
  std::ofstream(trace) << kSampleTrace;
  const std::string page = dir.path() + "/page.html";
  const RunResult made = run_shoal({"timeline", "--html", trace, "-o", page});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  EXPECT_EQ(lanes_in_screenshot(page), kSampleTraceLanes);
  EXPECT_EQ(data_lanes_in_dom(page), kSampleTraceLanes);
}

TEST_F(HtmlRender, ManyLanesAndABusyTrace) {
  // A driver and 7 workers, 200 tasks each: still one lane each, and nothing else in their colour.
  nlohmann::json events = nlohmann::json::array();
  for (int p = 0; p < 8; ++p) {
    const std::string name =
        p == 0 ? "driver (pid 100)"
               : "worker " + std::to_string(p) + " (pid " + std::to_string(100 + p) + ")";
    events.push_back(
        {{"ph", "M"}, {"name", "process_name"}, {"pid", 100 + p}, {"args", {{"name", name}}}});
    events.push_back({{"ph", "M"},
                      {"name", "process_sort_index"},
                      {"pid", 100 + p},
                      {"args", {{"sort_index", p}}}});
    for (int t = 0; t < 200; ++t) {
      // Appended, not "f" + to_string(): GCC 12 warns falsely (-Wrestrict) on that.
      std::string function = "f";
      function += std::to_string(t % 13);
      events.push_back({{"ph", "X"},
                        {"cat", p == 0 ? "driver" : "task"},
                        {"name", function},
                        {"pid", 100 + p},
                        {"tid", 0},
                        {"ts", t * 1000.0},
                        {"dur", 900.0},
                        {"args", {{"attempt", 1}}}});
    }
  }
  TempDir dir("html_render_test_");
  const std::string page = dir.path() + "/page.html";
  std::ofstream(page) << control::trace_to_html(nlohmann::json{{"traceEvents", events}}.dump());
  EXPECT_EQ(lanes_in_screenshot(page), 8);
}

TEST_F(HtmlRender, PageOfALiveSessionDrawsEveryProcess) {
  // Needs the driver's control socket (branch issue13).
  auto target = Target::start();
  ASSERT_TRUE(target);
  const std::string pid = std::to_string(target->pid());
  TempDir dir("html_render_test_");
  const RunResult trace = run_shoal({"timeline", pid, "-o", dir.path() + "/trace.json"});
  ASSERT_EQ(trace.exit_code, 0) << trace.err;
  int processes = 0;
  // Kept in a variable: a range-for over a member of a temporary would read a destroyed object.
  const nlohmann::json parsed = nlohmann::json::parse(read_file(dir.path() + "/trace.json"));
  for (const auto& e : parsed["traceEvents"]) {
    processes += e["ph"] == "M" && e["name"] == "process_name";
  }
  // The page from the same trace file, so both count the same processes.
  const std::string page = dir.path() + "/page.html";
  const RunResult made = run_shoal({"timeline", "--html", dir.path() + "/trace.json", "-o", page});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  EXPECT_GE(processes, 4) << "the driver, 2 workers and an actor";
  EXPECT_EQ(lanes_in_screenshot(page), processes);
  // And straight from the session.
  const RunResult live = run_shoal({"timeline", "--html", pid, "-o", dir.path() + "/live.html"});
  ASSERT_EQ(live.exit_code, 0) << live.err;
  EXPECT_EQ(data_lanes_in_dom(dir.path() + "/live.html"), processes);
}

}  // namespace
}  // namespace shoal::testing
