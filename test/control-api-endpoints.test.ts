/**
 * The `kubernetes` Service's Endpoints follow the API servers that are alive
 * (their identity Leases): all three masters, then two when one stops.
 */
import test from 'ava';
import pino from 'pino';
import { ApiServer } from '../src/control/apiserver/index.js';
import { ApiEndpointsController, ControllerManager, SERVICE_IP_DEFAULTS, ServiceIpController } from '../src/control/controllers/index.js';
import { apiSubsets, liveApiServers } from '../src/control/controllers/api-endpoints.js';
import { StoreTestCluster } from './helpers/store-cluster.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;

test('live API servers from identity leases, grouped by port', (t) => {
  const now = Date.parse('2026-01-01T00:00:10Z');
  t.deepEqual(liveApiServers([{ metadata: { labels: { 'apiserver.kubernetes.io/identity': 'kube-apiserver' } }, spec: { holderIdentity: '127.0.0.1:6443', renewTime: '2026-01-01T00:00:09.000000Z', leaseDurationSeconds: 5 } }] as never, now), [], 'loopback is left out');
  const lease = (holder: string, renew: string, label = 'kube-apiserver') => ({ metadata: { labels: { 'apiserver.kubernetes.io/identity': label } }, spec: { holderIdentity: holder, renewTime: renew, leaseDurationSeconds: 5 } });
  const live = liveApiServers([lease('10.0.0.2:6443', '2026-01-01T00:00:08.000000Z'), lease('10.0.0.1:6443', '2026-01-01T00:00:09.000000Z'), lease('10.0.0.3:6443', '2026-01-01T00:00:01.000000Z'), lease('10.0.0.4:6443', '2026-01-01T00:00:09.000000Z', 'other')] as never, now);
  t.deepEqual(live, [{ ip: '10.0.0.1', port: 6443 }, { ip: '10.0.0.2', port: 6443 }]);
  t.deepEqual(apiSubsets([{ ip: '127.0.0.1', port: 1 }, { ip: '127.0.0.1', port: 2 }]), [
    { addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'https', port: 1, protocol: 'TCP' }] },
    { addresses: [{ ip: '127.0.0.1' }], ports: [{ name: 'https', port: 2, protocol: 'TCP' }] },
  ]);
});

test('the kubernetes Endpoints list the masters alive, and lose a stopped one', async (t) => {
  const cluster = new StoreTestCluster(['a', 'b', 'c']);
  await cluster.startAll();
  await cluster.waitFor(() => cluster.leader() !== undefined, 'a leader');
  const apis: ApiServer[] = [];
  const managers: ControllerManager[] = [];
  let n = 0;
  for (const store of cluster.servers.values()) {
    const api = new ApiServer({
      kv: store, host: '127.0.0.1', port: 0, tls: null, tokens: new Map([['t', { name: 'admin', uid: '1', groups: [] }]]),
      allowAnonymous: false, maxBodyBytes: 1 << 20, bookmarkIntervalMs: 60_000, notReady: () => null, logger: pino({ level: 'silent' }), identityLeaseSeconds: 1,
      // Addresses of our own (loopback ones are left out of Endpoints; only the bookkeeping is tested); port 0: the listening one.
      advertise: { ip: `10.255.0.${++n}`, port: 0 },
    });
    await api.start();
    apis.push(api);
    const m = new ControllerManager(store, [new ServiceIpController(SERVICE_IP_DEFAULTS), new ApiEndpointsController()], pino({ level: 'silent' }));
    m.start();
    managers.push(m);
  }
  const get = async (): Promise<J> => {
    const r = await fetch(`http://127.0.0.1:${apis[1]!.port}/api/v1/namespaces/default/endpoints/kubernetes`, { headers: { Authorization: 'Bearer t' } });
    return r.status === 200 ? r.json() : null;
  };
  const ports = (ep: J) => (ep?.subsets ?? []).flatMap((s: J) => s.ports.map((p: J) => p.port)).sort();
  const eventually = async (what: string, f: () => Promise<boolean>) => {
    const t0 = Date.now();
    while (!(await f())) {
      if (Date.now() - t0 > 15_000) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  try {
    const all = apis.map((a) => a.port).sort();
    await eventually('three masters listed', async () => JSON.stringify(ports(await get())) === JSON.stringify(all));
    const svc = await fetch(`http://127.0.0.1:${apis[1]!.port}/api/v1/namespaces/default/services/kubernetes`, { headers: { Authorization: 'Bearer t' } });
    t.is(((await svc.json()) as J).spec.clusterIP, '10.96.0.1');
    await apis[0]!.close();
    await eventually('the stopped one dropped', async () => JSON.stringify(ports(await get())) === JSON.stringify(all.filter((p) => p !== apis[0]!.port)));
    t.pass();
  } finally {
    for (const m of managers) await m.close();
    for (const a of apis) await a.close();
    await cluster.close();
  }
});
