// Heap cost of hostile JSON from the network, counted exactly: this binary replaces the global
// operator new/delete with a counter of live bytes and their peak, so each test can say "parsing
// this cost at most N bytes" without timing anything. A line of '[' used to cost ~75 bytes of
// heap per input byte (one nlohmann array per byte): 150 MB for 2 MB.
#include <malloc.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>

#include "discovery/watch_stream_parser.h"
#include "input/bounded_json.h"
#include "k8slb/discovery.h"
#include "scripted_server.h"

namespace {

std::atomic<int64_t> g_live{0};
std::atomic<int64_t> g_peak{0};

void* Count(void* p) {
  if (p == nullptr) throw std::bad_alloc();
  const int64_t now = g_live.fetch_add(static_cast<int64_t>(malloc_usable_size(p))) +
                      static_cast<int64_t>(malloc_usable_size(p));
  int64_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
  }
  return p;
}

void Uncount(void* p) {
  if (p == nullptr) return;
  g_live.fetch_sub(static_cast<int64_t>(malloc_usable_size(p)));
  std::free(p);
}

// Peak live heap above the level at the start of the scope.
class HeapPeak {
 public:
  HeapPeak() : base_(g_live.load()) { g_peak.store(base_); }
  int64_t above_start() const { return g_peak.load() - base_; }

 private:
  int64_t base_;
};

}  // namespace

void* operator new(std::size_t n) { return Count(std::malloc(n == 0 ? 1 : n)); }
void* operator new[](std::size_t n) { return Count(std::malloc(n == 0 ? 1 : n)); }
void operator delete(void* p) noexcept { Uncount(p); }
void operator delete[](void* p) noexcept { Uncount(p); }
void operator delete(void* p, std::size_t) noexcept { Uncount(p); }
void operator delete[](void* p, std::size_t) noexcept { Uncount(p); }

namespace k8slb {
namespace {

TEST(BoundedMemory, ANestedWatchLineCostsNothingBeyondItsBytes) {
  const std::string line(2'000'000, '[');
  HeapPeak peak;
  auto event = discovery::ParseWatchEvent(line);
  ASSERT_FALSE(event.ok());
  EXPECT_NE(std::string(event.status().message()).find("nested deeper than 512 levels"),
            std::string::npos)
      << event.status();
  EXPECT_LT(peak.above_start(), 256 * 1024) << "bytes of heap to reject a 2 MB line of '['";
}

TEST(BoundedMemory, DeepButAllowedNestingCostsLinearlyInItsDepth) {
  const std::string doc = std::string(500, '[') + std::string(500, ']');
  HeapPeak peak;
  auto parsed = input::ParseJson(doc);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(input::JsonDepth(*parsed), 500);
  EXPECT_LT(peak.above_start(), 500 * 256);
}

// Wide instead of deep: "[[],[],...]" is valid JSON that costs nlohmann ~16 bytes of heap per
// input byte; the value limit stops it at a bounded DOM (16 MB of it used to cost ~300 MB).
TEST(BoundedMemory, AWideWatchLineStopsAtTheValueLimit) {
  std::string line = "[";
  while (line.size() < 16'000'000) line += "[],";
  line += "[]]";
  HeapPeak peak;
  auto event = discovery::ParseWatchEvent(line);
  ASSERT_FALSE(event.ok());
  EXPECT_NE(std::string(event.status().message()).find("holds more than 1000000 values"), std::string::npos)
      << event.status();
  EXPECT_LT(peak.above_start(), 100 << 20);
}

// The same for a list page, end to end through the watcher: the page is buffered (its own
// bytes), and its parse must add next to nothing.
TEST(BoundedMemory, ANestedListPageCostsItsSizeNotItsNesting) {
  constexpr size_t kBytes = 2'000'000;
  std::atomic<bool> served{false};
  testing::ScriptedServer server([&](const testing::HttpRequest&, testing::ResponseWriter& w) {
    w.StartStream(200);
    const std::string chunk(64 * 1024, '[');
    for (size_t sent = 0; sent < kBytes; sent += chunk.size()) w.Chunk(chunk);
    w.EndStream();
    served = true;
  });
  DiscoveryOptions o;
  o.config.server = server.url();
  o.config.allow_plain_http = true;
  o.target = *ParseTarget("kubernetes:///web:http");
  o.backoff_initial = std::chrono::milliseconds(60'000);
  o.backoff_max = std::chrono::milliseconds(60'000);
  o.log = [](LogLevel, const std::string&) {};
  HeapPeak peak;
  auto w = StartServiceWatcher(o);
  ASSERT_TRUE(w.ok());
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while ((*w)->stats().errors == 0 && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const std::string error = (*w)->stats().last_error;
  EXPECT_NE(error.find("nested deeper than 512 levels"), std::string::npos) << error;
  // The body buffer doubles as it grows (so up to 2 × its size) plus curl's buffers.
  EXPECT_LT(peak.above_start(), static_cast<int64_t>(2 * kBytes + (1 << 20)));
  (*w)->Stop();
}

}  // namespace
}  // namespace k8slb

namespace k8slb {
namespace {

// Members of a list other than items/metadata/kind/apiVersion are dropped without being built.
TEST(BoundedMemory, UnknownListMembersAreNotBuilt) {
  std::string body = R"({"kind":"EndpointSliceList","apiVersion":"discovery.k8s.io/v1","junk":[)";
  while (body.size() < 3'000'000) body += "[],";
  body += R"([]],"metadata":{"resourceVersion":"7"},"items":[]})";
  testing::ScriptedServer server([&](const testing::HttpRequest& req, testing::ResponseWriter& w) {
    if (req.IsWatch()) {
      w.StartStream(200);
      w.SleepFor(std::chrono::milliseconds(5000));
      return;
    }
    w.Send(200, body);
  });
  DiscoveryOptions o;
  o.config.server = server.url();
  o.config.allow_plain_http = true;
  o.target = *ParseTarget("kubernetes:///web:http");
  o.log = [](LogLevel, const std::string&) {};
  HeapPeak peak;
  auto w = StartServiceWatcher(o);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->WaitForSync(std::chrono::seconds(20)).ok());
  EXPECT_EQ((*w)->stats().resource_version, "7");
  // The test server's copy of the response (1x), the client's body buffer (grown by doubling:
  // up to 2x) and curl's buffers; building "junk" would add ~50 MB.
  EXPECT_LT(peak.above_start(), static_cast<int64_t>(4 * body.size() + (2 << 20)));
  (*w)->Stop();
}

}  // namespace
}  // namespace k8slb
