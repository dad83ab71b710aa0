/**
 * The scheduler framework's contracts, in the shape of upstream's
 * pkg/scheduler/framework: one interface per extension point, plugins that
 * are functions of a snapshot (the nodes, the pods on each node, the pod
 * being scheduled), a CycleState for what a plugin computes once per pod in
 * PreFilter/PreScore and reads per node in Filter/Score.
 */
import type { KubeObject } from '../apiserver/index.js';
import type { NodeInfo, PodInfo } from './pod-info.js';

/** Scores are in [0, MAX_NODE_SCORE] after normalisation (upstream framework.MaxNodeScore). */
export const MAX_NODE_SCORE = 100;

export type Code = 'Success' | 'Unschedulable' | 'UnschedulableAndUnresolvable' | 'Error' | 'Skip';

/** What a plugin says; `null` from a Filter means success (as upstream's nil *Status). */
export interface Status {
  readonly code: Code;
  /** Human-readable reasons, aggregated into the FitError message. */
  readonly reasons: readonly string[];
  /** The plugin that said so (set by the framework). */
  plugin?: string;
}

export function unschedulable(reason: string, unresolvable = false): Status {
  return { code: unresolvable ? 'UnschedulableAndUnresolvable' : 'Unschedulable', reasons: [reason] };
}

export const SKIP: Status = Object.freeze({ code: 'Skip', reasons: [] });

/** Per-pod scratch space shared by the plugins of one scheduling cycle. */
export class CycleState {
  private readonly data = new Map<string, unknown>();
  /** Plugins whose PreFilter said Skip: their Filter is not called in this cycle. */
  readonly skipFilter = new Set<string>();
  readonly skipScore = new Set<string>();
  write(key: string, value: unknown): void {
    this.data.set(key, value);
  }
  read<T>(key: string): T | undefined {
    return this.data.get(key) as T | undefined;
  }
}

/**
 * What the plugins may read: the cluster as the scheduler's cache holds it,
 * with indexes that keep the per-pod work small.
 */
export interface Snapshot {
  /** Every node with a Node object, in a stable order (filtering rotates over it). */
  readonly nodes: readonly NodeInfo[];
  node(name: string): NodeInfo | undefined;
  /** Labels of a namespace (for namespaceSelector), undefined when unknown. */
  namespaceLabels(namespace: string): Readonly<Record<string, string>> | undefined;
  /**
   * Calls `f` for every pod on a node (assumed or bound, not terminated)
   * that might match `term` — a superset, found through a label index when
   * the selector pins a value; `f` must still check the term.
   */
  forEachCandidatePod(term: AffinityTerm, f: (p: PodInfo, node: NodeInfo) => void): void;
  /** Existing pods' affinity terms grouped by identical term (see cache.ts). */
  readonly existingTermGroups: {
    /** Required anti-affinity of pods already placed: they keep the incoming pod out of their domains. */
    readonly requiredAntiAffinity: TermGroups;
    /** Preferred affinity (+weight), preferred anti-affinity (−weight) and required affinity (+hard weight) for scoring. */
    readonly scoring: TermGroups;
  };
  /** On how many nodes an image is present (status.images), for ImageLocality's spread factor. */
  imageNodeCount(image: string): number;
  /** For each node label key, how many nodes carry each value (the domains of topology spreading). */
  topologyValues(key: string): ReadonlyMap<string, number> | undefined;
}

/** A pod (anti-)affinity term, compiled (upstream framework.AffinityTerm). */
export interface AffinityTerm {
  readonly namespaces: ReadonlySet<string>;
  /** null: only `namespaces` count; an empty selector selects every namespace. */
  readonly namespaceSelector: import('../apiserver/selectors/index.js').Selector | null;
  readonly selector: import('../apiserver/selectors/index.js').Selector;
  readonly topologyKey: string;
  /** Identity of the term (namespaces, selectors, topology key): identical terms share a group. */
  readonly id: string;
}

export interface WeightedAffinityTerm extends AffinityTerm {
  readonly weight: number;
}

