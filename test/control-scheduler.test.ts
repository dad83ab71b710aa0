/**
 * The scheduler: quantities and pod requests; every plugin table-driven
 * against a small cache; the framework's FitError wording and node
 * sampling; the queue's order and backoff; the scheduling loop's assume /
 * forget; and, on a real 3-member store with an API server per member, the
 * Scheduler binding pods through the leader's fenced writes.
 */
import test from 'ava';
import type { KubeObject } from '../src/control/apiserver/index.js';
import {
  CycleState,
  Framework,
  INITIAL_BACKOFF_MS,
  MAX_BACKOFF_MS,
  PodInfo,
  Scheduler,
  SchedulerCache,
  SchedulingLoop,
  SchedulingQueue,
  backoffMs,
  defaultProfile,
  fitErrorMessage,
  intValue,
  milliValue,
  numFeasibleNodesToFind,
  plugins as P,
  podRequests,
  runSchedulerBench,
  type FilterPlugin,
  type PreFilterPlugin,
  type PreScorePlugin,
  type ScorePlugin,
} from '../src/control/scheduler/index.js';
import type { StoreTestCluster } from './helpers/store-cluster.js';
import { type ControlCluster, startControlCluster } from './helpers/control-cluster.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;

// ---------- fixtures ----------

interface NodeOpts {
  cpu?: string;
  memory?: string;
  pods?: string;
  labels?: Record<string, string>;
  taints?: J[];
  unschedulable?: boolean;
  extra?: Record<string, string>;
}

function node(name: string, o: NodeOpts = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...o.labels } },
    spec: { taints: o.taints, unschedulable: o.unschedulable },
    status: { allocatable: { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110', ...o.extra } },
  };
}

function pod(name: string, spec: J = {}, labels: Record<string, string> = {}, namespace = 'default'): KubeObject {
  const { requests, ...rest } = spec;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace, name, labels, creationTimestamp: '2024-01-01T00:00:00Z' },
    spec: { containers: [{ name: 'c', image: 'img', resources: requests ? { requests } : undefined }], ...rest },
  };
}

/** A cache with these nodes, and pods bound as `[nodeName, pod]`. */
function cluster(nodes: KubeObject[], bound: [string, KubeObject][] = []): SchedulerCache {
  const c = new SchedulerCache();
  for (const n of nodes) c.addOrUpdateNode(n);
  for (const [n, p] of bound) c.addOrUpdateBoundPod(new PodInfo({ ...p, spec: { ...p.spec, nodeName: n } }));
  return c;
}

type Plug = Partial<PreFilterPlugin & FilterPlugin & PreScorePlugin & ScorePlugin> & { name: string };

/** The reason(s) the plugin gives for each node ('' = fits). */
function filterAll(plugin: Plug, p: KubeObject, c: SchedulerCache): Record<string, string> {
  const info = new PodInfo(p);
  const state = new CycleState();
  const pre = plugin.preFilter?.(state, info, c);
  const out: Record<string, string> = {};
  for (const n of c.nodes) {
    if (pre && pre.code !== 'Skip') out[n.name] = pre.reasons.join(',');
    else if (pre?.code === 'Skip') out[n.name] = '';
    else out[n.name] = plugin.filter!(state, info, n, c)?.reasons.join(',') ?? '';
  }
  return out;
}

/** Normalised scores per node. */
function scoreAll(plugin: Plug, p: KubeObject, c: SchedulerCache): Record<string, number> {
  const info = new PodInfo(p);
  const state = new CycleState();
  const nodes = c.nodes;
  const skip = plugin.preScore?.(state, info, nodes, c)?.code === 'Skip';
  const scores = new Float64Array(nodes.length);
  if (!skip) {
    nodes.forEach((n, i) => (scores[i] = plugin.score!(state, info, n, c)));
    plugin.normalizeScore?.(state, info, nodes, scores);
  }
  return Object.fromEntries(nodes.map((n, i) => [n.name, scores[i]!]));
}

// ---------- quantities and requests ----------

test('quantities: milli and integer values as upstream rounds them', (t) => {
  const cases: [string, number, number][] = [
    ['100m', 100, 1],
    ['1', 1000, 1],
    ['0.5', 500, 1],
    ['1e3', 1_000_000, 1000],
    ['2k', 2_000_000, 2000],
    ['1Gi', 1024 ** 3 * 1000, 1024 ** 3],
    ['128Mi', 128 * 1024 ** 2 * 1000, 128 * 1024 ** 2],
    ['1.5', 1500, 2],
    ['bogus', 0, 0],
  ];
  for (const [q, milli, int] of cases) {
    t.is(milliValue(q), milli, q);
    t.is(intValue(q), int, q);
  }
});

