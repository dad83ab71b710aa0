/**
 * The proxy's pure core: Services and EndpointSlices → iptables-restore text
 * and `nft -f` scripts.
 * Table-driven; no host needed.
 */
import test from 'ava';
import {
  DEFAULT_NODE_CONFIG,
  NFT_SHARDS,
  NFT_TABLE,
  ProxyError,
  endpointChainName,
  fullSyncTransactions,
  nftFullSyncTransactions,
  nftObjectName,
  nftPartialSyncTransaction,
  nftPortChains,
  nftPortElements,
  nftPortNames,
  nftPortRules,
  nftPortSets,
  nftShardTable,
  parseNftList,
  parseNftTables,
  parseIptablesSave,
  partialSyncTransaction,
  serviceChainName,
  servicePortRules,
  servicePortsOf,
  sliceInfoOf,
  usableEndpoints,
  type ServicePortInfo,
} from '../src/node/proxy/index.js';
import { probability, writeOwnChains } from '../src/node/proxy/rules.js';
import type { KubeObject } from '../src/control/apiserver/index.js';

const cfg = DEFAULT_NODE_CONFIG;

function svc(name: string, spec: Record<string, unknown>, ns = 'default'): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name }, spec };
}

function slice(service: string, endpoints: { ip: string; ready?: boolean; serving?: boolean; terminating?: boolean }[], ports = [{ name: 'http', port: 8080, protocol: 'TCP' }], ns = 'default'): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: ns, name: `${service}-abc`, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports,
    endpoints: endpoints.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating } })),
  };
}

function port(overrides: Partial<ServicePortInfo> = {}): ServicePortInfo {
  return { name: 'default/web:http', service: 'default/web', portName: 'http', protocol: 'TCP', clusterIP: '10.96.0.50', port: 80, nodePort: 0, affinitySeconds: 0, ...overrides };
}

test('chain names are upstream kube-proxy hashes and stable', (t) => {
  // Values seen on real clusters (kube-proxy iptables mode).
  const cases: [string, 'TCP' | 'UDP', string][] = [
    ['default/kubernetes:https', 'TCP', 'KUBE-SVC-NPX46M4PTMTKRN6Y'],
    ['kube-system/kube-dns:dns', 'UDP', 'KUBE-SVC-TCOU7JCQXEZGVUNU'],
    ['kube-system/kube-dns:dns-tcp', 'TCP', 'KUBE-SVC-ERIFXISQEP7F7OF4'],
    ['kube-system/kube-dns:metrics', 'TCP', 'KUBE-SVC-JD5MR3NA4I4DYORP'],
  ];
  for (const [name, proto, chain] of cases) t.is(serviceChainName(name, proto), chain, name);
  const sep = endpointChainName('default/web:http', 'TCP', '10.244.1.5:8080');
  t.regex(sep, /^KUBE-SEP-[A-Z2-7]{16}$/);
  t.true(sep.length <= 28, 'iptables chain names are at most 28 characters');
  t.is(endpointChainName('default/web:http', 'TCP', '10.244.1.5:8080'), sep);
  t.not(endpointChainName('default/web:http', 'UDP', '10.244.1.5:8080'), sep);
  t.not(endpointChainName('default/web:http', 'TCP', '10.244.1.6:8080'), sep);
});

test('probabilities spread evenly over 1..n endpoints', (t) => {
  const table: [number, string[]][] = [
    [1, []],
    [2, ['0.5000000000']],
    [3, ['0.3333333333', '0.5000000000']],
    [4, ['0.2500000000', '0.3333333333', '0.5000000000']],
    [5, ['0.2000000000', '0.2500000000', '0.3333333333', '0.5000000000']],
  ];
  for (const [n, expected] of table) {
    const eps = Array.from({ length: n }, (_, i) => `10.244.0.${i + 1}:8080`);
    const rules = writeOwnChains(servicePortRules(port(), eps), cfg).rules;
    const probs = [...rules.matchAll(/--probability (\S+)/g)].map((m) => m[1]);
    t.deepEqual(probs, expected, `${n} endpoints`);
    // Every endpoint gets a jump; the last one unconditionally.
    t.is([...rules.matchAll(/^-A KUBE-SVC-\S+ .*-j KUBE-SEP-/gm)].length, n);
    // Each endpoint's chance: p_i * prod(1 - p_j, j < i) = 1/n.
    let rest = 1;
    for (let i = 0; i < n; i++) {
      const p = i < n - 1 ? Number(probability(i, n)) : 1;
      t.true(Math.abs(rest * p - 1 / n) < 1e-9);
      rest *= 1 - p;
    }
  }
});

