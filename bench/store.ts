/**
 * `npm run bench:store`: skiff's replicated store side by side with real
 * etcd (Debian's etcd-server) on the same machine and loopback, both with
 * three members and default durability (every write fsynced by a quorum),
 * driven by the same client that neither of us wrote — the `etcd3` npm
 * package — so the comparison is also a compatibility test.
 *
 * Phases, for each system: puts (8-byte keys, 256-byte values) from one
 * client, then from 100 clients on 10 connections, then linearizable reads
 * from 100 clients; then leader failover: kill -9 the leader, time until a
 * put succeeds again (median of 5).
 *
 * The last line is JSON with both systems' figures and ratio = skiff/etcd.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import { loadEtcdClients } from '../src/store/api/proto.js';
import { freePorts } from '../test/helpers/ports.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '8' },
    failovers: { type: 'string', default: '5' },
    only: { type: 'string', default: '' },
  },
});
const PHASE_MS = Number(values.seconds) * 1000;
const FAILOVERS = Number(values.failovers);
const ROOT = mkdtempSync(join(tmpdir(), 'skiff-bench-store-'));

interface Member {
  name: string;
  client: string; // host:port
  peer: string;
  dataDir: string;
  args: string[];
  cmd: string;
  proc: ChildProcess | null;
}

interface System {
  name: 'skiff' | 'etcd';
  members: Member[];
}

function startMember(m: Member): void {
  m.proc = spawn(m.cmd, m.args, { stdio: ['ignore', 'ignore', 'ignore'] });
}

async function stopMember(m: Member, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  const p = m.proc;
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    p.once('exit', () => resolve());
    p.kill(signal);
    setTimeout(() => p.kill('SIGKILL'), 10_000).unref();
  });
  m.proc = null;
}

async function makeSystem(name: 'skiff' | 'etcd'): Promise<System> {
  const ports = await freePorts(6);
  const members: Member[] = [0, 1, 2].map((i) => ({
    name: `${name}${i + 1}`,
    client: `127.0.0.1:${ports[2 * i]}`,
    peer: `127.0.0.1:${ports[2 * i + 1]}`,
    dataDir: join(ROOT, `${name}${i + 1}`),
    args: [],
    cmd: '',
    proc: null,
  }));
  const initial = members.map((m) => `${m.name}=http://${m.peer}`).join(',');
  for (const m of members) {
    const common = [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', `http://${m.client}`,
      '--advertise-client-urls', `http://${m.client}`,
      '--listen-peer-urls', `http://${m.peer}`,
      '--initial-advertise-peer-urls', `http://${m.peer}`,
      '--initial-cluster', initial,
      '--initial-cluster-state', 'new',
    ];
    if (name === 'etcd') {
      m.cmd = 'etcd';
      m.args = [...common, '--log-level', 'error'];
    } else {
      // The compiled build, as installed (npm run bench:store builds it first).
      m.cmd = process.execPath;
      m.args = ['bin/skiff.js', 'master', ...common, '--log-level', 'error'];
    }
    startMember(m);
  }
  return { name, members };
}

const key = (i: number) => `k${(i % 100_000_000).toString().padStart(7, '0')}`; // 8 bytes
const VALUE = 'v'.repeat(256);

function client(sys: System, hosts = sys.members.filter((m) => m.proc).map((m) => m.client)): Etcd3 {
  return new Etcd3({ hosts, dialTimeout: 2000 });
}

async function waitReady(sys: System): Promise<void> {
  const c = client(sys);
  const t0 = Date.now();
  for (;;) {
    try {
      await c.put('__ready').value('1').exec();
      break;
    } catch {
      if (Date.now() - t0 > 30_000) throw new Error(`${sys.name} did not become ready`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  c.close();
}

interface PhaseResult {
  ops_per_s: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
}

/** `workers` loops spread over `connections` clients, each doing op(i) until time is up. */
async function phase(sys: System, workers: number, connections: number, op: (c: Etcd3, i: number) => Promise<unknown>): Promise<PhaseResult> {
  const clients = Array.from({ length: connections }, () => client(sys));
  // Warm the connections.
  await Promise.all(clients.map((c) => c.get('__ready').string().catch(() => undefined)));
  const lat: number[] = [];
  let errors = 0;
  let seq = 0;
  const end = Date.now() + PHASE_MS;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      const c = clients[w % connections]!;
      while (Date.now() < end) {
        const i = seq++;
        const s = process.hrtime.bigint();
        try {
          await op(c, i);
          lat.push(Number(process.hrtime.bigint() - s) / 1e6);
        } catch {
          errors++;
        }
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const c of clients) c.close();
  lat.sort((a, b) => a - b);
  const pct = (p: number) => Number((lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0).toFixed(2));
  return { ops_per_s: Math.round(lat.length / seconds), p50_ms: pct(0.5), p99_ms: pct(0.99), errors };
}

