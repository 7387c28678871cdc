#include "fakeapi/server/api_common.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "fakeapi/api/yaml_json.h"

namespace k8slb::fakeapi {

using ordered_json = nlohmann::ordered_json;

nlohmann::ordered_json StatusObject(const StatusError& error) {
  ordered_json j;
  j["kind"] = "Status";
  j["apiVersion"] = "v1";
  j["metadata"] = ordered_json::object();
  j["status"] = error.status;
  if (!error.message.empty()) j["message"] = error.message;
  if (!error.reason.empty()) j["reason"] = error.reason;
  if (error.details) {
    const StatusDetails& d = *error.details;
    ordered_json details = ordered_json::object();
    if (!d.name.empty()) details["name"] = d.name;
    if (!d.group.empty()) details["group"] = d.group;
    if (!d.kind.empty()) details["kind"] = d.kind;
    if (!d.uid.empty()) details["uid"] = d.uid;
    if (!d.causes.empty()) {
      ordered_json causes = ordered_json::array();
      for (const auto& c : d.causes) {
        ordered_json cause = ordered_json::object();
        if (!c.reason.empty()) cause["reason"] = c.reason;
        if (!c.message.empty()) cause["message"] = c.message;
        if (!c.field.empty()) cause["field"] = c.field;
        causes.push_back(cause);
      }
      details["causes"] = causes;
    }
    if (d.retry_after_s) details["retryAfterSeconds"] = *d.retry_after_s;
    j["details"] = details;
  }
  if (error.code != 0) j["code"] = error.code;
  return j;
}

std::string StatusJson(const StatusError& error) { return api::GoJson(StatusObject(error)); }

HttpResponse StatusResponse(const StatusError& error) {
  HttpResponse r;
  r.status = error.code;
  r.content_type = "application/json";
  r.body = StatusJson(error) + "\n";
  if (error.nosniff) r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  if (error.retry_after_header) r.headers.emplace_back("Retry-After", std::to_string(*error.retry_after_header));
  return r;
}

StatusError BadRequest(std::string message) {
  return StatusError{.code = 400, .reason = "BadRequest", .message = std::move(message)};
}

StatusError Unauthorized() { return StatusError{.code = 401, .reason = "Unauthorized", .message = "Unauthorized"}; }

StatusError NotFound(const GroupResource& gr, const std::string& name) {
  return StatusError{.code = 404,
                     .reason = "NotFound",
                     .message = absl::StrCat(gr.Qualified(), " ", api::GoQuote(name), " not found"),
                     .details = StatusDetails{.name = name, .group = gr.group, .kind = gr.resource}};
}

StatusError NotFoundResource() {
  return StatusError{.code = 404,
                     .reason = "NotFound",
                     .message = "the server could not find the requested resource",
                     .details = StatusDetails{}};
}

StatusError AlreadyExists(const GroupResource& gr, const std::string& name) {
  return StatusError{.code = 409,
                     .reason = "AlreadyExists",
                     .message = absl::StrCat(gr.Qualified(), " ", api::GoQuote(name), " already exists"),
                     .details = StatusDetails{.name = name, .group = gr.group, .kind = gr.resource}};
}

StatusError Conflict(const GroupResource& gr, const std::string& name, const std::string& why) {
  return StatusError{.code = 409,
                     .reason = "Conflict",
                     .message = absl::StrCat("Operation cannot be fulfilled on ", gr.Qualified(), " ", api::GoQuote(name),
                                             ": ", why),
                     .details = StatusDetails{.name = name, .group = gr.group, .kind = gr.resource}};
}

StatusError ObjectModified(const GroupResource& gr, const std::string& name) {
  return Conflict(gr, name, "the object has been modified; please apply your changes to the latest version and try again");
}

StatusError InvalidObject(const std::string& group, const std::string& kind, const std::string& name,
                          const api::FieldErrorList& errors) {
  std::string qualified = group.empty() ? kind : absl::StrCat(kind, ".", group);
  StatusError e{.code = 422,
                .reason = "Invalid",
                .message = errors.empty()
                               ? absl::StrCat(qualified, " ", api::GoQuote(name), " is invalid")
                               : absl::StrCat(qualified, " ", api::GoQuote(name), " is invalid: ",
                                              api::AggregateMessage(errors)),
                .details = StatusDetails{.name = name, .group = group, .kind = kind}};
  for (const api::FieldError& fe : errors) {
    e.details->causes.push_back({.reason = std::string(fe.Reason()), .message = fe.Body(), .field = fe.field});
  }
  return e;
}

StatusError Expired(std::string message) {
  return StatusError{.code = 410, .reason = "Expired", .message = std::move(message)};
}

StatusError TooManyRequests(int retry_after_s) {
  return StatusError{.code = 429,
                     .reason = "TooManyRequests",
                     .message = "Too many requests, please try again later.",
                     .details = StatusDetails{.retry_after_s = retry_after_s},
                     .retry_after_header = retry_after_s};
}

StatusError InternalError(const std::string& cause) {
  return StatusError{.code = 500,
                     .reason = "InternalError",
                     .message = absl::StrCat("Internal error occurred: ", cause),
                     .details = StatusDetails{.causes = {{.reason = "", .message = cause}}}};
}

StatusError PlainInternalError(const std::string& message) {
  return StatusError{.code = 500, .message = message};
}

StatusError Timeout(const std::string& message, int retry_after_s) {
  return StatusError{.code = 504,
                     .reason = "Timeout",
                     .message = absl::StrCat("Timeout: ", message),
                     .details = StatusDetails{.retry_after_s = retry_after_s},
                     .retry_after_header = retry_after_s};
}

StatusError MethodNotAllowed() {
  return StatusError{.code = 405,
                     .reason = "MethodNotAllowed",
                     .message = "the server does not allow this method on the requested resource",
                     .details = StatusDetails{}};
}

StatusError Forbidden(const RequestAttributes& a) {
  StatusError e{.code = 403, .reason = "Forbidden", .nosniff = true};
  if (!a.path.empty()) {
    e.message = absl::StrCat("forbidden: User ", api::GoQuote(a.user), " cannot ", a.verb, " path ", api::GoQuote(a.path));
    e.details = StatusDetails{};
    return e;
  }
  std::string resource = a.resource;
  if (!a.subresource.empty()) absl::StrAppend(&resource, "/", a.subresource);
  std::string reason = absl::StrCat("User ", api::GoQuote(a.user), " cannot ", a.verb, " resource ",
                                    api::GoQuote(resource), " in API group ", api::GoQuote(a.api_group));
  if (!a.namespace_name.empty()) {
    absl::StrAppend(&reason, " in the namespace ", api::GoQuote(a.namespace_name));
  } else {
    absl::StrAppend(&reason, " at the cluster scope");
  }
  GroupResource gr{a.api_group, a.resource};
  e.details = StatusDetails{.name = a.name, .group = a.api_group, .kind = a.resource};
  if (a.name.empty()) {
    e.message = absl::StrCat(gr.Qualified(), " is forbidden: ", reason);
  } else {
    e.message = absl::StrCat(gr.Qualified(), " ", api::GoQuote(a.name), " is forbidden: ", reason);
  }
  return e;
}

HttpResponse PageNotFound() {
  HttpResponse r;
  r.status = 404;
  r.content_type = "text/plain; charset=utf-8";
  r.body = "404 page not found\n";
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  return r;
}

bool ParseBoolParam(const std::optional<std::string>& value) {
  if (!value) return false;
  if (*value == "0") return false;
  if (absl::AsciiStrToLower(*value) == "false") return false;
  return true;
}

absl::StatusOr<std::optional<int64_t>> ParseResourceVersionParam(const std::optional<std::string>& value) {
  if (!value || value->empty()) return std::optional<int64_t>();
  int64_t rv = 0;
  if (!absl::SimpleAtoi(*value, &rv) || rv < 0) {
    return absl::InvalidArgumentError(absl::StrCat("invalid resource version \"", *value, "\""));
  }
  return std::optional<int64_t>(rv);
}

// ---- label selector (apimachinery labels/selector.go grammar) ----
namespace {

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}
  void SkipSpace() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ >= s_.size();
  }
  char Peek() {
    SkipSpace();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }
  bool Consume(std::string_view tok) {
    SkipSpace();
    if (s_.substr(pos_, tok.size()) == tok) {
      pos_ += tok.size();
      return true;
    }
    return false;
  }
  // An identifier: label key or value characters.
  std::string Ident() {
    SkipSpace();
    size_t start = pos_;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (std::isspace(static_cast<unsigned char>(c)) || c == ',' || c == '=' || c == '!' || c == '(' ||
          c == ')' || c == '<' || c == '>') {
        break;
      }
      ++pos_;
    }
    return std::string(s_.substr(start, pos_ - start));
  }
  // A keyword "in"/"notin" must be followed by space or '('.
  bool Keyword(std::string_view kw) {
    SkipSpace();
    if (s_.substr(pos_, kw.size()) != kw) return false;
    size_t after = pos_ + kw.size();
    if (after < s_.size() && (std::isspace(static_cast<unsigned char>(s_[after])) || s_[after] == '(')) {
      pos_ = after;
      return true;
    }
    return false;
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

bool ValidLabelValue(const std::string& v) {
  if (v.size() > 63) return false;
  for (char c : v) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

bool ValidLabelKey(const std::string& k) {
  if (k.empty() || k.size() > 317) return false;
  for (char c : k) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/')) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<LabelSelector> LabelSelector::Parse(std::string_view text) {
  LabelSelector sel;
  Lexer lx(text);
  auto fail = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("unable to parse requirement: ", why));
  };
  if (lx.AtEnd()) return sel;
  while (true) {
    Requirement r;
    if (lx.Consume("!")) {
      r.key = lx.Ident();
      if (!ValidLabelKey(r.key)) return fail(absl::StrCat("invalid label key \"", r.key, "\""));
      r.op = Op::kDoesNotExist;
    } else {
      r.key = lx.Ident();
      if (!ValidLabelKey(r.key)) return fail(absl::StrCat("invalid label key \"", r.key, "\""));
      char c = lx.Peek();
      if (c == ',' || c == '\0') {
        r.op = Op::kExists;
      } else if (lx.Consume("==") || lx.Consume("=")) {
        r.op = Op::kEquals;
      } else if (lx.Consume("!=")) {
        r.op = Op::kNotEquals;
      } else if (lx.Consume(">")) {
        r.op = Op::kGreaterThan;
      } else if (lx.Consume("<")) {
        r.op = Op::kLessThan;
      } else if (lx.Keyword("notin")) {
        r.op = Op::kNotIn;
      } else if (lx.Keyword("in")) {
        r.op = Op::kIn;
      } else {
        return fail(absl::StrCat("found '", std::string(1, c), "', expected: in, notin, =, ==, !=, gt, lt"));
      }
      if (r.op == Op::kIn || r.op == Op::kNotIn) {
        if (!lx.Consume("(")) return fail("found '" + std::string(1, lx.Peek()) + "', expected: '('");
        while (true) {
          std::string v = lx.Ident();
          if (!ValidLabelValue(v)) return fail(absl::StrCat("invalid label value: \"", v, "\""));
          if (!v.empty()) r.values.push_back(v);
          if (lx.Consume(",")) continue;
          if (lx.Consume(")")) break;
          return fail("found '" + std::string(1, lx.Peek()) + "', expected: ',' or ')'");
        }
        if (r.values.empty()) return fail("for 'in', 'notin' operators, values set can't be empty");
      } else if (r.op != Op::kExists) {
        std::string v = lx.Ident();
        // selector.go parseExactValue: after the operator, an identifier, "," or the end.
        if (v.empty() && !lx.AtEnd() && lx.Peek() != ',') {
          return fail("found '" + std::string(1, lx.Peek()) + "', expected: identifier");
        }
        if (!ValidLabelValue(v)) return fail(absl::StrCat("invalid label value: \"", v, "\""));
        if (r.op == Op::kGreaterThan || r.op == Op::kLessThan) {
          int64_t n;
          if (!absl::SimpleAtoi(v, &n)) return fail(absl::StrCat("for 'Gt', 'Lt' operators, the value must be an integer"));
        }
        r.values.push_back(v);
      }
    }
    sel.requirements_.push_back(std::move(r));
    if (lx.AtEnd()) break;
    if (!lx.Consume(",")) return fail("found '" + std::string(1, lx.Peek()) + "', expected: ',' or 'end of string'");
  }
  return sel;
}

