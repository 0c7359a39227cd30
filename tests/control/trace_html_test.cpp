// The timeline page from a trace: a complete self-contained document, one lane per named process
// in their order, a bar per event, the trace embedded intact, hostile names kept as text.
#include "src/control/trace_html.hpp"

#include <algorithm>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace shoal::internal::control {
namespace {

// The trace shape the runtime produces (docs/observability.md), with a hostile name.
const char* const kTrace = R"json({"traceEvents":[
 {"ph":"M","name":"process_name","pid":1240,"args":{"name":"worker 1 (pid 1240)"}},
 {"ph":"M","name":"process_sort_index","pid":1240,"args":{"sort_index":1}},
 {"ph":"M","name":"process_name","pid":1234,"args":{"name":"driver (pid 1234)"}},
 {"ph":"M","name":"process_sort_index","pid":1234,"args":{"sort_index":0}},
 {"ph":"M","name":"process_name","pid":1250,"args":{"name":"actor Counter (pid 1250)"}},
 {"ph":"M","name":"process_sort_index","pid":1250,"args":{"sort_index":2}},
 {"ph":"M","name":"thread_name","pid":1240,"tid":0,"args":{"name":"tasks"}},
 {"ph":"X","cat":"task","name":"rotate_image","pid":1240,"tid":0,"ts":1234.5,"dur":52000.0,"args":{"task_id":"0x1f","attempt":1,"result_bytes":123}},
 {"ph":"X","cat":"phase","name":"storing the result","pid":1240,"tid":0,"ts":50000.0,"dur":10.0},
 {"ph":"X","cat":"task","name":"evil</script><script>alert(1)</script>","pid":1240,"tid":0,"ts":60000,"dur":1000,"args":{"task_id":"0x20","attempt":2,"error":"x<y & \"z\""}},
 {"ph":"X","cat":"task","name":"nested child","pid":1240,"tid":0,"ts":60100,"dur":500,"args":{"task_id":"0x21","attempt":1}},
 {"ph":"b","cat":"phase","name":"queued","id":"0x1f","pid":1240,"ts":1000.0},
 {"ph":"e","cat":"phase","name":"queued","id":"0x1f","pid":1240,"ts":1234.5},
 {"ph":"X","cat":"driver","name":"get","pid":1234,"tid":1,"ts":900.0,"dur":60000.0,"args":{"objects":64}},
 {"ph":"X","cat":"driver","name":"put","pid":1234,"tid":2,"ts":100.0,"dur":50.0},
 {"ph":"X","cat":"task","name":"Counter::add","pid":1250,"tid":0,"ts":5000,"dur":800},
 {"ph":"X","cat":"task","name":"unnamed process","pid":999,"tid":0,"ts":5000,"dur":800}
],"displayTimeUnit":"ms","otherData":{"session_pid":1234,"dropped_task_attempts":3}})json";

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The attribute `name` of every element that has it, in document order.
std::vector<std::string> attributes(const std::string& html, const std::string& name) {
  std::vector<std::string> values;
  const std::regex pattern(" " + name + "=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), pattern);
       it != std::sregex_iterator(); ++it) {
    values.push_back((*it)[1]);
  }
  return values;
}

// The text of the embedded trace's script element.
std::string embedded_json(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"trace-data\">";
  const auto begin = html.find(open);
  EXPECT_NE(begin, std::string::npos);
  const auto end = html.find("</script>", begin);
  return html.substr(begin + open.size(), end - begin - open.size());
}

TEST(TraceHtml, IsACompleteSelfContainedPage) {
  const std::string html = trace_to_html(kTrace, {.title = "shoal timeline of process 1234"});
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  EXPECT_NE(html.find("<title>shoal timeline of process 1234</title>"), std::string::npos);
  EXPECT_NE(html.find("<style>"), std::string::npos);
  // Nothing is fetched: no external scripts, styles, images or fonts.
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find(" src="), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
}

