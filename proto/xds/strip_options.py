#!/usr/bin/env python3
"""Copies .proto files without their annotation options (protoc-gen-validate, udpa, xds and envoy
annotations), which k8slb's generated code has no use for.

Two reasons. The Envoy API protos that @grpc/grpc-js-xds ships under deps/ use validate.rules
fields (e.g. StringRules.ignore_empty) that the validate.proto shipped beside them does not define,
so protoc rejects them (protobuf.js, which the package itself uses, ignores unknown option fields).
And with optimize_for=CODE_SIZE, a descriptor whose options hold a custom-option message is parsed
by reflection while the descriptor pool's lock is held; building that message's own descriptor
then takes the same lock: a deadlock on first use (seen with protobuf 3.21). k8slb runs no
validator and reads no annotation, so this removes every `(validate.*)`, `(udpa.annotations.*)`,
`(xds.annotations.*)` and `(envoy.annotations.*)` option, field option or statement, and the
imports of the files that define them; everything else is copied byte for byte.

Usage: strip_options.py OUT_DIR ROOT:FILE [ROOT:FILE ...]
  FILE is the import path (e.g. envoy/config/core/v3/base.proto), read from ROOT/FILE and written
  to OUT_DIR/FILE. A file that is missing, or whose brackets or strings do not balance, is an
  error naming the file.
"""

import os
import sys


STRIPPED_OPTIONS = ("(validate.", "(udpa.annotations.", "(xds.annotations.", "(envoy.annotations.")
STRIPPED_IMPORTS = ("validate/validate.proto", "udpa/annotations/", "xds/annotations/", "envoy/annotations/")


class ProtoError(Exception):
    pass


def skip_trivia(text, i):
    """Index of the first character at or after i that is not inside a comment or whitespace."""
    n = len(text)
    while i < n:
        if text[i].isspace():
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise ProtoError("unterminated /* comment")
            i = j + 2
        else:
            break
    return i


def skip_string(text, i):
    quote = text[i]
    i += 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == quote:
            return i + 1
        elif text[i] == "\n":
            break
        else:
            i += 1
    raise ProtoError("unterminated string literal")


def scan_balanced(text, i, stops):
    """From i, skips over nested (), [], {}, strings and comments; returns the index of the first
    character in `stops` found at nesting depth 0."""
    depth = []
    pairs = {"(": ")", "[": "]", "{": "}"}
    n = len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i) or text.startswith("/*", i):
            i = skip_trivia(text, i)
            continue
        if c in "\"'":
            i = skip_string(text, i)
            continue
        if not depth and c in stops:
            return i
        if c in pairs:
            depth.append(pairs[c])
        elif c in ")]}":
            if not depth or depth.pop() != c:
                raise ProtoError(f"unbalanced '{c}'")
        i += 1
    raise ProtoError(f"expected one of {sorted(stops)} before the end of the file")


def is_keyword(text, i, word):
    after = text[i + len(word):i + len(word) + 1]
    return text.startswith(word, i) and not (after.isalnum() or after == "_")


def is_stripped_option(entry):
    start = skip_trivia(entry, 0)
    return start == len(entry) or entry[start:].startswith(STRIPPED_OPTIONS)


def strip(text):
    out = []
    i = 0
    n = len(text)
    at_statement_start = True
    while i < n:
        c = text[i]
        if c.isspace():
            out.append(c)
            i += 1
            continue
        if text.startswith("//", i) or text.startswith("/*", i):
            j = skip_trivia(text, i)
            # keep comments verbatim (skip_trivia also swallowed trailing whitespace: keep it too)
            out.append(text[i:j])
            i = j
            continue
        if c in "\"'":
            j = skip_string(text, i)
            out.append(text[i:j])
            i = j
            at_statement_start = False
            continue
        if at_statement_start and is_keyword(text, i, "import"):
            end = scan_balanced(text, i, {";"})
            statement = text[i:end + 1]
            if not any('"' + p in statement for p in STRIPPED_IMPORTS):
                out.append(statement)
            i = end + 1
            continue
        if at_statement_start and is_keyword(text, i, "option"):
            end = scan_balanced(text, i, {";"})
            name_start = skip_trivia(text, i + 6)
            if not text.startswith(STRIPPED_OPTIONS, name_start):
                out.append(text[i:end + 1])  # else drop `option (validate.required) = true;`
            i = end + 1
            continue
        if c == "[":
            # A field's option list: split at depth-0 commas, drop the stripped entries.
            end = scan_balanced(text, i + 1, {"]"})
            entries = []
            j = i + 1
            while j <= end:
                k = scan_balanced(text, j, {",", "]"}) if j < end else end
                entries.append(text[j:k])
                j = k + 1
            kept = [e.strip() for e in entries if not is_stripped_option(e)]
            if kept:
                out.append("[" + ", ".join(kept) + "]")
            else:
                # drop the list and the whitespace before it: `int32 x = 1 [..];` -> `int32 x = 1;`
                while out and out[-1].isspace():
                    out.pop()
            i = end + 1
            at_statement_start = False
            continue
        out.append(c)
        at_statement_start = c in ";{}"
        i += 1
    return "".join(out)


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir = argv[1]
    for spec in argv[2:]:
        root, sep, name = spec.partition(":")
        if not sep:
            print(f"strip_options: {spec}: expected ROOT:FILE", file=sys.stderr)
            return 2
        src = os.path.join(root, name)
        try:
            with open(src, encoding="utf-8") as f:
                text = f.read()
            stripped = strip(text)
        except OSError as e:
            print(f"strip_options: {src}: {e.strerror} (run scripts/setup: it installs the npm folder "
                  "these protos come from)", file=sys.stderr)
            return 1
        except ProtoError as e:
            print(f"strip_options: {src}: {e}", file=sys.stderr)
            return 1
        for lineno, line in enumerate(stripped.splitlines(), 1):
            code = line.split("//", 1)[0]
            if any(option in code for option in STRIPPED_OPTIONS):
                # an option survived, in a position this scanner does not know: fail loudly
                print(f"strip_options: {src}:{lineno}: annotation left: {line.strip()}", file=sys.stderr)
                return 1
        dst = os.path.join(out_dir, name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tmp = dst + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(stripped)
        os.replace(tmp, dst)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