/** Term groups, indexed by the label value their selector pins (if any). */
export interface TermGroups {
  readonly size: number;
  /**
   * Calls `f` for every group whose selector might select a pod with these
   * labels — a superset (groups pinning another value are left out); `f`
   * must still check the term.
   */
  forEachCandidate(labels: Readonly<Record<string, string>>, f: (g: TermGroup) => void): void;
}

/** Identical terms of existing pods, with how many pods hold them per topology value. */
export interface TermGroup {
  readonly term: AffinityTerm;
  /** Signed weight for scoring groups; 0 for filter groups. */
  readonly weight: number;
  /** topology value → number of (pod, term) pairs in that domain. */
  readonly counts: Map<string, number>;
}

export interface Plugin {
  readonly name: string;
}

export interface QueueSortPlugin extends Plugin {
  /** Whether `a` goes before `b` in the active queue. */
  less(a: PodInfo, b: PodInfo): boolean;
}

export interface PreFilterPlugin extends Plugin {
  /** Computes per-pod state; a non-success status fails the pod on every node; SKIP skips this plugin's Filter. */
  preFilter(state: CycleState, pod: PodInfo, snap: Snapshot): Status | null;
}

export interface FilterPlugin extends Plugin {
  filter(state: CycleState, pod: PodInfo, node: NodeInfo, snap: Snapshot): Status | null;
}

export interface PreScorePlugin extends Plugin {
  /** Computes per-pod scoring state over the feasible nodes; SKIP skips this plugin's Score. */
  preScore(state: CycleState, pod: PodInfo, nodes: readonly NodeInfo[], snap: Snapshot): Status | null;
}

export interface ScorePlugin extends Plugin {
  score(state: CycleState, pod: PodInfo, node: NodeInfo, snap: Snapshot): number;
  /** Maps the raw scores (in place, index-aligned with `nodes`) into [0, MAX_NODE_SCORE]. */
  normalizeScore?(state: CycleState, pod: PodInfo, nodes: readonly NodeInfo[], scores: Float64Array): void;
}

export interface BindPlugin extends Plugin {
  /** Writes the assignment; rejects when it failed (the pod is then forgotten and retried). */
  bind(pod: PodInfo, nodeName: string): Promise<void>;
}

/** A plugin used at several extension points may implement several interfaces. */
export type AnyPlugin = Partial<QueueSortPlugin & PreFilterPlugin & FilterPlugin & PreScorePlugin & ScorePlugin & BindPlugin> & Plugin;

/** A scheduling profile: the plugins per extension point and the score weights. */
export interface Profile {
  readonly schedulerName: string;
  readonly queueSort: QueueSortPlugin;
  readonly preFilter: readonly PreFilterPlugin[];
  readonly filter: readonly FilterPlugin[];
  readonly preScore: readonly PreScorePlugin[];
  readonly score: readonly { plugin: ScorePlugin; weight: number }[];
  readonly bind: BindPlugin;
}

/** Why a pod fits nowhere: per-node statuses, summarised in upstream's wording. */
export class FitError extends Error {
  readonly code = 'SCHEDULER_ERR_UNSCHEDULABLE';
  constructor(
    readonly numAllNodes: number,
    /** reason → number of nodes that gave it. */
    readonly reasons: ReadonlyMap<string, number>,
    /** The plugins that rejected the pod somewhere (what kind of cluster change may help). */
    readonly plugins: ReadonlySet<string> = new Set(),
  ) {
    super(fitErrorMessage(numAllNodes, reasons));
    this.name = 'FitError';
  }
}

/** "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector." */
export function fitErrorMessage(numAllNodes: number, reasons: ReadonlyMap<string, number>): string {
  const parts = [...reasons].map(([reason, n]) => `${n} ${reason}`).sort();
  return parts.length === 0 ? `0/${numAllNodes} nodes are available.` : `0/${numAllNodes} nodes are available: ${parts.join(', ')}.`;
}

export type { KubeObject, NodeInfo, PodInfo };
