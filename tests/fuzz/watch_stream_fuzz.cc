// libFuzzer target: the incremental watch stream parser. The first input byte picks a chunk size
// and a line limit; the rest is the stream. Oracle: feeding the stream in chunks must produce
// exactly what feeding it whole produces (the property of watch_stream_parser_test.cc), and no
// input may crash, leak or read out of bounds (ASan).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "discovery/watch_stream_parser.h"

namespace {

using k8slb::discovery::WatchEvent;
using k8slb::discovery::WatchStreamParser;

std::vector<std::string> Run(std::string_view data, size_t chunk, size_t max_line) {
  std::vector<std::string> out;
  WatchStreamParser parser(
      [&](absl::StatusOr<WatchEvent> e) {
        if (!e.ok()) {
          out.push_back("error");
          return;
        }
        out.push_back(std::string(k8slb::discovery::WatchEventTypeName(e->type)) + "/" +
                      e->resource_version + "/" + e->slice.metadata.name + "/" +
                      std::to_string(e->slice.endpoints.size()) + "/" +
                      std::to_string(e->status.code));
      },
      max_line);
  if (chunk == 0) {
    parser.Feed(data);
  } else {
    for (size_t i = 0; i < data.size(); i += chunk) parser.Feed(data.substr(i, chunk));
  }
  parser.Finish();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + (bytes[0] & 0x1f);
  const size_t max_line = (bytes[0] & 0x80) ? 64 : 1 << 20;
  std::string_view data(reinterpret_cast<const char*>(bytes + 1), size - 1);
  if (Run(data, 0, max_line) != Run(data, chunk, max_line)) std::abort();
  return 0;
}