test('a ClusterIP service port: KUBE-SERVICES jump, masquerade from outside the pod range, DNAT with hairpin mark', (t) => {
  const r = servicePortRules(port(), ['10.244.1.5:8080', '10.244.2.7:8080']);
  const svcChain = serviceChainName('default/web:http', 'TCP');
  t.deepEqual(r.natServices, [`-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.50 --dport 80 -j ${svcChain}`]);
  t.deepEqual(r.natNodePorts, []);
  t.deepEqual(r.filterServices, []);
  const { decl, rules } = writeOwnChains(r, cfg);
  t.is(decl.split('\n').filter(Boolean).length, 3);
  t.true(rules.includes(`-A ${svcChain} -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.50 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ`));
  const sep = endpointChainName('default/web:http', 'TCP', '10.244.1.5:8080');
  t.true(rules.includes(`-A ${sep} -m comment --comment default/web:http -s 10.244.1.5 -j KUBE-MARK-MASQ`));
  t.true(rules.includes(`-A ${sep} -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.1.5:8080`));
});

test('NodePort: KUBE-NODEPORTS → KUBE-EXT (masquerade) → KUBE-SVC; UDP uses udp matches', (t) => {
  const r = servicePortRules(port({ nodePort: 30080, protocol: 'UDP', name: 'default/dns:dns', portName: 'dns' }), ['10.244.1.5:53']);
  t.is(r.natNodePorts.length, 1);
  t.regex(r.natNodePorts[0]!, /^-A KUBE-NODEPORTS -m comment --comment default\/dns:dns -m udp -p udp --dport 30080 -j KUBE-EXT-[A-Z2-7]{16}$/);
  const ext = r.chainNames[r.chainNames.length - 1]!;
  t.true(ext.startsWith('KUBE-EXT-'));
  const { rules } = writeOwnChains(r, cfg);
  t.true(rules.includes(`-A ${ext} -m comment --comment "masquerade traffic for default/dns:dns external destinations" -j KUBE-MARK-MASQ`));
  t.true(rules.includes(`-A ${ext} -j ${r.key}`));
  t.true(rules.includes('-m udp -p udp -j DNAT --to-destination 10.244.1.5:53'));
});

test('session affinity ClientIP: a recent check per endpoint before the spread, a recent set at the DNAT', (t) => {
  const r = servicePortRules(port({ affinitySeconds: 10800 }), ['10.244.1.5:8080', '10.244.2.7:8080']);
  const { rules } = writeOwnChains(r, cfg);
  const lines = rules.split('\n');
  const checks = lines.filter((l) => l.includes('--rcheck --seconds 10800 --reap'));
  const spread = lines.findIndex((l) => l.includes('--probability'));
  t.is(checks.length, 2);
  t.true(lines.indexOf(checks[1]!) < spread, 'sticky jumps come before the random spread');
  for (const sep of r.chainNames.slice(1)) {
    t.true(rules.includes(`-m recent --name ${sep} --rcheck`));
    t.true(rules.includes(`-A ${sep} -m comment --comment default/web:http -m recent --name ${sep} --set -m tcp -p tcp -j DNAT`));
  }
  const obj = servicePortsOf(svc('web', { clusterIP: '10.96.0.50', sessionAffinity: 'ClientIP', ports: [{ name: 'http', port: 80 }] }));
  t.is(obj[0]!.affinitySeconds, 10800, 'upstream default timeout');
  const custom = servicePortsOf(svc('web', { clusterIP: '10.96.0.50', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } }, ports: [{ name: 'http', port: 80 }] }));
  t.is(custom[0]!.affinitySeconds, 60);
});

test('no endpoints: no nat chains, REJECT in filter KUBE-SERVICES (and KUBE-EXTERNAL-SERVICES for a NodePort)', (t) => {
  const r = servicePortRules(port({ nodePort: 30080 }), []);
  t.deepEqual(r.chainNames, []);
  t.deepEqual(r.natServices, []);
  t.deepEqual(r.natNodePorts, []);
  t.deepEqual(r.filterServices, ['-A KUBE-SERVICES -m comment --comment "default/web:http has no endpoints" -m tcp -p tcp -d 10.96.0.50 --dport 80 -j REJECT']);
  t.deepEqual(r.filterExternal, ['-A KUBE-EXTERNAL-SERVICES -m comment --comment "default/web:http has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j REJECT']);
});