TEST(TraceHtml, OneLanePerNamedProcessInSortOrder) {
  const std::string html = trace_to_html(kTrace);
  EXPECT_EQ(attributes(html, "data-lane"), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(attributes(html, "data-pid"), (std::vector<std::string>{"1234", "1240", "1250"}));
  EXPECT_EQ(attributes(html, "data-kind"), (std::vector<std::string>{"driver", "worker", "actor"}));
  EXPECT_EQ(count(html, "class=\"label\""), 3u);
  EXPECT_NE(html.find(std::string("background: ") + std::string(kLaneLabelColour)),
            std::string::npos);
  // A process without a process_name is not drawn, and the page says so.
  EXPECT_EQ(count(html, ">unnamed process<"), 0u);
  EXPECT_NE(html.find("1 processes without a process_name event are not shown"), std::string::npos);
  EXPECT_NE(html.find("3 task attempts are not shown"), std::string::npos);
}

TEST(TraceHtml, ABarPerCompleteEventWithItsEventIndex) {
  const std::string html = trace_to_html(kTrace);
  // X events of named processes: 7 (one phase), indices in traceEvents.
  std::vector<std::string> bars = attributes(html, "data-e");
  std::sort(bars.begin(), bars.end(), [](auto& a, auto& b) { return std::stoi(a) < std::stoi(b); });
  EXPECT_EQ(bars, (std::vector<std::string>{"7", "8", "9", "10", "13", "14", "15"}));
  EXPECT_EQ(count(html, "class=\"bar phase\""), 1u);
  EXPECT_EQ(count(html, "class=\"bar failed\""), 1u);
  EXPECT_NE(html.find("6 bars (1 failed attempts"), std::string::npos);
}

TEST(TraceHtml, NestedBarsGetTheirOwnRow) {
  const std::string html = trace_to_html(kTrace);
  const std::regex bar("data-e=\"(\\d+)\" style=\"[^\"]*top:(\\d+)px");
  std::map<int, int> top;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), bar); it != std::sregex_iterator();
       ++it) {
    top[std::stoi((*it)[1])] = std::stoi((*it)[2]);
  }
  EXPECT_EQ(top[7], top[9]) << "two tasks one after the other share a row";
  EXPECT_GT(top[10], top[9]) << "a task inside another sits below it";
  EXPECT_NE(top[13], top[14]) << "two threads of the driver have rows of their own";
}

TEST(TraceHtml, EmbedsTheTraceIntact) {
  const std::string html = trace_to_html(kTrace);
  const nlohmann::json embedded = nlohmann::json::parse(embedded_json(html));
  EXPECT_EQ(embedded, nlohmann::json::parse(kTrace));
}

TEST(TraceHtml, HostileNamesStayText) {
  const std::string html = trace_to_html(kTrace);
  // Exactly the page's own two script elements close; the name's "</script>" is escaped.
  EXPECT_EQ(count(html, "</script>"), 2u);
  EXPECT_EQ(count(html, "<script"), 2u);
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  EXPECT_NE(html.find("evil&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"),
            std::string::npos);
  EXPECT_NE(embedded_json(html).find("evil\\u003c/script\\u003e"), std::string::npos);
  EXPECT_EQ(embedded_json(html).find('<'), std::string::npos);
  EXPECT_EQ(embedded_json(html).find('&'), std::string::npos);
}

TEST(TraceHtml, ArrayFormatIsAccepted) {
  const std::string html = trace_to_html(
      R"json([{"ph":"M","name":"process_name","pid":1,"args":{"name":"driver (pid 1)"}},
          {"ph":"X","cat":"driver","name":"get","pid":1,"tid":0,"ts":0,"dur":5}])json");
  EXPECT_EQ(attributes(html, "data-lane").size(), 1u);
  EXPECT_EQ(attributes(html, "data-e").size(), 1u);
}

TEST(TraceHtml, EmptyTraceIsAPageThatSaysSo) {
  const std::string html = trace_to_html(R"json({"traceEvents":[]})json");
  EXPECT_TRUE(attributes(html, "data-lane").empty());
  EXPECT_NE(html.find("names no processes"), std::string::npos);
  EXPECT_NE(html.find("</html>"), std::string::npos);
}

TEST(TraceHtml, LaneWithoutTasksIsStillALane) {
  const std::string html = trace_to_html(
      R"json({"traceEvents":[{"ph":"M","name":"process_name","pid":7,"args":{"name":"worker 1 (pid 7)"}}]})json");
  EXPECT_EQ(attributes(html, "data-lane").size(), 1u);
}

TEST(TraceHtml, RejectsTextThatIsNotATrace) {
  EXPECT_THROW(trace_to_html("not json"), TraceFormatError);
  EXPECT_THROW(trace_to_html(R"json({"events":[]})json"), TraceFormatError);
  EXPECT_THROW(trace_to_html("42"), TraceFormatError);
  try {
    trace_to_html("{\"traceEvents\": [");
    FAIL();
  } catch (const TraceFormatError& e) {
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
  }
}

TEST(TraceHtml, MalformedEventsAreSkippedNotFatal) {
  const std::string html = trace_to_html(R"json({"traceEvents":[
    {"ph":"M","name":"process_name","pid":1,"args":{"name":"driver (pid 1)"}},
    42, "text", null, {"ph":"X"}, {"ph":"X","pid":"1","name":"a"},
    {"ph":"X","pid":1,"name":"b","ts":"soon","dur":-5},
    {"ph":"X","pid":1,"name":"c","ts":10,"dur":5}]})json");
  EXPECT_EQ(attributes(html, "data-lane").size(), 1u);
  EXPECT_EQ(attributes(html, "data-e").size(), 2u);  // b (at 0, no length) and c
}

}  // namespace
}  // namespace shoal::internal::control
