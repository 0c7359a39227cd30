// docs/protocol.md is the protocol's grammar for people; src/transport/protocol.hpp is the one the
// code uses. This test keeps them the same: the message table in the doc must list exactly the
// code's message types, with the same numbers, names, directions and header ids.
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "src/transport/protocol.hpp"

namespace shoal::internal {
namespace {

std::string peer_name(Peer p) {
  switch (p) {
    case Peer::kDriver:
      return "driver";
    case Peer::kWorker:
      return "worker";
    case Peer::kHelper:
      return "helper";
  }
  return "?";
}

std::string trim(const std::string& s) {
  const auto begin = s.find_first_not_of(' ');
  const auto end = s.find_last_not_of(' ');
  return begin == std::string::npos ? "" : s.substr(begin, end - begin + 1);
}

struct DocRow {
  std::string name, direction, id;
};

// The rows of the table under "## Messages": type -> name, direction, id.
std::map<int, DocRow> doc_rows() {
  std::ifstream in(std::string(SHOAL_SOURCE_DIR) + "/docs/protocol.md");
  EXPECT_TRUE(in) << "cannot read docs/protocol.md";
  std::map<int, DocRow> rows;
  bool in_messages = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("## ", 0) == 0) in_messages = line == "## Messages";
    if (!in_messages || line.rfind("| ", 0) != 0) continue;
    std::vector<std::string> cells;
    std::stringstream cols(line.substr(1));
    for (std::string cell; std::getline(cols, cell, '|');) cells.push_back(trim(cell));
    if (cells.size() < 5 || cells[0].empty() ||
        !std::isdigit(static_cast<unsigned char>(cells[0][0]))) {
      continue;  // the heading row and its rule
    }
    rows[std::stoi(cells[0])] = DocRow{cells[1], cells[2], cells[3]};
  }
  return rows;
}

TEST(ProtocolDoc, TheMessageTableMatchesTheCode) {
  std::map<int, DocRow> rows = doc_rows();
  for (const MessageInfo& m : kMessages) {
    const int type = static_cast<int>(m.type);
    auto it = rows.find(type);
    if (it == rows.end()) {
      ADD_FAILURE() << "docs/protocol.md does not list message type " << type << " (" << m.name
                    << ")";
      continue;
    }
    EXPECT_EQ(it->second.name, m.name) << "type " << type;
    EXPECT_EQ(it->second.direction, peer_name(m.from) + " \u2192 " + peer_name(m.to)) << m.name;
    EXPECT_EQ(it->second.id, m.id) << m.name;
    rows.erase(it);
  }
  for (const auto& [type, row] : rows) {
    ADD_FAILURE() << "docs/protocol.md lists message type " << type << " (" << row.name
                  << "), which the code does not have";
  }
}

TEST(ProtocolDoc, EveryMessageTypeHasANameAndIsKnown) {
  for (const MessageInfo& m : kMessages) {
    EXPECT_TRUE(is_message_type(static_cast<std::uint16_t>(m.type))) << m.name;
    EXPECT_STREQ(message_type_name(m.type), m.name);
  }
  EXPECT_FALSE(is_message_type(0));
  EXPECT_STREQ(message_type_name(static_cast<MessageType>(999)), "unknown");
}

}  // namespace
}  // namespace shoal::internal
