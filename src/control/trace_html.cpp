// Chrome trace JSON -> one HTML page. The layout (lanes, rows, bar positions, the axis) is computed
// here and written as plain positioned elements, so the page shows the timeline even with
// JavaScript off and a test can read it from the HTML; the page's small script only adds the
// hover details (read from the embedded trace) and zoom.
//
// Positions are percentages of the time span, so the bars follow the window's width and zooming
// is a change of one element's width. Rows: in each lane, each thread id gets as many rows as its
// bars nest deep (a sweep over the bars sorted by start, keeping a stack of the open bars' ends).
//
// Safety: every text from the trace goes into the HTML escaped, and into the embedded JSON with
// '<', '>' and '&' as \u escapes, so a name such as "</script><script>..." stays text; the script
// shows hover details with textContent only.
#include "src/control/trace_html.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

namespace shoal::internal::control {
namespace {

using nlohmann::json;

constexpr int kRowHeightPx = 20;   // one nesting level of one thread
constexpr int kBarHeightPx = 16;   // a bar inside its row
constexpr int kPhaseHeightPx = 4;  // a phase bar, at the bottom of its row
constexpr int kLanePaddingPx = 4;  // above and below a lane's rows
constexpr std::size_t kLegendEntries = 16;

struct Bar {
  double ts = 0;
  double dur = 0;
  std::size_t event = 0;  // index in traceEvents
  const std::string* name = nullptr;
  bool phase = false;
  bool failed = false;
  int level = 0;
};

struct Lane {
  std::int64_t pid = 0;
  std::string name;
  bool named = false;
  std::int64_t sort_index = std::numeric_limits<std::int64_t>::max();
  std::map<std::int64_t, std::string> thread_names;
  std::map<std::int64_t, std::vector<Bar>> bars_by_tid;
};

std::optional<double> number(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::optional<std::int64_t> integer(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return std::nullopt;
  return static_cast<std::int64_t>(it->get<double>());
}

const std::string* string_member(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

void append_escaped(std::string* out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '&':
        *out += "&amp;";
        break;
      case '<':
        *out += "&lt;";
        break;
      case '>':
        *out += "&gt;";
        break;
      case '"':
        *out += "&quot;";
        break;
      case '\'':
        *out += "&#39;";
        break;
      default:
        out->push_back(c);
    }
  }
}

std::string escaped(std::string_view text) {
  std::string out;
  append_escaped(&out, text);
  return out;
}

std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
  return buffer;
}

// A duration in microseconds as people read it: "850 µs", "12.5 ms", "3.20 s".
std::string duration_text(double us) {
  const double a = std::fabs(us);
  if (a >= 1e6) return fixed(us / 1e6, a >= 1e8 ? 0 : 2) + " s";
  if (a >= 1e3) return fixed(us / 1e3, a >= 1e5 ? 0 : 1) + " ms";
  return fixed(us, a >= 100 || us == std::floor(us) ? 0 : 1) + " \u00b5s";
}

// The colour of the name ranked `rank` by total time: hues a golden angle apart, so the names
// that take most time differ most, at a lightness no bar can share with the dark lane labels.
std::string colour_of_rank(std::size_t rank) {
  const double hue = std::fmod(25.0 + 137.508 * static_cast<double>(rank), 360.0);
  const int lightness = rank % 2 == 0 ? 62 : 72;
  return "hsl(" + fixed(hue, 0) + ",62%," + std::to_string(lightness) + "%)";
}

const char* kind_of(const std::string& lane_name) {
  if (lane_name.rfind("driver", 0) == 0) return "driver";
  if (lane_name.rfind("actor", 0) == 0) return "actor";
  return "worker";
}

// A tick's label: in the unit of the step, with as many decimals as the step needs ("20 ms",
// "2.5 ms", "1.25 s").
std::string tick_text(double us, double step) {
  double unit = 1;
  const char* name = " \u00b5s";
  if (step >= 1e6) {
    unit = 1e6;
    name = " s";
  } else if (step >= 1e3) {
    unit = 1e3;
    name = " ms";
  }
  int decimals = 0;
  for (double s = step / unit; decimals < 3 && std::fabs(s - std::round(s)) > 1e-9; s *= 10) {
    ++decimals;
  }
  return fixed(us / unit, decimals) + name;
}

// The tick step for a span: 1, 2 or 5 times a power of ten, for about eight ticks.
double tick_step(double span_us) {
  const double raw = span_us / 8;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * power) return m * power;
  }
  return 10 * power;
}

