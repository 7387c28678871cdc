#!/usr/bin/env python3
"""kubectl against k8slb-fakeapi with validation on: create, apply (client-side), apply
--server-side, diff and explain, each as a user runs it, plus the refusals a real server gives
(an unknown field and a wrong type under --validate=strict, a conflict of server-side apply).

Usage: kubectl_workflow.py --binary build/fakeapi/server/k8slb-fakeapi [--kubectl kubectl]
Exit 0: every step behaved; 1: a step did not (its command and output are printed); 77: no
kubectl (ctest reports the test as skipped).
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakeapi_client import FakeApi, find_kubectl  # noqa: E402

SLICE = """apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: wf-slice
  labels:
    kubernetes.io/service-name: wf
addressType: IPv4
ports:
- name: grpc
  port: 50051
  protocol: TCP
endpoints:
- addresses: ["198.18.9.1"]
  conditions: {ready: true}
"""

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: wf-echo
spec:
  replicas: %(replicas)d
  selector:
    matchLabels: {app: wf-echo}
  template:
    metadata:
      labels: {app: wf-echo}
    spec:
      containers:
      - name: echo
        image: registry.invalid/echo:1
        ports:
        - name: grpc
          containerPort: 50051
"""

SERVICE = """apiVersion: v1
kind: Service
metadata:
  name: wf-echo
spec:
  selector: {app: wf-echo}
  ports:
  - name: grpc
    port: 50051
    targetPort: grpc
"""

BAD_FIELD = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: wf-bad
spec:
  replicass: 2
  selector:
    matchLabels: {app: wf-bad}
  template:
    metadata:
      labels: {app: wf-bad}
    spec:
      containers:
      - name: echo
        image: registry.invalid/echo:1
"""

BAD_TYPE = """apiVersion: batch/v1
kind: Job
metadata:
  name: wf-job
spec:
  backoffLimit: "two"
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: run
        image: registry.invalid/run:1
"""


class Workflow:
    def __init__(self, kubectl, kubeconfig, tmp):
        self.kubectl = kubectl
        self.kubeconfig = kubeconfig
        self.tmp = tmp
        self.failures = []

    def file(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run(self, what, args, want_exit=0, want_out=(), want_err=()):
        cmd = [self.kubectl, "--kubeconfig", self.kubeconfig] + args
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        ok = p.returncode == want_exit and all(w in p.stdout for w in want_out) and \
            all(w in p.stderr for w in want_err)
        print("%s %s" % ("ok  " if ok else "FAIL", what))
        if not ok:
            self.failures.append(what)
            print("    $ %s\n    exit %d (want %d)\n    stdout: %s\n    stderr: %s" % (
                " ".join(cmd[3:]), p.returncode, want_exit, p.stdout.strip()[:2000], p.stderr.strip()[:2000]))
        return p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--kubectl", default="kubectl")
    args = ap.parse_args()
    kubectl = find_kubectl(args.kubectl)
    if kubectl is None:
        print("kubectl not found: skipped")
        return 77
    server = FakeApi(args.binary, [])
    tmp = tempfile.mkdtemp(prefix="k8slb-kubectl-")
    try:
        w = Workflow(kubectl, server.kubeconfig, tmp)
        slice_file = w.file("slice.yaml", SLICE)
        w.run("create -f (validation on)", ["create", "-f", slice_file, "--validate=strict"],
              want_out=["endpointslice.discovery.k8s.io/wf-slice created"])
        w.run("create again: AlreadyExists", ["create", "-f", slice_file], want_exit=1,
              want_err=['endpointslices.discovery.k8s.io "wf-slice" already exists'])
        dep1 = w.file("dep1.yaml", DEPLOYMENT % {"replicas": 2})
        w.run("apply -f (client-side, new object)", ["apply", "-f", dep1, "--validate=strict"],
              want_out=["deployment.apps/wf-echo created"])
        w.run("apply -f again (unchanged)", ["apply", "-f", dep1], want_out=["deployment.apps/wf-echo unchanged"])
        dep3 = w.file("dep3.yaml", DEPLOYMENT % {"replicas": 3})
        w.run("diff -f (a change: exit 1, the diff shown)", ["diff", "-f", dep3], want_exit=1,
              want_out=["-  replicas: 2", "+  replicas: 3"])
        w.run("apply -f (client-side, changed object)", ["apply", "-f", dep3],
              want_out=["deployment.apps/wf-echo configured"])
        w.run("diff -f (no change: exit 0)", ["diff", "-f", dep3])
        w.run("get -o yaml shows the last-applied annotation", ["get", "deployment", "wf-echo", "-o", "yaml"],
              want_out=["kubectl.kubernetes.io/last-applied-configuration", "replicas: 3"])
        svc = w.file("svc.yaml", SERVICE)
        w.run("apply --server-side -f (new object)", ["apply", "--server-side", "-f", svc, "--validate=strict"],
              want_out=["service/wf-echo serverside-applied"])
        w.run("apply --server-side -f again", ["apply", "--server-side", "-f", svc],
              want_out=["service/wf-echo serverside-applied"])
        w.run("get --show-managed-fields: the Apply entry", ["get", "service", "wf-echo", "-o", "yaml",
                                                            "--show-managed-fields"],
              want_out=["manager: kubectl", "operation: Apply"])
        w.run("apply --server-side of the Deployment by another manager conflicts",
              ["apply", "--server-side", "--field-manager", "other", "-f", dep1], want_exit=1,
              want_err=["conflict"])
        w.run("apply --server-side --force-conflicts takes the field",
              ["apply", "--server-side", "--field-manager", "other", "--force-conflicts", "-f", dep1],
              want_out=["deployment.apps/wf-echo serverside-applied"])
        w.run("explain endpointslice.endpoints", ["explain", "endpointslice.endpoints"],
              want_out=["KIND:", "EndpointSlice", "FIELD:", "endpoints", "addresses"])
        w.run("explain deployment.spec.replicas", ["explain", "deployments.spec.replicas"],
              want_out=["replicas", "<integer>"])
        bad = w.file("bad-field.yaml", BAD_FIELD)
        w.run("unknown field refused (--validate=strict)", ["apply", "-f", bad, "--validate=strict"], want_exit=1,
              want_err=['unknown field "spec.replicass"'])
        w.run("unknown field refused (server dry run)", ["apply", "--dry-run=server", "--validate=strict", "-f", bad],
              want_exit=1, want_err=['unknown field "spec.replicass"'])
        badt = w.file("bad-type.yaml", BAD_TYPE)
        w.run("wrong type refused", ["apply", "--dry-run=server", "--validate=strict", "-f", badt], want_exit=1,
              want_err=["backoffLimit"])
        w.run("delete -f", ["delete", "-f", slice_file],
              want_out=['endpointslice.discovery.k8s.io "wf-slice" deleted'])
        if w.failures:
            print("%d of the kubectl steps failed: %s" % (len(w.failures), ", ".join(w.failures)))
            return 1
        print("every kubectl step behaved")
        return 0
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
