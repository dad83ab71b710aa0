/**
 * Cluster DNS: the wire codec (round trips, malformed input), the zone (the
 * Kubernetes DNS spec's records, NODATA vs NXDOMAIN), the server on loopback
 * queried by Node's own resolver (c-ares: UDP, then TCP after TC), and the
 * pod resolv.conf rules. Loopback only: no gate.
 */
import test from 'ava';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { promises as dnsp } from 'node:dns';
import {
  CLASS_IN, DnsServer, RCode, RRType, Zone, decodeMessage, emptyMessage, encodeMessage, formatResolvConf, isDnsError, podDnsConfig,
  parseResolvConf, reverseName, type DnsErrorCode, type DnsMessage, type NodeDnsSettings, type ResourceRecord,
} from '../src/node/dns/index.js';
import { bytesToIpv6, ipv6ToBytes } from '../src/node/dns/wire.js';
import { Prng } from '../src/util/prng.js';

// ------------------------------------------------------------------ fixtures

function service(name: string, spec: Record<string, unknown>, ns = 'default') {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec };
}

type Ep = { ip: string; hostname?: string; ready?: boolean };
function slice(name: string, svc: string, eps: Ep[], ports = [{ name: 'http', port: 8080, protocol: 'TCP' }], ns = 'default') {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name, namespace: ns, labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4', ports,
    endpoints: eps.map((e) => ({ addresses: [e.ip], ...(e.hostname ? { hostname: e.hostname } : {}), conditions: { ready: e.ready ?? true } })),
  };
}

