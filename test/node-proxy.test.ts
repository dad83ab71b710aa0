/**
 * The proxier against the real kernel: three network namespaces made here —
 * a client host C, the node H (where the rules go) and a backend host B with
 * two addresses, each serving its own page with busybox httpd:
 *
 *   C 192.168.77.2 ── 192.168.77.1 H 10.244.1.1 ── B 10.244.1.10, 10.244.1.11
 *
 * Traffic goes only to these namespaces; they, the servers and the temp dir
 * are removed in teardown even when a step fails.
 */
import test from 'ava';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { hostGate } from './helpers/host-gate.js';
import { Proxier, prefixedExec, cleanupProxyRules, Iptables, Nftables, NFT_SHARDS, NFT_TABLE, nftBinary, nftObjectName, type Exec, type ProxyMode, type WatchEventType } from '../src/node/proxy/index.js';
import type { KubeObject } from '../src/control/apiserver/index.js';

const gates = {
  iptables: hostGate(test, 'test/node-proxy.test.ts (iptables)', ['root', 'iptables', 'iptables-restore', 'iptables-save', 'ip', 'busybox', 'conntrack']),
  nftables: hostGate(test, 'test/node-proxy.test.ts (nftables)', ['root', 'nft', 'ip', 'busybox', 'conntrack']),
} as const;

/** What differs between the modes in the scenario: how to break the rules, what a failure names, what cleanup leaves. */
interface ModeOps {
  /** Breaks every ClusterIP by hand (drift). */
  breakServices(ns: string): string[];
  failure: RegExp;
  /** The whole rule set of the namespace, for "nothing of ours is left". */
  dump(ns: string): string[];
  leftover: RegExp;
}