// Assigns each bar of one thread its nesting level; returns the number of levels (at least 1).
int assign_levels(std::vector<Bar>* bars) {
  std::sort(bars->begin(), bars->end(), [](const Bar& a, const Bar& b) {
    if (a.ts != b.ts) return a.ts < b.ts;
    if (a.phase != b.phase) return !a.phase;  // a task before the phases that start with it
    return a.dur > b.dur;                     // the outer of two bars starting together first
  });
  std::vector<double> open_ends;
  int levels = 1;
  for (Bar& bar : *bars) {
    while (!open_ends.empty() && open_ends.back() <= bar.ts) open_ends.pop_back();
    if (bar.phase) {
      bar.level = open_ends.empty() ? 0 : static_cast<int>(open_ends.size()) - 1;
      continue;
    }
    bar.level = static_cast<int>(open_ends.size());
    open_ends.push_back(bar.ts + bar.dur);
    levels = std::max(levels, bar.level + 1);
  }
  return levels;
}

// The events array of a trace in object or array format.
const json& events_of(const json& trace) {
  if (trace.is_array()) return trace;
  if (trace.is_object()) {
    auto it = trace.find("traceEvents");
    if (it != trace.end() && it->is_array()) return *it;
  }
  throw TraceFormatError(
      "not a Chrome trace: expected an object with a \"traceEvents\" array, or an array of events");
}

