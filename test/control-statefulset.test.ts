/**
 * The StatefulSet controller on a real 3-member store: ordinal names, ordered
 * start (each pod Ready before the next), ordered scale-down, rolling update
 * from the highest ordinal with a partition, ControllerRevisions.
 */
import test from 'ava';
import { StatefulSetController } from '../src/control/controllers/statefulset.js';
import { type J, startControlCluster } from './helpers/control-cluster.js';

test('ordered start, ordered scale-down, rolling update with a partition', async (t) => {
  const c = await startControlCluster({ controllers: () => [new StatefulSetController()] });
  const call = c.call;
  const eventually = c.eventually;
  const pods = async (): Promise<J[]> => (await call('GET', '/api/v1/namespaces/default/pods?labelSelector=app%3Ddb')).body.items;
  const names = async () => (await pods()).filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.name).sort();
  const markReady = async (name: string) => {
    const p = (await call('GET', `/api/v1/namespaces/default/pods/${name}`)).body;
    const r = await call('PUT', `/api/v1/namespaces/default/pods/${name}/status`, { ...p, status: { ...p.status, phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } });
    if (r.status !== 200) throw new Error(JSON.stringify(r.body));
  };
  const sts = (image: string, replicas: number, partition = 0) => ({
    apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db' },
    spec: { replicas, serviceName: 'db', selector: { matchLabels: { app: 'db' } }, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition } }, template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'c', image }] } } },
  });
  try {
    t.is((await call('POST', '/apis/apps/v1/namespaces/default/statefulsets', sts('db:1', 3))).status, 201);
    for (let i = 0; i < 3; i++) {
      await eventually(`db-${i} created`, async () => (await names()).includes(`db-${i}`));
      await new Promise((r) => setTimeout(r, 200));
      t.deepEqual(await names(), Array.from({ length: i + 1 }, (_, k) => `db-${k}`), `only up to db-${i} before it is Ready`);
      const p = (await call('GET', `/api/v1/namespaces/default/pods/db-${i}`)).body;
      t.is(p.spec.hostname, `db-${i}`);
      t.is(p.spec.subdomain, 'db');
      await markReady(`db-${i}`);
    }
    await eventually('status', async () => (await call('GET', '/apis/apps/v1/namespaces/default/statefulsets/db')).body.status?.readyReplicas === 3);
    const revs = (await call('GET', '/apis/apps/v1/namespaces/default/controllerrevisions')).body.items;
    t.is(revs.length, 1);

    // Rolling update with partition 1: db-2 then db-1 move to the new revision; db-0 stays.
    const cur = (await call('GET', '/apis/apps/v1/namespaces/default/statefulsets/db')).body;
    t.is((await call('PUT', '/apis/apps/v1/namespaces/default/statefulsets/db', { ...cur, spec: sts('db:2', 3, 1).spec })).status, 200);
    for (const i of [2, 1]) {
      await eventually(`db-${i} on the new revision`, async () => {
        const p = (await pods()).find((x) => x.metadata.name === `db-${i}` && !x.metadata.deletionTimestamp);
        return p?.spec.containers[0].image === 'db:2';
      });
      await markReady(`db-${i}`);
    }
    await new Promise((r) => setTimeout(r, 300));
    t.is((await pods()).find((x) => x.metadata.name === 'db-0').spec.containers[0].image, 'db:1', 'below the partition: untouched');
    t.is((await call('GET', '/apis/apps/v1/namespaces/default/controllerrevisions')).body.items.length, 2);

    // Scale down to 1: db-2 goes first, then db-1.
    await call('PATCH', '/apis/apps/v1/namespaces/default/statefulsets/db', { spec: { replicas: 1 } });
    await eventually('scaled down', async () => (await names()).join(',') === 'db-0');
    t.pass();
  } finally {
    await c.close();
  }
});
