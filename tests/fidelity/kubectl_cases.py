"""kubectl.json cases: runs the installed kubectl against fakeapi and compares its exit code, its
output and the requests it sent (fakeapi's request journal, GET /fake/requests) with the recorded
run of kubectl v1.32 against the real server.

A "(restricted identity)" command runs with the service-account token (list and watch of
endpointslices in default only). Every command shares one discovery cache directory, created with
the first case ("fresh discovery cache"), as the recording did. A command recorded as "killed
after N s" (a watch) runs until its requests and output lines have arrived, then is killed.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

from normalize import Mismatch

KILL_WAIT_S = 20


def _kubeconfig(path, server, token):
    with open(path, "w") as f:
        f.write("apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: https://%s\n"
                "    certificate-authority-data: %s\nusers:\n- name: u\n  user:\n    token: %s\n"
                "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: u\n    namespace: default\n"
                "current-context: fake\n" % (server.address, _ca_data(server), token))


def _ca_data(server):
    kc = open(server.kubeconfig).read()
    return re.search(r"certificate-authority-data: (\S+)", kc).group(1)


def _argv(command):
    cmd = command
    restricted = cmd.endswith(" (restricted identity)")
    if restricted:
        cmd = cmd[:-len(" (restricted identity)")]
    # The recorded command is a display string: a -p value (JSON) runs to the end of the line.
    patch = None
    if " -p " in cmd:
        cmd, patch = cmd.split(" -p ", 1)
    argv = cmd.split()
    if patch is not None:
        argv += ["-p", patch]
    return argv, restricted


def _normalise_path(path):
    return re.sub(r"hash=[0-9A-F]+", "hash=<hash>", path)


def run(rep, case, key, result):
    server = rep.server
    diffs = result.diffs
    if rep.kubectl_cache is None:
        rep.kubectl_dir = tempfile.mkdtemp(prefix="k8slb-fidelity-kubectl-")
        rep.kubectl_cache = os.path.join(rep.kubectl_dir, "cache")
        _kubeconfig(os.path.join(rep.kubectl_dir, "admin.kubeconfig"), server, server.admin_token)
        _kubeconfig(os.path.join(rep.kubectl_dir, "restricted.kubeconfig"), server, server.sa_token)
    argv, restricted = _argv(case["command"])
    if argv[0] != "kubectl":
        raise Mismatch("kubectl.json command does not start with kubectl: %r" % case["command"])
    work = tempfile.mkdtemp(prefix="case-", dir=rep.kubectl_dir)
    if "input_file" in case:
        with open(os.path.join(work, "slice.json"), "w") as f:
            json.dump(case["input_file"], f)
    kubeconfig = os.path.join(rep.kubectl_dir, "restricted.kubeconfig" if restricted else "admin.kubeconfig")
    env = dict(os.environ, HOME=work, KUBECONFIG=kubeconfig)
    cmd = [rep.kubectl] + argv[1:] + ["--cache-dir", rep.kubectl_cache]
    seq = server.control("GET", "/fake/requests?since=0")["next"]
    killed = isinstance(case["exit_code"], str) and case["exit_code"].startswith("killed")
    if killed:
        want_requests = len(case["requests"])
        want_lines = case["stdout"].count("\n")
        out_path = os.path.join(work, "stdout")
        with open(out_path, "w") as out, open(os.path.join(work, "stderr"), "w") as err:
            proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=out, stderr=err)
            deadline = time.monotonic() + KILL_WAIT_S
            while time.monotonic() < deadline and proc.poll() is None:
                got = server.requests_since(seq)
                if len(got) >= want_requests and open(out_path).read().count("\n") >= want_lines:
                    break
                time.sleep(0.05)
            exited = proc.poll()
            if exited is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(10)
        stdout = open(out_path).read()
        stderr = open(os.path.join(work, "stderr")).read()
        if exited is not None:
            diffs.add("exit_code", "expected kubectl to keep watching, it exited with %d: %s" % (exited, stderr[-300:]))
    else:
        p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=60)
        stdout, stderr = p.stdout, p.stderr
        if p.returncode != case["exit_code"]:
            diffs.add("exit_code", "expected %s, got %d (stderr: %s)" % (case["exit_code"], p.returncode,
                                                                         stderr.strip()[-400:]))
    try:
        rep.binding.match_string(case["stdout"], stdout)
    except Mismatch as m:
        diffs.add("stdout", str(m))
    # The recorded stderr keeps a fragment of the previous output before the message; compare
    # the message lines.
    want_err = [l for l in case["stderr"].splitlines() if l and l != "}]"]
    got_err = [l for l in stderr.splitlines() if l]
    if want_err != got_err:
        diffs.add("stderr", "expected %r, got %r" % (want_err, got_err[-5:]))
    got = server.requests_since(seq)
    want = case["requests"]
    # The sequence must match in methods and in paths up to the recorded resourceVersions (RVn),
    # which the per-request comparison below binds.
    def shape(path):
        return re.sub(r"resourceVersion=(RV)?\d+", "resourceVersion=<rv>", _normalise_path(path))
    if [(r["method"], shape(r["path"])) for r in want] != \
            [(r["method"], shape(r["target"])) for r in got][:len(want)] or len(got) != len(want):
        diffs.add("requests", "expected %s, got %s" % (
            [(r["method"], r["path"]) for r in want], [(r["method"], r["target"]) for r in got]))
        return
    for i, (w, g) in enumerate(zip(want, got)):
        p = "requests[%d]" % i
        try:
            rep.binding.match_string(_normalise_path(w["path"]), _normalise_path(g["target"]))
        except Mismatch as m:
            diffs.add(p + ".path", str(m))
        status = int(w["status"].split()[0])
        if status != g["status"]:
            diffs.add(p + ".status", "expected %d, got %d" % (status, g["status"]))
        if w.get("response Content-Type", "") != g.get("contentType", ""):
            diffs.add(p + ".contentType", "expected %r, got %r" % (w.get("response Content-Type"),
                                                                g.get("contentType")))
