"""Normalisation of fakeapi's answers against the recorded ones (realapi/README.md "Normalization").

The recording replaced server-chosen values by placeholders: RV<n> (numbered per file in increasing
order of the real values), UID<n> (order of first appearance), <time>, <http-date>, <age>,
<prefix><gen> (generateName suffixes), <continue>, <clusterIP>, <server-address>, <gitCommit>,
<uid>. Instead of renumbering our side the same way, a Binding unifies each placeholder with the
value fakeapi sent, the first time it appears, and checks every later use against it:

- RV<n> binds one resourceVersion; the binding must be one-to-one and order-preserving (RVa < RVb
  exactly when the values compare so), which is what the renumbering keeps of the real values.
- UID<n> binds one uid, one-to-one.
- <prefix><gen> binds a generated name (prefix plus five characters).
- <continue> binds the latest continue token (requests reuse the most recent one).
- <time>, <http-date>, <age>, <clusterIP>, <gitCommit>, <uid> match any well-formed value.

The same Binding maps placeholders in recorded requests back to fakeapi's values.
"""

import re

RV_RE = re.compile(r"RV(\d+)")
UID_RE = re.compile(r"UID(\d+)")
GEN_RE = re.compile(r"([a-z0-9.-]*)<gen>")

TIME_PATTERN = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z"
HTTP_DATE_PATTERN = r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT"
AGE_PATTERN = r"(?:\d+[smhdy])+|<invalid>|<unknown>"
UUID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
IP_PATTERN = r"[0-9a-fA-F.:]+"
GEN_SUFFIX_PATTERN = r"[bcdfghjklmnpqrstvwxz2456789]{5}"

# Placeholders, longest first, with the regular expression for what fakeapi may send in their place.
TOKEN_RE = re.compile(
    r"RV\d+|UID\d+|<time>|<http-date>|<age>|<continue>|<clusterIP>|<server-address>|<gitCommit>|<uid>"
    r"|[a-z0-9.-]*<gen>")


class Mismatch(Exception):
    pass


class Binding:
    """Placeholder <-> fakeapi value, for one recorded file."""

    def __init__(self, server_address):
        self.rv = {}         # label number -> int value
        self.rv_back = {}    # int value -> label number
        self.uid = {}        # label number -> uid string
        self.uid_back = {}
        self.gen = {}        # "prefix<gen>" -> name
        self.gen_back = {}
        self.continue_token = None
        self.continue_tokens = []  # every token bound, in order (replay.json "continue_token" picks one)
        self.server_address = server_address

    # ---- binding ----
    def bind_rv(self, label, value):
        try:
            v = int(value)
        except (TypeError, ValueError):
            raise Mismatch("RV%d: fakeapi sent resourceVersion %r, not a decimal" % (label, value))
        if label in self.rv:
            if self.rv[label] != v:
                raise Mismatch("RV%d is %d earlier, fakeapi sent %d here" % (label, self.rv[label], v))
            return
        if v in self.rv_back:
            raise Mismatch("fakeapi sent %d for RV%d, but %d was RV%d earlier" % (v, label, v, self.rv_back[v]))
        for other, ov in self.rv.items():
            if (other < label) != (ov < v):
                raise Mismatch("resourceVersion order: RV%d=%d and RV%d=%d compare the other way round"
                               % (label, v, other, ov))
        self.rv[label] = v
        self.rv_back[v] = label

    def bind_uid(self, label, value):
        if label in self.uid:
            if self.uid[label] != value:
                raise Mismatch("UID%d is %s earlier, fakeapi sent %s here" % (label, self.uid[label], value))
            return
        if value in self.uid_back:
            raise Mismatch("fakeapi sent uid %s for UID%d, but it was UID%d earlier"
                           % (value, label, self.uid_back[value]))
        self.uid[label] = value
        self.uid_back[value] = label

    def bind_gen(self, token, value):
        prefix = token[:-len("<gen>")]
        if not value.startswith(prefix) or not re.fullmatch(GEN_SUFFIX_PATTERN, value[len(prefix):]):
            raise Mismatch("%r is not a name generated from %r" % (value, prefix))
        if token in self.gen and self.gen[token] != value:
            # A later object from the same generateName: the recording cannot tell them apart.
            self.gen[token] = value
        self.gen[token] = value
        self.gen_back[value] = token

    # ---- matching one recorded string against one sent string ----
    def match_string(self, expected, actual):
        """Raises Mismatch unless `actual` is `expected` with placeholders filled in."""
        if not isinstance(actual, str):
            raise Mismatch("expected a string %s, got %s" % (_short(expected), _short(actual)))
        if not TOKEN_RE.search(expected):
            if expected != actual:
                raise Mismatch("expected %s, got %s" % (_short(expected), _short(actual)))
            return
        parts = []
        kinds = []
        pos = 0
        for m in TOKEN_RE.finditer(expected):
            parts.append(re.escape(expected[pos:m.start()]))
            tok = m.group(0)
            if tok.startswith("RV"):
                parts.append(r"(\d+)")
            elif tok.startswith("UID"):
                parts.append(r"([0-9a-z-]+)")
            elif tok == "<time>":
                parts.append("(" + TIME_PATTERN + ")")
            elif tok == "<http-date>":
                parts.append("(" + HTTP_DATE_PATTERN + ")")
            elif tok == "<age>":
                parts.append("(" + AGE_PATTERN + ")")
            elif tok == "<continue>":
                parts.append(r"([A-Za-z0-9_=-]+)")
            elif tok == "<clusterIP>":
                parts.append("(" + IP_PATTERN + ")")
            elif tok == "<server-address>":
                parts.append("(" + re.escape(self.server_address) + ")")
            elif tok in ("<gitCommit>", "<uid>"):
                parts.append(r"([0-9a-f-]+)")
            else:  # prefix<gen>
                parts.append("(" + re.escape(tok[:-5]) + GEN_SUFFIX_PATTERN + ")")
            kinds.append(tok)
            pos = m.end()
        parts.append(re.escape(expected[pos:]))
        m = re.fullmatch("".join(parts), actual, re.S)
        if not m:
            raise Mismatch("expected %s, got %s" % (_short(expected), _short(actual)))
        for tok, value in zip(kinds, m.groups()):
            if tok.startswith("RV"):
                self.bind_rv(int(tok[2:]), value)
            elif tok.startswith("UID"):
                self.bind_uid(int(tok[3:]), value)
            elif tok == "<continue>":
                self.continue_token = value
                self.continue_tokens.append(value)
            elif tok.endswith("<gen>"):
                self.bind_gen(tok, value)

    # ---- the other direction: a recorded request, made concrete ----
    def concrete(self, text, what="request"):
        def rv(m):
            label = int(m.group(1))
            if label in self.rv:
                return str(self.rv[label])
            return str(self._unbound_rv(label))

        def uid(m):
            label = int(m.group(1))
            if label not in self.uid:
                raise Mismatch("%s names UID%d, which no answer has bound yet" % (what, label))
            return self.uid[label]

        def gen(m):
            tok = m.group(0)
            if tok not in self.gen:
                raise Mismatch("%s names %s, which no answer has bound yet" % (what, tok))
            return self.gen[tok]

        out = RV_RE.sub(rv, text)
        out = UID_RE.sub(uid, out)
        out = GEN_RE.sub(gen, out)
        if "<continue>" in out:
            if self.continue_token is None:
                raise Mismatch("%s uses <continue> before any answer carried one" % what)
            out = out.replace("<continue>", self.continue_token)
        return out

    def _unbound_rv(self, label):
        """A value for a label no answer has shown yet: placed by order among the bound ones."""
        below = [v for l, v in self.rv.items() if l < label]
        above = [v for l, v in self.rv.items() if l > label]
        lo = max(below) if below else 0
        if not above:
            # "far future": well past anything fakeapi has reached.
            value = max(lo, max(self.rv.values(), default=0)) * 10 + 1000
        else:
            hi = min(above)
            if hi - lo < 2:
                raise Mismatch("no resourceVersion fits RV%d between %d and %d" % (label, lo, hi))
            value = (lo + hi) // 2
        self.bind_rv(label, value)
        return value

    def concrete_json(self, value, what="request body"):
        if isinstance(value, str):
            return self.concrete(value, what)
        if isinstance(value, list):
            return [self.concrete_json(v, what) for v in value]
        if isinstance(value, dict):
            return {self.concrete(k, what): self.concrete_json(v, what) for k, v in value.items()}
        return value


