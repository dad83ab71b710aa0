/**
 * Node lifecycle on a real 3-member store: pod CIDRs, heartbeats through
 * Leases, Unknown + the unreachable taint when they stop, taint-based
 * eviction after the tolerations' seconds, and recovery.
 */
import test from 'ava';
import pino from 'pino';
import { ApiServer } from '../src/control/apiserver/index.js';
import { ControllerManager } from '../src/control/controllers/index.js';
import { NodeLifecycleController, evictionDeadline, freeBlock, tolerates } from '../src/control/controllers/node-lifecycle.js';
import { StoreTestCluster } from './helpers/store-cluster.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;

test('pure parts: tolerations, eviction deadlines, free CIDR blocks', (t) => {
  const taint = { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute', timeAdded: '2026-01-01T00:00:00Z' };
  t.true(tolerates({ operator: 'Exists' }, taint));
  t.true(tolerates({ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' }, taint));
  t.false(tolerates({ key: 'node.kubernetes.io/not-ready', operator: 'Exists' }, taint));
  t.false(tolerates({ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoSchedule' }, taint));
  t.true(tolerates({ key: 'k', value: 'v' }, { key: 'k', value: 'v', effect: 'NoExecute' }));
  t.false(tolerates({ key: 'k', value: 'w' }, { key: 'k', value: 'v', effect: 'NoExecute' }));
  const at = Date.parse(taint.timeAdded);
  t.is(evictionDeadline({ metadata: {}, spec: {} }, [taint]), -Infinity);
  t.is(evictionDeadline({ metadata: {}, spec: { tolerations: [{ operator: 'Exists', tolerationSeconds: 300 }] } }, [taint]), at + 300_000);
  t.is(evictionDeadline({ metadata: {}, spec: { tolerations: [{ operator: 'Exists' }] } }, [taint]), Infinity);
  t.is(freeBlock('10.244.0.0/16', 24, new Set()), '10.244.0.0/24');
  t.is(freeBlock('10.244.0.0/16', 24, new Set(['10.244.0.0/24', '10.244.1.0/24'])), '10.244.2.0/24');
  t.is(freeBlock('10.0.0.0/30', 30, new Set(['10.0.0.0/30'])), null);
});

test('heartbeats, Unknown and the unreachable taint, eviction after tolerationSeconds, recovery', async (t) => {
  const cluster = new StoreTestCluster(['a', 'b', 'c']);
  await cluster.startAll();
  await cluster.waitFor(() => cluster.leader() !== undefined, 'a leader');
  const store = cluster.leader()!;
  const api = new ApiServer({
    kv: store, host: '127.0.0.1', port: 0, tls: null, tokens: new Map([['t', { name: 'admin', uid: '1', groups: [] }]]),
    allowAnonymous: false, maxBodyBytes: 1 << 20, bookmarkIntervalMs: 60_000, notReady: () => null, logger: pino({ level: 'silent' }),
  });
  await api.start();
  const managers = [...cluster.servers.values()].map((s) => new ControllerManager(s, [new NodeLifecycleController({ gracePeriodMs: 3000, monitorPeriodMs: 200 })], pino({ level: 'silent' })));
  for (const m of managers) m.start();
  const call = async (method: string, path: string, body?: unknown): Promise<J> => {
    const r = await fetch(`http://127.0.0.1:${api.port}${path}`, { method, headers: { Authorization: 'Bearer t', 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, body: await r.json() };
  };
  const eventually = async (what: string, f: () => Promise<boolean>, ms = 10_000) => {
    const t0 = Date.now();
    while (!(await f())) {
      if (Date.now() - t0 > ms) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const now = () => new Date().toISOString().replace('Z', '000Z').replace(/\.(\d{3})000Z$/, '.$1000Z');
  const beat = async (name: string) => {
    const path = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`;
    const cur = await call('GET', path);
    const lease = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: 'kube-node-lease' }, spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime: now() } };
    if (cur.status === 404) await call('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', lease);
    else await call('PUT', path, { ...cur.body, spec: lease.spec });
  };
  const readyStatus = () => ({ conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastHeartbeatTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }], allocatable: { cpu: '4', memory: '8Gi', pods: '110' }, capacity: { cpu: '4', memory: '8Gi', pods: '110' } });
  try {
    await eventually('default exists', async () => (await call('GET', '/api/v1/namespaces/default')).status === 200);
    // All at once, as hosts of a fresh cluster register: each still gets a block of its own.
    const names = ['n1', 'n2', 'n3', ...Array.from({ length: 9 }, (_, i) => `extra-${i}`)];
    await Promise.all(names.map(async (n) => {
      t.is((await call('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: n }, status: readyStatus() })).status, 201);
      await beat(n);
    }));
    await eventually('pod CIDRs', async () => (await call('GET', '/api/v1/nodes')).body.items.every((n: J) => n.spec.podCIDR));
    const cidrs = (await call('GET', '/api/v1/nodes')).body.items.map((n: J) => n.spec.podCIDR);
    t.is(new Set(cidrs).size, names.length, `unique pod CIDRs: ${cidrs}`);
    for (const n of names.filter((x) => x.startsWith('extra-'))) await call('DELETE', `/api/v1/nodes/${n}`);
    // Pods on n1: one intolerant, one tolerating 1 s, one tolerating forever.
    const pod = (name: string, tolerations?: J[]) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox' }], ...(tolerations ? { tolerations } : {}) } });
    await call('POST', '/api/v1/namespaces/default/pods', pod('short', [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 1 }]));
    await call('POST', '/api/v1/namespaces/default/pods', pod('forever', [{ operator: 'Exists' }]));
    const strict = await call('POST', '/api/v1/namespaces/default/pods', pod('strict'));
    t.is(strict.status, 201);
    // n2 and n3 keep beating; n1 stops.
    // A beat may still be in flight when the test ends: its failure then is of no interest.
    const beating = setInterval(() => void beat('n2').then(() => beat('n3')).catch(() => undefined), 300);
    try {
      await eventually('n1 is Unknown and tainted', async () => {
        const n = (await call('GET', '/api/v1/nodes/n1')).body;
        return n.status.conditions.find((c: J) => c.type === 'Ready')?.status === 'Unknown' && (n.spec.taints ?? []).some((x: J) => x.key === 'node.kubernetes.io/unreachable' && x.effect === 'NoExecute');
      });
      for (const n of ['n2', 'n3']) t.is((await call('GET', `/api/v1/nodes/${n}`)).body.status.conditions.find((c: J) => c.type === 'Ready').status, 'True');
      // Evicted = deleted: gracefully (it is bound), so it stays Terminating on the dead node, as upstream.
      await eventually('the short-toleration pod is evicted', async () => Boolean((await call('GET', '/api/v1/namespaces/default/pods/short')).body.metadata?.deletionTimestamp), 8000);
      t.falsy((await call('GET', '/api/v1/namespaces/default/pods/forever')).body.metadata.deletionTimestamp);
      t.falsy((await call('GET', '/api/v1/namespaces/default/pods/strict')).body.metadata.deletionTimestamp, 'the API default toleration is 300 s');
      // n1 comes back.
      await beat('n1');
      const n1 = (await call('GET', '/api/v1/nodes/n1')).body;
      await call('PUT', '/api/v1/nodes/n1/status', { ...n1, status: readyStatus() });
      await eventually('the taint is gone', async () => !((await call('GET', '/api/v1/nodes/n1')).body.spec.taints ?? []).length);
    } finally {
      clearInterval(beating);
    }
  } finally {
    for (const m of managers) await m.close();
    await api.close();
    await cluster.close();
  }
});
