#!/usr/bin/env python3
"""pod_flags.py turns the k8s/ manifests' containers into the podman arguments the image
rehearsal runs, and refuses what it cannot reproduce. Runs in ctest (no podman needed).
  pod_flags_test.py K8S_DIR"""
import os
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
K8S = sys.argv[1]
FAILURES = []


def run(manifest, container, *extra):
    cmd = [sys.executable, os.path.join(HERE, "pod_flags.py"), manifest, container, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def expect(condition, what):
    if not condition:
        FAILURES.append(what)


ECHO_FIELDS = ["--field", "metadata.name=echo-0", "--field", "metadata.labels['topology.kubernetes.io/zone']=zone-a",
               "--field", "spec.nodeName=node-a"]
SECURE = ["--user=65532:65532", "--read-only", "--read-only-tmpfs=false", "--security-opt=no-new-privileges",
          "--cap-drop=ALL"]

echo = run(os.path.join(K8S, "echo-deployment.yaml"), "echo", *ECHO_FIELDS, "--set-arg=--listen=198.18.0.11:50051")
expect(echo.returncode == 0, f"echo: exit {echo.returncode}: {echo.stderr}")
lines = echo.stdout.splitlines()
for flag in SECURE + ["--hostname=echo-0", "--env=POD_NAME=echo-0", "--env=POD_ZONE=zone-a",
                      "--entrypoint=/usr/local/bin/k8slb-echo-server"]:
    expect(flag in lines, f"echo: {flag} missing in {lines}")
expect(not any(line.startswith("--volume=") for line in lines), "echo: automountServiceAccountToken false mounts nothing")
if "@image@" in lines:
    args = lines[lines.index("@image@") + 2:]
    expect(args == ["--listen=198.18.0.11:50051", "--grace=20", "--metrics-listen=0.0.0.0:9464"], f"echo args: {args}")
else:
    FAILURES.append("echo: no @image@ line")

CLIENT_FIELDS = ["--field", "metadata.name=c", "--field", "spec.nodeName=node-a"]
client = run(os.path.join(K8S, "client-job.yaml"), "client", *CLIENT_FIELDS, "--sa-dir", "/sa")
expect(client.returncode == 0, f"client: exit {client.returncode}: {client.stderr}")
lines = client.stdout.splitlines()
for flag in SECURE + ["--volume=/sa:/var/run/secrets/kubernetes.io/serviceaccount:ro", "--env=K8SLB_NODE=node-a"]:
    expect(flag in lines, f"client: {flag} missing in {lines}")
no_sa = run(os.path.join(K8S, "client-job.yaml"), "client", *CLIENT_FIELDS)
expect(no_sa.returncode != 0 and "--sa-dir" in no_sa.stderr, "client without --sa-dir must be refused")
no_field = run(os.path.join(K8S, "echo-deployment.yaml"), "echo")
expect(no_field.returncode != 0 and "fieldRef" in no_field.stderr, "a missing fieldRef value must be refused")

# Settings the rehearsal cannot reproduce are refused, not dropped.
with open(os.path.join(K8S, "echo-deployment.yaml"), encoding="utf-8") as f:
    original = yaml.safe_load(f)
mutations = {
    "securityContext.privileged": lambda d: d["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    .update(privileged=True),
    "a volume": lambda d: d["spec"]["template"]["spec"].update(volumes=[{"name": "x", "emptyDir": {}}]),
    "volumeMounts": lambda d: d["spec"]["template"]["spec"]["containers"][0].update(volumeMounts=[]),
    "seccomp Localhost": lambda d: d["spec"]["template"]["spec"]["securityContext"]
    .update(seccompProfile={"type": "Localhost"}),
    "runAsNonRoot with uid 0": lambda d: d["spec"]["template"]["spec"]["securityContext"].update(runAsUser=0),
}
with tempfile.TemporaryDirectory() as tmp:
    for name, mutate in mutations.items():
        doc = yaml.safe_load(yaml.safe_dump(original))
        mutate(doc)
        path = os.path.join(tmp, "echo.yaml")
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(doc, f)
        r = run(path, "echo", *ECHO_FIELDS)
        expect(r.returncode != 0, f"{name}: accepted, should be refused: {r.stdout}")

if FAILURES:
    print("\n".join(f"FAIL: {f}" for f in FAILURES))
    sys.exit(1)
print("pod_flags.py: both manifests' containers map to podman arguments; 5 unsupported settings refused")
