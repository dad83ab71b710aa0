/**
 * The CRI client against a real containerd (private instance in a network
 * namespace this test creates), real runc and real CNI plugins: images
 * imported from the busybox-static OCI tars, a pod sandbox on a pod CIDR,
 * an httpd container reached with ExecSync and from the "host", CRI logs,
 * exit codes, resources, stats, hostNetwork, typed errors, and the per-call
 * latencies (printed as one JSON line).
 */
import { execFile } from 'node:child_process';
import { readdir, rmdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import test from 'ava';
import { CriClient, CriError, type ContainerConfig, type PodSandboxConfig } from '../src/node/cri/index.js';
import { BUSYBOX_IMAGE, INDEX_HTML, PAUSE_IMAGE, buildImageTars } from '../src/node/images/index.js';
import { parseCidr, writeCniConfig } from '../src/node/network/index.js';
import { createTestNetns, readWhen, startContainerd, type Containerd } from './helpers/containerd.js';
import { hostGate } from './helpers/host-gate.js';

const run = promisify(execFile);
const g = hostGate(test, 'test/node-cri.test.ts', ['root', 'containerd', 'ctr', 'runc', 'cni', 'busybox', 'ip']);

const POD_CIDR = '10.244.7.0/24';
let ctd: Containerd | null = null;
let netns: { name: string; remove: () => Promise<void> } | null = null;
let imagesDir = '';

/** Per-call latencies, ms. */
const lat: Record<string, number[]> = {};
async function timed<T>(name: string, f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    (lat[name] ??= []).push(performance.now() - t0);
  }
}

function inCidr(ip: string, cidr: string): boolean {
  const { network, prefix } = parseCidr(cidr);
  const toInt = (s: string): number => s.split('.').reduce((n, p) => n * 256 + Number(p), 0);
  const size = 2 ** (32 - prefix);
  return toInt(ip) >= toInt(network) && toInt(ip) < toInt(network) + size;
}

/**
 * Pods get a cgroup parent as kubelet gives them (containerd's pod stats need
 * one); all of them under one test-private cgroup, removed at the end.
 */
function cgroupRoot(): string {
  return `/${netns?.name ?? 'skiff-t'}`;
}

/** Removes the test's cgroup tree in every v1 hierarchy (cgroup dirs go with rmdir once empty). */
async function removeCgroups(): Promise<void> {
  const base = '/sys/fs/cgroup';
  for (const ctl of await readdir(base).catch(() => [] as string[])) {
    const root = `${base}/${ctl}${cgroupRoot()}`;
    const pods = await readdir(root, { withFileTypes: true }).catch(() => null);
    if (pods === null) continue;
    for (const p of pods) if (p.isDirectory()) await rmdir(`${root}/${p.name}`).catch(() => undefined);
    await rmdir(root).catch(() => undefined);
  }
}

