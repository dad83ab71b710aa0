/**
 * InterPodAffinity. Filter: the incoming pod's required affinity terms need
 * a matching pod in the node's topology domain (or, when no pod anywhere
 * matches and the pod matches its own terms, it may start the group); its
 * required anti-affinity terms need none there; and no pod already placed
 * may have a required anti-affinity term that selects the incoming pod in
 * that domain. Score: preferred terms both ways (and existing pods' required
 * affinity at the hard weight), summed per topology value, min-max
 * normalised.
 *
 * Cost per pod: the incoming pod's terms visit only the pods the label
 * index offers; existing pods' terms are visited per distinct term (cache
 * groups), not per pod.
 */
import type { NodeInfo, PodInfo } from '../pod-info.js';
import { termMatches } from '../pod-info.js';
import type { AffinityTerm, CycleState, FilterPlugin, PreFilterPlugin, PreScorePlugin, ScorePlugin, Snapshot, Status, TermGroup, TermGroups } from '../types.js';
import { MAX_NODE_SCORE, SKIP, unschedulable } from '../types.js';

export const INTER_POD_AFFINITY = 'InterPodAffinity';
export const ERR_AFFINITY = "node(s) didn't match pod affinity rules";
export const ERR_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules";
export const ERR_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules";
const AFFINITY_MISMATCH: Status = unschedulable(ERR_AFFINITY, true);
const ANTI_AFFINITY_MISMATCH: Status = unschedulable(ERR_ANTI_AFFINITY);
const EXISTING_ANTI_AFFINITY_MISMATCH: Status = unschedulable(ERR_EXISTING_ANTI_AFFINITY);

const FILTER_STATE = 'PreFilterInterPodAffinity';
const SCORE_STATE = 'PreScoreInterPodAffinity';
const SEP = '\u0000';

interface FilterState {
  /** Existing pods' anti-affinity groups that select the incoming pod. */
  readonly existingAnti: readonly TermGroup[];
  /** `topologyKey\0value` → pods matching all of the incoming pod's required affinity terms. */
  readonly affinityCounts: Map<string, number>;
  /** `topologyKey\0value` → pods matched by one of its required anti-affinity terms. */
  readonly antiAffinityCounts: Map<string, number>;
  /** No pod matches the affinity terms, and the pod matches them itself: it may go anywhere else allowed. */
  readonly firstOfGroup: boolean;
}

interface ScoreState {
  readonly groups: readonly TermGroup[];
  /** Per preferred term of the incoming pod: its topology key, signed weight, and matching pods per value. */
  readonly own: readonly { key: string; weight: number; counts: Map<string, number> }[];
}

function matchesAll(terms: readonly AffinityTerm[], p: PodInfo, snap: Snapshot): boolean {
  for (const t of terms) if (!termMatches(t, p, (ns) => snap.namespaceLabels(ns))) return false;
  return true;
}

function inc(m: Map<string, number>, key: string, by = 1): void {
  m.set(key, (m.get(key) ?? 0) + by);
}

function affinityCounts(pod: PodInfo, snap: Snapshot): Map<string, number> {
  const m = new Map<string, number>();
  const terms = pod.requiredAffinity;
  if (terms.length === 0) return m;
  snap.forEachCandidatePod(terms[0]!, (p, node) => {
    if (!node.node || !matchesAll(terms, p, snap)) return;
    for (const t of terms) {
      const v = node.labels[t.topologyKey];
      if (v !== undefined) inc(m, t.topologyKey + SEP + v);
    }
  });
  return m;
}

function antiAffinityCounts(pod: PodInfo, snap: Snapshot): Map<string, number> {
  const m = new Map<string, number>();
  const nsLabels = (ns: string) => snap.namespaceLabels(ns);
  for (const t of pod.requiredAntiAffinity) {
    snap.forEachCandidatePod(t, (p, node) => {
      const v = node.node ? node.labels[t.topologyKey] : undefined;
      if (v !== undefined && termMatches(t, p, nsLabels)) inc(m, t.topologyKey + SEP + v);
    });
  }
  return m;
}

const NONE: readonly TermGroup[] = [];

function matchingGroups(groups: TermGroups, pod: PodInfo, snap: Snapshot): readonly TermGroup[] {
  if (groups.size === 0) return NONE;
  let out: TermGroup[] | null = null;
  const nsLabels = (ns: string) => snap.namespaceLabels(ns);
  groups.forEachCandidate(pod.labels, (g) => {
    if (termMatches(g.term, pod, nsLabels)) (out ??= []).push(g);
  });
  return out ?? NONE;
}

