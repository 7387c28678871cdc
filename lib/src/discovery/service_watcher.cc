// The list/watch loop of one Service (discovery.h), modelled on client-go's reflector
// (https://github.com/kubernetes/client-go/blob/master/tools/cache/reflector.go): it resumes
// from the last resourceVersion, never stops on an error, reconciles relists with
// SliceStore::Replace, and never empties the published set because of a failure (fail-static).
// Beyond the reflector: the retry backoff is capped low (discovery.h) so that a client is back
// within seconds of the end of an outage, and every response is parsed with bounded memory.
//
// Threading: one thread per watcher runs Run(); it owns the HttpClient, the SliceStore writer
// side, the backoff and the token source. Other threads only call Current() (SliceStore's
// pointer copy), stats()/WaitForSync() (mu_) and Stop() (flag + curl wakeup).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "discovery/absl_compat.h"
#include "discovery/files.h"
#include "discovery/http_client.h"
#include "discovery/watch_stream_parser.h"
#include "discovery/watch_support.h"
#include "input/bounded_json.h"
#include "k8slb/discovery.h"
#include "k8slb/endpoint_slice_json.h"
#include "k8slb/slice_store.h"

namespace k8slb {
namespace {

using discovery::ApiStatus;
using discovery::Backoff;
using discovery::HttpClient;
using discovery::HttpOutcome;
using discovery::HttpRequestOptions;
using discovery::HttpResult;
using discovery::TokenSource;
using discovery::WatchEvent;
using discovery::WatchEventType;
using discovery::WatchStreamParser;
using std::chrono::milliseconds;

// A page of 500 slices of 100 endpoints (a 50,000-endpoint Service) is about 15 MB; of 500
// full 1000-endpoint slices about 150 MB.
constexpr size_t kMaxListPageBytes = size_t{256} << 20;
constexpr size_t kMaxItemValues = input::kDefaultMaxJsonValues;
constexpr size_t kMaxListMetaValues = 10'000;
constexpr int kListPageSize = 500;                      // as client-go's pager
constexpr milliseconds kShortWatch{1000};               // client-go's "very short watch"
constexpr size_t kMaxServerTextInMessage = 200;         // of a non-Status error body

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

int64_t UnixMillisNow() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool IsTooLargeResourceVersion(const ApiStatus& status) {
  return status.cause_reason == "ResourceVersionTooLarge" ||
         status.message.find("Too large resource version") != std::string::npos;
}

// One Service's watcher: Run() on its own thread does list → watch → (relist | resume) with
// backoff; the public methods are thread-safe (see the file comment).
class WatcherImpl final : public ServiceWatcher {
 public:
  WatcherImpl(DiscoveryOptions options, SnapshotCallback on_snapshot,
              std::unique_ptr<HttpClient> http, std::string namespace_name)
      : options_(std::move(options)),
        on_snapshot_(std::move(on_snapshot)),
        namespace_(std::move(namespace_name)),
        http_(std::move(http)),
        store_(SliceStoreOptions{.service_name = options_.target.service,
                                 .namespace_name = namespace_,
                                 .port = options_.target.port}),
        backoff_(options_.backoff_initial, options_.backoff_max, options_.backoff_jitter,
                 options_.backoff_reset_after, options_.random, options_.clock),
        token_(options_.config.token, options_.config.token_file,
               std::chrono::seconds(std::max(1, options_.config.token_reload_seconds)),
               options_.clock) {
    name_ = absl::StrCat(options_.target.service, ".", namespace_);
    collection_path_ = absl::StrCat("/apis/discovery.k8s.io/v1/namespaces/", UrlEncode(namespace_),
                                    "/endpointslices?labelSelector=",
                                    UrlEncode(absl::StrCat("kubernetes.io/service-name=",
                                                           options_.target.service)));
    store_.SetListener([this](const std::shared_ptr<const EndpointSet>& set) {
      {
        absl::MutexLock lock(&mu_);
        stats_.endpoint_set_version = set->version();
        stats_.endpoints = set->size();
      }
      if (on_snapshot_) on_snapshot_(set);
    });
  }

