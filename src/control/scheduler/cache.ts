/**
 * The scheduler's cache: nodes, and the pods placed on each — bound (the
 * informer says so) or assumed (the scheduler sent the bind and has not seen
 * it come back yet, so the next pod already sees the space taken). Every
 * aggregate the plugins read is kept incrementally here, so scheduling one
 * pod never walks all pods:
 * - per node: summed requests (NodeInfo);
 * - a label index (`key=value` → placed pods) for affinity and spreading;
 * - existing pods' affinity terms grouped by identical term, with counts per
 *   topology value (a Deployment's 1,000 replicas are one group, matched
 *   once against the incoming pod, not 1,000 times);
 * - per node label key, the number of nodes per value (topology domains).
 * It is the Snapshot the plugins read: a scheduling cycle runs synchronously
 * between two informer events, so it sees one consistent state.
 */
import type { KubeObject } from '../apiserver/index.js';
import { assert } from '../../util/assert.js';
import { NodeInfo, type PodInfo } from './pod-info.js';
import type { AffinityTerm, Snapshot, TermGroup, TermGroups } from './types.js';

/** Weight of an existing pod's required affinity term in scoring (upstream hardPodAffinityWeight default). */
export const HARD_POD_AFFINITY_WEIGHT = 1;

interface Placed {
  readonly info: PodInfo;
  readonly node: NodeInfo;
  readonly assumed: boolean;
}

const SEP = '\u0000';

export class SchedulerCache implements Snapshot {
  private readonly infos = new Map<string, NodeInfo>();
  /** Nodes with a Node object; order is stable except that a removed node's slot takes the last one. */
  readonly nodes: NodeInfo[] = [];
  private readonly nodeIndex = new Map<NodeInfo, number>();
  private readonly placed = new Map<string, Placed>();
  private readonly labelIndex = new Map<string, Set<Placed>>();
  private readonly topology = new Map<string, Map<string, number>>();
  private readonly namespaces = new Map<string, Readonly<Record<string, string>>>();
  readonly existingTermGroups = { requiredAntiAffinity: new TermGroupIndex(), scoring: new TermGroupIndex() };
  /** Image name → nodes that have it. */
  private readonly imageNodes = new Map<string, number>();

  imageNodeCount(image: string): number {
    return this.imageNodes.get(image) ?? 0;
  }

  node(name: string): NodeInfo | undefined {
    const n = this.infos.get(name);
    return n && n.node ? n : undefined;
  }

  namespaceLabels(namespace: string): Readonly<Record<string, string>> | undefined {
    return this.namespaces.get(namespace);
  }

  setNamespace(name: string, labels: Readonly<Record<string, string>> | null): void {
    if (labels) this.namespaces.set(name, labels);
    else this.namespaces.delete(name);
  }

  topologyValues(key: string): ReadonlyMap<string, number> | undefined {
    return this.topology.get(key);
  }

  get podCount(): number {
    return this.placed.size;
  }

  /** Where a pod is placed, and whether only assumed. */
  placement(key: string): { node: string; assumed: boolean } | undefined {
    const p = this.placed.get(key);
    return p && { node: p.node.name, assumed: p.assumed };
  }

  // ---- nodes ----

  addOrUpdateNode(node: KubeObject): void {
    const name = node.metadata.name!;
    let n = this.infos.get(name);
    if (!n) this.infos.set(name, (n = new NodeInfo(name)));
    const pods = [...n.pods.values()].map((info) => this.placed.get(info.key)!);
    // The node's labels decide its pods' topology values: take them out and put them back.
    for (const p of pods) this.unindexTerms(p);
    if (n.node) this.countNode(n, -1);
    else this.appendNode(n);
    n.setNode(node);
    this.countNode(n, +1);
    for (const p of pods) this.indexTerms(p);
  }

  removeNode(name: string): void {
    const n = this.infos.get(name);
    if (!n || !n.node) return;
    for (const info of n.pods.values()) this.unindexTerms(this.placed.get(info.key)!);
    this.countNode(n, -1);
    n.node = null;
    this.dropNode(n);
    // Pods still bound to it stay counted (as upstream) until they are deleted; the node can no longer be chosen.
    if (n.pods.size === 0) this.infos.delete(name);
  }

