#!/usr/bin/env bash
# The out-of-tree consumer (examples/consumer), built against an installed k8slb, balances RPCs
# over a Service served by k8slb-fakeapi, answered by k8slb-echo-server "pods", all in a private
# network namespace (tests/packaging/pods.sh).
#   run_consumer.sh BIN_DIR CONSUMER [RPCS]
# BIN_DIR holds k8slb-fakeapi and k8slb-echo-server (a build tree's, or an installed bin/).
# Exit 0: every RPC succeeded and every pod answered; 77: skipped (the reason is printed).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/pods.sh"
[[ $# -ge 2 ]] || { echo "usage: $0 BIN_DIR CONSUMER [RPCS]" >&2; exit 2; }
bin_dir=$1 consumer=$2 rpcs=${3:-30}
for exe in "$bin_dir/k8slb-fakeapi" "$bin_dir/k8slb-echo-server" "$consumer"; do
  [[ -x "$exe" ]] || fail "$exe is missing or not executable"
done
command -v curl >/dev/null || skip "curl is not installed"
enter_private_netns "$0" "$@"

WORK=$(mktemp -d)
trap 'cleanup_pods; rm -rf "$WORK"' EXIT
add_pod_addresses
start_fakeapi "$bin_dir/k8slb-fakeapi"
for i in "${!POD_IPS[@]}"; do
  "$bin_dir/k8slb-echo-server" --listen "${POD_IPS[$i]}:50051" --pod-name "${POD_NAMES[$i]}" --zone zone-a \
    >"$WORK/echo-$i.log" 2>&1 &
  PIDS+=($!)
  wait_for_line "$WORK/echo-$i.log" "listening on" 20 $!
done
create_echo_slice

set +e
output=$(KUBECONFIG="$WORK/kubeconfig" HOME="$WORK" timeout 60 "$consumer" kubernetes:///echo.default:grpc "$rpcs" 2>"$WORK/consumer.err")
rc=$?
set -e
echo "$output"
[[ $rc == 0 ]] || fail "consumer exited $rc: $(cat "$WORK/consumer.err")"
grep -q "^k8slb [0-9.]*: $rpcs RPCs to kubernetes:///echo.default:grpc, 0 failed\$" <<<"$output" ||
  fail "unexpected summary line"
check_spread "$output"
echo "consumer: $rpcs RPCs balanced over ${#POD_NAMES[@]} pods"
