/**
 * The simulated network between members: per-message drop, duplication and
 * random delay (which reorders), plus directed link cuts for partitions.
 * Messages are copied on send, as a real transport would serialize them.
 */
import type { Message, NodeId } from '../raft/index.js';
import type { Prng } from '../util/prng.js';

export interface NetworkFaults {
  dropRate: number;
  duplicateRate: number;
  delayMinMs: number;
  delayMaxMs: number;
  /** Chance that a message is held back much longer (a long reorder). */
  spikeRate: number;
  spikeMaxMs: number;
}

export const CALM_NETWORK: Readonly<NetworkFaults> = Object.freeze({
  dropRate: 0,
  duplicateRate: 0,
  delayMinMs: 1,
  delayMaxMs: 5,
  spikeRate: 0,
  spikeMaxMs: 0,
});

export type Partition =
  | { kind: 'none' }
  | { kind: 'split'; groups: NodeId[][] }
  | { kind: 'one-way'; from: NodeId; to: NodeId }
  | { kind: 'bridge'; left: NodeId[]; bridge: NodeId; right: NodeId[] }
  | { kind: 'isolate'; node: NodeId };

export class SimNetwork {
  faults: NetworkFaults = { ...CALM_NETWORK };
  private blocked = new Set<string>();
  partition: Partition = { kind: 'none' };
  sent = 0;
  dropped = 0;

  constructor(private readonly rng: Prng) {}

  canReach(from: NodeId, to: NodeId): boolean {
    return !this.blocked.has(`${from}>${to}`);
  }

  heal(): void {
    this.blocked.clear();
    this.partition = { kind: 'none' };
  }

  /** Installs a partition over the given members (replacing any previous one). */
  setPartition(p: Partition, members: NodeId[]): void {
    this.heal();
    this.partition = p;
    const cut = (a: NodeId, b: NodeId): void => {
      this.blocked.add(`${a}>${b}`);
      this.blocked.add(`${b}>${a}`);
    };
    switch (p.kind) {
      case 'none':
        return;
      case 'split':
        for (let i = 0; i < p.groups.length; i++)
          for (let j = i + 1; j < p.groups.length; j++) for (const a of p.groups[i]!) for (const b of p.groups[j]!) cut(a, b);
        return;
      case 'one-way':
        this.blocked.add(`${p.from}>${p.to}`);
        return;
      case 'bridge':
        for (const a of p.left) for (const b of p.right) cut(a, b);
        return;
      case 'isolate':
        for (const m of members) if (m !== p.node) cut(p.node, m);
        return;
    }
  }

  /**
   * Decides the fate of one message: the delivery delays of its copies
   * (empty when it is lost). A cut link loses everything.
   */
  route(m: Message): number[] {
    this.sent++;
    if (!this.canReach(m.from, m.to) || this.rng.chance(this.faults.dropRate)) {
      this.dropped++;
      return [];
    }
    const delays = [this.delay()];
    if (this.rng.chance(this.faults.duplicateRate)) delays.push(this.delay());
    return delays;
  }

  private delay(): number {
    const f = this.faults;
    if (f.spikeRate > 0 && this.rng.chance(f.spikeRate)) return this.rng.range(f.delayMaxMs, Math.max(f.delayMaxMs, f.spikeMaxMs));
    return this.rng.range(f.delayMinMs, f.delayMaxMs);
  }
}

/** A deep enough copy: entries and headers are new objects; payload bytes are shared (never mutated). */
export function cloneMessage(m: Message): Message {
  return {
    type: m.type,
    to: m.to,
    from: m.from,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.map((e) => ({ term: e.term, index: e.index, type: e.type, data: e.data })),
    commit: m.commit,
    snapshot: m.snapshot,
    reject: m.reject,
    rejectHint: m.rejectHint,
    context: m.context,
  };
}
