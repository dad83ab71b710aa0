/**
 * `npm run bench:proxy`: the proxier's real generator and the host's real
 * iptables-restore or nft, in a scratch network namespace created (and
 * deleted) here. Per run: a full sync of 10,000 Services × 5 endpoints into
 * an empty namespace (generation ms + apply ms), then partial syncs of one
 * changed Service (one endpoint replaced), then a full resync over the
 * programmed table. `--mode iptables|nftables` measures one mode; the default
 * measures both. Medians over the runs; last line JSON with
 * iptables_* / nftables_* figures per mode measured, and full_sync_ms /
 * partial_sync_ms (with `mode`) of the better one, next to the goals
 * (2,000 ms, 50 ms).
 *
 * Needs root and ip, plus iptables-restore or nft for the mode; otherwise it says why and exits 1.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Proxier, nftBinary, prefixedExec, type ProxyMode, type SyncResult } from '../src/node/proxy/index.js';
import type { KubeObject } from '../src/control/apiserver/index.js';

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '10000' },
    endpoints: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
    partials: { type: 'string', default: '5' },
    /** Service ports per transaction in a full sync; default: the proxier's per mode. */
    chunk: { type: 'string' },
    mode: { type: 'string' },
  },
});
if (values.mode !== undefined && values.mode !== 'iptables' && values.mode !== 'nftables') {
  console.error(`bench:proxy: --mode must be iptables or nftables, not ${JSON.stringify(values.mode)}`);
  process.exit(2);
}
const MODES: ProxyMode[] = values.mode ? [values.mode as ProxyMode] : ['iptables', 'nftables'];
const SERVICES = Number(values.services);
const ENDPOINTS = Number(values.endpoints);
const RUNS = Number(values.runs);
const PARTIALS = Number(values.partials);

function missing(mode: ProxyMode): string | null {
  if (process.getuid?.() !== 0) return 'not running as root (the bench programs the proxy in a network namespace)';
  // nft by absolute path: under npm the PATH starts with node_modules/.bin, whose nft is @vercel/nft.
  const bins = mode === 'iptables' ? ['iptables', 'iptables-restore', 'iptables-save', 'ip'] : [nftBinary(), 'ip'];
  for (const bin of bins) {
    try {
      execFileSync('sh', ['-c', bin.startsWith('/') ? `test -x ${bin}` : `command -v ${bin}`], { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
    } catch {
      return `${bin} not found (apt-get install ${mode === 'iptables' ? 'iptables' : 'nftables'} iproute2)`;
    }
  }
  return null;
}

function service(i: number): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { namespace: `ns${i % 100}`, name: `svc${i}` },
    spec: {
      type: i % 10 === 0 ? 'NodePort' : 'ClusterIP',
      clusterIP: `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`,
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, ...(i % 10 === 0 ? { nodePort: 30000 + (i / 10) % 2768 } : {}) }],
    },
  };
}