  ~WatcherImpl() override { Stop(); }

  void Start() {
    Log(LogLevel::kInfo, absl::StrCat("watching endpointslices of ", name_, " at ",
                                      http_->base_url(), " (", options_.config.description, ")"));
    absl::MutexLock lock(&join_mu_);
    thread_ = std::thread([this] { Run(); });
  }

  std::shared_ptr<const EndpointSet> Current() const override { return store_.Current(); }

  DiscoveryStats stats() const override {
    absl::MutexLock lock(&mu_);
    return stats_;
  }

  absl::Status WaitForSync(milliseconds timeout) override {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(this, &WatcherImpl::SyncedOrStoppingLocked),
                         absl::FromChrono(timeout));
    if (stats_.synced) return absl::OkStatus();
    if (stopping_) return absl::CancelledError("the watcher was stopped before the first sync");
    return absl::DeadlineExceededError(absl::StrCat(
        "endpointslices of ", name_, " not synced after ", timeout.count(), " ms",
        stats_.last_error.empty() ? std::string() : absl::StrCat(": ", stats_.last_error)));
  }

  void Stop() override {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    http_->RequestStop();
    absl::MutexLock join_lock(&join_mu_);
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

 private:
  enum class ListMode { kAny, kConsistent };  // resourceVersion=0, or unset (consistent read)

  // What the loop does after an attempt.
  enum class Next {
    kWatch,         // (re)watch from rv_ now
    kRelistNow,     // list again now (consistent)
    kBackoff,       // wait the backoff delay, then retry the same step
    kBackoffRelist, // wait the backoff delay, then list (consistent)
    kRetryNow,      // retry the same step now (401 after re-reading the token)
    kWait,          // wait wait_, then retry the same step (403 slow retry, 429 Retry-After)
    kStop,
  };

  void Run() {
    bool need_list = true;
    ListMode mode = ListMode::kAny;  // client-go's first list: RV=0 (served from cache)
    while (!stopping()) {
      const Next next = need_list ? ListOnce(mode) : WatchOnce();
      switch (next) {
        case Next::kWatch:
          need_list = false;
          break;
        case Next::kRelistNow:
          need_list = true;
          mode = ListMode::kConsistent;
          // A server that answers every fresh watch with 410 must not spin us: the second
          // relist in a row without a delivered event waits the backoff delay.
          if (++quick_relists_ > 1) Sleep(backoff_.NextDelay());
          break;
        case Next::kBackoff:
          Sleep(backoff_.NextDelay());
          break;
        case Next::kBackoffRelist:
          need_list = true;
          mode = ListMode::kConsistent;
          Sleep(backoff_.NextDelay());
          break;
        case Next::kRetryNow:
          break;
        case Next::kWait:
          Sleep(wait_);
          break;
        case Next::kStop:
          return;
      }
    }
  }

  bool SyncedOrStoppingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stats_.synced || stopping_;
  }

  bool stopping() const {
    absl::MutexLock lock(&mu_);
    return stopping_;
  }