  private appendNode(n: NodeInfo): void {
    this.nodeIndex.set(n, this.nodes.length);
    this.nodes.push(n);
  }

  private dropNode(n: NodeInfo): void {
    const i = this.nodeIndex.get(n);
    assert(i !== undefined, 'removing a node that is not listed');
    const last = this.nodes.pop()!;
    if (last !== n) {
      this.nodes[i] = last;
      this.nodeIndex.set(last, i);
    }
    this.nodeIndex.delete(n);
  }

  /** Counts (or uncounts) the node's label values and images. */
  private countNode(n: NodeInfo, delta: number): void {
    for (const img of n.images.keys()) {
      const c = (this.imageNodes.get(img) ?? 0) + delta;
      if (c > 0) this.imageNodes.set(img, c);
      else this.imageNodes.delete(img);
    }
    for (const [k, v] of Object.entries(n.labels)) {
      let m = this.topology.get(k);
      if (!m) this.topology.set(k, (m = new Map()));
      const c = (m.get(v) ?? 0) + delta;
      if (c > 0) m.set(v, c);
      else m.delete(v);
      if (m.size === 0) this.topology.delete(k);
    }
  }

  // ---- pods ----

  /** A pod bound to `nodeName` as the informer shows it (confirms an assumed pod). */
  addOrUpdateBoundPod(info: PodInfo): void {
    assert(info.nodeName !== '', 'a bound pod has a node');
    this.removePod(info.key);
    if (info.terminated) return;
    this.place(info, info.nodeName, false);
  }

  /** The scheduler chose `nodeName` and sent the bind: count the pod there from now on. */
  assume(info: PodInfo, nodeName: string): void {
    assert(!this.placed.has(info.key), `pod ${info.key} is already placed`);
    this.place(info, nodeName, true);
  }

  /** The bind failed: forget the assumption (a bound pod stays). */
  forget(key: string): void {
    const p = this.placed.get(key);
    if (p?.assumed) this.removePod(key);
  }

  isAssumed(key: string): boolean {
    return this.placed.get(key)?.assumed === true;
  }

  removePod(key: string): void {
    const p = this.placed.get(key);
    if (!p) return;
    this.placed.delete(key);
    this.unindexTerms(p);
    this.unindexLabels(p);
    p.node.removePod(p.info);
    if (!p.node.node && p.node.pods.size === 0) this.infos.delete(p.node.name);
  }

  private place(info: PodInfo, nodeName: string, assumed: boolean): void {
    let n = this.infos.get(nodeName);
    if (!n) this.infos.set(nodeName, (n = new NodeInfo(nodeName))); // bound to a node we have not seen (yet)
    const p: Placed = { info, node: n, assumed };
    this.placed.set(info.key, p);
    n.addPod(info);
    this.indexLabels(p);
    this.indexTerms(p);
  }

  private indexLabels(p: Placed): void {
    for (const [k, v] of Object.entries(p.info.labels)) {
      const key = k + SEP + v;
      let s = this.labelIndex.get(key);
      if (!s) this.labelIndex.set(key, (s = new Set()));
      s.add(p);
    }
  }

  private unindexLabels(p: Placed): void {
    for (const [k, v] of Object.entries(p.info.labels)) {
      const key = k + SEP + v;
      const s = this.labelIndex.get(key);
      if (!s) continue;
      s.delete(p);
      if (s.size === 0) this.labelIndex.delete(key);
    }
  }

  private indexTerms(p: Placed): void {
    this.eachTerm(p, +1);
  }

  private unindexTerms(p: Placed): void {
    this.eachTerm(p, -1);
  }