const OPS: Record<ProxyMode, ModeOps> = {
  iptables: {
    breakServices: (ns) => ['ip', 'netns', 'exec', ns, 'iptables', '-t', 'nat', '-F', 'KUBE-SERVICES'],
    failure: /iptables-restore/,
    dump: (ns) => ['ip', 'netns', 'exec', ns, 'iptables-save'],
    leftover: /KUBE-/,
  },
  nftables: {
    breakServices: (ns) => ['ip', 'netns', 'exec', ns, 'sh', '-c',
      `for k in $(seq 0 ${NFT_SHARDS - 1}); do ${nftBinary()} flush map ip ${NFT_TABLE}-$k service-ips || exit 1; done`],
    failure: /nft -f/,
    dump: (ns) => ['ip', 'netns', 'exec', ns, nftBinary(), 'list', 'ruleset'],
    leftover: new RegExp(NFT_TABLE),
  },
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(argv: string[], timeoutMs = 10_000): Promise<Run> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null) : 0;
      resolve({ code, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

async function must(argv: string[]): Promise<string> {
  const r = await run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} → ${r.code}: ${r.stderr}`);
  return r.stdout;
}

class Hosts {
  readonly id = randomBytes(3).toString('hex');
  readonly C = `skiff-t-${this.id}-c`;
  readonly H = `skiff-t-${this.id}-h`;
  readonly B = `skiff-t-${this.id}-b`;
  readonly dir = mkdtempSync(join(tmpdir(), 'skiff-proxy-'));
  private readonly servers: ChildProcess[] = [];

  in(ns: string, ...argv: string[]): string[] {
    return ['ip', 'netns', 'exec', ns, ...argv];
  }

  async up(): Promise<void> {
    for (const ns of [this.C, this.H, this.B]) {
      await must(['ip', 'netns', 'add', ns]);
      await must(this.in(ns, 'ip', 'link', 'set', 'lo', 'up'));
    }
    const hc = `hc${this.id}`;
    const hb = `hb${this.id}`;
    await must(['ip', 'link', 'add', hc, 'netns', this.H, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.C]);
    await must(['ip', 'link', 'add', hb, 'netns', this.H, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.B]);
    const steps: [string, string[]][] = [
      [this.H, ['ip', 'addr', 'add', '192.168.77.1/24', 'dev', hc]],
      [this.H, ['ip', 'addr', 'add', '10.244.1.1/24', 'dev', hb]],
      [this.H, ['ip', 'link', 'set', hc, 'up']],
      [this.H, ['ip', 'link', 'set', hb, 'up']],
      // The node routes Service IPs somewhere (as a real host's default route does), so OUTPUT reaches the
      // nat hook. Not back towards the client: forwarding out the incoming interface sends an ICMP redirect,
      // which uses up the per-host ICMP allowance and suppresses the REJECT's port-unreachable.
      [this.H, ['ip', 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up1']],
      [this.H, ['ip', 'link', 'set', 'up0', 'up']],
      [this.H, ['ip', 'link', 'set', 'up1', 'up']],
      [this.H, ['ip', 'route', 'add', 'default', 'dev', 'up0']],
      [this.H, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']],
      [this.C, ['ip', 'addr', 'add', '192.168.77.2/24', 'dev', 'eth0']],
      [this.C, ['ip', 'link', 'set', 'eth0', 'up']],
      [this.C, ['ip', 'route', 'add', 'default', 'via', '192.168.77.1']],
      [this.B, ['ip', 'addr', 'add', '10.244.1.10/24', 'dev', 'eth0']],
      [this.B, ['ip', 'addr', 'add', '10.244.1.11/24', 'dev', 'eth0']],
      [this.B, ['ip', 'link', 'set', 'eth0', 'up']],
      [this.B, ['ip', 'route', 'add', 'default', 'via', '10.244.1.1']],
    ];
    for (const [ns, argv] of steps) await must(this.in(ns, ...argv));
    for (const [name, ip] of [['backend-a', '10.244.1.10'], ['backend-b', '10.244.1.11']] as const) {
      const www = join(this.dir, name);
      mkdirSync(www);
      writeFileSync(join(www, 'index.html'), `${name}\n`);
      const p = spawn('ip', ['netns', 'exec', this.B, 'busybox', 'httpd', '-f', '-p', `${ip}:8080`, '-h', www], { stdio: 'ignore' });
      this.servers.push(p);
    }
    // Wait until both servers answer from inside B.
    for (const ip of ['10.244.1.10', '10.244.1.11']) {
      for (let i = 0; ; i++) {
        const r = await run(this.in(this.B, 'busybox', 'wget', '-q', '-O', '-', `http://${ip}:8080/`));
        if (r.code === 0) break;
        if (i > 50) throw new Error(`httpd on ${ip} did not start: ${r.stderr}`);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
  }

  /** GET through wget inside a namespace: the page's name, or null with the time it took to fail. */
  async get(ns: string, url: string): Promise<{ body: string | null; ms: number; stderr: string }> {
    // Not -q: the error message ("Connection refused") goes to stderr.
    const r = await run(this.in(ns, 'busybox', 'wget', '-O', '-', url), 8000);
    return { body: r.code === 0 ? r.stdout.trim() : null, ms: r.ms, stderr: r.stderr };
  }

  async down(): Promise<void> {
    for (const p of this.servers) p.kill('SIGKILL');
    for (const ns of [this.C, this.H, this.B]) await run(['ip', 'netns', 'del', ns]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function service(name: string, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'default', name }, spec };
}

function slice(name: string, service: string, ips: string[], port = 8080, protocol = 'TCP', portName = 'http'): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: 'default', name, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: portName, port, protocol }],
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true } })),
  };
}

