"""A k8slb-fakeapi process for the differential test, and raw HTTPS requests to it.

The server runs with --manual-clock: its protocol timers (watch deadlines, bookmarks, the wait
before a "too large resource version" answer, the watch cache window, the model's clock) advance
only when the test says so (POST /fake/clock/advance), so the replay is deterministic and a
recorded 75 s watch takes no time. Every wait on the server is bounded by SOCKET_TIMEOUT_S: a
server that does not answer fails the case instead of hanging the test.
"""

import base64
import http.client
import json
import os
import re
import signal
import ssl
import subprocess
import tempfile
import time

SOCKET_TIMEOUT_S = 30


def find_kubectl(name, minor="1.32"):
    """The kubectl to run: `name` on PATH, or None. The Google Cloud SDK installs a dispatcher as
    kubectl that first asks the server's /version to choose one of the kubectl.1.NN binaries
    beside it; the recorded requests are those of kubectl 1.32 itself, so that one is used
    directly when it is there."""
    import shutil
    found = shutil.which(name)
    if found is None:
        return None
    sibling = os.path.join(os.path.dirname(os.path.realpath(found)), "kubectl." + minor)
    if os.path.basename(name) == "kubectl" and os.access(sibling, os.X_OK):
        return sibling
    return found


class Response:
    def __init__(self, status, reason, headers, body, closed_without_response=False):
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)] in the order received
        self.body = body        # bytes
        self.closed_without_response = closed_without_response

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class WatchStream:
    """An open streaming GET: lines are read on demand (the server says how many it queued)."""

    def __init__(self, conn, resp):
        self.conn = conn
        self.resp = resp
        self.status = resp.status
        self.headers = resp.getheaders()
        self.lines = []
        self.eof = False

    def read_lines(self, n):
        while len(self.lines) < n and not self.eof:
            line = self.resp.readline()
            if not line:
                self.eof = True
                break
            self.lines.append(line.decode("utf-8"))
        return self.lines

    def read_to_end(self):
        while not self.eof:
            line = self.resp.readline()
            if not line:
                self.eof = True
                break
            self.lines.append(line.decode("utf-8"))
        return self.lines

    def close(self):
        try:
            self.conn.close()
        except OSError:
            pass


class FakeApi:
    def __init__(self, binary, extra_args=()):
        self.dir = tempfile.mkdtemp(prefix="k8slb-fidelity-")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        self.sa_dir = os.path.join(self.dir, "sa")
        self.log_path = os.path.join(self.dir, "server.log")
        args = [binary, "--listen", "127.0.0.1:0", "--write-kubeconfig", self.kubeconfig,
                "--serviceaccount-dir", self.sa_dir, "--manual-clock"] + list(extra_args)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + SOCKET_TIMEOUT_S
        port = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("k8slb-fakeapi exited: " + open(self.log_path).read())
            m = re.search(r"serving https://127\.0\.0\.1:(\d+)", open(self.log_path).read())
            if m:
                port = int(m.group(1))
                break
            time.sleep(0.02)
        if port is None:
            self.stop()
            raise RuntimeError("k8slb-fakeapi did not start: " + open(self.log_path).read())
        self.port = port
        self.address = "127.0.0.1:%d" % port
        kc = open(self.kubeconfig).read()
        ca = base64.b64decode(re.search(r"certificate-authority-data: (\S+)", kc).group(1)).decode()
        self.admin_token = re.search(r"token: (\S+)", kc).group(1)
        self.sa_token = open(os.path.join(self.sa_dir, "token")).read().strip()
        self.ssl = ssl.create_default_context(cadata=ca)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def _conn(self):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ssl, timeout=SOCKET_TIMEOUT_S)

    def _send(self, conn, method, path, headers, body):
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", self.address)
        for k, v in headers:
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)

    def request(self, method, path, headers=(), body=None):
        conn = self._conn()
        try:
            self._send(conn, method, path, headers, body)
            try:
                resp = conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError):
                return Response(None, None, [], b"", closed_without_response=True)
            data = resp.read() if method != "HEAD" else b""
            return Response(resp.status, resp.reason, resp.getheaders(), data)
        finally:
            conn.close()

    def open_stream(self, path, headers=()):
        conn = self._conn()
        self._send(conn, "GET", path, headers, None)
        resp = conn.getresponse()
        return WatchStream(conn, resp)

    # ---- control endpoints (admin token) ----
    def control(self, method, path):
        r = self.request(method, path, [("Authorization", "Bearer " + self.admin_token)])
        if r.status != 200:
            raise RuntimeError("%s %s: %s %s" % (method, path, r.status, r.body[:300]))
        return json.loads(r.body)

    def advance(self, seconds):
        if seconds > 0:
            self.control("POST", "/fake/clock/advance?seconds=%.3f" % seconds)

    def now(self):
        return float(self.control("GET", "/fake/clock")["now"])

    def state(self):
        return self.control("GET", "/fake/state")

    def watch_state(self, tag):
        for w in self.state().get("watchStreams", []):
            if w.get("tag") == tag:
                return w
        return None

    def requests_since(self, seq):
        return self.control("GET", "/fake/requests?since=%d" % seq)["requests"]
