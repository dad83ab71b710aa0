/**
 * A key-value model for the checker: get, put and compare-and-set on string
 * values. Keys are independent registers, so the history is partitioned by
 * key and each key is checked on its own (far cheaper than one big search).
 */
import { LinearizabilityError, type Model, type Operation } from './checker.js';

export type KvInput =
  | { kind: 'get'; key: string }
  | { kind: 'put'; key: string; value: string }
  /** Succeeds iff the current value === expected; null expects the key to be absent. */
  | { kind: 'cas'; key: string; expected: string | null; value: string };

/** get → { value }, put → {} or { ok: true }, cas → { ok }. */
export interface KvOutput {
  value?: string | null;
  ok?: boolean;
}

/** The value of one key; null when absent. */
export type KvState = string | null;

export type KvOperation = Operation<KvInput, KvOutput>;

export const kvModel: Model<KvState, KvInput, KvOutput> = {
  partition: partitionByKey,
  describePartition: (operations) => `key ${JSON.stringify(operations[0]?.input.key)}`,
  init: () => null,
  step: stepKv,
  // Prefixed so that null and every string get distinct keys.
  hash: (state) => (state === null ? 'n' : `s${state}`),
  describeOperation: describeKv,
};

/**
 * Groups operations by key, in first-seen order, and drops operations that
 * can never matter (see dropIrrelevantUnknowns).
 */
function partitionByKey(history: KvOperation[]): KvOperation[][] {
  const byKey = new Map<string, KvOperation[]>();
  for (const op of history) {
    let ops = byKey.get(op.input.key);
    if (!ops) byKey.set(op.input.key, (ops = []));
    ops.push(op);
  }
  return [...byKey.values()].map(dropIrrelevantUnknowns).filter((ops) => ops.length > 0);
}

/**
 * Operations with unknown outcome that can be left out without changing the
 * verdict. Each one left pending would double the configurations the search
 * must rule out before it can report a violation, so this is the main
 * defence against blow-up on histories with timeouts.
 *  - A get with no output constrains nothing and changes nothing.
 *  - A put or cas that never returned may be linearized last, i.e. dropped,
 *    if no execution could notice that it took effect: no get returned its
 *    value, no cas expected its value (so no cas succeeded or failed because
 *    of it), and no cas that reported failure could come after it (a failed
 *    cas could have failed only because this write hid the expected value).
 */
function dropIrrelevantUnknowns(ops: KvOperation[]): KvOperation[] {
  const observed = new Set<string | null | undefined>();
  let lastFailedCasReturn = -Infinity;
  for (const op of ops) {
    const { input, output } = op;
    if (input.kind === 'get' && output !== undefined) observed.add(output.value);
    if (input.kind !== 'cas') continue;
    observed.add(input.expected);
    if (op.return !== Infinity && output?.ok === false) lastFailedCasReturn = Math.max(lastFailedCasReturn, op.return);
  }
  return ops.filter((op) => {
    const { input } = op;
    if (input.kind === 'get') return op.return !== Infinity && op.output !== undefined;
    const unobserved = op.return === Infinity && !observed.has(input.value) && lastFailedCasReturn < op.call;
    return !unobserved;
  });
}

function stepKv(state: KvState, input: KvInput, output: KvOutput | undefined): { ok: boolean; state: KvState } {
  switch (input.kind) {
    case 'get':
      if (output === undefined) return { ok: true, state };
      return { ok: outputValue(output) === state, state };
    case 'put':
      return { ok: true, state: input.value };
    case 'cas': {
      const matches = state === input.expected;
      const next = matches ? input.value : state;
      if (output === undefined) return { ok: true, state: next };
      return { ok: outputOk(output) === matches, state: next };
    }
  }
}

function outputValue(output: KvOutput): string | null {
  if (output.value === undefined) {
    throw new LinearizabilityError('LINEARIZABILITY_ERR_INVALID_HISTORY', 'kv get output has no value field');
  }
  return output.value;
}

function outputOk(output: KvOutput): boolean {
  if (typeof output.ok !== 'boolean') {
    throw new LinearizabilityError('LINEARIZABILITY_ERR_INVALID_HISTORY', 'kv cas output has no boolean ok field');
  }
  return output.ok;
}

function describeKv(input: KvInput, output: KvOutput | undefined): string {
  const key = JSON.stringify(input.key);
  const call =
    input.kind === 'get'
      ? `get(${key})`
      : input.kind === 'put'
        ? `put(${key}, ${JSON.stringify(input.value)})`
        : `cas(${key}, ${JSON.stringify(input.expected)} -> ${JSON.stringify(input.value)})`;
  if (output === undefined) return `${call} -> ?`;
  if (input.kind === 'get') return `${call} -> ${JSON.stringify(output.value)}`;
  if (input.kind === 'cas') return `${call} -> ${String(output.ok)}`;
  return call;
}
