#include "fakeapi/api/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <regex>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace k8slb::fakeapi::api {
namespace {

using OJson = nlohmann::ordered_json;

bool OneOf(const std::string& s, std::initializer_list<const char*> words) {
  for (const char* w : words) {
    if (s == w) return true;
  }
  return false;
}

// YAML 1.1 resolution of a plain scalar (go-yaml v2 resolve.go).
OJson ResolvePlain(const std::string& s) {
  if (OneOf(s, {"", "~", "null", "Null", "NULL"})) return nullptr;
  if (OneOf(s, {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})) return true;
  if (OneOf(s, {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})) return false;
  std::string plain = absl::StrReplaceAll(s, {{"_", ""}});
  // Integers: decimal, 0x hex, 0b binary, leading-0 octal (strconv.ParseInt base 0).
  {
    std::string digits = plain;
    bool negative = false;
    if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
      negative = digits[0] == '-';
      digits = digits.substr(1);
    }
    int base = 10;
    if ((digits.size() >= 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X'))) {
      base = 16;
      digits = digits.substr(2);
    } else if ((digits.size() >= 2 && digits[0] == '0' && (digits[1] == 'b' || digits[1] == 'B'))) {
      base = 2;
      digits = digits.substr(2);
    } else if (digits.size() > 1 && digits[0] == '0') {
      base = 8;
      digits = digits.substr(1);
    }
    bool ok = !digits.empty();
    for (char c : digits) {
      int v = absl::ascii_isdigit(static_cast<unsigned char>(c)) ? c - '0'
              : absl::ascii_isxdigit(static_cast<unsigned char>(c)) ? absl::ascii_tolower(static_cast<unsigned char>(c)) - 'a' + 10
                                                                   : 99;
      if (v >= base) ok = false;
    }
    if (ok) {
      errno = 0;
      long long v = std::strtoll(digits.c_str(), nullptr, base);
      if (errno == 0) return negative ? -v : v;
    }
  }
  static const std::regex kFloat(R"(^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$)");
  if (std::regex_match(plain, kFloat)) {
    double d;
    if (absl::SimpleAtod(plain, &d)) return d;
  }
  if (OneOf(s, {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN"})) {
    // JSON has no infinity or NaN: sigs.k8s.io/yaml refuses them too.
    return s;
  }
  return s;
}

bool ResolvesToNonString(const std::string& s) {
  if (s.empty()) return true;
  OJson v = ResolvePlain(s);
  if (!v.is_string()) return true;
  // go-yaml v2 also resolves timestamps (and base-60 floats such as 1:20).
  static const std::regex kTimestamp(
      R"(^[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(([Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](\.[0-9]*)?([ \t]*(Z|[-+][0-9][0-9]?(:[0-9][0-9])?))?)?$)");
  static const std::regex kBase60(R"(^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$)");
  return std::regex_match(s, kTimestamp) || std::regex_match(s, kBase60);
}

// go-yaml's emitter analysis: may the string be written plain?
bool PlainAllowed(const std::string& s) {
  if (s.empty()) return false;
  if (s.front() == ' ' || s.back() == ' ') return false;
  const std::string indicators = "-?:,[]{}#&*!|>'\"%@`";
  char c0 = s[0];
  if (indicators.find(c0) != std::string::npos) {
    if (c0 == '-' || c0 == '?' || c0 == ':') {
      if (s.size() == 1 || s[1] == ' ') return false;
    } else {
      return false;
    }
  }
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return false;
    if (c == ':' && (i + 1 == s.size() || s[i + 1] == ' ')) return false;
    if (c == '#' && i > 0 && s[i - 1] == ' ') return false;
  }
  return true;
}

// A scalar written at `column` (where the value starts) with continuation lines indented by
// `indent`; long plain and single-quoted strings break at spaces past column 80 (best_width).
void WriteFolded(std::string* out, const std::string& s, size_t column, size_t indent, bool quoted) {
  size_t col = column;
  if (quoted) {
    out->push_back('\'');
    ++col;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == ' ' && col > 80 && i != 0 && i + 1 < s.size() && s[i + 1] != ' ') {
      out->push_back('\n');
      out->append(indent, ' ');
      col = indent;
      continue;
    }
    if (quoted && c == '\'') {
      out->append("''");
      col += 2;
      continue;
    }
    out->push_back(c);
    ++col;
  }
  if (quoted) out->push_back('\'');
}

std::string DoubleQuoted(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\x%02X", c);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out += "\"";
  return out;
}

std::string NumberText(const OJson& v) {
  if (v.is_number_integer()) return v.dump();
  double d = v.get<double>();
  if (std::floor(d) == d && std::fabs(d) < 1e21) return absl::StrCat(static_cast<int64_t>(d));
  return absl::StrFormat("%g", d);
}

void WriteScalarValue(std::string* out, const OJson& v, size_t column, size_t indent) {
  if (v.is_null()) {
    out->append("null");
  } else if (v.is_boolean()) {
    out->append(v.get<bool>() ? "true" : "false");
  } else if (v.is_number()) {
    out->append(NumberText(v));
  } else {
    const std::string& s = v.get_ref<const std::string&>();
    if (s.find('\n') != std::string::npos) {
      // Literal block scalar, as go-yaml writes multi-line strings.
      out->append(s.back() == '\n' ? "|" : "|-");
      size_t start = 0;
      while (start < s.size()) {
        size_t nl = s.find('\n', start);
        std::string line = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
        out->push_back('\n');
        if (!line.empty()) out->append(indent, ' ');
        out->append(line);
        if (nl == std::string::npos) break;
        start = nl + 1;
      }
    } else if (ResolvesToNonString(s)) {
      out->append(DoubleQuoted(s));
    } else {
      WriteFolded(out, s, column, indent, !PlainAllowed(s));
    }
  }
}

bool IsEmptyContainer(const OJson& v) { return (v.is_object() || v.is_array()) && v.empty(); }

void WriteNode(std::string* out, const OJson& v, size_t indent);

void WriteMap(std::string* out, const OJson& v, size_t indent, bool first_inline) {
  std::vector<std::string> keys;
  for (auto it = v.begin(); it != v.end(); ++it) keys.push_back(it.key());
  std::sort(keys.begin(), keys.end());
  bool first = true;
  for (const std::string& k : keys) {
    if (!(first && first_inline)) out->append(indent, ' ');
    first = false;
    std::string key_text;
    if (ResolvesToNonString(k)) {
      key_text = DoubleQuoted(k);
    } else if (PlainAllowed(k)) {
      key_text = k;
    } else {
      key_text = "'" + absl::StrReplaceAll(k, {{"'", "''"}}) + "'";
    }
    out->append(key_text);
    out->push_back(':');
    const OJson& child = v.at(k);
    if (child.is_object() && !child.empty()) {
      out->push_back('\n');
      WriteMap(out, child, indent + 2, false);
    } else if (child.is_array() && !child.empty()) {
      out->push_back('\n');
      WriteNode(out, child, indent);
    } else if (IsEmptyContainer(child)) {
      out->append(child.is_object() ? " {}\n" : " []\n");
    } else {
      out->push_back(' ');
      WriteScalarValue(out, child, indent + key_text.size() + 2, indent + 2);
      out->push_back('\n');
    }
  }
}

void WriteNode(std::string* out, const OJson& v, size_t indent) {
  if (v.is_object()) {
    if (v.empty()) {
      out->append("{}\n");
      return;
    }
    WriteMap(out, v, indent, false);
    return;
  }
  if (v.is_array()) {
    if (v.empty()) {
      out->append("[]\n");
      return;
    }
    for (const OJson& item : v) {
      out->append(indent, ' ');
      out->append("- ");
      if (item.is_object() && !item.empty()) {
        WriteMap(out, item, indent + 2, true);
      } else if (item.is_array() && !item.empty()) {
        out->push_back('\n');
        WriteNode(out, item, indent + 2);
      } else if (IsEmptyContainer(item)) {
        out->append(item.is_object() ? "{}\n" : "[]\n");
      } else {
        WriteScalarValue(out, item, indent + 2, indent + 2);
        out->push_back('\n');
      }
    }
    return;
  }
  WriteScalarValue(out, v, indent, indent);
  out->push_back('\n');
}

void AppendGoString(std::string* out, const std::string& s) {
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out->append("\\\"");
          break;
        case '\\':
          out->append("\\\\");
          break;
        case '\n':
          out->append("\\n");
          break;
        case '\r':
          out->append("\\r");
          break;
        case '\t':
          out->append("\\t");
          break;
        case '<':
          out->append("\\u003c");
          break;
        case '>':
          out->append("\\u003e");
          break;
        case '&':
          out->append("\\u0026");
          break;
        default:
          if (c < 0x20) {
            out->append(absl::StrFormat("\\u%04x", c));
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    int len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    bool ok = len > 0 && i + static_cast<size_t>(len) <= s.size();
    for (int k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (!ok) {
      out->append("\\ufffd");
      ++i;
      continue;
    }
    // U+2028 and U+2029 are escaped by encoding/json.
    if (len == 3 && c == 0xE2 && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(s[i + 2]) == 0xA8 || static_cast<unsigned char>(s[i + 2]) == 0xA9)) {
      out->append(static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\u2028" : "\\u2029");
    } else {
      out->append(s, i, static_cast<size_t>(len));
    }
    i += static_cast<size_t>(len);
  }
  out->push_back('"');
}

void AppendGoJson(std::string* out, const OJson& v, bool pretty, int depth) {
  auto newline = [&](int d) {
    if (!pretty) return;
    out->push_back('\n');
    out->append(static_cast<size_t>(d) * 2, ' ');
  };
  switch (v.type()) {
    case OJson::value_t::object: {
      if (v.empty()) {
        out->append("{}");
        return;
      }
      out->push_back('{');
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out->push_back(',');
        first = false;
        newline(depth + 1);
        AppendGoString(out, it.key());
        out->append(pretty ? ": " : ":");
        AppendGoJson(out, it.value(), pretty, depth + 1);
      }
      newline(depth);
      out->push_back('}');
      return;
    }
    case OJson::value_t::array: {
      if (v.empty()) {
        out->append("[]");
        return;
      }
      out->push_back('[');
      bool first = true;
      for (const OJson& item : v) {
        if (!first) out->push_back(',');
        first = false;
        newline(depth + 1);
        AppendGoJson(out, item, pretty, depth + 1);
      }
      newline(depth);
      out->push_back(']');
      return;
    }
    case OJson::value_t::string:
      AppendGoString(out, v.get_ref<const std::string&>());
      return;
    case OJson::value_t::number_float: {
      double d = v.get<double>();
      if (std::floor(d) == d && std::fabs(d) < 1e21) {
        out->append(absl::StrCat(static_cast<int64_t>(d)));
      } else {
        out->append(v.dump());
      }
      return;
    }
    default:
      out->append(v.dump());
  }
}

}  // namespace