  /** Adds (or takes away) the pod's affinity terms to the groups, at its node's topology values. */
  private eachTerm(p: Placed, delta: number): void {
    const info = p.info;
    if (!info.hasPodAffinity || !p.node.node) return;
    const g = this.existingTermGroups;
    for (const t of info.requiredAntiAffinity) bump(g.requiredAntiAffinity, t.id, t, 0, p.node, delta);
    for (const t of info.requiredAffinity) bump(g.scoring, `ra|${t.id}`, t, HARD_POD_AFFINITY_WEIGHT, p.node, delta);
    for (const t of info.preferredAffinity) bump(g.scoring, `pa|${t.weight}|${t.id}`, t, t.weight, p.node, delta);
    for (const t of info.preferredAntiAffinity) bump(g.scoring, `paa|${t.weight}|${t.id}`, t, -t.weight, p.node, delta);
  }

  forEachCandidatePod(term: AffinityTerm, f: (p: PodInfo, node: NodeInfo) => void): void {
    for (const r of term.selector.requirements) {
      if (r.operator !== '=' && r.operator !== '==' && r.operator !== 'in') continue;
      for (const v of r.values) for (const p of this.labelIndex.get(r.key + SEP + v) ?? []) f(p.info, p.node);
      return;
    }
    if (!term.selector.empty && term.selector.requirements.length === 0) return; // selects nothing
    for (const p of this.placed.values()) f(p.info, p.node);
  }
}

function bump(groups: TermGroupIndex, id: string, term: AffinityTerm, weight: number, node: NodeInfo, delta: number): void {
  const value = node.labels[term.topologyKey];
  if (value === undefined) return;
  const g = groups.get(id) ?? (delta > 0 ? groups.add(id, term, weight) : undefined);
  if (!g) return;
  const c = (g.counts.get(value) ?? 0) + delta;
  if (c > 0) g.counts.set(value, c);
  else g.counts.delete(value);
  if (g.counts.size === 0) groups.delete(id);
}

/**
 * Term groups with an index from `key=value` to the groups whose selector
 * requires that label value (from `=` or `in`), so that an incoming pod is
 * matched only against groups that can select it: 500 Deployments with
 * anti-affinity on their own `app` label cost one lookup, not 500 matches.
 */
export class TermGroupIndex implements TermGroups {
  private readonly groups = new Map<string, TermGroup>();
  private readonly byLabel = new Map<string, Set<TermGroup>>();
  /** Groups whose selector pins no value (e.g. only Exists / NotIn): always candidates. */
  private readonly unindexed = new Set<TermGroup>();

  get size(): number {
    return this.groups.size;
  }

  get(id: string): TermGroup | undefined {
    return this.groups.get(id);
  }

  values(): IterableIterator<TermGroup> {
    return this.groups.values();
  }

  add(id: string, term: AffinityTerm, weight: number): TermGroup {
    const g: TermGroup = { term, weight, counts: new Map() };
    this.groups.set(id, g);
    const keys = pinnedLabels(term);
    if (keys === null) this.unindexed.add(g);
    else for (const k of keys) (this.byLabel.get(k) ?? this.byLabel.set(k, new Set()).get(k)!).add(g);
    return g;
  }

  delete(id: string): void {
    const g = this.groups.get(id);
    if (!g) return;
    this.groups.delete(id);
    this.unindexed.delete(g);
    for (const k of pinnedLabels(g.term) ?? []) {
      const s = this.byLabel.get(k);
      s?.delete(g);
      if (s?.size === 0) this.byLabel.delete(k);
    }
  }

  forEachCandidate(labels: Readonly<Record<string, string>>, f: (g: TermGroup) => void): void {
    for (const g of this.unindexed) f(g);
    if (this.byLabel.size === 0) return;
    for (const k in labels) {
      const s = this.byLabel.get(k + SEP + labels[k]);
      if (s) for (const g of s) f(g);
    }
  }
}

/** The `key\0value` entries one of which a pod must have to be selected, or null when the selector pins none. */
function pinnedLabels(term: AffinityTerm): string[] | null {
  for (const r of term.selector.requirements) {
    if (r.operator === '=' || r.operator === '==' || r.operator === 'in') return r.values.map((v) => r.key + SEP + v);
  }
  return null;
}