function slice(i: number, generation: number): KubeObject {
  const endpoints = [];
  for (let j = 0; j < ENDPOINTS; j++) {
    const n = i * ENDPOINTS + j + generation * 7919;
    endpoints.push({ addresses: [`10.${244 + ((n >> 16) & 7)}.${(n >> 8) & 255}.${n & 255}`], conditions: { ready: true } });
  }
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { namespace: `ns${i % 100}`, name: `svc${i}-abcde`, labels: { 'kubernetes.io/service-name': `svc${i}` } },
    addressType: 'IPv4',
    ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
    endpoints,
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const r1 = (x: number): number => Math.round(x * 10) / 10;

async function run(mode: ProxyMode, ns: string): Promise<{ full: SyncResult; partials: SyncResult[]; resync: SyncResult }> {
  const proxier = new Proxier({
    mode,
    exec: prefixedExec(['ip', 'netns', 'exec', ns]),
    minSyncIntervalMs: 0,
    fullResyncIntervalMs: 0,
    ...(values.chunk !== undefined ? { chunkServicePorts: Number(values.chunk) } : {}),
    restoreTimeoutMs: 300_000,
  });
  for (let i = 0; i < SERVICES; i++) {
    proxier.onService('ADDED', service(i));
    proxier.onEndpointSlice('ADDED', slice(i, 0));
  }
  const full = await proxier.sync();
  const partials: SyncResult[] = [];
  for (let k = 1; k <= PARTIALS; k++) {
    const i = (k * 1237) % SERVICES;
    proxier.onEndpointSlice('MODIFIED', slice(i, k), slice(i, k - 1));
    partials.push(await proxier.sync());
  }
  proxier.requestFullSync();
  const resync = await proxier.sync();
  await proxier.stop();
  return { full, partials, resync };
}

interface ModeFigures {
  full_sync_ms: number;
  full_generate_ms: number;
  full_restore_ms: number;
  partial_sync_ms: number;
  partial_generate_ms: number;
  partial_restore_ms: number;
  resync_ms: number;
}

async function measure(mode: ProxyMode): Promise<ModeFigures> {
  const fulls: SyncResult[] = [];
  const partials: SyncResult[] = [];
  const resyncs: SyncResult[] = [];
  for (let r = 0; r < RUNS; r++) {
    const ns = `skiff-bench-${randomBytes(4).toString('hex')}`;
    execFileSync('ip', ['netns', 'add', ns]);
    try {
      const res = await run(mode, ns);
      fulls.push(res.full);
      partials.push(...res.partials);
      resyncs.push(res.resync);
      const p = res.partials.map((x) => r1(x.totalMs)).join(', ');
      console.log(`${mode} run ${r + 1}: full ${r1(res.full.totalMs)} ms (generate ${r1(res.full.generateMs)}, apply ${r1(res.full.applyMs)}, ${res.full.transactions} transactions); partial ${p} ms; resync ${r1(res.resync.totalMs)} ms`);
    } finally {
      execFileSync('ip', ['netns', 'del', ns]);
    }
  }
  return {
    full_sync_ms: r1(median(fulls.map((x) => x.totalMs))),
    full_generate_ms: r1(median(fulls.map((x) => x.generateMs))),
    full_restore_ms: r1(median(fulls.map((x) => x.applyMs))),
    partial_sync_ms: r1(median(partials.map((x) => x.totalMs))),
    partial_generate_ms: r1(median(partials.map((x) => x.generateMs))),
    partial_restore_ms: r1(median(partials.map((x) => x.applyMs))),
    resync_ms: r1(median(resyncs.map((x) => x.totalMs))),
  };
}

const FULL_GOAL = 2000;
const PARTIAL_GOAL = 50;

async function main(): Promise<void> {
  for (const mode of MODES) {
    const why = missing(mode);
    if (why) {
      console.error(`bench:proxy cannot run (${mode}): ${why}`);
      process.exit(1);
    }
  }
  const per = new Map<ProxyMode, ModeFigures>();
  for (const mode of MODES) per.set(mode, await measure(mode));
  // The headline figures are the better mode's: one that meets both goals if any, else the faster partial sync.
  const meets = (f: ModeFigures): boolean => f.full_sync_ms <= FULL_GOAL && f.partial_sync_ms <= PARTIAL_GOAL;
  const best = [...per].sort(([, a], [, b]) => Number(meets(b)) - Number(meets(a)) || a.partial_sync_ms - b.partial_sync_ms || a.full_sync_ms - b.full_sync_ms)[0]!;
  const version = (argv: string[]): string => {
    try {
      return execFileSync(argv[0]!, argv.slice(1)).toString().trim();
    } catch {
      return 'unknown';
    }
  };
  const out: Record<string, unknown> = {
    bench: 'proxy',
    services: SERVICES,
    endpoints_per_service: ENDPOINTS,
    runs: RUNS,
    mode: best[0],
    ...best[1],
  };
  for (const [mode, f] of per) for (const [k, v] of Object.entries(f)) out[`${mode}_${k}`] = v;
  if (per.has('iptables')) out.iptables = version(['iptables', '--version']);
  if (per.has('nftables')) out.nftables = version([nftBinary(), '--version']);
  out.full_sync_ms_goal = FULL_GOAL;
  out.partial_sync_ms_goal = PARTIAL_GOAL;
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