function sampleZone(): Zone {
  const z = new Zone();
  z.onService('ADDED', service('web', { clusterIP: '10.96.0.20', clusterIPs: ['10.96.0.20'], ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { port: 9090 }] }));
  z.onService('ADDED', service('db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] }));
  z.onEndpointSlice('ADDED', slice('db-a', 'db', [{ ip: '10.244.1.5', hostname: 'db-0' }, { ip: '10.244.2.6', hostname: 'db-1' }, { ip: '10.244.2.7', ready: false }], [{ name: 'pg', port: 5432, protocol: 'TCP' }]));
  z.onService('ADDED', service('ext', { type: 'ExternalName', externalName: 'www.example.com.' }));
  return z;
}

function records(res: ReturnType<Zone['lookup']>): ResourceRecord[] {
  if (res.kind !== 'answer') throw new Error('not an answer');
  return res.answers;
}

function rcodeOf(z: Zone, name: string, type: number = RRType.A): number {
  const r = z.lookup(name, type);
  return r.kind === 'answer' ? r.rcode : -1;
}

// ------------------------------------------------------------------ wire

test('wire: a message with every record type round-trips, and names compress', (t) => {
  const m: DnsMessage = {
    ...emptyMessage(0xbeef), qr: true, aa: true, rd: true, ra: true, rcode: RCode.NXDOMAIN,
    questions: [{ name: 'Web.default.svc.cluster.local', type: RRType.A, class: CLASS_IN }],
    answers: [
      { name: 'web.default.svc.cluster.local', type: RRType.A, class: CLASS_IN, ttl: 5, data: { kind: 'A', address: '10.96.0.20' } },
      { name: 'web.default.svc.cluster.local', type: RRType.AAAA, class: CLASS_IN, ttl: 5, data: { kind: 'AAAA', address: 'fd00::20' } },
      { name: '_http._tcp.web.default.svc.cluster.local', type: RRType.SRV, class: CLASS_IN, ttl: 5, data: { kind: 'SRV', priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' } },
      { name: '20.0.96.10.in-addr.arpa', type: RRType.PTR, class: CLASS_IN, ttl: 5, data: { kind: 'NAME', target: 'web.default.svc.cluster.local' } },
      { name: 'ext.default.svc.cluster.local', type: RRType.CNAME, class: CLASS_IN, ttl: 5, data: { kind: 'NAME', target: 'www.example.com' } },
      { name: 'dns-version.cluster.local', type: RRType.TXT, class: CLASS_IN, ttl: 5, data: { kind: 'TXT', texts: ['1.0.1', 'two'] } },
      { name: 'odd\\.label.\\000x.cluster.local', type: 99, class: CLASS_IN, ttl: 7, data: { kind: 'raw', bytes: Uint8Array.from([1, 2, 3]) } },
    ],
    authority: [{ name: 'cluster.local', type: RRType.SOA, class: CLASS_IN, ttl: 5, data: { kind: 'SOA', soa: { mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', serial: 42, refresh: 7200, retry: 1800, expire: 86400, minimum: 5 } } }],
    additional: [],
    edns: { udpSize: 1232, version: 0, dnssecOk: true },
  };
  const bytes = encodeMessage(m);
  t.deepEqual(decodeMessage(bytes), m);
  // Every name after the first points into it, except the SRV target (RFC 2782: never compressed).
  const count = (label: string) => bytes.toString('latin1').split(String.fromCharCode(label.length) + label).length - 1;
  t.is(count('cluster'), 2);
  t.is(count('default'), 2);
  t.is(count('web'), 2, 'the answers\' "web" differs in case from the question\'s "Web": kept exactly');
  // The extended rcode travels in the OPT record.
  const bad = { ...emptyMessage(1), qr: true, rcode: RCode.BADVERS, edns: { udpSize: 512, version: 0, dnssecOk: false } };
  t.is(decodeMessage(encodeMessage(bad)).rcode, RCode.BADVERS);
});

test('wire: IPv6 addresses in RFC 5952 text', (t) => {
  for (const [input, text] of [
    ['::', '::'], ['::1', '::1'], ['fe80::1', 'fe80::1'], ['2001:DB8:0:0:8:800:200C:417A', '2001:db8::8:800:200c:417a'],
    ['1:0:0:1:0:0:0:1', '1:0:0:1::1'], ['::ffff:10.0.0.1', '::ffff:a00:1'], ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'], ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
  ] as const) t.is(bytesToIpv6(ipv6ToBytes(input)), text, input);
  t.is(reverseName('fd00::1'), `1.${'0.'.repeat(29)}d.f.ip6.arpa`);
  t.is(reverseName('10.96.0.10'), '10.0.96.10.in-addr.arpa');
});

function raw(...parts: (number[] | Buffer)[]): Buffer {
  return Buffer.concat(parts.map((p) => Buffer.from(p)));
}
const HDR = (qd: number, an = 0, ns = 0, ar = 0) => [0x12, 0x34, 0x01, 0x00, 0, qd, 0, an, 0, ns, 0, ar];
const QTAIL = [0, 1, 0, 1];

test('wire: malformed messages get typed errors', (t) => {
  const label63 = [63, ...new Array<number>(63).fill(0x61)];
  const cases: [string, Buffer, DnsErrorCode][] = [
    ['short header', raw([0x12, 0x34, 0x01]), 'DNS_ERR_TRUNCATED'],
    ['question cut in its name', raw(HDR(1), [3, 0x77, 0x77]), 'DNS_ERR_TRUNCATED'],
    ['question without type', raw(HDR(1), [1, 0x61, 0]), 'DNS_ERR_TRUNCATED'],
    ['pointer to itself', raw(HDR(1), [0xc0, 12], QTAIL), 'DNS_ERR_POINTER_LOOP'],
    ['pointer forwards', raw(HDR(1), [0xc0, 14, 1, 0x61, 0], QTAIL), 'DNS_ERR_POINTER_LOOP'],
    ['two names pointing at each other', raw(HDR(2), [1, 0x61, 0xc0, 18], QTAIL, [1, 0x62, 0xc0, 12], QTAIL), 'DNS_ERR_POINTER_LOOP'],
    ['name over 255 octets', raw(HDR(1), label63, label63, label63, label63, [0], QTAIL), 'DNS_ERR_NAME_TOO_LONG'],
    ['extended label type', raw(HDR(1), [0x41, 0x61, 0], QTAIL), 'DNS_ERR_BAD_LABEL_TYPE'],
    ['A with 5 octets', raw(HDR(0, 1), [0, 0, 1, 0, 1, 0, 0, 0, 5, 0, 5, 1, 2, 3, 4, 5]), 'DNS_ERR_BAD_RDATA'],
    ['rdata past the end', raw(HDR(0, 1), [0, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2]), 'DNS_ERR_TRUNCATED'],
    ['two OPT records', raw(HDR(0, 0, 0, 2), [0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0], [0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0]), 'DNS_ERR_BAD_OPT'],
    ['OPT in the answer section', raw(HDR(0, 1), [0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0]), 'DNS_ERR_BAD_OPT'],
    ['bytes after the last record', raw(HDR(1), [1, 0x61, 0], QTAIL, [9]), 'DNS_ERR_TRAILING_BYTES'],
  ];
  for (const [what, bytes, code] of cases) {
    const e = t.throws(() => decodeMessage(bytes), undefined, what);
    t.true(isDnsError(e, code), `${what}: ${String(e)}`);
  }
  // Encoding refuses what the wire cannot carry.
  const enc = (name: string) => encodeMessage({ ...emptyMessage(1), questions: [{ name, type: 1, class: 1 }] });
  t.true(isDnsError(t.throws(() => enc(`${'a'.repeat(64)}.x`)), 'DNS_ERR_BAD_LABEL'));
  t.true(isDnsError(t.throws(() => enc('a..b')), 'DNS_ERR_BAD_LABEL'));
  t.true(isDnsError(t.throws(() => enc(Array.from({ length: 5 }, () => 'b'.repeat(63)).join('.'))), 'DNS_ERR_NAME_TOO_LONG'));
  const big: ResourceRecord[] = Array.from({ length: 300 }, () => ({ name: '', type: 99, class: 1, ttl: 0, data: { kind: 'raw', bytes: new Uint8Array(250) } }));
  t.true(isDnsError(t.throws(() => encodeMessage({ ...emptyMessage(1), answers: big })), 'DNS_ERR_MESSAGE_TOO_LARGE'));
  t.true(isDnsError(t.throws(() => encodeMessage({ ...emptyMessage(1), answers: [{ name: 'a', type: 1, class: 1, ttl: 0, data: { kind: 'A', address: '1.2.3' } }] })), 'DNS_ERR_BAD_ADDRESS'));
});

test('wire: random and mutated bytes only ever raise DnsError (seeded)', (t) => {
  const seed = 20240601;
  const rng = new Prng(seed);
  const valid = encodeMessage({ ...emptyMessage(7), questions: [{ name: '_http._tcp.web.default.svc.cluster.local', type: RRType.SRV, class: 1 }], answers: records(sampleZone().lookup('_pg._tcp.db.default.svc.cluster.local', RRType.SRV)), edns: { udpSize: 1232, version: 0, dnssecOk: false } });
  let decoded = 0;
  for (let i = 0; i < 3000; i++) {
    const b = Buffer.from(valid);
    const flips = rng.range(1, 4);
    for (let f = 0; f < flips; f++) b[rng.int(b.length)] = rng.int(256);
    const input = rng.chance(0.3) ? b.subarray(0, rng.int(b.length)) : b;
    try {
      decodeMessage(input);
      decoded++;
    } catch (e) {
      if (!isDnsError(e)) t.fail(`seed ${seed} case ${i}: ${String(e)}`);
    }
  }
  t.log(`seed ${seed}: ${decoded} of 3000 mutations still decoded`);
  t.pass();
});

// ------------------------------------------------------------------ zone

test('zone: the records of the Kubernetes DNS spec', (t) => {
  const z = sampleZone();
  const a = (name: string) => records(z.lookup(name, RRType.A)).map((r) => (r.data as { address?: string; target?: string }).address ?? (r.data as { target: string }).target);
  t.deepEqual(a('web.default.svc.cluster.local'), ['10.96.0.20']);
  t.deepEqual(a('WEB.Default.svc.cluster.local.'), ['10.96.0.20'], 'case-insensitive, trailing dot');
  t.is(records(z.lookup('WEB.default.svc.cluster.local', RRType.A))[0]!.name, 'WEB.default.svc.cluster.local', 'owner echoes the question');
  t.deepEqual(a('db.default.svc.cluster.local'), ['10.244.1.5', '10.244.2.6'], 'headless: ready endpoints only');
  t.deepEqual(a('db-0.db.default.svc.cluster.local'), ['10.244.1.5']);
  t.deepEqual(a('ext.default.svc.cluster.local'), ['www.example.com'], 'ExternalName: CNAME');
  t.deepEqual(a('10-244-3-4.kube-system.pod.cluster.local'), ['10.244.3.4']);
  const srv = records(z.lookup('_http._tcp.web.default.svc.cluster.local', RRType.SRV)).map((r) => r.data);
  t.deepEqual(srv, [{ kind: 'SRV', priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' }]);
  const hsrv = z.lookup('_pg._tcp.db.default.svc.cluster.local', RRType.SRV);
  t.deepEqual(records(hsrv).map((r) => r.data.kind === 'SRV' && `${r.data.port} ${r.data.target}`), ['5432 db-0.db.default.svc.cluster.local', '5432 db-1.db.default.svc.cluster.local']);
  t.is(hsrv.kind === 'answer' ? hsrv.additional.length : -1, 2, 'SRV targets\' addresses in additional');
  t.deepEqual(records(z.lookup('20.0.96.10.in-addr.arpa', RRType.PTR)).map((r) => r.data), [{ kind: 'NAME', target: 'web.default.svc.cluster.local' }]);
  t.deepEqual(records(z.lookup('5.1.244.10.in-addr.arpa', RRType.PTR)).map((r) => r.data), [{ kind: 'NAME', target: 'db-0.db.default.svc.cluster.local' }]);
  t.deepEqual(records(z.lookup('dns-version.cluster.local', RRType.TXT)).map((r) => r.data), [{ kind: 'TXT', texts: ['1.0.1'] }]);
  t.is(records(z.lookup('cluster.local', RRType.SOA))[0]!.type, RRType.SOA);
});

test('zone: NXDOMAIN for missing names, NODATA (SOA in authority) for other types and empty non-terminals', (t) => {
  const z = sampleZone();
  const rc = (name: string, type: number = RRType.A) => {
    const r = z.lookup(name, type);
    if (r.kind !== 'answer') return 'outside';
    t.is(r.authority[0]?.type as number | undefined, r.answers.length === 0 ? RRType.SOA : undefined, `${name} authority`);
    return r.answers.length > 0 ? 'answer' : RCode[r.rcode];
  };
  const table: [string, number, string][] = [
    ['nope.default.svc.cluster.local', RRType.A, 'NXDOMAIN'],
    ['web.nope.svc.cluster.local', RRType.A, 'NXDOMAIN'],
    ['web.default.svc.cluster.local', RRType.AAAA, 'NOERROR'],
    ['web.default.svc.cluster.local', RRType.SRV, 'NOERROR'],
    ['default.svc.cluster.local', RRType.A, 'NOERROR'],
    ['svc.cluster.local', RRType.A, 'NOERROR'],
    ['_tcp.web.default.svc.cluster.local', RRType.SRV, 'NOERROR'],
    ['_9090._tcp.web.default.svc.cluster.local', RRType.SRV, 'NXDOMAIN'],
    ['10-244-2-7.db.default.svc.cluster.local', RRType.A, 'NXDOMAIN'],
    ['10-244-1-5.db.default.svc.cluster.local', RRType.A, 'NXDOMAIN'],
    ['cluster.local', RRType.A, 'NOERROR'],
    ['example.com', RRType.A, 'outside'],
    ['1.2.3.4.in-addr.arpa', RRType.PTR, 'outside'],
    ['web.default.svc.cluster.local.default.svc.cluster.local', RRType.A, 'NXDOMAIN'],
  ];
  for (const [name, type, want] of table) t.is(rc(name, type), want, `${name} ${RRType[type]}`);
});

test('zone: events update the records; removal undoes everything', (t) => {
  const z = sampleZone();
  const ips = (name: string) => records(z.lookup(name, RRType.A)).map((r) => (r.data as { address: string }).address);
  // An endpoint becomes ready, a second slice appears, a pod without hostname gets a dashed name.
  z.onEndpointSlice('MODIFIED', slice('db-a', 'db', [{ ip: '10.244.1.5', hostname: 'db-0' }, { ip: '10.244.2.7' }], [{ name: 'pg', port: 5432, protocol: 'TCP' }]));
  z.onEndpointSlice('ADDED', slice('db-b', 'db', [{ ip: '10.244.3.8' }], [{ name: 'pg', port: 5432, protocol: 'TCP' }]));
  t.deepEqual(ips('db.default.svc.cluster.local').sort(), ['10.244.1.5', '10.244.2.7', '10.244.3.8']);
  t.deepEqual(ips('10-244-2-7.db.default.svc.cluster.local'), ['10.244.2.7']);
  t.is(rcodeOf(z, 'db-1.db.default.svc.cluster.local'), RCode.NXDOMAIN, 'db-1 left the slice');
  // publishNotReadyAddresses includes unready endpoints.
  z.onEndpointSlice('MODIFIED', slice('db-b', 'db', [{ ip: '10.244.3.8', ready: false }], [{ name: 'pg', port: 5432, protocol: 'TCP' }]));
  t.false(ips('db.default.svc.cluster.local').includes('10.244.3.8'));
  z.onService('MODIFIED', service('db', { clusterIP: 'None', publishNotReadyAddresses: true }));
  t.true(ips('db.default.svc.cluster.local').includes('10.244.3.8'));
  // A Service changed from ClusterIP to ExternalName.
  z.onService('MODIFIED', service('web', { type: 'ExternalName', externalName: 'other.example' }));
  t.is(records(z.lookup('web.default.svc.cluster.local', RRType.A))[0]!.type, RRType.CNAME);
  t.is(z.lookup('20.0.96.10.in-addr.arpa', RRType.PTR).kind, 'outside');
  // Deleting everything leaves an empty zone: the namespace is gone too.
  for (const n of ['web', 'db', 'ext']) z.onService('DELETED', service(n, {}));
  for (const n of ['db-a', 'db-b']) z.onEndpointSlice('DELETED', slice(n, 'db', []));
  t.deepEqual(z.stats().names, 0);
  t.is(rcodeOf(z, 'default.svc.cluster.local'), RCode.NXDOMAIN);
  // A headless Service without ready endpoints does not exist (spec 2.4.1).
  z.onService('ADDED', service('lonely', { clusterIP: 'None' }));
  t.is(rcodeOf(z, 'lonely.default.svc.cluster.local'), RCode.NXDOMAIN);
});

test('zone: invalid objects and size limits give typed errors', (t) => {
  const z = new Zone({ maxServices: 2, maxEndpointSlices: 1, maxEndpointsPerSlice: 3 });
  const code = (f: () => void) => {
    const e = t.throws(f);
    return isDnsError(e) ? e.code : String(e);
  };
  t.is(code(() => z.onService('ADDED', { metadata: { name: 'x' } } as never)), 'DNS_ERR_INVALID_OBJECT');
  t.is(code(() => z.onService('ADDED', service('Bad_Name', { clusterIP: '10.96.0.1' }))), 'DNS_ERR_INVALID_OBJECT');
  t.is(code(() => z.onService('ADDED', service('e', { type: 'ExternalName' }))), 'DNS_ERR_INVALID_OBJECT');
  t.is(code(() => z.onEndpointSlice('ADDED', { metadata: { name: 's', namespace: 'default' }, endpoints: [] })), 'DNS_ERR_INVALID_OBJECT');
  t.is(code(() => z.onEndpointSlice('ADDED', slice('s', 'a', [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }, { ip: '10.0.0.3' }, { ip: '10.0.0.4' }]))), 'DNS_ERR_INVALID_OBJECT');
  z.onService('ADDED', service('a', { clusterIP: '10.96.0.1' }));
  z.onService('ADDED', service('b', { clusterIP: '10.96.0.2' }));
  z.onService('MODIFIED', service('b', { clusterIP: '10.96.0.3' }));
  t.is(code(() => z.onService('ADDED', service('c', { clusterIP: '10.96.0.4' }))), 'DNS_ERR_ZONE_FULL');
  z.onEndpointSlice('ADDED', slice('s1', 'a', [{ ip: '10.0.0.1' }]));
  t.is(code(() => z.onEndpointSlice('ADDED', slice('s2', 'a', [{ ip: '10.0.0.1' }]))), 'DNS_ERR_ZONE_FULL');
  t.deepEqual(z.stats().services, 2);
  t.is(code(() => new Zone({ domain: 'bad domain' })), 'DNS_ERR_BAD_OPTIONS');
});

// ------------------------------------------------------------------ server

async function withServer(t: { teardown(f: () => Promise<void>): void }, zone: Zone, opts: Partial<Parameters<typeof DnsServer.start>[0]> = {}) {
  const server = await DnsServer.start({ zone, listenAddresses: ['127.0.0.1'], port: 0, ...opts });
  t.teardown(() => server.close());
  const resolver = new dnsp.Resolver({ timeout: 3000, tries: 2 });
  resolver.setServers([`127.0.0.1:${server.port}`]);
  return { server, resolver };
}

async function rejectsCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

test('server: Node\'s resolver gets A, SRV, PTR, headless, NXDOMAIN, NODATA, REFUSED over UDP', async (t) => {
  const { server, resolver } = await withServer(t, sampleZone());
  t.deepEqual(await resolver.resolve4('web.default.svc.cluster.local'), ['10.96.0.20']);
  t.deepEqual(await resolver.resolveSrv('_http._tcp.web.default.svc.cluster.local'), [{ name: 'web.default.svc.cluster.local', port: 80, priority: 0, weight: 100 }]);
  t.deepEqual((await resolver.resolve4('db.default.svc.cluster.local')).sort(), ['10.244.1.5', '10.244.2.6']);
  t.deepEqual(await resolver.reverse('10.96.0.20'), ['web.default.svc.cluster.local']);
  t.deepEqual(await resolver.resolveCname('ext.default.svc.cluster.local'), ['www.example.com']);
  t.is(await rejectsCode(resolver.resolve4('nope.default.svc.cluster.local')), 'ENOTFOUND');
  t.is(await rejectsCode(resolver.resolve6('web.default.svc.cluster.local')), 'ENODATA');
  t.is(await rejectsCode(resolver.resolve4('example.com')), 'EREFUSED');
  t.true(server.count('udp', 'NOERROR') >= 5);
  t.is(server.count('udp', 'NXDOMAIN'), 1);
  t.regex(server.registry.render(), /skiff_dns_requests_total\{proto="udp",rcode="REFUSED"\} 1/);
});

test('server: EndpointSlice changes show in the next answer', async (t) => {
  const zone = sampleZone();
  const { resolver } = await withServer(t, zone, { zone });
  t.deepEqual((await resolver.resolve4('db.default.svc.cluster.local')).sort(), ['10.244.1.5', '10.244.2.6']);
  zone.onEndpointSlice('MODIFIED', slice('db-a', 'db', [{ ip: '10.244.9.9', hostname: 'db-0' }], [{ name: 'pg', port: 5432, protocol: 'TCP' }]));
  t.deepEqual(await resolver.resolve4('db.default.svc.cluster.local'), ['10.244.9.9']);
  t.deepEqual(await resolver.resolve4('db-0.db.default.svc.cluster.local'), ['10.244.9.9']);
  t.deepEqual(await resolver.resolveSrv('_pg._tcp.db.default.svc.cluster.local'), [{ name: 'db-0.db.default.svc.cluster.local', port: 5432, priority: 0, weight: 100 }]);
  zone.onEndpointSlice('DELETED', slice('db-a', 'db', []));
  t.is(await rejectsCode(resolver.resolve4('db.default.svc.cluster.local')), 'ENOTFOUND');
});

test('server: a large headless answer is truncated over UDP and fetched over TCP by c-ares', async (t) => {
  const zone = new Zone();
  zone.onService('ADDED', service('big', { clusterIP: 'None', ports: [{ name: 'http', port: 80 }] }));
  const eps = Array.from({ length: 400 }, (_, i) => ({ ip: `10.244.${i >> 8}.${i & 255}` }));
  zone.onEndpointSlice('ADDED', slice('big-1', 'big', eps.slice(0, 200)));
  zone.onEndpointSlice('ADDED', slice('big-2', 'big', eps.slice(200)));
  const { server, resolver } = await withServer(t, zone);
  const got = await resolver.resolve4('big.default.svc.cluster.local');
  t.is(got.length, 400);
  t.deepEqual(new Set(got), new Set(eps.map((e) => e.ip)));
  t.true(server.registry.render().includes('skiff_dns_truncated_total 1'));
  t.is(server.count('tcp', 'NOERROR'), 1);
  t.is((await resolver.resolveSrv('_http._tcp.big.default.svc.cluster.local')).length, 400);
});

/** Waits `waitMs` for an answer (long enough for a loaded 2-core machine; short where a drop is expected). */
function udpQuery(port: number, msg: Buffer, waitMs = 3000): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(null);
    }, waitMs);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m);
    });
    s.send(msg, port, '127.0.0.1');
  });
}

function query(name: string, type: number, extra: Partial<DnsMessage> = {}): Buffer {
  return encodeMessage({ ...emptyMessage(0x4242), rd: true, questions: [{ name, type, class: CLASS_IN }], ...extra });
}

test('server: FORMERR, NOTIMP, BADVERS, drops, and the UDP size limits', async (t) => {
  const zone = new Zone();
  zone.onService('ADDED', service('big', { clusterIP: 'None' }));
  zone.onEndpointSlice('ADDED', slice('big-1', 'big', Array.from({ length: 60 }, (_, i) => ({ ip: `10.244.0.${i + 1}` }))));
  const { server } = await withServer(t, zone);
  const ask = async (b: Buffer, waitMs?: number) => {
    const r = await udpQuery(server.port, b, waitMs);
    return r && decodeMessage(r);
  };
  const pointerLoop = raw(HDR(1), [0xc0, 12], QTAIL);
  const formerr = await ask(pointerLoop);
  t.is(formerr?.rcode, RCode.FORMERR);
  t.is(formerr?.id, 0x1234);
  t.is((await ask(raw(HDR(2), [0], QTAIL, [0], QTAIL)))?.rcode, RCode.FORMERR, 'two questions');
  t.is((await ask(raw([0x12, 0x34, 0x28, 0x00, 0, 1, 0, 0, 0, 0, 0, 0], [0], QTAIL)))?.rcode, RCode.NOTIMP, 'UPDATE opcode');
  t.is((await ask(query('big.default.svc.cluster.local', RRType.A, { edns: { udpSize: 4096, version: 1, dnssecOk: false } })))?.rcode, RCode.BADVERS);
  t.is(await ask(raw([1, 2, 3]), 300), null, 'shorter than a header: dropped');
  t.is(await ask(raw([0x12, 0x34, 0x81, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]), 300), null, 'a response: dropped');
  t.is((await ask(query('x.cluster.local', RRType.A)))?.id, 0x4242, 'the id echoed');
  // 60 A records: about 1 KB. Without EDNS: over 512, TC. With EDNS 1232: fits.
  const plain = await ask(query('big.default.svc.cluster.local', RRType.A));
  t.true(plain?.tc);
  t.is(plain?.answers.length, 0);
  const edns = await ask(query('big.default.svc.cluster.local', RRType.A, { edns: { udpSize: 1232, version: 0, dnssecOk: false } }));
  t.false(edns?.tc);
  t.is(edns?.answers.length, 60);
  t.is(edns?.edns?.udpSize, 1232);
  t.true(edns?.aa);
  t.true(server.registry.render().includes('skiff_dns_dropped_total 2'));
});

function tcpExchange(port: number, msgs: Buffer[], opts: { split?: boolean } = {}): Promise<DnsMessage[]> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    const out: DnsMessage[] = [];
    // A server closing a connection it refuses may reset it: that ends the exchange like a close.
    sock.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? resolve(out) : reject(e)));
    sock.on('connect', () => {
      const framed = Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 255]), m])));
      if (!opts.split) sock.write(framed);
      else for (let i = 0; i < framed.length; i++) sock.write(framed.subarray(i, i + 1)); // one byte at a time
    });
    sock.on('data', (c) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        out.push(decodeMessage(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (out.length === msgs.length) {
        sock.end();
        resolve(out);
      }
    });
    sock.on('close', () => resolve(out));
  });
}

