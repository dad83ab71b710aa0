/**
 * A small cluster of real processes on one machine, for the node e2e test and
 * bench:node: three `skiff master` processes in the root network namespace,
 * and N simulated hosts, each a network namespace with its own containerd
 * (private root, state, socket, CNI conf dir, in a private mount namespace)
 * and its own `skiff node` process entered with `nsenter --net` (not
 * `ip netns exec`, which remounts /sys and hides the cgroup hierarchy).
 *
 * The wiring: a bridge this harness creates in the root namespace carries a
 * private /24 (10.200.K.0/24, K random); its .1 is the masters' API address
 * (the only address the root namespace gets), host i is .(10+i) on a veth
 * whose other end is in that bridge. The root namespace forwards nothing
 * (its ip_forward is left alone); each host routes the Service range to its
 * own link so its iptables DNAT happens before routing fails.
 *
 * Teardown (stop(), idempotent, safe after any partial start): node daemons
 * killed, every pod sandbox stopped and removed through each containerd,
 * containerd stopped (shims, runc state, mounts and temp dir with it), pod
 * cgroup tree of this run (--cgroup-root) removed, namespaces deleted (their veths,
 * pod bridges, routes and iptables go with them), the bridge deleted, the
 * masters stopped, temp dirs removed. Node processes also carry the orphan
 * guard, so a worker that dies without teardown does not leave them running.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { issueCertificate, loadOrCreateClusterPki, writeKubeconfig } from '../../src/control/pki/index.js';
import { ApiClient } from '../../src/node/api/index.js';
import { removeCgroupTree } from '../../src/node/kubelet/index.js';
import { buildImageTars } from '../../src/node/images/index.js';
import { type Containerd, startContainerd } from './containerd.js';
import { E2eCluster } from './e2e-cluster.js';
import { freePorts } from './ports.js';

const run = promisify(execFile);
const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
const MAIN_TS = join(REPO_DIR, 'src/cli/main.ts');
const ORPHAN_GUARD = pathToFileURL(fileURLToPath(new URL('./e2e-orphan-guard.ts', import.meta.url))).href;
const NODE_READY_TIMEOUT_MS = 60_000;
const API_READY_TIMEOUT_MS = 60_000;
const NODE_STOP_GRACE_MS = 5_000;
const HOSTS_MAX = 8;
const SERVICE_CIDR = '10.96.0.0/12';
/** The pods' cgroup parent of one run (skiff node --cgroup-root): all of it is removed at the end. */
const cgroupRootOf = (dir: string) => `skiff-e2e-${dir.split('-').pop()!.toLowerCase()}`;

/** Every node process started in this worker; SIGKILLed if the worker exits with them up. */
const liveNodes = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of liveNodes) p.kill('SIGKILL');
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function rand(n: number): string {
  return Math.random().toString(36).slice(2, 2 + n).padEnd(n, '0');
}

