/**
 * Services on a real 3-member store with an API server per member and the
 * controllers in a ControllerManager per member: cluster IPs and node ports
 * are allocated uniquely and survive a leader change; the `kubernetes`
 * Service exists; Endpoints and EndpointSlices follow the selected Pods
 * (ready, not ready, named target ports, deleted) and go with their Service.
 */
import test from 'ava';
import { GarbageCollector } from '../src/control/controllers/index.js';
import { EndpointSliceController, planSlices, desiredGroups } from '../src/control/controllers/endpointslice.js';
import { EndpointsController, desiredSubsets } from '../src/control/controllers/endpoints.js';
import { RangeAllocator, ServiceIpController, parseCidr, serviceNeeds } from '../src/control/controllers/service-ip.js';
import type { StoreTestCluster } from './helpers/store-cluster.js';
import { type ControlCluster, startControlCluster } from './helpers/control-cluster.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;
const auth = { Authorization: 'Bearer t' };

/** The shared in-process control plane (test/helpers/control-cluster.ts), named as this file uses it. */
type Env = ControlCluster & { cluster: StoreTestCluster };

async function start(): Promise<Env> {
  const c = await startControlCluster({ controllers: () => [
      new ServiceIpController({ serviceCidr: '10.96.0.0/12', nodePortRange: [30000, 32767] }),
      new EndpointsController(),
      new EndpointSliceController(),
      new GarbageCollector(),
    ] });
  return { ...c, cluster: c.store };
}

async function stop(e: Env): Promise<void> {
  await e.close();
}

