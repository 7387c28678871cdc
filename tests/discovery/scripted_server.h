// A small scriptable HTTP/1.1 server on 127.0.0.1:0 for protocol tests of the discovery client.
//
// ScriptedServer accepts connections, parses one request per connection, records it and hands it
// to the test's handler with a ResponseWriter that can send a whole response, a chunked stream
// written piece by piece (with pauses: stalls), or abort the connection. Every connection gets its
// own thread; Stop() (or the destructor) wakes every sleeping handler and joins all threads, so a
// test never leaves threads behind. All methods are thread-safe.
//
// SliceApiModel is a well-behaved fake of the EndpointSlice list/watch API on top of it: a store of
// slices with a resourceVersion counter and an event log, serving list (RV "0" or unset) and
// watch from an RV (only later events, bookmarks on request). Tests and the bench change slices
// through it and inject faults with a hook that may answer a request instead of the model.
#ifndef K8SLB_TESTS_DISCOVERY_SCRIPTED_SERVER_H_
#define K8SLB_TESTS_DISCOVERY_SCRIPTED_SERVER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace k8slb::testing {

struct HttpRequest {
  std::string method;
  std::string target;  // path + query, as sent
  std::string path;
  std::map<std::string, std::string> query;    // percent-decoded
  std::map<std::string, std::string> headers;  // lower-case names
  int64_t received_nanos = 0;                  // steady clock

  std::string Query(const std::string& key) const;
  bool HasQuery(const std::string& key) const { return query.count(key) > 0; }
  bool IsWatch() const { return Query("watch") == "true"; }
  std::string Authorization() const;
};

class ResponseWriter {
 public:
  // A whole response with Content-Length.
  void Send(int status, std::string_view body, std::string_view content_type = "application/json",
            const std::vector<std::pair<std::string, std::string>>& extra_headers = {});
  // Starts a chunked response; then Chunk()... and EndStream() or Abort().
  void StartStream(int status = 200, std::string_view content_type = "application/json");
  bool Chunk(std::string_view data);  // false once the client is gone
  void EndStream();
  void Abort();  // closes the connection without finishing the response
  // Sleeps up to `d`; returns false early when the server stops or the client disconnects.
  bool SleepFor(std::chrono::milliseconds d);
  bool client_gone() const { return gone_; }
  bool responded() const { return responded_; }

 private:
  friend class ScriptedServer;
  ResponseWriter(int fd, const std::atomic<bool>* stopping) : fd_(fd), stopping_(stopping) {}
  bool WriteAll(std::string_view data);

  int fd_;
  const std::atomic<bool>* stopping_;
  bool responded_ = false;
  bool gone_ = false;
  bool closed_ = false;
};

class ScriptedServer {
 public:
  using Handler = std::function<void(const HttpRequest&, ResponseWriter&)>;

  explicit ScriptedServer(Handler handler);
  ~ScriptedServer();
  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  int port() const { return port_; }
  std::string url() const;
  std::vector<HttpRequest> requests() const;
  size_t request_count() const;
  // Waits until at least n requests arrived (false on timeout).
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout) const;
  void Stop();

 private:
  void AcceptLoop();
  void Serve(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable absl::Mutex mu_;
  std::vector<HttpRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::list<std::thread> connections_ ABSL_GUARDED_BY(mu_);
  std::thread accept_thread_;
};

// --- A well-behaved fake of the EndpointSlice API -------------------------------------------

struct FakeEndpoint {
  std::string ip;
  std::optional<bool> ready = true;
  std::optional<bool> serving;
  std::optional<bool> terminating;
  std::string zone;
};
inline FakeEndpoint Ep(std::string ip, std::optional<bool> ready = true) {
  FakeEndpoint e;
  e.ip = std::move(ip);
  e.ready = ready;
  return e;
}

// JSON of an EndpointSlice of `service` (namespace "default", one port).
std::string SliceJson(const std::string& name, const std::string& service, uint64_t rv,
                      const std::vector<FakeEndpoint>& endpoints, int port = 8080,
                      const std::string& port_name = "http", bool with_type_meta = true);

class SliceApiModel {
 public:
  struct Options {
    std::string service = "web";
    std::string namespace_name = "default";
    // Watch responses end after this long (0: honour timeoutSeconds only).
    std::chrono::milliseconds watch_duration{0};
    // Send a BOOKMARK at this interval on watches that asked for them (0: never).
    std::chrono::milliseconds bookmark_interval{0};
    // Events at or below this RV are "compacted": a watch from an older RV gets ERROR 410.
    bool compaction = true;
  };
  // Returns true if it answered the request (fault injection); false lets the model answer.
  using Fault = std::function<bool(const HttpRequest&, ResponseWriter&)>;

  explicit SliceApiModel(Options options);
  ~SliceApiModel();

  std::string url() const { return server_.url(); }
  ScriptedServer& server() { return server_; }

  // Changes; each bumps the RV and wakes watches. Return the new RV.
  uint64_t Upsert(const std::string& name, const std::vector<FakeEndpoint>& endpoints);
  uint64_t Delete(const std::string& name);
  // Forget the event log below the current RV (watches from older RVs get 410).
  void Compact();
  // Simulates an API server restart with a fresh store: RV starts again at `rv` (lower).
  void ResetResourceVersion(uint64_t rv);
  void SetFault(Fault fault);
  // Closes every open watch stream cleanly (as a server timeout would).
  void EndWatches();
  uint64_t resource_version() const;
  // Truth: the ready IPs of the current slices, sorted.
  std::vector<std::string> ReadyIps() const;

 private:
  struct Event {
    uint64_t rv;
    std::string type;
    std::string object_json;
  };
  void Handle(const HttpRequest& req, ResponseWriter& w);
  void ServeList(const HttpRequest& req, ResponseWriter& w);
  void ServeWatch(const HttpRequest& req, ResponseWriter& w);

  Options options_;
  mutable absl::Mutex mu_;
  uint64_t rv_ ABSL_GUARDED_BY(mu_) = 100;
  uint64_t compacted_rv_ ABSL_GUARDED_BY(mu_) = 0;  // events with rv <= this are gone
  uint64_t watch_epoch_ ABSL_GUARDED_BY(mu_) = 0;   // bumped by EndWatches()
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::pair<uint64_t, std::vector<FakeEndpoint>>> slices_ ABSL_GUARDED_BY(mu_);
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
  Fault fault_ ABSL_GUARDED_BY(mu_);
  ScriptedServer server_;  // last: stops (and joins handlers) before the state above dies
};

}  // namespace k8slb::testing

#endif  // K8SLB_TESTS_DISCOVERY_SCRIPTED_SERVER_H_
