/**
 * Quorum arithmetic over majority and joint configurations. A joint
 * configuration needs a majority of both halves; an empty half agrees with
 * everything, so a non-joint configuration is a joint one with an empty
 * outgoing half.
 */
import type { NodeId } from './types.js';

export enum VoteResult {
  Pending = 0,
  Lost = 1,
  Won = 2,
}

/** Returns the index acknowledged by `id`, or undefined when it has none. */
export type AckedIndexer = (id: NodeId) => number | undefined;

/**
 * The largest index acknowledged by a majority of `voters`. An empty
 * configuration returns Infinity so that it never holds back a joint minimum.
 */
export function majorityCommitted(voters: ReadonlySet<NodeId>, acked: AckedIndexer, scratch: number[]): number {
  const n = voters.size;
  if (n === 0) return Infinity;
  scratch.length = 0;
  for (const id of voters) scratch.push(acked(id) ?? 0);
  // Descending; the quorum-th largest is acknowledged by at least a quorum.
  scratch.sort(descending);
  return scratch[(n >> 1)]!;
}

export function majorityVoteResult(voters: ReadonlySet<NodeId>, votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.size === 0) return VoteResult.Won;
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  const q = (voters.size >> 1) + 1;
  if (granted >= q) return VoteResult.Won;
  if (granted + missing >= q) return VoteResult.Pending;
  return VoteResult.Lost;
}

export class JointConfig {
  /** incoming is the current configuration; outgoing is non-empty only during a joint change. */
  constructor(
    readonly incoming: Set<NodeId> = new Set(),
    readonly outgoing: Set<NodeId> = new Set(),
  ) {}

  private readonly scratch: number[] = [];

  isJoint(): boolean {
    return this.outgoing.size > 0;
  }

  has(id: NodeId): boolean {
    return this.incoming.has(id) || this.outgoing.has(id);
  }

  /** Union of both halves, sorted for deterministic iteration. */
  ids(): NodeId[] {
    const all = new Set<NodeId>(this.incoming);
    for (const id of this.outgoing) all.add(id);
    return [...all].sort(ascending);
  }

  committed(acked: AckedIndexer): number {
    const a = majorityCommitted(this.incoming, acked, this.scratch);
    const b = majorityCommitted(this.outgoing, acked, this.scratch);
    const c = Math.min(a, b);
    // Both halves empty means no voters at all; nothing can be committed.
    return c === Infinity ? 0 : c;
  }

  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    const a = majorityVoteResult(this.incoming, votes);
    const b = majorityVoteResult(this.outgoing, votes);
    if (a === b) return a;
    if (a === VoteResult.Lost || b === VoteResult.Lost) return VoteResult.Lost;
    return VoteResult.Pending;
  }

  clone(): JointConfig {
    return new JointConfig(new Set(this.incoming), new Set(this.outgoing));
  }
}

function descending(a: number, b: number): number {
  return b - a;
}

export function ascending(a: number, b: number): number {
  return a - b;
}