async function call(e: Env, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: J }> {
  const headers: Record<string, string> = { ...auth };
  if (body !== undefined) headers['Content-Type'] = contentType;
  const member = [...e.apis.keys()][0]!;
  const r = await fetch(`http://127.0.0.1:${e.apis.get(member)!.port}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function eventually(what: string, f: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!(await f())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const svc = (name: string, spec: J) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec });
const ip2n = (ip: string) => ip.split('.').reduce((a, b) => a * 256 + Number(b), 0);

function allocated(s: J): boolean {
  const type = s.spec.type;
  if (type === 'ExternalName') return true;
  if (!s.spec.clusterIP) return false;
  if (type === 'NodePort' || type === 'LoadBalancer') return s.spec.ports.every((p: J) => typeof p.nodePort === 'number');
  return true;
}

test('service IPs and node ports: unique across 50 services, kept across a leader change; the kubernetes service', async (t) => {
  const e = await start();
  try {
    await eventually('the kubernetes service', async () => (await call(e, 'GET', '/api/v1/namespaces/default/services/kubernetes')).status === 200);
    const k = (await call(e, 'GET', '/api/v1/namespaces/default/services/kubernetes')).body;
    t.is(k.spec.clusterIP, '10.96.0.1');
    t.like(k.spec.ports[0], { name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 });
    // Cluster DNS: served on every node at the tenth address; the Service says so for the proxies.
    await eventually('the kube-dns service', async () => (await call(e, 'GET', '/api/v1/namespaces/kube-system/services/kube-dns')).status === 200);
    const dns = (await call(e, 'GET', '/api/v1/namespaces/kube-system/services/kube-dns')).body;
    t.is(dns.spec.clusterIP, '10.96.0.10');
    t.is(dns.metadata.annotations['skiff.io/node-local'], 'true');
    t.deepEqual(dns.spec.ports.map((p: { name: string; protocol: string; port: number }) => `${p.name}/${p.protocol}/${p.port}`), ['dns/UDP/53', 'dns-tcp/TCP/53']);

    const base = '/api/v1/namespaces/default/services';
    for (let i = 0; i < 50; i++) {
      const type = i < 40 ? 'ClusterIP' : i < 48 ? 'NodePort' : 'LoadBalancer';
      const ports = type === 'ClusterIP' ? [{ port: 80 }] : [{ name: 'a', port: 80 }, { name: 'b', port: 443 }];
      t.is((await call(e, 'POST', base, svc(`s${i}`, { type, ports, selector: { app: `s${i}` } }))).status, 201);
    }
    // Users' choices are honoured: DNS's conventional address, a node port; headless and ExternalName get nothing.
    t.is((await call(e, 'POST', base, svc('dns', { clusterIP: '10.96.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }))).status, 201);
    t.is((await call(e, 'POST', base, svc('fixed', { type: 'NodePort', ports: [{ port: 80, nodePort: 30123 }] }))).status, 201);
    t.is((await call(e, 'POST', base, svc('headless', { clusterIP: 'None', ports: [{ port: 80 }] }))).status, 201);
    t.is((await call(e, 'POST', base, svc('ext', { type: 'ExternalName', externalName: 'example.com' }))).status, 201);

    const check = async (expected: number) => {
      let items: J[] = [];
      await eventually('all services allocated', async () => {
        items = (await call(e, 'GET', base)).body.items;
        return items.length === expected && items.every(allocated);
      });
      const ips = items.filter((s) => s.spec.clusterIP && s.spec.clusterIP !== 'None').map((s) => s.spec.clusterIP);
      t.is(new Set(ips).size, ips.length, 'cluster IPs are unique');
      for (const s of items) {
        const ip = s.spec.clusterIP;
        if (!ip || ip === 'None') continue;
        t.deepEqual(s.spec.clusterIPs, [ip]);
        const n = ip2n(ip) - ip2n('10.96.0.0');
        t.true(n > 0 && n < 2 ** 20 - 1, `${ip} is a usable address of the CIDR`);
        if (!['kubernetes', 'dns'].includes(s.metadata.name)) t.true(n !== 1 && n !== 10, `${s.metadata.name} did not get a reserved address`);
      }
      const ports = items.flatMap((s) => (s.spec.ports ?? []).map((p: J) => p.nodePort).filter((p: J) => p !== undefined));
      t.is(new Set(ports).size, ports.length, 'node ports are unique');
      t.true(ports.every((p: number) => p >= 30000 && p <= 32767));
      return items;
    };
    const before = await check(55);
    t.is(before.find((s) => s.metadata.name === 'dns').spec.clusterIP, '10.96.0.10');
    t.is(before.find((s) => s.metadata.name === 'fixed').spec.ports[0].nodePort, 30123);
    t.deepEqual(before.find((s) => s.metadata.name === 'headless').spec.clusterIPs, ['None']);
    t.is(before.find((s) => s.metadata.name === 'ext').spec.clusterIP, undefined);

    // The leader goes; the next one allocates from the stored services, never twice.
    const leader = e.cluster.leader()!;
    await e.managers.get(leader.name)!.close();
    e.managers.delete(leader.name);
    await e.apis.get(leader.name)!.close();
    e.apis.delete(leader.name);
    await e.cluster.stop(leader.name);
    await eventually('another manager runs', async () => [...e.managers.values()].some((m) => m.runningTerm !== null));
    for (let i = 50; i < 60; i++) t.is((await call(e, 'POST', base, svc(`s${i}`, { type: i % 2 ? 'NodePort' : 'ClusterIP', ports: [{ port: 80 }] }))).status, 201);
    const after = await check(65);
    for (const s of before) {
      const now = after.find((x) => x.metadata.name === s.metadata.name);
      t.is(now.spec.clusterIP, s.spec.clusterIP, `${s.metadata.name} kept its cluster IP`);
      t.deepEqual(now.spec.ports?.map((p: J) => p.nodePort), s.spec.ports?.map((p: J) => p.nodePort));
    }
  } finally {
    await stop(e);
  }
});

test('endpoints and endpointslices follow pods: ready, not ready, named ports, deleted; and go with the service', async (t) => {
  const e = await start();
  try {
    await eventually('default exists', async () => (await call(e, 'GET', '/api/v1/namespaces/default')).status === 200);
    const ns = '/api/v1/namespaces/default';
    const ports = [{ name: 'http', port: 80, targetPort: 'http' }, { name: 'metrics', port: 9090, targetPort: 9090 }];
    t.is((await call(e, 'POST', `${ns}/services`, svc('web', { selector: { app: 'web' }, ports }))).status, 201);
    const pod = (name: string, httpPort: number) => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: 'web' } },
      spec: { containers: [{ name: 'c', image: 'nginx', ports: [{ name: 'http', containerPort: httpPort }] }] },
    });
    const setStatus = async (name: string, ip: string, ready: boolean) => {
      const status = { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] };
      t.is((await call(e, 'PATCH', `${ns}/pods/${name}/status`, { status }, 'application/merge-patch+json')).status, 200);
    };
    for (const [name, p] of [['p0', 8080], ['p1', 8080], ['p2', 8081], ['nop', 8080]] as const) t.is((await call(e, 'POST', `${ns}/pods`, pod(name, p))).status, 201);
    await setStatus('p0', '10.64.0.10', true);
    await setStatus('p1', '10.64.0.11', true);
    await setStatus('p2', '10.64.0.12', false);
    // 'nop' has no IP: it serves nothing yet.

    const endpoints = async () => (await call(e, 'GET', `${ns}/endpoints/web`)).body;
    const slices = async (): Promise<J[]> => (await call(e, 'GET', `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dweb`)).body.items;
    const sliceView = (items: J[]) => items.flatMap((s) => s.endpoints.map((x: J) => `${x.addresses[0]}:${x.conditions.ready}:${s.ports.find((p: J) => p.name === 'http').port}`)).sort();

    const want1 = [
      { addresses: ['10.64.0.10', '10.64.0.11'], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }, { name: 'metrics', port: 9090, protocol: 'TCP' }] },
      { notReadyAddresses: ['10.64.0.12'], ports: [{ name: 'http', port: 8081, protocol: 'TCP' }, { name: 'metrics', port: 9090, protocol: 'TCP' }] },
    ];
    const epView = (ep: J) => (ep?.subsets ?? []).map((s: J) => {
      const v: J = {};
      if (s.addresses) v.addresses = s.addresses.map((a: J) => a.ip);
      if (s.notReadyAddresses) v.notReadyAddresses = s.notReadyAddresses.map((a: J) => a.ip);
      v.ports = s.ports;
      return v;
    });
    await eventually('endpoints of p0, p1 (ready) and p2 (not ready)', async () => JSON.stringify(epView(await endpoints())) === JSON.stringify(want1));
    const ep = await endpoints();
    t.like(ep.subsets[0].addresses[0], { ip: '10.64.0.10', targetRef: { kind: 'Pod', name: 'p0', namespace: 'default' } });
    await eventually('slices of p0, p1 (ready) and p2 (not ready)', async () => JSON.stringify(sliceView(await slices())) === JSON.stringify(['10.64.0.10:true:8080', '10.64.0.11:true:8080', '10.64.0.12:false:8081']));
    const web = (await call(e, 'GET', `${ns}/services/web`)).body;
    for (const s of await slices()) {
      t.is(s.addressType, 'IPv4');
      t.is(s.metadata.labels['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
      t.like(s.metadata.ownerReferences[0], { kind: 'Service', name: 'web', uid: web.metadata.uid, controller: true });
      t.is(s.endpoints[0].targetRef.kind, 'Pod');
    }

    // p2 becomes ready, p0 goes.
    await setStatus('p2', '10.64.0.12', true);
    t.is((await call(e, 'DELETE', `${ns}/pods/p0`)).status, 200);
    await eventually('endpoints follow', async () => JSON.stringify(epView(await endpoints())) === JSON.stringify([{ addresses: ['10.64.0.11'], ports: want1[0]!.ports }, { addresses: ['10.64.0.12'], ports: want1[1]!.ports }]));
    await eventually('slices follow', async () => JSON.stringify(sliceView(await slices())) === JSON.stringify(['10.64.0.11:true:8080', '10.64.0.12:true:8081']));

    // A service without a selector is the user's: its Endpoints are left as written.
    t.is((await call(e, 'POST', `${ns}/services`, svc('manual', { ports: [{ port: 80 }] }))).status, 201);
    const manual = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'manual' }, subsets: [{ addresses: [{ ip: '192.0.2.1' }], ports: [{ port: 80 }] }] };
    t.is((await call(e, 'POST', `${ns}/endpoints`, manual)).status, 201);

    // The service goes: its Endpoints are deleted, its slices collected.
    t.is((await call(e, 'DELETE', `${ns}/services/web`)).status, 200);
    await eventually('the endpoints are gone', async () => (await call(e, 'GET', `${ns}/endpoints/web`)).status === 404);
    await eventually('the slices are gone', async () => (await slices()).length === 0);
    const m = await call(e, 'GET', `${ns}/endpoints/manual`);
    t.is(m.body.subsets[0].addresses[0].ip, '192.0.2.1');
    t.is((await call(e, 'GET', `/apis/discovery.k8s.io/v1/namespaces/default/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3Dmanual`)).body.items.length, 0);
  } finally {
    await stop(e);
  }
});

// ---------------------------------------------------------------- pure parts

test('range allocator: reserved values, pending values and duplicates', (t) => {
  const a = new RangeAllocator(1, 12, new Set([1, 10]), 0);
  const got = Array.from({ length: 10 }, (_, i) => a.allocate(`s${i}`));
  t.deepEqual([...got].sort((x, y) => x - y), [2, 3, 4, 5, 6, 7, 8, 9, 11, 12]);
  t.throws(() => a.allocate('x'), { message: /no free value/ });
  a.abandon(5, 's3');
  t.is(a.allocate('y'), 5);
  a.claim(7, 'u1');
  a.claim(7, 'u2');
  t.deepEqual(a.others(7, 'u1'), ['u2']);
  a.release(7, 'u1');
  t.false(a.isFree(7));
  t.deepEqual(parseCidr('10.96.0.0/12'), { base: 0x0a600000, size: 2 ** 20 });
  t.throws(() => parseCidr('10.96.0.1/12'), { message: /not a network address/ });
  t.deepEqual(serviceNeeds({ metadata: {}, spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ port: 1, nodePort: 30001 }, { port: 2 }] } }), { clusterIP: true, nodePorts: [1], healthCheckNodePort: true });
  t.deepEqual(serviceNeeds({ metadata: {}, spec: { clusterIP: 'None', ports: [{ port: 1 }] } }), { clusterIP: false, nodePorts: [], healthCheckNodePort: false });
});

test('endpoint slices: endpoints stay in their slice, new ones fill room, at most 100 per slice', (t) => {
  const svcObj = { metadata: { name: 'w', namespace: 'd', uid: 'u' }, spec: { selector: { a: 'b' }, ports: [{ name: 'p', port: 80, targetPort: 80 }] } };
  const pod = (i: number) => ({ metadata: { name: `p${String(i).padStart(3, '0')}`, namespace: 'd', uid: `uid${i}` }, spec: {}, status: { podIP: `10.0.${i >> 8}.${i & 255}`, conditions: [{ type: 'Ready', status: 'True' }] } });
  const pods = Array.from({ length: 250 }, (_, i) => pod(i));
  const first = planSlices([], desiredGroups(svcObj, pods));
  t.deepEqual(first.keep.map((p) => p.endpoints.length), [100, 100, 50]);
  // Stored as planned; then pod 0 goes and two arrive: the first slice takes them.
  const stored = first.keep.map((p, i) => ({ metadata: { name: `w-${i}` }, ports: p.ports, endpoints: p.endpoints }));
  const next = planSlices(stored, desiredGroups(svcObj, [...pods.slice(1), pod(300), pod(301)]));
  t.deepEqual(next.keep.map((p) => [p.name, p.endpoints.length]), [['w-0', 100], ['w-1', 100], ['w-2', 51]]);
  t.is(next.keep[1]!.endpoints, next.keep[1]!.endpoints);
  t.deepEqual(next.keep[1]!.endpoints.map((x: J) => x.targetRef.uid), stored[1]!.endpoints.map((x: J) => x.targetRef.uid));
  // Nothing left: one empty placeholder; the others go.
  const none = planSlices(stored, desiredGroups(svcObj, []));
  t.is(none.keep.length, 1);
  t.is(none.remove.length, 3);
  t.deepEqual(desiredSubsets(svcObj, []).subsets, []);
});
