/**
 * The control loops on a real 3-member store with an API server per member:
 * they run on the Raft leader only and move with it; the namespace controller
 * empties and removes a deleted namespace; the garbage collector carries out
 * background, orphan and foreground deletion; writes are fenced to the
 * leader's term.
 */
import test from 'ava';
import pino from 'pino';
import { ApiServer } from '../src/control/apiserver/index.js';
import { ControllerManager, WorkQueue, defaultControllers } from '../src/control/controllers/index.js';
import { StoreTestCluster } from './helpers/store-cluster.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;
const auth = { Authorization: 'Bearer t' };

interface Env {
  cluster: StoreTestCluster;
  apis: Map<string, ApiServer>;
  managers: Map<string, ControllerManager>;
}

async function start(): Promise<Env> {
  const cluster = new StoreTestCluster(['a', 'b', 'c']);
  await cluster.startAll();
  await cluster.waitFor(() => cluster.leader() !== undefined, 'a leader');
  const apis = new Map<string, ApiServer>();
  const managers = new Map<string, ControllerManager>();
  for (const [name, store] of cluster.servers) {
    const api = new ApiServer({
      kv: store, host: '127.0.0.1', port: 0, tls: null, tokens: new Map([['t', { name: 'admin', uid: '1', groups: [] }]]),
      allowAnonymous: false, maxBodyBytes: 1 << 20, bookmarkIntervalMs: 60_000, notReady: () => null, logger: pino({ level: 'silent' }),
    });
    await api.start();
    apis.set(name, api);
    const m = new ControllerManager(store, defaultControllers(), pino({ level: 'silent' }));
    m.start();
    managers.set(name, m);
  }
  return { cluster, apis, managers };
}

async function stop(e: Env): Promise<void> {
  for (const m of e.managers.values()) await m.close();
  for (const a of e.apis.values()) await a.close();
  await e.cluster.close();
}

async function call(e: Env, method: string, path: string, body?: unknown, member = [...e.apis.keys()][0]!): Promise<{ status: number; body: J }> {
  const headers: Record<string, string> = { ...auth };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
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

const cm = (name: string, owners: J[] = []) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ownerReferences: owners.length ? owners : undefined } });
const ownerRef = (o: J) => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, uid: o.metadata.uid, blockOwnerDeletion: true });

test('the loops run on the leader only, and move with the leadership', async (t) => {
  const e = await start();
  try {
    await eventually('one manager runs', async () => [...e.managers.values()].filter((m) => m.runningTerm !== null).length === 1);
    const leader = e.cluster.leader()!;
    t.is(e.managers.get(leader.name)!.runningTerm, leader.term);
    await e.managers.get(leader.name)!.close();
    e.managers.delete(leader.name);
    await e.apis.get(leader.name)!.close();
    e.apis.delete(leader.name);
    await e.cluster.stop(leader.name);
    await eventually('another manager took over', async () => [...e.managers.values()].some((m) => m.runningTerm !== null));
    const next = e.cluster.leader()!;
    t.not(next.name, leader.name);
    t.is(e.managers.get(next.name)!.runningTerm, next.term);
  } finally {
    await stop(e);
  }
});

