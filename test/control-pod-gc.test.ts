/**
 * Pod garbage collection: pods of a node that is gone, and terminating pods
 * of a node tainted out-of-service, are removed; others are left alone.
 */
import test from 'ava';
import { PodGcController } from '../src/control/controllers/index.js';
import { type J, startControlCluster } from './helpers/control-cluster.js';

test('pods of a gone node, and terminating pods of an out-of-service node, are removed', async (t) => {
  const c = await startControlCluster({ controllers: () => [new PodGcController(200)] });
  try {
    const pod = (name: string, node: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { nodeName: node, containers: [{ name: 'c', image: 'busybox' }] } });
    await c.call('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'alive' } });
    await c.call('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'broken' }, spec: { taints: [{ key: 'node.kubernetes.io/out-of-service', value: 'nodeshutdown', effect: 'NoExecute' }] } });
    for (const [name, node] of [['on-ghost', 'ghost'], ['on-alive', 'alive'], ['on-broken', 'broken'], ['on-broken-live', 'broken']]) t.is((await c.call('POST', '/api/v1/namespaces/default/pods', pod(name!, node!))).status, 201);
    // A bound pod deleted gracefully stays until its kubelet finishes it… unless its node is out of service.
    t.is((await c.call('DELETE', '/api/v1/namespaces/default/pods/on-broken')).status, 202);
    const exists = async (name: string) => (await c.call('GET', `/api/v1/namespaces/default/pods/${name}`)).status === 200;
    await c.eventually('the orphan and the out-of-service terminating pod are gone', async () => !(await exists('on-ghost')) && !(await exists('on-broken')));
    await new Promise((r) => setTimeout(r, 500));
    t.true(await exists('on-alive'));
    t.true(await exists('on-broken-live'), 'a pod not being deleted stays (the taint evicts it, not the pod GC)');
    const left: J[] = (await c.call('GET', '/api/v1/namespaces/default/pods')).body.items;
    t.deepEqual(left.map((p) => p.metadata.name).sort(), ['on-alive', 'on-broken-live']);
  } finally {
    await c.close();
  }
});
