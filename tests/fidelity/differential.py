#!/usr/bin/env python3
"""Differential test: replays every case recorded from a real kube-apiserver 1.32 against
k8slb-fakeapi and compares the answers.

Usage: differential.py --binary build/fakeapi/server/k8slb-fakeapi [--corpus DIR] [--only FILE]
                       [--verbose]

For each file of the corpus (realapi/*.json, in the recorded order given by replay.json; files not
named there run afterwards in name order, so a new file is picked up without code changes) the
test replays the cases in order against one fakeapi process and compares, after the corpus's
normalisation (normalize.py): the status code, the compared headers (below), the body (JSON
field by field and in key order, Status objects included, text bodies, summarised bodies), and
for watches the event sequence, each event's time and how the stream ended. kubectl.json cases run
the installed kubectl and compare its exit code, output and the requests it sent.

A difference passes only if deviations.json documents it (file, case, field, why); a documented
deviation that no longer happens fails the test too, so the list stays true. The last line is
"N cases: M identical, K documented deviations".

Compared headers: Content-Type, Warning, X-Content-Type-Options, Cache-Control, Vary, Location,
Retry-After, Accept-Ranges, Etag (presence). Not compared: Date and Audit-Id (omitted by the
recording), X-Kubernetes-Pf-* (API Priority and Fairness is not emulated), Content-Length and
Transfer-Encoding (framing, not content), Expires and Last-Modified (times).
"""

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakeapi_client import FakeApi, find_kubectl  # noqa: E402
from normalize import Binding, Differences, Mismatch, compare_json  # noqa: E402
import summaries  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
COMPARED_HEADERS = ["Content-Type", "Warning", "X-Content-Type-Options", "Cache-Control", "Vary", "Location",
                    "Retry-After", "Accept-Ranges"]
PRESENCE_HEADERS = ["Etag"]
TEST_USER_AGENT = "test-client/1.0"
BAD_TOKEN = "not-a-token-this-server-issued"
MAX_HELD_S = 120  # server seconds a plain request may be held before the case fails


class CaseResult:
    def __init__(self, fname, index, name):
        self.fname = fname
        self.index = index
        self.name = name
        self.diffs = Differences()
        self.documented = []   # (path, message, why)
        self.error = None      # harness-level problem (not a fakeapi difference)

    @property
    def identical(self):
        return not self.diffs and self.error is None


# ---------------------------------------------------------------------------------------------
# Expressions in replay.json templates ("{i+1000}", "{i//250+20}", "{str(i)}"): integers, + - * // %
# and str() only.

def _eval_int(expr, i):
    tree = ast.parse(expr, mode="eval")

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.Name) and node.id == "i":
            return i
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "str" and \
                len(node.args) == 1 and not node.keywords:
            return str(ev(node.args[0]))
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod)):
            a, b = ev(node.left), ev(node.right)
            return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b,
                    ast.FloorDiv: a // b if b else 0, ast.Mod: a % b if b else 0}[type(node.op)]
        raise ValueError("unsupported expression %r in replay.json" % expr)
    return ev(tree)


def expand_template(value, i):
    """Replaces "{expr}" in strings; a string that is exactly "{expr}" becomes its value (an integer,
    or a string for "{str(...)}")."""
    if isinstance(value, str):
        m = re.fullmatch(r"\{([^{}]+)\}", value)
        if m:
            return _eval_int(m.group(1), i)
        return re.sub(r"\{([^{}]+)\}", lambda mm: str(_eval_int(mm.group(1), i)), value)
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, dict) and "$repeat" in item:
                for j in range(item["$repeat"]):
                    out.append(expand_template(item["item"], j))
            else:
                out.append(expand_template(item, i))
        return out
    if isinstance(value, dict):
        return {k: expand_template(v, i) for k, v in value.items()}
    return value


