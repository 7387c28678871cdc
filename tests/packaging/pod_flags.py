#!/usr/bin/env python3
"""Turns one container of a k8s/ manifest (Deployment or Job) into `podman run` arguments, so the
image rehearsal runs each container exactly as its manifest says: user and group, read-only root,
dropped capabilities, no privilege escalation, seccomp, command, args and environment.

  pod_flags.py MANIFEST CONTAINER [--field PATH=VALUE]... [--set-arg=--flag=VALUE]... [--sa-dir DIR]

Prints one argument per line: podman options, then the line "@image@" followed by the manifest's
image, then the container's arguments. --field gives the values of the downward-API fieldRefs
(e.g. metadata.name=echo-0); --set-arg replaces an argument with the same --flag (or adds it);
--sa-dir is mounted read-only at the service-account path when the pod mounts a token.
A setting this script does not know how to reproduce is an error, so none is silently dropped.
"""
import argparse
import sys

import yaml

SA_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
# Kubernetes fields that change nothing about how the process runs in a single-host rehearsal.
POD_FIELDS_IGNORED = {"containers", "serviceAccountName", "restartPolicy", "terminationGracePeriodSeconds",
                      "enableServiceLinks", "automountServiceAccountToken", "securityContext"}
CONTAINER_FIELDS_IGNORED = {"name", "image", "imagePullPolicy", "ports", "readinessProbe", "livenessProbe",
                            "startupProbe", "lifecycle", "resources", "command", "args", "env", "securityContext"}
SECURITY_KEYS = {"runAsUser", "runAsGroup", "runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation",
                 "capabilities", "seccompProfile"}


def die(message):
    sys.exit(f"pod_flags.py: {message}")


def pod_spec(document):
    kind = document.get("kind")
    if kind not in ("Deployment", "Job"):
        die(f"unsupported kind {kind!r} (Deployment or Job)")
    return document["spec"]["template"]["spec"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("manifest")
    parser.add_argument("container")
    parser.add_argument("--field", action="append", default=[])
    parser.add_argument("--set-arg", action="append", default=[])
    parser.add_argument("--sa-dir")
    opts = parser.parse_args()
    fields = dict(f.split("=", 1) for f in opts.field)

    with open(opts.manifest, encoding="utf-8") as f:
        documents = [d for d in yaml.safe_load_all(f) if d]
    specs = [pod_spec(d) for d in documents if d.get("kind") in ("Deployment", "Job")]
    matches = [(s, c) for s in specs for c in s["containers"] if c["name"] == opts.container]
    if len(matches) != 1:
        die(f"expected one container {opts.container!r} in {opts.manifest}, found {len(matches)}")
    spec, container = matches[0]
    for key in set(spec) - POD_FIELDS_IGNORED:
        die(f"pod field {key!r} is not reproduced by the rehearsal")
    for key in set(container) - CONTAINER_FIELDS_IGNORED:
        die(f"container field {key!r} is not reproduced by the rehearsal")

    security = dict(spec.get("securityContext") or {})
    security.update(container.get("securityContext") or {})
    for key in set(security) - SECURITY_KEYS:
        die(f"securityContext.{key} is not reproduced by the rehearsal")
    out = []
    if "metadata.name" in fields:  # a pod's hostname is its name
        out.append(f"--hostname={fields['metadata.name']}")
    user = security.get("runAsUser")
    group = security.get("runAsGroup")
    if security.get("runAsNonRoot"):
        if user is None or int(user) == 0:
            die("runAsNonRoot needs a numeric non-zero runAsUser")
    if user is not None:
        out.append(f"--user={user}:{group if group is not None else user}")
    if security.get("readOnlyRootFilesystem"):
        # Kubernetes adds no writable tmpfs of its own: neither does the rehearsal.
        out += ["--read-only", "--read-only-tmpfs=false"]
    if security.get("allowPrivilegeEscalation") is False:
        out.append("--security-opt=no-new-privileges")
    caps = security.get("capabilities") or {}
    for cap in caps.get("drop") or []:
        out.append(f"--cap-drop={cap}")
    for cap in caps.get("add") or []:
        out.append(f"--cap-add={cap}")
    seccomp = (security.get("seccompProfile") or {}).get("type", "RuntimeDefault")
    if seccomp == "Unconfined":
        out.append("--security-opt=seccomp=unconfined")
    elif seccomp != "RuntimeDefault":  # RuntimeDefault: podman's default profile
        die(f"seccompProfile {seccomp!r} is not reproduced by the rehearsal")

    for env in container.get("env") or []:
        if "value" in env:
            out.append(f"--env={env['name']}={env['value']}")
            continue
        ref = (env.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
        if ref is None:
            die(f"env {env['name']}: only value and fieldRef are reproduced")
        if ref not in fields:
            die(f"env {env['name']}: give the value of fieldRef {ref!r} with --field {ref}=VALUE")
        out.append(f"--env={env['name']}={fields[ref]}")

    if spec.get("automountServiceAccountToken", True):
        if not opts.sa_dir:
            die("the pod mounts a service-account token: give the folder with --sa-dir")
        out.append(f"--volume={opts.sa_dir}:{SA_PATH}:ro")

    command = container.get("command") or []
    if len(command) > 1:
        die("a command with more than one element is not reproduced (use args)")
    if command:
        out.append(f"--entrypoint={command[0]}")
    out += ["@image@", container["image"]]

    args = list(container.get("args") or [])
    for override in opts.set_arg:
        flag = override.split("=", 1)[0]
        replaced = [i for i, a in enumerate(args) if a.split("=", 1)[0] == flag]
        if replaced:
            for i in replaced:
                args[i] = override
        else:
            args.append(override)
    out += args
    print("\n".join(out))


if __name__ == "__main__":
    main()