test('pod requests: containers summed, init containers by maximum, sidecars added, overhead added', (t) => {
  const r = podRequests({
    containers: [{ resources: { requests: { cpu: '100m', memory: '100Mi' } } }, { resources: { requests: { cpu: '200m' } } }],
    initContainers: [{ resources: { requests: { cpu: '1', memory: '50Mi' } } }, { resources: { requests: { memory: '1Gi' } } }],
    overhead: { cpu: '10m', memory: '1Mi' },
  });
  t.is(r.milliCpu, 1010);
  t.is(r.memory, 1024 ** 3 + 1024 ** 2);
  const side = podRequests({
    containers: [{ resources: { requests: { cpu: '500m' } } }],
    initContainers: [{ restartPolicy: 'Always', resources: { requests: { cpu: '200m' } } }, { resources: { requests: { cpu: '600m' } } }],
  });
  t.is(side.milliCpu, 800, 'sidecar runs beside both the init container (200+600) and the app (200+500)');
  const nz = podRequests({ containers: [{}, { resources: { requests: { cpu: '1' } } }] }, true);
  t.is(nz.milliCpu, 1100);
  t.is(nz.memory, 2 * 200 * 1024 ** 2);
  t.deepEqual(podRequests({ containers: [{ resources: { requests: { 'nvidia.com/gpu': '2' } } }] }).scalar, { 'nvidia.com/gpu': 2 });
});

// ---------- filter plugins ----------

test('NodeResourcesFit: cpu, memory, ephemeral-storage, extended resources, pod count, against what is bound', (t) => {
  const c = cluster(
    [node('a', { cpu: '1', memory: '1Gi' }), node('b', { cpu: '4', memory: '512Mi', pods: '1' }), node('c', { cpu: '4', memory: '8Gi', extra: { 'example.com/dongle': '1', 'ephemeral-storage': '1Gi' } })],
    [['b', pod('x', { requests: { cpu: '10m' } })]],
  );
  const cases: [string, J, Record<string, string>][] = [
    ['nothing requested: only the pod count', {}, { a: '', b: 'Too many pods', c: '' }],
    ['cpu', { requests: { cpu: '1500m' } }, { a: 'Insufficient cpu', b: 'Too many pods', c: '' }],
    ['memory', { requests: { memory: '2Gi' } }, { a: 'Insufficient memory', b: 'Too many pods,Insufficient memory', c: '' }],
    ['both', { requests: { cpu: '2', memory: '2Gi' } }, { a: 'Insufficient cpu,Insufficient memory', b: 'Too many pods,Insufficient memory', c: '' }],
    ['extended', { requests: { 'example.com/dongle': '1' } }, { a: 'Insufficient example.com/dongle', b: 'Too many pods,Insufficient example.com/dongle', c: '' }],
    ['ephemeral', { requests: { 'ephemeral-storage': '2Gi' } }, { a: 'Insufficient ephemeral-storage', b: 'Too many pods,Insufficient ephemeral-storage', c: 'Insufficient ephemeral-storage' }],
    ['init containers count by maximum', { requests: { cpu: '100m' }, initContainers: [{ name: 'i', image: 'i', resources: { requests: { cpu: '2' } } }] }, { a: 'Insufficient cpu', b: 'Too many pods', c: '' }],
    ['overhead counts', { requests: { cpu: '900m' }, overhead: { cpu: '200m' } }, { a: 'Insufficient cpu', b: 'Too many pods', c: '' }],
  ];
  for (const [what, spec, want] of cases) t.deepEqual(filterAll(P.nodeResourcesFit(), pod('p', spec), c), want, what);
  // What bound pods request is taken; a terminated pod's is not.
  const busy = cluster([node('a', { cpu: '1' })], [['a', pod('x', { requests: { cpu: '600m' } })]]);
  t.is(filterAll(P.nodeResourcesFit(), pod('p', { requests: { cpu: '500m' } }), busy).a, 'Insufficient cpu');
  const done = pod('x', { requests: { cpu: '600m' } });
  busy.addOrUpdateBoundPod(new PodInfo({ ...done, spec: { ...done.spec, nodeName: 'a' }, status: { phase: 'Succeeded' } }));
  t.is(filterAll(P.nodeResourcesFit(), pod('p', { requests: { cpu: '500m' } }), busy).a, '');
});

