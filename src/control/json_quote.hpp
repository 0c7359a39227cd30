// A JSON string literal from any bytes, for the few JSON documents the library writes itself (the
// control socket's error replies; the driver's status documents may use it too). The library has
// no JSON dependency; the `shoal` command, which parses, uses nlohmann-json.
#pragma once

#include <string>
#include <string_view>

namespace shoal::internal::control {

/// Appends `text` to *out as a quoted JSON string: '"' and '\\' escaped, control characters as
/// \n, \t, ... or \u00XX, and '<', '>' and '&' as \u003c, \u003e, \u0026, so that the text can
/// be put inside an HTML <script> element as is. Bytes >= 0x80 are copied unchanged (the caller
/// supplies UTF-8; an invalid sequence stays invalid). Pure function; thread safe.
inline void append_json_quoted(std::string* out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      case '\b':
        *out += "\\b";
        break;
      case '\f':
        *out += "\\f";
        break;
      default:
        if (c < 0x20 || c == '<' || c == '>' || c == '&') {
          *out += "\\u00";
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

/// `text` as a quoted JSON string (see append_json_quoted()).
inline std::string json_quoted(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  append_json_quoted(&out, text);
  return out;
}

}  // namespace shoal::internal::control
