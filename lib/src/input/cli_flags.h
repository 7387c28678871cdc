// CLI11 validators over numeric_flag.h, for the binaries that parse their command line with
// CLI11: `app.add_option("--duration", d)->check(k8slb::input::RealIn(0, 1e7))`. The check runs
// on the text before CLI11 converts it, so a value that passes converts exactly. CLI11 prefixes
// the option's name to the message and the binary exits 2 on it.
#ifndef K8SLB_INPUT_CLI_FLAGS_H_
#define K8SLB_INPUT_CLI_FLAGS_H_

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <utility>

#include "input/numeric_flag.h"

namespace k8slb::input {

// A validator from a parse function of numeric_flag.h: empty string when the text passes, else
// the message.
template <typename Parse>
CLI::Validator FlagValidator(Parse parse, std::string description, std::string name) {
  return CLI::Validator(
      [parse](std::string& text) -> std::string {
        auto v = parse(text);
        return v.ok() ? std::string() : std::string(v.status().message());
      },
      std::move(description), std::move(name));
}

inline CLI::Validator RealIn(double min, double max) {
  return FlagValidator([=](const std::string& t) { return ParseDoubleFlag("", t, min, max); }, "NUMBER", "RealIn");
}

inline CLI::Validator IntegerIn(int64_t min, int64_t max) {
  return FlagValidator([=](const std::string& t) { return ParseIntFlag("", t, min, max); }, "INT", "IntegerIn");
}

inline CLI::Validator UnsignedUpTo(uint64_t max) {
  return FlagValidator([=](const std::string& t) { return ParseUintFlag("", t, max); }, "UINT", "UnsignedUpTo");
}

inline CLI::Validator HostPortAddress(bool allow_zero_port = true) {
  return FlagValidator([=](const std::string& t) { return ParseHostPortFlag("", t, allow_zero_port); },
                       "HOST:PORT", "HostPortAddress");
}

}  // namespace k8slb::input

#endif  // K8SLB_INPUT_CLI_FLAGS_H_