/** Which member leads, by asking each for its status. */
async function findLeader(sys: System): Promise<Member> {
  for (let attempt = 0; attempt < 100; attempt++) {
    for (const m of sys.members) {
      if (!m.proc) continue;
      const c = new Etcd3({ hosts: [m.client], dialTimeout: 1000 });
      try {
        const st = await c.maintenance.status();
        if (st.leader === st.header.member_id) return m;
      } catch {
        /* not answering */
      } finally {
        c.close();
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${sys.name}: no leader found`);
}

/**
 * Kills the leader and times until a put succeeds again. The probe is a bare
 * gRPC Put with a 300 ms deadline, alternating between the survivors, the
 * same for both systems: a client library's retry backoff would otherwise
 * dominate the figure.
 */
async function failover(sys: System): Promise<number> {
  const leader = await findLeader(sys);
  const survivors = sys.members.filter((m) => m !== leader).map((m) => loadEtcdClients(m.client, grpc.credentials.createInsecure()));
  const t0 = Date.now();
  await stopMember(leader, 'SIGKILL');
  let ms = -1;
  for (let i = 0; Date.now() - t0 < 30_000; i++) {
    const c = survivors[i % survivors.length]!;
    const ok = await new Promise<boolean>((resolve) =>
      c.kv.Put({ key: Buffer.from('failover'), value: Buffer.from(String(t0)) }, new grpc.Metadata(), { deadline: Date.now() + 300 }, (e) => resolve(!e)),
    );
    if (ok) {
      ms = Date.now() - t0;
      break;
    }
  }
  for (const c of survivors) c.close();
  startMember(leader);
  await waitReady(sys);
  // Let the restarted member catch up before the next round.
  await new Promise((r) => setTimeout(r, 1500));
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function measure(sys: System) {
  await waitReady(sys);
  const put1 = await phase(sys, 1, 1, (c, i) => c.put(key(i)).value(VALUE).exec());
  log(`${sys.name}: 1 client puts: ${put1.ops_per_s}/s p50 ${put1.p50_ms} ms p99 ${put1.p99_ms} ms`);
  const put100 = await phase(sys, 100, 10, (c, i) => c.put(key(i)).value(VALUE).exec());
  log(`${sys.name}: 100 clients puts: ${put100.ops_per_s}/s p50 ${put100.p50_ms} ms p99 ${put100.p99_ms} ms`);
  const get100 = await phase(sys, 100, 10, (c, i) => c.get(key(i % 1000)).string());
  log(`${sys.name}: 100 clients linearizable gets: ${get100.ops_per_s}/s p50 ${get100.p50_ms} ms p99 ${get100.p99_ms} ms`);
  const fos: number[] = [];
  for (let i = 0; i < FAILOVERS; i++) fos.push(await failover(sys));
  log(`${sys.name}: failover ms: ${fos.join(', ')}`);
  return {
    put_throughput_1c: put1.ops_per_s,
    put_p50_ms_1c: put1.p50_ms,
    put_p99_ms_1c: put1.p99_ms,
    put_throughput_100c: put100.ops_per_s,
    put_p50_ms_100c: put100.p50_ms,
    put_p99_ms_100c: put100.p99_ms,
    get_throughput_100c: get100.ops_per_s,
    get_p99_ms_100c: get100.p99_ms,
    failover_ms: median(fos),
    failover_ms_all: fos,
    errors: put1.errors + put100.errors + get100.errors,
  };
}

function log(s: string): void {
  process.stderr.write(`${s}\n`);
}

async function main(): Promise<void> {
  try {
    execFileSync('etcd', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('bench:store needs etcd (Debian package etcd-server; .ci/run installs it)');
  }
  const results: Record<string, Awaited<ReturnType<typeof measure>>> = {};
  for (const name of ['etcd', 'skiff'] as const) {
    if (values.only && values.only !== name) continue;
    const sys = await makeSystem(name);
    try {
      results[name] = await measure(sys);
    } finally {
      for (const m of sys.members) await stopMember(m);
    }
  }
  const ratio: Record<string, number> = {};
  if (results.skiff && results.etcd) {
    for (const k of ['put_throughput_1c', 'put_throughput_100c', 'put_p99_ms_100c', 'get_throughput_100c', 'failover_ms'] as const) {
      ratio[k] = Number((results.skiff[k] / results.etcd[k]).toFixed(3));
    }
  }
  console.log(JSON.stringify({ bench: 'store', members: 3, phase_seconds: PHASE_MS / 1000, skiff: results.skiff ?? null, etcd: results.etcd ?? null, ratio }));
}

main()
  .catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => rmSync(ROOT, { recursive: true, force: true }));