test('namespace deletion: everything in it goes, then the namespace', async (t) => {
  const e = await start();
  try {
    await eventually('default exists', async () => (await call(e, 'GET', '/api/v1/namespaces/default')).status === 200);
    t.is((await call(e, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'doomed' } })).status, 201);
    for (let i = 0; i < 5; i++) t.is((await call(e, 'POST', '/api/v1/namespaces/doomed/configmaps', cm(`c${i}`))).status, 201);
    t.is((await call(e, 'POST', '/api/v1/namespaces/doomed/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } })).status, 201);
    const del = await call(e, 'DELETE', '/api/v1/namespaces/doomed');
    t.is(del.body.status.phase, 'Terminating');
    await eventually('the namespace is gone', async () => (await call(e, 'GET', '/api/v1/namespaces/doomed')).status === 404);
    t.is((await call(e, 'GET', '/api/v1/namespaces/doomed/configmaps')).body.items.length, 0);
    t.is((await call(e, 'GET', '/api/v1/namespaces/doomed/pods')).body.items.length, 0);
  } finally {
    await stop(e);
  }
});

test('garbage collection: background, orphan and foreground propagation', async (t) => {
  const e = await start();
  try {
    await eventually('default exists', async () => (await call(e, 'GET', '/api/v1/namespaces/default')).status === 200);
    const base = '/api/v1/namespaces/default/configmaps';
    const mk = async (name: string, owners: J[] = []) => (await call(e, 'POST', base, cm(name, owners))).body;
    const exists = async (name: string) => (await call(e, 'GET', `${base}/${name}`)).status === 200;

    // Background: the owner goes at once; its dependents follow.
    const bg = await mk('bg-owner');
    await mk('bg-dep1', [ownerRef(bg)]);
    await mk('bg-dep2', [ownerRef(bg)]);
    const other = await mk('other-owner');
    await mk('bg-shared', [ownerRef(bg), ownerRef(other)]);
    t.is((await call(e, 'DELETE', `${base}/bg-owner`)).status, 200);
    await eventually('dependents deleted', async () => !(await exists('bg-dep1')) && !(await exists('bg-dep2')));
    await eventually('a dependent with another owner keeps it only', async () => {
      const s = await call(e, 'GET', `${base}/bg-shared`);
      return s.status === 200 && s.body.metadata.ownerReferences?.length === 1 && s.body.metadata.ownerReferences[0].uid === other.metadata.uid;
    });

    // Orphan: the dependents stay, without the reference; the owner goes.
    const or = await mk('or-owner');
    await mk('or-dep', [ownerRef(or)]);
    t.is((await call(e, 'DELETE', `${base}/or-owner?propagationPolicy=Orphan`)).status, 202);
    await eventually('the owner is gone', async () => !(await exists('or-owner')));
    const dep = (await call(e, 'GET', `${base}/or-dep`)).body;
    t.is(dep.metadata.ownerReferences, undefined);

    // Foreground: the dependents go first, then the owner.
    const fg = await mk('fg-owner');
    await mk('fg-dep', [ownerRef(fg)]);
    const d = await call(e, 'DELETE', `${base}/fg-owner?propagationPolicy=Foreground`);
    t.is(d.status, 202);
    t.deepEqual(d.body.metadata.finalizers, ['foregroundDeletion']);
    await eventually('dependent and owner gone', async () => !(await exists('fg-dep')) && !(await exists('fg-owner')));

    // A dependent whose owner never existed (wrong uid) is collected too.
    await mk('stray', [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'nobody', uid: '00000000-0000-0000-0000-000000000000' }]);
    await eventually('the stray dependent is collected', async () => !(await exists('stray')));
  } finally {
    await stop(e);
  }
});

test('workqueue: duplicates merge, a key in progress is not handed out twice, failures back off', async (t) => {
  const q = new WorkQueue({ baseBackoffMs: 20 });
  q.add('a');
  q.add('a');
  q.add('b');
  t.is(q.length, 2);
  const k = await q.get();
  t.is(k, 'a');
  q.add('a'); // while in progress: queued again at done
  t.is(await q.get(), 'b');
  q.done('b');
  t.is(q.length, 0);
  q.done('a');
  t.is(await q.get(), 'a');
  q.done('a');
  const t0 = Date.now();
  q.addRateLimited('x');
  q.addRateLimited('x'); // one pending delay per key
  t.is(await q.get(), 'x');
  t.true(Date.now() - t0 >= 15);
  t.is(q.retries('x'), 2);
  q.done('x');
  q.forget('x');
  t.is(q.retries('x'), 0);
  const small = new WorkQueue({ maxKeys: 2 });
  small.add('1');
  small.add('2');
  small.add('3');
  t.is(small.dropped, 1);
  q.shutDown();
  t.is(await q.get(), null);
});
