// A Node proxyless xDS client (@grpc/grpc-js-xds) driven line by line, with the protocol of
// tests/xds/xds_test_client.cc:
//   node client.js TARGET ECHO_PROTO [--keeper KEEPER_TARGET] [--idle-timeout-ms N]
//   stdin: "rpc N" | "keeper N" | "quit"; stdout: one JSON line per command; "table N": one row
//   per pod, then a line "." (xds/demo.sh).
// With --requests N it sends N RPCs, prints one row per pod and exits.
// Modules come from proto/xds/npm (NODE_PATH); the bootstrap from GRPC_XDS_BOOTSTRAP.
'use strict';
const grpc = require('@grpc/grpc-js');
const xds = require('@grpc/grpc-js-xds');
const protoLoader = require('@grpc/proto-loader');
const readline = require('readline');

const [target, protoPath, ...rest] = process.argv.slice(2);
let keeperTarget = '';
let idleTimeoutMs = 0;
let requests = 0;
for (let i = 0; i + 1 < rest.length; i += 2) {
  if (rest[i] === '--keeper') keeperTarget = rest[i + 1];
  else if (rest[i] === '--requests') requests = Number(rest[i + 1]);
  else if (rest[i] === '--idle-timeout-ms') idleTimeoutMs = Number(rest[i + 1]);
  else { console.error(`client.js: unknown flag ${rest[i]}`); process.exit(2); }
}

xds.register();
const definition = protoLoader.loadSync(protoPath, { keepCase: true, longs: String });
const Echo = grpc.loadPackageDefinition(definition).k8slb.echo.Echo;
const dial = (name, idle) =>
  new Echo(`xds:///${name}`, grpc.credentials.createInsecure(), idle > 0 ? { 'grpc.client_idle_timeout_ms': idle } : {});
const client = dial(target, idleTimeoutMs);
const keeper = keeperTarget ? dial(keeperTarget, 0) : null;

function echoOnce(stub, id) {
  return new Promise((resolve) => {
    stub.Echo({ message: 'xds', request_id: String(id) }, { deadline: Date.now() + 5000 },
      (err, response) => resolve(err ? { err } : { pod: response.pod_name }));
  });
}

async function runRpcs(stub, count) {
  const result = { ok: 0, failed: 0, pods: {}, errors: [] };
  for (let i = 0; i < count; i++) {
    const r = await echoOnce(stub, i);
    if (r.err) {
      result.failed++;
      const text = `${r.err.code}: ${r.err.details}`;
      if (result.errors.length < 5 && !result.errors.includes(text)) result.errors.push(text);
    } else {
      result.ok++;
      result.pods[r.pod] = (result.pods[r.pod] || 0) + 1;
    }
  }
  return result;
}

// One row per pod: name, RPCs, share.
function printTable(result, count) {
  for (const [pod, n] of Object.entries(result.pods).sort()) {
    console.log(`${pod.padEnd(10)} ${String(n).padStart(5)} ${(100 * n / count).toFixed(1).padStart(6)}%`);
  }
  for (const e of result.errors) console.log(`failed: ${e}`);
}

if (requests > 0) {
  runRpcs(client, requests).then((result) => {
    printTable(result, requests);
    process.exit(result.failed === 0 ? 0 : 1);
  });
  return;
}

const lines = readline.createInterface({ input: process.stdin });
const queue = [];
let busy = false;
async function drain() {
  if (busy) return;
  busy = true;
  while (queue.length > 0) {
    const [command, countText] = queue.shift().trim().split(/\s+/);
    const count = Number(countText);
    if (command === 'quit') process.exit(0);
    if ((command === 'rpc' || (command === 'keeper' && keeper)) && count > 0 && count <= 100000) {
      console.log(JSON.stringify(await runRpcs(command === 'rpc' ? client : keeper, count)));
    } else if (command === 'table' && count > 0 && count <= 100000) {
      printTable(await runRpcs(client, count), count);
      console.log('.');
    } else {
      console.log(JSON.stringify({ error: `bad command: ${command}` }));
    }
  }
  busy = false;
}
lines.on('line', (line) => { queue.push(line); drain(); });
lines.on('close', () => { const wait = () => (busy || queue.length ? setTimeout(wait, 10) : process.exit(0)); wait(); });
