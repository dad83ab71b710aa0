/**
 * A linearizability checker: Wing & Gong's search with Lowe's memoization,
 * the algorithm Porcupine (anishathalye/porcupine) uses, written afresh.
 *
 * The search walks a doubly-linked list of call and return events in time
 * order. At a call it tries to linearize that operation now: if the model
 * accepts it and (set of linearized operations, model state) has not been
 * seen before, the operation's two events are lifted out of the list and the
 * walk restarts from the head. At a return, the operation that returns there
 * should already have been linearized, so the search backtracks: it undoes
 * the latest choice and tries the next call after it. An empty list means
 * every operation found a place; backtracking past the first choice means
 * none exists. The search is an explicit-stack loop (histories are long),
 * and is bounded by a step budget past which the verdict is 'unknown'.
 *
 * An operation whose outcome is unknown (return = Infinity) has its return
 * event at the very end, so it may be linearized anywhere after its call;
 * linearizing it last is the same as it never having taken effect. Its step
 * gets output undefined and the model must accept it. Such operations are
 * the expensive part of a search (each one left pending doubles what must be
 * ruled out before a violation can be reported), so models should drop the
 * ones that provably cannot matter in partition() — see kv-model.ts.
 */
import { assert } from '../util/assert.js';

export interface Operation<I, O> {
  clientId: number;
  input: I;
  /** Invocation time; any monotonic number (simulator ticks or ns). */
  call: number;
  /** Completion time, or Infinity when the outcome is unknown (timed out / crashed client). */
  return: number;
  /** The observed output; undefined when the outcome is unknown. */
  output: O | undefined;
}

export interface Model<S, I, O> {
  /** Splits a history into independent sub-histories checked separately (e.g. one per key). Optional. */
  partition?(history: Operation<I, O>[]): Operation<I, O>[][];
  /** A short name for one partition (e.g. its key), used in failure reports. Optional. */
  describePartition?(operations: Operation<I, O>[]): string;
  init(): S;
  /** Applies input to state; returns whether the output is legal, and the next state.
   *  When output is undefined (unknown outcome), the step must accept and compute the deterministic effect. */
  step(state: S, input: I, output: O | undefined): { ok: boolean; state: S };
  /** A string key used to memoize states (equal states → equal keys, different states → different keys). */
  hash(state: S): string;
  describeOperation?(input: I, output: O | undefined): string;
}

export type CheckVerdict = 'ok' | 'illegal' | 'unknown'; // unknown = budget exhausted

export interface CheckOptions {
  /** Search steps (event visits) allowed over all partitions together. */
  maxSteps?: number;
  /** Memory the memo may use per partition (estimated); past it new states
   *  are not memoized: the search stays correct, only slower, and maxSteps
   *  still bounds it. */
  maxMemoBytes?: number;
}

export interface CheckFailure<I, O> {
  /** Index of the failing partition in the model's partition() output (0 without partition()). */
  partitionIndex: number;
  /** The model's describePartition() for it, if the model has one. */
  label?: string;
  /** The partition's operations sorted by call time (ties keep history order). */
  operations: Operation<I, O>[];
  /** The longest linearizable prefix found, as indices into `operations`, in linearization order. */
  longestPrefix: number[];
}

export interface CheckResult<I = unknown, O = unknown> {
  verdict: CheckVerdict;
  /** Search steps spent, over all partitions checked. */
  steps: number;
  /** Set when verdict is 'illegal'. */
  failure?: CheckFailure<I, O>;
  /** Set when verdict is 'unknown': the partition whose search ran out of budget. */
  exhaustedPartitionIndex?: number;
}

export const DEFAULT_MAX_STEPS = 10_000_000;
export const DEFAULT_MAX_MEMO_BYTES = 256 * 1024 * 1024;
/** V8's Set holds at most 2^24 entries. */
const MEMO_ENTRIES_MAX = 2 ** 24 - 1;
/** Estimated cost of a memo entry beyond its key's characters. */
const MEMO_ENTRY_OVERHEAD_BYTES = 64;

