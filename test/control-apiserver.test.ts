/**
 * The Kubernetes API server over a real store (LevelDB, Raft, one process),
 * spoken to over HTTP as a client would: discovery, CRUD with optimistic
 * concurrency, status and scale subresources, patch, list pagination and
 * selectors, watch, deletion with finalizers, and the Status of every error.
 */
import test from 'ava';
import pino from 'pino';
import { ApiServer } from '../src/control/apiserver/index.js';
import { StoreTestCluster } from './helpers/store-cluster.js';

interface Env {
  url: string;
  api: ApiServer;
  cluster: StoreTestCluster;
}

async function start(members = ['a']): Promise<Env> {
  const cluster = new StoreTestCluster(members);
  await cluster.startAll();
  await cluster.waitFor(() => cluster.leader() !== undefined, 'a leader');
  const store = [...cluster.servers.values()][0]!;
  const api = new ApiServer({
    kv: store,
    host: '127.0.0.1',
    port: 0,
    tls: null,
    tokens: new Map([['admin-token', { name: 'admin', uid: '1', groups: ['system:masters'] }]]),
    allowAnonymous: false,
    maxBodyBytes: 64 * 1024,
    bookmarkIntervalMs: 200,
    notReady: () => (store.leaderId ? null : 'no leader'),
    logger: pino({ level: 'silent' }),
  });
  await api.start();
  const url = `http://127.0.0.1:${api.port}`;
  for (let i = 0; i < 100; i++) {
    if ((await fetch(`${url}/readyz`, { headers: auth })).status === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, api, cluster };
}

async function stop(e: Env): Promise<void> {
  await e.api.close();
  await e.cluster.close();
}

const auth = { Authorization: 'Bearer admin-token' };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;

async function call(e: Env, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: J; text: string }> {
  const init: RequestInit = { method, headers: { ...auth, ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['Content-Type'] ??= 'application/json';
  }
  const r = await fetch(e.url + path, init);
  const text = await r.text();
  let parsed: J = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  return { status: r.status, body: parsed, text };
}

const cm = (name: string, data: Record<string, string> = {}, labels: Record<string, string> = {}) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data });

const deployment = (name: string, replicas = 2, image = 'busybox:1') => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, labels: { app: name } },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'web', image, ports: [{ containerPort: 80 }] }, { name: 'side', image: 'busybox:1', command: ['sleep', '36000'] }] } },
  },
});

