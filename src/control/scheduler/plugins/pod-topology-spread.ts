/**
 * PodTopologySpread. For each constraint, the pods matching its selector (in
 * the pod's namespace, not terminating) are counted per value of its
 * topology key, over the nodes eligible for the pod (node affinity honoured,
 * taints ignored by default). DoNotSchedule: placing the pod in a domain
 * must not make that domain exceed the emptiest one by more than maxSkew
 * (with fewer than minDomains domains the emptiest counts as 0).
 * ScheduleAnyway: fewer matching pods in the node's domain scores higher,
 * each constraint weighted by log(number of domains + 2).
 * Cluster-level default constraints (from Services/ReplicaSets) are not
 * applied: only the pod's own constraints count.
 */
import type { NodeInfo, PodInfo, TopologySpreadConstraint } from '../pod-info.js';
import type { AffinityTerm, CycleState, FilterPlugin, PreFilterPlugin, PreScorePlugin, ScorePlugin, Snapshot, Status } from '../types.js';
import { MAX_NODE_SCORE, SKIP, unschedulable } from '../types.js';

export const POD_TOPOLOGY_SPREAD = 'PodTopologySpread';
export const ERR_SPREAD = "node(s) didn't match pod topology spread constraints";
export const ERR_SPREAD_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)";
const SKEW: Status = unschedulable(ERR_SPREAD);
const MISSING_LABEL: Status = unschedulable(ERR_SPREAD_LABEL, true);
const FILTER_STATE = 'PreFilterPodTopologySpread';
const SCORE_STATE = 'PreScorePodTopologySpread';

interface Counted {
  readonly c: TopologySpreadConstraint;
  /** Domain value → matching pods (every eligible domain present, possibly 0). */
  readonly counts: Map<string, number>;
  readonly minMatch: number;
  readonly selfMatch: number;
}

function hasKeys(node: NodeInfo, cs: readonly TopologySpreadConstraint[]): boolean {
  for (const c of cs) if (node.labels[c.topologyKey] === undefined) return false;
  return true;
}

/** Whether a node's domains count for the pod's constraints. */
function eligible(pod: PodInfo, node: NodeInfo, cs: readonly TopologySpreadConstraint[], c: TopologySpreadConstraint): boolean {
  if (!node.node || !hasKeys(node, cs)) return false;
  if (c.honorNodeAffinity && !pod.matchesNodeSelectorAndAffinity(node)) return false;
  return !(c.honorNodeTaints && pod.toleratesTaints(node, ['NoSchedule', 'NoExecute']) !== null);
}

function asTerm(pod: PodInfo, c: TopologySpreadConstraint): AffinityTerm {
  return { namespaces: new Set([pod.namespace]), namespaceSelector: null, selector: c.selector, topologyKey: c.topologyKey, id: '' };
}

/** Adds the matching pods of `c` to `counts`, for domains already present in it, on nodes `ok` accepts. */
function countPods(pod: PodInfo, c: TopologySpreadConstraint, counts: Map<string, number>, snap: Snapshot, ok: (n: NodeInfo) => boolean): void {
  snap.forEachCandidatePod(asTerm(pod, c), (p, node) => {
    if (p.namespace !== pod.namespace || p.terminating || !c.selector.matches(p.labels)) return;
    const v = node.labels[c.topologyKey];
    if (v === undefined || !counts.has(v) || !ok(node)) return;
    counts.set(v, counts.get(v)! + 1);
  });
}

/** The eligible domains of `c`: from the cache's per-label counts when every labelled node is eligible, else by visiting the nodes. */
function domains(pod: PodInfo, c: TopologySpreadConstraint, cs: readonly TopologySpreadConstraint[], snap: Snapshot): Map<string, number> {
  const counts = new Map<string, number>();
  const everyNode = cs.length === 1 && !c.honorNodeTaints && (!c.honorNodeAffinity || (pod.nodeSelector === null && pod.requiredNodeAffinity === null));
  if (everyNode) {
    for (const v of snap.topologyValues(c.topologyKey)?.keys() ?? []) counts.set(v, 0);
    return counts;
  }
  for (const n of snap.nodes) if (eligible(pod, n, cs, c)) counts.set(n.labels[c.topologyKey]!, 0);
  return counts;
}