function preFilter(state: CycleState, pod: PodInfo, snap: Snapshot): Status | null {
  const existingAnti = matchingGroups(snap.existingTermGroups.requiredAntiAffinity, pod, snap);
  if (existingAnti.length === 0 && pod.requiredAffinity.length === 0 && pod.requiredAntiAffinity.length === 0) return SKIP;
  const aff = affinityCounts(pod, snap);
  const firstOfGroup = pod.requiredAffinity.length > 0 && aff.size === 0 && matchesAll(pod.requiredAffinity, pod, snap);
  const s: FilterState = { existingAnti, affinityCounts: aff, antiAffinityCounts: antiAffinityCounts(pod, snap), firstOfGroup };
  state.write(FILTER_STATE, s);
  return null;
}

function satisfiesAffinity(s: FilterState, pod: PodInfo, node: NodeInfo): boolean {
  let podsExist = true;
  for (const t of pod.requiredAffinity) {
    const v = node.labels[t.topologyKey];
    if (v === undefined) return false; // the node is in no domain of this key at all
    if (!((s.affinityCounts.get(t.topologyKey + SEP + v) ?? 0) > 0)) podsExist = false;
  }
  return podsExist || s.firstOfGroup;
}

function filter(state: CycleState, pod: PodInfo, node: NodeInfo): Status | null {
  const s = state.read<FilterState>(FILTER_STATE);
  if (!s) return null;
  if (pod.requiredAffinity.length > 0 && !satisfiesAffinity(s, pod, node)) return AFFINITY_MISMATCH;
  if (s.antiAffinityCounts.size > 0) {
    for (const t of pod.requiredAntiAffinity) {
      const v = node.labels[t.topologyKey];
      if (v !== undefined && (s.antiAffinityCounts.get(t.topologyKey + SEP + v) ?? 0) > 0) return ANTI_AFFINITY_MISMATCH;
    }
  }
  for (const g of s.existingAnti) {
    const v = node.labels[g.term.topologyKey];
    if (v !== undefined && (g.counts.get(v) ?? 0) > 0) return EXISTING_ANTI_AFFINITY_MISMATCH;
  }
  return null;
}

function ownPreferred(pod: PodInfo, snap: Snapshot): ScoreState['own'] {
  const nsLabels = (ns: string) => snap.namespaceLabels(ns);
  const terms = [...pod.preferredAffinity.map((t) => ({ t, w: t.weight })), ...pod.preferredAntiAffinity.map((t) => ({ t, w: -t.weight }))];
  return terms
    .filter(({ w }) => w !== 0)
    .map(({ t, w }) => {
      const counts = new Map<string, number>();
      snap.forEachCandidatePod(t, (p, node) => {
        const v = node.node ? node.labels[t.topologyKey] : undefined;
        if (v !== undefined && termMatches(t, p, nsLabels)) inc(counts, v);
      });
      return { key: t.topologyKey, weight: w, counts };
    });
}

function preScore(state: CycleState, pod: PodInfo, _nodes: readonly NodeInfo[], snap: Snapshot): Status | null {
  const groups = matchingGroups(snap.existingTermGroups.scoring, pod, snap);
  const own = ownPreferred(pod, snap);
  if (groups.length === 0 && own.every((o) => o.counts.size === 0)) return SKIP;
  state.write(SCORE_STATE, { groups, own } satisfies ScoreState);
  return null;
}

function score(state: CycleState, _pod: PodInfo, node: NodeInfo): number {
  const s = state.read<ScoreState>(SCORE_STATE);
  if (!s) return 0;
  let total = 0;
  for (const g of s.groups) {
    const v = node.labels[g.term.topologyKey];
    if (v !== undefined) total += g.weight * (g.counts.get(v) ?? 0);
  }
  for (const o of s.own) {
    const v = node.labels[o.key];
    if (v !== undefined) total += o.weight * (o.counts.get(v) ?? 0);
  }
  return total;
}

/** Min-max: the lowest raw score becomes 0, the highest MAX_NODE_SCORE; all equal → all 0. */
export function minMaxNormalize(scores: Float64Array): void {
  let min = Infinity;
  let max = -Infinity;
  for (const s of scores) {
    if (s < min) min = s;
    if (s > max) max = s;
  }
  const diff = max - min;
  for (let i = 0; i < scores.length; i++) scores[i] = diff > 0 ? Math.floor((MAX_NODE_SCORE * (scores[i]! - min)) / diff) : 0;
}

export function interPodAffinity(): PreFilterPlugin & FilterPlugin & PreScorePlugin & ScorePlugin {
  return {
    name: INTER_POD_AFFINITY,
    preFilter,
    filter,
    preScore,
    score,
    normalizeScore: (_state, _pod, _nodes, scores) => minMaxNormalize(scores),
  };
}