let podSeq = 0;
function sandboxConfig(c: Containerd, name: string, extra: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  const uid = `uid-${name}-${++podSeq}`;
  return {
    metadata: { name, uid, namespace: 'default', attempt: 0 },
    hostname: name,
    logDirectory: `${c.podLogDir}/default_${name}_${uid}`,
    labels: { 'skiff.io/test': 'node-cri', app: name },
    linux: { cgroupParent: `${cgroupRoot()}/pod${uid}`, securityContext: { namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
    ...extra,
  };
}

function containerConfig(name: string, command: string[], extra: Partial<ContainerConfig> = {}): ContainerConfig {
  return { metadata: { name, attempt: 0 }, image: BUSYBOX_IMAGE, command, logPath: `${name}/0.log`, ...extra };
}

async function waitState(c: Containerd, id: string, state: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while ((await c.cri.containerStatus(id)).state !== state) {
    if (Date.now() > end) throw new Error(`container ${id} never reached ${state}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function need(): Containerd {
  if (!ctd) throw new Error('containerd not started');
  return ctd;
}

if (g.enabled) {
  test.before(async () => {
    netns = await createTestNetns();
    imagesDir = (await run('mktemp', ['-d', '/tmp/skiff-img-XXXXXX'])).stdout.trim();
    const images = await buildImageTars(imagesDir);
    ctd = await startContainerd({ netns: netns.name, imageTars: images.map((i) => i.tarPath) });
    await writeCniConfig(ctd.cniConfDir, { podCidr: POD_CIDR, bridge: 'skiff-t0', dataDir: ctd.cniDataDir });
  });

  test.after.always(async () => {
    try {
      await ctd?.stop();
    } finally {
      await removeCgroups();
      await netns?.remove();
      if (imagesDir) await run('rm', ['-rf', imagesDir]);
      const summary: Record<string, { n: number; p50_ms: number; max_ms: number }> = {};
      for (const [k, v] of Object.entries(lat)) {
        const s = [...v].sort((a, b) => a - b);
        summary[k] = { n: s.length, p50_ms: Math.round(s[Math.floor(s.length / 2)] as number), max_ms: Math.round(s[s.length - 1] as number) };
      }
      console.log(`CRI latencies ${JSON.stringify(summary)}`);
    }
  });
}

g.serial('images: imported tars are found by ImageStatus and ListImages; a missing one is absent', async (t) => {
  const c = need();
  const version = await c.cri.version();
  t.is(version.runtimeName, 'containerd');
  t.is(version.runtimeApiVersion, 'v1');
  const busybox = await c.cri.imageStatus(BUSYBOX_IMAGE);
  t.truthy(busybox);
  t.true(busybox!.id.startsWith('sha256:'));
  t.deepEqual(busybox!.repoTags, [BUSYBOX_IMAGE]);
  t.true(busybox!.sizeBytes > 1_000_000);
  t.truthy(await c.cri.imageStatus(PAUSE_IMAGE));
  t.is(await c.cri.imageStatus('skiff.local/absent:1'), null);
  const tags = (await c.cri.listImages()).flatMap((i) => i.repoTags);
  t.true(tags.includes(BUSYBOX_IMAGE) && tags.includes(PAUSE_IMAGE));
  const fs = await c.cri.imageFsInfo();
  t.true(fs.imageFilesystems.length > 0);
  t.is(typeof fs.imageFilesystems[0]!.usedBytes, 'number');
  const status = await c.cri.status();
  t.true(status.conditions.some((x) => x.type === 'RuntimeReady' && x.status));
});

g.serial('a pod sandbox gets an IP in the node pod CIDR; httpd in it answers ExecSync and the host', async (t) => {
  const c = need();
  const sb = sandboxConfig(c, 'web');
  const podId = await timed('RunPodSandbox', () => c.cri.runPodSandbox(sb));
  const status = await c.cri.podSandboxStatus(podId);
  t.is(status.state, 'SANDBOX_READY');
  t.true(inCidr(status.ip, POD_CIDR), status.ip);
  t.is(status.metadata.name, 'web');
  t.is(status.namespaceOptions?.network, 'POD');
  t.deepEqual((await c.cri.listPodSandbox({ labelSelector: { app: 'web' } })).map((p) => p.id), [podId]);
  t.deepEqual(await c.cri.listPodSandbox({ labelSelector: { app: 'nobody' } }), []);

  const cfg = containerConfig('httpd', ['httpd', '-f', '-p', '8080', '-h', '/www'], {
    envs: [{ key: 'GREETING', value: 'hi' }],
    labels: { role: 'server' },
    linux: { resources: { cpuPeriod: 100_000, cpuQuota: 50_000, cpuShares: 512, memoryLimitInBytes: 64 * 1024 * 1024, oomScoreAdj: 500 } },
  });
  const id = await timed('CreateContainer', () => c.cri.createContainer(podId, cfg, sb));
  await timed('StartContainer', () => c.cri.startContainer(id));
  const cs = await c.cri.containerStatus(id);
  t.is(cs.state, 'CONTAINER_RUNNING');
  t.true(cs.startedAtMs > 0 && cs.finishedAtMs === 0);
  t.is(cs.logPath, `${sb.logDirectory}/httpd/0.log`);

  // httpd may take a moment to bind: retry the fetch briefly.
  let page = '';
  for (let i = 0; i < 40 && page !== INDEX_HTML; i++) {
    const r = await timed('ExecSync', () => c.cri.execSync(id, ['wget', '-q', '-O', '-', 'http://127.0.0.1:8080/'], 10));
    page = r.exitCode === 0 ? r.stdout.toString() : '';
    if (page !== INDEX_HTML) await new Promise((res) => setTimeout(res, 50));
  }
  t.is(page, INDEX_HTML);
  // From the "host" (the namespace containerd runs in), through the CNI bridge.
  const fromHost = await run('nsenter', [`--net=/run/netns/${c.netns}`, '--', 'busybox', 'wget', '-q', '-O', '-', `http://${status.ip}:8080/`], { timeout: 10_000 });
  t.is(fromHost.stdout, INDEX_HTML);

  // Environment, resources and the never-negative oom_score_adj reached the container.
  const env = await c.cri.execSync(id, ['sh', '-c', 'echo $GREETING; cat /proc/self/oom_score_adj; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us'], 10);
  t.is(env.exitCode, 0, env.stderr.toString());
  t.deepEqual(env.stdout.toString().trim().split('\n'), ['hi', '500', String(64 * 1024 * 1024), '50000']);
  const failing = await c.cri.execSync(id, ['sh', '-c', 'echo oops >&2; exit 7'], 5);
  t.is(failing.exitCode, 7);
  t.is(failing.stderr.toString(), 'oops\n');

  const stats = await c.cri.containerStats(id);
  t.is(stats.id, id);
  t.is(stats.metadata.name, 'httpd');
  t.is(typeof stats.cpu?.usageCoreNanoSeconds, 'number');
  t.true((stats.memory?.workingSetBytes ?? -1) >= 0);
  t.is(typeof stats.writableLayer?.usedBytes, 'number');
  t.true(stats.cpu!.timestampMs > 0);
  const listed = await c.cri.listContainerStats({ podSandboxId: podId });
  t.deepEqual(listed.map((s) => s.id), [id]);
  // containerd 1.6 serves pod stats for sandboxes with a cgroup parent (it fails with "cgroupPath is empty" otherwise).
  const podStats = await c.cri.podSandboxStats(podId);
  t.is(podStats.id, podId);
  t.is(typeof podStats.cpu?.usageCoreNanoSeconds, 'number');
  t.true((podStats.memory?.workingSetBytes ?? -1) >= 0);
  t.true(podStats.containers.some((x) => x.id === id));
  t.true((podStats.network?.interfaces.length ?? 0) + (podStats.network?.defaultInterface ? 1 : 0) > 0, JSON.stringify(podStats.network));
  t.deepEqual((await c.cri.listPodSandboxStats({ labelSelector: { app: 'web' } })).map((x) => x.id), [podId]);

  t.deepEqual((await c.cri.listContainers({ podSandboxId: podId, state: 'CONTAINER_RUNNING' })).map((x) => x.id), [id]);
  await timed('StopContainer', () => c.cri.stopContainer(id, 2));
  const stopped = await c.cri.containerStatus(id);
  t.is(stopped.state, 'CONTAINER_EXITED');
  await timed('RemoveContainer', () => c.cri.removeContainer(id));
  await timed('StopPodSandbox', () => c.cri.stopPodSandbox(podId));
  t.is((await c.cri.podSandboxStatus(podId)).state, 'SANDBOX_NOTREADY');
  await timed('RemovePodSandbox', () => c.cri.removePodSandbox(podId));
  t.deepEqual(await c.cri.listPodSandbox({ id: podId }), []);
  const e = await t.throwsAsync(() => c.cri.podSandboxStatus(podId));
  t.true(e instanceof CriError && e.code === 'CRI_ERR_NOT_FOUND', String(e));
});

g.serial('stdout and stderr become CRI log lines; an exited container reports its exit code', async (t) => {
  const c = need();
  const sb = sandboxConfig(c, 'logger');
  const podId = await c.cri.runPodSandbox(sb);
  const id = await c.cri.createContainer(podId, containerConfig('talk', ['sh', '-c', 'echo hello-from-skiff; echo to-stderr >&2; exit 3']), sb);
  await c.cri.startContainer(id);
  await waitState(c, id, 'CONTAINER_EXITED');
  const s = await c.cri.containerStatus(id);
  t.is(s.exitCode, 3);
  t.is(s.reason, 'Error');
  // All set; containerd takes startedAt when Start returns and finishedAt from the exit event, so a
  // container that exits at once may show finishedAt slightly before startedAt.
  t.true(s.createdAtMs > 0 && s.startedAtMs >= s.createdAtMs && s.finishedAtMs >= s.createdAtMs, JSON.stringify([s.createdAtMs, s.startedAtMs, s.finishedAtMs]));
  const log = await readWhen(s.logPath, 40);
  const lines = log.trimEnd().split('\n');
  const crilog = /^(\S+) (stdout|stderr) ([FP]) (.*)$/;
  const parsed = lines.map((l) => crilog.exec(l));
  t.true(parsed.every(Boolean), log);
  t.true(parsed.some((m) => m![2] === 'stdout' && m![3] === 'F' && m![4] === 'hello-from-skiff'), log);
  t.true(parsed.some((m) => m![2] === 'stderr' && m![4] === 'to-stderr'), log);
  t.false(Number.isNaN(Date.parse(parsed[0]![1]!)));
  const e = await t.throwsAsync(() => c.cri.execSync(id, ['true'], 5));
  t.true(e instanceof CriError, String(e));
  await c.cri.stopPodSandbox(podId);
  await c.cri.removePodSandbox(podId);
});

g.serial('a hostNetwork sandbox shares the host namespace and has no pod IP', async (t) => {
  const c = need();
  const sb = sandboxConfig(c, 'hostnet');
  sb.linux!.securityContext = { namespaceOptions: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } };
  const podId = await c.cri.runPodSandbox(sb);
  const st = await c.cri.podSandboxStatus(podId);
  t.is(st.ip, '');
  t.is(st.namespaceOptions?.network, 'NODE');
  const id = await c.cri.createContainer(podId, containerConfig('ip', ['sleep', '60']), sb);
  await c.cri.startContainer(id);
  // The host namespace holds the CNI bridge the other pods use.
  const r = await c.cri.execSync(id, ['ip', 'link', 'show', 'skiff-t0'], 5);
  t.is(r.exitCode, 0, r.stderr.toString());
  await c.cri.stopContainer(id, 0);
  await c.cri.stopPodSandbox(podId);
  await c.cri.removePodSandbox(podId);
});

g.serial('errors are typed: unknown ids, refused requests', async (t) => {
  const c = need();
  const nf = await t.throwsAsync(() => c.cri.containerStatus('0123456789abcdef'));
  t.true(nf instanceof CriError && nf.code === 'CRI_ERR_NOT_FOUND', String(nf));
  t.is((nf as CriError).grpcCode, 5);
  const nf2 = await t.throwsAsync(() => c.cri.startContainer('no-such-container'));
  t.true(nf2 instanceof CriError && nf2.code === 'CRI_ERR_NOT_FOUND', String(nf2));
  const exec = await t.throwsAsync(() => c.cri.execSync('no-such-container', ['true'], 1));
  t.true(exec instanceof CriError && exec.code === 'CRI_ERR_NOT_FOUND', String(exec));
  // Refused before sending: a negative oom_score_adj would fail deep in runc on this host.
  const sb = sandboxConfig(c, 'refused');
  const bad = await t.throwsAsync(() => c.cri.createContainer('x', containerConfig('c', ['true'], { linux: { resources: { oomScoreAdj: -998 } } }), sb));
  t.true(bad instanceof CriError && bad.code === 'CRI_ERR_BAD_REQUEST' && bad.grpcCode === null, String(bad));
  // A missing image: CreateContainer fails with the runtime's typed error.
  const podId = await c.cri.runPodSandbox(sb);
  const missing = await t.throwsAsync(() => c.cri.createContainer(podId, containerConfig('c', ['true'], { image: 'skiff.local/absent:1' }), sb));
  t.true(missing instanceof CriError && missing.grpcCode !== null, String(missing));
  t.log(`CreateContainer with a missing image: ${(missing as CriError).code} (${(missing as CriError).grpcDetails})`);
  // An answer over the client's message size limit is refused, typed.
  const sleeper = await c.cri.createContainer(podId, containerConfig('sleeper', ['sleep', '60']), sb);
  await c.cri.startContainer(sleeper);
  const small = new CriClient({ socket: c.socket, maxMessageBytes: 4096 });
  try {
    const big = await t.throwsAsync(() => small.execSync(sleeper, ['head', '-c', '100000', '/bin/busybox'], 5));
    t.true(big instanceof CriError && big.code === 'CRI_ERR_RESOURCE_EXHAUSTED', String(big));
    t.is((await small.execSync(sleeper, ['echo', 'fits'], 5)).stdout.toString(), 'fits\n');
  } finally {
    small.close();
  }
  await c.cri.stopPodSandbox(podId);
  await c.cri.removePodSandbox(podId);
  // Idempotent removal of what is already gone.
  await t.notThrowsAsync(() => c.cri.removePodSandbox(podId));
});

g.serial('latency: five pod lifecycles (sandbox, container, exec, stop, remove)', async (t) => {
  const c = need();
  for (let i = 0; i < 5; i++) {
    const sb = sandboxConfig(c, `lat${i}`);
    const podId = await timed('RunPodSandbox', () => c.cri.runPodSandbox(sb));
    const id = await timed('CreateContainer', () => c.cri.createContainer(podId, containerConfig('sleeper', ['sleep', '3600']), sb));
    await timed('StartContainer', () => c.cri.startContainer(id));
    const r = await timed('ExecSync', () => c.cri.execSync(id, ['echo', 'ok'], 5));
    t.is(r.stdout.toString(), 'ok\n');
    await timed('ContainerStatus', () => c.cri.containerStatus(id));
    await timed('PodSandboxStatus', () => c.cri.podSandboxStatus(podId));
    await timed('StopContainer', () => c.cri.stopContainer(id, 0));
    await timed('RemoveContainer', () => c.cri.removeContainer(id));
    await timed('StopPodSandbox', () => c.cri.stopPodSandbox(podId));
    await timed('RemovePodSandbox', () => c.cri.removePodSandbox(podId));
  }
  const left = (await c.cri.listPodSandbox()).filter((p) => p.metadata.name.startsWith('lat'));
  t.deepEqual(left, []);
});
