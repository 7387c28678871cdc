#!/usr/bin/python3
"""Checks the manifests in k8s/ as rendered by `kubectl kustomize`.

Usage: check_manifests.py K8S_DIR [--kubectl PATH]

Renders K8S_DIR and K8S_DIR/cross-namespace with kubectl, then checks the rendered objects:
selectors match pod labels, Service ports reach a named container port, probe ports agree with
the container port, the Role grants exactly list+watch on discovery.k8s.io/endpointslices, the
RoleBinding binds the ServiceAccount the client runs as, security contexts and resources are set.

Then it proves each check can fail: it applies one mutation per rule (an extra verb, a wrong
selector, a missing securityContext field, ...) to a deep copy of the rendered objects and
requires the checker to report exactly that problem. Exit 0 when all is well, 1 with one line per
problem otherwise, 77 (ctest SKIP) when kubectl is not installed.
"""
import copy
import os
import shutil
import subprocess
import sys

import yaml

NAMESPACE = "k8slb-demo"
CLIENT_SA = "k8slb-client"
ENDPOINTSLICE_RULE = {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"]}


def render(kubectl, directory):
    proc = subprocess.run([kubectl, "kustomize", directory], capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory} failed: {proc.stderr.strip()}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def find(objects, kind, name=None):
    return [o for o in objects if o.get("kind") == kind and
            (name is None or o["metadata"]["name"] == name)]


def one(objects, kind, name, problems):
    found = find(objects, kind, name)
    if len(found) != 1:
        problems.append(f"expected exactly one {kind} {name}, found {len(found)}")
        return None
    return found[0]


def selector_matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_rules(rules, what, problems):
    """Exactly one rule: list and watch on endpointslices in discovery.k8s.io, nothing else."""
    if len(rules) != 1:
        problems.append(f"{what}: expected exactly one rule, found {len(rules)}")
        return
    rule = rules[0]
    for key, want in ENDPOINTSLICE_RULE.items():
        if sorted(rule.get(key, [])) != want:
            problems.append(f"{what}: {key} is {rule.get(key)}, want {want}")
    verbs = rule.get("verbs", [])
    if sorted(verbs) != ["list", "watch"]:
        problems.append(f"{what}: verbs are {verbs}, want exactly [list, watch]")
    extra = set(rule) - {"apiGroups", "resources", "verbs"}
    if extra:
        problems.append(f"{what}: unexpected rule fields {sorted(extra)}")


def check_container_security(pod_spec, container, what, problems):
    pod_sc = pod_spec.get("securityContext", {})
    sc = container.get("securityContext", {})
    if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
        problems.append(f"{what}: runAsNonRoot is not set")
    uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
    if uid is None or uid == 0:
        problems.append(f"{what}: runAsUser must be a non-zero uid, is {uid}")
    if sc.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{what}: readOnlyRootFilesystem is not true")
    if sc.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{what}: allowPrivilegeEscalation is not false")
    if sc.get("capabilities", {}).get("drop") != ["ALL"]:
        problems.append(f"{what}: capabilities.drop is not [ALL]")
    if sc.get("privileged"):
        problems.append(f"{what}: privileged")
    resources = container.get("resources", {})
    for part in ("requests", "limits"):
        for res in ("cpu", "memory"):
            if res not in resources.get(part, {}):
                problems.append(f"{what}: resources.{part}.{res} is not set")


def env_field(container, name):
    for env in container.get("env", []):
        if env.get("name") == name:
            return env.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
    return None


def check(objects, cross):
    problems = []
    for obj in objects:
        if obj["kind"] != "Namespace" and obj["metadata"].get("namespace") != NAMESPACE:
            problems.append(f"{obj['kind']} {obj['metadata']['name']}: namespace is "
                            f"{obj['metadata'].get('namespace')}, want {NAMESPACE}")
    if not one(objects, "Namespace", NAMESPACE, problems):
        pass

    # --- the echo backend
    deploy = one(objects, "Deployment", "echo", problems)
    echo_labels, echo_ports = {}, {}
    if deploy:
        spec = deploy["spec"]
        tmpl = spec["template"]
        echo_labels = tmpl["metadata"].get("labels", {})
        if spec.get("replicas") != 5:
            problems.append(f"Deployment echo: replicas is {spec.get('replicas')}, want 5")
        if not selector_matches(spec["selector"].get("matchLabels"), echo_labels):
            problems.append("Deployment echo: selector does not match its pod template labels")
        pod = tmpl["spec"]
        containers = pod["containers"]
        if len(containers) != 1:
            problems.append(f"Deployment echo: expected one container, found {len(containers)}")
        c = containers[0]
        echo_ports = {p["name"]: p["containerPort"] for p in c.get("ports", []) if "name" in p}
        if "grpc" not in echo_ports:
            problems.append("Deployment echo: no container port named grpc")
        for probe_name in ("readinessProbe", "livenessProbe"):
            probe = c.get(probe_name)
            if not probe or "grpc" not in probe:
                problems.append(f"Deployment echo: {probe_name} is not a gRPC probe")
                continue
            port = probe["grpc"].get("port")
            if port != echo_ports.get("grpc"):
                problems.append(f"Deployment echo: {probe_name} port {port} is not the grpc "
                                f"container port {echo_ports.get('grpc')}")
        pre_stop = c.get("lifecycle", {}).get("preStop")
        grace = pod.get("terminationGracePeriodSeconds")
        delay = None
        if pre_stop and "sleep" in pre_stop:
            delay = pre_stop["sleep"].get("seconds")
        elif pre_stop and "exec" in pre_stop:
            cmd = pre_stop["exec"].get("command", [])
            if len(cmd) == 2 and cmd[0].endswith("sleep") and cmd[1].isdigit():
                delay = int(cmd[1])
        if delay is None or delay <= 0:
            problems.append("Deployment echo: no preStop delay")
        elif grace is None or grace <= delay:
            problems.append(f"Deployment echo: terminationGracePeriodSeconds {grace} does not "
                            f"exceed the preStop delay {delay}")
        if env_field(c, "POD_NAME") != "metadata.name":
            problems.append("Deployment echo: POD_NAME is not from the downward API metadata.name")
        if env_field(c, "POD_ZONE") is None:
            problems.append("Deployment echo: POD_ZONE is not from the downward API")
        args = " ".join(c.get("command", []) + c.get("args", []))
        if f":{echo_ports.get('grpc')}" not in args:
            problems.append("Deployment echo: --listen does not use the grpc container port")
        if "=$(" in args:
            # k8slb-echo-server's CLI would take the next argument as the value of "--x=" when
            # the variable expands to nothing; the server reads POD_NAME / POD_ZONE itself.
            problems.append("Deployment echo: a --flag=$(VAR) argument may expand to an empty value")
        check_container_security(pod, c, "Deployment echo container", problems)

    # --- Services: a headless one and a ClusterIP one over the same pods
    services = find(objects, "Service")
    headless = [s for s in services if s["spec"].get("clusterIP") == "None"]
    clusterip = [s for s in services if s["spec"].get("clusterIP") != "None" and
                 s["spec"].get("type", "ClusterIP") == "ClusterIP"]
    if len(headless) != 1 or len(clusterip) != 1:
        problems.append(f"expected one headless and one ClusterIP Service, found "
                        f"{len(headless)} and {len(clusterip)}")
    for svc in services:
        name = svc["metadata"]["name"]
        if not selector_matches(svc["spec"].get("selector"), echo_labels):
            problems.append(f"Service {name}: selector does not match the echo pod labels")
        for port in svc["spec"].get("ports", []):
            target = port.get("targetPort", port.get("port"))
            number = echo_ports.get(target) if isinstance(target, str) else target
            if number not in echo_ports.values():
                problems.append(f"Service {name}: targetPort {target} is no echo container port")
            if port.get("name") != "grpc":
                problems.append(f"Service {name}: port is named {port.get('name')}, want grpc "
                                "(the client's target names the port)")

    # --- the client: ServiceAccount, Role, RoleBinding, workload
    one(objects, "ServiceAccount", CLIENT_SA, problems)
    roles = find(objects, "Role")
    if len(roles) != 1:
        problems.append(f"expected exactly one Role, found {len(roles)}")
    else:
        check_rules(roles[0].get("rules", []), f"Role {roles[0]['metadata']['name']}", problems)
    bindings = find(objects, "RoleBinding")
    if len(bindings) != 1:
        problems.append(f"expected exactly one RoleBinding, found {len(bindings)}")
    else:
        rb = bindings[0]
        ref = rb["roleRef"]
        if roles and (ref.get("kind") != "Role" or ref.get("name") != roles[0]["metadata"]["name"]):
            problems.append(f"RoleBinding {rb['metadata']['name']}: roleRef {ref} is not the Role")
        subjects = rb.get("subjects", [])
        if subjects != [{"kind": "ServiceAccount", "name": CLIENT_SA, "namespace": NAMESPACE}]:
            problems.append(f"RoleBinding {rb['metadata']['name']}: subjects {subjects} are not "
                            f"exactly ServiceAccount {NAMESPACE}/{CLIENT_SA}")
    workloads = [o for o in objects if o["kind"] in ("Job", "Deployment") and
                 o["metadata"]["name"] != "echo"]
    if len(workloads) != 1:
        problems.append(f"expected exactly one client workload, found {len(workloads)}")
    else:
        w = workloads[0]
        pod = w["spec"]["template"]["spec"]
        what = f"{w['kind']} {w['metadata']['name']}"
        if pod.get("serviceAccountName") != CLIENT_SA:
            problems.append(f"{what}: serviceAccountName is {pod.get('serviceAccountName')}, "
                            f"want the bound {CLIENT_SA}")
        if pod.get("automountServiceAccountToken") is False:
            problems.append(f"{what}: the service-account token is not mounted")
        if selector_matches(w["spec"]["template"]["metadata"].get("labels", {}), echo_labels) or \
                any(selector_matches(s["spec"].get("selector"),
                                     w["spec"]["template"]["metadata"].get("labels", {}))
                    for s in services):
            problems.append(f"{what}: the echo Services would select the client pods")
        c = pod["containers"][0]
        args = " ".join(c.get("command", []) + c.get("args", []))
        svc_names = [s["metadata"]["name"] for s in headless]
        if not any(f"kubernetes:///{n}.{NAMESPACE}:grpc" in args for n in svc_names):
            problems.append(f"{what}: the client does not target the headless Service's "
                            f"grpc port (kubernetes:///SVC.{NAMESPACE}:grpc)")
        for container in pod["containers"]:
            check_container_security(pod, container, f"{what} container {container['name']}",
                                     problems)

    # --- the cross-namespace add-on
    if cross is not None:
        croles = find(cross, "ClusterRole")
        cbindings = find(cross, "ClusterRoleBinding")
        if len(croles) != 1 or len(cbindings) != 1 or len(cross) != 2:
            problems.append("cross-namespace: expected exactly one ClusterRole and one "
                            "ClusterRoleBinding")
        else:
            check_rules(croles[0].get("rules", []), "ClusterRole", problems)
            ref = cbindings[0]["roleRef"]
            if ref.get("kind") != "ClusterRole" or ref.get("name") != croles[0]["metadata"]["name"]:
                problems.append("ClusterRoleBinding: roleRef is not the ClusterRole")
            if cbindings[0].get("subjects") != [
                    {"kind": "ServiceAccount", "name": CLIENT_SA, "namespace": NAMESPACE}]:
                problems.append("ClusterRoleBinding: subjects are not exactly the client's "
                                "ServiceAccount")
    return problems


def check_dockerfile(text):
    """Multi-stage Debian 12 build + slim runtime, non-root, runtime without -dev packages."""
    problems = []
    stages = []  # (base image, [lines])
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.upper().startswith("FROM "):
            stages.append((stripped.split()[1], []))
        elif stages:
            stages[-1][1].append(stripped)
    if len(stages) < 2:
        return [f"Dockerfile: expected a build and a runtime stage, found {len(stages)}"]
    if not stages[0][0].startswith("debian:12"):
        problems.append(f"Dockerfile: build stage is {stages[0][0]}, want debian:12")
    runtime_base, runtime = stages[-1]
    if runtime_base != "debian:12-slim":
        problems.append(f"Dockerfile: runtime stage is {runtime_base}, want debian:12-slim")
    body = " ".join(runtime)
    if "-dev" in body or "build-essential" in body:
        problems.append("Dockerfile: the runtime stage installs build packages")
    users = [l.split()[1] for l in runtime if l.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("0", "root"):
        problems.append(f"Dockerfile: the runtime stage does not end as a non-root USER ({users})")
    build = " ".join(stages[0][1])
    for binary in ("k8slb-echo-server", "k8slb-client"):
        if binary not in build or binary not in body:
            problems.append(f"Dockerfile: {binary} is not built and copied")
    return problems


# One mutation per rule; each must make check() report a problem containing `expect`.
def _obj(objects, kind, name=None):
    return find(objects, kind, name)[0]


def _echo_container(objects):
    return _obj(objects, "Deployment", "echo")["spec"]["template"]["spec"]["containers"][0]


def _client_pod(objects):
    return [o for o in objects if o["kind"] in ("Job", "Deployment") and
            o["metadata"]["name"] != "echo"][0]["spec"]["template"]["spec"]


MUTATIONS = [
    ("extra verb get", lambda o, c: _obj(o, "Role")["rules"][0]["verbs"].append("get"), "verbs"),
    ("watch missing", lambda o, c: _obj(o, "Role")["rules"][0].update(verbs=["list"]), "verbs"),
    ("wrong group", lambda o, c: _obj(o, "Role")["rules"][0].update(apiGroups=[""]), "apiGroups"),
    ("extra resource", lambda o, c: _obj(o, "Role")["rules"][0]["resources"].append("pods"),
     "resources"),
    ("second rule", lambda o, c: _obj(o, "Role")["rules"].append(
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}), "exactly one rule"),
    ("resourceNames", lambda o, c: _obj(o, "Role")["rules"][0].update(resourceNames=["x"]),
     "unexpected rule fields"),
    ("binding to other SA", lambda o, c: _obj(o, "RoleBinding")["subjects"][0].update(
        name="default"), "subjects"),
    ("client runs as default SA", lambda o, c: _client_pod(o).update(
        serviceAccountName="default"), "serviceAccountName"),
    ("selector mismatch", lambda o, c: _obj(o, "Service", "echo")["spec"].update(
        selector={"app": "other"}), "selector does not match"),
    ("deployment selector mismatch", lambda o, c: _obj(o, "Deployment", "echo")["spec"][
        "selector"].update(matchLabels={"app": "x"}), "selector does not match its pod"),
    ("probe port", lambda o, c: _echo_container(o)["readinessProbe"]["grpc"].update(port=8080),
     "readinessProbe port"),
    ("http liveness", lambda o, c: _echo_container(o).update(
        livenessProbe={"httpGet": {"port": 8080}}), "livenessProbe is not a gRPC probe"),
    ("service targetPort", lambda o, c: _obj(o, "Service", "echo-clusterip")["spec"]["ports"][
        0].update(targetPort=8080), "targetPort"),
    ("writable root", lambda o, c: _echo_container(o)["securityContext"].update(
        readOnlyRootFilesystem=False), "readOnlyRootFilesystem"),
    ("escalation", lambda o, c: _client_pod(o)["containers"][0]["securityContext"].update(
        allowPrivilegeEscalation=True), "allowPrivilegeEscalation"),
    ("caps kept", lambda o, c: _echo_container(o)["securityContext"]["capabilities"].update(
        drop=["NET_RAW"]), "capabilities.drop"),
    ("root user", lambda o, c: (_client_pod(o)["securityContext"].update(runAsNonRoot=False,
                                                                         runAsUser=0),
                                _client_pod(o)["containers"][0]["securityContext"].pop(
                                    "runAsNonRoot", None)), "runAsNonRoot"),
    ("no limits", lambda o, c: _echo_container(o)["resources"].pop("limits"), "resources.limits"),
    ("replicas", lambda o, c: _obj(o, "Deployment", "echo")["spec"].update(replicas=1),
     "replicas"),
    ("grace too short", lambda o, c: _obj(o, "Deployment", "echo")["spec"]["template"][
        "spec"].update(terminationGracePeriodSeconds=1), "terminationGracePeriodSeconds"),
    ("no preStop", lambda o, c: _echo_container(o).pop("lifecycle"), "preStop"),
    ("no downward pod name", lambda o, c: _echo_container(o).update(env=[]), "POD_NAME"),
    ("empty-able flag", lambda o, c: _echo_container(o)["args"].append("--zone=$(POD_ZONE)"),
     "may expand to an empty value"),
    ("listen port", lambda o, c: _echo_container(o).update(args=["--listen=0.0.0.0:8080"]),
     "--listen does not use"),
    ("not headless", lambda o, c: _obj(o, "Service", "echo")["spec"].pop("clusterIP"),
     "one headless"),
    ("cluster role verbs", lambda o, c: _obj(c, "ClusterRole")["rules"][0]["verbs"].append(
        "create"), "ClusterRole: verbs"),
    ("cluster binding subject", lambda o, c: _obj(c, "ClusterRoleBinding")["subjects"][0].update(
        namespace="default"), "ClusterRoleBinding: subjects"),
]


def main():
    args = sys.argv[1:]
    kubectl = shutil.which("kubectl")
    if "--kubectl" in args:
        i = args.index("--kubectl")
        kubectl = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        print("usage: check_manifests.py K8S_DIR [--kubectl PATH]", file=sys.stderr)
        return 2
    if not kubectl or not os.access(kubectl, os.X_OK):
        print("SKIP: kubectl is not installed; cannot render the kustomization")
        return 77
    k8s_dir = args[0]
    try:
        objects = render(kubectl, k8s_dir)
        cross = render(kubectl, os.path.join(k8s_dir, "cross-namespace"))
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"FAIL: {e}")
        return 1
    print(f"rendered {len(objects)} objects from {k8s_dir} and {len(cross)} from cross-namespace/")
    problems = check(objects, cross)
    with open(os.path.join(k8s_dir, "Dockerfile")) as f:
        dockerfile = f.read()
    problems += check_dockerfile(dockerfile)
    for bad, expect in ((dockerfile.replace("USER 65532:65532", "USER root"), "non-root USER"),
                        (dockerfile.replace("debian:12-slim AS runtime", "debian:12 AS runtime"),
                         "runtime stage is")):
        if not any(expect in p for p in check_dockerfile(bad)):
            problems.append(f"Dockerfile check is blind to '{expect}'")
    for p in problems:
        print(f"FAIL: {p}")
    if problems:
        return 1
    # Each rule must be able to fail.
    blind = []
    for name, mutate, expect in MUTATIONS:
        o, c = copy.deepcopy(objects), copy.deepcopy(cross)
        mutate(o, c)
        found = check(o, c)
        if not any(expect in p for p in found):
            blind.append(f"mutation '{name}' was not caught (wanted '{expect}', got {found})")
    for b in blind:
        print(f"FAIL: {b}")
    if blind:
        return 1
    print(f"OK: all checks pass; {len(MUTATIONS)} mutations each caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
