/**
 * What an operator sees of real `skiff master` processes in plain text:
 * /metrics (Prometheus text), /healthz and /health, a clean exit on SIGTERM
 * that keeps the data, the startup time the members log, and `skiff up`
 * (READY line, etcdctl on its endpoints, Ctrl-C).
 *
 * The tests run one after another. Those that start or signal processes, or
 * measure times, hold the machine-wide 'heavy' e2e lock (see e2e-lock.ts),
 * as the failover tests do; the read-only checks share one 3-member cluster.
 *
 * etcdctl is given schemeless endpoints (see the KNOWN LIMITATION in
 * e2e-etcdctl.ts); `skiff up` prints http:// URLs, which are stripped.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import anyTest, { type ExecutionContext } from 'ava';
import { type E2eCluster, type E2eMember, E2eSuite } from '../helpers/e2e-cluster.js';
import { BackgroundEtcdctl, type EtcdctlResult, etcdctl, etcdctlGate, parseEtcdJson, sleep } from '../helpers/e2e-etcdctl.js';
import { exclusive } from '../helpers/e2e-lock.js';
import { type Exposition, scrape, value } from '../helpers/e2e-prom.js';
import { SkiffUp, freePortRange, pidAlive } from '../helpers/e2e-up.js';

const { serial } = etcdctlGate(anyTest, 'test/e2e/operations.test.ts');
const suite = new E2eSuite(anyTest, 'operations');
const shared3 = suite.shared({ size: 3, label: 'ops3' });

/** How long a test may wait for the machine-wide e2e lock (`check perf` holds it ~65 s). */
const LOCK_WAIT_MS = 120_000;
/** The members' --election-timeout (skiff's default, passed explicitly because the tests time against it). */
const ELECTION_TIMEOUT_MS = 1_000;
/** "An election timeout or two", plus room for a busy 2-CPU machine. */
const LOSE_LEADER_WITHIN_MS = 3 * ELECTION_TIMEOUT_MS;
/** A member asked to stop with SIGTERM must be gone within this (the harness SIGKILLs it after 5 s). */
const SIGTERM_EXIT_WITHIN_MS = 3_000;
const STARTUP_MS_MAX = 1_000;
/** `skiff up` SIGKILLs members still running 10 s after its SIGTERM; a clean stop is well within that. */
const UP_STOP_WITHIN_MS = 8_000;

const SERIES = [
  'skiff_raft_term',
  'skiff_raft_commit_index',
  'skiff_raft_applied_index',
  'skiff_raft_apply_lag',
  'skiff_raft_is_leader',
  'skiff_raft_fsync_duration_seconds_bucket',
  'skiff_raft_fsync_duration_seconds_count',
  'skiff_store_proposal_duration_seconds_bucket',
  'skiff_store_proposal_duration_seconds_count',
  'skiff_store_watchers',
  'skiff_store_revision',
];

/** A test that starts, stops or signals processes: one at a time here, and never beside `check perf`. */
function heavyTest(title: string, timeoutMs: number, impl: (t: ExecutionContext) => Promise<void>): void {
  serial(title, async (t) => {
    t.timeout(timeoutMs + LOCK_WAIT_MS);
    await exclusive(
      'heavy',
      async () => {
        try {
          await impl(t);
        } finally {
          await suite.stopOwnClusters(t);
        }
      },
      LOCK_WAIT_MS,
    );
  });
}

async function ok(t: ExecutionContext, endpoints: string, ...args: string[]): Promise<EtcdctlResult> {
  const r = await etcdctl(endpoints, args);
  t.is(r.code, 0, `etcdctl ${args.join(' ')} failed: ${r.stderr}`);
  return r;
}

async function putRev(t: ExecutionContext, endpoints: string, key: string, val: string): Promise<number> {
  const r = await ok(t, endpoints, 'put', key, val, '-w', 'json');
  return parseEtcdJson<{ header: { revision: number } }>(r.stdout).header.revision;
}

/** Scrapes `m` and fails the test on anything but a well-formed exposition. */
async function metricsOf(t: ExecutionContext, m: E2eMember): Promise<Exposition> {
  const s = await scrape(m.metricsURL);
  t.is(s.status, 200, `${m.name} /metrics`);
  t.deepEqual(s.e.errors, [], `${m.name} /metrics is not valid Prometheus text`);
  return s.e;
}

function num(e: Exposition, name: string): number {
  const v = value(e, name);
  if (v === undefined) throw new Error(`no sample ${name}`);
  return v;
}