test('NodeName, NodeUnschedulable', (t) => {
  const c = cluster([node('a'), node('b', { unschedulable: true })]);
  t.deepEqual(filterAll(P.nodeName(), pod('p', { nodeName: 'a' }), c), { a: '', b: "node(s) didn't match the requested node name" });
  t.deepEqual(filterAll(P.nodeName(), pod('p'), c), { a: '', b: '' });
  t.deepEqual(filterAll(P.nodeUnschedulable(), pod('p'), c), { a: '', b: 'node(s) were unschedulable' });
  const tolerating = { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] };
  t.deepEqual(filterAll(P.nodeUnschedulable(), pod('p', tolerating), c), { a: '', b: '' });
});

test('NodeAffinity: nodeSelector, required terms with every operator and matchFields', (t) => {
  const c = cluster([node('a', { labels: { zone: 'z1', gen: '3' } }), node('b', { labels: { zone: 'z2', gen: '5', gpu: '' } }), node('c')]);
  const req = (...terms: J[]) => ({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms } } } });
  const expr = (key: string, operator: string, values?: string[]) => ({ matchExpressions: [{ key, operator, values }] });
  const cases: [string, J, string[]][] = [
    ['nodeSelector', { nodeSelector: { zone: 'z1' } }, ['a']],
    ['In', req(expr('zone', 'In', ['z1', 'z2'])), ['a', 'b']],
    ['NotIn (absent key matches)', req(expr('zone', 'NotIn', ['z1'])), ['b', 'c']],
    ['Exists', req(expr('gpu', 'Exists')), ['b']],
    ['DoesNotExist', req(expr('gpu', 'DoesNotExist')), ['a', 'c']],
    ['Gt', req(expr('gen', 'Gt', ['4'])), ['b']],
    ['Lt', req(expr('gen', 'Lt', ['4'])), ['a']],
    ['terms are ORed', req(expr('zone', 'In', ['z1']), expr('gpu', 'Exists')), ['a', 'b']],
    ['requirements are ANDed', req({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['z1', 'z2'] }, { key: 'gen', operator: 'Gt', values: ['4'] }] }), ['b']],
    ['matchFields metadata.name', req({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['c'] }] }), ['c']],
    ['an empty term matches nothing', req({}), []],
    ['selector and affinity both apply', { nodeSelector: { zone: 'z2' }, ...req(expr('zone', 'In', ['z1'])) }, []],
  ];
  for (const [what, spec, fits] of cases) {
    const got = filterAll(P.nodeAffinity(), pod('p', spec), c);
    t.deepEqual(Object.keys(got).filter((n) => got[n] === ''), fits, what);
    for (const n of Object.keys(got)) if (got[n] !== '') t.is(got[n], "node(s) didn't match Pod's node affinity/selector");
  }
});

test('TaintToleration: NoSchedule and NoExecute keep out, PreferNoSchedule lowers the score', (t) => {
  const c = cluster([
    node('a'),
    node('b', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }),
    node('c', { taints: [{ key: 'gone', effect: 'NoExecute' }] }),
    node('d', { taints: [{ key: 'meh', value: 'x', effect: 'PreferNoSchedule' }] }),
  ]);
  t.deepEqual(filterAll(P.taintToleration(), pod('p'), c), { a: '', b: 'node(s) had untolerated taint {dedicated: gpu}', c: 'node(s) had untolerated taint {gone: }', d: '' });
  const cases: [string, J[], string[]][] = [
    ['Equal with value', [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }], ['a', 'b', 'd']],
    ['wrong value', [{ key: 'dedicated', operator: 'Equal', value: 'cpu', effect: 'NoSchedule' }], ['a', 'd']],
    ['Exists on key, any effect', [{ key: 'gone', operator: 'Exists' }], ['a', 'c', 'd']],
    ['Exists without key tolerates everything', [{ operator: 'Exists' }], ['a', 'b', 'c', 'd']],
    ['wrong effect', [{ key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }], ['a', 'd']],
  ];
  for (const [what, tolerations, fits] of cases) {
    const got = filterAll(P.taintToleration(), pod('p', { tolerations }), c);
    t.deepEqual(Object.keys(got).filter((n) => got[n] === ''), fits, what);
  }
  t.deepEqual(scoreAll(P.taintToleration(), pod('p'), c), { a: 100, b: 100, c: 100, d: 0 });
  t.deepEqual(scoreAll(P.taintToleration(), pod('p', { tolerations: [{ key: 'meh', operator: 'Exists', effect: 'PreferNoSchedule' }] }), c), { a: 100, b: 100, c: 100, d: 100 });
});

