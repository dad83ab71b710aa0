/**
 * The loops together, over hollow nodes talking HTTP to the API: a node that
 * stops heartbeating becomes Unknown, is tainted, its pods are evicted once
 * their toleration runs out, and the Deployment's replicas come back on the
 * nodes that are left.
 */
import test from 'ava';
import { DeploymentController, GarbageCollector, NodeLifecycleController, ReplicaSetController } from '../src/control/controllers/index.js';
import { startHollowNodes } from '../src/control/hollow/index.js';
import { Scheduler } from '../src/control/scheduler/index.js';
import { type J, startControlCluster } from './helpers/control-cluster.js';

test('node failure: Unknown, tainted, pods evicted after their toleration, replicas replaced elsewhere', async (t) => {
  const c = await startControlCluster({
    controllers: () => [new Scheduler(), new ReplicaSetController('replicasets'), new DeploymentController(), new NodeLifecycleController({ gracePeriodMs: 2_000, monitorPeriodMs: 200 }), new GarbageCollector()],
  });
  const fleet = await startHollowNodes(3, { api: { baseUrl: `http://127.0.0.1:${[...c.apis.values()][0]!.port}`, token: 't' }, cpu: '4', memory: '8Gi', pods: 110, heartbeatSeconds: 0.5, namePrefix: 'h-' });
  try {
    const dep = {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
      spec: {
        replicas: 3, selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 1 }], containers: [{ name: 'c', image: 'busybox' }] } },
      },
    };
    t.is((await c.call('POST', '/apis/apps/v1/namespaces/default/deployments', dep)).status, 201);
    const running = async (): Promise<J[]> => (await c.call('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb')).body.items.filter((p: J) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running');
    await c.eventually('3 replicas running', async () => (await running()).length === 3, 20_000);
    const victim = (await running())[0].spec.nodeName as string;
    const node = fleet.nodes.find((n) => n.name === victim)!;
    await node.stop();
    await c.eventually('the node is Unknown and tainted', async () => {
      const n = (await c.call('GET', `/api/v1/nodes/${victim}`)).body;
      return n.status.conditions.find((x: J) => x.type === 'Ready')?.status === 'Unknown' && (n.spec.taints ?? []).some((x: J) => x.key === 'node.kubernetes.io/unreachable');
    }, 20_000);
    await c.eventually('3 replicas running on the nodes that are left', async () => {
      const ps = await running();
      return ps.length === 3 && ps.every((p) => p.spec.nodeName !== victim);
    }, 20_000);
    // The Deployment's status follows the pods a moment later (its controller writes it).
    await c.eventually('the Deployment reports 3 available', async () => (await c.call('GET', '/apis/apps/v1/namespaces/default/deployments/web')).body.status?.availableReplicas === 3);
    const d = (await c.call('GET', '/apis/apps/v1/namespaces/default/deployments/web')).body;
    t.is(d.status.availableReplicas, 3);
    // The evicted pods stay Terminating on the dead node (its kubelet would finish them), as upstream.
    const evicted = (await c.call('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb')).body.items.filter((p: J) => p.spec.nodeName === victim);
    t.true(evicted.every((p: J) => p.metadata.deletionTimestamp), 'the pods on the dead node were evicted');
    // What kubectl describe would list: the loops' events.
    await c.eventually('events', async () => {
      const reasons = new Set((await c.call('GET', '/api/v1/events')).body.items.map((e: J) => e.reason));
      return ['Scheduled', 'SuccessfulCreate', 'ScalingReplicaSet', 'NodeNotReady', 'TaintManagerEviction'].every((r) => reasons.has(r));
    });
    const scheduled = (await c.call('GET', '/api/v1/events')).body.items.find((e: J) => e.reason === 'Scheduled');
    t.like(scheduled, { type: 'Normal', involvedObject: { kind: 'Pod', namespace: 'default' }, source: { component: 'default-scheduler' } });
    t.regex(scheduled.message, /^Successfully assigned default\/web-[a-z0-9-]+ to h-\d$/);
  } finally {
    await fleet.close();
    await c.close();
  }
});
