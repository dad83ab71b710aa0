/**
 * The ReplicaSet / ReplicationController controller on a real 3-member store
 * with an API server per member: it keeps the count, deletes the right pods
 * first, adopts and releases by selector, and reports status. No node runs:
 * the test marks pods Running/Ready itself through pods/status.
 */
import test from 'ava';
import type { Controller } from '../src/control/controllers/index.js';
import { ReplicaSetController, replicaSetStatus, slowStartBatch } from '../src/control/controllers/replicaset.js';
import { Expectations } from '../src/control/controllers/workload-expectations.js';
import { compareForDeletion, podsToDelete } from '../src/control/controllers/workload-pods.js';
import type { StoreTestCluster } from './helpers/store-cluster.js';
import { type ControlCluster, startControlCluster } from './helpers/control-cluster.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;
const auth = { Authorization: 'Bearer t' };

/** The shared in-process control plane (test/helpers/control-cluster.ts), named as this file uses it. */
type Env = ControlCluster & { cluster: StoreTestCluster };

async function start(controllers: () => Controller[]): Promise<Env> {
  const c = await startControlCluster({ controllers });
  return { ...c, cluster: c.store };
}

async function stop(e: Env): Promise<void> {
  await e.close();
}

async function call(e: Env, method: string, path: string, body?: unknown): Promise<{ status: number; body: J }> {
  const headers: Record<string, string> = { ...auth };
  if (body !== undefined) headers['Content-Type'] = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
  const member = [...e.apis.keys()][0]!;
  const r = await fetch(`http://127.0.0.1:${e.apis.get(member)!.port}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function eventually(what: string, f: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!(await f())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const NS = '/api/v1/namespaces/default';
const RSS = '/apis/apps/v1/namespaces/default/replicasets';
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const template = (app: string) => ({ metadata: { labels: { app } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
const rs = (name: string, replicas: number, app = name) => ({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name }, spec: { replicas, selector: { matchLabels: { app } }, template: template(app) } });

async function podsOf(e: Env, app: string): Promise<J[]> {
  const list = await call(e, 'GET', `${NS}/pods?labelSelector=app%3D${app}`);
  return list.body.items.filter((p: J) => !p.metadata.deletionTimestamp);
}

/** Writes a pod's status as a kubelet would: Running, and Ready since `readySinceMs` (null: not ready). */
async function markRunning(e: Env, name: string, readySinceMs: number | null, restarts = 0): Promise<void> {
  const ready = readySinceMs !== null;
  const r = await call(e, 'GET', `${NS}/pods/${name}`);
  const pod = r.body;
  pod.status = {
    ...pod.status,
    phase: 'Running',
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: iso(readySinceMs ?? Date.now()) }],
    containerStatuses: [{ name: 'c', image: 'busybox', imageID: '', ready, restartCount: restarts, started: true, state: { running: { startedAt: iso(Date.now()) } } }],
  };
  const w = await call(e, 'PUT', `${NS}/pods/${name}/status`, pod);
  if (w.status !== 200) throw new Error(`status write: ${w.status} ${JSON.stringify(w.body)}`);
}

async function scale(e: Env, path: string, replicas: number): Promise<void> {
  const r = await call(e, 'PATCH', path, { spec: { replicas } });
  if (r.status !== 200) throw new Error(`scale: ${r.status} ${JSON.stringify(r.body)}`);
}

// ---------------------------------------------------------------- units

const pod = (name: string, o: { node?: string; phase?: string; readyMs?: number; restarts?: number; createdMs?: number } = {}): J => ({
  metadata: { name, uid: name, creationTimestamp: iso(o.createdMs ?? 1_000_000) },
  spec: { nodeName: o.node },
  status: {
    phase: o.phase ?? 'Pending',
    conditions: o.readyMs !== undefined ? [{ type: 'Ready', status: 'True', lastTransitionTime: iso(o.readyMs) }] : [],
    containerStatuses: [{ name: 'c', restartCount: o.restarts ?? 0 }],
  },
});

test('deletion order: unscheduled, pending, not ready, doubled up, recently ready, restarts, newest', (t) => {
  const cases: [string, J, J][] = [
    ['unscheduled before scheduled', pod('a', { phase: 'Running', readyMs: 5e6 }), pod('b', { node: 'n', phase: 'Pending' })],
    ['pending before running', pod('a', { node: 'n', phase: 'Pending' }), pod('b', { node: 'n', phase: 'Running' })],
    ['unknown before running', pod('a', { node: 'n', phase: 'Unknown' }), pod('b', { node: 'n', phase: 'Running' })],
    ['not ready before ready', pod('a', { node: 'n', phase: 'Running' }), pod('b', { node: 'n', phase: 'Running', readyMs: 5e6 })],
    ['recently ready before long ready', pod('a', { node: 'n', phase: 'Running', readyMs: 9e6 }), pod('b', { node: 'n', phase: 'Running', readyMs: 5e6 })],
    ['more restarts first', pod('a', { node: 'n', phase: 'Running', restarts: 3 }), pod('b', { node: 'n', phase: 'Running', restarts: 1 })],
    ['newer first', pod('a', { node: 'n', phase: 'Running', createdMs: 9e6 }), pod('b', { node: 'n', phase: 'Running', createdMs: 5e6 })],
  ];
  for (const [what, first, second] of cases) {
    t.true(compareForDeletion(first, second) < 0, what);
    t.true(compareForDeletion(second, first) > 0, what);
  }
  // Doubled up: a pod sharing its node with more of the family goes first.
  const crowded = pod('x', { node: 'n1', phase: 'Running' });
  const alone = pod('y', { node: 'n2', phase: 'Running' });
  const sibling = pod('z', { node: 'n1', phase: 'Running' });
  t.deepEqual(podsToDelete([alone, crowded], [alone, crowded, sibling], 1).map((p) => p.metadata.name), ['x']);
});

test('slow start: batches of 1, 2, 4, … stop at the first failing batch', async (t) => {
  let calls = 0;
  const ok = await slowStartBatch(10, 1, async () => void calls++);
  t.deepEqual(ok, { successes: 10, error: null });
  t.is(calls, 10);
  calls = 0;
  const failing = await slowStartBatch(20, 1, async () => {
    calls++;
    if (calls > 4) throw new Error('quota');
  });
  // 1 + 2 succeed, the batch of 4 fails in part: 8 would have been next.
  t.is(calls, 7);
  t.is(failing.successes, 4);
  t.is((failing.error as Error).message, 'quota');
});

test('expectations hold back decisions until the informer shows the writes', (t) => {
  const objects = new Map<string, J>();
  const cache = { revision: 5, get: (k: string) => objects.get(k) } as J;
  const x = new Expectations();
  t.true(x.satisfied('ns/rs', cache));
  x.expectRevision('ns/rs', 7);
  t.false(x.satisfied('ns/rs', cache));
  cache.revision = 7;
  objects.set('k', { metadata: { uid: 'u1' } });
  x.expectDeletion('ns/rs', 'k', 'u1');
  t.false(x.satisfied('ns/rs', cache));
  objects.set('k', { metadata: { uid: 'u1', deletionTimestamp: 'now' } });
  t.true(x.satisfied('ns/rs', cache));
});

test('status: ReplicaFailure while creating fails, removed once it works', (t) => {
  const owner: J = { metadata: { name: 'r', generation: 3 }, spec: { replicas: 2, template: template('r') } };
  const failed = replicaSetStatus(owner, [], new Error('quota exceeded'), {}, Date.now());
  t.is(failed.replicas, 0);
  t.is(failed.observedGeneration, 3);
  const cond = (failed.conditions as J[])[0];
  t.like(cond, { type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: 'quota exceeded' });
  const healed = replicaSetStatus(owner, [], null, failed, Date.now());
  t.is(healed.conditions, undefined);
});

// ---------------------------------------------------------------- on a cluster

test('ReplicaSet: scales up and down, deleting the right pods; adopts and releases; RC too', async (t) => {
  const e = await start(() => [new ReplicaSetController('replicasets'), new ReplicaSetController('replicationcontrollers')]);
  try {
    await eventually('default exists', async () => (await call(e, 'GET', `${NS}`)).status === 200);
    t.is((await call(e, 'POST', RSS, rs('web', 4))).status, 201);
    await eventually('4 pods', async () => (await podsOf(e, 'web')).length === 4);
    const made = await podsOf(e, 'web');
    const owner = (await call(e, 'GET', `${RSS}/web`)).body;
    for (const p of made) {
      t.true(p.metadata.name.startsWith('web-'));
      t.deepEqual(p.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true }]);
    }
    // Long ready, recently ready, running but not ready, pending.
    const [p0, p1, p2] = made.map((p: J) => p.metadata.name as string);
    await markRunning(e, p0!, Date.now() - 100_000);
    await markRunning(e, p1!, Date.now() - 10_000, 0);
    await markRunning(e, p2!, null);
    await eventually('status counts', async () => {
      const s = (await call(e, 'GET', `${RSS}/web`)).body.status;
      return s.replicas === 4 && s.readyReplicas === 2 && s.availableReplicas === 2 && s.fullyLabeledReplicas === 4 && s.observedGeneration === 1;
    });
    await scale(e, `${RSS}/web`, 2);
    await eventually('2 pods', async () => (await podsOf(e, 'web')).length === 2);
    t.deepEqual((await podsOf(e, 'web')).map((p: J) => p.metadata.name).sort(), [p0, p1].sort(), 'pending and not-ready pods go first');
    await scale(e, `${RSS}/web`, 1);
    await eventually('1 pod', async () => (await podsOf(e, 'web')).length === 1);
    t.deepEqual((await podsOf(e, 'web')).map((p: J) => p.metadata.name), [p0], 'the most recently ready goes first');
    await eventually('status follows', async () => {
      const s = (await call(e, 'GET', `${RSS}/web`)).body.status;
      return s.replicas === 1 && s.readyReplicas === 1 && s.observedGeneration === 3;
    });

    // Adoption: an orphan that matches fills the count; no pod is created.
    const orphan = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'stray', labels: { app: 'adopt' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
    t.is((await call(e, 'POST', `${NS}/pods`, orphan)).status, 201);
    t.is((await call(e, 'POST', RSS, rs('adopt', 1))).status, 201);
    await eventually('the orphan is adopted', async () => (await call(e, 'GET', `${NS}/pods/stray`)).body.metadata.ownerReferences?.[0]?.name === 'adopt');
    await new Promise((r) => setTimeout(r, 300));
    t.is((await podsOf(e, 'adopt')).length, 1);
    // Release: relabelled, it no longer matches; it is let go and replaced.
    t.is((await call(e, 'PATCH', `${NS}/pods/stray`, { metadata: { labels: { app: 'elsewhere' } } })).status, 200);
    await eventually('released', async () => (await call(e, 'GET', `${NS}/pods/stray`)).body.metadata.ownerReferences === undefined);
    await eventually('replaced', async () => (await podsOf(e, 'adopt')).length === 1 && (await podsOf(e, 'adopt'))[0].metadata.name !== 'stray');

    // ReplicationController: the same loop with a plain label map.
    const rc = { apiVersion: 'v1', kind: 'ReplicationController', metadata: { name: 'old' }, spec: { replicas: 3, template: template('old') } };
    t.is((await call(e, 'POST', `${NS}/replicationcontrollers`, rc)).status, 201);
    await eventually('3 RC pods', async () => (await podsOf(e, 'old')).length === 3);
    t.is((await podsOf(e, 'old'))[0].metadata.ownerReferences[0].kind, 'ReplicationController');
    await scale(e, `${NS}/replicationcontrollers/old`, 1);
    await eventually('1 RC pod', async () => (await podsOf(e, 'old')).length === 1);
    await eventually('RC status', async () => (await call(e, 'GET', `${NS}/replicationcontrollers/old`)).body.status?.replicas === 1);

    // A deleted pod is replaced.
    const [only] = await podsOf(e, 'web');
    t.is((await call(e, 'DELETE', `${NS}/pods/${only.metadata.name}`)).status, 200);
    await eventually('replaced', async () => {
      const ps = await podsOf(e, 'web');
      return ps.length === 1 && ps[0].metadata.name !== only.metadata.name;
    });
  } finally {
    await stop(e);
  }
});
