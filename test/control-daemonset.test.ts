/**
 * The DaemonSet controller on a real 3-member store: one pod per eligible
 * node (nodeSelector, taints), pinned by node affinity for the scheduler;
 * nodes that become eligible or stop being so; a rolling update that keeps
 * at most maxUnavailable pods unavailable.
 */
import test from 'ava';
import pino from 'pino';
import { ApiServer } from '../src/control/apiserver/index.js';
import { ControllerManager } from '../src/control/controllers/index.js';
import { DaemonSetController, eligible, resolveIntOrPercent, targetNode } from '../src/control/controllers/daemonset.js';
import { StoreTestCluster } from './helpers/store-cluster.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;

test('eligibility: nodeSelector, required affinity, taints and the daemon tolerations', (t) => {
  const node = (labels: Record<string, string>, taints: J[] = []) => ({ metadata: { name: 'n', labels }, spec: { taints } });
  t.true(eligible({ spec: { nodeSelector: { role: 'w' } } }, node({ role: 'w' })));
  t.false(eligible({ spec: { nodeSelector: { role: 'w' } } }, node({ role: 'x' })));
  t.false(eligible({ spec: {} }, node({}, [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }])));
  t.true(eligible({ spec: { tolerations: [{ key: 'dedicated', operator: 'Exists' }] } }, node({}, [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }])));
  t.true(eligible({ spec: {} }, node({}, [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }])), 'daemon pods tolerate unreachable');
  t.true(eligible({ spec: {} }, node({}, [{ key: 'x', effect: 'PreferNoSchedule' }])));
  const aff = { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }] } } } } };
  t.true(eligible(aff, node({ zone: 'b' })));
  t.false(eligible(aff, node({ zone: 'c' })));
  t.is(resolveIntOrPercent('10%', 15), 2);
  t.is(resolveIntOrPercent(3, 15), 3);
});

test('one pod per eligible node, following nodes; rolling update within maxUnavailable', async (t) => {
  const cluster = new StoreTestCluster(['a', 'b', 'c']);
  await cluster.startAll();
  await cluster.waitFor(() => cluster.leader() !== undefined, 'a leader');
  const api = new ApiServer({
    kv: cluster.leader()!, host: '127.0.0.1', port: 0, tls: null, tokens: new Map([['t', { name: 'admin', uid: '1', groups: [] }]]),
    allowAnonymous: false, maxBodyBytes: 1 << 20, bookmarkIntervalMs: 60_000, notReady: () => null, logger: pino({ level: 'silent' }),
  });
  await api.start();
  const managers = [...cluster.servers.values()].map((s) => new ControllerManager(s, [new DaemonSetController()], pino({ level: 'silent' })));
  for (const m of managers) m.start();
  const call = async (method: string, path: string, body?: unknown): Promise<J> => {
    const ct = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
    const r = await fetch(`http://127.0.0.1:${api.port}${path}`, { method, headers: { Authorization: 'Bearer t', 'Content-Type': ct }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, body: await r.json() };
  };
  const eventually = async (what: string, c: () => Promise<boolean>) => {
    const t0 = Date.now();
    while (!(await c())) {
      if (Date.now() - t0 > 10_000) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const pods = async (): Promise<J[]> => (await call('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dagent')).body.items.filter((p: J) => !p.metadata.deletionTimestamp);
  /** What the scheduler and a kubelet would do: bind each pod to its pinned node, report it Running and Ready. */
  const bindAndRun = async () => {
    for (const p of await pods()) {
      if (!p.spec.nodeName) await call('POST', `/api/v1/namespaces/default/pods/${p.metadata.name}/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: p.metadata.name }, target: { kind: 'Node', name: targetNode(p) } });
      const cur = (await call('GET', `/api/v1/namespaces/default/pods/${p.metadata.name}`)).body;
      if (cur.status?.phase !== 'Running') await call('PUT', `/api/v1/namespaces/default/pods/${p.metadata.name}/status`, { ...cur, status: { ...cur.status, phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } });
    }
  };
  const onNodes = async () => (await pods()).map((p) => targetNode(p)).sort().join(',');
  const ds = (image: string) => ({
    apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent' },
    spec: { selector: { matchLabels: { app: 'agent' } }, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } }, template: { metadata: { labels: { app: 'agent' } }, spec: { nodeSelector: { role: 'worker' }, containers: [{ name: 'c', image }] } } },
  });
  try {
    await eventually('default exists', async () => (await call('GET', '/api/v1/namespaces/default')).status === 200);
    for (const [n, role] of [['n1', 'worker'], ['n2', 'worker'], ['n3', 'infra']]) await call('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: n, labels: { role } } });
    t.is((await call('POST', '/apis/apps/v1/namespaces/default/daemonsets', ds('agent:1'))).status, 201);
    await eventually('pods for n1 and n2', async () => (await onNodes()) === 'n1,n2');
    await bindAndRun();
    await call('PATCH', '/api/v1/nodes/n3', { metadata: { labels: { role: 'worker' } } });
    await eventually('a pod for n3', async () => (await onNodes()) === 'n1,n2,n3');
    await call('PATCH', '/api/v1/nodes/n1', { metadata: { labels: { role: null } } });
    await eventually('the n1 pod goes', async () => (await onNodes()) === 'n2,n3');
    await bindAndRun();
    await eventually('status', async () => (await call('GET', '/apis/apps/v1/namespaces/default/daemonsets/agent')).body.status?.numberReady === 2);
    // Rolling update: never more than one of the two pods missing or unready.
    const cur = (await call('GET', '/apis/apps/v1/namespaces/default/daemonsets/agent')).body;
    await call('PUT', '/apis/apps/v1/namespaces/default/daemonsets/agent', { ...cur, spec: ds('agent:2').spec });
    const t0 = Date.now();
    for (;;) {
      const ps = await pods();
      const ready = ps.filter((p) => p.status?.phase === 'Running');
      t.true(ready.length >= 1, 'at most maxUnavailable (1) of 2 unavailable');
      if (ps.length === 2 && ps.every((p) => p.spec.containers[0].image === 'agent:2' && p.status?.phase === 'Running')) break;
      if (Date.now() - t0 > 10_000) throw new Error(`rolling update stuck: ${JSON.stringify(ps.map((p) => [p.metadata.name, p.spec.containers[0].image, p.status?.phase]))}`);
      await bindAndRun();
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    for (const m of managers) await m.close();
    await api.close();
    await cluster.close();
  }
});