const anti = (selector: J, topologyKey = 'kubernetes.io/hostname', extra: J = {}) => ({ labelSelector: selector, topologyKey, ...extra });
const app = (v: string) => ({ matchLabels: { app: v } });

test('InterPodAffinity filter: required affinity, anti-affinity, existing pods anti-affinity, namespaces', (t) => {
  const zone = (z: string) => ({ 'topology.kubernetes.io/zone': z });
  const nodes = [node('a', { labels: zone('z1') }), node('b', { labels: zone('z1') }), node('c', { labels: zone('z2') }), node('d')];
  const c = cluster(nodes, [
    ['a', pod('db', {}, { app: 'db' })],
    ['c', pod('web', { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [anti(app('batch'), 'topology.kubernetes.io/zone')] } } }, { app: 'web' })],
    ['d', pod('other-ns', {}, { app: 'cache' }, 'elsewhere')],
  ]);
  const aff = (...terms: J[]) => ({ affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: terms } } });
  const antiAff = (...terms: J[]) => ({ affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: terms } } });
  const A = "node(s) didn't match pod affinity rules";
  const AA = "node(s) didn't match pod anti-affinity rules";
  const EA = "node(s) didn't satisfy existing pods anti-affinity rules";
  const cases: [string, KubeObject, Record<string, string>][] = [
    ['affinity to db by zone', pod('p', aff(anti(app('db'), 'topology.kubernetes.io/zone'))), { a: '', b: '', c: A, d: A }],
    ['affinity to db by host', pod('p', aff(anti(app('db')))), { a: '', b: A, c: A, d: A }],
    ['affinity to nothing, pod does not match itself', pod('p', aff(anti(app('nope')))), { a: A, b: A, c: A, d: A }],
    ['first of its group: matches its own term', pod('p', aff(anti(app('new'))), { app: 'new' }), { a: '', b: '', c: '', d: '' }],
    ['anti-affinity to db by zone', pod('p', antiAff(anti(app('db'), 'topology.kubernetes.io/zone'))), { a: AA, b: AA, c: '', d: '' }],
    ['namespaces: other namespace not matched by default', pod('p', antiAff(anti(app('cache')))), { a: '', b: '', c: '', d: '' }],
    ['namespaces listed', pod('p', antiAff(anti(app('cache'), 'kubernetes.io/hostname', { namespaces: ['elsewhere'] }))), { a: '', b: '', c: '', d: AA }],
    ['namespaceSelector {} is every namespace', pod('p', antiAff(anti(app('cache'), 'kubernetes.io/hostname', { namespaceSelector: {} }))), { a: '', b: '', c: '', d: AA }],
    ["existing pod's anti-affinity keeps a batch pod out of its zone", pod('p', {}, { app: 'batch' }), { a: '', b: '', c: EA, d: '' }],
  ];
  for (const [what, p, want] of cases) t.deepEqual(filterAll(P.interPodAffinity(), p, c), want, what);
  // namespaceSelector by labels
  c.setNamespace('elsewhere', { team: 'x' });
  const bySel = pod('p', antiAff(anti(app('cache'), 'kubernetes.io/hostname', { namespaceSelector: { matchLabels: { team: 'x' } } })));
  t.deepEqual(filterAll(P.interPodAffinity(), bySel, c), { a: '', b: '', c: '', d: AA });
});

