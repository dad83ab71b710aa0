/**
 * PodInfo and NodeInfo: a pod and a node as the scheduler reads them,
 * compiled once when the informer delivers the object (requests summed,
 * selectors and terms parsed), so that filtering thousands of nodes per pod
 * does no parsing and almost no allocation. Objects from the informer are
 * frozen and shared: nothing here mutates them.
 */
import type { KubeObject } from '../apiserver/index.js';
import { labelSelectorAsSelector, type LabelSelector, nothing, type Selector } from '../apiserver/selectors/index.js';
import { intValue, milliValue } from '../../util/quantity.js';
import type { AffinityTerm, WeightedAffinityTerm } from './types.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
type Labels = Readonly<Record<string, string>>;

/** Requests used for scoring of a container that states none (upstream DefaultMilliCPURequest / DefaultMemoryRequest). */
export const DEFAULT_MILLI_CPU_REQUEST = 100;
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;
export const DEFAULT_SCHEDULER_NAME = 'default-scheduler';

/** CPU in millicores, the rest in their units; `scalar` holds extended resources (GPUs, hugepages, ...). */
export interface Resources {
  milliCpu: number;
  memory: number;
  ephemeralStorage: number;
  scalar: Record<string, number> | null;
}

export function emptyResources(): Resources {
  return { milliCpu: 0, memory: 0, ephemeralStorage: 0, scalar: null };
}

/** Reads a ResourceList (requests, limits, allocatable, overhead). */
export function resourcesOf(list: Json): Resources {
  const r = emptyResources();
  if (!list || typeof list !== 'object') return r;
  for (const [name, q] of Object.entries(list)) addResource(r, name, q);
  return r;
}

function addResource(r: Resources, name: string, q: unknown): void {
  if (name === 'cpu') r.milliCpu += milliValue(q);
  else if (name === 'memory') r.memory += intValue(q);
  else if (name === 'ephemeral-storage') r.ephemeralStorage += intValue(q);
  else if (name !== 'pods') (r.scalar ??= {})[name] = (r.scalar[name] ?? 0) + intValue(q);
}

/** a += sign × b. */
export function addTo(a: Resources, b: Resources, sign = 1): void {
  a.milliCpu += sign * b.milliCpu;
  a.memory += sign * b.memory;
  a.ephemeralStorage += sign * b.ephemeralStorage;
  if (b.scalar) for (const [k, v] of Object.entries(b.scalar)) (a.scalar ??= {})[k] = (a.scalar[k] ?? 0) + sign * v;
}

function maxInto(a: Resources, b: Resources): void {
  a.milliCpu = Math.max(a.milliCpu, b.milliCpu);
  a.memory = Math.max(a.memory, b.memory);
  a.ephemeralStorage = Math.max(a.ephemeralStorage, b.ephemeralStorage);
  if (b.scalar) for (const [k, v] of Object.entries(b.scalar)) (a.scalar ??= {})[k] = Math.max(a.scalar[k] ?? 0, v);
}

function containerRequests(c: Json, nonZero: boolean): Resources {
  const r = resourcesOf(c?.resources?.requests);
  if (!nonZero) return r;
  const req = c?.resources?.requests ?? {};
  if (req.cpu === undefined) r.milliCpu = DEFAULT_MILLI_CPU_REQUEST;
  if (req.memory === undefined) r.memory = DEFAULT_MEMORY_REQUEST;
  return r;
}

/**
 * What a pod asks of a node (upstream resource.PodRequests): the sum of its
 * containers; raised to what any init container needs while it runs (with
 * the restartable "sidecar" init containers started before it); plus the
 * pod overhead. `nonZero` counts an unset CPU/memory request as the scoring
 * defaults, so that empty pods still spread.
 */
export function podRequests(spec: Json, nonZero = false): Resources {
  const sum = emptyResources();
  for (const c of arr(spec?.containers)) addTo(sum, containerRequests(c, nonZero));
  const sidecars = emptyResources();
  const initMax = emptyResources();
  for (const c of arr(spec?.initContainers)) {
    const r = containerRequests(c, nonZero);
    if (c?.restartPolicy === 'Always') {
      addTo(sidecars, r);
      addTo(sum, r);
    } else {
      addTo(r, sidecars);
      maxInto(initMax, r);
    }
  }
  maxInto(sum, initMax);
  if (spec?.overhead) addTo(sum, resourcesOf(spec.overhead));
  return sum;
}

function arr(v: unknown): Json[] {
  return Array.isArray(v) ? v : [];
}

export interface Taint {
  readonly key: string;
  readonly value: string;
  readonly effect: string;
}

