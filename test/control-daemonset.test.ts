/**
 * The DaemonSet controller on a real 3-member store: one pod per eligible
 * node (nodeSelector, taints), pinned by node affinity for the scheduler;
 * nodes that become eligible or stop being so; a rolling update that keeps
 * at most maxUnavailable pods unavailable.
 */
import test from 'ava';
import { DaemonSetController, eligible, resolveIntOrPercent, targetNode } from '../src/control/controllers/daemonset.js';
import { type J, runPodOn, startControlCluster } from './helpers/control-cluster.js';

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
  const c = await startControlCluster({ controllers: () => [new DaemonSetController()] });
  const { call, eventually } = c;
  const pods = async (): Promise<J[]> => (await call('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dagent')).body.items.filter((p: J) => !p.metadata.deletionTimestamp);
  /** What the scheduler and a kubelet would do: bind each pod to its pinned node, report it Running and Ready. */
  const bindAndRun = async () => {
    for (const p of await pods()) if (p.status?.phase !== 'Running') await runPodOn(c, 'default', p.metadata.name, targetNode(p)!);
  };
  const onNodes = async () => (await pods()).map((p) => targetNode(p)).sort().join(',');
  const ds = (image: string) => ({
    apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'agent' },
    spec: { selector: { matchLabels: { app: 'agent' } }, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } }, template: { metadata: { labels: { app: 'agent' } }, spec: { nodeSelector: { role: 'worker' }, containers: [{ name: 'c', image }] } } },
  });
  try {
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
    await c.close();
  }
});
