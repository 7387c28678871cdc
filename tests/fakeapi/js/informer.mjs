// Runs a @kubernetes/client-node informer on EndpointSlices in namespace "default" (KUBECONFIG
// from the environment) and prints one line per callback: "add NAME N", "update NAME N",
// "delete NAME", where N is the slice's endpoint count. Exits after JS_RUN_MS (default 20 s);
// exit code 3 on an informer error.
import * as k8s from '@kubernetes/client-node';

const kc = new k8s.KubeConfig();
kc.loadFromDefault();
const api = kc.makeApiClient(k8s.DiscoveryV1Api);
const ns = 'default';
const informer = k8s.makeInformer(
  kc,
  `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
  () => api.listNamespacedEndpointSlice({ namespace: ns }),
);
const count = (o) => (o.endpoints || []).length;
informer.on('add', (o) => console.log(`add ${o.metadata.name} ${count(o)}`));
informer.on('update', (o) => console.log(`update ${o.metadata.name} ${count(o)}`));
informer.on('delete', (o) => console.log(`delete ${o.metadata.name}`));
informer.on('error', (e) => {
  console.log(`error ${e}`);
  process.exit(3);
});
await informer.start();
console.log('started');
setTimeout(() => process.exit(0), Number(process.env.JS_RUN_MS || 20000));