def with_times(value):
    """A recorded request body names times as <time> (a client-chosen time: any will do)."""
    if isinstance(value, str):
        return value.replace("<time>", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    if isinstance(value, list):
        return [with_times(v) for v in value]
    if isinstance(value, dict):
        return {k: with_times(v) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------------

class Replayer:
    def __init__(self, server, replay, corpus, verbose):
        self.server = server
        self.replay = replay
        self.corpus = corpus
        self.verbose = verbose
        self.binding = None
        self.fname = None
        self.kubectl_cache = None
        self.concurrent = {}  # case name -> open watch state (controller-style long watches)

    # ---- identities and requests ----
    def authorization(self, recorded):
        if recorded is None or recorded == "<none>":
            return None
        return (recorded.replace("<admin>", self.server.admin_token)
                .replace("<restricted>", self.server.sa_token)
                .replace("<bad>", BAD_TOKEN))

    def build_request(self, req, key):
        method = req["method"]
        pick = self.replay.get("continue_token", {}).get(key)
        if pick is not None:
            # The recording reused an older token than the latest (which <continue> means).
            if not 1 <= pick <= len(self.binding.continue_tokens):
                raise Mismatch("replay.json continue_token %d: only %d tokens bound so far" %
                               (pick, len(self.binding.continue_tokens)))
            self.binding.continue_token = self.binding.continue_tokens[pick - 1]
        override = self.replay.get("paths", {}).get(key)
        path = override if override is not None else self.binding.concrete(req["path"], "path")
        headers = []
        for k, v in req.get("headers", {}).items():
            if k == "Authorization":
                a = self.authorization(v)
                if a is not None:
                    headers.append((k, a))
            else:
                headers.append((k, self.binding.concrete(v, "header " + k) if k.startswith("Impersonate") else v))
        body = None
        raw = self.replay.get("raw_bodies", {}).get(key)
        if raw is not None:
            # A body the recording kept only parsed (a duplicate key is lost in parsing).
            body = raw.encode()
        elif "body_text" in req:
            body = self.binding.concrete(req["body_text"], "request body").encode()
        elif "body_summary" in req:
            gen = self.replay.get("bodies", {}).get(key)
            if gen is None:
                raise Mismatch("no generator for the summarised request body of this case (add one to "
                               "replay.json \"bodies\"): %s" % req["body_summary"])
            body = json.dumps(expand_template(gen, 0)).encode()
        elif req.get("body") is not None:
            body = json.dumps(with_times(self.binding.concrete_json(req["body"]))).encode()
        return method, path, headers, body

    def send(self, method, path, headers, body, elapsed=None):
        """Sends one request; if fakeapi holds it (a timed wait), advances the clock until it answers.
        Returns (response, seconds of server time the answer took)."""
        result = {}

        def run():
            result["r"] = self.server.request(method, path, headers, body)
        t0 = self.server.now()
        th = threading.Thread(target=run)
        th.start()
        waited = 0.0
        start = time.monotonic()
        deadline = start + 30
        while th.is_alive() and time.monotonic() < deadline:
            th.join(0.02)
            if not th.is_alive():
                break
            pending = self.server.state().get("pendingRequests", [])
            if pending:
                due = min(float(p["due"]) for p in pending)
                step = max(0.0, due - self.server.now())
                self.server.advance(step if step > 0 else 0.001)
                waited = self.server.now() - t0
            elif time.monotonic() - start > 0.3 and self.server.now() - t0 < MAX_HELD_S:
                # Held on a timer /fake/state does not list (a watch's deadline when the
                # recorded request turned out to be a watch): let server time pass in small steps.
                self.server.advance(0.25)
                waited = self.server.now() - t0
        th.join(30)
        if "r" not in result:
            raise Mismatch("fakeapi did not answer %s %s" % (method, path))
        return result["r"], waited

    # ---- comparisons ----
    def compare_headers(self, expected_headers, resp, diffs, skip=()):
        exp = {}
        for k, v in expected_headers:
            exp.setdefault(k.lower(), []).append(v)
        for name in COMPARED_HEADERS:
            if name in skip:
                continue
            e = exp.get(name.lower(), [])
            a = resp.header_all(name)
            if name == "Location" and e and a:
                e = [re.sub(r"hash=[0-9A-F]+", "hash=<hash>", x) for x in e]
                a = [re.sub(r"hash=[0-9A-F]+", "hash=<hash>", x) for x in a]
            if len(e) != len(a):
                diffs.add("header." + name, "expected %s, got %s" % (e, a))
                continue
            for ev, av in zip(e, a):
                try:
                    self.binding.match_string(ev, av)
                except Mismatch as m:
                    diffs.add("header." + name, str(m))
        for name in PRESENCE_HEADERS:
            if (name.lower() in exp) != (resp.header(name) is not None):
                diffs.add("header." + name, "expected %s, got %s" % (
                    "present" if name.lower() in exp else "absent", "present" if resp.header(name) else "absent"))

    def compare_body(self, expected, resp, diffs):
        text = resp.body.decode("utf-8", errors="replace")
        if "body" in expected and expected["body"] is not None:
            try:
                actual = json.loads(text)
            except ValueError:
                diffs.add("body", "expected JSON, got %r" % text[:200])
                return
            compare_json(self.binding, expected["body"], actual, "body", diffs)
            fmt = expected.get("body_format")
            if fmt == "json-pretty" and "\n  " not in text:
                diffs.add("body{format}", "expected pretty-printed JSON")
            if fmt == "json-compact" and text.rstrip("\n").count("\n") > 0:
                diffs.add("body{format}", "expected compact JSON")
            if "trailing_newline" in expected and expected["trailing_newline"] != text.endswith("\n"):
                diffs.add("body{newline}", "expected %s trailing newline" %
                          ("a" if expected["trailing_newline"] else "no"))
        elif "body_text" in expected:
            try:
                self.binding.match_string(expected["body_text"], text)
            except Mismatch as m:
                diffs.add("body", str(m))
        elif "body_summary" in expected and expected["body_summary"] is not None:
            summaries.compare(self.binding, expected["body_summary"], resp, text, diffs)
        elif expected.get("status") is not None and text and expected.get("body") is None and \
                "body_bytes" not in expected:
            pass

    # ---- one plain request case ----
    def run_request_case(self, case, key, result):
        req = case["request"]
        method, path, headers, body = self.build_request(req, key)
        expected = case["response"]
        resp, waited = self.send(method, path, headers, body)
        diffs = result.diffs
        if expected.get("error"):
            if not resp.closed_without_response:
                diffs.add("status", "expected the connection to close without an answer (%s), got %s"
                          % (expected["error"], resp.status))
            return
        if resp.closed_without_response:
            diffs.add("status", "fakeapi closed the connection without an answer")
            return
        if resp.status != expected["status"]:
            diffs.add("status", "expected %s, got %s" % (expected["status"], resp.status))
        self.compare_headers(expected.get("headers", []), resp, diffs)
        self.compare_body(expected, resp, diffs)
        want = expected.get("elapsed_s")
        if want is not None and abs(waited - want) > max(0.6, 0.1 * want):
            diffs.add("elapsed", "expected the answer after %.1f s, fakeapi took %.1f s" % (want, waited))
        if want is None and waited > 1.0:
            diffs.add("elapsed", "expected an immediate answer, fakeapi took %.1f s" % waited)

    # ---- one watch case ----
    def run_watch_case(self, case, key, result, replay_steps):
        req = case["request"]
        method, path, headers, body = self.build_request(req, key)
        tag = "w%d" % id(case)
        headers = list(headers) + [("X-K8slb-Watch-Tag", tag)]
        expected = case["response"]
        diffs = result.diffs
        t0 = self.server.now()
        stream = self.server.open_stream(path, headers)
        try:
            if stream.status != 200 or "not a stream" in case.get("end", ""):
                data = stream.resp.read()
                from fakeapi_client import Response
                resp = Response(stream.status, stream.resp.reason, stream.headers, data)
                if resp.status != expected["status"]:
                    diffs.add("status", "expected %s, got %s" % (expected["status"], resp.status))
                self.compare_headers(expected.get("headers", []), resp, diffs)
                self.compare_body(expected, resp, diffs)
                return
            if expected["status"] != 200:
                diffs.add("status", "expected %s, got a 200 stream" % expected["status"])
            from fakeapi_client import Response
            self.compare_headers(expected.get("headers", []),
                                 Response(stream.status, "", stream.headers, b""), diffs)
            steps = sorted([dict(s, _recorded=True) for s in case.get("steps", []) if "method" in s] +
                           [dict(s, _recorded=False) for s in replay_steps], key=lambda s: s["t"])
            for s in steps:
                self.advance_to(t0 + s["t"])
                self.run_step(s, diffs)
            end = case.get("end", "")
            m = re.search(r"after ([\d.]+) s", end)
            end_t = float(m.group(1)) if m else max([e.get("t", 0) for e in case["events"]] + [0])
            self.advance_to(t0 + end_t)
            self.finish_watch(stream, tag, case, t0, diffs)
        finally:
            stream.close()

    def advance_to(self, t):
        now = self.server.now()
        if t > now + 1e-6:
            self.server.advance(t - now)

    def run_step(self, s, diffs):
        action = s.get("action", "")
        body = s.get("body")
        ct = "application/json"
        if s["method"] == "PATCH":
            ct = s.get("content_type") or ("application/json-patch+json" if isinstance(body, list)
                                           else "application/merge-patch+json")
        headers = [("Accept", "application/json"), ("Authorization", "Bearer " + self.server.admin_token),
                   ("User-Agent", TEST_USER_AGENT)]
        data = None
        if body is not None:
            headers.append(("Content-Type", ct))
            data = json.dumps(self.binding.concrete_json(body)).encode()
        path = self.binding.concrete(s["path"], "step path")
        resp, _ = self.send(s["method"], path, headers, data)
        where = "step %r" % action
        if "status" in s and resp.status != s["status"]:
            diffs.add(where, "expected status %s, got %s: %s" % (s["status"], resp.status, resp.body[:300]))
            return
        if s.get("resourceVersion"):
            try:
                rv = resp.json()["metadata"]["resourceVersion"]
                self.binding.match_string(s["resourceVersion"], rv)
            except (Mismatch, KeyError, ValueError) as e:
                diffs.add(where, "resourceVersion: %s" % e)

    def finish_watch(self, stream, tag, case, t0, diffs):
        state = self.server.watch_state(tag)
        if state is None:
            diffs.add("events", "fakeapi has no record of this watch stream")
            return
        stream.read_lines(state["lines"])
        if state["ended"]:
            stream.read_to_end()
        lines = stream.lines
        events = []
        for i, line in enumerate(lines):
            try:
                events.append(json.loads(line))
            except ValueError:
                events.append({"type": "<not JSON>", "raw": line})
        expected = case["events"]
        if len(events) != len(expected):
            diffs.add("events", "expected %d events %s, got %d %s" % (
                len(expected), [e["type"] for e in expected][:12], len(events),
                [e.get("type") for e in events][:12]))
        times = state.get("times", [])
        for i, (e, a) in enumerate(zip(expected, events)):
            p = "events[%d]" % i
            if e["type"] != a.get("type"):
                diffs.add(p + ".type", "expected %s, got %s" % (e["type"], a.get("type")))
            if "object" in e:
                compare_json(self.binding, e["object"], a.get("object"), p + ".object", diffs)
            else:
                obj = a.get("object") or {}
                meta = obj.get("metadata") or {}
                for field in ("name", "resourceVersion"):
                    if field in e:
                        try:
                            self.binding.match_string(e[field], meta.get(field))
                        except Mismatch as m:
                            diffs.add(p + "." + field, str(m))
            if i < len(times):
                t = float(times[i]) - t0
                if abs(t - e["t"]) > max(0.6, 0.05 * e["t"]):
                    diffs.add(p + ".t", "expected at %.1f s, fakeapi sent it at %.1f s" % (e["t"], t))
        if "raw_lines" in case:
            for i, (e, a) in enumerate(zip(case["raw_lines"], lines)):
                try:
                    self.binding.match_string(e, a)
                except Mismatch as m:
                    diffs.add("raw_lines[%d]" % i, str(m))
        end = case.get("end", "")
        server_ended = end.startswith("server ended")
        if server_ended != bool(state["ended"]):
            diffs.add("end", "expected: %s; fakeapi %s" % (end, "ended the stream" if state["ended"]
                                                         else "kept the stream open"))
        if state["ended"] and not stream.eof:
            diffs.add("end", "fakeapi reports the stream ended but the body did not end")

    # ---- setup steps and replay.json actions ----
    def run_actions(self, actions, where):
        for a in actions:
            kind = a.get("action", "request")
            if kind == "advance":
                self.server.advance(a["seconds"])
            elif kind == "compact":
                self.server.control("POST", "/fake/faults/compact")
            elif kind == "repeat":
                for i in range(a["count"]):
                    self.run_actions([expand_template(a["request"], i)], where)
            elif kind == "request":
                headers = [("Accept", "application/json"),
                           ("Authorization", "Bearer " + self.server.admin_token),
                           ("User-Agent", a.get("user_agent", TEST_USER_AGENT))]
                body = None
                if "body" in a:
                    headers.append(("Content-Type", a.get("content_type", "application/json")))
                    body = json.dumps(self.binding.concrete_json(a["body"])).encode()
                r, _ = self.send(a["method"], self.binding.concrete(a["path"]), headers, body)
                want = a.get("status")
                if want is not None and r.status != want:
                    raise RuntimeError("%s: replay step %s %s answered %s (want %s): %s" % (
                        where, a["method"], a["path"], r.status, want, r.body[:400]))
            elif kind == "delete_all":
                headers = [("Accept", "application/json"), ("Authorization", "Bearer " + self.server.admin_token),
                           ("User-Agent", TEST_USER_AGENT)]
                r, _ = self.send("GET", a["path"], headers, None)
                names = sorted(i["metadata"]["name"] for i in json.loads(r.body)["items"])
                for n in names:
                    self.send("DELETE", a["path"] + "/" + n, headers, None)
            else:
                raise RuntimeError("%s: unknown replay action %r" % (where, kind))

    # ---- kubectl cases ----
    def run_kubectl_case(self, case, key, result):
        import kubectl_cases
        kubectl_cases.run(self, case, key, result)

    # ---- a whole file ----
    def run_file(self, fname, results):
        self.fname = fname
        self.binding = Binding(self.server.address)
        cfg = self.replay.get("files", {}).get(fname, {})
        with open(os.path.join(self.corpus, fname)) as f:
            cases = json.load(f)
        self.run_actions(cfg.get("before", []), fname + " before")
        inserted = cfg.get("steps", {})
        insert_before = cfg.get("insert_before", {})
        for i, case in enumerate(cases):
            name = case["case"]
            key = fname + "::" + name
            result = CaseResult(fname, i, name)
            for pre in (insert_before.get(name), insert_before.get("#%d" % i)):
                if pre:
                    self.run_actions(pre, key + " (insert_before)")
            try:
                if "command" in case:
                    self.run_kubectl_case(case, key, result)
                elif "request" not in case:
                    actions = self.replay.get("setup", {}).get(key)
                    if actions is None:
                        raise RuntimeError("setup step without request and no action in replay.json "
                                           "\"setup\": %r" % key)
                    self.run_actions(actions, key)
                    continue
                elif "events" in case:
                    self.run_watch_case(case, key, result, inserted.get(name, []))
                else:
                    self.run_request_case(case, key, result)
            except Mismatch as m:
                result.diffs.add("request", str(m))
            results.append(result)
            if self.verbose:
                print("%s #%d %s: %s" % (fname, i, name, "identical" if result.identical else
                                         "; ".join("%s: %s" % d for d in result.diffs.items[:3])))
        self.run_actions(cfg.get("after", []), fname + " after")


DEVIATION_KINDS = {
    "production": "the recorded server is specific (etcd 3.4, few controllers); fakeapi does what a production 1.32 cluster with etcd 3.5 does",
    "scope": "outside what fakeapi emulates (the kinds, groups and encodings it serves)",
    "own-text": "documentation prose: fakeapi writes its own descriptions instead of copying Kubernetes' strings",
    "replay": "the replay cannot reproduce the recording's timing, client-side state or lost input",
    "gap": "fakeapi differs and should not: a known gap, to be fixed",
}


def _pattern(text):
    """A deviation's case or field: exact text, where `*` matches anything and `[*]` any index."""
    rx = re.escape(text).replace(r"\[\*\]", r"\[\d+\]").replace(r"\*", ".*")
    return re.compile(rx)


def _field_matches(pattern, path):
    if pattern == "*":
        return True
    rx = _pattern(pattern)
    m = rx.match(path)
    return m is not None and (m.end() == len(path) or path[m.end()] in ".[{")


def apply_deviations(results, deviations):
    used = [False] * len(deviations)
    for r in results:
        if r.identical:
            continue
        # Entries naming the case exactly, else those whose pattern matches it (case names may
        # contain "*" themselves: "GET /apis (Accept: */*)").
        entries = [(i, d) for i, d in enumerate(deviations) if d["file"] == r.fname and d["case"] == r.name]
        if not entries:
            entries = [(i, d) for i, d in enumerate(deviations)
                       if d["file"] == r.fname and _pattern(d["case"]).fullmatch(r.name)]
        uncovered = []
        for path, msg in r.diffs.items:
            hit = None
            for i, d in entries:
                if _field_matches(d["field"], path):
                    hit = (i, d)
                    break
            if hit is None:
                uncovered.append((path, msg))
            else:
                used[hit[0]] = True
                r.documented.append((path, msg, hit[1]))
        r.diffs.items = uncovered
    stale = [deviations[i] for i, u in enumerate(used) if not u]
    return stale


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True, help="k8slb-fakeapi")
    ap.add_argument("--corpus", default=os.path.join(HERE, "realapi"))
    ap.add_argument("--replay", default=os.path.join(HERE, "replay.json"))
    ap.add_argument("--deviations", default=os.path.join(HERE, "deviations.json"))
    ap.add_argument("--kubectl", default="kubectl")
    ap.add_argument("--only", action="append", help="replay only this file (repeatable)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    with open(args.replay) as f:
        replay = json.load(f)
    with open(args.deviations) as f:
        deviations = json.load(f)["deviations"]
    for d in deviations:
        for k in ("file", "case", "field", "kind", "why"):
            if not d.get(k):
                print("deviations.json: entry %r lacks %r" % (d, k))
                return 2
        if d["kind"] not in DEVIATION_KINDS:
            print("deviations.json: entry %r: kind must be one of %s" % (d, ", ".join(DEVIATION_KINDS)))
            return 2
    files = sorted(f for f in os.listdir(args.corpus) if f.endswith(".json"))
    order = [f for f in replay.get("order", []) if f in files] + \
            [f for f in files if f not in replay.get("order", [])]
    if args.only:
        order = [f for f in order if f in args.only]

    server = FakeApi(args.binary, replay.get("server_args", []))
    results = []
    try:
        rep = Replayer(server, replay, args.corpus, args.verbose)
        rep.kubectl = find_kubectl(args.kubectl)
        if rep.kubectl is None and "kubectl.json" in order:
            # Its cases compare what kubectl does; without kubectl there is nothing to compare.
            print("kubectl not found: the kubectl.json cases are not run")
            order.remove("kubectl.json")
        for fname in order:
            rep.run_file(fname, results)
    finally:
        server.stop()

    relevant = [d for d in deviations if d["file"] in order]
    stale = apply_deviations(results, relevant)
    failed = [r for r in results if r.diffs or r.error]
    for r in failed:
        print("FAIL %s #%d %s" % (r.fname, r.index, r.name))
        for path, msg in r.diffs.items[:12]:
            print("    %s: %s" % (path, msg))
        if len(r.diffs.items) > 12:
            print("    ... %d more" % (len(r.diffs.items) - 12))
    for d in stale:
        print("STALE deviation (the difference no longer happens; remove it): %s :: %s :: %s" %
              (d["file"], d["case"], d["field"]))
    identical = sum(1 for r in results if not r.diffs and not r.documented and r.error is None)
    documented = [r for r in results if not r.diffs and r.documented and r.error is None]
    if args.verbose:
        for r in documented:
            print("DEVIATION %s #%d %s" % (r.fname, r.index, r.name))
            for path, msg, d in r.documented[:6]:
                print("    [%s] %s: %s" % (d["kind"], path, msg))
    # A case counts under the most serious kind among its documented differences.
    rank = {k: i for i, k in enumerate(["own-text", "scope", "production", "replay", "gap"])}
    by_kind = {}
    for r in documented:
        kind = max((d["kind"] for _, _, d in r.documented), key=lambda k: rank[k])
        by_kind[kind] = by_kind.get(kind, 0) + 1
    print("%d cases: %d identical, %d documented deviations%s" % (
        len(results), identical, len(documented),
        (", %d failing" % len(failed)) if failed else ""))
    if by_kind:
        print("documented deviations by kind: %s" % ", ".join(
            "%s %d" % (k, by_kind[k]) for k in sorted(by_kind, key=lambda k: rank[k])))
    return 1 if failed or stale else 0


if __name__ == "__main__":
    sys.exit(main())
