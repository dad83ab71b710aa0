/**
 * The Framework runs one profile's plugins for one pod: PreFilter, Filter
 * over the nodes (stopping once enough feasible nodes are found, as
 * upstream's percentageOfNodesToScore), PreScore, Score, NormalizeScore,
 * weighted sum, and picks the best node (ties broken at random). It is
 * synchronous: a cycle reads one state of the snapshot. Binding is the
 * caller's (Scheduler) business, after it has assumed the pod.
 */
import { assert } from '../../util/assert.js';
import type { NodeInfo, PodInfo } from './pod-info.js';
import { defaultBinder } from './plugins/default-binder.js';
import { interPodAffinity } from './plugins/inter-pod-affinity.js';
import { nodeAffinity } from './plugins/node-affinity.js';
import { nodeName } from './plugins/node-name.js';
import { nodeResourcesBalancedAllocation } from './plugins/node-resources-balanced-allocation.js';
import { nodeResourcesFit } from './plugins/node-resources-fit.js';
import { nodeResourcesLeastAllocated } from './plugins/node-resources-least-allocated.js';
import { nodeUnschedulable } from './plugins/node-unschedulable.js';
import { podTopologySpread } from './plugins/pod-topology-spread.js';
import { prioritySort } from './plugins/queue-sort.js';
import { taintToleration } from './plugins/taint-toleration.js';
import { imageLocality } from './plugins/image-locality.js';
import type { BindPlugin, Profile, Snapshot, Status } from './types.js';
import { CycleState, FitError } from './types.js';

/** Upstream's adaptive percentageOfNodesToScore: 50% minus 1% per 125 nodes, at least 5%, and never fewer than 100 nodes. */
export const MIN_FEASIBLE_NODES_TO_FIND = 100;
export const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5;
export const BASE_PERCENTAGE_OF_NODES_TO_SCORE = 50;

/** How many feasible nodes to look for before scoring (percentage 0 = adaptive). */
export function numFeasibleNodesToFind(numAllNodes: number, percentage = 0): number {
  if (numAllNodes < MIN_FEASIBLE_NODES_TO_FIND || percentage >= 100) return numAllNodes;
  let p = percentage;
  if (p <= 0) p = Math.max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND, BASE_PERCENTAGE_OF_NODES_TO_SCORE - Math.floor(numAllNodes / 125));
  const n = Math.floor((numAllNodes * p) / 100);
  return Math.max(n, MIN_FEASIBLE_NODES_TO_FIND);
}

/** The default profile: upstream's default plugins and score weights. */
export function defaultProfile(bind: BindPlugin = defaultBinder(() => Promise.resolve())): Profile {
  const fit = nodeResourcesFit();
  const spread = podTopologySpread();
  const ipa = interPodAffinity();
  const taints = taintToleration();
  const na = nodeAffinity();
  const images = imageLocality();
  return {
    schedulerName: 'default-scheduler',
    queueSort: prioritySort(),
    preFilter: [spread, ipa],
    filter: [nodeUnschedulable(), nodeName(), taints, na, fit, spread, ipa],
    preScore: [ipa, spread, images],
    score: [
      { plugin: taints, weight: 3 },
      { plugin: na, weight: 2 },
      { plugin: spread, weight: 2 },
      { plugin: ipa, weight: 2 },
      { plugin: nodeResourcesLeastAllocated(), weight: 1 },
      { plugin: nodeResourcesBalancedAllocation(), weight: 1 },
      { plugin: images, weight: 1 },
    ],
    bind,
  };
}

export interface ScheduleResult {
  readonly node: string;
  /** Nodes filtered, and how many were feasible (for metrics and tests). */
  readonly evaluated: number;
  readonly feasible: number;
}

export interface FrameworkOptions {
  /** 0: adaptive (upstream default). */
  percentageOfNodesToScore: number;
  /** Tie-breaking among equally scored nodes; injected for deterministic tests. */
  random: () => number;
}

export class Framework {
  private nextStartNodeIndex = 0;
  private readonly feasible: NodeInfo[] = [];
  private totals = new Float64Array(0);
  private perPlugin = new Float64Array(0);
  private readonly o: FrameworkOptions;

  constructor(
    readonly profile: Profile,
    o: Partial<FrameworkOptions> = {},
  ) {
    this.o = { percentageOfNodesToScore: 0, random: Math.random, ...o };
  }