test('discovery, version, health, and the system namespaces', async (t) => {
  const e = await start();
  try {
    const api = await call(e, 'GET', '/api');
    t.is(api.body.kind, 'APIVersions');
    t.deepEqual(api.body.versions, ['v1']);
    const v1 = await call(e, 'GET', '/api/v1');
    const pods = v1.body.resources.find((r: J) => r.name === 'pods');
    t.like(pods, { kind: 'Pod', namespaced: true, singularName: 'pod', shortNames: ['po'], categories: ['all'] });
    t.truthy(v1.body.resources.find((r: J) => r.name === 'pods/status'));
    const groups = await call(e, 'GET', '/apis');
    t.deepEqual(
      groups.body.groups.map((g: J) => g.name),
      ['apps', 'batch', 'coordination.k8s.io', 'discovery.k8s.io', 'rbac.authorization.k8s.io'],
    );
    const apps = await call(e, 'GET', '/apis/apps/v1');
    t.like(apps.body.resources.find((r: J) => r.name === 'deployments/scale'), { group: 'autoscaling', version: 'v1', kind: 'Scale' });
    t.is((await call(e, 'GET', '/apis/nope/v1')).status, 404);
    // Aggregated discovery (kubectl asks for it first): one document per root, with its exact media type.
    const aggAccept = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
    const agg = await fetch(`${e.url}/apis`, { headers: { ...auth, Accept: aggAccept } });
    t.is(agg.headers.get('content-type'), 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
    const aggBody = (await agg.json()) as J;
    t.is(aggBody.kind, 'APIGroupDiscoveryList');
    const appsGroup = aggBody.items.find((g: J) => g.metadata.name === 'apps');
    t.like(appsGroup.versions[0].resources.find((r: J) => r.resource === 'deployments'), { responseKind: { group: 'apps', version: 'v1', kind: 'Deployment' }, scope: 'Namespaced', shortNames: ['deploy'] });
    const core = (await (await fetch(`${e.url}/api`, { headers: { ...auth, Accept: aggAccept } })).json()) as J;
    t.like(core.items[0].versions[0].resources.find((r: J) => r.resource === 'nodes'), { scope: 'Cluster', responseKind: { kind: 'Node' } });
    t.is((await call(e, 'GET', '/api', undefined, { Accept: 'application/json' })).body.kind, 'APIVersions', 'plain JSON still gets the legacy document');
    t.like((await call(e, 'GET', '/version')).body, { major: '1', minor: '32' });
    t.is((await call(e, 'GET', '/healthz')).text, 'ok');
    const ns = await call(e, 'GET', '/api/v1/namespaces');
    t.deepEqual(ns.body.items.map((n: J) => n.metadata.name).sort(), ['default', 'kube-node-lease', 'kube-public', 'kube-system']);
    t.is(ns.body.items[0].status.phase, 'Active');
    // No credentials, or wrong ones: 401 Status.
    const anon = await fetch(`${e.url}/api/v1/namespaces`);
    t.is(anon.status, 401);
    t.like(await anon.json(), { kind: 'Status', reason: 'Unauthorized', code: 401 });
    t.is((await fetch(`${e.url}/api`, { headers: { Authorization: 'Bearer wrong' } })).status, 401);
  } finally {
    await stop(e);
  }
});

test('create, get, update with optimistic concurrency, and their errors', async (t) => {
  const e = await start();
  try {
    const created = await call(e, 'POST', '/api/v1/namespaces/default/configmaps', cm('c1', { a: '1' }));
    t.is(created.status, 201);
    const m = created.body.metadata;
    t.regex(m.uid, /^[0-9a-f-]{36}$/);
    t.regex(m.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    t.is(m.namespace, 'default');
    t.regex(m.resourceVersion, /^\d+$/);
    t.is(m.generation, undefined);
    const got = await call(e, 'GET', '/api/v1/namespaces/default/configmaps/c1');
    t.deepEqual(got.body, created.body);

    const again = await call(e, 'POST', '/api/v1/namespaces/default/configmaps', cm('c1'));
    t.is(again.status, 409);
    t.like(again.body, { kind: 'Status', status: 'Failure', reason: 'AlreadyExists', code: 409, message: 'configmaps "c1" already exists', details: { name: 'c1', kind: 'configmaps' } });
    const noNs = await call(e, 'POST', '/api/v1/namespaces/nope/configmaps', cm('c1'));
    t.like(noNs.body, { reason: 'NotFound', code: 404, message: 'namespaces "nope" not found' });

    // Update at the current version wins; at a stale one conflicts.
    const upd = await call(e, 'PUT', '/api/v1/namespaces/default/configmaps/c1', { ...got.body, data: { a: '2' } });
    t.is(upd.status, 200);
    t.is(upd.body.data.a, '2');
    t.true(Number(upd.body.metadata.resourceVersion) > Number(m.resourceVersion));
    t.is(upd.body.metadata.uid, m.uid);
    const stale = await call(e, 'PUT', '/api/v1/namespaces/default/configmaps/c1', { ...got.body, data: { a: '3' } });
    t.is(stale.status, 409);
    t.is(stale.body.reason, 'Conflict');
    t.is(stale.body.message, 'Operation cannot be fulfilled on configmaps "c1": the object has been modified; please apply your changes to the latest version and try again');
    // Without a resourceVersion, an update is unconditional.
    const { resourceVersion: _rv, ...noRv } = got.body.metadata;
    const blind = await call(e, 'PUT', '/api/v1/namespaces/default/configmaps/c1', { ...got.body, metadata: noRv, data: { a: '4' } });
    t.is(blind.status, 200);
    // An update that changes nothing is not written.
    const same = await call(e, 'PUT', '/api/v1/namespaces/default/configmaps/c1', blind.body);
    t.is(same.body.metadata.resourceVersion, blind.body.metadata.resourceVersion);
    t.is((await call(e, 'PUT', '/api/v1/namespaces/default/configmaps/missing', cm('missing'))).status, 404);
    t.is((await call(e, 'PUT', '/api/v1/namespaces/default/configmaps/c1', cm('other'))).status, 400);

    // generateName.
    const gen = await call(e, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'gen-' } });
    t.regex(gen.body.metadata.name, /^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);

    // Bad input: every error a Status, nothing stored.
    const malformed = await call(e, 'POST', '/api/v1/namespaces/default/configmaps', '{"apiVersion": "v1", ');
    t.like(malformed.body, { kind: 'Status', reason: 'BadRequest', code: 400 });
    const badName = await call(e, 'POST', '/api/v1/namespaces/default/configmaps', cm('Bad_Name'));
    t.is(badName.status, 422);
    t.is(badName.body.reason, 'Invalid');
    t.is(badName.body.details.causes[0].field, 'metadata.name');
    t.regex(badName.body.message, /^ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"/);
    const wrongKind = await call(e, 'POST', '/api/v1/namespaces/default/configmaps', { ...cm('x'), kind: 'Secret' });
    t.is(wrongKind.status, 400);
    const big = await call(e, 'POST', '/api/v1/namespaces/default/configmaps', cm('big', { x: 'y'.repeat(100 * 1024) }));
    t.like(big.body, { reason: 'RequestEntityTooLarge', code: 413 });
    t.is((await call(e, 'GET', '/api/v1/namespaces/default/widgets')).status, 404);
    t.is((await call(e, 'GET', '/api/v1/namespaces/default/configmaps/Bad_Name')).status, 404);
    t.is((await call(e, 'GET', '/api/v1/namespaces/default/configmaps/big')).status, 404);
    const yaml = await call(e, 'POST', '/api/v1/namespaces/default/configmaps', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  k: v\n', { 'Content-Type': 'application/yaml' });
    t.is(yaml.status, 201);
    t.is(yaml.body.data.k, 'v');
    const badYaml = await call(e, 'POST', '/api/v1/namespaces/default/configmaps', 'a: [b\n', { 'Content-Type': 'application/yaml' });
    t.is(badYaml.status, 400);
    t.is((await call(e, 'POST', '/api/v1/namespaces/default/configmaps', 'x', { 'Content-Type': 'application/x-foo' })).status, 415);
  } finally {
    await stop(e);
  }
});

test('workloads: generation moves on spec changes only; status and scale subresources; three patch types', async (t) => {
  const e = await start();
  try {
    const base = '/apis/apps/v1/namespaces/default/deployments';
    const d = await call(e, 'POST', base, { ...deployment('web'), status: { replicas: 99 } });
    t.is(d.status, 201);
    t.is(d.body.metadata.generation, 1);
    t.deepEqual(d.body.status, {}, 'status is cleared on create');
    // Labels are metadata: no generation bump.
    const lab = await call(e, 'PATCH', `${base}/web`, { metadata: { labels: { tier: 'front' } } }, { 'Content-Type': 'application/merge-patch+json' });
    t.is(lab.status, 200);
    t.is(lab.body.metadata.generation, 1);
    t.is(lab.body.metadata.labels.tier, 'front');
    // Status through the main resource is ignored; through /status only status moves.
    const ign = await call(e, 'PATCH', `${base}/web`, { status: { replicas: 5 } }, { 'Content-Type': 'application/merge-patch+json' });
    t.deepEqual(ign.body.status, {});
    const st = await call(e, 'PATCH', `${base}/web/status`, { status: { replicas: 2, observedGeneration: 1 }, spec: { replicas: 7 } }, { 'Content-Type': 'application/merge-patch+json' });
    t.is(st.body.status.replicas, 2);
    t.is(st.body.spec.replicas, 2);
    t.is(st.body.metadata.generation, 1);
    // A strategic merge patch as kubectl apply sends it: one container's image by name.
    const smp = {
      spec: { template: { spec: { $setElementOrder: undefined, containers: [{ name: 'web', image: 'busybox:2' }] } } },
    };
    const patched = await call(e, 'PATCH', `${base}/web`, smp, { 'Content-Type': 'application/strategic-merge-patch+json' });
    t.is(patched.status, 200, patched.text);
    const cs = patched.body.spec.template.spec.containers;
    t.deepEqual(cs.map((c: J) => [c.name, c.image]), [['web', 'busybox:2'], ['side', 'busybox:1']]);
    t.deepEqual(cs[0].ports, [{ containerPort: 80, protocol: 'TCP' }], 'merged by name, with the defaulted protocol');
    t.is(patched.body.metadata.generation, 2);
    // JSON patch, with a failing test op: 422, nothing changed.
    const jp = await call(e, 'PATCH', `${base}/web`, [{ op: 'test', path: '/spec/replicas', value: 9 }, { op: 'replace', path: '/spec/replicas', value: 1 }], { 'Content-Type': 'application/json-patch+json' });
    t.is(jp.status, 422);
    const jp2 = await call(e, 'PATCH', `${base}/web`, [{ op: 'replace', path: '/spec/replicas', value: 1 }], { 'Content-Type': 'application/json-patch+json' });
    t.is(jp2.body.spec.replicas, 1);
    t.is(jp2.body.metadata.generation, 3);
    // Scale.
    const sc = await call(e, 'GET', `${base}/web/scale`);
    t.like(sc.body, { kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 1 }, status: { replicas: 2, selector: 'app=web' } });
    const sc2 = await call(e, 'PATCH', `${base}/web/scale`, { spec: { replicas: 4 } }, { 'Content-Type': 'application/merge-patch+json' });
    t.is(sc2.body.spec.replicas, 4);
    t.is((await call(e, 'GET', `${base}/web`)).body.spec.replicas, 4);
    const bad = await call(e, 'PATCH', `${base}/web/scale`, { spec: { replicas: -1 } }, { 'Content-Type': 'application/merge-patch+json' });
    t.is(bad.status, 422);
    // A patch with a stale resourceVersion conflicts.
    const stale = await call(e, 'PATCH', `${base}/web`, { metadata: { resourceVersion: '1' }, spec: { replicas: 3 } }, { 'Content-Type': 'application/merge-patch+json' });
    t.is(stale.status, 409);
    t.is((await call(e, 'PATCH', `${base}/web`, { spec: {} }, { 'Content-Type': 'text/plain' })).status, 415);
  } finally {
    await stop(e);
  }
});

test('list: selectors, pagination at one revision, Table; deletecollection', async (t) => {
  const e = await start();
  try {
    const base = '/api/v1/namespaces/default/configmaps';
    for (let i = 0; i < 25; i++) await call(e, 'POST', base, cm(`m${String(i).padStart(2, '0')}`, {}, { parity: i % 2 ? 'odd' : 'even', i: String(i) }));
    const all = await call(e, 'GET', base);
    t.is(all.body.kind, 'ConfigMapList');
    t.is(all.body.items.length, 25);
    const odd = await call(e, 'GET', `${base}?labelSelector=${encodeURIComponent('parity=odd')}`);
    t.is(odd.body.items.length, 12);
    const set = await call(e, 'GET', `${base}?labelSelector=${encodeURIComponent('i in (1,2,3),parity!=odd')}`);
    t.deepEqual(set.body.items.map((x: J) => x.metadata.name), ['m02']);
    const byName = await call(e, 'GET', `${base}?fieldSelector=metadata.name%3Dm07`);
    t.deepEqual(byName.body.items.map((x: J) => x.metadata.name), ['m07']);
    t.is((await call(e, 'GET', `${base}?labelSelector=a%20in%20(`)).status, 400);
    t.is((await call(e, 'GET', `${base}?fieldSelector=spec.nope%3Dx`)).status, 400);
    // Pages of 10, all at the first page's revision even while writes go on.
    const p1 = await call(e, 'GET', `${base}?limit=10`);
    t.is(p1.body.items.length, 10);
    t.is(p1.body.metadata.remainingItemCount, 15);
    await call(e, 'POST', base, cm('m99'));
    await call(e, 'DELETE', `${base}/m20`);
    const p2 = await call(e, 'GET', `${base}?limit=10&continue=${encodeURIComponent(p1.body.metadata.continue)}`);
    const p3 = await call(e, 'GET', `${base}?limit=10&continue=${encodeURIComponent(p2.body.metadata.continue)}`);
    t.is(p3.body.metadata.continue, undefined);
    const names = [...p1.body.items, ...p2.body.items, ...p3.body.items].map((x: J) => x.metadata.name);
    t.deepEqual(names, all.body.items.map((x: J) => x.metadata.name));
    t.is(p2.body.metadata.resourceVersion, p1.body.metadata.resourceVersion);
    t.is((await call(e, 'GET', `${base}?limit=10&continue=garbage`)).status, 400);
    // Across namespaces.
    t.is((await call(e, 'GET', '/api/v1/configmaps')).body.items.length, 25);
    // Table, as kubectl asks for it.
    const table = await call(e, 'GET', `${base}?limit=2`, undefined, { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json' });
    t.is(table.body.kind, 'Table');
    t.deepEqual(table.body.columnDefinitions.map((c: J) => c.name), ['Name', 'Data', 'Age']);
    t.is(table.body.rows.length, 2);
    t.like(table.body.rows[0], { cells: ['m00', 0], object: { kind: 'PartialObjectMetadata', metadata: { name: 'm00' } } });
    t.regex(table.body.rows[0].cells[2], /^\d+s$/, 'the age column');
    t.truthy(table.body.metadata.continue);
    t.is((await call(e, 'GET', base, undefined, { Accept: 'application/vnd.kubernetes.protobuf' })).status, 406);
    // deletecollection with a selector.
    const dc = await call(e, 'DELETE', `${base}?labelSelector=parity%3Deven`);
    t.is(dc.status, 200);
    t.is((await call(e, 'GET', base)).body.items.length, 13, '25 - m20 + m99, less the 12 even ones left');
  } finally {
    await stop(e);
  }
});

async function readEvents(e: Env, path: string, count: number, timeoutMs = 5000): Promise<J[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const events: J[] = [];
  try {
    const r = await fetch(e.url + path, { headers: auth, signal: ac.signal });
    const reader = r.body!.getReader();
    let buf = '';
    while (events.length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += new TextDecoder().decode(value);
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        events.push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
    }
    ac.abort();
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
  }
  return events;
}

test('watch: from a revision, from now with initial ADDED events, selector transitions, bookmarks', async (t) => {
  const e = await start();
  try {
    const base = '/api/v1/namespaces/default/configmaps';
    const c1 = await call(e, 'POST', base, cm('w1', {}, { team: 'a' }));
    const rv = c1.body.metadata.resourceVersion;
    await call(e, 'PATCH', `${base}/w1`, { data: { x: '1' } }, { 'Content-Type': 'application/merge-patch+json' });
    await call(e, 'PATCH', `${base}/w1`, { metadata: { labels: { team: 'b' } } }, { 'Content-Type': 'application/merge-patch+json' });
    await call(e, 'PATCH', `${base}/w1`, { metadata: { labels: { team: 'a' } } }, { 'Content-Type': 'application/merge-patch+json' });
    await call(e, 'DELETE', `${base}/w1`);
    const evs = await readEvents(e, `${base}?watch=1&resourceVersion=${rv}`, 4);
    t.deepEqual(evs.map((x) => x.type), ['MODIFIED', 'MODIFIED', 'MODIFIED', 'DELETED']);
    const sel = await readEvents(e, `${base}?watch=1&resourceVersion=${rv}&labelSelector=team%3Da`, 4);
    t.deepEqual(sel.map((x) => [x.type, x.object.metadata.labels.team]), [['MODIFIED', 'a'], ['DELETED', 'a'], ['ADDED', 'a'], ['DELETED', 'a']]);
    const rvs = evs.map((x) => Number(x.object.metadata.resourceVersion));
    t.deepEqual(rvs, [...rvs].sort((a, b) => a - b));
    // From now: the current objects first, then changes.
    await call(e, 'POST', base, cm('w2'));
    const live = readEvents(e, `${base}?watch=true`, 2);
    await new Promise((r) => setTimeout(r, 300));
    await call(e, 'POST', base, cm('w3'));
    t.deepEqual((await live).map((x) => [x.type, x.object.metadata.name]), [['ADDED', 'w2'], ['ADDED', 'w3']]);
    // Bookmarks when asked for.
    const bm = await readEvents(e, `${base}?watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`, 7, 3000);
    const b = bm.find((x) => x.type === 'BOOKMARK');
    t.truthy(b, JSON.stringify(bm.map((x) => x.type)));
    t.like(b.object, { kind: 'ConfigMap', apiVersion: 'v1' });
    t.regex(b.object.metadata.resourceVersion, /^\d+$/);
    // Table watch (kubectl get -w).
    const tw = readEvents(e, `${base}?watch=1&resourceVersion=${(await call(e, 'GET', base)).body.metadata.resourceVersion}`, 1);
    await new Promise((r) => setTimeout(r, 200));
    await call(e, 'POST', base, cm('w4'));
    t.is((await tw)[0].object.metadata.name, 'w4');
    t.is((await call(e, 'GET', `${base}?watch=1&resourceVersion=abc`)).status, 400);
  } finally {
    await stop(e);
  }
});

test('delete: finalizers defer it, removing the last one completes it; preconditions; namespaces terminate', async (t) => {
  const e = await start();
  try {
    const base = '/api/v1/namespaces/default/configmaps';
    await call(e, 'POST', base, { ...cm('f1'), metadata: { name: 'f1', finalizers: ['example.com/keep'] } });
    const d = await call(e, 'DELETE', `${base}/f1`);
    t.is(d.status, 202);
    t.truthy(d.body.metadata.deletionTimestamp);
    t.is((await call(e, 'GET', `${base}/f1`)).status, 200);
    const rm = await call(e, 'PATCH', `${base}/f1`, { metadata: { finalizers: null } }, { 'Content-Type': 'application/merge-patch+json' });
    t.is(rm.status, 200);
    t.is((await call(e, 'GET', `${base}/f1`)).status, 404);
    await call(e, 'POST', base, cm('p1'));
    const pre = await call(e, 'DELETE', `${base}/p1`, { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: 'not-it' } });
    t.is(pre.status, 409);
    t.is((await call(e, 'DELETE', `${base}/p1`)).status, 200);
    t.is((await call(e, 'DELETE', `${base}/p1`)).status, 404);
    // Orphan propagation: the garbage collector's finalizer is added.
    await call(e, 'POST', '/apis/apps/v1/namespaces/default/deployments', deployment('o1'));
    const orphan = await call(e, 'DELETE', '/apis/apps/v1/namespaces/default/deployments/o1?propagationPolicy=Orphan');
    t.is(orphan.status, 202);
    t.deepEqual(orphan.body.metadata.finalizers, ['orphan']);
    // A namespace being deleted takes no new objects.
    await call(e, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gone' } });
    const nsDel = await call(e, 'DELETE', '/api/v1/namespaces/gone');
    t.is(nsDel.body.status.phase, 'Terminating');
    const refused = await call(e, 'POST', '/api/v1/namespaces/gone/configmaps', cm('x'));
    t.is(refused.status, 403);
    t.is(refused.body.message, 'configmaps "x" is forbidden: unable to create new content in namespace gone because it is being terminated');
  } finally {
    await stop(e);
  }
});

test('pods: binding assigns a node once; a bound pod is deleted gracefully', async (t) => {
  const e = await start();
  try {
    const base = '/api/v1/namespaces/default/pods';
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
    t.is((await call(e, 'POST', base, pod)).status, 201);
    const b = await call(e, 'POST', `${base}/p/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'p' }, target: { kind: 'Node', name: 'n1' } });
    t.is(b.status, 201);
    const p = (await call(e, 'GET', `${base}/p`)).body;
    t.is(p.spec.nodeName, 'n1');
    t.like(p.status.conditions.find((c: J) => c.type === 'PodScheduled'), { status: 'True' });
    const again = await call(e, 'POST', `${base}/p/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'p' }, target: { kind: 'Node', name: 'n2' } });
    t.is(again.status, 409);
    const del = await call(e, 'DELETE', `${base}/p`);
    t.is(del.status, 202);
    t.is(del.body.metadata.deletionGracePeriodSeconds, 30);
    const force = await call(e, 'DELETE', `${base}/p?gracePeriodSeconds=0`);
    t.is(force.status, 200);
    t.is((await call(e, 'GET', `${base}/p`)).status, 404);
  } finally {
    await stop(e);
  }
});

test('three masters: the API on a follower, and on the survivors after the leader stops', async (t) => {
  const cluster = new StoreTestCluster(['a', 'b', 'c']);
  const apis = new Map<string, ApiServer>();
  try {
    await cluster.startAll();
    await cluster.waitFor(() => cluster.leader() !== undefined, 'a leader');
    for (const [name, store] of cluster.servers) {
      const api = new ApiServer({
        kv: store, host: '127.0.0.1', port: 0, tls: null, tokens: new Map([['admin-token', { name: 'admin', uid: '1', groups: [] }]]),
        allowAnonymous: false, maxBodyBytes: 1 << 20, bookmarkIntervalMs: 60_000, notReady: () => null, logger: pino({ level: 'silent' }),
      });
      await api.start();
      apis.set(name, api);
    }
    const env = (name: string): Env => ({ url: `http://127.0.0.1:${apis.get(name)!.port}`, api: apis.get(name)!, cluster });
    const leader = cluster.leader()!.name;
    const followers = [...cluster.servers.keys()].filter((n) => n !== leader);
    const base = '/api/v1/namespaces/default/configmaps';
    // The namespaces come from whichever master bootstraps first; wait for default.
    for (let i = 0; i < 100 && (await call(env(followers[0]!), 'GET', '/api/v1/namespaces/default')).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
    t.is((await call(env(followers[0]!), 'POST', base, cm('f1', { k: '1' }))).status, 201);
    t.is((await call(env(leader), 'GET', `${base}/f1`)).body.data.k, '1', 'a write through a follower is read through the leader');

    // The leader's store goes away: the other masters elect a new one and serve again.
    await apis.get(leader)!.close();
    apis.delete(leader);
    await cluster.stop(leader);
    const t0 = Date.now();
    let status = 0;
    while (Date.now() - t0 < 10_000) {
      status = (await call(env(followers[1]!), 'POST', base, cm(`after-${Date.now()}`))).status;
      if (status === 201) break;
      t.true(status === 503 || status === 504 || status === 500, `while there is no leader: ${status}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    t.is(status, 201);
    t.log(`first write after the leader stopped: ${Date.now() - t0} ms`);
    t.is((await call(env(followers[0]!), 'GET', `${base}/f1`)).body.data.k, '1', 'nothing acknowledged was lost');
  } finally {
    for (const a of apis.values()) await a.close();
    await cluster.close();
  }
});

test('watch cache: a LIST right after any write sees it, and equals the store read at the same revision (seeded)', async (t) => {
  const cluster = new StoreTestCluster(['a', 'b', 'c']);
  const apis: ApiServer[] = [];
  try {
    await cluster.startAll();
    await cluster.waitFor(() => cluster.leader() !== undefined, 'a leader');
    for (const store of cluster.servers.values()) {
      const api = new ApiServer({
        kv: store, host: '127.0.0.1', port: 0, tls: null, tokens: new Map([['admin-token', { name: 'admin', uid: '1', groups: [] }]]),
        allowAnonymous: false, maxBodyBytes: 1 << 20, bookmarkIntervalMs: 60_000, notReady: () => null, logger: pino({ level: 'silent' }),
      });
      await api.start();
      apis.push(api);
    }
    const envs: Env[] = apis.map((api) => ({ url: `http://127.0.0.1:${api.port}`, api, cluster }));
    for (let i = 0; i < 100 && (await call(envs[0]!, 'GET', '/api/v1/namespaces/default')).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
    const seed = Number(process.env.SKIFF_SEED ?? 20261123);
    t.log(`seed ${seed}`);
    let x = seed;
    const rnd = (n: number) => ((x = (x * 1103515245 + 12345) % 2 ** 31), x % n);
    let e = envs[0]!;
    for (const ns of ['n1', 'n2']) await call(e, 'POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const live = new Map<string, number>();
    for (let step = 0; step < 120; step++) {
      const ns = ['default', 'n1', 'n2'][rnd(3)]!;
      const name = `c${rnd(12)}`;
      const base = `/api/v1/namespaces/${ns}/configmaps`;
      const key = `${ns}/${name}`;
      const op = rnd(3);
      e = envs[rnd(3)]!; // writes and reads through any master: a LIST must see a write made through another
      if (op === 0 && !live.has(key)) {
        t.is((await call(e, 'POST', base, cm(name, { v: String(step) }, { step: String(step % 3) }))).status, 201);
        live.set(key, step);
      } else if (op === 1 && live.has(key)) {
        t.is((await call(e, 'PATCH', `${base}/${name}`, { data: { v: String(step) } }, { 'Content-Type': 'application/merge-patch+json' })).status, 200);
        live.set(key, step);
      } else if (live.has(key)) {
        t.is((await call(e, 'DELETE', `${base}/${name}`)).status, 200);
        live.delete(key);
      }
      const scope = rnd(2) === 0 ? '/api/v1/configmaps' : `/api/v1/namespaces/${ns}/configmaps`;
      const sel = rnd(2) === 0 ? '' : `labelSelector=step%3D${rnd(3)}`;
      e = envs[rnd(3)]!;
      const cached = (await call(e, 'GET', `${scope}?${sel}`)).body;
      const stored = (await call(e, 'GET', `${scope}?${sel}&resourceVersion=${cached.metadata.resourceVersion}&resourceVersionMatch=Exact`)).body;
      t.deepEqual(cached.items, stored.items, `step ${step}: ${scope}?${sel}`);
      const own = cached.items.filter((o: J) => `${o.metadata.namespace}/${o.metadata.name}` === key);
      if (scope.includes(ns) || scope === '/api/v1/configmaps') {
        if (!sel && live.has(key)) t.is(own[0]?.data.v, String(live.get(key)), `step ${step}: the write just made is listed`);
        if (!live.has(key)) t.is(own.length, 0);
      }
    }
  } finally {
    for (const a of apis) await a.close();
    await cluster.close();
  }
});

test('field validation: unknown fields are refused (Strict), reported (Warn, the default) or dropped (Ignore); never stored', async (t) => {
  const e = await start();
  try {
    const base = '/apis/apps/v1/namespaces/default/deployments';
    const typo = { ...deployment('typo'), spec: { ...deployment('typo').spec, replicaz: 3 } };
    typo.spec.template.spec.containers[0] = { ...typo.spec.template.spec.containers[0], imagePullPolcy: 'Always' } as never;
    const strict = await call(e, 'POST', `${base}?fieldValidation=Strict`, typo);
    t.is(strict.status, 400);
    // In the order the body has them.
    t.is(strict.body.message, 'strict decoding error: unknown field "spec.template.spec.containers[0].imagePullPolcy", unknown field "spec.replicaz"');
    t.is((await call(e, 'GET', `${base}/typo`)).status, 404, 'nothing stored from a refused request');
    const r = await fetch(`${e.url}${base}`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify(typo) });
    t.is(r.status, 201);
    t.is(r.headers.get('warning'), '299 - "unknown field \\"spec.template.spec.containers[0].imagePullPolcy\\"", 299 - "unknown field \\"spec.replicaz\\""');
    const stored = (await call(e, 'GET', `${base}/typo`)).body;
    t.false('replicaz' in stored.spec);
    t.false('imagePullPolcy' in stored.spec.template.spec.containers[0]);
    const ignored = await fetch(`${e.url}${base}?fieldValidation=Ignore`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify({ ...typo, metadata: { name: 'typo2' } }) });
    t.is(ignored.status, 201);
    t.is(ignored.headers.get('warning'), null);
    const patch = await call(e, 'PATCH', `${base}/typo?fieldValidation=Strict`, { spec: { paused: true, pausd: true } }, { 'Content-Type': 'application/merge-patch+json' });
    t.is(patch.status, 400);
    t.regex(patch.body.message, /unknown field "spec.pausd"/);
    t.is((await call(e, 'POST', `${base}?fieldValidation=Loose`, deployment('x'))).status, 400);
    // Known fields everywhere, maps of messages, inlined volume sources: nothing reported.
    const pod = {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'full', labels: { a: 'b' }, annotations: { x: 'y' } },
      spec: {
        containers: [{ name: 'c', image: 'i', resources: { limits: { cpu: '1' } }, env: [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }], readinessProbe: { httpGet: { port: 80, path: '/' } } }],
        volumes: [{ name: 'v', emptyDir: {} }, { name: 'h', hostPath: { path: '/tmp' } }],
        affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'k', operator: 'In', values: ['v'] }] }] } } },
      },
    };
    t.is((await call(e, 'POST', '/api/v1/namespaces/default/pods?fieldValidation=Strict', pod)).status, 201);
  } finally {
    await stop(e);
  }
});

