# Sourced by the packaging checks (run_consumer.sh, image_rehearsal.sh): a fake cluster in a
# private network namespace. k8slb-fakeapi on 127.0.0.1, one EndpointSlice for Service
# default/echo (port "grpc" 50051) whose endpoints are "pods" on 198.18.0.0/15 addresses put on
# the namespace's loopback device (RFC 2544 benchmarking range: never routed anywhere, and the
# API server treats them as pod addresses, unlike 127.0.0.0/8).
#
# Functions set or use: WORK (a temporary folder), FAKEAPI_PID, FAKEAPI_URL, ADMIN_TOKEN, PIDS.
# Every wait is bounded; cleanup_pods kills what was started.

POD_IPS=(198.18.0.11 198.18.0.12 198.18.0.13)
POD_NAMES=(echo-0 echo-1 echo-2)
PIDS=()

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

skip() {
  echo "SKIP: $*"
  exit 77
}

# enter_private_netns "$0" "$@": re-runs the calling script in a private network namespace (as
# root: unshare -n), unless it is already in one. Skips (77) when the namespace cannot be made.
enter_private_netns() {
  [[ "${K8SLB_PRIVATE_NETNS:-}" == "$$" ]] && return 0
  command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
  command -v ip >/dev/null || skip "ip (iproute2) is not installed"
  if ! unshare -n true 2>/dev/null; then
    skip "cannot create a private network namespace here (unshare -n needs CAP_SYS_ADMIN)"
  fi
  exec unshare -n /bin/bash -c 'export K8SLB_PRIVATE_NETNS=$$; exec /bin/bash "$@"' bash "$@"
}

# Brings lo up and puts the pod addresses on it (inside the private namespace only).
add_pod_addresses() {
  ip link set lo up
  for addr in "${POD_IPS[@]}"; do ip addr add "$addr/32" dev lo; done
}

# wait_for_line FILE PATTERN SECONDS PID: until FILE has a line matching PATTERN.
wait_for_line() {
  local file=$1 pattern=$2 seconds=$3 pid=$4 i
  for ((i = 0; i < seconds * 10; i++)); do
    grep -q -- "$pattern" "$file" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$file" >&2; fail "process $pid exited before printing '$pattern'"; }
    sleep 0.1
  done
  cat "$file" >&2
  fail "no '$pattern' in $file after ${seconds}s"
}

# start_fakeapi BIN: k8slb-fakeapi (HTTPS) on a free port of 127.0.0.1; writes $WORK/kubeconfig
# (admin) and the service-account files $WORK/sa/{token,ca.crt,namespace}.
start_fakeapi() {
  local bin=$1
  mkdir -p "$WORK/sa"
  "$bin" --listen 127.0.0.1:0 --write-kubeconfig "$WORK/kubeconfig" --serviceaccount-dir "$WORK/sa" \
    >"$WORK/fakeapi.log" 2>&1 &
  FAKEAPI_PID=$!
  PIDS+=("$FAKEAPI_PID")
  wait_for_line "$WORK/fakeapi.log" "serving https://" 20 "$FAKEAPI_PID"
  FAKEAPI_URL=$(sed -n 's/^k8slb-fakeapi: serving \(https:\/\/[0-9.:]*\).*/\1/p;T;q' "$WORK/fakeapi.log")
  ADMIN_TOKEN=$(sed -n 's/^ *token: *//p;T;q' "$WORK/kubeconfig")
  [[ -n "$FAKEAPI_URL" && -n "$ADMIN_TOKEN" ]] || fail "cannot read the URL or the admin token of k8slb-fakeapi"
}

# The EndpointSlice of default/echo with one ready endpoint per pod, created through the API.
create_echo_slice() {
  local endpoints="" i
  for i in "${!POD_IPS[@]}"; do
    [[ -n "$endpoints" ]] && endpoints+=","
    endpoints+="{\"addresses\":[\"${POD_IPS[$i]}\"],\"conditions\":{\"ready\":true,\"serving\":true,\"terminating\":false},"
    endpoints+="\"targetRef\":{\"kind\":\"Pod\",\"namespace\":\"default\",\"name\":\"${POD_NAMES[$i]}\"}}"
  done
  local body="{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\",
    \"metadata\":{\"name\":\"echo-abcde\",\"namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"echo\"}},
    \"addressType\":\"IPv4\",\"ports\":[{\"name\":\"grpc\",\"port\":50051,\"protocol\":\"TCP\"}],\"endpoints\":[$endpoints]}"
  local code
  code=$(curl -sS -o "$WORK/create.out" -w '%{http_code}' --max-time 10 --cacert "$WORK/sa/ca.crt" \
    -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Content-Type: application/json' -X POST --data "$body" \
    "$FAKEAPI_URL/apis/discovery.k8s.io/v1/namespaces/default/endpointslices") || fail "curl to $FAKEAPI_URL failed"
  [[ "$code" == 201 ]] || fail "creating the EndpointSlice answered HTTP $code: $(cat "$WORK/create.out")"
}

# check_spread OUTPUT: every pod answered at least one RPC (rows "<pod> <count> ...").
check_spread() {
  local output=$1 pod
  for pod in "${POD_NAMES[@]}"; do
    grep -Eq "^$pod +[1-9][0-9]*( |\$)" <<<"$output" || fail "pod $pod answered no RPC; output:"$'\n'"$output"
  done
}

cleanup_pods() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