test('InterPodAffinity score: preferred terms both ways, min-max normalised', (t) => {
  const c = cluster([node('a'), node('b'), node('c')], [
    ['a', pod('x1', {}, { app: 'x' })],
    ['a', pod('x2', {}, { app: 'x' })],
    ['b', pod('x3', {}, { app: 'x' })],
  ]);
  const preferAnti = { affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: anti(app('x')) }] } } };
  t.deepEqual(scoreAll(P.interPodAffinity(), pod('p', preferAnti), c), { a: 0, b: 50, c: 100 });
  const preferAff = { affinity: { podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, podAffinityTerm: anti(app('x')) }] } } };
  t.deepEqual(scoreAll(P.interPodAffinity(), pod('p', preferAff), c), { a: 100, b: 50, c: 0 });
  // An existing pod's preferred anti-affinity against the incoming pod.
  c.addOrUpdateBoundPod(new PodInfo({ ...pod('y', preferAnti, { app: 'y' }), spec: { ...pod('y', preferAnti).spec, nodeName: 'c' } }));
  t.deepEqual(scoreAll(P.interPodAffinity(), pod('p', {}, { app: 'x' }), c), { a: 100, b: 100, c: 0 });
  t.deepEqual(scoreAll(P.interPodAffinity(), pod('p'), c), { a: 0, b: 0, c: 0 });
});

test('PodTopologySpread: maxSkew per zone, missing label, minDomains, node affinity honoured; ScheduleAnyway score', (t) => {
  const zone = (z: string) => ({ zone: z });
  const c = cluster([node('a', { labels: zone('z1') }), node('b', { labels: zone('z1') }), node('c', { labels: zone('z2') }), node('d', { labels: zone('z3') }), node('e')], [
    ['a', pod('w1', {}, { app: 'w' })],
    ['b', pod('w2', {}, { app: 'w' })],
    ['c', pod('w3', {}, { app: 'w' })],
  ]);
  const spread = (extra: J = {}, when = 'DoNotSchedule') => ({ topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: when, labelSelector: app('w'), ...extra }] });
  const S = "node(s) didn't match pod topology spread constraints";
  const L = "node(s) didn't match pod topology spread constraints (missing required label)";
  t.deepEqual(filterAll(P.podTopologySpread(), pod('p', spread(), { app: 'w' }), c), { a: S, b: S, c: S, d: '', e: L });
  t.deepEqual(filterAll(P.podTopologySpread(), pod('p', spread({ maxSkew: 2 }), { app: 'w' }), c), { a: S, b: S, c: '', d: '', e: L });
  // Node affinity excludes z3: its empty domain does not count, so z2 (1) is the minimum and c may take one more.
  const noZ3 = { ...spread(), affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['z1', 'z2'] }] }] } } } };
  t.deepEqual(filterAll(P.podTopologySpread(), pod('p', noZ3, { app: 'w' }), c), { a: S, b: S, c: '', d: '', e: L });
  const ignored = { topologySpreadConstraints: [{ ...spread().topologySpreadConstraints[0], nodeAffinityPolicy: 'Ignore' }], affinity: noZ3.affinity };
  t.deepEqual(filterAll(P.podTopologySpread(), pod('p', ignored, { app: 'w' }), c), { a: S, b: S, c: S, d: '', e: L });
  // minDomains above the number of domains: the minimum counts as 0.
  t.deepEqual(filterAll(P.podTopologySpread(), pod('p', spread({ minDomains: 5, maxSkew: 2 }), { app: 'w' }), c), { a: S, b: S, c: '', d: '', e: L });
  // The pod that does not match its own selector adds nothing.
  t.deepEqual(filterAll(P.podTopologySpread(), pod('p', spread({ maxSkew: 2 }), { app: 'other' }), c), { a: '', b: '', c: '', d: '', e: L });
  const scores = scoreAll(P.podTopologySpread(), pod('p', spread({}, 'ScheduleAnyway'), { app: 'w' }), c);
  t.true(scores.d! > scores.c! && scores.c! > scores.a!, JSON.stringify(scores));
  t.is(scores.a, scores.b);
  t.is(scores.e, 0);
});

// ---------- score plugins ----------

test('NodeResourcesLeastAllocated and BalancedAllocation', (t) => {
  const c = cluster([node('a', { cpu: '4', memory: '4Gi' }), node('b', { cpu: '2', memory: '8Gi' })], [['a', pod('x', { requests: { cpu: '1', memory: '1Gi' } })]]);
  const p = pod('p', { requests: { cpu: '1', memory: '1Gi' } });
  // a: cpu (4-2)/4 = 50, mem (4-2)/4 = 50 → 50; b: cpu (2-1)/2 = 50, mem (8-1)/8 = 87 → 68
  t.deepEqual(scoreAll(P.nodeResourcesLeastAllocated(), p, c), { a: 50, b: 68 });
  // a: fractions 0.5, 0.5 → 100; b: 0.5, 0.125 → 1 − 0.1875 → 81
  t.deepEqual(scoreAll(P.nodeResourcesBalancedAllocation(), p, c), { a: 100, b: 81 });
  t.is(P.leastRequestedScore(5, 4), 0);
  t.is(P.balancedScore([0.2, 0.4, 0.9]), 70);
});