test('server: TCP framing, pipelining, idle timeout and connection limit', async (t) => {
  const { server: plain } = await withServer(t, sampleZone());
  const answers = await tcpExchange(plain.port, [query('web.default.svc.cluster.local', RRType.A), query('nope.default.svc.cluster.local', RRType.A)], { split: true });
  t.deepEqual(answers.map((a) => RCode[a.rcode]).sort(), ['NOERROR', 'NXDOMAIN']);
  // Two idle connections fill the limit; a third is closed at once; the idle ones time out.
  const { server } = await withServer(t, sampleZone(), { tcpIdleTimeoutMs: 300, maxTcpConnections: 2 });
  const idle = [connect({ host: '127.0.0.1', port: server.port }), connect({ host: '127.0.0.1', port: server.port })];
  const closedAt = idle.map((s) => new Promise<number>((r) => s.on('close', () => r(Date.now()))));
  for (const s of idle) s.on('error', () => undefined);
  await Promise.all(idle.map((s) => new Promise((r) => s.on('connect', r))));
  await new Promise((r) => setTimeout(r, 50));
  const t0 = Date.now();
  t.deepEqual(await tcpExchange(server.port, [query('web.default.svc.cluster.local', RRType.A)]), [], 'over the limit: closed');
  const closed = await Promise.all(closedAt);
  t.true(closed.every((c) => c - t0 < 5000), 'idle connections closed by the timeout');
  await new Promise((r) => setTimeout(r, 50)); // the server sees the closes
  t.deepEqual((await tcpExchange(server.port, [query('web.default.svc.cluster.local', RRType.A)])).length, 1, 'room again');
});