export type LinearizabilityErrorCode =
  | 'LINEARIZABILITY_ERR_INVALID_HISTORY'
  | 'LINEARIZABILITY_ERR_INVALID_OPTIONS';

/** A caller's mistake (malformed history or options), as opposed to a violation. */
export class LinearizabilityError extends Error {
  override readonly name = 'LinearizabilityError';
  constructor(
    readonly code: LinearizabilityErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Checks whether a history is linearizable with respect to a model.
 * Partitions are independent (linearizability is compositional), so any
 * illegal partition makes the whole history illegal, even if another ran out
 * of budget. Partitions are checked smallest first so a cheap violation is
 * found before a large partition can spend the shared budget.
 */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult<I, O> {
  const maxSteps = validateLimit('maxSteps', options.maxSteps ?? DEFAULT_MAX_STEPS);
  const maxMemoBytes = validateLimit('maxMemoBytes', options.maxMemoBytes ?? DEFAULT_MAX_MEMO_BYTES);
  history.forEach(validateOperation);
  const partitions = model.partition ? model.partition(history) : [history];
  const order = partitions.map((_, index) => index);
  order.sort((a, b) => partitions[a]!.length - partitions[b]!.length || a - b);

  let steps = 0;
  let exhaustedPartitionIndex: number | undefined;
  for (const partitionIndex of order) {
    const operations = sortByCall(partitions[partitionIndex]!);
    const search = new PartitionSearch(model, operations, maxMemoBytes);
    const outcome = search.run(maxSteps - steps);
    steps += outcome.steps;
    if (outcome.verdict === 'illegal') {
      const failure: CheckFailure<I, O> = { partitionIndex, operations, longestPrefix: outcome.longestPrefix };
      if (model.describePartition) failure.label = model.describePartition(operations);
      return { verdict: 'illegal', steps, failure };
    }
    if (outcome.verdict === 'unknown') exhaustedPartitionIndex ??= partitionIndex;
  }
  if (exhaustedPartitionIndex !== undefined) return { verdict: 'unknown', steps, exhaustedPartitionIndex };
  return { verdict: 'ok', steps };
}

function validateLimit(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new LinearizabilityError('LINEARIZABILITY_ERR_INVALID_OPTIONS', `${name} must be a positive integer, got ${value}`);
  }
  return value;
}

function validateOperation<I, O>(op: Operation<I, O>, index: number): void {
  const valid = Number.isFinite(op.call) && !Number.isNaN(op.return) && op.return >= op.call;
  if (!valid) {
    throw new LinearizabilityError(
      'LINEARIZABILITY_ERR_INVALID_HISTORY',
      `operation ${index}: need a finite call and return >= call (or Infinity), got call=${op.call} return=${op.return}`,
    );
  }
}

/** Stable sort by call time, so equal calls keep history order. */
function sortByCall<I, O>(operations: Operation<I, O>[]): Operation<I, O>[] {
  return operations
    .map((op, index) => ({ op, index }))
    .sort((a, b) => a.op.call - b.op.call || a.index - b.index)
    .map(({ op }) => op);
}

interface SearchOutcome {
  verdict: CheckVerdict;
  steps: number;
  longestPrefix: number[];
}

/**
 * The search over one partition. Operation i (in call order) owns list node
 * 2i (its call) and 2i+1 (its return); HEAD and TAIL are sentinels. Lifting an
 * operation unlinks both nodes but keeps their own pointers (dancing links),
 * so unlifting in reverse order restores the list exactly.
 */
class PartitionSearch<S, I, O> {
  private readonly opCount: number;
  private readonly head: number;
  private readonly tail: number;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly inputs: I[];
  private readonly outputs: (O | undefined)[];
  /** Bit i set ⇔ operation i is linearized on the current path. */
  private readonly linearized: Uint32Array;
  private readonly memo = new Set<string>();
  private memoBytes = 0;
  // The explicit DFS stack: the operations linearized so far, the state before
  // each, and the largest operation index linearized up to each depth.
  private readonly stackOps: Int32Array;
  private readonly stackStates: (S | undefined)[];
  private readonly stackMaxOp: Int32Array;
  private depth = 0;
  private state: S;
  private longestPrefix: number[] = [];