function preFilter(state: CycleState, pod: PodInfo, snap: Snapshot): Status | null {
  const cs = pod.spread.filter((c) => c.whenUnsatisfiable === 'DoNotSchedule');
  if (cs.length === 0) return SKIP;
  const out: Counted[] = cs.map((c) => {
    const counts = domains(pod, c, cs, snap);
    countPods(pod, c, counts, snap, (n) => eligible(pod, n, cs, c));
    let minMatch = counts.size < c.minDomains ? 0 : Infinity;
    for (const n of counts.values()) if (n < minMatch) minMatch = n;
    if (minMatch === Infinity) minMatch = 0;
    return { c, counts, minMatch, selfMatch: c.selector.matches(pod.labels) ? 1 : 0 };
  });
  state.write(FILTER_STATE, out);
  return null;
}

function filter(state: CycleState, _pod: PodInfo, node: NodeInfo): Status | null {
  const s = state.read<Counted[]>(FILTER_STATE);
  if (!s) return null;
  for (const { c, counts, minMatch, selfMatch } of s) {
    const v = node.labels[c.topologyKey];
    if (v === undefined) return MISSING_LABEL;
    if ((counts.get(v) ?? 0) + selfMatch - minMatch > c.maxSkew) return SKEW;
  }
  return null;
}

interface ScoreState {
  readonly cs: readonly TopologySpreadConstraint[];
  readonly counts: readonly Map<string, number>[];
  readonly weights: readonly number[];
}

function preScore(state: CycleState, pod: PodInfo, nodes: readonly NodeInfo[], snap: Snapshot): Status | null {
  const cs = pod.spread.filter((c) => c.whenUnsatisfiable === 'ScheduleAnyway');
  if (cs.length === 0) return SKIP;
  // Domains are those of the feasible nodes; pods are counted on every eligible node in them.
  const counts = cs.map(() => new Map<string, number>());
  for (const n of nodes) {
    if (!hasKeys(n, cs)) continue;
    cs.forEach((c, i) => counts[i]!.set(n.labels[c.topologyKey]!, 0));
  }
  const weights = counts.map((m) => Math.log(m.size + 2));
  cs.forEach((c, i) => countPods(pod, c, counts[i]!, snap, (n) => eligible(pod, n, cs, c)));
  state.write(SCORE_STATE, { cs, counts, weights } satisfies ScoreState);
  return null;
}

function score(state: CycleState, _pod: PodInfo, node: NodeInfo): number {
  const s = state.read<ScoreState>(SCORE_STATE);
  if (!s) return 0;
  if (!hasKeys(node, s.cs)) return -1; // ignored: scores 0 after normalisation
  let total = 0;
  s.cs.forEach((c, i) => (total += (s.counts[i]!.get(node.labels[c.topologyKey]!) ?? 0) * s.weights[i]! + (c.maxSkew - 1)));
  return Math.round(total);
}

/** Fewer matching pods is better: min becomes MAX_NODE_SCORE-ish, ignored nodes (−1) 0. */
function normalizeScore(_state: CycleState, _pod: PodInfo, _nodes: readonly NodeInfo[], scores: Float64Array): void {
  let min = Infinity;
  let max = 0;
  for (const s of scores) {
    if (s < 0) continue;
    if (s < min) min = s;
    if (s > max) max = s;
  }
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i]!;
    if (s < 0) scores[i] = 0;
    else scores[i] = max === 0 ? MAX_NODE_SCORE : Math.floor((MAX_NODE_SCORE * (max + min - s)) / max);
  }
}

export function podTopologySpread(): PreFilterPlugin & FilterPlugin & PreScorePlugin & ScorePlugin {
  return { name: POD_TOPOLOGY_SPREAD, preFilter, filter, preScore, score, normalizeScore };
}
