/**
 * The node side's API client and informer: failover between masters for
 * requests and watches, informers that follow a collection through a
 * master's loss, and a relist after 410 Gone that tells handlers what they
 * missed.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { ApiClient, Informer, type InformerEventType, type Json, isKubeApiError } from '../src/node/api/index.js';
import { type ControlCluster, startControlCluster } from './helpers/control-cluster.js';

/** A port nothing listens on: a server that was bound, then closed. */
async function deadPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function pod(name: string): Json {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { schedulerName: 'none', containers: [{ name: 'c', image: 'busybox' }] } };
}

async function eventually(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let cluster: ControlCluster;
test.before(async () => {
  cluster = await startControlCluster({ controllers: () => [] });
});
test.after.always(async () => {
  await cluster?.close();
});

function urlOf(member: string): string {
  return `http://127.0.0.1:${cluster.apis.get(member)!.port}`;
}

test.serial('requests fail over from an unreachable master to the next, reads and writes alike', async (t) => {
  const dead = `http://127.0.0.1:${await deadPort()}`;
  const c = new ApiClient({ baseUrl: [dead, urlOf('a')], token: 't' });
  try {
    t.is(c.server, dead);
    const ns = await c.get('/api/v1/namespaces/default');
    t.is(ns.metadata.name, 'default');
    t.is(c.server, urlOf('a'), 'the client stays on the master that answered');
    const created = await c.post('/api/v1/namespaces/default/pods', pod('failover-1'));
    t.is(created.metadata.name, 'failover-1');
    // An answer is final: a 404 is not retried elsewhere.
    const e = await t.throwsAsync(c.get('/api/v1/namespaces/default/pods/absent'));
    t.true(isKubeApiError(e, 404));
    t.is((e as unknown as { reason: string }).reason, 'NotFound');
  } finally {
    c.close();
  }
});

test.serial('with every master unreachable a request fails with a transport error after bounded tries', async (t) => {
  const c = new ApiClient({ baseUrl: [`http://127.0.0.1:${await deadPort()}`, `http://127.0.0.1:${await deadPort()}`], token: 't' });
  try {
    const e = await t.throwsAsync(c.get('/api/v1/namespaces'));
    t.true(isKubeApiError(e, 0));
    t.is((e as unknown as { reason: string }).reason, 'Unreachable');
  } finally {
    c.close();
  }
});

test.serial('an informer lists, then follows ADDED, MODIFIED and DELETED in order; late handlers get what is held', async (t) => {
  await cluster.call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'inf' } });
  await cluster.call('POST', '/api/v1/namespaces/inf/pods', pod('before'));
  const c = new ApiClient({ baseUrl: urlOf('b'), token: 't' });
  const inf = new Informer(c, { path: '/api/v1/namespaces/inf/pods', pageSize: 1 });
  const seen: string[] = [];
  inf.onChange((type: InformerEventType, obj, old) => seen.push(`${type} ${obj.metadata.name}${old ? ` (was ${old.metadata.resourceVersion})` : ''}`));
  try {
    inf.start();
    await inf.synced;
    t.deepEqual(seen, ['ADDED before']);
    t.is(inf.get('inf/before')?.kind, 'Pod', 'listed items get their kind');
    await cluster.call('POST', '/api/v1/namespaces/inf/pods', pod('after'));
    await cluster.call('PATCH', '/api/v1/namespaces/inf/pods/after', { metadata: { labels: { x: 'y' } } });
    await cluster.call('DELETE', '/api/v1/namespaces/inf/pods/before?gracePeriodSeconds=0');
    await eventually('three events', () => seen.length >= 4);
    t.is(seen[1], 'ADDED after');
    t.regex(seen[2]!, /^MODIFIED after \(was \d+\)$/);
    t.regex(seen[3]!, /^DELETED before/);
    t.deepEqual(inf.list().map((o) => o.metadata.name), ['after']);
    t.is(inf.get('inf/after')?.metadata.labels.x, 'y');
    const late: string[] = [];
    inf.onChange((type, obj) => late.push(`${type} ${obj.metadata.name}`));
    t.deepEqual(late, ['ADDED after']);
  } finally {
    inf.stop();
    c.close();
  }
});

test.serial('an informer keeps following through the loss of the master it watched', async (t) => {
  // Its own cluster: a master's API server is closed here.
  const own = await startControlCluster({ members: ['x', 'y', 'z'], controllers: () => [] });
  const c = new ApiClient({ baseUrl: ['x', 'y', 'z'].map((m) => `http://127.0.0.1:${own.apis.get(m)!.port}`), token: 't' });
  const inf = new Informer(c, { path: '/api/v1/namespaces/default/pods' });
  const added: string[] = [];
  inf.onChange((type, obj) => type === 'ADDED' && added.push(obj.metadata.name));
  try {
    inf.start();
    await inf.synced;
    await own.call('POST', '/api/v1/namespaces/default/pods', pod('one'), 'y');
    await eventually('one', () => added.includes('one'));
    await own.apis.get('x')!.close();
    await own.call('POST', '/api/v1/namespaces/default/pods', pod('two'), 'y');
    await eventually('two, through another master', () => added.includes('two'));
    t.not(c.server, `http://127.0.0.1:${own.apis.get('x')!.port}`);
    t.deepEqual(added.sort(), ['one', 'two']);
  } finally {
    inf.stop();
    c.close();
    own.apis.delete('x');
    await own.close();
  }
});

test.serial('after 410 Gone the informer lists again and reports what vanished meanwhile', async (t) => {
  // A scripted API (the store cannot be made to compact under a running
  // watch on cue): list → watch answers 410 → list without one object → watch holds.
  const script: string[] = [];
  let lists = 0;
  const server = http.createServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    script.push(`${u.searchParams.get('watch') ? 'watch' : 'list'} rv=${u.searchParams.get('resourceVersion') ?? ''}`);
    res.setHeader('Content-Type', 'application/json');
    const item = (name: string, rv: string) => ({ metadata: { name, namespace: 'ns', resourceVersion: rv } });
    if (!u.searchParams.get('watch')) {
      lists++;
      const items = lists === 1 ? [item('a', '5'), item('b', '6')] : [item('b', '6')];
      res.end(JSON.stringify({ kind: 'PodList', metadata: { resourceVersion: lists === 1 ? '10' : '20' }, items }));
      return;
    }
    if (u.searchParams.get('resourceVersion') === '10') {
      res.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 10' } })}\n`);
      return;
    }
    res.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Pod', metadata: { resourceVersion: '21' } } })}\n`);
    req.on('close', () => res.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const c = new ApiClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  const inf = new Informer(c, { path: '/api/v1/pods' });
  const seen: string[] = [];
  inf.onChange((type, obj) => seen.push(`${type} ${obj.metadata.name}`));
  try {
    inf.start();
    await eventually('the relist', () => seen.length >= 3);
    t.deepEqual(seen, ['ADDED a', 'ADDED b', 'DELETED a']);
    await eventually('the second watch', () => script.includes('watch rv=20'));
    t.deepEqual(script.slice(0, 4), ['list rv=', 'watch rv=10', 'list rv=', 'watch rv=20']);
    t.is(inf.stats.lists, 2);
  } finally {
    inf.stop();
    c.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});