  constructor(
    private readonly model: Model<S, I, O>,
    operations: Operation<I, O>[],
    private readonly maxMemoBytes: number,
  ) {
    const n = operations.length;
    this.opCount = n;
    this.head = 2 * n;
    this.tail = 2 * n + 1;
    this.next = new Int32Array(2 * n + 2);
    this.prev = new Int32Array(2 * n + 2);
    this.inputs = operations.map((op) => op.input);
    // An operation that never returned may have taken effect or not; the
    // model learns that from the undefined output and must accept it.
    this.outputs = operations.map((op) => (op.return === Infinity ? undefined : op.output));
    this.linearized = new Uint32Array(Math.ceil(n / 32));
    this.stackOps = new Int32Array(n);
    this.stackStates = new Array<S | undefined>(n);
    this.stackMaxOp = new Int32Array(n);
    this.state = model.init();
    this.linkEvents(operations);
  }

  /**
   * Orders events by time. At equal times a call sorts before a return: an
   * operation called at the instant another returns counts as concurrent with
   * it. That only ever adds orderings to try, so it can never report a false
   * violation. Calls at one time keep call order, which keeps the list's calls
   * in operation-index order (the memo key relies on it).
   */
  private linkEvents(operations: Operation<I, O>[]): void {
    const time = (node: number): number => {
      const op = operations[node >>> 1]!;
      return (node & 1) === 0 ? op.call : op.return;
    };
    const nodes = Array.from({ length: 2 * this.opCount }, (_, node) => node);
    nodes.sort((a, b) => time(a) - time(b) || (a & 1) - (b & 1) || a - b);
    let last = this.head;
    for (const node of nodes) {
      this.next[last] = node;
      this.prev[node] = last;
      last = node;
    }
    this.next[last] = this.tail;
    this.prev[this.tail] = last;
  }

  run(maxSteps: number): SearchOutcome {
    let node = this.next[this.head]!;
    let steps = 0;
    while (this.next[this.head] !== this.tail) {
      if (steps >= maxSteps) return { verdict: 'unknown', steps, longestPrefix: [] };
      steps++;
      if ((node & 1) === 0) {
        node = this.tryLinearize(node);
      } else {
        // Every call precedes its return, so the walk meets a return before the tail.
        assert(node !== this.tail, 'linearizability: walked past the last return');
        if (this.depth === 0) return { verdict: 'illegal', steps, longestPrefix: this.longestPrefix };
        node = this.backtrack();
      }
    }
    return { verdict: 'ok', steps, longestPrefix: [] };
  }

  /** Tries to linearize the operation whose call is `node` now; returns the node to visit next. */
  private tryLinearize(node: number): number {
    const op = node >>> 1;
    const result = this.model.step(this.state, this.inputs[op]!, this.outputs[op]);
    if (!result.ok) return this.next[node]!;
    setBit(this.linearized, op);
    const key = this.memoKey(op, this.model.hash(result.state));
    if (this.memo.has(key)) {
      clearBit(this.linearized, op);
      return this.next[node]!;
    }
    this.remember(key);
    const maxOpBefore = this.depth === 0 ? -1 : this.stackMaxOp[this.depth - 1]!;
    this.stackOps[this.depth] = op;
    this.stackStates[this.depth] = this.state;
    this.stackMaxOp[this.depth] = Math.max(maxOpBefore, op);
    this.depth++;
    this.state = result.state;
    this.lift(op);
    return this.next[this.head]!;
  }

  /** Undoes the latest linearization; returns the node after that operation's call. */
  private backtrack(): number {
    if (this.depth > this.longestPrefix.length) {
      this.longestPrefix = Array.from(this.stackOps.subarray(0, this.depth));
    }
    this.depth--;
    const op = this.stackOps[this.depth]!;
    this.state = this.stackStates[this.depth] as S;
    this.stackStates[this.depth] = undefined; // let the old state be collected
    clearBit(this.linearized, op);
    this.unlift(op);
    return this.next[2 * op]!;
  }