/** Polls `read` until `pred` holds; returns the last value read (the caller asserts on it). */
async function until<T>(read: () => Promise<T>, pred: (v: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await read();
  while (!pred(v) && Date.now() < deadline) {
    await sleep(100);
    v = await read();
  }
  return v;
}

async function getStatus(url: string): Promise<{ status: number; contentType: string; body: string }> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    return { status: r.status, contentType: r.headers.get('content-type') ?? '', body: await r.text() };
  } catch (e) {
    return { status: 0, contentType: '', body: (e as Error).message };
  }
}

/** The `startMs` of every "skiff master serving" line `m` has logged, one per start. */
function servingStartMs(m: E2eMember): number[] {
  return readFileSync(m.logFile, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{') && l.includes('"skiff master serving"'))
    .map((l) => (JSON.parse(l) as { startMs: number }).startMs);
}

function logCount(file: string, msg: string): number {
  if (!existsSync(file)) return 0;
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{') && (JSON.parse(l) as { msg?: string }).msg === msg).length;
}

// ---------------------------------------------------------------- /metrics, /healthz, /health on a shared cluster

serial('/metrics is Prometheus text with the raft and store series, and exactly one member leads', async (t) => {
  const c = await shared3(t);
  for (const m of c.members) {
    const s = await scrape(m.metricsURL);
    t.is(s.status, 200);
    t.regex(s.contentType, /^text\/plain; version=0\.0\.4/, `${m.name} content type`);
    t.deepEqual(s.e.errors, [], `${m.name} /metrics is not valid Prometheus text`);
    const names = new Set(s.e.samples.map((x) => x.name));
    t.deepEqual(SERIES.filter((n) => !names.has(n)), [], `${m.name} lacks series`);
    t.is(s.e.types.get('skiff_raft_term'), 'gauge');
    t.is(s.e.types.get('skiff_raft_fsync_duration_seconds'), 'histogram');
    t.is(s.e.types.get('skiff_store_proposal_duration_seconds'), 'histogram');
    const [commit, applied, lag] = [num(s.e, 'skiff_raft_commit_index'), num(s.e, 'skiff_raft_applied_index'), num(s.e, 'skiff_raft_apply_lag')];
    t.true(commit >= applied && applied > 0, `${m.name}: commit ${commit}, applied ${applied}`);
    t.is(lag, commit - applied, `${m.name}: apply lag is commit - applied (read in one scrape)`);
    t.true(num(s.e, 'skiff_raft_term') >= 1);
  }
  const leaders = await until(
    async () => Promise.all(c.members.map(async (m) => num(await metricsOf(t, m), 'skiff_raft_is_leader'))),
    (v) => v.filter((x) => x === 1).length === 1,
    5_000,
  );
  t.deepEqual([...leaders].sort(), [0, 0, 1], 'skiff_raft_is_leader over the members');
  const terms = await Promise.all(c.members.map(async (m) => num(await metricsOf(t, m), 'skiff_raft_term')));
  t.is(new Set(terms).size, 1, `one term on every member: ${terms.join(',')}`);
});

serial('/metrics: puts through a follower move its proposal count, revision and applied index; every member fsyncs', async (t) => {
  const c = await shared3(t);
  const f = (await c.followers())[0]!;
  const before = await Promise.all(c.members.map((m) => metricsOf(t, m)));
  const fBefore = before[c.members.indexOf(f)]!;
  const PUTS = 5;
  let rev = 0;
  for (let i = 0; i < PUTS; i++) rev = await putRev(t, f.endpoint, `ops/m/${i}`, `v${i}`);

  const fAfter = await metricsOf(t, f);
  const count = num(fAfter, 'skiff_store_proposal_duration_seconds_count');
  t.true(count > 0, 'skiff_store_proposal_duration_seconds_count is zero after puts');
  t.true(count - num(fBefore, 'skiff_store_proposal_duration_seconds_count') >= PUTS, `proposal count moved by ${count - num(fBefore, 'skiff_store_proposal_duration_seconds_count')} for ${PUTS} puts`);
  t.true(num(fAfter, 'skiff_store_revision') >= rev, `revision ${num(fAfter, 'skiff_store_revision')} below the put's ${rev}`);
  t.true(num(fAfter, 'skiff_raft_applied_index') - num(fBefore, 'skiff_raft_applied_index') >= PUTS, 'applied index did not move by the puts');
  for (const [i, m] of c.members.entries()) {
    const e = await until(
      () => metricsOf(t, m),
      (x) => num(x, 'skiff_store_revision') >= rev,
      5_000,
    );
    t.is(num(e, 'skiff_store_revision'), rev, `${m.name} skiff_store_revision`);
    t.true(
      num(e, 'skiff_raft_fsync_duration_seconds_count') > num(before[i]!, 'skiff_raft_fsync_duration_seconds_count'),
      `${m.name}: no synced log write for ${PUTS} replicated puts`,
    );
  }
});

serial('/metrics: skiff_store_watchers counts a running etcdctl watch, and drops back when it ends', async (t) => {
  const c = await shared3(t);
  const m = c.members[2]!;
  const watchers = async () => num(await metricsOf(t, m), 'skiff_store_watchers');
  const base = await watchers();
  const w = new BackgroundEtcdctl(m.endpoint, ['watch', '--prefix', 'ops/w/']);
  t.teardown(() => w.stop());
  // The watch exists once it reports an event: write markers until one shows.
  for (let i = 0; i < 50 && !w.stdout.includes('PUT\nops/w/marker\n'); i++) {
    await ok(t, c.endpoints(), 'put', 'ops/w/marker', String(i));
    await sleep(200);
  }
  t.true(w.stdout.includes('PUT\nops/w/marker\n'), `the watch never reported a marker: ${w.stderr}`);
  t.is(await until(watchers, (v) => v === base + 1, 5_000), base + 1, 'skiff_store_watchers while etcdctl watch runs');
  await w.stop();
  t.is(await until(watchers, (v) => v === base, 5_000), base, 'skiff_store_watchers after the watch ended');
});

serial('/healthz is 200 and /health is etcd-style JSON {"health":"true"} on every member of a healthy cluster', async (t) => {
  const c = await shared3(t);
  for (const m of c.members) {
    const hz = await getStatus(`${m.metricsURL}/healthz`);
    t.is(hz.status, 200, `${m.name} /healthz: ${hz.body}`);
    const h = await getStatus(`${m.metricsURL}/health`);
    t.is(h.status, 200, `${m.name} /health`);
    t.regex(h.contentType, /^application\/json/);
    t.deepEqual(JSON.parse(h.body) as unknown, { health: 'true' }, `${m.name} /health body`);
  }
});

// ---------------------------------------------------------------- faults, restarts, `skiff up`

/** Pauses every member but `m`; returns how long until `m`'s /healthz said 503 (or null), and its /health then. */
async function isolate(c: E2eCluster, m: E2eMember): Promise<{ ms: number | null; health: { status: number; body: string } }> {
  for (const other of c.members) if (other !== m) c.pause(other);
  const t0 = Date.now();
  const hz = await until(() => getStatus(`${m.metricsURL}/healthz`), (r) => r.status === 503, 4 * LOSE_LEADER_WITHIN_MS);
  const ms = hz.status === 503 ? Date.now() - t0 : null;
  return { ms, health: await getStatus(`${m.metricsURL}/health`) };
}

heavyTest('/healthz turns 503 on a leader and on a follower whose peers are all stopped (SIGSTOP), and 200 again after SIGCONT', 60_000, async (t) => {
  const c = await suite.cluster(t, { size: 3, extraArgs: ['--election-timeout', String(ELECTION_TIMEOUT_MS)] });
  const cases: Array<{ role: string; pick: () => Promise<E2eMember> }> = [
    { role: 'leader', pick: () => c.leader() },
    { role: 'follower', pick: async () => (await c.followers())[0]! },
  ];
  for (const { role, pick } of cases) {
    const m = await pick();
    const { ms, health } = await isolate(c, m);
    t.log(`${role} ${m.name}: /healthz 503 after ${ms} ms`);
    t.not(ms, null, `${role} ${m.name} still reports a leader with its peers stopped`);
    t.true(ms !== null && ms <= LOSE_LEADER_WITHIN_MS, `${role} ${m.name}: 503 only after ${ms} ms (limit ${LOSE_LEADER_WITHIN_MS} ms)`);
    t.is(health.status, 503, `${role} /health status`);
    t.deepEqual(JSON.parse(health.body || '{}') as unknown, { health: 'false' }, `${role} /health body`);
    // It stays so: alone, it can neither win an election nor hear of a leader.
    const flips: number[] = [];
    for (let i = 0; i < 10; i++, await sleep(100)) flips.push((await getStatus(`${m.metricsURL}/healthz`)).status);
    t.deepEqual([...new Set(flips)], [503], `${role} /healthz while isolated`);
    t.is(num(await metricsOf(t, m), 'skiff_raft_is_leader'), 0, `${role} ${m.name} still claims leadership alone`);
    for (const other of c.members) if (other !== m) c.resume(other);
    await c.waitHealthy(c.members, 15_000);
    t.is((await getStatus(`${m.metricsURL}/healthz`)).status, 200, `${role} ${m.name} /healthz after its peers resumed`);
  }
});

heavyTest('SIGTERM: a member exits 0 within seconds; restarted alone, it serves its own data; startup logs startMs < 1 s', 60_000, async (t) => {
  const c = await suite.cluster(t, { size: 3 });
  const E = c.endpoints();
  for (let i = 0; i < 20; i++) await ok(t, E, 'put', `ops/t/${i}`, `v${i}`);

  // 1. A follower alone, while the others serve: a clean exit, and the cluster goes on.
  // (The leader alone is the next test's business.)
  const follower = (await c.followers())[0]!;
  let t0 = Date.now();
  await c.kill(follower, 'SIGTERM');
  const followerExitMs = Date.now() - t0;
  t.like(follower.exits.at(-1), { code: 0, signal: null }, `${follower.name} on SIGTERM`);
  t.true(followerExitMs <= SIGTERM_EXIT_WITHIN_MS, `${follower.name} took ${followerExitMs} ms to exit`);
  const rev = await putRev(t, c.endpoints(), 'ops/t/last', 'after-follower-stop');
  await c.restart(follower);
  t.is((await ok(t, follower.endpoint, 'get', 'ops/t/last')).stdout, 'ops/t/last\nafter-follower-stop\n');

  // 2. Everyone, then one member back alone: what it serves can only come from its own data dir.
  t0 = Date.now();
  const exitMs = await Promise.all(c.members.map(async (m) => (await c.kill(m, 'SIGTERM'), Date.now() - t0)));
  for (const [i, m] of c.members.entries()) {
    t.like(m.exits.at(-1), { code: 0, signal: null }, `${m.name} on SIGTERM`);
    t.true(exitMs[i]! <= SIGTERM_EXIT_WITHIN_MS, `${m.name} took ${exitMs[i]} ms to exit`);
    t.is(logCount(m.logFile, 'stopped'), m.starts, `${m.name}: one "stopped" line per clean stop`);
  }
  const alone = c.members[1]!;
  await c.restart(alone, { waitHealthy: false });
  const e = await until(
    async () => (await scrape(alone.metricsURL).catch(() => null))?.e ?? null,
    (x) => x !== null && value(x, 'skiff_store_revision') === rev,
    10_000,
  );
  t.is(e && value(e, 'skiff_store_revision'), rev, `${alone.name} restarted alone: skiff_store_revision`);
  const counted = parseEtcdJson<{ count?: number }>((await ok(t, alone.endpoint, 'get', 'ops/t/', '--prefix', '--consistency=s', '--keys-only', '-w', 'json')).stdout);
  t.is(counted.count, 21, `${alone.name} restarted alone: keys under ops/t/ (serializable)`);
  t.is((await ok(t, alone.endpoint, 'get', 'ops/t/last', '--consistency=s')).stdout, 'ops/t/last\nafter-follower-stop\n');
  t.is((await getStatus(`${alone.metricsURL}/healthz`)).status, 503, 'alone, it has no leader');

  // 3. The rest back: a cluster again, and writable.
  for (const m of c.members) if (m !== alone) await c.restart(m, { waitHealthy: false });
  await c.waitHealthy(c.members);
  t.true((await putRev(t, c.endpoints(), 'ops/t/again', 'x')) > rev);

  // Every start, the first ones and the restarts, reached "serving" within STARTUP_MS_MAX.
  for (const m of c.members) {
    const ms = servingStartMs(m);
    t.log(`${m.name} startMs: ${ms.join(', ')}`);
    t.is(ms.length, m.starts, `${m.name}: one "skiff master serving" line per start`);
    t.deepEqual(ms.filter((x) => !(x < STARTUP_MS_MAX)), [], `${m.name}: starts slower than ${STARTUP_MS_MAX} ms`);
  }
});

/**
 * etcd's leader hands leadership to a peer before it stops (EtcdServer.Stop
 * calls TransferLeadership), so a rolling restart does not stall writes: a
 * write sent as the old leader exits is served by the new one.
 */
heavyTest('SIGTERM on the leader: it exits 0, and a write sent right after succeeds within etcdctl\'s 5 s deadline', 60_000, async (t) => {
  const c = await suite.cluster(t, { size: 3 });
  await ok(t, c.endpoints(), 'put', 'ops/l/before', 'x');
  const leader = await c.leader();
  const t0 = Date.now();
  await c.kill(leader, 'SIGTERM');
  const exitMs = Date.now() - t0;
  t.like(leader.exits.at(-1), { code: 0, signal: null }, `${leader.name} on SIGTERM`);
  t.true(exitMs <= SIGTERM_EXIT_WITHIN_MS, `${leader.name} took ${exitMs} ms to exit`);

  const first = await etcdctl(c.endpoints(), ['put', 'ops/l/after', 'y']);
  t.log(`first put after the leader's exit: code ${first.code} after ${first.elapsedMs} ms`);
  // Whatever happened to it, the two others do form a cluster again (checked first: a failed assertion ends the test).
  const next = await c.leader();
  t.not(next, leader);
  t.is((await ok(t, c.endpoints(), 'put', 'ops/l/later', 'z')).stdout, 'OK\n');
  t.is(first.code, 0, `a put sent right after the leader's clean exit failed after ${first.elapsedMs} ms: ${first.stderr.trim().split('\n').at(-1)}`);
});

/** `skiff up --masters n`: READY, etcdctl on its endpoints, then SIGINT (to `up` alone, or to its group like Ctrl-C). */
async function upRoundTrip(t: ExecutionContext, n: number, interrupt: 'process' | 'group'): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `skiff-e2e-up${n}-`));
  const base = await freePortRange(4 * n);
  const apiBase = base + 3 * n;
  const up = new SkiffUp(['--masters', String(n), '--dir', dir, '--base-port', String(base), '--api-base-port', String(apiBase)]);
  t.teardown(async () => {
    await up.kill();
    if (t.passed) rmSync(dir, { recursive: true, force: true });
    else console.error(`[e2e operations] ${t.title}: skiff up dir kept: ${dir}\n${up.output()}`);
  });
  const ready = await up.ready();

  t.is(ready.dir, dir);
  t.deepEqual(
    ready.members.map((m) => [m.name, m.client, m.peer, m.metrics, m.log]),
    Array.from({ length: n }, (_, i) => [`m${i + 1}`, `http://127.0.0.1:${base + 3 * i}`, `http://127.0.0.1:${base + 3 * i + 1}`, `http://127.0.0.1:${base + 3 * i + 2}`, `${dir}/m${i + 1}.log`]),
  );
  t.is(ready.etcd_endpoints, ready.members.map((m) => m.client).join(','));
  t.deepEqual(ready.members.filter((m) => !pidAlive(m.pid)).map((m) => m.name), [], 'members not running at READY');

  const eps = ready.etcd_endpoints.split(',').map((u) => u.replace(/^http:\/\//, ''));
  const E = eps.join(',');
  t.is((await ok(t, eps[0]!, 'put', 'up/k', `masters-${n}`)).stdout, 'OK\n');
  for (const ep of eps) t.is((await ok(t, ep, 'get', 'up/k')).stdout, `up/k\nmasters-${n}\n`, `linearizable get through ${ep}`);
  const status = parseEtcdJson<Array<{ Status: { leader: string | number; header: { member_id: string | number } } }>>((await ok(t, E, 'endpoint', 'status', '-w', 'json')).stdout);
  t.is(status.length, n);
  t.is(status.filter((s) => String(s.Status.leader) === String(s.Status.header.member_id)).length, 1, 'exactly one endpoint is the leader');

  const t0 = Date.now();
  up.signal('SIGINT', { group: interrupt === 'group' });
  const exit = await up.waitExit(UP_STOP_WITHIN_MS + 5_000);
  const ms = Date.now() - t0;
  t.deepEqual(exit, { code: 0, signal: null }, `skiff up after SIGINT (${interrupt}):\n${up.output()}`);
  t.true(ms <= UP_STOP_WITHIN_MS, `skiff up took ${ms} ms to stop`);
  t.regex(up.stdout, /stopping the cluster/);
  t.notRegex(up.stdout, /member m\d+ exited/, 'up saw a member exit before it was asked to stop');
  t.deepEqual(ready.members.filter((m) => pidAlive(m.pid)).map((m) => m.name), [], 'members still running after skiff up exited');
  for (const m of ready.members) t.is(logCount(m.log, 'stopped'), 1, `${m.name} did not log a clean stop`);
}

heavyTest('skiff up --masters 3: READY {json}, etcdctl on its endpoints, SIGINT stops every member and exits 0', 90_000, (t) => upRoundTrip(t, 3, 'process'));

heavyTest('skiff up --masters 5: the same, with SIGINT to the whole process group (Ctrl-C)', 90_000, (t) => upRoundTrip(t, 5, 'group'));
