/**
 * Hollow nodes (the kubemark-like test tool) against API servers over a real
 * 3-member store, over HTTP: they register Nodes, heartbeat Leases in
 * kube-node-lease, turn Pods bound to them into Running/Ready Pods with IPs
 * from their pod CIDRs (which the Endpoints controller then publishes), and
 * delete Pods being deleted; a stopped node stops heartbeating.
 */
import test from 'ava';
import pino from 'pino';
import { ApiServer } from '../src/control/apiserver/index.js';
import { ControllerManager } from '../src/control/controllers/index.js';
import { EndpointsController } from '../src/control/controllers/endpoints.js';
import { ApiClient, HollowNode, PodIpPool, microTime, startHollowNodes } from '../src/control/hollow/index.js';
import { StoreTestCluster } from './helpers/store-cluster.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;

async function eventually(what: string, f: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!(await f())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('hollow nodes register, heartbeat, run bound pods and delete terminating ones', async (t) => {
  const cluster = new StoreTestCluster(['a', 'b', 'c']);
  await cluster.startAll();
  await cluster.waitFor(() => cluster.leader() !== undefined, 'a leader');
  const apis: ApiServer[] = [];
  const managers: ControllerManager[] = [];
  for (const store of cluster.servers.values()) {
    const api = new ApiServer({
      kv: store, host: '127.0.0.1', port: 0, tls: null, tokens: new Map([['t', { name: 'admin', uid: '1', groups: [] }]]),
      allowAnonymous: false, maxBodyBytes: 1 << 20, bookmarkIntervalMs: 60_000, notReady: () => null, logger: pino({ level: 'silent' }),
    });
    await api.start();
    apis.push(api);
    const m = new ControllerManager(store, [new EndpointsController()], pino({ level: 'silent' }));
    m.start();
    managers.push(m);
  }
  // The nodes use one member's API; the test another's.
  const client = new ApiClient({ baseUrl: `http://127.0.0.1:${apis[1]!.port}`, token: 't' });
  const api = new ApiClient({ baseUrl: `http://127.0.0.1:${apis[0]!.port}`, token: 't' });
  let fleet: Awaited<ReturnType<typeof startHollowNodes>> | null = null;
  try {
    await eventually('kube-node-lease exists', async () => (await api.get('/api/v1/namespaces/kube-node-lease').catch(() => null)) !== null);
    fleet = await startHollowNodes(3, { api: { baseUrl: `http://127.0.0.1:${apis[1]!.port}`, token: 't' }, cpu: '4', memory: '8Gi', pods: 110, labels: { pool: 'hollow' }, heartbeatSeconds: 0.2, statusEveryHeartbeats: 2, maxInflightRequests: 8 });

    // Registered Nodes.
    const nodes: J[] = (await api.get('/api/v1/nodes?labelSelector=pool%3Dhollow')).items;
    t.deepEqual(nodes.map((n) => n.metadata.name).sort(), ['hollow-0', 'hollow-1', 'hollow-2']);
    for (const n of nodes) {
      t.is(n.status.nodeInfo.kubeletVersion, 'v1.32.0-hollow');
      t.like(n.status.capacity, { cpu: '4', memory: '8Gi', pods: '110' });
      t.like(n.status.conditions.find((c: J) => c.type === 'Ready'), { status: 'True' });
      t.regex(n.status.addresses.find((a: J) => a.type === 'InternalIP').address, /^10\./);
    }

    // Leases, renewed every heartbeat.
    const lease = async (name: string): Promise<J> => api.get(`/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`);
    const l0 = await lease('hollow-0');
    t.like(l0.spec, { holderIdentity: 'hollow-0', leaseDurationSeconds: 40 });
    t.regex(l0.spec.renewTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    t.is(l0.metadata.ownerReferences[0].kind, 'Node');
    await eventually('the lease is renewed', async () => (await lease('hollow-0')).spec.renewTime > l0.spec.renewTime);
    const hb0 = nodes.find((n) => n.metadata.name === 'hollow-0').status.conditions.find((c: J) => c.type === 'Ready').lastHeartbeatTime;
    await eventually('the node heartbeat time moves', async () => (await api.get('/api/v1/nodes/hollow-0')).status.conditions.find((c: J) => c.type === 'Ready').lastHeartbeatTime > hb0, 5_000);

    // Pods bound to them run, with IPs from the nodes' CIDRs, and a service publishes them.
    await api.post('/api/v1/namespaces/default/services', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'app' }, spec: { selector: { app: 'x' }, ports: [{ port: 80, targetPort: 8080 }] } });
    const ns = '/api/v1/namespaces/default/pods';
    for (let i = 0; i < 6; i++) {
      await api.post(ns, { apiVersion: 'v1', kind: 'Pod', metadata: { name: `p${i}`, labels: { app: 'x' } }, spec: { containers: [{ name: 'c', image: 'nginx:1.27' }] } });
      await api.post(`${ns}/p${i}/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: `p${i}` }, target: { apiVersion: 'v1', kind: 'Node', name: `hollow-${i % 3}` } });
    }
    let pods: J[] = [];
    await eventually('all pods run', async () => {
      pods = (await api.get(ns)).items;
      return pods.length === 6 && pods.every((p) => p.status.phase === 'Running' && p.status.podIP);
    });
    for (const p of pods) {
      const node = fleet.nodes.find((n) => n.name === p.spec.nodeName)!;
      t.is(p.status.hostIP, node.internalIP);
      t.true(p.status.podIP.startsWith(node.podCidr.replace(/0\/24$/, '')), `${p.status.podIP} in ${node.podCidr}`);
      for (const c of ['PodScheduled', 'Initialized', 'ContainersReady', 'Ready']) t.like(p.status.conditions.find((x: J) => x.type === c), { status: 'True' });
      t.like(p.status.containerStatuses[0], { name: 'c', ready: true, started: true, restartCount: 0, image: 'nginx:1.27' });
      t.truthy(p.status.containerStatuses[0].state.running.startedAt);
      t.regex(p.status.containerStatuses[0].containerID, /^hollow:\/\//);
      t.truthy(p.status.startTime);
    }
    t.is(new Set(pods.map((p) => p.status.podIP)).size, 6);
    await eventually('the service has the six pods as endpoints', async () => ((await api.get('/api/v1/namespaces/default/endpoints/app').catch(() => null))?.subsets?.[0]?.addresses?.length ?? 0) === 6);

    // A pod being deleted (grace period: it is bound) is stopped and removed by its node.
    const d = await api.delete(`${ns}/p0`);
    t.truthy(d.metadata.deletionTimestamp);
    await eventually('the pod is gone', async () => (await api.get(`${ns}/p0`).catch(() => null)) === null);
    t.true(fleet.nodes[0]!.stats.podsDeleted >= 1);

    // A stopped node goes silent: its lease is no longer renewed.
    fleet.nodes[2]!.stop();
    await new Promise((r) => setTimeout(r, 300));
    const frozen = (await lease('hollow-2')).spec.renewTime;
    await new Promise((r) => setTimeout(r, 600));
    t.is((await lease('hollow-2')).spec.renewTime, frozen);
    t.true((await lease('hollow-1')).spec.renewTime > frozen);
  } finally {
    await fleet?.close();
    client.close();
    api.close();
    for (const m of managers) await m.close();
    for (const a of apis) await a.close();
    await cluster.close();
  }
});

test('hollow node pieces: pod IP pool, MicroTime, option checks', async (t) => {
  const pool = new PodIpPool('10.64.3.0/24');
  t.is(pool.allocate('a'), '10.64.3.2');
  t.is(pool.allocate('a'), '10.64.3.2');
  t.is(pool.allocate('b'), '10.64.3.3');
  pool.release('a');
  pool.adopt('c', '10.64.3.9');
  const seen = new Set<string>();
  for (let i = 0; i < 260; i++) {
    const ip = pool.allocate(`x${i}`);
    if (ip === null) break;
    seen.add(ip);
  }
  t.false(seen.has('10.64.3.9') || seen.has('10.64.3.3') || seen.has('10.64.3.1') || seen.has('10.64.3.255'));
  t.is(seen.size, 253 - 2);
  t.is(microTime(new Date('2026-01-02T03:04:05.123Z')), '2026-01-02T03:04:05.123000Z');
  t.throws(() => new HollowNode(new ApiClient({ baseUrl: 'http://127.0.0.1:1' }), { name: 'n', cpu: '1', memory: '1Gi', pods: 0, heartbeatSeconds: 1 }));
});
