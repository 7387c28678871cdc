// CLI11 validators over numeric_flag.h, for the binaries that parse their command line with
// CLI11: `app.add_option("--duration", d)->check(k8slb::input::RealIn(0, 1e7))`. The check runs
// on the text before CLI11 converts it, so a value that passes converts exactly. CLI11 prefixes
// the option's name to the message and the binary exits 2 on it.
#ifndef K8SLB_INPUT_CLI_FLAGS_H_
#define K8SLB_INPUT_CLI_FLAGS_H_

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "input/numeric_flag.h"

namespace k8slb::input {

inline CLI::Validator RealIn(double min, double max) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        auto v = ParseDoubleFlag("", text, min, max);
        return v.ok() ? std::string() : std::string(v.status().message());
      },
      "NUMBER", "RealIn");
}

inline CLI::Validator IntegerIn(int64_t min, int64_t max) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        auto v = ParseIntFlag("", text, min, max);
        return v.ok() ? std::string() : std::string(v.status().message());
      },
      "INT", "IntegerIn");
}

inline CLI::Validator UnsignedUpTo(uint64_t max) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        auto v = ParseUintFlag("", text, max);
        return v.ok() ? std::string() : std::string(v.status().message());
      },
      "UINT", "UnsignedUpTo");
}

inline CLI::Validator HostPortAddress(bool allow_zero_port = true) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        auto v = ParseHostPortFlag("", text, allow_zero_port);
        return v.ok() ? std::string() : std::string(v.status().message());
      },
      "HOST:PORT", "HostPortAddress");
}

}  // namespace k8slb::input

#endif  // K8SLB_INPUT_CLI_FLAGS_H_