bool LabelSelector::Matches(const std::map<std::string, std::string>& labels) const {
  for (const auto& r : requirements_) {
    auto it = labels.find(r.key);
    bool has = it != labels.end();
    switch (r.op) {
      case Op::kEquals:
      case Op::kIn:
        if (!has || std::find(r.values.begin(), r.values.end(), it->second) == r.values.end()) return false;
        break;
      case Op::kNotEquals:
      case Op::kNotIn:
        if (has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end()) return false;
        break;
      case Op::kExists:
        if (!has) return false;
        break;
      case Op::kDoesNotExist:
        if (has) return false;
        break;
      case Op::kGreaterThan:
      case Op::kLessThan: {
        int64_t have, want;
        if (!has || !absl::SimpleAtoi(it->second, &have) || !absl::SimpleAtoi(r.values[0], &want)) return false;
        if (r.op == Op::kGreaterThan ? !(have > want) : !(have < want)) return false;
        break;
      }
    }
  }
  return true;
}

std::string DefaultFieldSelectorMessage(const std::string& field) {
  return absl::StrCat("\"", field, "\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"");
}

absl::StatusOr<FieldSelector> FieldSelector::Parse(
    std::string_view text, const std::vector<std::string>& known_fields,
    const std::function<std::string(const std::string&)>& unknown_field_message) {
  FieldSelector sel;
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view part = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    std::string p(absl::StripAsciiWhitespace(absl::string_view(part.data(), part.size())));
    if (p.empty()) continue;
    Term t;
    size_t pos;
    if ((pos = p.find("!=")) != std::string::npos) {
      t.equals = false;
      t.field = p.substr(0, pos);
      t.value = p.substr(pos + 2);
    } else if ((pos = p.find("==")) != std::string::npos) {
      t.field = p.substr(0, pos);
      t.value = p.substr(pos + 2);
    } else if ((pos = p.find('=')) != std::string::npos) {
      t.field = p.substr(0, pos);
      t.value = p.substr(pos + 1);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("invalid selector: '", p, "'; can't understand '", p, "'"));
    }
    t.field = std::string(absl::StripAsciiWhitespace(t.field));
    t.value = std::string(absl::StripAsciiWhitespace(t.value));
    if (std::find(known_fields.begin(), known_fields.end(), t.field) == known_fields.end()) {
      return absl::InvalidArgumentError(unknown_field_message(t.field));
    }
    sel.terms_.push_back(std::move(t));
  }
  return sel;
}