test('NodeAffinity preferred terms score, ImageLocality', (t) => {
  const c = cluster([node('a', { labels: { zone: 'z1', ssd: 'yes' } }), node('b', { labels: { zone: 'z1' } }), node('c')]);
  const pref = (weight: number, key: string) => ({ weight, preference: { matchExpressions: [{ key, operator: 'Exists' }] } });
  const spec = { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [pref(10, 'zone'), pref(30, 'ssd')] } } };
  t.deepEqual(scoreAll(P.nodeAffinity(), pod('p', spec), c), { a: 100, b: 25, c: 0 });
  const withImage = node('i');
  withImage.status.images = [{ names: ['big:1'], sizeBytes: 500 * 1024 * 1024 }];
  const ci = cluster([withImage, node('j')]);
  const s = scoreAll(P.imageLocality(), { ...pod('p'), spec: { containers: [{ name: 'c', image: 'big:1' }] } }, ci);
  t.is(s.i, 23, "500 MB on half the nodes counts as 250 MB");
  t.is(s.j, 0);
});

// ---------- framework ----------

test('framework: FitError message counts reasons per node, as upstream words it', (t) => {
  const fw = new Framework(defaultProfile());
  const c = cluster([node('a', { cpu: '1' }), node('b', { labels: { zone: 'z2' } }), node('c', { labels: { zone: 'z3' } })]);
  const p = new PodInfo(pod('p', { requests: { cpu: '2' }, nodeSelector: { zone: 'z1' } }));
  const p2 = new PodInfo(pod('p', { requests: { cpu: '2' }, affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['z2', 'z3'] }] }] } } } }));
  t.throws(() => fw.schedule(p, c), { message: "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector." });
  t.throws(() => fw.schedule(p2, c), { message: "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector." });
  t.throws(() => fw.schedule(p, cluster([])), { message: '0/0 nodes are available.' });
  t.is(fitErrorMessage(5, new Map([['Too many pods', 2], ['Insufficient memory', 3]])), '0/5 nodes are available: 2 Too many pods, 3 Insufficient memory.');
});

test('framework: adaptive number of feasible nodes, rotation, best score wins', (t) => {
  t.is(numFeasibleNodesToFind(50), 50);
  t.is(numFeasibleNodesToFind(200), 100);
  t.is(numFeasibleNodesToFind(1000), 420);
  t.is(numFeasibleNodesToFind(5000), 500);
  t.is(numFeasibleNodesToFind(100_000), 5000);
  t.is(numFeasibleNodesToFind(1000, 10), 100);
  const nodes = Array.from({ length: 1000 }, (_, i) => node(`n${i}`));
  const c = cluster(nodes);
  const fw = new Framework(defaultProfile(), { random: () => 0.5 });
  const r1 = fw.schedule(new PodInfo(pod('p')), c);
  t.is(r1.evaluated, 420);
  t.is(r1.feasible, 420);
  // A bigger node is preferred by the resource scores when it is among those looked at.
  const c2 = cluster([node('small', { cpu: '1', memory: '1Gi' }), node('big', { cpu: '16', memory: '64Gi' })]);
  t.is(new Framework(defaultProfile()).schedule(new PodInfo(pod('p', { requests: { cpu: '500m', memory: '512Mi' } })), c2).node, 'big');
});

// ---------- queue ----------

