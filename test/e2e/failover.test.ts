/**
 * Faults against real `skiff master` processes: kill -9 under load, a paused
 * majority, a restart from the data dir, a wiped member rejoining by
 * snapshot, a watch across a leader change. Clients are the `etcd3` npm
 * package (the one Node users reach for) and the real etcdctl.
 *
 * Each test has a cluster of its own and they run one after another (they
 * kill and pause members, and the failover time is measured), while ava runs
 * other files beside this one.
 *
 * KNOWN LIMITATION (not fixed here): etcdctl 3.4 must be given schemeless
 * endpoints (`127.0.0.1:P`): with `http://host:port` its per-endpoint
 * Maintenance calls fail with "RST_STREAM ... PROTOCOL_ERROR" (it sends
 * `:authority: http://host:port`, which Node's HTTP/2 rejects). The etcd3
 * client is given the same schemeless hosts.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import anyTest, { type ExecutionContext } from 'ava';
import { Etcd3 } from 'etcd3';
import { type E2eMember, E2eSuite } from '../helpers/e2e-cluster.js';
import { etcdctl, etcdctlGate, parseEtcdJson, sleep, unb64 } from '../helpers/e2e-etcdctl.js';
import { exclusive } from '../helpers/e2e-lock.js';

const { serial } = etcdctlGate(anyTest, 'test/e2e/failover.test.ts');
const suite = new E2eSuite(anyTest, 'failover');
/** How long a test may wait for the machine-wide e2e lock (check perf holds it ~65 s). */
const LOCK_WAIT_MS = 120_000;

/** A fault-injection test: one at a time in this file, and never beside `check perf` (see e2e-lock.ts). */
function faultTest(title: string, timeoutMs: number, impl: (t: ExecutionContext) => Promise<void>): void {
  serial(title, async (t) => {
    t.timeout(timeoutMs + LOCK_WAIT_MS);
    await exclusive(
      'heavy',
      async () => {
        try {
          await impl(t);
        } finally {
          await suite.stopOwnClusters(t); // its shutdown is part of the load the lock keeps apart
        }
      },
      LOCK_WAIT_MS,
    );
  });
}

const CALL_DEADLINE_MS = 3_000;
/**
 * The writers under load give up on a put sooner: a put that reached the
 * killed leader (directly or forwarded by a follower) is lost with it, and
 * the client only learns so at its deadline (the etcd3 client then retries
 * on another host), so this deadline bounds the measured failover time.
 */
const LOAD_CALL_DEADLINE_MS = 1_500;
const WRITERS = 8;

/** An etcd3 client on `members`, with a deadline on every unary call; closed when the test ends. */
function client(t: ExecutionContext, members: E2eMember[], deadlineMs = CALL_DEADLINE_MS): Etcd3 {
  const c = new Etcd3({
    hosts: members.map((m) => m.endpoint),
    dialTimeout: 2_000,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + deadlineMs }),
  });
  t.teardown(() => c.close());
  return c;
}

function errorKind(e: unknown): string {
  const msg = e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e);
  return msg.replace(/\d+/g, 'N').slice(0, 120);
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

interface RangeJson {
  header: { revision: number };
  kvs?: Array<{ key: string; value?: string }>;
  count?: number;
}

/** A serializable (local) read of a prefix on one member, through etcdctl. */
async function serializableRange(m: E2eMember, prefix: string): Promise<RangeJson> {
  const r = await etcdctl(m.endpoint, ['get', prefix, '--prefix', '--consistency=s', '-w', 'json']);
  if (r.code !== 0) throw new Error(`serializable get on ${m.name}: ${r.stderr}`);
  return parseEtcdJson<RangeJson>(r.stdout);
}

function kvsOf(j: RangeJson): Map<string, string> {
  return new Map((j.kvs ?? []).map((kv) => [unb64(kv.key), unb64(kv.value ?? '')]));
}

