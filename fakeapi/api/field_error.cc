#include "fakeapi/api/field_error.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace k8slb::fakeapi::api {
namespace {

absl::string_view TypeText(FieldErrorType t) {
  switch (t) {
    case FieldErrorType::kNotFound:
      return "Not found";
    case FieldErrorType::kRequired:
      return "Required value";
    case FieldErrorType::kDuplicate:
      return "Duplicate value";
    case FieldErrorType::kInvalid:
      return "Invalid value";
    case FieldErrorType::kNotSupported:
      return "Unsupported value";
    case FieldErrorType::kForbidden:
      return "Forbidden";
    case FieldErrorType::kTooLong:
      return "Too long";
    case FieldErrorType::kTooMany:
      return "Too many";
    case FieldErrorType::kInternal:
      return "Internal error";
  }
  return "Invalid value";
}

}  // namespace

absl::string_view FieldError::Reason() const {
  switch (type) {
    case FieldErrorType::kNotFound:
      return "FieldValueNotFound";
    case FieldErrorType::kRequired:
      return "FieldValueRequired";
    case FieldErrorType::kDuplicate:
      return "FieldValueDuplicate";
    case FieldErrorType::kInvalid:
      return "FieldValueInvalid";
    case FieldErrorType::kNotSupported:
      return "FieldValueNotSupported";
    case FieldErrorType::kForbidden:
      return "FieldValueForbidden";
    case FieldErrorType::kTooLong:
      return "FieldValueTooLong";
    case FieldErrorType::kTooMany:
      return "FieldValueTooMany";
    case FieldErrorType::kInternal:
      return "InternalError";
  }
  return "FieldValueInvalid";
}

std::string FieldError::Body() const {
  std::string s(TypeText(type));
  // Required, Forbidden, TooLong and Internal never print the value (ErrorBody).
  bool print_value = type != FieldErrorType::kRequired && type != FieldErrorType::kForbidden &&
                     type != FieldErrorType::kTooLong && type != FieldErrorType::kInternal;
  if (print_value) {
    switch (value.kind) {
      case GoValue::Kind::kNone:
        break;
      case GoValue::Kind::kString:
        absl::StrAppend(&s, ": ", GoQuote(value.text));
        break;
      case GoValue::Kind::kInt:
        absl::StrAppend(&s, ": ", value.number);
        break;
      case GoValue::Kind::kLiteral:
        absl::StrAppend(&s, ": ", value.text);
        break;
    }
  }
  if (!detail.empty()) absl::StrAppend(&s, ": ", detail);
  return s;
}

std::string FieldError::Message() const { return absl::StrCat(field, ": ", Body()); }

FieldError Invalid(std::string field, GoValue value, std::string detail) {
  return FieldError{FieldErrorType::kInvalid, std::move(field), std::move(value), std::move(detail)};
}

FieldError Required(std::string field, std::string detail) {
  return FieldError{FieldErrorType::kRequired, std::move(field), GoValue::None(), std::move(detail)};
}

FieldError Duplicate(std::string field, GoValue value) {
  return FieldError{FieldErrorType::kDuplicate, std::move(field), std::move(value), ""};
}

FieldError NotSupported(std::string field, GoValue value, const std::vector<std::string>& supported) {
  std::vector<std::string> quoted;
  quoted.reserve(supported.size());
  for (const std::string& v : supported) quoted.push_back(GoQuote(v));
  std::string detail;
  if (!quoted.empty()) detail = absl::StrCat("supported values: ", absl::StrJoin(quoted, ", "));
  return FieldError{FieldErrorType::kNotSupported, std::move(field), std::move(value), std::move(detail)};
}

FieldError Forbidden(std::string field, std::string detail) {
  return FieldError{FieldErrorType::kForbidden, std::move(field), GoValue::None(), std::move(detail)};
}

FieldError TooMany(std::string field, int64_t actual, int64_t max) {
  std::string detail = max >= 0 ? absl::StrCat("must have at most ", max, max == 1 ? " item" : " items")
                                : std::string("has too many items");
  return FieldError{FieldErrorType::kTooMany, std::move(field), actual >= 0 ? GoValue::Int(actual) : GoValue::None(),
                    std::move(detail)};
}

FieldError TooLong(std::string field, int64_t max_bytes) {
  return FieldError{FieldErrorType::kTooLong, std::move(field), GoValue::None(),
                    absl::StrCat("may not be more than ", max_bytes, " bytes")};
}

std::string AggregateMessage(const FieldErrorList& errors) {
  std::vector<std::string> messages;
  std::set<std::string> seen;
  for (const FieldError& e : errors) {
    std::string m = e.Message();
    if (seen.insert(m).second) messages.push_back(std::move(m));
  }
  if (messages.size() == 1) return messages[0];
  return absl::StrCat("[", absl::StrJoin(messages, ", "), "]");
}

std::string GoQuote(absl::string_view s) {
  std::string out = "\"";
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
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
        case '\a':
          out += "\\a";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\v':
          out += "\\v";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += absl::StrFormat("\\x%02x", c);
          } else {
            out.push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    // A UTF-8 sequence: kept as is when well formed (strconv.Quote keeps printable runes),
    // otherwise each byte as \xNN.
    int len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    bool ok = len > 0 && i + static_cast<size_t>(len) <= s.size();
    for (int k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok) {
      out.append(s.data() + i, static_cast<size_t>(len));
      i += static_cast<size_t>(len);
    } else {
      out += absl::StrFormat("\\x%02x", c);
      ++i;
    }
  }
  out += "\"";
  return out;
}

std::string Child(absl::string_view parent, absl::string_view name) {
  if (parent.empty()) return std::string(name);
  return absl::StrCat(parent, ".", name);
}

std::string Index(absl::string_view parent, size_t i) { return absl::StrCat(parent, "[", i, "]"); }

std::string Key(absl::string_view parent, absl::string_view key) { return absl::StrCat(parent, "[", key, "]"); }

}  // namespace k8slb::fakeapi::api
