#include "tests/cli/cli_support.hpp"

#include <gtest/gtest.h>

namespace shoal::testing {

using namespace std::chrono_literals;

RunResult run_shoal(const std::vector<std::string>& args, const RunOptions& options) {
  std::vector<std::string> argv{SHOAL_CLI};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = run(argv, 60s, options);
  EXPECT_FALSE(r.timed_out) << "shoal hung: shoal " << ::testing::PrintToString(args);
  return r;
}

std::size_t line_count(const std::string& text) {
  std::size_t lines = 0;
  for (char c : text) lines += c == '\n';
  return lines + (!text.empty() && text.back() != '\n');
}

Target::Target(const RunOptions& options) : child_({SHOAL_CLI_TARGET}, options) {}

std::unique_ptr<Target> Target::start(const RunOptions& options) {
  std::unique_ptr<Target> target(new Target(options));
  const std::string line = target->child_.read_line(60s);
  if (line != "ready " + std::to_string(target->pid())) {
    ADD_FAILURE() << "cli_target did not start: it printed '" << line << "'";
    target->child_.kill_now();
    return nullptr;
  }
  return target;
}

bool Target::shutdown_session() {
  child_.write_line("shutdown");
  return child_.read_line(30s) == "shut down";
}

int Target::exit_and_wait() {
  child_.write_line("exit");
  return child_.close_and_wait(30s);
}

const char* const kSampleTrace = R"json({"traceEvents":[
 {"ph":"M","name":"process_name","pid":1234,"args":{"name":"driver (pid 1234)"}},
 {"ph":"M","name":"process_sort_index","pid":1234,"args":{"sort_index":0}},
 {"ph":"M","name":"process_name","pid":1240,"args":{"name":"worker 1 (pid 1240)"}},
 {"ph":"M","name":"process_sort_index","pid":1240,"args":{"sort_index":1}},
 {"ph":"M","name":"process_name","pid":1241,"args":{"name":"worker 2 (pid 1241)"}},
 {"ph":"M","name":"process_sort_index","pid":1241,"args":{"sort_index":2}},
 {"ph":"M","name":"process_name","pid":1250,"args":{"name":"actor Counter (pid 1250)"}},
 {"ph":"M","name":"process_sort_index","pid":1250,"args":{"sort_index":3}},
 {"ph":"M","name":"thread_name","pid":1240,"tid":0,"args":{"name":"tasks"}},
 {"ph":"X","cat":"task","name":"rotate_image","pid":1240,"tid":0,"ts":1234.5,"dur":52000.0,"args":{"task_id":"0x1f","attempt":1,"result_bytes":123}},
 {"ph":"X","cat":"phase","name":"storing the result","pid":1240,"tid":0,"ts":50000.0,"dur":2000.0},
 {"ph":"X","cat":"task","name":"blur","pid":1240,"tid":0,"ts":60000,"dur":30000.0,"args":{"task_id":"0x20","attempt":1,"error":"boom"}},
 {"ph":"X","cat":"task","name":"child","pid":1240,"tid":0,"ts":65000,"dur":10000.0,"args":{"task_id":"0x21","attempt":1}},
 {"ph":"X","cat":"task","name":"rotate_image","pid":1241,"tid":0,"ts":2000,"dur":48000.0,"args":{"task_id":"0x22","attempt":1}},
 {"ph":"X","cat":"task","name":"Counter::add","pid":1250,"tid":0,"ts":5000,"dur":8000.0,"args":{"task_id":"0x23","attempt":1}},
 {"ph":"b","cat":"phase","name":"queued","id":"0x1f","pid":1240,"ts":1000.0},
 {"ph":"e","cat":"phase","name":"queued","id":"0x1f","pid":1240,"ts":1234.5},
 {"ph":"X","cat":"driver","name":"get","pid":1234,"tid":1,"ts":900.0,"dur":60000.0,"args":{"objects":64}},
 {"ph":"X","cat":"driver","name":"put","pid":1234,"tid":2,"ts":100.0,"dur":600.0,"args":{"objects":1}}
],"displayTimeUnit":"ms","otherData":{"session_pid":1234,"dropped_task_attempts":0}})json";

}  // namespace shoal::testing