faultTest('(a) no acknowledged write is lost when the leader is killed with -9 under load', 150_000, async (t) => {
  const c = await suite.cluster(t, { size: 3, label: 'failover-load' });
  const leader = await c.leader();
  const acked = new Map<string, string>();
  const errors = new Map<string, number>();
  let stop = false;
  let killAt = Number.POSITIVE_INFINITY;
  let firstAckAfterKillAt: number | null = null;
  let attempts = 0;
  const salt = randomBytes(4).toString('hex');

  const writers = Array.from({ length: WRITERS }, async (_, w) => {
    const cl = client(t, c.members, LOAD_CALL_DEADLINE_MS);
    for (let i = 0; !stop; i++) {
      const key = `load/${w}/${String(i).padStart(6, '0')}`;
      const value = `${salt}-${w}-${i}`;
      const startedAt = Date.now();
      attempts++;
      try {
        await cl.put(key).value(value);
        acked.set(key, value);
        if (startedAt >= killAt && firstAckAfterKillAt === null) firstAckAfterKillAt = Date.now();
      } catch (e) {
        errors.set(errorKind(e), (errors.get(errorKind(e)) ?? 0) + 1);
        await sleep(50);
      }
    }
  });

  await sleep(2_000);
  const ackedBeforeKill = acked.size;
  killAt = Date.now();
  await c.kill(leader, 'SIGKILL');
  const elected = c.leader(30_000).then((m) => ({ m, at: Date.now() })).catch(() => null);
  await until('a put issued after the kill to be acknowledged', 30_000, async () => firstAckAfterKillAt ?? undefined).catch(() => undefined);
  const failoverMs = firstAckAfterKillAt === null ? null : firstAckAfterKillAt - killAt;
  const newLeader = await elected;
  t.log(
    `failover after kill -9 of leader ${leader.name}: first acknowledged put issued after the kill at +${failoverMs ?? 'never'} ms; ` +
      `new leader ${newLeader?.m.name ?? 'none'} seen in metrics at +${newLeader ? newLeader.at - killAt : 'never'} ms`,
  );
  await sleep(1_500);
  const ackedBeforeRestart = acked.size;
  await c.restart(leader);
  await sleep(1_500);
  stop = true;
  await Promise.all(writers);
  t.log(`${attempts} puts issued by ${WRITERS} writers, ${acked.size} acknowledged (${ackedBeforeKill} before the kill); errors: ${JSON.stringify(Object.fromEntries(errors))}`);

  t.true(ackedBeforeKill > 0, 'no write was acknowledged before the kill');
  t.not(failoverMs, null, 'no put was acknowledged after the leader was killed');
  t.true(ackedBeforeRestart > ackedBeforeKill, 'the survivors acknowledged nothing while the old leader was down');
  // Every acknowledged write, with its value, from every member (the restarted one included).
  for (const m of c.members) {
    const got = await client(t, [m]).getAll().prefix('load/').strings();
    const lost = [...acked].filter(([k, v]) => got[k] !== v).map(([k, v]) => `${k}: want ${v}, got ${got[k] ?? 'nothing'}`);
    t.deepEqual(lost.slice(0, 20), [], `${m.name}: ${lost.length} of ${acked.size} acknowledged writes missing or wrong`);
  }
  t.deepEqual(c.crashes(), []);
});

faultTest('(b) a minority cut off by a paused majority serves neither linearizable reads nor writes, and recovers', 120_000, async (t) => {
  const c = await suite.cluster(t, { size: 3, label: 'failover-partition' });
  const isolated = await c.leader();
  const others = c.up.filter((m) => m !== isolated);
  const r0 = await etcdctl(c.endpoints(), ['put', 'part/k', 'before']);
  t.is(r0.code, 0, r0.stderr);

  for (const m of others) c.pause(m);
  await sleep(2_000); // past the election timeout: whatever this member believed, it can no longer reach a quorum
  const readStartedAt = Date.now();
  const lin = await etcdctl(isolated.endpoint, ['--command-timeout=3s', 'get', 'part/k']);
  t.not(lin.code, 0, `a linearizable get on the cut-off member answered: ${lin.stdout}`);
  t.regex(lin.stderr, /context deadline exceeded|request timed out/);
  const put = await etcdctl(isolated.endpoint, ['--command-timeout=3s', 'put', 'part/during', 'x']);
  t.not(put.code, 0, 'a put on the cut-off member succeeded');
  t.regex(put.stderr, /context deadline exceeded|request timed out/);
  // Serializable reads are local: they keep answering for as long as the
  // partition lasts (here past the server's own 7 s request timeout).
  for (const waitMs of [0, 4_000, Math.max(0, readStartedAt + 9_000 - Date.now())]) {
    await sleep(waitMs);
    t.true(isolated.running, `the cut-off member exited ${Date.now() - readStartedAt} ms into the partition: ${c.crashes().join('; ')}`);
    if (!isolated.running) return; // nothing left to read from or to recover
    const ser = await etcdctl(isolated.endpoint, ['get', 'part/k', '--consistency=s']);
    t.is(ser.code, 0, `serializable get ${Date.now() - readStartedAt} ms into the partition: ${ser.stderr}`);
    t.is(ser.stdout, 'part/k\nbefore\n');
  }

  for (const m of others) c.resume(m);
  const healedAt = Date.now();
  await until('a put through the formerly cut-off member', 20_000, async () => {
    const r = await etcdctl(isolated.endpoint, ['--command-timeout=2s', 'put', 'part/after', 'y']);
    return r.code === 0 ? true : undefined;
  }).catch(() => undefined);
  t.log(`writes through ${isolated.name} work again ${Date.now() - healedAt} ms after SIGCONT`);
  const after = await etcdctl(isolated.endpoint, ['get', 'part/', '--prefix', '--keys-only']);
  t.is(after.code, 0, after.stderr);
  t.regex(after.stdout, /^part\/after$/m);
  t.regex(after.stdout, /^part\/k$/m);
  for (const m of others) {
    const r = await etcdctl(m.endpoint, ['get', 'part/after']);
    t.is(r.stdout, 'part/after\ny\n', `linearizable get on ${m.name}`);
  }
  t.deepEqual(c.crashes(), []);
});

