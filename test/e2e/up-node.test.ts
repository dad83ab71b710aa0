/**
 * The README's main job with a worker: `skiff up --node yes`, run inside a
 * network namespace this test creates (so the masters' loopback, the node's
 * iptables rules, its DNS address and bridge, and the private containerd's
 * pods all live there), driven with the real kubectl from inside it:
 * a Deployment runs, a Service answers on its ClusterIP, `kubectl exec`
 * and `kubectl logs` work; then Ctrl-C (SIGINT) removes everything the node
 * installed in that namespace.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import anyTest from 'ava';
import { BUSYBOX_IMAGE } from '../../src/node/images/index.js';
import { createTestNetns } from '../helpers/containerd.js';
import { exclusive } from '../helpers/e2e-lock.js';
import { hostGate, hostMissingReason } from '../helpers/host-gate.js';

const FILE = 'test/e2e/up-node.test.ts';
const KUBECTL = process.env.KUBECTL_BIN ?? 'kubectl';
const MAIN_TS = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const REPO_DIR = new URL('../..', import.meta.url).pathname;
const NEEDS = ['root', 'containerd', 'ctr', 'runc', 'cni', 'busybox', 'ip', 'iptables', 'iptables-restore', 'iptables-save', 'conntrack'] as const;

const hostOk = hostMissingReason([...NEEDS]) === null;
const kubectlMissing = hostOk ? (spawnSync(KUBECTL, ['version', '--client'], { timeout: 10_000 }).status === 0 ? null : `${KUBECTL} is not installed`) : null;
let g = hostGate(anyTest, FILE, [...NEEDS]);
if (kubectlMissing !== null) {
  if (process.env.CI === 'true') anyTest.serial('prerequisite: kubectl is installed (required in CI)', (t) => t.fail(`${kubectlMissing} — CI must provide it`));
  else {
    console.log(`SKIP ${FILE}: ${kubectlMissing} (with CI=true these tests fail instead)`);
    g = { test: (t, f) => anyTest.skip(t, f), serial: (t, f) => anyTest.serial.skip(t, f), enabled: false };
  }
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let netns: { name: string; remove: () => Promise<void> } | null = null;
let dir = '';
let up: ChildProcess | null = null;
let upOut = '';

/** A command inside the test's namespace. */
function inNs(argv: string[], input = '', env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn('nsenter', [`--net=/run/netns/${netns!.name}`, '--', ...argv], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    p.stdin.on('error', () => undefined); // a command that exits before reading its input
    p.stdin.end(input);
  });
}

const kubectl = (args: string[], input = '') => inNs([KUBECTL, '--cache-dir', join(dir, 'kubectl-cache'), ...args], input, { KUBECONFIG: join(dir, 'cluster', 'admin.kubeconfig') });

async function eventually<T>(what: string, f: () => Promise<T | null | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f().catch(() => null);
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out: ${what}\n--- skiff up:\n${upOut.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

if (g.enabled) {
  anyTest.before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'skiff-up-node-'));
    netns = await createTestNetns();
    // A host has an uplink and a default route (a ClusterIP is routed before iptables rewrites it):
    // a veth whose other end stays unaddressed in the root namespace, and a default route through it.
    const peer = `skv${netns.name.slice(-8)}`;
    const ip = (args: string[]) => spawnSync('ip', args, { encoding: 'utf8' });
    for (const args of [
      ['link', 'add', peer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns.name],
      ['link', 'set', peer, 'up'],
      ['-n', netns.name, 'addr', 'add', '10.201.0.2/24', 'dev', 'eth0'],
      ['-n', netns.name, 'link', 'set', 'eth0', 'up'],
      ['-n', netns.name, 'route', 'add', 'default', 'via', '10.201.0.1'],
    ]) {
      const r = ip(args);
      if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
    }
  });
  anyTest.after.always(async () => {
    if (up && up.exitCode === null && up.signalCode === null) {
      // Ctrl-C first (the node removes its pods, rules, routes, address and bridge), then the group.
      up.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 15_000)).then(() => undefined);
      try {
        process.kill(-up.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await netns?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
}

g.serial('skiff up --node yes: a worker on this host runs a Deployment behind a Service, exec and logs work, and Ctrl-C removes what the node installed', async (t) => {
  await exclusive('heavy', async () => {
    up = spawn('nsenter', [`--net=/run/netns/${netns!.name}`, '--', process.execPath, '--import', 'tsx', MAIN_TS, 'up', '--dir', join(dir, 'cluster'), '--node', 'yes'], { cwd: REPO_DIR, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    up.stdout!.setEncoding('utf8').on('data', (d: string) => (upOut += d));
    up.stderr!.setEncoding('utf8').on('data', (d: string) => (upOut += d));
    const ready = await eventually('READY', async () => {
      const line = upOut.split('\n').find((l) => l.startsWith('READY '));
      return line ? (JSON.parse(line.slice(6)) as { node: { name: string } | null }) : null;
    }, 120_000);
    t.truthy(ready.node, upOut.slice(-2000));
    const nodeName = ready.node!.name;
    await eventually('the node Ready', async () => /\sReady\s/.test((await kubectl(['get', 'node', nodeName, '--no-headers'])).stdout));

    const web = `echo "hello from $(hostname)" > /www/index.html && echo started && exec httpd -f -p 80 -h /www`;
    t.is((await kubectl(['create', 'deployment', 'web', `--image=${BUSYBOX_IMAGE}`, '--replicas=2', '--', 'sh', '-c', web])).code, 0);
    t.is((await kubectl(['expose', 'deployment', 'web', '--port', '80'])).code, 0);
    await eventually('2 web pods Running', async () => ((await kubectl(['get', 'pods', '-l', 'app=web', '--no-headers'])).stdout.match(/\bRunning\b/g) ?? []).length === 2);
    const ip = (await kubectl(['get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}'])).stdout.trim();
    t.regex(ip, /^10\.96\./);
    const page = await eventually('the Service answers', async () => {
      const r = await inNs(['busybox', 'wget', '-q', '-O', '-', `http://${ip}/`]);
      return r.code === 0 ? r.stdout : null;
    });
    t.regex(page, /^hello from web-/);
    const pod = (await kubectl(['get', 'pod', '-l', 'app=web', '-o', 'jsonpath={.items[0].metadata.name}'])).stdout.trim();
    const ex = await kubectl(['exec', pod, '--', 'cat', '/www/index.html']);
    t.is(ex.stdout, `hello from ${pod}\n`, ex.stderr);
    const logs = await kubectl(['logs', pod]);
    t.is(logs.stdout, 'started\n', logs.stderr);

    // Ctrl-C: everything the node put into this "host" goes.
    up!.kill('SIGINT');
    await eventually('skiff up to exit', async () => up!.exitCode !== null || up!.signalCode !== null, 60_000);
    t.is(up!.exitCode, 0, upOut.slice(-2000));
    const nat = (await inNs(['iptables-save', '-t', 'nat'])).stdout;
    t.notRegex(nat, /KUBE-|SKIFF-/);
    t.notRegex((await inNs(['ip', 'addr', 'show', 'dev', 'lo'])).stdout, /10\.96\.0\.10/);
    t.not((await inNs(['ip', 'link', 'show', 'skiff0'])).code, 0, 'the pod bridge is gone');
  });
});
