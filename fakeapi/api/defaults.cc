// Defaulting rules that a field default in types.yaml cannot express: values that depend on other
// fields of the same object. Each follows the generated and hand-written defaulters of
// kubernetes v1.32 pkg/apis/*/v1/defaults.go as the API reference documents them:
//   Container.imagePullPolicy   Always for an image tagged :latest or untagged, else IfNotPresent
//   ServicePort.targetPort      the port number when unset
//   ServiceSpec                 internalTrafficPolicy Cluster for every type but ExternalName
//   DeploymentStrategy          rollingUpdate {maxUnavailable: 25%, maxSurge: 25%} for RollingUpdate
//   Namespace                   the label kubernetes.io/metadata.name = its name
//   NamespaceSpec / Status      finalizers [kubernetes], phase Active
// Rules run after the schema's field defaults of the same struct (codec.cc ApplyDefaults).
#include <map>
#include <string>

#include "fakeapi/api/codec.h"

namespace k8slb::fakeapi::api {
namespace {

using OJson = nlohmann::ordered_json;

void ContainerDefaults(OJson& c) {
  if (c.contains("imagePullPolicy") && c["imagePullPolicy"].is_string() &&
      !c["imagePullPolicy"].get<std::string>().empty()) {
    return;
  }
  std::string image = c.value("image", "");
  // The tag is what follows the last ':' after the last '/' (a registry port is not a tag); a
  // digest (@sha256:...) counts as a tag.
  std::string last = image.substr(image.rfind('/') == std::string::npos ? 0 : image.rfind('/') + 1);
  bool digest = image.find('@') != std::string::npos;
  size_t colon = last.rfind(':');
  std::string tag = colon == std::string::npos ? "" : last.substr(colon + 1);
  c["imagePullPolicy"] = (!digest && (tag.empty() || tag == "latest")) ? "Always" : "IfNotPresent";
}

void ServicePortDefaults(OJson& p) {
  if ((!p.contains("targetPort") || p["targetPort"].is_null()) && p.contains("port")) p["targetPort"] = p["port"];
}

void ServiceSpecDefaults(OJson& s) {
  std::string type = s.value("type", "ClusterIP");
  if (type != "ExternalName" && (!s.contains("internalTrafficPolicy") || s["internalTrafficPolicy"].is_null())) {
    s["internalTrafficPolicy"] = "Cluster";
  }
  if ((type == "NodePort" || type == "LoadBalancer") &&
      (!s.contains("externalTrafficPolicy") || s["externalTrafficPolicy"].is_null())) {
    s["externalTrafficPolicy"] = "Cluster";
  }
  if (type == "LoadBalancer" && !s.contains("allocateLoadBalancerNodePorts")) s["allocateLoadBalancerNodePorts"] = true;
}

void DeploymentStrategyDefaults(OJson& s) {
  if (s.value("type", "") == "RollingUpdate") {
    OJson& ru = s["rollingUpdate"];
    if (!ru.is_object()) ru = OJson::object();
    if (!ru.contains("maxUnavailable")) ru["maxUnavailable"] = "25%";
    if (!ru.contains("maxSurge")) ru["maxSurge"] = "25%";
  }
}

void NamespaceDefaults(OJson& ns) {
  if (!ns.contains("metadata") || !ns["metadata"].is_object()) return;
  OJson& meta = ns["metadata"];
  std::string name = meta.value("name", "");
  if (name.empty()) return;
  OJson& labels = meta["labels"];
  if (!labels.is_object()) labels = OJson::object();
  labels["kubernetes.io/metadata.name"] = name;
}

void NamespaceSpecDefaults(OJson& spec) {
  if (!spec.contains("finalizers") || !spec["finalizers"].is_array() || spec["finalizers"].empty()) {
    spec["finalizers"] = OJson::array({"kubernetes"});
  }
}

void NamespaceStatusDefaults(OJson& status) {
  if (!status.contains("phase") || !status["phase"].is_string() || status["phase"].get<std::string>().empty()) {
    status["phase"] = "Active";
  }
}

}  // namespace

DefaultRule FindDefaultRule(const std::string& type_id) {
  static const std::map<std::string, DefaultRule> kRules = {
      {"io.k8s.api.core.v1.Container", &ContainerDefaults},
      {"io.k8s.api.core.v1.ServicePort", &ServicePortDefaults},
      {"io.k8s.api.core.v1.ServiceSpec", &ServiceSpecDefaults},
      {"io.k8s.api.apps.v1.DeploymentStrategy", &DeploymentStrategyDefaults},
      {"io.k8s.api.core.v1.Namespace", &NamespaceDefaults},
      {"io.k8s.api.core.v1.NamespaceSpec", &NamespaceSpecDefaults},
      {"io.k8s.api.core.v1.NamespaceStatus", &NamespaceStatusDefaults},
  };
  auto it = kRules.find(type_id);
  return it == kRules.end() ? nullptr : it->second;
}

}  // namespace k8slb::fakeapi::api
