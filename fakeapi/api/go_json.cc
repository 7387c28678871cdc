#include "fakeapi/api/go_json.h"

#include <cerrno>
#include <cstdlib>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "input/bounded_json.h"

namespace k8slb::fakeapi::api {
namespace {

using OJson = nlohmann::ordered_json;

// Go's quoteChar (encoding/json scanner.go).
std::string QuoteChar(unsigned char c) {
  if (c == '\'') return "'\\''";
  if (c == '"') return "'\"'";
  if (c >= 0x20 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
  switch (c) {
    case '\n':
      return "'\\n'";
    case '\t':
      return "'\\t'";
    case '\r':
      return "'\\r'";
    default:
      break;
  }
  // strconv.Quote(string(rune(c))): \xNN below 0x20 and at 0x7f, \u00NN for C1 controls, the
  // character itself (UTF-8) for printable Latin-1.
  if (c < 0x20 || c == 0x7f) return absl::StrFormat("'\\x%02x'", c);
  if (c < 0xa0) return absl::StrFormat("'\\u%04x'", c);
  std::string utf8;
  utf8.push_back(static_cast<char>(0xC0 | (c >> 6)));
  utf8.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  return "'" + utf8 + "'";
}

class Parser {
 public:
  explicit Parser(absl::string_view s) : s_(s) {}

  absl::StatusOr<GoJsonDocument> Run() {
    GoJsonDocument doc;
    SkipSpace();
    if (AtEnd()) return Eof();
    auto v = Value("", &doc);
    if (!v.ok()) return v.status();
    SkipSpace();
    if (!AtEnd()) return Syntax(Peek(), "after top-level value");
    doc.value = std::move(*v);
    return doc;
  }

 private:
  bool AtEnd() const { return pos_ >= s_.size(); }
  unsigned char Peek() const { return static_cast<unsigned char>(s_[pos_]); }
  void SkipSpace() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' || Peek() == '\r')) ++pos_;
  }
  absl::Status Eof() const { return absl::InvalidArgumentError("unexpected end of JSON input"); }
  absl::Status Syntax(unsigned char c, absl::string_view context) const {
    return absl::InvalidArgumentError(absl::StrCat("invalid character ", QuoteChar(c), " ", context));
  }

  absl::StatusOr<OJson> Value(const std::string& path, GoJsonDocument* doc) {
    // Go's decoder stops at 10000 levels with this message; k8slb bounds every document from
    // the network at input::kDefaultMaxJsonDepth (512) levels, so nothing recursive here or in
    // the patch and codec code runs deeper than that.
    if (++depth_ > input::kDefaultMaxJsonDepth) return absl::InvalidArgumentError("exceeded max depth");
    SkipSpace();
    if (AtEnd()) return Eof();
    unsigned char c = Peek();
    absl::StatusOr<OJson> out;
    if (c == '{') {
      out = Object(path, doc);
    } else if (c == '[') {
      out = Array(path, doc);
    } else if (c == '"') {
      auto str = String();
      if (!str.ok()) return str.status();
      out = OJson(std::move(*str));
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      out = Number();
    } else if (c == 't') {
      out = Literal("true", OJson(true));
    } else if (c == 'f') {
      out = Literal("false", OJson(false));
    } else if (c == 'n') {
      out = Literal("null", OJson(nullptr));
    } else {
      return Syntax(c, "looking for beginning of value");
    }
    --depth_;
    return out;
  }

  absl::StatusOr<OJson> Literal(absl::string_view word, OJson value) {
    for (size_t i = 0; i < word.size(); ++i) {
      if (AtEnd()) return Eof();
      if (Peek() != static_cast<unsigned char>(word[i])) {
        return Syntax(Peek(), absl::StrCat("in literal ", word, " (expecting '", std::string(1, word[i]), "')"));
      }
      ++pos_;
    }
    return value;
  }

  absl::StatusOr<OJson> Number() {
    size_t start = pos_;
    bool is_float = false;
    if (Peek() == '-') {
      ++pos_;
      if (AtEnd()) return Eof();
      if (!(Peek() >= '0' && Peek() <= '9')) return Syntax(Peek(), "in numeric literal");
    }
    if (Peek() == '0') {
      ++pos_;
    } else {
      while (!AtEnd() && Peek() >= '0' && Peek() <= '9') ++pos_;
    }
    if (!AtEnd() && Peek() == '.') {
      is_float = true;
      ++pos_;
      if (AtEnd()) return Eof();
      if (!(Peek() >= '0' && Peek() <= '9')) return Syntax(Peek(), "after decimal point in numeric literal");
      while (!AtEnd() && Peek() >= '0' && Peek() <= '9') ++pos_;
    }
    if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
      is_float = true;
      ++pos_;
      if (!AtEnd() && (Peek() == '+' || Peek() == '-')) ++pos_;
      if (AtEnd()) return Eof();
      if (!(Peek() >= '0' && Peek() <= '9')) return Syntax(Peek(), "in exponent of numeric literal");
      while (!AtEnd() && Peek() >= '0' && Peek() <= '9') ++pos_;
    }
    std::string text(s_.substr(start, pos_ - start));
    if (!is_float) {
      errno = 0;
      long long v = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == 0) return OJson(static_cast<int64_t>(v));
    }
    return OJson(std::strtod(text.c_str(), nullptr));
  }

