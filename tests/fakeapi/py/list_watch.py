"""Lists and watches EndpointSlices in namespace "default" with the official python client
(Debian python3-kubernetes 22.6) against k8slb-fakeapi; prints one line per step for
tests/fakeapi/clients_test.cc.

Usage: list_watch.py kubeconfig SECONDS         (kubeconfig from $KUBECONFIG)
       list_watch.py incluster SECONDS SA_DIR   (KUBERNETES_SERVICE_HOST/PORT + token/ca.crt in SA_DIR)
"""
import sys

from kubernetes import client, config, watch


def main():
    mode, seconds = sys.argv[1], int(sys.argv[2])
    if mode == "incluster":
        sa_dir = sys.argv[3]
        config.incluster_config.InClusterConfigLoader(
            token_filename=sa_dir + "/token", cert_filename=sa_dir + "/ca.crt").load_and_set()
    else:
        config.load_kube_config()
    api = client.DiscoveryV1Api()
    lst = api.list_namespaced_endpoint_slice("default")
    print("LIST", lst.metadata.resource_version, len(lst.items), flush=True)
    # No resource_version: the server must send synthetic ADDED events (watch=True, capital T).
    w = watch.Watch()
    for ev in w.stream(api.list_namespaced_endpoint_slice, "default", timeout_seconds=1):
        print("INITIAL", ev["type"], ev["object"].metadata.name, flush=True)
    print("WATCHING", flush=True)
    w = watch.Watch()
    for ev in w.stream(api.list_namespaced_endpoint_slice, "default",
                       resource_version=lst.metadata.resource_version,
                       allow_watch_bookmarks=True, timeout_seconds=seconds):
        if ev["type"] == "BOOKMARK":
            print("BOOKMARK", ev["object"]["metadata"]["resourceVersion"], flush=True)
            continue
        obj = ev["object"]
        print(ev["type"], obj.metadata.name, len(obj.endpoints), flush=True)
    print("END", flush=True)


if __name__ == "__main__":
    main()