export interface Toleration {
  readonly key: string;
  readonly operator: string;
  readonly value: string;
  readonly effect: string;
}

/** Upstream Toleration.ToleratesTaint. */
export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect !== '' && t.effect !== taint.effect) return false;
  if (t.key !== '' && t.key !== taint.key) return false;
  if (t.operator === 'Exists') return true;
  return (t.operator === 'Equal' || t.operator === '') && t.value === taint.value;
}

/** A compiled NodeSelector requirement (In/NotIn/Exists/DoesNotExist/Gt/Lt, on a label or a field). */
interface NodeRequirement {
  readonly key: string;
  readonly operator: string;
  readonly values: readonly string[];
}

/** ORed terms of ANDed requirements; a term with no requirement matches nothing. */
export interface NodeSelectorTerm {
  readonly expressions: readonly NodeRequirement[];
  readonly fields: readonly NodeRequirement[];
}

function compileNodeTerm(t: Json): NodeSelectorTerm {
  const req = (e: Json): NodeRequirement => ({ key: String(e?.key ?? ''), operator: String(e?.operator ?? ''), values: arr(e?.values).map(String) });
  return { expressions: arr(t?.matchExpressions).map(req), fields: arr(t?.matchFields).map(req) };
}

const INTEGER = /^-?[0-9]+$/;

function requirementHolds(r: NodeRequirement, value: string | undefined): boolean {
  switch (r.operator) {
    case 'In':
      return value !== undefined && r.values.includes(value);
    case 'NotIn':
      return value === undefined || !r.values.includes(value);
    case 'Exists':
      return value !== undefined;
    case 'DoesNotExist':
      return value === undefined;
    case 'Gt':
    case 'Lt': {
      if (value === undefined || !INTEGER.test(value) || r.values.length !== 1 || !INTEGER.test(r.values[0]!)) return false;
      const [a, b] = [Number(value), Number(r.values[0])];
      return r.operator === 'Gt' ? a > b : a < b;
    }
    default:
      return false;
  }
}

/** Whether a node matches one term (matchFields knows metadata.name only, as upstream). */
export function nodeTermMatches(t: NodeSelectorTerm, node: NodeInfo): boolean {
  if (t.expressions.length === 0 && t.fields.length === 0) return false;
  for (const r of t.expressions) if (!requirementHolds(r, node.labels[r.key])) return false;
  for (const r of t.fields) if (r.key !== 'metadata.name' || !requirementHolds(r, node.name)) return false;
  return true;
}

export interface TopologySpreadConstraint {
  readonly maxSkew: number;
  readonly topologyKey: string;
  readonly whenUnsatisfiable: 'DoNotSchedule' | 'ScheduleAnyway';
  readonly selector: Selector;
  readonly minDomains: number;
  /** Whether nodes that the pod's node affinity/selector excludes still count as domains ('Ignore') or not ('Honor', default). */
  readonly honorNodeAffinity: boolean;
  /** Whether nodes whose taints the pod does not tolerate are left out ('Honor'; default 'Ignore'). */
  readonly honorNodeTaints: boolean;
}

function compileSelector(ls: Json): Selector {
  try {
    return labelSelectorAsSelector(ls as LabelSelector | null | undefined);
  } catch {
    return nothing(); // validated by the API; an invalid one selects nothing rather than everything
  }
}

function selectorId(s: Selector): string {
  if (s.empty) return '*';
  return s.requirements.length === 0 ? '!' : s.toString();
}

function compileAffinityTerm(t: Json, namespace: string): AffinityTerm {
  const listed = arr(t?.namespaces).map(String);
  const nsSel = t?.namespaceSelector === undefined || t?.namespaceSelector === null ? null : compileSelector(t.namespaceSelector);
  const namespaces = new Set(listed.length === 0 && nsSel === null ? [namespace] : listed);
  const selector = compileSelector(t?.labelSelector);
  const topologyKey = String(t?.topologyKey ?? '');
  const id = JSON.stringify([[...namespaces].sort(), nsSel === null ? null : selectorId(nsSel), selectorId(selector), topologyKey]);
  return { namespaces, namespaceSelector: nsSel, selector, topologyKey, id };
}

function compileWeighted(t: Json, namespace: string): WeightedAffinityTerm {
  return { ...compileAffinityTerm(t?.podAffinityTerm, namespace), weight: Number(t?.weight ?? 0) };
}

/** Upstream's matchLabelKeys: the pod's own values of those keys narrow the selector. */
function withMatchLabelKeys(ls: Json, keys: unknown, labels: Labels): Json {
  const ks = arr(keys).map(String).filter((k) => labels[k] !== undefined);
  if (ks.length === 0 || !ls) return ls;
  return { ...ls, matchExpressions: [...arr(ls.matchExpressions), ...ks.map((k) => ({ key: k, operator: 'In', values: [labels[k]] }))] };
}