  absl::StatusOr<std::string> String() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (AtEnd()) return Eof();
      unsigned char c = Peek();
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) return Syntax(c, "in string literal");
      if (c == '\\') {
        ++pos_;
        if (AtEnd()) return Eof();
        unsigned char e = Peek();
        ++pos_;
        switch (e) {
          case '"':
          case '\\':
          case '/':
            out.push_back(static_cast<char>(e));
            break;
          case 'b':
            out.push_back('\b');
            break;
          case 'f':
            out.push_back('\f');
            break;
          case 'n':
            out.push_back('\n');
            break;
          case 'r':
            out.push_back('\r');
            break;
          case 't':
            out.push_back('\t');
            break;
          case 'u': {
            auto cp = Hex4();
            if (!cp.ok()) return cp.status();
            uint32_t code = *cp;
            if (code >= 0xD800 && code < 0xDC00 && pos_ + 1 < s_.size() && s_[pos_] == '\\' && s_[pos_ + 1] == 'u') {
              size_t save = pos_;
              pos_ += 2;
              auto lo = Hex4();
              if (lo.ok() && *lo >= 0xDC00 && *lo < 0xE000) {
                code = 0x10000 + ((code - 0xD800) << 10) + (*lo - 0xDC00);
              } else {
                pos_ = save;
                code = 0xFFFD;
              }
            } else if (code >= 0xD800 && code < 0xE000) {
              code = 0xFFFD;
            }
            AppendUtf8(&out, code);
            break;
          }
          default:
            return Syntax(e, "in string escape code");
        }
        continue;
      }
      out.push_back(static_cast<char>(c));
      ++pos_;
    }
  }

  absl::StatusOr<uint32_t> Hex4() {
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      if (AtEnd()) return Eof();
      unsigned char c = Peek();
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) return Syntax(c, "in \\u hexadecimal character escape");
      v = v * 16 + static_cast<uint32_t>(d);
      ++pos_;
    }
    return v;
  }

  static void AppendUtf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  absl::StatusOr<OJson> Object(const std::string& path, GoJsonDocument* doc) {
    ++pos_;  // {
    OJson out = OJson::object();
    std::set<std::string> seen;
    SkipSpace();
    if (AtEnd()) return Eof();
    if (Peek() == '}') {
      ++pos_;
      return out;
    }
    while (true) {
      SkipSpace();
      if (AtEnd()) return Eof();
      if (Peek() != '"') return Syntax(Peek(), "looking for beginning of object key string");
      auto key = String();
      if (!key.ok()) return key.status();
      SkipSpace();
      if (AtEnd()) return Eof();
      if (Peek() != ':') return Syntax(Peek(), "after object key");
      ++pos_;
      std::string child = path.empty() ? *key : absl::StrCat(path, ".", *key);
      auto v = Value(child, doc);
      if (!v.ok()) return v.status();
      if (!seen.insert(*key).second) doc->duplicate_fields.push_back(child);
      out[*key] = std::move(*v);
      SkipSpace();
      if (AtEnd()) return Eof();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == '}') {
        ++pos_;
        return out;
      }
      return Syntax(Peek(), "after object key:value pair");
    }
  }

  absl::StatusOr<OJson> Array(const std::string& path, GoJsonDocument* doc) {
    ++pos_;  // [
    OJson out = OJson::array();
    SkipSpace();
    if (AtEnd()) return Eof();
    if (Peek() == ']') {
      ++pos_;
      return out;
    }
    while (true) {
      auto v = Value(absl::StrCat(path, "[", out.size(), "]"), doc);
      if (!v.ok()) return v.status();
      out.push_back(std::move(*v));
      SkipSpace();
      if (AtEnd()) return Eof();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == ']') {
        ++pos_;
        return out;
      }
      return Syntax(Peek(), "after array element");
    }
  }

  absl::string_view s_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

absl::StatusOr<GoJsonDocument> ParseGoJson(absl::string_view text) { return Parser(text).Run(); }

}  // namespace k8slb::fakeapi::api