test('queue: priority then age; parked pods move on cluster events, respecting backoff', (t) => {
  let now = 1_000_000;
  const q = new SchedulingQueue(P.prioritySort().less, () => now);
  const mk = (name: string, priority: number, created: string) => new PodInfo({ ...pod(name, { priority }), metadata: { namespace: 'default', name, creationTimestamp: created } });
  q.addOrUpdate(mk('low-old', 0, '2024-01-01T00:00:00Z'));
  q.addOrUpdate(mk('high', 10, '2024-01-02T00:00:00Z'));
  q.addOrUpdate(mk('low-new', 0, '2024-01-03T00:00:00Z'));
  q.addOrUpdate(mk('low-old', 0, '2024-01-01T00:00:00Z')); // an update: one entry
  t.deepEqual([q.tryPop()?.name, q.tryPop()?.name, q.tryPop()?.name, q.tryPop()?.name], ['high', 'low-old', 'low-new', undefined]);
  const p = mk('p', 0, '2024-01-01T00:00:00Z');
  q.addUnschedulable(p, new Set(['NodeResourcesFit']));
  t.deepEqual(q.lengths, { active: 0, backoff: 0, unschedulable: 1 });
  q.moveAll(); // within backoff: waits it out
  t.deepEqual(q.lengths, { active: 0, backoff: 1, unschedulable: 0 });
  now += INITIAL_BACKOFF_MS;
  q.flush();
  t.is(q.tryPop()?.name, 'p');
  q.addUnschedulable(p, new Set(['InterPodAffinity']));
  now += 5_000;
  q.moveAll((plugins) => plugins.has('NodeResourcesFit')); // does not help this one
  t.is(q.lengths.unschedulable, 1);
  q.moveAll();
  t.is(q.tryPop()?.name, 'p');
  t.deepEqual([1, 2, 3, 4, 5, 9].map(backoffMs), [1000, 2000, 4000, 8000, MAX_BACKOFF_MS, MAX_BACKOFF_MS]);
});

// ---------- the loop, without a store ----------

test('loop: the next pod sees the assumed one; a failed bind forgets it', async (t) => {
  let fail = false;
  const reports: string[] = [];
  const loop = new SchedulingLoop(
    () => (fail ? Promise.reject(new Error('store down')) : Promise.resolve()),
    (p, m) => {
      reports.push(`${p.name}: ${m}`);
      return Promise.resolve();
    },
  );
  loop.onNode('ADDED', node('a', { cpu: '1' }), undefined);
  const mk = (name: string) => pod(name, { requests: { cpu: '600m' }, schedulerName: 'default-scheduler' });
  loop.onPod('ADDED', mk('p1'), undefined);
  loop.onPod('ADDED', mk('p2'), undefined);
  loop.onPod('ADDED', pod('other', { schedulerName: 'my-scheduler' }), undefined);
  t.is(loop.queue.lengths.active, 2);
  await loop.scheduleOne(loop.queue.tryPop()!);
  t.deepEqual(loop.cache.placement('default/p1'), { node: 'a', assumed: true });
  await loop.scheduleOne(loop.queue.tryPop()!);
  t.deepEqual(reports, ['p2: 0/1 nodes are available: 1 Insufficient cpu.']);
  // p1's bind comes back through the informer: confirmed, not assumed.
  loop.onPod('MODIFIED', { ...mk('p1'), spec: { ...mk('p1').spec, nodeName: 'a' } }, mk('p1'));
  t.deepEqual(loop.cache.placement('default/p1'), { node: 'a', assumed: false });
  // Deleting p1 frees the node and releases p2 (into backoff).
  loop.onPod('DELETED', { ...mk('p1'), spec: { ...mk('p1').spec, nodeName: 'a' } }, undefined);
  t.is(loop.queue.lengths.backoff, 1);
  fail = true;
  const p3 = new PodInfo(mk('p3'));
  await loop.scheduleOne(p3);
  t.is(loop.cache.placement('default/p3'), undefined, 'forgotten after the failed bind');
  t.is(loop.queue.lengths.unschedulable, 1);
});

test('bench body runs and schedules every pod (small)', (t) => {
  const r = runSchedulerBench({ nodes: 300, pods: 600 });
  t.is(r.scheduled, 600);
  t.true(r.pods_per_s > 0);
});

// ---------- integration on a real store ----------

const auth = { Authorization: 'Bearer t' };

/** The shared in-process control plane (test/helpers/control-cluster.ts), named as this file uses it. */
type Env = ControlCluster & { cluster: StoreTestCluster };

async function start(): Promise<Env> {
  const c = await startControlCluster({ controllers: () => [new Scheduler()] });
  return { ...c, cluster: c.store };
}

async function stop(e: Env): Promise<void> {
  await e.close();
}

