"""Comparison of summarised bodies ("body_summary" in the corpus): each key names a feature of the
real body (a count, a list of names, one entry in full, the first bytes); the same feature is
computed from fakeapi's body and compared. A key this module does not know fails the case with a
message naming it, so a new kind of summary cannot pass unnoticed."""

import json

from normalize import compare_json


def _json(text):
    try:
        return json.loads(text)
    except ValueError:
        return None


def _in_full(name):
    # "groups (discovery.k8s.io, apps only, in full)" -> ("groups", ["discovery.k8s.io", "apps"])
    head, rest = name.split(" (", 1)
    names = [n.strip() for n in rest.split(" only", 1)[0].split(",")]
    return head, names


def _entry_name(entry):
    if "name" in entry:
        return entry["name"]
    return (entry.get("metadata") or {}).get("name")


def compare(binding, summary, resp, text, diffs):
    body = _json(text)
    for key, want in summary.items():
        path = "body{%s}" % key

        def got_json(value):
            compare_json(binding, want, value, path, diffs, check_order=False)

        if key in ("kind", "apiVersion", "swagger", "openapi", "info", "metadata"):
            got_json((body or {}).get(key) if isinstance(body, dict) else None)
        elif key == "items" and isinstance(want, int):
            got_json(len((body or {}).get("items") or []))
        elif key in ("endpoints_count", "ports_count"):
            got_json(len((body or {}).get(key.split("_")[0]) or []))
        elif key == "addresses_count":
            eps = (body or {}).get("endpoints") or [{}]
            got_json(len(eps[0].get("addresses") or []))
        elif key == "groups[].name":
            got_json([g.get("name") for g in (body or {}).get("groups") or []])
        elif key == "items[].metadata.name":
            got_json([(i.get("metadata") or {}).get("name") for i in (body or {}).get("items") or []])
        elif key.endswith("in full)") and key.startswith(("groups (", "items (")):
            field, names = _in_full(key)
            entries = [e for e in (body or {}).get(field) or [] if _entry_name(e) in names]
            got_json(entries)
        elif key.startswith("definition ") and key.endswith("(in full)"):
            name = key[len("definition "):-len(" (in full)")]
            got_json(((body or {}).get("definitions") or {}).get(name))
        elif key == "first_lines":
            if not text.startswith(want):
                diffs.add(path, "expected the body to start with %r, got %r" % (want[:120], text[:120]))
        elif key == "body_bytes":
            if len(resp.body) != want:
                diffs.add(path, "expected %d bytes, got %d" % (want, len(resp.body)))
        elif key == "body_prefix_hex":
            got = resp.body[:len(want) // 2].hex()
            if got != want:
                diffs.add(path, "expected the body to start with bytes %s, got %s" % (want, got))
        elif key == "body_text":
            if text != want:
                diffs.add(path, "expected %r, got %r" % (want[:200], text[:200]))
        elif key == "body_text_or_kind":
            kind = body.get("kind") if isinstance(body, dict) else None
            got_json(kind)
        elif key == "paths_count":
            got_json(len((body or {}).get("paths") or []))
        elif key == "first_paths":
            got_json(((body or {}).get("paths") or [])[:len(want)])
        elif key == "top_level_keys":
            got_json(list((body or {}).keys()) if isinstance(body, dict) else None)
        elif key == "definitions_count":
            got_json(len((body or {}).get("definitions") or {}))
        elif key == "discovery_v1_definitions":
            got_json(sorted(k for k in ((body or {}).get("definitions") or {})
                            if k.startswith("io.k8s.api.discovery.v1.")))
        elif key in ("discovery_paths",):
            got_json([p for p in (body or {}).get("paths") or {} if p.startswith("/apis/discovery.k8s.io/")])
        elif key == "paths" and isinstance(want, list):
            got_json(list(((body or {}).get("paths") or {}).keys()))
        elif key == "paths" and isinstance(want, dict):
            got = (body or {}).get("paths") or {}
            masked_want = {k: {"serverRelativeURL": v["serverRelativeURL"].split("?hash=")[0]} for k, v in want.items()}
            masked_got = {k: {"serverRelativeURL": str(v.get("serverRelativeURL", "")).split("?hash=")[0]}
                          for k, v in got.items()}
            compare_json(binding, masked_want, masked_got, path, diffs, check_order=False)
        elif key == "components_keys":
            got_json(list(((body or {}).get("components") or {}).keys()))
        elif key == "component_schemas_count":
            got_json(len(((body or {}).get("components") or {}).get("schemas") or {}))
        elif key == "discovery_component_schemas":
            got_json(sorted(k for k in (((body or {}).get("components") or {}).get("schemas") or {})
                            if k.startswith("io.k8s.api.discovery.v1.")))
        elif key == "all_component_schema_names":
            got_json(sorted((((body or {}).get("components") or {}).get("schemas") or {}).keys()))
        elif key == "same_as_no_hash":
            # Checked by the case runner (it fetches the document without the hash); here only
            # that the body is JSON.
            if body is None:
                diffs.add(path, "expected the OpenAPI document, got %r" % text[:120])
        else:
            diffs.add(path, "the differential test has no rule for summary key %r" % key)