test('server: an answer over 64 KiB is cut to what fits over TCP, with TC', async (t) => {
  const zone = new Zone({ maxAnswerRecords: 5000 });
  zone.onService('ADDED', service('huge', { clusterIP: 'None', ports: [{ name: 'http', port: 80 }] }));
  for (let s = 0; s < 5; s++) {
    const eps = Array.from({ length: 1000 }, (_, i) => ({ ip: `10.245.${s}.${i & 255}`, hostname: `host-${s}-${i}` }));
    zone.onEndpointSlice('ADDED', slice(`huge-${s}`, 'huge', eps));
  }
  const { server } = await withServer(t, zone);
  const [srv] = await tcpExchange(server.port, [query('_http._tcp.huge.default.svc.cluster.local', RRType.SRV)]);
  t.true(srv!.tc);
  t.true(srv!.answers.length > 500 && srv!.answers.length < 5000, `${srv!.answers.length} answers`);
  const [a] = await tcpExchange(server.port, [query('huge.default.svc.cluster.local', RRType.A)]);
  t.false(a!.tc, '1280 distinct addresses, 16 octets each: fits');
  t.is(a!.answers.length, 5 * 256);
});

test('server: forwarding names outside the zone to an upstream (a second server of ours on loopback)', async (t) => {
  const upstreamZone = new Zone({ domain: 'upstream.test' });
  upstreamZone.onService('ADDED', service('api', { clusterIP: '10.1.2.3' }));
  const { server: upstream } = await withServer(t, upstreamZone);
  const { server, resolver } = await withServer(t, sampleZone(), { forwarders: [`127.0.0.1:${upstream.port}`], forwardTimeoutMs: 500 });
  t.deepEqual(await resolver.resolve4('api.default.svc.upstream.test'), ['10.1.2.3']);
  t.is(await rejectsCode(resolver.resolve4('nope.default.svc.upstream.test')), 'ENOTFOUND');
  t.is(await rejectsCode(resolver.resolve4('elsewhere.example')), 'EREFUSED', 'the upstream refuses: relayed');
  const [overTcp] = await tcpExchange(server.port, [query('api.default.svc.upstream.test', RRType.A)]);
  t.deepEqual(overTcp!.answers.map((r) => r.data), [{ kind: 'A', address: '10.1.2.3' }]);
  t.is(overTcp!.id, 0x4242, 'the client\'s id restored');
  t.true(server.registry.render().includes('skiff_dns_forwarded_total 4'));
  // An upstream that never answers: SERVFAIL after the timeout.
  const silent = createSocket('udp4');
  await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => silent.close(() => r())));
  const { resolver: r2 } = await withServer(t, sampleZone(), { forwarders: [`127.0.0.1:${silent.address().port}`], forwardTimeoutMs: 200 });
  t.is(await rejectsCode(r2.resolve4('x.example')), 'ESERVFAIL');
  t.true(isDnsError(await DnsServer.start({ zone: sampleZone(), port: 0, forwarders: ['not-an-ip'] }).catch((e: unknown) => e), 'DNS_ERR_BAD_OPTIONS'));
});