absl::StatusOr<OJson> YamlNodeToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return OJson(nullptr);
    case YAML::NodeType::Scalar:
      // Quoted scalars carry the non-specific tag "!": always strings.
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str") return OJson(node.Scalar());
      return ResolvePlain(node.Scalar());
    case YAML::NodeType::Sequence: {
      OJson out = OJson::array();
      for (const YAML::Node& item : node) {
        auto v = YamlNodeToJson(item);
        if (!v.ok()) return v.status();
        out.push_back(std::move(*v));
      }
      return out;
    }
    case YAML::NodeType::Map: {
      OJson out = OJson::object();
      for (auto it = node.begin(); it != node.end(); ++it) {
        if (!it->first.IsScalar()) return absl::InvalidArgumentError("a mapping key is not a scalar");
        auto v = YamlNodeToJson(it->second);
        if (!v.ok()) return v.status();
        out[it->first.Scalar()] = std::move(*v);
      }
      return out;
    }
  }
  return OJson(nullptr);
}

absl::StatusOr<OJson> YamlToJson(absl::string_view yaml_text) {
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(std::string(yaml_text));
    if (docs.empty()) return OJson(nullptr);
    return YamlNodeToJson(docs.front());
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(e.what());
  }
}

std::string GoJson(const OJson& value, bool pretty) {
  std::string out;
  AppendGoJson(&out, value, pretty, 0);
  return out;
}

std::string GoYaml(const OJson& value) {
  std::string out;
  WriteNode(&out, value, 0);
  return out;
}

}  // namespace k8slb::fakeapi::api