  private remember(key: string): void {
    const bytes = 2 * key.length + MEMO_ENTRY_OVERHEAD_BYTES;
    if (this.memoBytes + bytes > this.maxMemoBytes || this.memo.size >= MEMO_ENTRIES_MAX) return;
    this.memo.add(key);
    this.memoBytes += bytes;
  }

  /**
   * An exact key for (linearized set, state), called with `op` already set.
   * The set is closed under real-time order, so it is "every operation below
   * some index" plus a few concurrent ones above: all words below the first
   * non-full word are full and all words past the largest linearized index
   * are empty, so only the words between identify it. Encoded as UTF-16 code
   * units: start word, word count, the words, then the state hash.
   */
  private memoKey(op: number, stateHash: string): string {
    const words = this.linearized;
    // The first call still in the list is the smallest unlinearized index
    // (before lifting `op`), so no word below its word can be partial.
    let start = (this.next[this.head]! >>> 1) >>> 5;
    while (start < words.length && words[start] === 0xffffffff) start++;
    const maxOp = this.depth === 0 ? op : Math.max(this.stackMaxOp[this.depth - 1]!, op);
    const end = maxOp >>> 5;
    const count = end >= start ? end - start + 1 : 0;
    let key = String.fromCharCode(start & 0xffff, start >>> 16, count & 0xffff, count >>> 16);
    for (let w = start; w < start + count; w++) {
      const word = words[w]!;
      key += String.fromCharCode(word & 0xffff, word >>> 16);
    }
    return key + stateHash;
  }

  private lift(op: number): void {
    this.unlink(2 * op);
    this.unlink(2 * op + 1);
  }

  private unlift(op: number): void {
    this.relink(2 * op + 1);
    this.relink(2 * op);
  }

  private unlink(node: number): void {
    const { next, prev } = this;
    next[prev[node]!] = next[node]!;
    prev[next[node]!] = prev[node]!;
  }

  private relink(node: number): void {
    const { next, prev } = this;
    next[prev[node]!] = node;
    prev[next[node]!] = node;
  }
}

function setBit(bits: Uint32Array, index: number): void {
  bits[index >>> 5]! |= 1 << (index & 31);
}

function clearBit(bits: Uint32Array, index: number): void {
  bits[index >>> 5]! &= ~(1 << (index & 31));
}

/** Operations listed per section of a failure report. */
const DESCRIBE_LINES_MAX = 10;

/**
 * A short human-readable explanation of an 'illegal' result: the tail of the
 * longest linearizable prefix found, then the operations that were candidates
 * to come next (called before the earliest return among the rest). No order
 * of the remaining operations continues that prefix.
 */
export function describeFailure<S, I, O>(model: Model<S, I, O>, result: CheckResult<I, O>): string {
  const failure = result.failure;
  if (result.verdict !== 'illegal' || !failure) return `verdict: ${result.verdict}`;
  const { operations, longestPrefix } = failure;
  const show = (index: number): string => {
    const op = operations[index]!;
    const output = op.return === Infinity ? undefined : op.output;
    const what = model.describeOperation?.(op.input, output) ?? JSON.stringify([op.input, output]);
    return `  #${index} client ${op.clientId} [${op.call}, ${op.return}] ${what}`;
  };
  const label = failure.label === undefined ? '' : ` (${failure.label})`;
  const lines = [
    `not linearizable: partition ${failure.partitionIndex}${label}, ${operations.length} operations;`,
    `longest linearizable prefix has ${longestPrefix.length}, ending:`,
    ...longestPrefix.slice(-DESCRIBE_LINES_MAX).map(show),
    'and no order of the rest continues it; the next candidates were:',
    ...candidatesAfter(operations, longestPrefix).map(show),
  ];
  return lines.join('\n');
}

function candidatesAfter<I, O>(operations: Operation<I, O>[], prefix: number[]): number[] {
  const done = new Set(prefix);
  const rest = operations.map((_, index) => index).filter((index) => !done.has(index));
  const firstReturn = rest.reduce((min, index) => Math.min(min, operations[index]!.return), Infinity);
  return rest.filter((index) => operations[index]!.call <= firstReturn).slice(0, DESCRIBE_LINES_MAX);
}
