/**
 * `skiff up`: a local cluster of `skiff master` processes in the foreground.
 * Prints `READY {json}` once the cluster has a leader; Ctrl-C (or SIGTERM)
 * stops every member cleanly. Each member logs to DIR/<name>.log, serves
 * the Kubernetes API over HTTPS with a certificate from the cluster CA in
 * DIR/pki, and DIR/admin.kubeconfig lets kubectl in as the admin.
 *
 * With --node auto (the default) it also runs one worker on this host when
 * the host has what a node needs (root, containerd, runc, the CNI plugins,
 * iptables, busybox-static): a private containerd, the local images, and a
 * `skiff node` process with its own credential; when something is missing
 * it says what and how to install it, and runs the masters alone. Ctrl-C
 * stops the node, removes its rules, routes and pods, then the masters.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { issueCertificate, loadOrCreateClusterPki, writeKubeconfig } from '../control/pki/index.js';
import { type Containerd, startContainerd } from '../node/containerd/index.js';
import { cleanupNode } from '../node/daemon.js';
import { removeCgroupTree } from '../node/kubelet/index.js';
import { buildImageTars } from '../node/images/index.js';
import { cniBinDir, nodePrerequisites } from '../node/prerequisites.js';
import { UsageError } from './sim.js';

export const UP_USAGE = `usage: skiff up [--masters 3|5] [--dir DIR] [--base-port P] [--api-base-port A] [--node auto|yes|no]

  --masters        members to start (default 3)
  --node           also run a worker on this host: auto (when it has what a node needs, else say what is
                   missing), yes (fail when it cannot), no (default auto)
  --dir            where their data and logs go (default .data/cluster); an existing dir restarts that cluster
  --base-port      member i listens on P+3i (etcd API), P+3i+1 (peers), P+3i+2 (metrics) (default 23790)
  --api-base-port  member i serves the Kubernetes API over HTTPS on A+i (default 6443)

The cluster CA is DIR/pki; DIR/admin.kubeconfig holds an admin client certificate:
  KUBECONFIG=DIR/admin.kubeconfig kubectl get namespaces`;

interface Spawned {
  name: string;
  client: string;
  peer: string;
  metrics: string;
  api: string;
  dataDir: string;
  proc: ChildProcess;
}

/** The admin's client certificate: `system:masters` is the group that may do everything. */
const ADMIN_USER = 'skiff-admin';
const ADMIN_GROUP = 'system:masters';

