// Validation of numbers and addresses given on a command line or in a query string, shared by
// every k8slb binary (k8slb-client, k8slb-echo-server, k8slb-fakeapi, k8slb-sim, k8slb-dashboard)
// so that "nan", "inf", "1e99", "99999999999999999999" or port 99999 are refused with one clear
// line instead of being converted into a silently wrong value (a NaN duration that runs nothing,
// a port taken modulo 65536, a float-to-int conversion that is undefined behaviour).
//
// Each function takes the flag's name for the message ("--duration: \"nan\" is not a finite
// number") and the inclusive range the caller accepts. Pure functions; thread-safe.
// cli_flags.h adapts them to CLI11 validators.
#ifndef K8SLB_INPUT_NUMERIC_FLAG_H_
#define K8SLB_INPUT_NUMERIC_FLAG_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace k8slb::input {

// A decimal or exponent-form real ("2", "0.25", "1e3"), finite and within [min, max].
absl::StatusOr<double> ParseDoubleFlag(std::string_view name, std::string_view text, double min,
                                       double max);
// An integer written in decimal digits (optional sign), within [min, max]; no exponent, no
// fraction, no overflow.
absl::StatusOr<int64_t> ParseIntFlag(std::string_view name, std::string_view text, int64_t min,
                                     int64_t max);
absl::StatusOr<uint64_t> ParseUintFlag(std::string_view name, std::string_view text,
                                       uint64_t max = UINT64_MAX);
// For values that arrive already converted (Qt, YAML, JSON): finite and within [min, max].
absl::Status CheckDoubleFlag(std::string_view name, double value, double min, double max);

struct HostPort {
  std::string host;  // without brackets: "127.0.0.1", "::1", "localhost", "" (all interfaces)
  int port = 0;
};
// "HOST:PORT" or "[IPV6]:PORT" with PORT in [0, 65535] (0 only when allow_zero_port).
absl::StatusOr<HostPort> ParseHostPortFlag(std::string_view name, std::string_view text,
                                           bool allow_zero_port = true);

}  // namespace k8slb::input

#endif  // K8SLB_INPUT_NUMERIC_FLAG_H_