async function ip(args: string[]): Promise<void> {
  await run('ip', args, { timeout: 10_000 }).catch((e: Error & { stderr?: string }) => {
    throw new Error(`ip ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
  });
}

export interface SimHost {
  name: string;
  netns: string;
  ip: string;
  bridge: string;
  ctd: Containerd;
  kubeconfig: string;
  rootDir: string;
  logFile: string;
  node: ChildProcess | null;
}

export interface E2eHostsOptions {
  hosts: number;
  label: string;
  /** Extra `skiff node` flags for every host. */
  nodeArgs?: string[];
}

export class E2eHosts {
  readonly repoDir = REPO_DIR;
  readonly dir: string;
  readonly hosts: SimHost[] = [];
  masters: E2eCluster | null = null;
  gateway = '';
  apiUrls: string[] = [];
  adminKubeconfig = '';
  /** Admin client (failing over between the masters). */
  api: ApiClient | null = null;
  private bridge = '';
  private netnses: string[] = [];
  private stopped = false;
  private caPem = '';
  private ca: Awaited<ReturnType<typeof loadOrCreateClusterPki>>['ca'] | null = null;

  constructor(readonly o: E2eHostsOptions) {
    if (!Number.isInteger(o.hosts) || o.hosts < 1 || o.hosts > HOSTS_MAX) throw new Error(`hosts must be 1..${HOSTS_MAX}`);
    // Short: containerd's socket paths live under it (107-byte limit).
    this.dir = mkdtempSync(join(tmpdir(), `skiff-${o.label}-`));
  }

  /** Starts everything; on failure, whatever started is stopped before the error is rethrown. */
  async start(): Promise<void> {
    try {
      await this.startNetwork();
      await this.startMasters();
      const images = await buildImageTars(join(this.dir, 'images'));
      for (let i = 0; i < this.o.hosts; i++) await this.startHost(i, images.map((x) => x.tarPath));
      await Promise.all(this.hosts.map((h) => this.startNode(h)));
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  private async startNetwork(): Promise<void> {
    const used = (await run('ip', ['-4', '-o', 'addr'])).stdout + (await run('ip', ['-4', 'route'])).stdout;
    let k = 0;
    for (let tries = 0; tries < 50 && k === 0; tries++) {
      const c = 1 + Math.floor(Math.random() * 254);
      if (!used.includes(`10.200.${c}.`)) k = c;
    }
    if (k === 0) throw new Error('no free 10.200.K.0/24 for the hosts');
    this.gateway = `10.200.${k}.1`;
    const br = `skbr${rand(6)}`;
    await ip(['link', 'add', br, 'type', 'bridge']);
    this.bridge = br;
    await ip(['addr', 'add', `${this.gateway}/24`, 'dev', br]);
    await ip(['link', 'set', br, 'up']);
  }

  private async startMasters(): Promise<void> {
    const pki = await loadOrCreateClusterPki(join(this.dir, 'pki'));
    this.ca = pki.ca;
    this.caPem = pki.ca.certPem;
    const ports = await freePorts(3);
    this.apiUrls = ports.map((p) => `https://${this.gateway}:${p}`);
    const c = new E2eCluster({
      size: 3,
      label: this.o.label,
      memberArgs: (name) => ['--listen-api-url', this.apiUrls[Number(name.slice(1)) - 1]!, '--pki-dir', pki.dir, '--advertise-address', this.gateway, '--node-monitor-grace-period', '15s'],
    });
    this.masters = c;
    await c.start();
    const admin = issueCertificate({ ca: pki.ca, commonName: 'admin', organizations: ['system:masters'], usages: ['client'] });
    this.adminKubeconfig = join(this.dir, 'admin.kubeconfig');
    await writeKubeconfig(this.adminKubeconfig, { clusterName: 'skiff', server: this.apiUrls[0]!, caPem: this.caPem, user: 'admin', clientCertPem: admin.certPem, clientKeyPem: admin.keyPem });
    this.api = new ApiClient({ baseUrl: this.apiUrls, caPem: this.caPem, certPem: admin.certPem, keyPem: admin.keyPem });
    const deadline = Date.now() + API_READY_TIMEOUT_MS;
    for (;;) {
      try {
        await this.api.get('/api/v1/namespaces/default');
        break;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`the API did not answer within ${API_READY_TIMEOUT_MS} ms: ${String(e)}\n${c.report()}`);
        await sleep(200);
      }
    }
  }

  private async startHost(i: number, imageTars: string[]): Promise<void> {
    const name = `host${i + 1}`;
    const netns = `skiff-t-${rand(8)}`;
    await ip(['netns', 'add', netns]);
    this.netnses.push(netns);
    await ip(['-n', netns, 'link', 'set', 'lo', 'up']);
    const outer = `skv${rand(8)}`;
    await ip(['link', 'add', outer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    await ip(['link', 'set', outer, 'master', this.bridge, 'up']);
    const hostIp = this.gateway.replace(/\.1$/, `.${10 + i + 1}`);
    await ip(['-n', netns, 'addr', 'add', `${hostIp}/24`, 'dev', 'eth0']);
    await ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', netns, 'route', 'add', SERVICE_CIDR, 'dev', 'eth0']);
    const ctd = await startContainerd({ netns, parentDir: this.dir, imageTars });
    const kubeconfig = join(this.dir, `${name}.kubeconfig`);
    const cert = issueCertificate({ ca: this.ca!, commonName: `system:node:${name}`, organizations: ['system:nodes'], usages: ['client'] });
    await writeKubeconfig(kubeconfig, { clusterName: 'skiff', server: this.apiUrls[0]!, caPem: this.caPem, user: `system:node:${name}`, clientCertPem: cert.certPem, clientKeyPem: cert.keyPem });
    this.hosts.push({ name, netns, ip: hostIp, bridge: `skc${i + 1}${rand(4)}`, ctd, kubeconfig, rootDir: join(this.dir, `${name}-root`), logFile: join(this.dir, `${name}.log`), node: null });
  }

  /** Starts (or restarts) the host's `skiff node` and waits for its READY line. */
  async startNode(h: SimHost): Promise<void> {
    if (this.stopped) throw new Error('stopped');
    if (h.node && h.node.exitCode === null && h.node.signalCode === null) throw new Error(`${h.name}: node already running`);
    const args = [
      'node',
      '--kubeconfig', h.kubeconfig,
      '--api', this.apiUrls.join(','),
      '--node-name', h.name,
      '--node-ip', h.ip,
      '--containerd-socket', h.ctd.socket,
      '--root-dir', h.rootDir,
      '--cgroup-root', `/${cgroupRootOf(this.dir)}`,
      '--pod-log-dir', h.ctd.podLogDir,
      '--cni-conf-dir', h.ctd.cniConfDir,
      '--bridge', h.bridge,
      '--resolv-conf', '',
      ...(this.o.nodeArgs ?? []),
    ];
    const start = readSize(h.logFile);
    const fd = openSync(h.logFile, 'a');
    writeSync(fd, `--- e2e-hosts: skiff ${args.join(' ')}\n`);
    let p: ChildProcess;
    try {
      p = spawn('nsenter', [`--net=/run/netns/${h.netns}`, '--', process.execPath, '--import', 'tsx', '--import', ORPHAN_GUARD, MAIN_TS, ...args], {
        cwd: REPO_DIR,
        stdio: ['ignore', fd, fd],
        env: { ...process.env, SKIFF_E2E_PARENT_PID: String(process.pid) },
      });
    } finally {
      closeSync(fd);
    }
    h.node = p;
    liveNodes.add(p);
    p.on('exit', () => liveNodes.delete(p));
    const deadline = Date.now() + NODE_READY_TIMEOUT_MS;
    for (;;) {
      const text = readFrom(h.logFile, start);
      if (/^READY /m.test(text)) return;
      if (p.exitCode !== null || p.signalCode !== null) throw new Error(`${h.name}: skiff node exited (${p.signalCode ?? p.exitCode}) before READY:\n${tail(text)}`);
      if (Date.now() > deadline) throw new Error(`${h.name}: skiff node not READY within ${NODE_READY_TIMEOUT_MS} ms:\n${tail(text)}`);
      await sleep(100);
    }
  }

  /** Sends `signal` to the host's node daemon and waits for it to exit. */
  async killNode(h: SimHost, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = h.node;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    const force = setTimeout(() => p.kill('SIGKILL'), NODE_STOP_GRACE_MS);
    await exited;
    clearTimeout(force);
  }

  /** Runs a command inside the host's network namespace (e.g. busybox wget). */
  async exec(h: SimHost, argv: string[], timeoutMs = 10_000): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const r = await run('nsenter', [`--net=/run/netns/${h.netns}`, '--', ...argv], { timeout: timeoutMs, maxBuffer: 1 << 20 });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as Error & { code?: number; stdout?: string; stderr?: string };
      return { code: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? x.message };
    }
  }

  /** Node daemon and master log tails, for failure messages. */
  report(lines = 40): string {
    const nodes = this.hosts.map((h) => `== ${h.name} (${h.ip}, ${h.netns}) ${h.logFile}\n${tail(existsSync(h.logFile) ? readFileSync(h.logFile, 'utf8') : '', lines)}`);
    return [...nodes, this.masters?.report(lines) ?? ''].join('\n');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all(this.hosts.map((h) => this.killNode(h, 'SIGTERM')));
    for (const h of this.hosts) await h.ctd.stop().catch(() => undefined);
    removeCgroupTree(cgroupRootOf(this.dir));
    for (const ns of this.netnses) await ip(['netns', 'del', ns]).catch(() => undefined);
    if (this.bridge) await ip(['link', 'del', this.bridge]).catch(() => undefined);
    this.api?.close();
    if (this.masters) {
      await this.masters.stop();
      this.masters.removeDir();
    }
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

function readSize(path: string): number {
  try {
    return readFileSync(path).length;
  } catch {
    return 0;
  }
}

function readFrom(path: string, offset: number): string {
  try {
    return readFileSync(path).subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}

function tail(text: string, lines = 40): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}