function compileSpread(c: Json, labels: Labels): TopologySpreadConstraint {
  return {
    maxSkew: Number(c?.maxSkew ?? 1),
    topologyKey: String(c?.topologyKey ?? ''),
    whenUnsatisfiable: c?.whenUnsatisfiable === 'ScheduleAnyway' ? 'ScheduleAnyway' : 'DoNotSchedule',
    selector: compileSelector(withMatchLabelKeys(c?.labelSelector, c?.matchLabelKeys, labels)),
    minDomains: typeof c?.minDomains === 'number' ? c.minDomains : 1,
    honorNodeAffinity: c?.nodeAffinityPolicy !== 'Ignore',
    honorNodeTaints: c?.nodeTaintsPolicy === 'Honor',
  };
}

let sequence = 0;

/** A pod, compiled for scheduling. */
export class PodInfo {
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly labels: Labels;
  readonly priority: number;
  readonly createdMs: number;
  /** Tie-breaker after creation time: the order the informer saw pods in. */
  readonly seq = ++sequence;
  readonly requests: Resources;
  /** Requests with the scoring defaults for unset CPU/memory. */
  readonly nonZero: Resources;
  /** Whether anything but the pod count is requested (upstream skips the resource checks otherwise). */
  readonly requestsAnything: boolean;
  readonly nodeName: string;
  readonly schedulerName: string;
  readonly terminating: boolean;
  /** Succeeded or Failed: holds no resources any more. */
  readonly terminated: boolean;
  readonly tolerations: readonly Toleration[];
  readonly nodeSelector: Labels | null;
  readonly requiredNodeAffinity: readonly NodeSelectorTerm[] | null;
  readonly preferredNodeAffinity: readonly { weight: number; term: NodeSelectorTerm }[];
  readonly requiredAffinity: readonly AffinityTerm[];
  readonly requiredAntiAffinity: readonly AffinityTerm[];
  readonly preferredAffinity: readonly WeightedAffinityTerm[];
  readonly preferredAntiAffinity: readonly WeightedAffinityTerm[];
  readonly spread: readonly TopologySpreadConstraint[];
  readonly images: readonly string[];

  constructor(readonly pod: KubeObject) {
    const md = pod.metadata;
    const spec: Json = pod.spec ?? {};
    this.namespace = md.namespace ?? '';
    this.name = md.name ?? '';
    this.key = `${this.namespace}/${this.name}`;
    this.labels = (md.labels ?? {}) as Labels;
    this.priority = typeof spec.priority === 'number' ? spec.priority : 0;
    this.createdMs = md.creationTimestamp ? Date.parse(String(md.creationTimestamp)) || 0 : 0;
    this.requests = podRequests(spec);
    this.nonZero = podRequests(spec, true);
    const r = this.requests;
    this.requestsAnything = r.milliCpu > 0 || r.memory > 0 || r.ephemeralStorage > 0 || (r.scalar !== null && Object.values(r.scalar).some((v) => v > 0));
    this.nodeName = typeof spec.nodeName === 'string' ? spec.nodeName : '';
    this.schedulerName = typeof spec.schedulerName === 'string' && spec.schedulerName !== '' ? spec.schedulerName : DEFAULT_SCHEDULER_NAME;
    this.terminating = !!md.deletionTimestamp;
    this.terminated = pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
    this.tolerations = arr(spec.tolerations).map((t) => ({ key: String(t?.key ?? ''), operator: String(t?.operator ?? ''), value: String(t?.value ?? ''), effect: String(t?.effect ?? '') }));
    this.nodeSelector = spec.nodeSelector && Object.keys(spec.nodeSelector).length > 0 ? spec.nodeSelector : null;
    const na = spec.affinity?.nodeAffinity;
    const required = na?.requiredDuringSchedulingIgnoredDuringExecution;
    this.requiredNodeAffinity = required ? arr(required.nodeSelectorTerms).map(compileNodeTerm) : null;
    this.preferredNodeAffinity = arr(na?.preferredDuringSchedulingIgnoredDuringExecution).map((p) => ({ weight: Number(p?.weight ?? 0), term: compileNodeTerm(p?.preference) }));
    const pa = spec.affinity?.podAffinity;
    const paa = spec.affinity?.podAntiAffinity;
    this.requiredAffinity = arr(pa?.requiredDuringSchedulingIgnoredDuringExecution).map((t) => compileAffinityTerm(t, this.namespace));
    this.requiredAntiAffinity = arr(paa?.requiredDuringSchedulingIgnoredDuringExecution).map((t) => compileAffinityTerm(t, this.namespace));
    this.preferredAffinity = arr(pa?.preferredDuringSchedulingIgnoredDuringExecution).map((t) => compileWeighted(t, this.namespace));
    this.preferredAntiAffinity = arr(paa?.preferredDuringSchedulingIgnoredDuringExecution).map((t) => compileWeighted(t, this.namespace));
    this.spread = arr(spec.topologySpreadConstraints).map((c) => compileSpread(c, this.labels));
    this.images = arr(spec.containers).map((c) => String(c?.image ?? '')).filter((i) => i !== '');
  }