def _short(v, n=160):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "..."


class Differences:
    """Collects (path, message) pairs for one case."""

    def __init__(self):
        self.items = []

    def add(self, path, message):
        self.items.append((path, message))

    def __bool__(self):
        return bool(self.items)


def compare_json(binding, expected, actual, path, diffs, check_order=True):
    """Recursive comparison of a recorded JSON value with fakeapi's; differences go to `diffs`."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            diffs.add(path, "expected an object, got %s" % _short(actual))
            return
        ek = list(expected.keys())
        ak = list(actual.keys())
        missing = [k for k in ek if k not in actual]
        extra = [k for k in ak if k not in expected]
        for k in missing:
            diffs.add(_join(path, k), "missing (expected %s)" % _short(expected[k]))
        for k in extra:
            diffs.add(_join(path, k), "unexpected field (fakeapi sent %s)" % _short(actual[k]))
        for k in ek:
            if k in actual:
                compare_json(binding, expected[k], actual[k], _join(path, k), diffs, check_order)
        if check_order and not missing and not extra and ek != ak:
            diffs.add(path + "{order}", "key order: expected %s, got %s" % (ek, ak))
        return
    if isinstance(expected, list):
        if not isinstance(actual, list):
            diffs.add(path, "expected a list, got %s" % _short(actual))
            return
        if len(expected) != len(actual):
            diffs.add(path, "expected %d items, got %d" % (len(expected), len(actual)))
        for i, (e, a) in enumerate(zip(expected, actual)):
            compare_json(binding, e, a, "%s[%d]" % (path, i), diffs, check_order)
        return
    if isinstance(expected, str):
        try:
            binding.match_string(expected, actual)
        except Mismatch as m:
            diffs.add(path, str(m))
        return
    # numbers, booleans, null: exact (JSON true is not 1)
    if type(expected) != type(actual) or expected != actual:
        if isinstance(expected, (int, float)) and isinstance(actual, (int, float)) and \
                not isinstance(expected, bool) and not isinstance(actual, bool) and expected == actual:
            return
        diffs.add(path, "expected %s, got %s" % (_short(expected), _short(actual)))


def _join(path, key):
    return "%s.%s" % (path, key) if path else key