faultTest('(c) a member killed with -9 restarts from its data dir and catches up', 120_000, async (t) => {
  const c = await suite.cluster(t, { size: 3, label: 'failover-restart' });
  const victim = (await c.followers())[0]!;
  const idBefore = await c.memberId(victim);
  const writer = client(t, c.members);
  for (let i = 0; i < 10; i++) await writer.put(`rs/${String(i).padStart(3, '0')}`).value(`v${i}`);
  await until(`${victim.name} to hold the first writes`, 10_000, async () => ((await serializableRange(victim, 'rs/')).count === 10 ? true : undefined));

  await c.kill(victim, 'SIGKILL');
  const survivors = client(t, c.up);
  let latestRev = 0;
  for (let i = 10; i < 60; i++) {
    const r = await survivors.put(`rs/${String(i).padStart(3, '0')}`).value(`v${i}`);
    latestRev = Number(r.header.revision);
  }
  const restartAt = Date.now();
  await c.restart(victim);
  let caughtUp: RangeJson | null = null;
  await until(`${victim.name} to reach revision ${latestRev}`, 20_000, async () => {
    const j = await serializableRange(victim, 'rs/');
    if (j.header.revision >= latestRev) caughtUp = j;
    return caughtUp ?? undefined;
  }).catch(() => undefined);
  t.log(`${victim.name} restarted and reached revision ${latestRev} in ${Date.now() - restartAt} ms`);
  t.truthy(caughtUp, `${victim.name} never reached revision ${latestRev}`);
  if (!caughtUp) return;
  const kvs = kvsOf(caughtUp);
  t.is(kvs.size, 60);
  for (let i = 0; i < 60; i++) t.is(kvs.get(`rs/${String(i).padStart(3, '0')}`), `v${i}`);
  t.is(await c.memberId(victim), idBefore, 'the restarted member has a new identity');
  t.is((await c.memberList()).length, 3);
  t.deepEqual(c.crashes(), []);
});