bool FieldSelector::Matches(const std::function<std::string(const std::string&)>& field_value) const {
  for (const auto& t : terms_) {
    bool eq = field_value(t.field) == t.value;
    if (eq != t.equals) return false;
  }
  return true;
}

std::optional<std::string> FieldSelector::PinnedName() const {
  for (const auto& t : terms_) {
    if (t.field == "metadata.name" && t.equals) return t.value;
  }
  return std::nullopt;
}

std::string Rfc3339(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// kubectl's duration.HumanDuration (k8s.io/apimachinery/pkg/util/duration).
std::string HumanDuration(int64_t s) {
  if (s < 0) return "<invalid>";
  if (s < 120) return absl::StrCat(s, "s");
  int64_t minutes = s / 60;
  if (minutes < 10) {
    int64_t sec = s % 60;
    return sec == 0 ? absl::StrCat(minutes, "m") : absl::StrCat(minutes, "m", sec, "s");
  }
  if (minutes < 180) return absl::StrCat(minutes, "m");
  int64_t hours = s / 3600;
  if (hours < 8) {
    int64_t m = minutes % 60;
    return m == 0 ? absl::StrCat(hours, "h") : absl::StrCat(hours, "h", m, "m");
  }
  if (hours < 48) return absl::StrCat(hours, "h");
  if (hours < 24 * 8) {
    int64_t h = hours % 24;
    return h == 0 ? absl::StrCat(hours / 24, "d") : absl::StrCat(hours / 24, "d", h, "h");
  }
  if (hours < 24 * 365 * 2) return absl::StrCat(hours / 24, "d");
  return absl::StrCat(hours / 24 / 365, "y");
}

}  // namespace k8slb::fakeapi
