/**
 * The safety properties of Raft (Figure 3 of the paper, plus what our clients
 * are promised), checked incrementally so that they can run after every
 * simulator step:
 *
 * - election safety: at most one leader per term;
 * - log matching: two logs with an entry of the same index and term hold the
 *   same entry there, and agree on the term of the entry before it (so, by
 *   induction, on the whole prefix);
 * - leader completeness: a new leader holds every entry committed in an
 *   earlier term (a leader of a stale term may be elected late and lack
 *   entries committed in newer terms: that is allowed);
 * - state machine safety: no two members commit or apply different entries at
 *   one index;
 * - a member's commit index never moves back (within one process lifetime);
 * - an acknowledged write is committed, at the index it was applied at.
 */
import type { Entry, NodeId, RawNode } from '../raft/index.js';
import { StateType } from '../raft/index.js';

export class Violation extends Error {
  override readonly name = 'Violation';
  constructor(
    readonly invariant: string,
    detail: string,
  ) {
    super(`${invariant}: ${detail}`);
  }
}

interface EntryRecord {
  term: number;
  data: Uint8Array;
  /**
   * The term in which it was committed, as far as we know: the lowest term
   * any member was in when seen holding it committed. The true commit term
   * is never higher, so checking leaders of later terms is always sound.
   */
  commitTerm: number;
}

interface LogRecord {
  data: Uint8Array;
  prevTerm: number | undefined;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export interface ObservedNode {
  id: NodeId;
  /** Null while the process is down. */
  rn: RawNode | null;
  incarnation: number;
}

export class InvariantChecker {
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** Every entry known to be committed, by index. */
  private readonly committed = new Map<number, EntryRecord>();
  private maxCommitted = 0;
  /** What each (index, term) held when some member persisted it. */
  private readonly logs = new Map<number, Map<number, LogRecord>>();
  /** Per member: [incarnation, last commit index seen]. */
  private readonly commitSeen = new Map<NodeId, [number, number]>();
  private readonly leadersChecked = new Set<string>();
  checks = 0;

  /** A member persisted `entries`; prevTerm(i) gives its log's term at i (if known). */
  persisted(id: NodeId, entries: readonly Entry[], prevTerm: (index: number) => number | undefined): void {
    for (const e of entries) {
      let byTerm = this.logs.get(e.index);
      if (!byTerm) {
        byTerm = new Map();
        this.logs.set(e.index, byTerm);
      }
      const pt = prevTerm(e.index - 1);
      const seen = byTerm.get(e.term);
      if (!seen) {
        byTerm.set(e.term, { data: e.data, prevTerm: pt });
        continue;
      }
      if (!bytesEqual(seen.data, e.data)) {
        throw new Violation('log-matching', `member ${id} persisted a different entry at index ${e.index} term ${e.term}`);
      }
      if (seen.prevTerm !== undefined && pt !== undefined && seen.prevTerm !== pt) {
        throw new Violation(
          'log-matching',
          `member ${id} has term ${pt} before (${e.index}, ${e.term}); another member had term ${seen.prevTerm}`,
        );
      }
    }
  }

  /** A member applied `e` to its state machine. */
  applied(n: ObservedNode, e: Entry): void {
    const id = n.id;
    // The commit that allowed this may have happened within the current step.
    if (n.rn) this.checkCommit(n, n.rn);
    const c = this.committed.get(e.index);
    if (!c) {
      throw new Violation('state-machine-safety', `member ${id} applied index ${e.index} which no member has committed`);
    }
    if (c.term !== e.term || !bytesEqual(c.data, e.data)) {
      throw new Violation('state-machine-safety', `member ${id} applied (${e.index}, term ${e.term}) but (${e.index}, term ${c.term}) was committed`);
    }
  }

  /** A client was told its write at `index` succeeded. */
  acknowledged(index: number, data: Uint8Array): void {
    const c = this.committed.get(index);
    if (!c || !bytesEqual(c.data, data)) {
      throw new Violation('acknowledged-write-lost', `an acknowledged write at index ${index} is not the committed entry there`);
    }
  }

  /** Runs after every simulator step. */
  afterStep(nodes: Iterable<ObservedNode>): void {
    this.checks++;
    for (const n of nodes) {
      const rn = n.rn;
      if (!rn) continue;
      const r = rn.raft;
      if (r.state === StateType.Leader) this.checkLeader(n.id, rn);
      this.checkCommit(n, rn);
    }
  }

  private checkLeader(id: NodeId, rn: RawNode): void {
    const term = rn.raft.term;
    const other = this.leaderOfTerm.get(term);
    if (other === undefined) this.leaderOfTerm.set(term, id);
    else if (other !== id) throw new Violation('election-safety', `members ${other} and ${id} are both leaders of term ${term}`);
    const key = `${id}:${term}`;
    if (this.leadersChecked.has(key)) return;
    this.leadersChecked.add(key);
    // Leader completeness, against everything committed in earlier terms.
    const log = rn.raft.log;
    for (let i = Math.max(log.firstIndex(), 1); i <= this.maxCommitted; i++) {
      const c = this.committed.get(i);
      if (!c || c.commitTerm >= term) continue;
      const t = log.termOrUndefined(i);
      if (t !== c.term) {
        throw new Violation(
          'leader-completeness',
          `leader ${id} of term ${term} has ${t === undefined ? 'no entry' : `term ${t}`} at index ${i}, committed in term ${c.commitTerm} with term ${c.term}`,
        );
      }
    }
  }

  private checkCommit(n: ObservedNode, rn: RawNode): void {
    const log = rn.raft.log;
    const now = log.committed;
    const seen = this.commitSeen.get(n.id);
    let before = 0;
    if (seen && seen[0] === n.incarnation) {
      before = seen[1];
      if (now < before) throw new Violation('commit-monotonic', `member ${n.id} commit index went back from ${before} to ${now}`);
      if (now === before) return;
    }
    this.commitSeen.set(n.id, [n.incarnation, now]);
    // Record (or compare) the newly committed entries that this member still holds.
    const lo = Math.max(before + 1, log.firstIndex());
    if (lo > now) return;
    const ents = log.slice(lo, now + 1, Number.MAX_SAFE_INTEGER);
    const observedTerm = rn.raft.term;
    for (const e of ents) {
      const c = this.committed.get(e.index);
      if (!c) {
        this.committed.set(e.index, { term: e.term, data: e.data, commitTerm: observedTerm });
        if (e.index > this.maxCommitted) this.maxCommitted = e.index;
      } else if (c.term === e.term && bytesEqual(c.data, e.data)) {
        if (observedTerm < c.commitTerm) c.commitTerm = observedTerm;
      } else {
        throw new Violation(
          'state-machine-safety',
          `member ${n.id} committed (${e.index}, term ${e.term}) but (${e.index}, term ${c.term}) was committed before`,
        );
      }
    }
  }

  get committedCount(): number {
    return this.committed.size;
  }
}
