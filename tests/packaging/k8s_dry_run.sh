#!/usr/bin/env bash
# Every manifest under k8s/ is accepted by the API server's own schema: `kubectl apply
# --dry-run=server` of each kustomization (k8s/, k8s/cross-namespace/, and any other folder with
# a kustomization.yaml) against k8slb-fakeapi, with strict server-side field validation. Its teeth:
# the same apply with an unknown field added to the Deployment, and with a wrong type in the Job,
# must each be refused. The demo namespace is created for real first, as on a fresh cluster.
#   k8s_dry_run.sh FAKEAPI_BIN REPO
# Exit 0 passed; 77 skipped with the reason (no kubectl; the server serves no OpenAPI schema).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/pods.sh"
[[ $# -eq 2 ]] || { echo "usage: $0 FAKEAPI_BIN REPO" >&2; exit 2; }
fakeapi=$1 repo=$2
command -v kubectl >/dev/null || skip "kubectl is not installed"
command -v curl >/dev/null || skip "curl is not installed"
WORK=$(mktemp -d)
trap 'cleanup_pods; rm -rf "$WORK"' EXIT
start_fakeapi "$fakeapi"
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --cacert "$WORK/sa/ca.crt" \
  -H "Authorization: Bearer $ADMIN_TOKEN" "$FAKEAPI_URL/openapi/v3")
[[ "$code" == 200 ]] || skip "k8slb-fakeapi serves no OpenAPI schema (GET /openapi/v3: HTTP $code), which server-side validation needs"

kc() { kubectl --kubeconfig "$WORK/kubeconfig" --cache-dir "$WORK/kube-cache" --request-timeout 20s "$@"; }
kc apply -f "$repo/k8s/namespace.yaml"
mapfile -t folders < <(cd "$repo" && find k8s -name kustomization.yaml -printf '%h\n' | sort)
[[ ${#folders[@]} -gt 0 ]] || fail "no kustomization.yaml under k8s/"
for folder in "${folders[@]}"; do
  echo "== kubectl apply --dry-run=server -k $folder"
  kc apply --dry-run=server --validate=strict -k "$repo/$folder" -o name || fail "$folder: refused (see above)"
done

# Teeth: broken copies of the main kustomization must be refused.
broken() {
  local what=$1 file=$2 script=$3
  rm -rf "$WORK/k8s"
  cp -r "$repo/k8s" "$WORK/k8s"
  python3 - "$WORK/k8s/$file" "$script" <<'PY'
import sys, yaml
path, script = sys.argv[1], sys.argv[2]
docs = list(yaml.safe_load_all(open(path)))
exec(script)
yaml.safe_dump_all(docs, open(path, "w"))
PY
  if kc apply --dry-run=server --validate=strict -k "$WORK/k8s" -o name >"$WORK/broken.out" 2>&1; then
    cat "$WORK/broken.out" >&2
    fail "a manifest with $what was accepted"
  fi
  echo "refused as it should be ($what): $(grep -m1 -i 'error\|unknown\|invalid' "$WORK/broken.out")"
}
broken "an unknown field in the Deployment's spec" echo-deployment.yaml 'docs[0]["spec"]["replicass"] = 5'
broken "a string where the Job wants an integer" client-job.yaml 'docs[0]["spec"]["backoffLimit"] = "two"'
echo "k8s dry run: every manifest validated by the server"
