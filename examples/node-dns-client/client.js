#!/usr/bin/env node
// node-dns-client: a small Node gRPC client of the echo service through @grpc/grpc-js's own DNS
// resolver and round_robin, the way a Node service reaches a headless Service. It is an example
// of an external strategy for k8slb-sim (scenarios/node-dns-client.yaml) and runs by hand too:
//
//   node client.js --target dns://DNS-HOST:PORT/NAME:PORT --rps N --duration S --concurrency C
//
// It sends RPCs open loop at N per second (at most C in flight; arrivals beyond that wait for a
// slot) for S seconds, at most ceil(N * S) in all, waits up to 2 s for the last answers, prints
// one line per pod that answered and a summary, and exits 0; 2 on a bad flag; 1 when it cannot
// load its modules or no RPC succeeded. SIGTERM or SIGINT ends it early with the same output.
// Modules: NODE_PATH, else the tree's proto/xds/npm/node_modules (scripts/setup installs it).
'use strict';
const path = require('path');
const Module = require('module');

const PROG = 'node-dns-client';
const USAGE = `usage: ${PROG} --target TARGET --rps N --duration S --concurrency C [--proto FILE]
  --target       a gRPC target, e.g. dns://10.96.0.10:53/echo.default.svc.cluster.local:50051
                 (the authority, if any, is the DNS server grpc-js asks)
  --rps          RPCs per second, > 0 and <= 100000
  --duration     seconds to send for, > 0 and <= 86400
  --concurrency  most RPCs in flight, an integer in [1, 10000]
  --proto        the echo service's .proto (default: the tree's proto/echo.proto)`;

function fail(message) {
  console.error(`${PROG}: ${message} (see --help)`);
  process.exit(2);
}

// A number flag within [min, max] (and an integer where asked), else exit 2 naming the flag.
function numberFlag(flag, text, min, max, integer) {
  const value = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(value)) fail(`${flag}: "${text}" is not a number`);
  if (integer && !Number.isInteger(value)) fail(`${flag}: "${text}" is not an integer`);
  if (value < min || value > max || (min === 0 && value === 0)) {
    fail(`${flag}: "${text}" is out of range; must be within ${min === 0 ? '(0' : `[${min}`}, ${max}]`);
  }
  return value;
}

function parseFlags(argv) {
  const flags = {};
  const known = ['--target', '--rps', '--duration', '--concurrency', '--proto'];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    if (!known.includes(arg)) fail(`unknown flag ${JSON.stringify(arg)}`);
    if (i + 1 >= argv.length) fail(`${arg} needs a value`);
    if (arg in flags) fail(`${arg} given twice`);
    flags[arg] = argv[++i];
  }
  for (const required of ['--target', '--rps', '--duration', '--concurrency']) {
    if (!(required in flags)) fail(`${required} is required`);
  }
  if (flags['--target'] === '') fail('--target is empty');
  return {
    target: flags['--target'],
    rps: numberFlag('--rps', flags['--rps'], 0, 100000, false),
    durationS: numberFlag('--duration', flags['--duration'], 0, 86400, false),
    concurrency: numberFlag('--concurrency', flags['--concurrency'], 1, 10000, true),
    proto: flags['--proto'] ?? path.join(__dirname, '..', '..', 'proto', 'echo.proto'),
  };
}

// NODE_PATH and the usual node_modules folders first, then the tree's npm folder.
function load(name) {
  try {
    return require(name);
  } catch (err) {
    if (err.code !== 'MODULE_NOT_FOUND') throw err;
  }
  const tree = path.join(__dirname, '..', '..', 'proto', 'xds', 'npm', 'package.json');
  try {
    return Module.createRequire(tree)(name);
  } catch (err) {
    if (err.code !== 'MODULE_NOT_FOUND') throw err;
    console.error(`${PROG}: cannot find ${name}: run scripts/setup (it npm-installs proto/xds/npm) or set NODE_PATH`);
    process.exit(1);
  }
}