constexpr std::string_view kStyle = R"CSS(
:root { --label-width: 220px; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.35 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
       background: #fff; }
header { padding: 10px 14px 6px 14px; }
h1 { font-size: 17px; margin: 0 0 4px 0; font-weight: 600; }
.summary { color: #555; }
.warning { color: #a33; }
.controls { margin: 6px 0 2px 0; }
.controls button { font: inherit; padding: 1px 8px; margin-right: 4px; }
.legend { margin-top: 6px; display: flex; flex-wrap: wrap; gap: 4px 14px; color: #333; }
.legend span.sw { display: inline-block; width: 12px; height: 12px; margin-right: 4px;
                  vertical-align: -2px; border-radius: 2px; }
#scroller { overflow-x: auto; overflow-y: visible; }
#content { width: 100%; min-width: 600px; padding-bottom: 12px; }
.row { display: flex; }
.axis-label { flex: 0 0 var(--label-width); position: sticky; left: 0; z-index: 3;
              background: #fff; }
.axis { flex: 1 1 auto; position: relative; height: 24px; border-bottom: 1px solid #999; }
.tick { position: absolute; bottom: 0; height: 6px; border-left: 1px solid #777; }
.tick span { position: absolute; bottom: 7px; left: -40px; width: 80px; text-align: center;
             font-size: 11px; color: #444; }
.tick.first span { left: 3px; text-align: left; }
.tick.last span { left: -83px; text-align: right; }
.lane { display: flex; margin-top: 6px; }
.label { flex: 0 0 var(--label-width); position: sticky; left: 0; z-index: 3; overflow: hidden;
         background: #1b3a6b; color: #fff; padding: 3px 6px 0 12px; white-space: nowrap; }
.label .tid { position: absolute; right: 6px; font-size: 10px; color: #c8d3e6; }
.track { flex: 1 1 auto; position: relative; background: #f1f3f6; overflow: hidden; }
.sep { position: absolute; left: 0; right: 0; border-top: 1px dashed #d5dae2; }
.bar { position: absolute; height: 16px; min-width: 1px; border-radius: 2px; overflow: hidden;
       white-space: nowrap; font-size: 11px; line-height: 16px; padding-left: 3px;
       color: #111; cursor: default; box-shadow: inset 0 0 0 1px rgba(0,0,0,.18); }
.bar.phase { height: 4px; padding: 0; opacity: .85; box-shadow: none; background: #333 !important; }
.bar.failed { background-image: repeating-linear-gradient(45deg, rgba(200,0,0,.55) 0 4px,
              transparent 4px 8px) !important; box-shadow: inset 0 0 0 2px #c00; }
#tip { position: fixed; display: none; z-index: 10; max-width: 520px; padding: 6px 8px;
       background: #fffef4; border: 1px solid #888; box-shadow: 0 2px 6px rgba(0,0,0,.25);
       font-size: 12px; white-space: pre-wrap; pointer-events: none; }
#tip b { font-size: 13px; }
.empty { padding: 20px 14px; color: #555; }
)CSS";

constexpr std::string_view kScript = R"JS(
(function () {
  var data = JSON.parse(document.getElementById('trace-data').textContent);
  var events = Array.isArray(data) ? data : (data.traceEvents || []);
  var tip = document.getElementById('tip');
  var content = document.getElementById('content');
  function dur(us) {
    var a = Math.abs(us);
    if (a >= 1e6) return (us / 1e6).toFixed(3) + ' s';
    if (a >= 1e3) return (us / 1e3).toFixed(3) + ' ms';
    return us.toFixed(1) + ' \u00b5s';
  }
  function line(parent, text, bold) {
    var el = document.createElement(bold ? 'b' : 'div');
    el.textContent = text;
    parent.appendChild(el);
    if (bold) parent.appendChild(document.createElement('br'));
  }
  document.addEventListener('mousemove', function (e) {
    var bar = e.target && e.target.closest ? e.target.closest('[data-e]') : null;
    if (!bar) { tip.style.display = 'none'; return; }
    var ev = events[+bar.getAttribute('data-e')];
    if (!ev) return;
    tip.textContent = '';
    line(tip, String(ev.name), true);
    var lane = bar.closest('[data-lane]');
    line(tip, (ev.cat ? ev.cat + ' on ' : '') + (lane ? lane.getAttribute('data-name') : '') +
              (ev.tid !== undefined ? ', thread ' + ev.tid : ''));
    line(tip, 'duration ' + dur(+ev.dur || 0) + ', start ' + dur(+ev.ts || 0));
    var args = ev.args || {};
    Object.keys(args).forEach(function (k) {
      var v = args[k];
      line(tip, k + ': ' + (typeof v === 'string' ? v : JSON.stringify(v)));
    });
    tip.style.display = 'block';
    var x = e.clientX + 14, y = e.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth) x = Math.max(0, e.clientX - tip.offsetWidth - 8);
    if (y + tip.offsetHeight > window.innerHeight) y = Math.max(0, e.clientY - tip.offsetHeight - 8);
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  });
  var zoom = 1;
  function setZoom(z) {
    var scroller = document.getElementById('scroller');
    var centre = (scroller.scrollLeft + scroller.clientWidth / 2) / content.offsetWidth;
    zoom = Math.min(1000, Math.max(1, z));
    content.style.width = (zoom * 100) + '%';
    scroller.scrollLeft = centre * content.offsetWidth - scroller.clientWidth / 2;
    document.getElementById('zoom-level').textContent = zoom === 1 ? '' : '\u00d7' + zoom;
  }
  document.getElementById('zoom-in').onclick = function () { setZoom(zoom * 2); };
  document.getElementById('zoom-out').onclick = function () { setZoom(zoom / 2); };
  document.getElementById('zoom-fit').onclick = function () { setZoom(1); };
  document.addEventListener('keydown', function (e) {
    if (e.key === '+' || e.key === '=') setZoom(zoom * 2);
    if (e.key === '-') setZoom(zoom / 2);
    if (e.key === '0') setZoom(1);
  });
})();
)JS";

// The trace as embeddable JSON text: '<', '>' and '&' (which valid JSON has only inside strings)
// as \u escapes, so "</script>" or "<!--" cannot end or alter the script element.
std::string embeddable_json(const json& trace) {
  const std::string text = trace.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size() + text.size() / 16);
  for (char c : text) {
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

class PageWriter {
 public:
  PageWriter(const json& trace, const HtmlOptions& options) : trace_(trace), options_(options) {}

  std::string write() {
    collect(events_of(trace_));
    std::vector<Lane*> lanes;
    for (auto& [pid, lane] : lanes_) {
      if (lane.named) lanes.push_back(&lane);
    }
    std::stable_sort(lanes.begin(), lanes.end(), [](const Lane* a, const Lane* b) {
      return a->sort_index != b->sort_index ? a->sort_index < b->sort_index : a->pid < b->pid;
    });
    head();
    summary(lanes);
    out_ += "<div id=\"scroller\"><div id=\"content\">\n";
    if (lanes.empty()) {
      out_ +=
          "<div class=\"empty\">This trace names no processes (no process_name events).</div>\n";
    } else {
      axis();
      for (std::size_t i = 0; i < lanes.size(); ++i) lane(*lanes[i], i);
    }
    out_ += "</div></div>\n<div id=\"tip\"></div>\n";
    out_ += "<script type=\"application/json\" id=\"trace-data\">";
    out_ += embeddable_json(trace_);
    out_ += "</script>\n<script>";
    out_ += kScript;
    out_ += "</script>\n</body>\n</html>\n";
    return std::move(out_);
  }

 private:
  void collect(const json& events) {
    for (std::size_t i = 0; i < events.size(); ++i) {
      const json& e = events[i];
      if (!e.is_object()) continue;
      const std::string* ph = string_member(e, "ph");
      const auto pid = integer(e, "pid");
      if (ph == nullptr || !pid) continue;
      Lane& lane = lanes_[*pid];
      lane.pid = *pid;
      const std::string* name = string_member(e, "name");
      if (*ph == "M" && name != nullptr) {
        metadata(&lane, *name, e);
      } else if (*ph == "X" && name != nullptr) {
        bar(&lane, e, i, name);
      }
    }
    for (const auto& [pid, lane] : lanes_) {
      if (!lane.named) {
        if (!lane.bars_by_tid.empty()) ++unnamed_processes_;
        continue;
      }
      for (const auto& [tid, bars] : lane.bars_by_tid) {
        for (const Bar& b : bars) count(b);
      }
    }
  }

  // Adds a drawn bar to the time span, the counts and the legend.
  void count(const Bar& b) {
    begin_ = std::min(begin_, b.ts);
    end_ = std::max(end_, b.ts + b.dur);
    if (b.phase) return;
    ++bars_;
    if (b.failed) ++failed_;
    total_by_name_[*b.name] += b.dur;
  }

  void metadata(Lane* lane, const std::string& kind, const json& e) {
    auto args = e.find("args");
    if (args == e.end() || !args->is_object()) return;
    if (kind == "process_name") {
      if (const std::string* n = string_member(*args, "name")) {
        lane->name = *n;
        lane->named = true;
      }
    } else if (kind == "process_sort_index") {
      if (auto index = integer(*args, "sort_index")) lane->sort_index = *index;
    } else if (kind == "thread_name") {
      const std::string* n = string_member(*args, "name");
      if (n != nullptr) lane->thread_names[integer(e, "tid").value_or(0)] = *n;
    }
  }

  void bar(Lane* lane, const json& e, std::size_t index, const std::string* name) {
    Bar b;
    b.ts = number(e, "ts").value_or(0);
    b.dur = std::max(0.0, number(e, "dur").value_or(0));
    b.event = index;
    b.name = name;
    const std::string* cat = string_member(e, "cat");
    b.phase = cat != nullptr && *cat == "phase";
    auto args = e.find("args");
    b.failed = args != e.end() && args->is_object() && args->contains("error");
    lane->bars_by_tid[integer(e, "tid").value_or(0)].push_back(b);
  }

  void head() {
    out_ += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
    out_ += "<meta name=\"generator\" content=\"shoal timeline --html\">\n<title>";
    append_escaped(&out_, options_.title);
    out_ += "</title>\n<style>";
    out_ += kStyle;
    out_ += "</style>\n</head>\n<body>\n<header>\n<h1>";
    append_escaped(&out_, options_.title);
    out_ += "</h1>\n";
  }

  void summary(const std::vector<Lane*>& lanes) {
    const bool any = bars_ > 0;
    out_ += "<div class=\"summary\">" + std::to_string(lanes.size()) + " lanes, " +
            std::to_string(bars_) + " bars";
    if (failed_ > 0) out_ += " (" + std::to_string(failed_) + " failed attempts, striped red)";
    if (any) {
      out_ += ", from " + duration_text(begin_) + " to " + duration_text(end_) +
              " after the session started";
    }
    out_ += ". Hover a bar for its details.</div>\n";
    if (auto other = trace_.is_object() ? trace_.find("otherData") : trace_.end();
        trace_.is_object() && other != trace_.end() && other->is_object()) {
      if (auto dropped = integer(*other, "dropped_task_attempts"); dropped && *dropped > 0) {
        out_ += "<div class=\"warning\">" + std::to_string(*dropped) +
                " task attempts are not shown: the session kept only its most recent ones.</div>\n";
      }
    }
    if (unnamed_processes_ > 0) {
      out_ += "<div class=\"warning\">The events of " + std::to_string(unnamed_processes_) +
              " processes without a process_name event are not shown.</div>\n";
    }
    out_ +=
        "<div class=\"controls\"><button id=\"zoom-in\" title=\"zoom in (+)\">+</button>"
        "<button id=\"zoom-out\" title=\"zoom out (-)\">&minus;</button>"
        "<button id=\"zoom-fit\" title=\"fit (0)\">fit</button> <span id=\"zoom-level\"></span>"
        "</div>\n";
    legend();
    out_ += "</header>\n";
    if (!any) {
      begin_ = 0;
      end_ = 1;
    }
    if (end_ <= begin_) end_ = begin_ + 1;
    // Times count from the session's start: show that start, unless the trace begins long after
    // it (a session that kept only its most recent events).
    if (begin_ > 0 && begin_ <= 0.1 * (end_ - begin_)) begin_ = 0;
  }

  void legend() {
    std::vector<std::pair<double, const std::string*>> names;
    for (const auto& [name, total] : total_by_name_) names.emplace_back(total, &name);
    std::sort(names.begin(), names.end(),
              [](const auto& a, const auto& b) { return a.first > b.first; });
    for (std::size_t i = 0; i < names.size(); ++i) {
      colours_[*names[i].second] = colour_of_rank(i);
    }
    if (names.empty()) return;
    out_ += "<div class=\"legend\">";
    for (std::size_t i = 0; i < names.size() && i < kLegendEntries; ++i) {
      out_ += "<span><span class=\"sw\" style=\"background:" + colours_[*names[i].second] +
              "\"></span>";
      append_escaped(&out_, *names[i].second);
      out_ += " (" + duration_text(names[i].first) + ")</span>";
    }
    if (names.size() > kLegendEntries) {
      out_ += "<span>and " + std::to_string(names.size() - kLegendEntries) + " more</span>";
    }
    out_ += "</div>\n";
  }

  std::string percent(double us) const {
    return fixed((us - begin_) / (end_ - begin_) * 100.0, 5) + "%";
  }

  void axis() {
    out_ += "<div class=\"row\"><div class=\"axis-label\"></div><div class=\"axis\">";
    const double step = tick_step(end_ - begin_);
    const double first = std::ceil(begin_ / step) * step;
    for (int k = 0;; ++k) {
      const double t = first + k * step;
      if (t > end_ + step * 1e-9) break;
      // Labels at the ends are aligned inward, so neither is cut off by the page's edges.
      const double at = (t - begin_) / (end_ - begin_);
      const char* edge = at < 0.03 ? " first" : at > 0.97 ? " last" : "";
      out_ += std::string("<div class=\"tick") + edge + "\" style=\"left:" + percent(t) +
              "\"><span>" + tick_text(t, step) + "</span></div>";
    }
    out_ += "</div></div>\n";
  }

  void lane(Lane& lane, std::size_t index) {
    // Rows: each thread id in order, as many as its bars nest deep.
    std::vector<std::pair<std::int64_t, int>> tids;  // tid, first row
    int rows = 0;
    for (auto& [tid, bars] : lane.bars_by_tid) {
      tids.emplace_back(tid, rows);
      rows += assign_levels(&bars);
    }
    for (const auto& [tid, name] : lane.thread_names) {
      if (!lane.bars_by_tid.contains(tid)) tids.emplace_back(tid, rows++);
    }
    rows = std::max(rows, 1);
    const int height = rows * kRowHeightPx + 2 * kLanePaddingPx;
    const std::string name = escaped(lane.name);
    out_ += "<div class=\"lane\" data-lane=\"" + std::to_string(index) + "\" data-pid=\"" +
            std::to_string(lane.pid) + "\" data-kind=\"" + kind_of(lane.name) + "\" data-name=\"" +
            name + "\"><div class=\"label\" style=\"height:" + std::to_string(height) +
            "px\" title=\"" + name + "\">" + name;
    if (tids.size() > 1) {
      for (const auto& [tid, first_row] : tids) {
        auto named = lane.thread_names.find(tid);
        out_ += "<span class=\"tid\" style=\"top:" +
                std::to_string(kLanePaddingPx + first_row * kRowHeightPx + 3) + "px\">" +
                (named != lane.thread_names.end() ? escaped(named->second)
                                                  : "thread " + std::to_string(tid)) +
                "</span>";
      }
    }
    out_ += "</div><div class=\"track\" style=\"height:" + std::to_string(height) + "px\">";
    for (std::size_t t = 1; t < tids.size(); ++t) {
      out_ += "<div class=\"sep\" style=\"top:" +
              std::to_string(kLanePaddingPx + tids[t].second * kRowHeightPx - 1) + "px\"></div>";
    }
    for (const auto& [tid, first_row] : tids) {
      auto bars = lane.bars_by_tid.find(tid);
      if (bars == lane.bars_by_tid.end()) continue;
      for (const Bar& b : bars->second) bar_element(b, first_row);
    }
    out_ += "</div></div>\n";
  }

  void bar_element(const Bar& b, int first_row) {
    const int row_top = kLanePaddingPx + (first_row + b.level) * kRowHeightPx;
    const int top = b.phase ? row_top + (kRowHeightPx + kBarHeightPx) / 2 - kPhaseHeightPx
                            : row_top + (kRowHeightPx - kBarHeightPx) / 2;
    out_ += "<div class=\"bar";
    if (b.phase) out_ += " phase";
    if (b.failed) out_ += " failed";
    out_ += "\" data-e=\"" + std::to_string(b.event) + "\" style=\"left:" + percent(b.ts) +
            ";width:" + fixed(b.dur / (end_ - begin_) * 100.0, 5) + "%;top:" + std::to_string(top) +
            "px";
    if (!b.phase) out_ += ";background:" + colours_[*b.name];
    out_ += "\">";
    if (!b.phase) append_escaped(&out_, *b.name);
    out_ += "</div>";
  }

  const json& trace_;
  const HtmlOptions& options_;
  std::map<std::int64_t, Lane> lanes_;
  std::map<std::string, double> total_by_name_;
  std::map<std::string, std::string> colours_;  // a name's bar colour (legend())
  std::size_t bars_ = 0;
  std::size_t failed_ = 0;
  std::size_t unnamed_processes_ = 0;
  double begin_ = std::numeric_limits<double>::infinity();
  double end_ = -std::numeric_limits<double>::infinity();
  std::string out_;
};

}  // namespace

std::string trace_to_html(std::string_view trace_json, const HtmlOptions& options) {
  json trace = json::parse(trace_json, nullptr, /*allow_exceptions=*/false);
  if (trace.is_discarded()) {
    throw TraceFormatError("not a Chrome trace: the text is not valid JSON (" +
                           std::to_string(trace_json.size()) + " bytes)");
  }
  return PageWriter(trace, options).write();
}

}  // namespace shoal::internal::control