  void Sleep(milliseconds delay) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::FromChrono(delay));
  }

  void Log(LogLevel level, const std::string& message) {
    std::string text = token_.Redact(message);
    if (options_.log) {
      options_.log(level, text);
    } else if (level >= LogLevel::kWarning) {
      std::fprintf(stderr, "k8slb discovery %s %s: %s\n", name_.c_str(),
                   level == LogLevel::kError ? "ERROR" : "WARNING", text.c_str());
    }
  }

  void RecordError(const std::string& message, LogLevel level = LogLevel::kWarning) {
    std::string text = token_.Redact(message);
    {
      absl::MutexLock lock(&mu_);
      stats_.last_error = text;
      ++stats_.errors;
    }
    Log(level, text);
  }

  void RecordHealthy() {
    consecutive_401_ = 0;
    absl::MutexLock lock(&mu_);
    stats_.last_error.clear();
    stats_.last_sync_unix_ms = UnixMillisNow();
  }

  const std::string& Token() {
    const std::string& token = token_.Get();
    if (!token_.last_read_status().ok() && !token_read_error_logged_) {
      token_read_error_logged_ = true;
      Log(LogLevel::kWarning, std::string(token_.last_read_status().message()));
    } else if (token_.last_read_status().ok()) {
      token_read_error_logged_ = false;
    }
    return token;
  }

  // Shared handling of a response that is not a successful 200 (or a failed transfer).
  Next Classify(const HttpResult& result, const char* verb) {
    switch (result.outcome) {
      case HttpOutcome::kStopped:
        return Next::kStop;
      case HttpOutcome::kStalled:
        RecordError(absl::StrCat(verb, " endpointslices of ", name_, ": no bytes for ",
                                 options_.stall_timeout.count(), " ms; dropped the connection"));
        return Next::kBackoff;
      case HttpOutcome::kDeadline:
        RecordError(absl::StrCat(verb, " endpointslices of ", name_, ": request deadline passed"));
        return Next::kBackoff;
      case HttpOutcome::kTransportError:
        if (result.status == 0) {
          RecordError(absl::StrCat(verb, " endpointslices of ", name_, ": ", result.error));
          return Next::kBackoff;
        }
        break;  // a response arrived and then broke: judge it by its status below
      case HttpOutcome::kAbortedByCaller:
      case HttpOutcome::kCompleted:
        break;
    }
    std::optional<ApiStatus> status = discovery::ParseApiStatus(result.error_body);
    // Redacted before it is cut: a server that echoes the token near the cut must not leave
    // its first characters in the log.
    const std::string server_message =
        status ? status->message
               : token_.RedactedPrefix(result.error_body, kMaxServerTextInMessage);
    if (result.status == 401) {
      // client-go drops its cached token on any 401 (transport/token_source.go): re-read it now,
      // retry at once the first time, then back off.
      token_.ForceReload().IgnoreError();
      if (++consecutive_401_ == 1) {
        Log(LogLevel::kInfo, absl::StrCat(verb, " got 401; re-read the token, retrying now"));
        return Next::kRetryNow;
      }
      RecordError(discovery::UnauthorizedMessage(verb, namespace_, token_.file(),
                                                 !options_.config.token.empty() ||
                                                     token_.has_file()),
                  LogLevel::kError);
      wait_ = options_.auth_retry;
      return Next::kWait;
    }
    if (result.status == 403) {
      RecordError(discovery::ForbiddenMessage(verb, namespace_, server_message), LogLevel::kError);
      wait_ = options_.auth_retry;  // keep retrying, slowly: RBAC may be fixed any time
      return Next::kWait;
    }
    if (result.status == 410) {
      Log(LogLevel::kInfo, absl::StrCat(verb, " got 410 Gone (", server_message,
                                        "); relisting"));
      return Next::kRelistNow;
    }
    if (result.status == 429) {
      if (result.retry_after_seconds) {
        // Honoured as given, but capped so a broken header cannot park the watcher for hours.
        wait_ = std::min(milliseconds(*result.retry_after_seconds * 1000),
                         std::max(options_.backoff_max, milliseconds(600'000)));
        RecordError(absl::StrCat(verb, " endpointslices of ", name_,
                                 ": 429 Too Many Requests; retrying after ",
                                 *result.retry_after_seconds, " s (Retry-After)"));
        return Next::kWait;
      }
      RecordError(absl::StrCat(verb, " endpointslices of ", name_,
                               ": 429 Too Many Requests without Retry-After; backing off"));
      return Next::kBackoff;
    }
    if (status && IsTooLargeResourceVersion(*status)) {
      // The server is behind our resourceVersion, e.g. restarted with a fresh store: relist
      // from a consistent read as client-go does.
      RecordError(absl::StrCat(verb, " endpointslices of ", name_, ": ", server_message,
                               "; relisting"));
      return Next::kRelistNow;
    }
    const bool client_error = result.status >= 400 && result.status < 500;
    const bool is_watch = std::string_view(verb) == "watch";
    RecordError(absl::StrCat(verb, " endpointslices of ", name_, ": HTTP ", result.status,
                             server_message.empty() ? "" : ": ", server_message,
                             result.error.empty() ? "" : absl::StrCat(" (", result.error, ")"),
                             client_error && is_watch
                                 ? absl::StrCat("; relisting (resourceVersion ", rv_,
                                                " may be unusable)")
                                 : ""));
    // A watch the server refuses as a bad request (e.g. a resourceVersion it cannot parse) would
    // be refused again from the same resourceVersion: relist instead, as the reflector does
    // after any watch error it does not retry.
    if (client_error && is_watch) return Next::kBackoffRelist;
    return Next::kBackoff;
  }

  void CountRequest(bool watch) {
    absl::MutexLock lock(&mu_);
    ++(watch ? stats_.watch_requests : stats_.list_requests);
  }

  Next ListOnce(ListMode mode) {
    std::vector<EndpointSlice> slices;
    std::string list_rv;
    std::string continue_token;
    std::string body;
    do {
      std::string query = collection_path_;
      absl::StrAppend(&query, "&limit=", kListPageSize);
      if (!continue_token.empty()) {
        absl::StrAppend(&query, "&continue=", UrlEncode(continue_token));
      } else if (mode == ListMode::kAny) {
        absl::StrAppend(&query, "&resourceVersion=0");
      }
      body.clear();
      bool too_large = false;
      CountRequest(/*watch=*/false);
      HttpResult result = http_->Get(
          query, Token(),
          HttpRequestOptions{.stall_timeout = options_.stall_timeout,
                             .deadline = options_.list_timeout},
          [&](std::string_view data) {
            if (body.size() + data.size() > kMaxListPageBytes) {
              too_large = true;
              return false;
            }
            body.append(data);
            return true;
          });
      if (result.outcome != HttpOutcome::kCompleted || result.status != 200) {
        if (too_large) {
          RecordError(absl::StrCat("list endpointslices of ", name_, ": a page exceeds ",
                                   kMaxListPageBytes, " bytes"));
          return Next::kBackoff;
        }
        if (result.outcome == HttpOutcome::kDeadline) {
          RecordError(absl::StrCat("list endpointslices of ", name_, ": the page did not arrive within ",
                                   options_.list_timeout.count(), " ms (list_timeout; ",
                                   result.body_bytes, " bytes received)"));
          return Next::kBackoff;
        }
        Next next = Classify(result, "list");
        if (next == Next::kRelistNow && !continue_token.empty()) {
          return Next::kRelistNow;  // continue token expired: start over (client-go's pager)
        }
        if (next == Next::kRelistNow && mode == ListMode::kConsistent) {
          return Next::kBackoffRelist;  // a consistent list cannot be too old: do not spin
        }
        return next;
      }
      // Items are converted as the parser finishes each one and then dropped from the DOM, so
      // a 100,000-endpoint list never exists as a whole nlohmann tree. What is kept is bounded
      // whatever the server sends: an item's DOM by kMaxItemValues, the list's own metadata by
      // kMaxListMetaValues, and members other than items/metadata/kind/apiVersion are dropped
      // unbuilt (the parse itself is bounded in depth).
      std::vector<EndpointSlice> page;
      std::vector<std::string> item_errors;
      bool root_is_object = false, key_items = false, member_kept = true, in_items = false, in_item = false,
           item_too_big = false;
      size_t item_values = 0, meta_values = 0, non_objects = 0;
      using Event = nlohmann::json::parse_event_t;
      const auto filter = [&](int depth, Event event, nlohmann::json& parsed) -> bool {
        const bool opens_value = event == Event::value || event == Event::object_start ||
                                 event == Event::array_start;
        if (depth == 0) {
          if (event == Event::object_start || event == Event::array_start) {
            root_is_object = event == Event::object_start;
          }
          return true;
        }
        if (!root_is_object) return false;  // not a list: reported below, nothing built
        if (depth == 1 && event == Event::key) {
          const std::string& key = parsed.get_ref<const std::string&>();
          key_items = key == "items";
          member_kept = key_items || key == "metadata" || key == "kind" || key == "apiVersion";
          return member_kept;
        }
        if (!member_kept) return false;  // inside a dropped member: nothing is built
        if (depth == 1 && event == Event::array_start) {
          in_items = key_items;
          return true;
        }
        if (depth == 1 && event == Event::array_end) {
          in_items = false;
          return true;
        }
        if (depth == 2 && in_items) {
          if (event == Event::object_start) {
            in_item = true;
            item_too_big = false;
            item_values = 0;
            return true;
          }
          if (event == Event::object_end) {
            in_item = false;
            if (item_too_big) {
              item_errors.push_back(absl::StrCat("an item holds more than ", kMaxItemValues, " values"));
              return false;
            }
            absl::StatusOr<EndpointSlice> slice = absl::UnknownError("unparsed");
            try {
              slice = EndpointSliceFromJson(parsed);
            } catch (const std::exception& e) {
              slice = absl::DataLossError(e.what());
            }
            if (slice.ok()) {
              page.push_back(*std::move(slice));
            } else {
              item_errors.push_back(token_.RedactedPrefix(std::string(slice.status().message()), 512));
            }
            return false;  // discard the item's DOM
          }
          if (opens_value) {
            ++non_objects;  // not an object: nothing to convert
            return false;
          }
          return true;
        }
        if (!opens_value || depth < 2) return true;
        if (in_item) {
          if (item_too_big || ++item_values > kMaxItemValues) {
            item_too_big = true;
            return false;
          }
          return true;
        }
        if (!in_items) return ++meta_values <= kMaxListMetaValues;
        return false;  // inside an item that is not an object
      };
      absl::StatusOr<nlohmann::json> parsed_doc =
          input::ParseJson(body, filter, input::JsonLimits{.max_values = 0});
      if (non_objects > 0) {
        item_errors.push_back(absl::StrCat(non_objects, " items are not JSON objects"));
      }
      body.clear();
      body.shrink_to_fit();
      if (!parsed_doc.ok()) {
        RecordError(absl::StrCat("list endpointslices of ", name_, ": ", parsed_doc.status().message()));
        return Next::kBackoff;
      }
      nlohmann::json& doc = *parsed_doc;
      if (!doc.is_object() || !doc.contains("items") ||
          !(doc["items"].is_array() || doc["items"].is_null())) {
        RecordError(absl::StrCat("list endpointslices of ", name_,
                                 ": the response is not an EndpointSliceList"));
        return Next::kBackoff;
      }
      for (const std::string& e : item_errors) {
        // Skipped and reported: one bad object must not block every other endpoint.
        RecordError(absl::StrCat("list endpointslices of ", name_, ": skipped an invalid item: ", e));
      }
      const auto& meta = doc["metadata"];
      if (meta.is_object()) {
        if (meta.contains("resourceVersion") && meta["resourceVersion"].is_string()) {
          list_rv = meta["resourceVersion"].get<std::string>();
        }
        continue_token = meta.contains("continue") && meta["continue"].is_string()
                             ? meta["continue"].get<std::string>()
                             : std::string();
      } else {
        continue_token.clear();
      }
      if (slices.empty()) {
        slices = std::move(page);
      } else {
        std::move(page.begin(), page.end(), std::back_inserter(slices));
      }
    } while (!continue_token.empty() && !stopping());
    if (stopping()) return Next::kStop;
    if (list_rv.empty()) {
      RecordError(absl::StrCat("list endpointslices of ", name_,
                               ": the list has no metadata.resourceVersion to watch from"));
      return Next::kBackoff;
    }
    store_.Replace(slices);
    rv_ = list_rv;
    RecordHealthy();
    {
      absl::MutexLock lock(&mu_);
      if (stats_.synced) ++stats_.relists;
      stats_.synced = true;
      stats_.resource_version = rv_;
    }
    Log(LogLevel::kInfo, absl::StrCat("listed ", slices.size(), " endpointslices of ", name_,
                                      " at resourceVersion ", rv_));
    return Next::kWatch;
  }

  Next WatchOnce() {
    const int min_s = std::max(1, options_.watch_timeout_min_seconds);
    const int max_s = std::max(min_s + 1, options_.watch_timeout_max_seconds);
    const int timeout_s =
        min_s + static_cast<int>(options_.random->Uniform(static_cast<uint64_t>(max_s - min_s)));
    const std::string query =
        absl::StrCat(collection_path_, "&resourceVersion=", UrlEncode(rv_),
                     "&allowWatchBookmarks=true&timeoutSeconds=", timeout_s, "&watch=true");
    uint64_t events = 0;
    std::optional<ApiStatus> error_event;
    WatchStreamParser parser(
        [&](absl::StatusOr<WatchEvent> event) {
          if (error_event) return;  // nothing after an ERROR counts
          if (!event.ok()) {
            RecordError(absl::StrCat("watch endpointslices of ", name_,
                                     ": skipped a malformed event: ", event.status().message()));
            return;
          }
          ++events;
          if (event->type == WatchEventType::kError) {
            error_event = event->status;
            return;
          }
          if (!event->invalid_object.empty()) {
            Log(LogLevel::kWarning,
                absl::StrCat("watch endpointslices of ", name_, ": DELETED event for ",
                             event->slice.Key(), " carries an invalid object (",
                             token_.RedactedPrefix(event->invalid_object, 300),
                             "); removed the slice by name"));
          }
          if (event->type != WatchEventType::kBookmark) {
            SliceEvent slice_event;
            slice_event.type = event->type == WatchEventType::kAdded      ? SliceEventType::kAdded
                               : event->type == WatchEventType::kModified ? SliceEventType::kModified
                                                                          : SliceEventType::kDeleted;
            slice_event.slice = std::move(event->slice);
            store_.Apply(slice_event);
          }
          if (!event->resource_version.empty()) rv_ = event->resource_version;
          quick_relists_ = 0;
          absl::MutexLock lock(&mu_);
          if (event->type == WatchEventType::kBookmark) {
            ++stats_.bookmarks;
          } else {
            ++stats_.events_applied;
          }
          stats_.resource_version = rv_;
          stats_.last_sync_unix_ms = UnixMillisNow();
          stats_.last_error.clear();
        },
        options_.max_event_bytes,
        [this](std::string_view text, size_t max_chars) {
          return token_.RedactedPrefix(text, max_chars);
        });
    const int64_t start = options_.clock->NowNanos();
    CountRequest(/*watch=*/true);
    HttpResult result = http_->Get(
        query, Token(),
        HttpRequestOptions{.stall_timeout = options_.stall_timeout,
                           .deadline = milliseconds(int64_t{timeout_s} * 1000) +
                                       options_.stall_timeout},
        [&](std::string_view data) {
          parser.Feed(data);
          return !error_event.has_value();  // the server closes after ERROR; do not wait for it
        });
    if (result.outcome == HttpOutcome::kStopped) return Next::kStop;
    if (result.status == 200 && result.outcome == HttpOutcome::kCompleted) parser.Finish();
    const milliseconds lasted = std::chrono::duration_cast<milliseconds>(
        std::chrono::nanoseconds(options_.clock->NowNanos() - start));
    {
      absl::MutexLock lock(&mu_);
      ++stats_.reconnects;  // every watch that ends is followed by a new one (or a relist)
    }
    if (result.status == 200) {
      consecutive_401_ = 0;
      if (error_event) {
        const ApiStatus& s = *error_event;
        if (s.code == 410 || s.reason == "Expired" || s.reason == "Gone") {
          Log(LogLevel::kInfo, absl::StrCat("watch got ERROR 410 (", s.message, "); relisting"));
          return Next::kRelistNow;
        }
        if (IsTooLargeResourceVersion(s)) {
          RecordError(absl::StrCat("watch endpointslices of ", name_, ": ", s.message,
                                   "; relisting"));
          return Next::kRelistNow;
        }
        RecordError(absl::StrCat("watch endpointslices of ", name_, ": ERROR event ", s.code,
                                 " ", s.reason, ": ", s.message));
        return Next::kBackoff;
      }
      switch (result.outcome) {
        case HttpOutcome::kCompleted:
        case HttpOutcome::kDeadline:
          if (events == 0 && lasted < kShortWatch) {
            // client-go treats a very short empty watch as an error and relists after backoff:
            // a server that closes at once may have lost our resourceVersion.
            RecordError(absl::StrCat("watch endpointslices of ", name_,
                                     " ended after ", lasted.count(),
                                     " ms without events; relisting after backoff"));
            return Next::kBackoffRelist;
          }
          quick_relists_ = 0;
          return Next::kWatch;  // normal end (timeoutSeconds): resume from rv_, no relist
        case HttpOutcome::kStalled:
          RecordError(absl::StrCat("watch endpointslices of ", name_, ": no bytes for ",
                                   options_.stall_timeout.count(),
                                   " ms (not even a bookmark); dropped and resuming from "
                                   "resourceVersion ",
                                   rv_));
          return Next::kWatch;
        case HttpOutcome::kTransportError:
          RecordError(absl::StrCat("watch endpointslices of ", name_, " broke: ", result.error,
                                   "; resuming from resourceVersion ", rv_, " after backoff"));
          return Next::kBackoff;
        default:
          return Next::kBackoff;
      }
    }
    return Classify(result, "watch");
  }

  const DiscoveryOptions options_;
  const SnapshotCallback on_snapshot_;
  const std::string namespace_;
  std::string name_;             // "svc.ns" for messages
  std::string collection_path_;  // path + labelSelector
  std::unique_ptr<HttpClient> http_;
  SliceStore store_;

  // Watcher thread only.
  Backoff backoff_;
  TokenSource token_;
  std::string rv_;
  milliseconds wait_{0};
  int consecutive_401_ = 0;
  int quick_relists_ = 0;  // relists in a row with no watch event in between
  bool token_read_error_logged_ = false;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  DiscoveryStats stats_ ABSL_GUARDED_BY(mu_);

  absl::Mutex join_mu_;  // Stop() may run on several threads at once; one joins
  std::thread thread_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceWatcher>> StartServiceWatcher(
    DiscoveryOptions options, ServiceWatcher::SnapshotCallback on_snapshot) {
  if (options.target.service.empty()) {
    return absl::InvalidArgumentError("discovery: the target names no service");
  }
  if (options.watch_timeout_min_seconds <= 0 ||
      options.watch_timeout_max_seconds < options.watch_timeout_min_seconds) {
    return absl::InvalidArgumentError(
        "discovery: watch_timeout_min_seconds must be > 0 and ≤ watch_timeout_max_seconds");
  }
  if (!(options.backoff_jitter >= 0 && options.backoff_jitter <= 1)) {
    return absl::InvalidArgumentError("discovery: backoff_jitter must be within [0, 1]");
  }
  if (options.backoff_initial.count() <= 0 || options.backoff_max < options.backoff_initial) {
    return absl::InvalidArgumentError(
        "discovery: backoff_initial must be > 0 and ≤ backoff_max");
  }
  if (options.list_timeout.count() <= 0 || options.stall_timeout.count() <= 0 ||
      options.auth_retry.count() <= 0) {
    return absl::InvalidArgumentError(
        "discovery: list_timeout, stall_timeout and auth_retry must be > 0");
  }
  if (!options.config.token_file.empty()) {
    auto token = discovery::ReadBoundedFile(options.config.token_file, discovery::kMaxTokenFileBytes,
                                            discovery::FileKind::kRegularOnly);
    if (!token.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("discovery: cannot read the token file: ", token.status().message()));
    }
    std::fill(token->begin(), token->end(), '\0');
  }
  if (!options.clock) options.clock = MakeSteadyClock();
  if (!options.random) {
    options.random = MakeSeededRandom(static_cast<uint64_t>(
        std::chrono::steady_clock::now().time_since_epoch().count()));
  }
  auto http = HttpClient::Create(options.config, options.connect_timeout, options.clock);
  if (!http.ok()) {
    return absl::Status(http.status().code(),
                        absl::StrCat("discovery: ", http.status().message()));
  }
  std::string ns = options.target.namespace_name.value_or(options.config.default_namespace);
  if (ns.empty()) ns = "default";
  auto watcher = std::make_unique<WatcherImpl>(std::move(options), std::move(on_snapshot),
                                               *std::move(http), std::move(ns));
  watcher->Start();
  return watcher;
}

}  // namespace k8slb
