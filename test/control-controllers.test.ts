/**
 * The control loops on a real 3-member store with an API server per member:
 * they run on the Raft leader only and move with it; the namespace controller
 * empties and removes a deleted namespace; the garbage collector carries out
 * background, orphan and foreground deletion; writes are fenced to the
 * leader's term.
 */
import test from 'ava';
import { WorkQueue, defaultControllers } from '../src/control/controllers/index.js';
import { type ControlCluster, type J, startControlCluster } from './helpers/control-cluster.js';

async function start(): Promise<ControlCluster> {
  return startControlCluster({ controllers: defaultControllers });
}

const eventually = (e: ControlCluster, what: string, f: () => Promise<boolean>) => e.eventually(what, f);
const call = (e: ControlCluster, method: string, path: string, body?: unknown) => e.call(method, path, body);

const cm = (name: string, owners: J[] = []) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ownerReferences: owners.length ? owners : undefined } });
const ownerRef = (o: J) => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, uid: o.metadata.uid, blockOwnerDeletion: true });

test('the loops run on the leader only, and move with the leadership', async (t) => {
  const e = await start();
  try {
    await eventually(e, 'one manager runs', async () => [...e.managers.values()].filter((m) => m.runningTerm !== null).length === 1);
    const leader = e.store.leader()!;
    t.is(e.managers.get(leader.name)!.runningTerm, leader.term);
    await e.managers.get(leader.name)!.close();
    e.managers.delete(leader.name);
    await e.apis.get(leader.name)!.close();
    e.apis.delete(leader.name);
    await e.store.stop(leader.name);
    await eventually(e, 'another manager took over', async () => [...e.managers.values()].some((m) => m.runningTerm !== null));
    const next = e.store.leader()!;
    t.not(next.name, leader.name);
    t.is(e.managers.get(next.name)!.runningTerm, next.term);
  } finally {
    await e.close();
  }
});

test('namespace deletion: everything in it goes, then the namespace', async (t) => {
  const e = await start();
  try {
    t.is((await call(e, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'doomed' } })).status, 201);
    for (let i = 0; i < 5; i++) t.is((await call(e, 'POST', '/api/v1/namespaces/doomed/configmaps', cm(`c${i}`))).status, 201);
    t.is((await call(e, 'POST', '/api/v1/namespaces/doomed/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } })).status, 201);
    const del = await call(e, 'DELETE', '/api/v1/namespaces/doomed');
    t.is(del.body.status.phase, 'Terminating');
    await eventually(e, 'the namespace is gone', async () => (await call(e, 'GET', '/api/v1/namespaces/doomed')).status === 404);
    t.is((await call(e, 'GET', '/api/v1/namespaces/doomed/configmaps')).body.items.length, 0);
    t.is((await call(e, 'GET', '/api/v1/namespaces/doomed/pods')).body.items.length, 0);
  } finally {
    await e.close();
  }
});

test('garbage collection: background, orphan and foreground propagation', async (t) => {
  const e = await start();
  try {
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
    await eventually(e, 'dependents deleted', async () => !(await exists('bg-dep1')) && !(await exists('bg-dep2')));
    await eventually(e, 'a dependent with another owner keeps it only', async () => {
      const s = await call(e, 'GET', `${base}/bg-shared`);
      return s.status === 200 && s.body.metadata.ownerReferences?.length === 1 && s.body.metadata.ownerReferences[0].uid === other.metadata.uid;
    });

    // Orphan: the dependents stay, without the reference; the owner goes.
    const or = await mk('or-owner');
    await mk('or-dep', [ownerRef(or)]);
    t.is((await call(e, 'DELETE', `${base}/or-owner?propagationPolicy=Orphan`)).status, 202);
    await eventually(e, 'the owner is gone', async () => !(await exists('or-owner')));
    const dep = (await call(e, 'GET', `${base}/or-dep`)).body;
    t.is(dep.metadata.ownerReferences, undefined);

    // Foreground: the dependents go first, then the owner.
    const fg = await mk('fg-owner');
    await mk('fg-dep', [ownerRef(fg)]);
    const d = await call(e, 'DELETE', `${base}/fg-owner?propagationPolicy=Foreground`);
    t.is(d.status, 202);
    t.deepEqual(d.body.metadata.finalizers, ['foregroundDeletion']);
    await eventually(e, 'dependent and owner gone', async () => !(await exists('fg-dep')) && !(await exists('fg-owner')));

    // A dependent whose owner never existed (wrong uid) is collected too.
    await mk('stray', [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'nobody', uid: '00000000-0000-0000-0000-000000000000' }]);
    await eventually(e, 'the stray dependent is collected', async () => !(await exists('stray')));
  } finally {
    await e.close();
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