const options = parseFlags(process.argv.slice(2));

// grpc-js 1.14 asks a dns:// target's authority only through its "alternative" resolver (c-ares,
// dns.Resolver.setServers); its default, dns.lookup, is getaddrinfo and ignores the authority
// (src/resolver-dns.ts, DnsResolver.lookup). The flag is read when grpc-js loads, so set it first.
const authority = /^dns:\/\/([^/]+)\//.exec(options.target);
if (authority) {
  const setting = process.env.GRPC_NODE_USE_ALTERNATIVE_RESOLVER;
  if (setting !== undefined && setting !== 'true') {
    fail(`--target names DNS server ${authority[1]}, which grpc-js ignores with GRPC_NODE_USE_ALTERNATIVE_RESOLVER=${setting}`);
  }
  process.env.GRPC_NODE_USE_ALTERNATIVE_RESOLVER = 'true';
}

const grpc = load('@grpc/grpc-js');
const protoLoader = load('@grpc/proto-loader');

let Echo;
try {
  const definition = protoLoader.loadSync(options.proto, { keepCase: true, longs: String });
  Echo = grpc.loadPackageDefinition(definition).k8slb.echo.Echo;
} catch (err) {
  fail(`--proto: cannot load the echo service from ${options.proto}: ${err.message}`);
}
if (typeof Echo !== 'function') fail(`--proto: ${options.proto} has no service k8slb.echo.Echo`);

// round_robin from the channel's default service config, as the grpc++ grpc-dns strategy does.
const client = new Echo(options.target, grpc.credentials.createInsecure(), {
  'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
});

const total = Math.ceil(options.rps * options.durationS);
const intervalMs = 1000 / options.rps;
const startMs = Date.now();
const endMs = startMs + options.durationS * 1000;
const pods = new Map();
const errors = new Map();
let due = 0;      // arrivals so far (sent or waiting for a slot)
let sent = 0;
let inFlight = 0;
let ok = 0;
let failed = 0;
let finished = false;
let timer = null;

function sendOne() {
  const id = sent++;
  inFlight++;
  const deadline = new Date(Math.min(Date.now() + 2000, endMs + 2000));
  client.Echo({ message: PROG, request_id: String(id) }, { deadline }, (err, response) => {
    inFlight--;
    if (err) {
      failed++;
      const text = `${grpc.status[err.code] ?? err.code}: ${err.details}`;
      errors.set(text, (errors.get(text) ?? 0) + 1);
    } else {
      ok++;
      pods.set(response.pod_name, (pods.get(response.pod_name) ?? 0) + 1);
    }
    if (sent < due && Date.now() < endMs) sendOne();
    else if (finished && inFlight === 0) report();
  });
}

// Arrivals are evenly spaced from the start (not from the previous send), so a late timer catches up.
function tick() {
  const now = Date.now();
  if (now >= endMs || due >= total) return stop();
  due = Math.min(total, Math.floor((now - startMs) / intervalMs) + 1);
  while (sent < due && inFlight < options.concurrency) sendOne();
  timer = setTimeout(tick, Math.max(1, Math.min(intervalMs, 50) - (Date.now() - now)));
}

function stop() {
  if (finished) return;
  finished = true;
  clearTimeout(timer);
  if (inFlight === 0) report();
  else setTimeout(report, 2000).unref();
}

let reported = false;
function report() {
  if (reported) return;
  reported = true;
  const rows = [...pods.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [pod, n] of rows) {
    console.log(`${pod.padEnd(20)} ${String(n).padStart(7)} ${(ok ? (100 * n) / ok : 0).toFixed(1).padStart(6)}%`);
  }
  for (const [text, n] of errors) console.log(`failed ${n}: ${text}`);
  console.log(`${PROG}: ${ok} ok, ${failed} failed, ${sent} sent in ${((Date.now() - startMs) / 1000).toFixed(1)} s to ${options.target}`);
  client.close();
  process.exit(ok > 0 ? 0 : 1);
}

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, stop);
tick();