test('update rules per kind: RBAC names with colons; a Service keeps its cluster IP and drops node ports with its type; a Pod keeps its QoS class', async (t) => {
  const e = await start();
  try {
    const cr = await call(e, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'system:aggregate-to-view' }, rules: [] });
    t.is(cr.status, 201, cr.text);
    const bad = await call(e, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'a%b' }, rules: [] });
    t.is(bad.status, 422);

    const base = '/api/v1/namespaces/default/services';
    const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { type: 'NodePort', clusterIP: '10.96.0.10', selector: { a: 'b' }, ports: [{ port: 80, nodePort: 30080 }] } };
    const created = await call(e, 'POST', base, svc);
    t.is(created.status, 201, created.text);
    const { clusterIP: _ip, clusterIPs: _ips, ...specNoIp } = created.body.spec;
    const put = await call(e, 'PUT', `${base}/s`, { ...created.body, spec: { ...specNoIp, type: 'ClusterIP' } });
    t.is(put.status, 200, put.text);
    t.is(put.body.spec.clusterIP, '10.96.0.10', 'the cluster IP is kept');
    t.is(put.body.spec.ports[0].nodePort, undefined, 'the node port went with the NodePort type');

    const pod = await call(e, 'POST', '/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'q' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
    t.is(pod.body.status.qosClass, 'BestEffort');
    const st = await call(e, 'PUT', '/api/v1/namespaces/default/pods/q/status', { ...pod.body, status: { phase: 'Running' } });
    t.is(st.status, 200, st.text);
    t.like(st.body.status, { phase: 'Running', qosClass: 'BestEffort' });
  } finally {
    await stop(e);
  }
});

