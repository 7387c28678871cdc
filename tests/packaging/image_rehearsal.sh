#!/usr/bin/env bash
# The in-cluster rehearsal with the container image: scripts/image builds k8s/Dockerfile, then
# three echo containers and the client container run from that image, each exactly as its
# manifest says (pod_flags.py: non-root user, read-only root, all capabilities dropped, no new
# privileges, command, args, downward-API environment), the client with the service-account
# files mounted read-only where a pod has them and KUBERNETES_SERVICE_HOST/PORT pointing at
# k8slb-fakeapi. All share one private network namespace (pods.sh): the API server on 127.0.0.1,
# each echo pod on its own 198.18.0.x address (so --listen is the pod's address instead of the
# manifest's 0.0.0.0, the one argument changed besides the client's target and duration).
#   image_rehearsal.sh BIN_DIR      BIN_DIR holds k8slb-fakeapi (a build tree's apps are not used)
# Exit 0: the client in its container reached every pod with no failed RPC; 77: skipped, with
# the reason (no podman, or podman cannot run containers here).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
source "$here/pods.sh"
[[ $# -eq 1 ]] || { echo "usage: $0 BIN_DIR" >&2; exit 2; }
bin_dir=$1
[[ -x "$bin_dir/k8slb-fakeapi" ]] || fail "$bin_dir/k8slb-fakeapi is missing"
command -v curl >/dev/null || skip "curl is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"
tag=localhost/k8slb:latest

if [[ "${K8SLB_PRIVATE_NETNS:-}" != "$$" ]]; then
  # Build first, with the host's network (the build stage runs apt-get).
  set +e
  K8SLB_IMAGE_TAG=$tag "$repo/scripts/image" build
  rc=$?
  set -e
  [[ $rc == 3 ]] && skip "scripts/image cannot build images here (its reason is above)"
  [[ $rc == 0 ]] || fail "scripts/image build exited $rc"
fi
enter_private_netns "$0" "$@"

WORK=$(mktemp -d)
names=()
cleanup() {
  local name
  for name in "${names[@]}"; do "$repo/scripts/image" podman rm -f -t 0 "$name" >/dev/null 2>&1 || true; done
  cleanup_pods
  rm -rf "$WORK"
}
trap cleanup EXIT
chmod 755 "$WORK"
add_pod_addresses
start_fakeapi "$bin_dir/k8slb-fakeapi"
chmod 755 "$WORK/sa"  # a projected volume is world-readable; the container runs as 65532
create_echo_slice
api_port=${FAKEAPI_URL##*:}
netns="ns:/proc/$$/ns/net"

# podman_args MANIFEST CONTAINER ARGS...: the manifest's container as podman run arguments, with
# the image replaced by the one just built.
podman_args() {
  local line
  spec=()
  while IFS= read -r line; do spec+=("$line"); done < <(python3 "$here/pod_flags.py" "$@")
  [[ ${#spec[@]} -gt 0 ]] || fail "pod_flags.py $* printed nothing"
  local i
  for i in "${!spec[@]}"; do
    if [[ "${spec[$i]}" == "@image@" ]]; then
      spec[$((i + 1))]=$tag
      unset "spec[$i]"
      spec=("${spec[@]}")
      return 0
    fi
  done
  fail "pod_flags.py gave no image"
}

for i in "${!POD_IPS[@]}"; do
  name="k8slb-rehearsal-$$-${POD_NAMES[$i]}"
  podman_args "$repo/k8s/echo-deployment.yaml" echo --field "metadata.name=${POD_NAMES[$i]}" \
    --field "metadata.labels['topology.kubernetes.io/zone']=zone-a" --field spec.nodeName=node-a \
    --set-arg="--listen=${POD_IPS[$i]}:50051" --set-arg="--metrics-listen=${POD_IPS[$i]}:9464"
  names+=("$name")
  "$repo/scripts/image" podman run -d --pull=never --name "$name" --network "$netns" "${spec[@]}" >/dev/null
  # The log is read whole before grep: with pipefail, `podman logs | grep -q` fails when grep
  # exits at the first match while podman is still writing the next line (SIGPIPE).
  logs=""
  for ((t = 0; t < 100; t++)); do
    logs=$("$repo/scripts/image" podman logs "$name" 2>&1 || true)
    grep -q "listening on" <<<"$logs" && break
    sleep 0.1
  done
  grep -q "listening on" <<<"$logs" || fail "echo container $name is not serving: $logs"
done

podman_args "$repo/k8s/client-job.yaml" client --field metadata.name=k8slb-client-rehearsal \
  --field spec.nodeName=rehearsal-node --sa-dir "$WORK/sa" \
  --set-arg=--target=kubernetes:///echo:grpc --set-arg=--duration=3 --set-arg=--metrics-listen=127.0.0.1:0
names+=("k8slb-rehearsal-$$-client")
set +e
output=$(timeout 120 "$repo/scripts/image" podman run --pull=never --name "k8slb-rehearsal-$$-client" \
  --network "$netns" --env KUBERNETES_SERVICE_HOST=127.0.0.1 --env KUBERNETES_SERVICE_PORT="$api_port" \
  --env KUBERNETES_SERVICE_PORT_HTTPS="$api_port" "${spec[@]}" 2>"$WORK/client.err")
rc=$?
set -e
echo "$output"
[[ $rc == 0 ]] || fail "the client container exited $rc: $(cat "$WORK/client.err")"
check_spread "$output"
grep -q "^# frontend k8slb-client-rehearsal .*, 0 failed in " <<<"$output" ||
  fail "the client reported failed RPCs, or not the pod's hostname"
grep -q "using auto: chose in-cluster config: .*token file /var/run/secrets/kubernetes.io/serviceaccount/token" \
  "$WORK/client.err" ||
  fail "the client did not use the in-cluster configuration: $(cat "$WORK/client.err")"
echo "image rehearsal: the client container reached ${#POD_NAMES[@]} echo containers through k8slb-fakeapi"