export async function upCommand(argv: string[], out: (s: string) => void): Promise<number> {
  // Whoever reads our output may go away (a closed terminal, a dead test runner): the cluster still stops cleanly.
  process.stdout.on('error', () => undefined);
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      masters: { type: 'string', default: '3' },
      dir: { type: 'string', default: '.data/cluster' },
      'base-port': { type: 'string', default: '23790' },
      'api-base-port': { type: 'string', default: '6443' },
      node: { type: 'string', default: 'auto' },
    },
  });
  if (!['auto', 'yes', 'no'].includes(values.node!)) throw new UsageError(`--node must be auto, yes or no, got ${values.node}`);
  const n = Number(values.masters);
  if (n !== 1 && n !== 3 && n !== 5) throw new UsageError(`--masters must be 1, 3 or 5, got ${values.masters}`);
  const base = Number(values['base-port']);
  if (!Number.isSafeInteger(base) || base < 1024 || base + 3 * n > 65535) throw new UsageError(`--base-port must leave room for ${3 * n} ports below 65536`);
  const apiBase = Number(values['api-base-port']);
  if (!Number.isSafeInteger(apiBase) || apiBase < 1024 || apiBase + n > 65535) throw new UsageError(`--api-base-port must leave room for ${n} ports below 65536`);
  if (apiBase + n > base && apiBase < base + 3 * n) throw new UsageError('--api-base-port overlaps the ports of --base-port');
  const dir = resolve(values.dir!);
  mkdirSync(dir, { recursive: true });
  const pki = await loadOrCreateClusterPki(join(dir, 'pki'));
  const admin = issueCertificate({ ca: pki.ca, commonName: ADMIN_USER, organizations: [ADMIN_GROUP], usages: ['client'] });

  const specs = Array.from({ length: n }, (_, i) => ({
    name: `m${i + 1}`,
    client: `http://127.0.0.1:${base + 3 * i}`,
    peer: `http://127.0.0.1:${base + 3 * i + 1}`,
    metrics: `http://127.0.0.1:${base + 3 * i + 2}`,
    api: `https://127.0.0.1:${apiBase + i}`,
    dataDir: `${dir}/m${i + 1}`,
  }));
  const kubeconfig = join(dir, 'admin.kubeconfig');
  await writeKubeconfig(kubeconfig, { clusterName: 'skiff', server: specs[0]!.api, caPem: pki.ca.certPem, user: ADMIN_USER, clientCertPem: admin.certPem, clientKeyPem: admin.keyPem });
  const initialCluster = specs.map((s) => `${s.name}=${s.peer}`).join(',');
  const members: Spawned[] = specs.map((s) => ({ ...s, proc: spawnMaster(s, initialCluster, `${dir}/${s.name}.log`, pki.dir) }));

  let stopping = false;
  let node: LocalNode | null = null;
  const stopAll = async (): Promise<void> => {
    stopping = true;
    // The masters stop whatever happens to the node's cleanup.
    if (node) await node.stop(out).catch((e: unknown) => out(`stopping the node: ${e instanceof Error ? e.message : String(e)}`));
    await Promise.all(members.map((m) => stopChild(m.proc)));
  };
  const exited = new Promise<number>((resolveExit) => {
    for (const m of members) {
      m.proc.on('exit', (code, signal) => {
        if (stopping) return;
        out(`member ${m.name} exited (${signal ?? `code ${code}`}); see ${dir}/${m.name}.log — stopping the others`);
        void stopAll().then(() => resolveExit(1));
      });
    }
  });
  const signalled = new Promise<number>((resolveSig) => {
    const onSig = () => {
      if (stopping) return;
      out('stopping the cluster...');
      void stopAll().then(() => resolveSig(0));
    };
    process.once('SIGINT', onSig);
    process.once('SIGTERM', onSig);
  });

  const tlsClient = { ca: pki.ca.certPem, cert: admin.certPem, key: admin.keyPem };
  let ready = await Promise.race([waitForLeader(members).then((ok) => ok && waitForApi(members, tlsClient)), exited.then(() => false), signalled.then(() => false)]);
  let nodeInfo: Record<string, unknown> | null = null;
  if (ready && values.node !== 'no') {
    const pre = nodePrerequisites();
    if (pre.missing.length > 0) {
      const msg = `no node on this host: missing ${pre.missing.join('; ')}${pre.install ? ` — install with: ${pre.install}` : ''}`;
      if (values.node === 'yes') {
        out(msg);
        await stopAll();
        return 1;
      }
      out(`${msg} (the masters run without a worker; --node no silences this)`);
    } else {
      try {
        node = await startLocalNode(dir, pki, members.map((m) => m.api), out);
        nodeInfo = { name: node.name, log: node.log, kubeconfig: node.kubeconfig, containerd_socket: node.containerd.socket, read_only_port: node.readOnlyPort };
        node.proc.on('exit', (code, signal) => {
          if (stopping) return;
          out(`the node exited (${signal ?? `code ${code}`}); see ${node!.log} — the masters keep running`);
        });
      } catch (e) {
        out(`the node did not start: ${e instanceof Error ? e.message : String(e)}`);
        if (values.node === 'yes') {
          await stopAll();
          return 1;
        }
        ready = true;
      }
    }
  }
  if (ready) {
    out(
      `READY ${JSON.stringify({
        etcd_endpoints: members.map((m) => m.client).join(','),
        dir,
        metrics_endpoints: members.map((m) => m.metrics).join(','),
        api_endpoints: members.map((m) => m.api).join(','),
        kubeconfig,
        members: members.map((m) => ({ name: m.name, client: m.client, peer: m.peer, metrics: m.metrics, api: m.api, pid: m.proc.pid, log: `${dir}/${m.name}.log` })),
        node: nodeInfo,
      })}`,
    );
  }
  return Promise.race([exited, signalled]);
}

function spawnMaster(s: Omit<Spawned, 'proc'>, initialCluster: string, logFile: string, pkiDir: string): ChildProcess {
  const log = createWriteStream(logFile, { flags: 'a' });
  // The same Node and entry point as this process (tsx in a source checkout).
  const args = [
    ...process.execArgv,
    process.argv[1]!,
    'master',
    '--name', s.name,
    '--data-dir', s.dataDir,
    '--listen-client-urls', s.client,
    '--advertise-client-urls', s.client,
    '--listen-peer-urls', s.peer,
    '--initial-advertise-peer-urls', s.peer,
    '--listen-metrics-urls', s.metrics,
    '--initial-cluster', initialCluster,
    '--listen-api-url', s.api,
    '--pki-dir', pkiDir,
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  proc.stdout!.pipe(log);
  proc.stderr!.pipe(log);
  return proc;
}

function stopChild(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const kill = setTimeout(() => p.kill('SIGKILL'), 10_000);
    p.once('exit', () => {
      clearTimeout(kill);
      resolveStop();
    });
    p.kill('SIGTERM');
  });
}

/** Polls the members' /healthz until one reports a leader. */
async function waitForLeader(members: Spawned[], timeoutMs = 60_000): Promise<boolean> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    for (const m of members) {
      try {
        const r = await fetch(`${m.metrics}/healthz`, { signal: AbortSignal.timeout(500) });
        if (r.ok) return true;
      } catch {
        /* not up yet */
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/** Polls every member's Kubernetes API /readyz (system namespaces made) until all answer 200. */
async function waitForApi(members: Spawned[], tls: { ca: string; cert: string; key: string }, timeoutMs = 60_000): Promise<boolean> {
  const t0 = Date.now();
  const pending = new Set(members.map((m) => m.api));
  while (Date.now() - t0 < timeoutMs && pending.size > 0) {
    for (const url of [...pending]) if ((await httpsStatus(`${url}/readyz`, tls)) === 200) pending.delete(url);
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 100));
  }
  return pending.size === 0;
}