async function spread(h: Hosts, ns: string, url: string, n: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const r = await h.get(ns, url);
    const k = r.body ?? `error: ${r.stderr.trim()}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return seen;
}

for (const mode of ['iptables', 'nftables'] as const) {
const ops = OPS[mode];
gates[mode].serial(`${mode}: ClusterIP and NodePort reach both endpoints; no endpoints is refused at once; removal re-routes; UDP conntrack; cleanup`, async (t) => {
  const h = new Hosts();
  t.teardown(() => h.down());
  await h.up();
  const exec = prefixedExec(['ip', 'netns', 'exec', h.H]);
  const p = new Proxier({ mode, exec, minSyncIntervalMs: 0, fullResyncIntervalMs: 0 });
  t.teardown(() => p.stop());
  const ev = (kind: 'svc' | 'slice', type: WatchEventType, obj: KubeObject, old?: KubeObject) =>
    kind === 'svc' ? p.onService(type, obj, old) : p.onEndpointSlice(type, obj, old);

  ev('svc', 'ADDED', service('web', { type: 'NodePort', clusterIP: '10.96.0.50', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }] }));
  const both = slice('web-1', 'web', ['10.244.1.10', '10.244.1.11']);
  ev('slice', 'ADDED', both);
  ev('svc', 'ADDED', service('empty', { clusterIP: '10.96.0.60', ports: [{ name: 'http', port: 80 }] }));
  ev('svc', 'ADDED', service('sticky', { clusterIP: '10.96.0.70', sessionAffinity: 'ClientIP', ports: [{ name: 'http', port: 80 }] }));
  ev('slice', 'ADDED', slice('sticky-1', 'sticky', ['10.244.1.10', '10.244.1.11']));
  ev('svc', 'ADDED', service('dns', { clusterIP: '10.96.0.53', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }));
  ev('slice', 'ADDED', slice('dns-1', 'dns', ['10.244.1.10'], 53, 'UDP', 'dns'));
  p.start();
  await p.sync();
  t.is(p.stats.fullSyncs, 1, 'the first sync after start() is full');
  t.is(p.stats.partialSyncs, 0);

  // ClusterIP from the client host (PREROUTING) and from the node itself (OUTPUT): both backends answer.
  for (const ns of [h.C, h.H]) {
    const seen = await spread(h, ns, 'http://10.96.0.50/', 24);
    t.deepEqual([...seen.keys()].sort(), ['backend-a', 'backend-b'], `ClusterIP from ${ns === h.C ? 'client' : 'node'}: ${JSON.stringify([...seen])}`);
  }
  // NodePort on the node's address, from the client host.
  const np = await spread(h, h.C, 'http://192.168.77.1:30080/', 24);
  t.deepEqual([...np.keys()].sort(), ['backend-a', 'backend-b'], `NodePort: ${JSON.stringify([...np])}`);
  // Session affinity: one client sticks to one backend.
  const sticky = await spread(h, h.C, 'http://10.96.0.70/', 10);
  t.is(sticky.size, 1, `ClientIP affinity: ${JSON.stringify([...sticky])}`);

  // A Service without endpoints is refused immediately, from the client and from the node.
  for (const ns of [h.C, h.H]) {
    const r = await h.get(ns, 'http://10.96.0.60/');
    t.is(r.body, null);
    t.regex(r.stderr, /refused/i, `${ns}: ${Math.round(r.ms)} ms`);
    t.true(r.ms < 3000, `refused in ${Math.round(r.ms)} ms, not hanging`);
  }

  // Hairpin: a backend reaching its own Service through the ClusterIP gets the answer (masqueraded).
  ev('svc', 'ADDED', service('self', { clusterIP: '10.96.0.80', ports: [{ name: 'http', port: 80 }] }));
  ev('slice', 'ADDED', slice('self-1', 'self', ['10.244.1.10']));
  const part = await p.sync();
  t.is(part.kind, 'partial');
  t.is((await h.get(h.B, 'http://10.96.0.80/')).body, 'backend-a', 'hairpin');

  // A UDP conntrack entry through the ClusterIP, then its endpoint goes away: the entry is deleted.
  await run(h.in(h.C, 'bash', '-c', 'echo hello > /dev/udp/10.96.0.53/53'));
  const ctBefore = await run(h.in(h.H, 'conntrack', '-L', '-p', 'udp', '--orig-dst', '10.96.0.53'));
  t.regex(ctBefore.stdout, /dst=10\.96\.0\.53/, 'the UDP packet made a conntrack entry on the node');
  ev('slice', 'MODIFIED', slice('dns-1', 'dns', ['10.244.1.11'], 53, 'UDP', 'dns'), slice('dns-1', 'dns', ['10.244.1.10'], 53, 'UDP', 'dns'));
  await p.sync();
  const ctAfter = await run(h.in(h.H, 'conntrack', '-L', '-p', 'udp', '--orig-dst', '10.96.0.53'));
  t.notRegex(ctAfter.stdout, /dst=10\.96\.0\.53/, 'stale UDP entry deleted');
  t.true(p.stats.conntrackDeleted >= 1);

  // An endpoint removed: every request goes to the one left.
  const onlyB = slice('web-1', 'web', ['10.244.1.11']);
  ev('slice', 'MODIFIED', onlyB, both);
  const r2 = await p.sync();
  t.is(r2.kind, 'partial');
  const after = await spread(h, h.C, 'http://10.96.0.50/', 12);
  t.deepEqual([...after.keys()], ['backend-b'], JSON.stringify([...after]));

  // All endpoints gone: refused; back: served again.
  ev('slice', 'DELETED', onlyB);
  await p.sync();
  const gone = await h.get(h.C, 'http://10.96.0.50/');
  t.is(gone.body, null);
  t.regex(gone.stderr, /refused/i);
  ev('slice', 'ADDED', both);
  await p.sync();
  t.truthy((await h.get(h.C, 'http://10.96.0.50/')).body);

  // Drift: someone flushes our KUBE-SERVICES (our service-ips map); the periodic full resync repairs it.
  await must(ops.breakServices(h.H));
  t.is((await h.get(h.C, 'http://10.96.0.50/')).body, null, 'drift breaks the Service');
  p.requestFullSync();
  t.is((await p.sync()).kind, 'full');
  t.truthy((await h.get(h.C, 'http://10.96.0.50/')).body, 'the full resync repaired it');

  // A partial sync that meets drift (a rule it must delete is gone) fails, and the next sync is full.
  await must(ops.breakServices(h.H));
  ev('svc', 'DELETED', service('self', {}));
  const fullBefore = p.stats.fullSyncs;
  await t.throwsAsync(p.sync(), { message: ops.failure });
  t.is(p.stats.failedSyncs, 1);
  await p.sync(); // the retry the failure scheduled may run first; either way one full sync follows
  t.is(p.stats.fullSyncs, fullBefore + 1);
  t.truthy((await h.get(h.C, 'http://10.96.0.50/')).body);

  // Cleanup leaves no KUBE- chain or jump in either table (no skiff-proxy table).
  const removed = await p.cleanup();
  if (mode === 'iptables') t.true(removed.chains > 0 && removed.jumps === 8 && removed.tables === 0, JSON.stringify(removed));
  else t.deepEqual(removed, { jumps: 0, chains: 0, tables: NFT_SHARDS + 1 }, 'the main table and its shards');
  t.notRegex(await must(ops.dump(h.H)), ops.leftover);
  t.deepEqual(await cleanupProxyRules({ exec, mode }), { jumps: 0, chains: 0, tables: 0 }, 'a second cleanup finds nothing');
});
}

gates.iptables.serial('iptables: a restart finds the chains of an earlier run: stale ones are removed by the first full sync', async (t) => {
  const ns = `skiff-t-${randomBytes(3).toString('hex')}-r`;
  await must(['ip', 'netns', 'add', ns]);
  t.teardown(() => run(['ip', 'netns', 'del', ns]).then(() => undefined));
  const exec = prefixedExec(['ip', 'netns', 'exec', ns]);
  const a = new Proxier({ exec, minSyncIntervalMs: 0, fullResyncIntervalMs: 0 });
  a.onService('ADDED', service('old', { clusterIP: '10.96.0.90', ports: [{ name: 'http', port: 80 }] }));
  a.onEndpointSlice('ADDED', slice('old-1', 'old', ['10.244.9.9']));
  await a.sync();
  await a.stop();
  const ipt = new Iptables({ exec });
  const before = await ipt.ownChains('nat');
  t.true(before.some((c) => c.startsWith('KUBE-SEP-')));

  const b = new Proxier({ exec, minSyncIntervalMs: 0, fullResyncIntervalMs: 0 });
  b.onService('ADDED', service('new', { clusterIP: '10.96.0.91', ports: [{ name: 'http', port: 80 }] }));
  b.onEndpointSlice('ADDED', slice('new-1', 'new', ['10.244.9.10']));
  await b.sync();
  const afterChains = await ipt.ownChains('nat');
  t.false(afterChains.some((c) => before.includes(c) && /^KUBE-(SVC|SEP)-/.test(c)), 'the old run\'s service chains are gone');
  t.true(afterChains.some((c) => c.startsWith('KUBE-SEP-')));
  const save = await ipt.save('nat');
  t.is(save.split('\n').filter((l) => l.includes('-j KUBE-SERVICES')).length, 2, 'jump rules are not duplicated by a second run');
  await b.cleanup();
  t.notRegex(await must(['ip', 'netns', 'exec', ns, 'iptables-save']), /KUBE-/);
});

gates.nftables.serial('nftables: a restart finds the chains and sets of an earlier run: stale ones are removed by the first full sync; other tables are untouched', async (t) => {
  const ns = `skiff-t-${randomBytes(3).toString('hex')}-n`;
  await must(['ip', 'netns', 'add', ns]);
  t.teardown(() => run(['ip', 'netns', 'del', ns]).then(() => undefined));
  const exec: Exec = prefixedExec(['ip', 'netns', 'exec', ns]);
  // Someone else's table must survive everything we do.
  await must(['ip', 'netns', 'exec', ns, nftBinary(), 'add', 'table', 'ip', 'other']);
  const a = new Proxier({ mode: 'nftables', exec, minSyncIntervalMs: 0, fullResyncIntervalMs: 0 });
  a.onService('ADDED', service('old', { clusterIP: '10.96.0.90', sessionAffinity: 'ClientIP', ports: [{ name: 'http', port: 80 }] }));
  a.onEndpointSlice('ADDED', slice('old-1', 'old', ['10.244.9.9']));
  await a.sync();
  await a.stop();
  const nft = new Nftables({ exec });
  const own = async () => {
    const o = await nft.ownObjects();
    return { chains: o.chains.map(nftObjectName), sets: o.sets.map(nftObjectName) };
  };
  const before = await own();
  t.true(before.chains.some((c) => c.startsWith('service-')), JSON.stringify(before));
  t.is(before.sets.filter((x) => x.startsWith('affinity-')).length, 1);

  const b = new Proxier({ mode: 'nftables', exec, minSyncIntervalMs: 0, fullResyncIntervalMs: 0 });
  b.onService('ADDED', service('new', { clusterIP: '10.96.0.91', ports: [{ name: 'http', port: 80 }] }));
  b.onEndpointSlice('ADDED', slice('new-1', 'new', ['10.244.9.10']));
  await b.sync();
  const after = await own();
  t.false(after.chains.some((c) => before.chains.includes(c) && /^service-[A-Z2-7]{8}-/.test(c)), 'the old run\'s service chains are gone');
  t.true(after.chains.some((c) => c.startsWith('service-')));
  t.deepEqual(after.sets, ['hairpin-endpoints'], 'the old affinity set is gone');
  const list = await must(['ip', 'netns', 'exec', ns, nftBinary(), 'list', 'ruleset']);
  t.is(list.split('\n').filter((l) => l.includes('jump services')).length, 2 * NFT_SHARDS, 'base chain rules are not duplicated by a second run');
  await b.cleanup();
  const rest = await must(['ip', 'netns', 'exec', ns, nftBinary(), 'list', 'ruleset']);
  t.notRegex(rest, new RegExp(NFT_TABLE));
  t.regex(rest, /table ip other/);
});

for (const mode of ['iptables', 'nftables'] as const) {
  gates[mode].serial(`${mode}: a change that arrives while a sync waits for the kernel is applied by the next sync (not lost)`, async (t) => {
    const ns = `skiff-t-${randomBytes(3).toString('hex')}-c`;
    await must(['ip', 'netns', 'add', ns]);
    t.teardown(() => run(['ip', 'netns', 'del', ns]).then(() => undefined));
    const exec = prefixedExec(['ip', 'netns', 'exec', ns]);
    const p = new Proxier({ mode, exec, minSyncIntervalMs: 0, fullResyncIntervalMs: 0 });
    t.teardown(() => p.stop());
    p.onService('ADDED', service('web', { clusterIP: '10.96.0.80', ports: [{ name: 'http', port: 80 }] }));
    p.onEndpointSlice('ADDED', slice('web-1', 'web', ['10.244.7.1']));
    await p.sync();
    // A partial sync starts (one endpoint more) and, while its restore runs, the second endpoint becomes ready.
    p.onEndpointSlice('MODIFIED', slice('web-1', 'web', ['10.244.7.1', '10.244.7.2']));
    const inFlight = p.sync();
    await new Promise((r) => setTimeout(r, 5)); // the sync is now waiting for iptables-restore / nft
    p.onEndpointSlice('MODIFIED', slice('web-1', 'web', ['10.244.7.1', '10.244.7.2', '10.244.7.3']));
    await inFlight;
    await p.sync();
    const dump = await must(OPS[mode].dump(ns));
    for (const ip of ['10.244.7.1', '10.244.7.2', '10.244.7.3']) t.true(dump.includes(ip), `${ip} is programmed:\n${dump.slice(0, 2000)}`);
  });
}