async function call(e: Env, method: string, path: string, body?: unknown): Promise<{ status: number; body: J }> {
  const headers: Record<string, string> = { ...auth };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(`http://127.0.0.1:${e.apis.get([...e.apis.keys()][0]!)!.port}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function eventually(what: string, f: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!(await f())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const apiNode = (name: string, zone: string, o: NodeOpts = {}) => node(name, { cpu: '2', memory: '4Gi', pods: '10', ...o, labels: { 'topology.kubernetes.io/zone': zone, ...o.labels } });

test('integration: pods are bound where they fit; nginx-ssh replicas spread; an unschedulable pod waits for a node', async (t) => {
  const e = await start();
  try {
    await eventually('default exists', async () => (await call(e, 'GET', '/api/v1/namespaces/default')).status === 200);
    for (const n of [apiNode('n1', 'z1'), apiNode('n2', 'z2'), apiNode('n3', 'z1', { taints: [{ key: 'dedicated', value: 'infra', effect: 'NoSchedule' }] })]) {
      t.is((await call(e, 'POST', '/api/v1/nodes', n)).status, 201);
    }
    const created = await call(e, 'GET', '/api/v1/nodes/n1');
    t.is(created.body.status.allocatable.cpu, '2', 'the API keeps status on create');
    const pods = '/api/v1/namespaces/default/pods';
    const get = async (name: string) => (await call(e, 'GET', `${pods}/${name}`)).body;
    // Plain pods: bound, never onto the tainted node, and together they fit.
    for (let i = 0; i < 4; i++) t.is((await call(e, 'POST', pods, pod(`web-${i}`, { requests: { cpu: '500m', memory: '512Mi' } }))).status, 201);
    await eventually('web pods bound', async () => (await Promise.all([0, 1, 2, 3].map((i) => get(`web-${i}`)))).every((p) => p.spec.nodeName));
    const placed = await Promise.all([0, 1, 2, 3].map((i) => get(`web-${i}`)));
    for (const p of placed) {
      t.not(p.spec.nodeName, 'n3');
      t.like(p.status.conditions.find((c: J) => c.type === 'PodScheduled'), { status: 'True' });
    }
    // The nginx-ssh-deployment example's pods: preferred anti-affinity on the hostname.
    const nginx = (name: string) =>
      pod(
        name,
        {
          affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { labelSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['nginx-ssh'] }] }, topologyKey: 'kubernetes.io/hostname' } }] } },
          containers: [{ name: 'nginx', image: 'nginx', ports: [{ containerPort: 80 }] }, { name: 'ssh', image: 'busybox', ports: [{ containerPort: 81 }], args: ['/bin/sh', '-c', 'sleep 36000'] }],
        },
        { app: 'nginx-ssh' },
      );
    t.is((await call(e, 'POST', pods, nginx('nginx-ssh-1'))).status, 201);
    t.is((await call(e, 'POST', pods, nginx('nginx-ssh-2'))).status, 201);
    await eventually('nginx pods bound', async () => !!(await get('nginx-ssh-1')).spec.nodeName && !!(await get('nginx-ssh-2')).spec.nodeName);
    t.not((await get('nginx-ssh-1')).spec.nodeName, (await get('nginx-ssh-2')).spec.nodeName);
    // Too big for any node, and aimed at zone z3: PodScheduled=False with the reasons.
    t.is((await call(e, 'POST', pods, pod('big', { requests: { cpu: '3' }, nodeSelector: { 'topology.kubernetes.io/zone': 'z1' } }))).status, 201);
    await eventually('big is reported unschedulable', async () => !!(await get('big')).status?.conditions?.some((c: J) => c.type === 'PodScheduled' && c.status === 'False'));
    const cond = (await get('big')).status.conditions.find((c: J) => c.type === 'PodScheduled');
    t.is(cond.reason, 'Unschedulable');
    t.is(cond.message, "0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) had untolerated taint {dedicated: infra}.");
    t.falsy((await get('big')).spec.nodeName);
    // A node where it fits arrives: the pod is bound there.
    t.is((await call(e, 'POST', '/api/v1/nodes', apiNode('n4', 'z1', { cpu: '8' }))).status, 201);
    await eventually('big is bound to n4', async () => (await get('big')).spec.nodeName === 'n4');
    t.like((await get('big')).status.conditions.find((c: J) => c.type === 'PodScheduled'), { status: 'True' });
    // Pods of another scheduler are left alone.
    t.is((await call(e, 'POST', pods, pod('mine', { schedulerName: 'my-scheduler' }))).status, 201);
    await new Promise((r) => setTimeout(r, 300));
    t.falsy((await get('mine')).spec.nodeName);
  } finally {
    await stop(e);
  }
});