test('metrics: requests by verb, resource and code; latency histograms; watchers', async (t) => {
  const { Registry } = await import('../src/util/metrics.js');
  const cluster = new StoreTestCluster(['a']);
  const metrics = new Registry();
  await cluster.startAll();
  await cluster.waitFor(() => cluster.leader() !== undefined, 'a leader');
  const api = new ApiServer({
    kv: cluster.leader()!, host: '127.0.0.1', port: 0, tls: null, tokens: new Map([['admin-token', { name: 'admin', uid: '1', groups: [] }]]),
    allowAnonymous: false, maxBodyBytes: 1 << 20, bookmarkIntervalMs: 60_000, notReady: () => null, logger: pino({ level: 'silent' }), metrics,
  });
  await api.start();
  const e: Env = { url: `http://127.0.0.1:${api.port}`, api, cluster };
  try {
    for (let i = 0; i < 100 && (await call(e, 'GET', '/api/v1/namespaces/default')).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
    await call(e, 'POST', '/api/v1/namespaces/default/configmaps', cm('m1'));
    await call(e, 'POST', '/api/v1/namespaces/default/configmaps', cm('m1'));
    await call(e, 'GET', '/api/v1/namespaces/default/configmaps');
    await fetch(`${e.url}/api`);
    const text = metrics.render();
    t.regex(text, /^apiserver_request_total\{verb="POST",resource="configmaps",code="201"\} 1$/m);
    t.regex(text, /^apiserver_request_total\{verb="POST",resource="configmaps",code="409"\} 1$/m);
    t.regex(text, /^apiserver_request_total\{verb="LIST",resource="configmaps",code="200"\} 1$/m);
    t.regex(text, /^apiserver_request_total\{verb="GET",resource="",code="401"\} 1$/m);
    t.regex(text, /^apiserver_request_duration_seconds_count\{verb="POST",resource="configmaps"\} 2$/m);
    t.is(text.match(/^# TYPE apiserver_request_total counter$/gm)?.length, 1, 'one family header');
    t.regex(text, /^apiserver_registered_watchers 0$/m);
  } finally {
    await api.close();
    await cluster.close();
  }
});

test('limits: requests in flight per pool; past one, 429 with Retry-After, and a freed slot serves again', async (t) => {
  const cluster = new StoreTestCluster(['a']);
  await cluster.startAll();
  await cluster.waitFor(() => cluster.leader() !== undefined, 'a leader');
  const api = new ApiServer({
    kv: cluster.leader()!, host: '127.0.0.1', port: 0, tls: null, tokens: new Map([['admin-token', { name: 'admin', uid: '1', groups: [] }]]),
    allowAnonymous: false, maxBodyBytes: 1 << 20, bookmarkIntervalMs: 60_000, notReady: () => null, logger: pino({ level: 'silent' }),
    inflight: { readonly: 100, mutating: 100, watch: 2 },
  });
  await api.start();
  const url = `http://127.0.0.1:${api.port}/api/v1/namespaces/default/configmaps?watch=1`;
  const acs = [new AbortController(), new AbortController()];
  try {
    // Held: fetch cancels the body of a response that is garbage collected, which would free its slot.
    const held: Response[] = [];
    for (const ac of acs) held.push(await fetch(url, { headers: auth, signal: ac.signal }));
    t.deepEqual(held.map((r) => r.status), [200, 200]);
    const third = await fetch(url, { headers: auth });
    t.is(third.status, 429);
    t.is(third.headers.get('retry-after'), '1');
    t.like(await third.json(), { reason: 'TooManyRequests', code: 429 });
    t.is((await fetch(`http://127.0.0.1:${api.port}/api/v1/namespaces`, { headers: auth })).status, 200, 'other pools are not affected');
    acs[0]!.abort();
    let status = 0;
    // The slot frees when the server sees the connection close: on a loaded machine that takes a while.
    for (let i = 0; i < 250 && status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 20));
      acs[0] = new AbortController();
      const r = await fetch(url, { headers: auth, signal: acs[0].signal });
      status = r.status;
      if (status !== 200) await r.body?.cancel();
    }
    t.is(status, 200, 'a freed slot serves again');
    t.is(held.length, 2);
  } finally {
    for (const ac of acs) ac.abort();
    await api.close();
    await cluster.close();
  }
});

test('events expire after their TTL (a store lease shared by a window of writes); other kinds do not', async (t) => {
  const cluster = new StoreTestCluster(['a']);
  await cluster.startAll();
  await cluster.waitFor(() => cluster.leader() !== undefined, 'a leader');
  const api = new ApiServer({
    kv: cluster.leader()!, host: '127.0.0.1', port: 0, tls: null, tokens: new Map([['admin-token', { name: 'admin', uid: '1', groups: [] }]]),
    allowAnonymous: false, maxBodyBytes: 1 << 20, bookmarkIntervalMs: 60_000, notReady: () => null, logger: pino({ level: 'silent' }), eventTtlSeconds: 1,
  });
  await api.start();
  const e: Env = { url: `http://127.0.0.1:${api.port}`, api, cluster };
  try {
    for (let i = 0; i < 100 && (await call(e, 'GET', '/api/v1/namespaces/default')).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
    const ev = (name: string) => ({ apiVersion: 'v1', kind: 'Event', metadata: { name }, involvedObject: { kind: 'Pod', name: 'p', namespace: 'default' }, reason: 'Tested', message: 'hello', type: 'Normal' });
    t.is((await call(e, 'POST', '/api/v1/namespaces/default/events', ev('e1'))).status, 201);
    t.is((await call(e, 'POST', '/api/v1/namespaces/default/events', ev('e2'))).status, 201);
    await call(e, 'POST', '/api/v1/namespaces/default/configmaps', cm('stays'));
    t.is((await cluster.leader()!.leases()).length, 1, 'one lease for the window');
    let left = 2;
    for (let i = 0; i < 60 && left > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = (await call(e, 'GET', '/api/v1/namespaces/default/events')).body.items.length;
    }
    t.is(left, 0, 'the events expired');
    t.is((await call(e, 'GET', '/api/v1/namespaces/default/configmaps/stays')).status, 200);
  } finally {
    await api.close();
    await cluster.close();
  }
});