  /** Chooses a node for `pod`, or throws FitError saying why there is none. */
  schedule(pod: PodInfo, snap: Snapshot): ScheduleResult {
    const all = snap.nodes.length;
    if (all === 0) throw new FitError(0, new Map());
    const state = new CycleState();
    const pre = this.runPreFilter(state, pod, snap);
    if (pre) throw new FitError(all, new Map(pre.reasons.map((r) => [r, all])), new Set([pre.plugin!]));
    const evaluated = this.findFeasible(state, pod, snap);
    const feasible = this.feasible;
    if (feasible.length === 1) return { node: feasible[0]!.name, evaluated, feasible: 1 };
    return { node: this.selectHost(state, pod, snap), evaluated, feasible: feasible.length };
  }

  private runPreFilter(state: CycleState, pod: PodInfo, snap: Snapshot): Status | null {
    for (const p of this.profile.preFilter) {
      const s = p.preFilter(state, pod, snap);
      if (s === null) continue;
      if (s.code === 'Skip') state.skipFilter.add(p.name);
      else return { ...s, plugin: p.name };
    }
    return null;
  }

  /** Filters nodes from where the last cycle stopped, until enough are feasible; throws FitError if none is. */
  private findFeasible(state: CycleState, pod: PodInfo, snap: Snapshot): number {
    const nodes = snap.nodes;
    const all = nodes.length;
    const want = numFeasibleNodesToFind(all, this.o.percentageOfNodesToScore);
    const filters = this.profile.filter.filter((f) => !state.skipFilter.has(f.name));
    const feasible = this.feasible;
    feasible.length = 0;
    let reasons: Map<string, number> | null = null;
    const plugins = new Set<string>();
    let processed = 0;
    const start = this.nextStartNodeIndex % all;
    nodes: for (; processed < all && feasible.length < want; processed++) {
      const node = nodes[(start + processed) % all]!;
      for (const f of filters) {
        const s = f.filter(state, pod, node, snap);
        if (s === null || s.code === 'Success') continue;
        plugins.add(f.name);
        for (const r of s.reasons) (reasons ??= new Map()).set(r, (reasons.get(r) ?? 0) + 1);
        continue nodes;
      }
      feasible.push(node);
    }
    this.nextStartNodeIndex = (start + processed) % all;
    if (feasible.length === 0) throw new FitError(all, reasons ?? new Map(), plugins);
    return processed;
  }

  private selectHost(state: CycleState, pod: PodInfo, snap: Snapshot): string {
    const nodes = this.feasible;
    const n = nodes.length;
    if (this.totals.length < n) {
      this.totals = new Float64Array(Math.max(n, this.totals.length * 2));
      this.perPlugin = new Float64Array(this.totals.length);
    }
    const totals = this.totals.subarray(0, n);
    const scores = this.perPlugin.subarray(0, n);
    totals.fill(0);
    for (const p of this.profile.preScore) {
      const s = p.preScore(state, pod, nodes, snap);
      if (s?.code === 'Skip') state.skipScore.add(p.name);
    }
    for (const { plugin, weight } of this.profile.score) {
      if (state.skipScore.has(plugin.name)) continue;
      for (let i = 0; i < n; i++) scores[i] = plugin.score(state, pod, nodes[i]!, snap);
      plugin.normalizeScore?.(state, pod, nodes, scores);
      for (let i = 0; i < n; i++) totals[i] += scores[i]! * weight;
    }
    return this.pick(totals, nodes);
  }

  /** The highest total; among equals, each equally likely (reservoir sampling). */
  private pick(totals: Float64Array, nodes: readonly NodeInfo[]): string {
    let best = 0;
    let ties = 1;
    for (let i = 1; i < nodes.length; i++) {
      if (totals[i]! > totals[best]!) {
        best = i;
        ties = 1;
      } else if (totals[i] === totals[best]) {
        ties++;
        if (this.o.random() * ties < 1) best = i;
      }
    }
    assert(best < nodes.length, 'picked a node out of range');
    return nodes[best]!.name;
  }
}

/** The first failing filter's status for the node, or null when every filter passes. */
export function runFilters(filters: Profile['filter'], state: CycleState, pod: PodInfo, node: NodeInfo, snap: Snapshot): Status | null {
  for (const f of filters) {
    const s = f.filter(state, pod, node, snap);
    if (s !== null && s.code !== 'Success') return s;
  }
  return null;
}