function httpsStatus(url: string, tls: { ca: string; cert: string; key: string }): Promise<number> {
  return new Promise((resolveStatus) => {
    const req = httpsGet(url, { ...tls, timeout: 1000 }, (res) => {
      res.resume();
      resolveStatus(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolveStatus(0));
  });
}

interface LocalNode {
  name: string;
  log: string;
  kubeconfig: string;
  readOnlyPort: number;
  containerd: Containerd;
  proc: ChildProcess;
  stop(out: (s: string) => void): Promise<void>;
}

const NODE_READY_TIMEOUT_MS = 60_000;
const CLUSTER_DNS = '10.96.0.10';
const CLUSTER_CIDR = '10.244.0.0/16';
/** The local node's pods' cgroup parent: its own tree, removed when `up` stops (no kubelet is left to do it). */
const CGROUP_ROOT = '/skiff-up';

/** A private containerd with the local images, a node credential, and a `skiff node` process on this host. */
async function startLocalNode(dir: string, pki: Awaited<ReturnType<typeof loadOrCreateClusterPki>>, apis: string[], out: (s: string) => void): Promise<LocalNode> {
  const name = hostname().toLowerCase().replace(/[^a-z0-9.-]/g, '-') || 'node';
  const nodeDir = join(dir, 'node');
  mkdirSync(nodeDir, { recursive: true });
  const images = await buildImageTars(join(nodeDir, 'images'));
  const containerd = await startContainerd({ parentDir: '/tmp', cniConfDir: join(nodeDir, 'net.d'), cniBinDir: cniBinDir(), imageTars: images.map((i) => i.tarPath) });
  const cred = issueCertificate({ ca: pki.ca, commonName: `system:node:${name}`, organizations: ['system:nodes'], usages: ['client'] });
  const kubeconfig = join(dir, 'node.kubeconfig');
  await writeKubeconfig(kubeconfig, { clusterName: 'skiff', server: apis[0]!, caPem: pki.ca.certPem, user: `system:node:${name}`, clientCertPem: cred.certPem, clientKeyPem: cred.keyPem });
  const log = join(dir, 'node.log');
  const logStream = createWriteStream(log, { flags: 'a' });
  const args = [
    ...process.execArgv,
    process.argv[1]!,
    'node',
    '--kubeconfig', kubeconfig,
    '--api', apis.join(','),
    '--node-name', name,
    '--containerd-socket', containerd.socket,
    '--cni-conf-dir', containerd.cniConfDir,
    '--root-dir', join(nodeDir, 'kubelet'),
    '--pod-log-dir', join(nodeDir, 'pods'),
    '--cluster-cidr', CLUSTER_CIDR,
    '--cluster-dns', CLUSTER_DNS,
    '--cgroup-root', CGROUP_ROOT,
    '--read-only-port', '0',
    '--port', '0',
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  let buf = '';
  const readyLine = new Promise<{ readOnlyPort: number }>((resolveReady, rejectReady) => {
    const timer = setTimeout(() => rejectReady(new Error(`no READY from the node within ${NODE_READY_TIMEOUT_MS} ms; see ${log}`)), NODE_READY_TIMEOUT_MS);
    proc.stdout!.on('data', (d: Buffer) => {
      logStream.write(d);
      if (buf.length < 1 << 20) buf += d.toString('utf8');
      const line = buf.split('\n').find((l) => l.startsWith('READY '));
      if (line) {
        clearTimeout(timer);
        resolveReady(JSON.parse(line.slice(6)) as { readOnlyPort: number });
      }
    });
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      rejectReady(new Error(`the node exited (${signal ?? `code ${code}`}); see ${log}`));
    });
  });
  proc.stderr!.pipe(logStream);
  const stop = async (say: (s: string) => void) => {
    say('stopping the node (its pods, rules and routes go with it)...');
    await stopChild(proc);
    await cleanupNode({ clusterDNS: CLUSTER_DNS, clusterCidr: CLUSTER_CIDR }).catch((e: unknown) => say(`node cleanup: ${e instanceof Error ? e.message : String(e)}`));
    await containerd.stop().catch((e: unknown) => say(`stopping containerd: ${e instanceof Error ? e.message : String(e)}`));
    removeCgroupTree(CGROUP_ROOT);
  };
  try {
    const r = await readyLine;
    out(`node ${name} is up (containerd ${containerd.socket}, log ${log})`);
    return { name, log, kubeconfig, readOnlyPort: r.readOnlyPort, containerd, proc, stop };
  } catch (e) {
    await stop(() => undefined);
    throw e;
  }
}