test('Service objects: which ports are programmed', (t) => {
  const cases: [string, KubeObject, Partial<ServicePortInfo>[]][] = [
    ['ClusterIP', svc('a', { clusterIP: '10.96.0.1', ports: [{ name: 'http', port: 80 }] }), [{ name: 'default/a:http', protocol: 'TCP', nodePort: 0 }]],
    ['unnamed port', svc('a', { clusterIP: '10.96.0.1', ports: [{ port: 80 }] }), [{ name: 'default/a', portName: '' }]],
    ['NodePort', svc('a', { type: 'NodePort', clusterIP: '10.96.0.1', ports: [{ name: 'x', port: 80, nodePort: 30001 }] }), [{ nodePort: 30001 }]],
    ['nodePort ignored on ClusterIP', svc('a', { clusterIP: '10.96.0.1', ports: [{ name: 'x', port: 80, nodePort: 30001 }] }), [{ nodePort: 0 }]],
    ['TCP and UDP', svc('a', { clusterIP: '10.96.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] }), [{ protocol: 'UDP' }, { protocol: 'TCP' }]],
    ['SCTP skipped', svc('a', { clusterIP: '10.96.0.1', ports: [{ name: 's', port: 80, protocol: 'SCTP' }] }), []],
    ['headless', svc('a', { clusterIP: 'None', ports: [{ port: 80 }] }), []],
    ['ExternalName', svc('a', { type: 'ExternalName', externalName: 'example.com' }), []],
    ['IPv6', svc('a', { clusterIP: 'fd00::1', ports: [{ port: 80 }] }), []],
  ];
  for (const [title, obj, expected] of cases) {
    const got = servicePortsOf(obj);
    t.is(got.length, expected.length, title);
    expected.forEach((e, i) => t.like(got[i], e, title));
  }
  for (const bad of [
    svc('a', { clusterIP: '10.96.0.300', ports: [{ port: 80 }] }),
    svc('a', { clusterIP: '10.96.0.1', ports: [{ port: 0 }] }),
    svc('a', { clusterIP: '10.96.0.1', ports: 'x' }),
  ]) {
    t.throws(() => servicePortsOf(bad), { instanceOf: ProxyError, message: /invalid object/ });
  }
});

test('EndpointSlices: only ready endpoints, terminating-serving as a fallback, merged over slices, port by name', (t) => {
  const sp = port();
  const s1 = sliceInfoOf(slice('web', [{ ip: '10.244.1.5', ready: true }, { ip: '10.244.1.6', ready: false }, { ip: '10.244.1.7' }]), 1000)!;
  const s2 = sliceInfoOf(slice('web', [{ ip: '10.244.2.5', ready: true }, { ip: '10.244.1.5', ready: true }]), 1000)!;
  t.deepEqual(usableEndpoints(sp, [s1, s2]), ['10.244.1.5:8080', '10.244.1.7:8080', '10.244.2.5:8080']);
  const draining = sliceInfoOf(slice('web', [{ ip: '10.244.3.1', ready: false, serving: true, terminating: true }, { ip: '10.244.3.2', ready: false, serving: false, terminating: true }]), 1000)!;
  t.deepEqual(usableEndpoints(sp, [draining]), ['10.244.3.1:8080']);
  t.deepEqual(usableEndpoints(sp, [draining, s2]), ['10.244.1.5:8080', '10.244.2.5:8080'], 'ready ones win over terminating ones');
  const otherPort = sliceInfoOf(slice('web', [{ ip: '10.244.1.5' }], [{ name: 'metrics', port: 9090, protocol: 'TCP' }]), 1000)!;
  t.deepEqual(usableEndpoints(sp, [otherPort]), []);
  const udp = sliceInfoOf(slice('web', [{ ip: '10.244.1.5' }], [{ name: 'http', port: 8080, protocol: 'UDP' }]), 1000)!;
  t.deepEqual(usableEndpoints(sp, [udp]), [], 'protocol must match');
  t.is(sliceInfoOf({ metadata: { namespace: 'default', name: 'x' }, addressType: 'IPv4' } as KubeObject, 1000), null, 'no service-name label');
  t.throws(() => sliceInfoOf(slice('web', [{ ip: '10.244.1.500' }]), 1000), { instanceOf: ProxyError });
  t.throws(() => sliceInfoOf(slice('web', [{ ip: '10.244.1.1' }, { ip: '10.244.1.2' }]), 1), { instanceOf: ProxyError, message: /too many/ });
});

test('full sync: consistent slices, then one transaction with the shared chains, stale chains flushed before -X, filter table', (t) => {
  const rules = [
    servicePortRules(port(), ['10.244.1.5:8080']),
    servicePortRules(port({ name: 'default/b:http', service: 'default/b', clusterIP: '10.96.0.51', nodePort: 30080 }), ['10.244.1.6:8080']),
    servicePortRules(port({ name: 'default/c:http', service: 'default/c', clusterIP: '10.96.0.52' }), []),
  ];
  const txs = [...fullSyncTransactions({ rules, staleNatChains: ['KUBE-SVC-OLDOLDOLDOLDOLD1', 'KUBE-SEP-OLDOLDOLDOLDOLD2'], chunkServicePorts: 1 }, cfg)];
  t.is(txs.length, 3, 'one slice per port with endpoints, then the final transaction');
  t.true(txs[0]!.startsWith('*nat\n:KUBE-POSTROUTING - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n'), 'the fixed chains come first');
  t.true(txs[0]!.includes('-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000'));
  t.true(txs[0]!.includes('-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN'));
  t.false(txs[0]!.includes('KUBE-SERVICES'), 'a slice does not touch the shared chains');
  t.false(txs[1]!.includes('KUBE-SERVICES'));
  const final = txs[2]!;
  const lines = final.split('\n');
  const nodePortJump = lines.findIndex((l) => l.includes('-j KUBE-NODEPORTS'));
  const lastService = lines.map((l, i) => (l.startsWith('-A KUBE-SERVICES') && l.includes('cluster IP') ? i : -1)).reduce((a, b) => Math.max(a, b));
  t.true(nodePortJump > lastService, 'the NodePort jump is the last rule of KUBE-SERVICES');
  t.true(lines.indexOf(':KUBE-SVC-OLDOLDOLDOLDOLD1 - [0:0]') < lines.indexOf('-X KUBE-SVC-OLDOLDOLDOLDOLD1'));
  t.true(final.includes('*filter\n:KUBE-SERVICES - [0:0]\n:KUBE-EXTERNAL-SERVICES - [0:0]\n:KUBE-FORWARD - [0:0]'));
  t.true(final.includes('"default/c:http has no endpoints"'));
  t.is(final.match(/^COMMIT$/gm)!.length, 2);
  const big = [...fullSyncTransactions({ rules, staleNatChains: [], chunkServicePorts: 100 }, cfg)];
  t.is(big.length, 1);
  t.throws(() => [...fullSyncTransactions({ rules, staleNatChains: [], chunkServicePorts: 0 }, cfg)], { instanceOf: ProxyError });
});

test('partial sync picks only the changed service ports', (t) => {
  const a0 = servicePortRules(port(), ['10.244.1.5:8080', '10.244.1.6:8080']);
  const b0 = servicePortRules(port({ name: 'default/b:http', service: 'default/b', clusterIP: '10.96.0.51' }), ['10.244.2.5:8080']);
  const a1 = servicePortRules(port(), ['10.244.1.5:8080', '10.244.1.6:8080']);
  const b1 = servicePortRules(port({ name: 'default/b:http', service: 'default/b', clusterIP: '10.96.0.51' }), ['10.244.2.5:8080', '10.244.2.6:8080']);
  t.is(partialSyncTransaction([[a0, a1]], cfg), null, 'nothing changed');
  const text = partialSyncTransaction([[a0, a1], [b0, b1]], cfg)!;
  t.false(text.includes(a0.key), 'the unchanged service is not touched');
  t.true(text.includes(`:${b1.key} - [0:0]`), 'the changed service chain is rewritten');
  t.false(text.includes('KUBE-SERVICES'), 'same ClusterIP rule: KUBE-SERVICES untouched');
  t.false(text.includes('-X'), 'no chain went away');
  t.false(text.includes('*filter'));

  // An endpoint replaced: its old chain is flushed and deleted after the service chain stops using it.
  const b2 = servicePortRules(port({ name: 'default/b:http', service: 'default/b', clusterIP: '10.96.0.51' }), ['10.244.2.6:8080']);
  const t2 = partialSyncTransaction([[b1, b2]], cfg)!;
  const gone = endpointChainName('default/b:http', 'TCP', '10.244.2.5:8080');
  const l2 = t2.split('\n');
  t.true(l2.indexOf(`:${gone} - [0:0]`) >= 0 && l2.indexOf(`:${gone} - [0:0]`) < l2.indexOf(`-X ${gone}`));

  // Last endpoint gone: KUBE-SERVICES rule deleted by spec, REJECT added in filter, chains deleted.
  const b3 = servicePortRules(port({ name: 'default/b:http', service: 'default/b', clusterIP: '10.96.0.51' }), []);
  const t3 = partialSyncTransaction([[b2, b3]], cfg)!;
  t.true(t3.includes(`-D KUBE-SERVICES -m comment --comment "default/b:http cluster IP" -m tcp -p tcp -d 10.96.0.51 --dport 80 -j ${b2.key}`));
  t.true(t3.includes(`-X ${b2.key}`));
  t.true(t3.includes('*filter\n-A KUBE-SERVICES -m comment --comment "default/b:http has no endpoints"'));

  // Back again: REJECT deleted, KUBE-SERVICES rule inserted at the top (the NodePort jump stays last).
  const t4 = partialSyncTransaction([[b3, b2]], cfg)!;
  t.true(t4.includes(`-I KUBE-SERVICES 1 -m comment --comment "default/b:http cluster IP"`));
  t.true(t4.includes('-D KUBE-SERVICES -m comment --comment "default/b:http has no endpoints"'));

  // A removed service port, and a new one.
  const t5 = partialSyncTransaction([[a0, undefined], [undefined, b0]], cfg)!;
  for (const c of a0.chainNames) t.true(t5.includes(`-X ${c}`));
  t.true(t5.includes(`-I KUBE-SERVICES 1 ${b0.natServices[0]!.slice('-A KUBE-SERVICES '.length)}`));
});

test('iptables-save parsing finds chains and rules per table', (t) => {
  const text = [
    '# Generated by iptables-save v1.8.9 (nf_tables)',
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-SVC-NPX46M4PTMTKRN6Y - [0:0]',
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -j KUBE-SVC-NPX46M4PTMTKRN6Y',
    'COMMIT',
    '*filter',
    ':INPUT ACCEPT [0:0]',
    'COMMIT',
  ].join('\n');
  const tables = parseIptablesSave(text);
  t.deepEqual([...tables.keys()], ['nat', 'filter']);
  t.deepEqual([...tables.get('nat')!.chains.keys()], ['PREROUTING', 'KUBE-SERVICES', 'KUBE-SVC-NPX46M4PTMTKRN6Y']);
  t.is(tables.get('nat')!.rules.get('KUBE-SERVICES')!.length, 1);
  t.is(tables.get('nat')!.chains.get('PREROUTING'), 'ACCEPT');
});

// ---------------------------------------------------------------------------
// nftables mode: the same service ports as `nft -f` scripts (nft-rules.ts)

test('nft: names are upstream-shaped, stable, sharded by hash, and valid nft identifiers', (t) => {
  const r = servicePortRules(port({ nodePort: 30080, affinitySeconds: 60 }), ['10.244.1.5:8080', '10.244.2.7:8080']);
  const n = nftPortNames(r);
  t.regex(n.service, /^service-[A-Z2-7]{8}-default\/web\/tcp\/http$/);
  t.is(n.external, n.service.replace(/^service-/, 'external-'));
  t.deepEqual(n.affinitySets.map((s) => s.replace(/^affinity-[A-Z2-7]{8}-/, '')), ['default/web/tcp/http__10.244.1.5/8080', 'default/web/tcp/http__10.244.2.7/8080']);
  t.deepEqual(nftPortNames(r), n, 'stable');
  t.regex(n.table, new RegExp(`^ip ${NFT_TABLE}-\\d+$`));
  t.is(nftPortNames(servicePortRules(port({ protocol: 'UDP' }), [])).service === n.service, false, 'the protocol is part of the name');
  // Spread: 200 ports land in (nearly) every shard.
  const shards = new Set(Array.from({ length: 200 }, (_, i) => nftPortNames(servicePortRules(port({ name: `default/s${i}:http`, service: `default/s${i}` }), ['10.244.0.1:80'])).table));
  t.is(shards.size, NFT_SHARDS);
  // Characters outside nft's identifier set are replaced; the hash keeps names apart.
  const odd = nftPortNames(servicePortRules(port({ name: 'we ird/x:p', service: 'we ird/x' }), ['10.244.0.1:80']));
  t.regex(odd.service, /^service-[A-Z2-7]{8}-we_ird\/x\/tcp\/http$/);
  t.deepEqual(nftPortChains(servicePortRules(port(), [])), [], 'no endpoints: no chains');
  t.deepEqual(nftPortChains(r), [`${n.table} ${n.service}`, `${n.table} ${n.external}`]);
});

test('nft: a service port: masquerade from outside the pod range, 1/N numgen cascade, DNAT; NodePort via external chain', (t) => {
  const eps = ['10.244.1.5:8080', '10.244.2.7:8080', '10.244.3.9:8080'];
  const r = servicePortRules(port({ nodePort: 30080 }), eps);
  const n = nftPortNames(r);
  const rules = nftPortRules(r, cfg);
  const S = `add rule ${n.table} ${n.service} `;
  t.deepEqual(rules, [
    `${S}ip saddr != 10.244.0.0/16 jump mark-for-masquerade`,
    `${S}numgen random mod 3 0 meta l4proto tcp dnat to 10.244.1.5:8080`,
    `${S}numgen random mod 2 0 meta l4proto tcp dnat to 10.244.2.7:8080`,
    `${S}meta l4proto tcp dnat to 10.244.3.9:8080`,
    `add rule ${n.table} ${n.external} jump mark-for-masquerade`,
    `add rule ${n.table} ${n.external} goto ${n.service}`,
  ]);
  t.deepEqual(nftPortElements(r), [
    [`${n.table} service-ips`, '10.96.0.50 . tcp . 80', `goto ${n.service}`],
    [`${n.table} service-nodeports`, 'tcp . 30080', `goto ${n.external}`],
  ]);
  const udp = nftPortRules(servicePortRules(port({ protocol: 'UDP', port: 53 }), ['10.244.1.5:53']), cfg);
  t.true(udp[1]!.endsWith('meta l4proto udp dnat to 10.244.1.5:53'));
});

test('nft: ClientIP affinity: a sticky DNAT per endpoint first, every DNAT refreshes the endpoint\'s set', (t) => {
  const r = servicePortRules(port({ affinitySeconds: 60 }), ['10.244.1.5:8080', '10.244.2.7:8080']);
  const n = nftPortNames(r);
  const rules = nftPortRules(r, cfg).map((l) => l.slice(`add rule ${n.table} ${n.service} `.length));
  const [a, b] = n.affinitySets;
  t.deepEqual(rules.slice(1), [
    `ip saddr @${a} meta l4proto tcp update @${a} { ip saddr } dnat to 10.244.1.5:8080`,
    `ip saddr @${b} meta l4proto tcp update @${b} { ip saddr } dnat to 10.244.2.7:8080`,
    `numgen random mod 2 0 meta l4proto tcp update @${a} { ip saddr } dnat to 10.244.1.5:8080`,
    `meta l4proto tcp update @${b} { ip saddr } dnat to 10.244.2.7:8080`,
  ]);
  const full = [...nftFullSyncTransactions({ rules: [r], staleChains: [], staleSets: [], recreateSets: new Set(), chunkServicePorts: 10, hairpinIPs: [] }, cfg)].join('');
  t.true(full.includes(`add set ${n.table} ${a} { type ipv4_addr ; flags dynamic,timeout ; timeout 60s ; }`));
});

test('nft: no endpoints: no chains, elements in the no-endpoint maps that go to reject', (t) => {
  const r = servicePortRules(port({ nodePort: 30080 }), []);
  t.deepEqual(nftPortRules(r, cfg), []);
  t.deepEqual(nftPortElements(r), [
    [`ip ${NFT_TABLE} no-endpoint-services`, '10.96.0.50 . tcp . 80', 'goto reject-chain'],
    [`ip ${NFT_TABLE} no-endpoint-nodeports`, 'tcp . 30080', 'goto reject-chain'],
  ]);
});

test('nft: full sync: base declared first without flushing; shared chains, maps and the hairpin set rewritten last; stale objects deleted after', (t) => {
  const rules = [
    servicePortRules(port(), ['10.244.1.5:8080']),
    servicePortRules(port({ name: 'default/b:http', service: 'default/b', clusterIP: '10.96.0.51', nodePort: 30080 }), ['10.244.1.6:8080', '10.244.1.5:8080']),
    servicePortRules(port({ name: 'default/c:http', service: 'default/c', clusterIP: '10.96.0.52' }), []),
  ];
  const stale = `${nftShardTable(3)} service-OLDOLDOL-default/old/tcp/http`;
  const staleSet = `${nftShardTable(3)} affinity-OLDOLDOL-default/old/tcp/http__10.244.9.9/80`;
  const txs = [...nftFullSyncTransactions({ rules, staleChains: [stale], staleSets: [staleSet], recreateSets: new Set(), chunkServicePorts: 1, hairpinIPs: ['10.244.1.5', '10.244.1.6', '10.244.1.5'] }, cfg)];
  t.is(txs.length, 3, 'one per port with endpoints, then the final one');
  t.true(txs[0]!.startsWith(`add table ip ${NFT_TABLE}\n`));
  t.false(/^flush (map|set)/m.test(txs[0]!), 'the first transaction flushes no shared map');
  t.true(txs[0]!.includes(`add table ${nftShardTable(NFT_SHARDS - 1)}`), 'every shard is declared');
  t.true(txs[0]!.includes('add chain ip skiff-proxy nat-postrouting { type nat hook postrouting priority srcnat ; }'));
  t.true(txs[0]!.includes(`add chain ${nftShardTable(0)} nat-output { type nat hook output priority -100 ; }`));
  const final = txs[2]!.split('\n');
  const idx = (l: string): number => final.indexOf(l);
  t.true(idx(`flush map ${nftShardTable(0)} service-ips`) >= 0);
  t.true(idx('flush set ip skiff-proxy hairpin-endpoints') < final.findIndex((l) => l.startsWith('add element ip skiff-proxy hairpin-endpoints')));
  t.true(final.includes('add element ip skiff-proxy hairpin-endpoints { 10.244.1.5 . 10.244.1.5, 10.244.1.6 . 10.244.1.6 }'), 'one element per address');
  t.true(final.includes('add element ip skiff-proxy no-endpoint-services { 10.96.0.52 . tcp . 80 : goto reject-chain }'));
  t.true(final.includes('add rule ip skiff-proxy masquerading ct status dnat ip saddr . ip daddr @hairpin-endpoints jump mark-for-masquerade'));
  t.true(final.includes('add rule ip skiff-proxy masquerading masquerade fully-random'));
  t.true(idx(`flush chain ${stale}`) < idx(`delete chain ${stale}`));
  t.true(final.findLastIndex((l) => l.startsWith('add element')) < idx(`delete chain ${stale}`), 'stale chains go after the maps stop pointing at them');
  t.true(idx(`delete set ${staleSet}`) > idx(`delete chain ${stale}`));
  t.is([...nftFullSyncTransactions({ rules, staleChains: [], staleSets: [], recreateSets: new Set(), chunkServicePorts: 100, hairpinIPs: [] }, cfg)].length, 1);
  t.throws(() => [...nftFullSyncTransactions({ rules, staleChains: [], staleSets: [], recreateSets: new Set(), chunkServicePorts: 0, hairpinIPs: [] }, cfg)], { instanceOf: ProxyError });
});

test('nft: partial sync touches only the changed ports: elements replaced, chains rewritten, unused ones deleted last', (t) => {
  const b = (eps: string[], o: Partial<ServicePortInfo> = {}) => servicePortRules(port({ name: 'default/b:http', service: 'default/b', clusterIP: '10.96.0.51', ...o }), eps);
  const a0 = servicePortRules(port(), ['10.244.1.5:8080']);
  t.is(nftPartialSyncTransaction([[a0, servicePortRules(port(), ['10.244.1.5:8080'])]], cfg), null, 'nothing changed');

  // An endpoint replaced: the chain is flushed and rewritten; the map element stays.
  const b1 = b(['10.244.2.5:8080', '10.244.2.6:8080']);
  const b2 = b(['10.244.2.6:8080', '10.244.2.7:8080']);
  const n = nftPortNames(b1);
  const t1 = nftPartialSyncTransaction([[a0, a0], [b1, b2]], cfg, { add: ['10.244.2.7'], del: ['10.244.2.5'] })!;
  t.false(t1.includes(nftPortNames(a0).service), 'the unchanged port is not touched');
  const l1 = t1.split('\n');
  t.true(l1.indexOf(`flush chain ${n.table} ${n.service}`) < l1.findIndex((l) => l.includes('dnat to 10.244.2.7:8080')));
  t.false(t1.includes('service-ips'), 'same ClusterIP: no element change');
  t.false(t1.includes('delete chain'));
  t.is(l1[0], 'delete element ip skiff-proxy hairpin-endpoints { 10.244.2.5 . 10.244.2.5 }');
  t.true(l1.includes('add element ip skiff-proxy hairpin-endpoints { 10.244.2.7 . 10.244.2.7 }'));

  // Last endpoint gone: element moved to the no-endpoint map, chains deleted after the element is.
  const b3 = b([]);
  const l3 = nftPartialSyncTransaction([[b2, b3]], cfg)!.split('\n');
  t.is(l3[0], `delete element ${n.table} service-ips { 10.96.0.51 . tcp . 80 }`);
  t.true(l3.includes(`add element ip ${NFT_TABLE} no-endpoint-services { 10.96.0.51 . tcp . 80 : goto reject-chain }`));
  t.is(l3[l3.length - 2], `delete chain ${n.table} ${n.service}`);
  t.is(l3[l3.length - 1], '');

  // Back again, and affinity switched on: the set is added before the rules that use it.
  const b4 = b(['10.244.2.6:8080'], { affinitySeconds: 30 });
  const l4 = nftPartialSyncTransaction([[b3, b4]], cfg)!.split('\n');
  const set = nftPortSets(b4)[0]!;
  t.true(l4.indexOf(`add set ${set} { type ipv4_addr ; flags dynamic,timeout ; timeout 30s ; }`) < l4.findIndex((l) => l.includes(`@${nftObjectName(set)}`)));
  t.true(l4.indexOf(`add chain ${n.table} ${n.service}`) >= 0);
  t.true(l4.includes(`delete element ip ${NFT_TABLE} no-endpoint-services { 10.96.0.51 . tcp . 80 }`));

  // Timeout changed: the set is deleted after its users are flushed, then re-added.
  const b5 = b(['10.244.2.6:8080'], { affinitySeconds: 90 });
  const l5 = nftPartialSyncTransaction([[b4, b5]], cfg)!.split('\n');
  t.true(l5.indexOf(`flush chain ${n.table} ${n.service}`) < l5.indexOf(`delete set ${set}`));
  t.true(l5.indexOf(`delete set ${set}`) < l5.indexOf(`add set ${set} { type ipv4_addr ; flags dynamic,timeout ; timeout 90s ; }`));
});

test('nft: listings: our tables, chains and sets only', (t) => {
  const text = [
    'table ip other {', '\tchain service-AAAAAAAA-x/y/tcp/ {', '\t}', '}',
    `table ip ${NFT_TABLE} {`, '\tchain masquerading {', '\t}', '}',
    `table ip ${NFT_TABLE}-3 {`, '\tchain nat-output {', '\t\ttype nat hook output priority dstnat; policy accept;', '\t}', '\tchain service-AAAAAAAA-x/y/tcp/ {', '\t}', '\tset affinity-BBBBBBBB-x/y/tcp/__10.0.0.1/80 {', '\t}', '}',
    `table ip ${NFT_TABLE}-extra {`, '\tchain c {', '\t}', '}',
  ].join('\n');
  t.deepEqual(parseNftList(text, 'chain'), [`ip ${NFT_TABLE} masquerading`, `ip ${NFT_TABLE}-3 nat-output`, `ip ${NFT_TABLE}-3 service-AAAAAAAA-x/y/tcp/`]);
  t.deepEqual(parseNftList(text, 'set'), [`ip ${NFT_TABLE}-3 affinity-BBBBBBBB-x/y/tcp/__10.0.0.1/80`]);
  t.deepEqual(parseNftTables(text), [`ip ${NFT_TABLE}`, `ip ${NFT_TABLE}-3`]);
});