  /** Whether the pod has any pod (anti-)affinity at all. */
  get hasPodAffinity(): boolean {
    return this.requiredAffinity.length + this.requiredAntiAffinity.length + this.preferredAffinity.length + this.preferredAntiAffinity.length > 0;
  }

  /** Whether the node satisfies nodeSelector and required node affinity (upstream RequiredNodeAffinity.Match). */
  matchesNodeSelectorAndAffinity(node: NodeInfo): boolean {
    if (this.nodeSelector) for (const [k, v] of Object.entries(this.nodeSelector)) if (node.labels[k] !== v) return false;
    if (this.requiredNodeAffinity === null) return true;
    for (const t of this.requiredNodeAffinity) if (nodeTermMatches(t, node)) return true;
    return false;
  }

  /** Whether the pod tolerates every taint of `node` with one of `effects`. */
  toleratesTaints(node: NodeInfo, effects: readonly string[]): Taint | null {
    for (const taint of node.taints) {
      if (!effects.includes(taint.effect)) continue;
      if (!this.tolerations.some((t) => tolerates(t, taint))) return taint;
    }
    return null;
  }
}

/** Whether an affinity term selects `pod` (namespace and labels). */
export function termMatches(term: AffinityTerm, pod: PodInfo, nsLabels: (ns: string) => Labels | undefined): boolean {
  if (!term.namespaces.has(pod.namespace)) {
    if (term.namespaceSelector === null) return false;
    if (!term.namespaceSelector.empty && !term.namespaceSelector.matches(nsLabels(pod.namespace) ?? {})) return false;
  }
  return term.selector.matches(pod.labels);
}

/** A node with the pods on it and the running sums the resource plugins read. */
export class NodeInfo {
  node: KubeObject | null = null;
  labels: Labels = {};
  taints: readonly Taint[] = [];
  unschedulable = false;
  allocatable: Resources = emptyResources();
  allowedPods = 0;
  /** Sum of the requests of the pods here (assumed or bound, not terminated). */
  readonly requested: Resources = emptyResources();
  readonly nonZeroRequested: Resources = emptyResources();
  readonly pods = new Map<string, PodInfo>();
  /** Pods here with any pod (anti-)affinity: what the affinity plugins look at. */
  readonly podsWithAffinity = new Set<PodInfo>();
  images: ReadonlyMap<string, number> = new Map();
  /** Bumped on every change (for tests and debugging). */
  generation = 0;

  constructor(readonly name: string) {}

  setNode(node: KubeObject): void {
    const spec: Json = node.spec ?? {};
    const status: Json = node.status ?? {};
    this.node = node;
    this.labels = (node.metadata.labels ?? {}) as Labels;
    this.taints = arr(spec.taints).map((t) => ({ key: String(t?.key ?? ''), value: String(t?.value ?? ''), effect: String(t?.effect ?? '') }));
    this.unschedulable = spec.unschedulable === true;
    this.allocatable = resourcesOf(status.allocatable);
    this.allowedPods = intValue(status.allocatable?.pods ?? 0);
    const images = new Map<string, number>();
    for (const img of arr(status.images)) for (const n of arr(img?.names)) images.set(String(n), Number(img?.sizeBytes ?? 0));
    this.images = images;
    this.generation++;
  }

  addPod(p: PodInfo): void {
    this.pods.set(p.key, p);
    addTo(this.requested, p.requests);
    addTo(this.nonZeroRequested, p.nonZero);
    if (p.hasPodAffinity) this.podsWithAffinity.add(p);
    this.generation++;
  }

  removePod(p: PodInfo): boolean {
    if (this.pods.get(p.key) !== p) return false;
    this.pods.delete(p.key);
    addTo(this.requested, p.requests, -1);
    addTo(this.nonZeroRequested, p.nonZero, -1);
    this.podsWithAffinity.delete(p);
    this.generation++;
    return true;
  }
}
