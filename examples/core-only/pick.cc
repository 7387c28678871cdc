// pick: k8slb::core without gRPC. Parses two EndpointSlices of one Service (as a watch delivers
// them), merges them in a SliceStore and picks 3000 times with least-request (power of two
// choices), counting each pick as one request in flight while it lasts. Prints the picks per pod;
// exits 1 unless every ready endpoint was picked and the not-ready one never.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "k8slb/endpoint_slice.h"
#include "k8slb/picker.h"
#include "k8slb/slice_store.h"
#include "k8slb/version.h"

namespace {

constexpr char kSliceA[] = R"({
  "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
  "metadata": {"name": "echo-a", "namespace": "default", "labels": {"kubernetes.io/service-name": "echo"}},
  "addressType": "IPv4",
  "ports": [{"name": "grpc", "port": 50051, "protocol": "TCP"}],
  "endpoints": [
    {"addresses": ["198.18.0.11"], "conditions": {"ready": true}, "targetRef": {"kind": "Pod", "name": "echo-0"}},
    {"addresses": ["198.18.0.12"], "conditions": {"ready": true}, "targetRef": {"kind": "Pod", "name": "echo-1"}}
  ]})";
constexpr char kSliceB[] = R"({
  "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
  "metadata": {"name": "echo-b", "namespace": "default", "labels": {"kubernetes.io/service-name": "echo"}},
  "addressType": "IPv4",
  "ports": [{"name": "grpc", "port": 50051, "protocol": "TCP"}],
  "endpoints": [
    {"addresses": ["198.18.0.13"], "conditions": {"ready": true}, "targetRef": {"kind": "Pod", "name": "echo-2"}},
    {"addresses": ["198.18.0.14"], "conditions": {"ready": false}, "targetRef": {"kind": "Pod", "name": "echo-3"}}
  ]})";

}  // namespace

int main() {
  k8slb::SliceStore store(k8slb::SliceStoreOptions{
      .service_name = "echo", .namespace_name = "default", .port = k8slb::PortSelector::ByName("grpc")});
  for (const char* json : {kSliceA, kSliceB}) {
    absl::StatusOr<k8slb::EndpointSlice> slice = k8slb::ParseEndpointSlice(json);
    if (!slice.ok()) {
      std::fprintf(stderr, "pick: %s\n", std::string(slice.status().message()).c_str());
      return 1;
    }
    store.Apply(k8slb::SliceEvent{.type = k8slb::SliceEventType::kAdded, .slice = *std::move(slice)});
  }

  std::unique_ptr<k8slb::Picker> picker =
      k8slb::MakePicker(store.Current(), k8slb::PickerOptions{.policy = k8slb::PickPolicy::kLeastRequest, .seed = 1});
  std::map<std::string, int> picks;
  std::vector<k8slb::InFlightGuard> in_flight;  // three requests outstanding at a time
  for (int i = 0; i < 3000; ++i) {
    const k8slb::Endpoint* endpoint = picker->Pick();
    if (endpoint == nullptr) {
      std::fprintf(stderr, "pick: the set is empty\n");
      return 1;
    }
    picks[endpoint->pod_name]++;
    if (in_flight.size() == 3) in_flight.erase(in_flight.begin());
    in_flight.emplace_back(endpoint->stats);
  }

  std::printf("k8slb %s core: %zu usable endpoints\n", k8slb::kVersion, store.Current()->size());
  for (const auto& [pod, count] : picks) std::printf("%-8s %d\n", pod.c_str(), count);
  bool ok = picks.size() == 3 && picks.count("echo-3") == 0;
  return ok ? 0 : 1;
}