// ------------------------------------------------------------------ resolv.conf

const NODE: NodeDnsSettings = { clusterDNS: ['10.96.0.10'], clusterDomain: 'cluster.local', hostResolvConf: 'nameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch corp.example.\noptions edns0 timeout:2\n', nodeIPs: ['192.0.2.10'] };
const pod = (spec: Record<string, unknown>, ns = 'team-a') => ({ metadata: { name: 'p', namespace: ns }, spec });

test('resolv: ClusterFirst, Default, None and dnsConfig merges as kubelet forms them', (t) => {
  const table: [string, Record<string, unknown>, Partial<NodeDnsSettings>, string][] = [
    ['ClusterFirst (default policy)', {}, {}, 'search team-a.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n'],
    ['ClusterFirst, no host resolv.conf', { dnsPolicy: 'ClusterFirst' }, { hostResolvConf: null }, 'search team-a.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n'],
    ['ClusterFirst on hostNetwork falls back to Default', { hostNetwork: true }, {}, 'search corp.example\nnameserver 192.0.2.1\nnameserver 192.0.2.2\noptions edns0 timeout:2\n'],
    ['ClusterFirstWithHostNet', { hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }, {}, 'search team-a.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\noptions ndots:5\n'],
    ['ClusterFirst without cluster DNS falls back to Default', {}, { clusterDNS: [] }, 'search corp.example\nnameserver 192.0.2.1\nnameserver 192.0.2.2\noptions edns0 timeout:2\n'],
    ['Default without host resolv.conf', { dnsPolicy: 'Default' }, { hostResolvConf: null }, 'search .\nnameserver 127.0.0.1\n'],
    ['None', { dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1'], searches: ['a.example'], options: [{ name: 'ndots', value: '2' }] } }, {}, 'search a.example\nnameserver 1.1.1.1\noptions ndots:2\n'],
    [
      'dnsConfig appended, deduped, options overridden',
      { dnsConfig: { nameservers: ['10.96.0.10', '10.0.0.53'], searches: ['svc.cluster.local', 'extra.example.'], options: [{ name: 'ndots', value: '1' }, { name: 'single-request' }] } },
      {},
      'search team-a.svc.cluster.local svc.cluster.local cluster.local corp.example extra.example\nnameserver 10.96.0.10\nnameserver 10.0.0.53\noptions ndots:1 single-request\n',
    ],
    [
      'nameservers cut at 3 after the merge',
      { dnsPolicy: 'Default', dnsConfig: { nameservers: ['10.0.0.1', '10.0.0.2'] } },
      {},
      'search corp.example\nnameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 10.0.0.1\noptions edns0 timeout:2\n',
    ],
  ];
  for (const [what, spec, node, want] of table) t.is(formatResolvConf(podDnsConfig(pod(spec), { ...NODE, ...node })), want, what);
  // Searches past 32 are cut (the host's line contributes 31 here).
  const manySearch = `search ${Array.from({ length: 31 }, (_, i) => `d${i}.example`).join(' ')}\n`;
  const cut = podDnsConfig(pod({}), { ...NODE, hostResolvConf: manySearch });
  t.is(cut.searches.length, 32);
  t.is(cut.searches[3], 'd0.example');
  // Over 2048 characters: cut from the end.
  const long = `search ${Array.from({ length: 20 }, (_, i) => `${'x'.repeat(150)}${i}.example`).join(' ')}\n`;
  const fit = podDnsConfig(pod({}), { ...NODE, hostResolvConf: long });
  t.true(fit.searches.join(' ').length <= 2048);
  t.is(fit.searches[0], 'team-a.svc.cluster.local');
  t.deepEqual(parseResolvConf('# c\nnameserver 1.1.1.1\nsearch a b\nsearch c.\noptions x\nnameserver 8.8.8.8\n'), { servers: ['1.1.1.1', '8.8.8.8'], searches: ['c'], options: ['x'] });
});

test('resolv: invalid pod DNS settings get DNS_ERR_RESOLV_INVALID', (t) => {
  const bad: [string, Record<string, unknown>][] = [
    ['unknown policy', { dnsPolicy: 'Sometimes' }],
    ['None without dnsConfig', { dnsPolicy: 'None' }],
    ['None without nameservers', { dnsPolicy: 'None', dnsConfig: { searches: ['a.example'] } }],
    ['nameserver not an IP', { dnsConfig: { nameservers: ['dns.example'] } }],
    ['four nameservers', { dnsConfig: { nameservers: ['1.1.1.1', '1.1.1.2', '1.1.1.3', '1.1.1.4'] } }],
    ['search not a subdomain', { dnsConfig: { searches: ['Bad_Domain'] } }],
    ['33 searches', { dnsConfig: { searches: Array.from({ length: 33 }, (_, i) => `s${i}.example`) } }],
    ['option without a name', { dnsConfig: { options: [{ value: '1' }] } }],
    ['dnsConfig not an object', { dnsConfig: 'x' }],
  ];
  for (const [what, spec] of bad) t.true(isDnsError(t.throws(() => podDnsConfig(pod(spec), NODE)), 'DNS_ERR_RESOLV_INVALID'), what);
  t.true(isDnsError(t.throws(() => podDnsConfig(pod({}), { ...NODE, clusterDNS: ['ten'] })), 'DNS_ERR_RESOLV_INVALID'));
  t.true(isDnsError(t.throws(() => parseResolvConf('nameserver\n')), 'DNS_ERR_RESOLV_INVALID'));
});