faultTest('(d) a wiped member removed and added back is brought up to date by a snapshot', 150_000, async (t) => {
  const c = await suite.cluster(t, { size: 3, label: 'failover-snapshot', extraArgs: ['--snapshot-count', '50'] });
  const writer = client(t, c.members);
  const want = new Map(Array.from({ length: 300 }, (_, i) => [`snap/${String(i).padStart(3, '0')}`, `value-${i}`] as const));
  const keys = [...want.keys()];
  for (let i = 0; i < keys.length; i += 20) await Promise.all(keys.slice(i, i + 20).map((k) => writer.put(k).value(want.get(k)!)));

  const victim = (await c.followers())[0]!;
  const id = await c.memberId(victim);
  await c.kill(victim, 'SIGKILL');
  rmSync(victim.dataDir, { recursive: true, force: true });
  const removed = await etcdctl(c.endpoints(), ['member', 'remove', id]);
  t.is(removed.code, 0, removed.stderr);
  c.markRemoved(victim);
  t.false((await c.memberList()).some((m) => m.id === id), `member ${id} still listed after member remove`);

  const joinedAt = Date.now();
  const { member: fresh, id: freshId } = await c.addMember(victim.name, { dataDir: victim.dataDir });
  t.not(fresh.ports.peer, victim.ports.peer);
  t.not(freshId, id);
  await c.waitHealthy([fresh]);
  let got: Map<string, string> | null = null;
  await until(`${fresh.name} to serve 300 keys`, 30_000, async () => {
    const j = await serializableRange(fresh, 'snap/');
    return j.count === 300 ? (got = kvsOf(j)) : undefined;
  }).catch(() => undefined);
  t.log(`the re-added member served all 300 keys ${Date.now() - joinedAt} ms after member add`);
  t.truthy(got, `${fresh.name} never served the 300 keys`);
  if (got) t.deepEqual([...(got as Map<string, string>)].sort(), [...want].sort());
  // It got there by a snapshot, not by replaying the log (which the leader compacted every 50 entries).
  const log = existsSync(fresh.logFile) ? readFileSync(fresh.logFile, 'utf8') : '';
  const restored = [...log.matchAll(/"index":(\d+),[^\n]*"msg":"restored snapshot"/g)].map((m) => Number(m[1]));
  t.log(`snapshots restored by ${fresh.name}: at index ${restored.join(', ') || 'none'}`);
  t.true(restored.some((i) => i >= 250), `no snapshot of the 300 writes was restored (log: ${fresh.logFile})`);

  // Replication goes on after the snapshot.
  await writer.put('snap/after').value('x');
  await until(`${fresh.name} to see a write made after it joined`, 10_000, async () => ((await serializableRange(fresh, 'snap/after')).count === 1 ? true : undefined)).catch(() => undefined);
  t.is((await serializableRange(fresh, 'snap/after')).count, 1);
  t.deepEqual(c.crashes(), []);
});

faultTest('(e) a watch on a follower sees every write exactly once, in order, across a leader change', 150_000, async (t) => {
  const c = await suite.cluster(t, { size: 3, label: 'failover-watch' });
  const leader = await c.leader();
  const follower = c.up.find((m) => m !== leader)!;
  const events: Array<{ type: 'put' | 'delete'; key: string; rev: number }> = [];
  let disconnects = 0;
  const watcher = await client(t, [follower]).watch().prefix('w/').create();
  t.teardown(() => watcher.cancel());
  watcher.on('put', (kv) => events.push({ type: 'put', key: kv.key.toString(), rev: Number(kv.mod_revision) }));
  watcher.on('delete', (kv) => events.push({ type: 'delete', key: kv.key.toString(), rev: Number(kv.mod_revision) }));
  watcher.on('disconnected', () => disconnects++);

  const writer = client(t, c.members, LOAD_CALL_DEADLINE_MS);
  let retries = 0;
  let killAt = 0;
  for (let i = 0; i < 200; i++) {
    if (i === 100) {
      killAt = Date.now();
      await c.kill(leader, 'SIGKILL');
    }
    const key = `w/${i}`;
    // Create-if-absent, so that retrying a put whose outcome was unknown cannot write it twice.
    for (const t0 = Date.now(); ; retries++) {
      try {
        await writer.if(key, 'Create', '==', 0).then(writer.put(key).value(String(i))).commit();
        break;
      } catch (e) {
        if (Date.now() - t0 > 30_000) throw new Error(`put ${key} kept failing: ${errorKind(e)}`);
        await sleep(100);
      }
    }
    if (i === 100) t.log(`first write after killing leader ${leader.name} acknowledged after ${Date.now() - killAt} ms`);
  }
  await until('200 watch events', 15_000, async () => (events.length >= 200 ? true : undefined)).catch(() => undefined);
  await sleep(300);
  t.log(`${events.length} events; ${retries} put retries; watch disconnects: ${disconnects}`);
  t.deepEqual(
    events.map((e) => `${e.type} ${e.key}`),
    Array.from({ length: 200 }, (_, i) => `put w/${i}`),
  );
  const outOfOrder = events.filter((e, i) => i > 0 && e.rev <= events[i - 1]!.rev);
  t.deepEqual(outOfOrder, [], 'revisions must increase strictly');
  t.deepEqual(c.crashes(), []);
});

