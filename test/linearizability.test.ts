import test from 'ava';
import {
  checkOperations,
  describeFailure,
  kvModel,
  LinearizabilityError,
  type CheckVerdict,
  type KvInput,
  type KvOperation,
  type KvOutput,
} from '../src/linearizability/index.js';
import { Prng } from '../src/util/prng.js';

// ---- history builders: [call, return]; return Infinity = outcome unknown ----

const I = Infinity;

function op(input: KvInput, output: KvOutput, call: number, ret: number, clientId = 0): KvOperation {
  return { clientId, input, call, return: ret, output: ret === I ? undefined : output };
}
const put = (key: string, value: string, call: number, ret: number, client = 0): KvOperation =>
  op({ kind: 'put', key, value }, {}, call, ret, client);
const get = (key: string, value: string | null, call: number, ret: number, client = 0): KvOperation =>
  op({ kind: 'get', key }, { value }, call, ret, client);
const cas = (key: string, expected: string | null, value: string, ok: boolean, call: number, ret: number, client = 0) =>
  op({ kind: 'cas', key, expected, value }, { ok }, call, ret, client);

interface Case {
  name: string;
  history: KvOperation[];
  verdict: CheckVerdict;
}

const cases: Case[] = [
  // ---- linearizable ----
  { name: 'empty history', history: [], verdict: 'ok' },
  {
    name: 'sequential puts and gets',
    history: [get('x', null, 0, 1), put('x', 'a', 2, 3), get('x', 'a', 4, 5), put('x', 'b', 6, 7), get('x', 'b', 8, 9)],
    verdict: 'ok',
  },
  {
    name: 'get concurrent with a put sees the old value',
    history: [put('x', 'a', 0, 1), put('x', 'b', 2, 10, 1), get('x', 'a', 3, 4, 2)],
    verdict: 'ok',
  },
  {
    name: 'get concurrent with a put sees the new value',
    history: [put('x', 'a', 0, 1), put('x', 'b', 2, 10, 1), get('x', 'b', 3, 4, 2)],
    verdict: 'ok',
  },
  {
    name: 'overlapping writes seen in one order (b then a) by later reads',
    history: [put('x', 'a', 0, 10, 0), put('x', 'b', 0, 10, 1), get('x', 'b', 5, 6, 2), get('x', 'a', 11, 12, 2)],
    verdict: 'ok',
  },
  {
    name: 'a call at the instant another returns counts as concurrent',
    history: [put('x', 'a', 0, 5, 0), get('x', null, 5, 6, 1)],
    verdict: 'ok',
  },
  {
    name: 'cas chain',
    history: [
      cas('x', null, 'a', true, 0, 1),
      cas('x', 'a', 'b', true, 2, 3),
      cas('x', 'a', 'c', false, 4, 5),
      get('x', 'b', 6, 7),
    ],
    verdict: 'ok',
  },
  {
    name: 'concurrent cas from absent: exactly one wins and the read sees it',
    history: [cas('x', null, 'a', false, 0, 10, 0), cas('x', null, 'b', true, 1, 9, 1), get('x', 'b', 11, 12, 2)],
    verdict: 'ok',
  },
  {
    name: 'unknown-outcome put that was applied',
    history: [put('x', 'a', 0, 1), put('x', 'b', 2, I, 1), get('x', 'b', 5, 6, 2)],
    verdict: 'ok',
  },
  {
    name: 'unknown-outcome put that was never applied',
    history: [put('x', 'a', 0, 1), put('x', 'b', 2, I, 1), get('x', 'a', 5, 6, 2), get('x', 'a', 100, 101, 2)],
    verdict: 'ok',
  },
  {
    name: 'reads observe a write whose client timed out, long after',
    history: [put('x', 't', 0, I, 1), get('x', null, 1, 2, 2), get('x', 't', 50, 51, 2), get('x', 't', 60, 61, 3)],
    verdict: 'ok',
  },
  {
    name: 'unknown-outcome cas that was applied',
    history: [put('x', 'a', 0, 1), cas('x', 'a', 'b', true, 2, I, 1), get('x', 'b', 5, 6, 2)],
    verdict: 'ok',
  },
  {
    name: 'a recorded output of an operation that never returned is ignored',
    history: [put('x', 'a', 0, 1), { ...cas('x', 'a', 'b', false, 2, I, 1), output: { ok: false } }, get('x', 'b', 5, 6, 2)],
    verdict: 'ok',
  },
  {
    name: 'an unobserved unknown-outcome put explains a failed cas',
    history: [put('x', 'a', 0, 1), put('x', 'b', 2, I, 1), cas('x', 'a', 'c', false, 3, 4, 2)],
    verdict: 'ok',
  },
  {
    name: 'unknown-outcome get is ignored whatever it recorded',
    history: [put('x', 'a', 0, 1), { ...get('x', 'zzz', 2, I), output: { value: 'zzz' } }, get('x', 'a', 5, 6)],
    verdict: 'ok',
  },

  // ---- not linearizable ----
  {
    name: 'stale read after a completed write',
    history: [put('x', 'a', 0, 1), put('x', 'b', 2, 3), get('x', 'a', 4, 5)],
    verdict: 'illegal',
  },
  {
    name: 'read of absent after a completed write',
    history: [put('x', 'a', 0, 1), get('x', null, 2, 3)],
    verdict: 'illegal',
  },
  {
    name: 'a call strictly after a return is ordered after it',
    history: [put('x', 'a', 0, 5, 0), get('x', null, 6, 7, 1)],
    verdict: 'illegal',
  },
  {
    name: 'sequential reads see the writes in reverse real-time order',
    history: [put('x', 'a', 0, 2, 0), put('x', 'b', 3, 10, 1), get('x', 'b', 4, 5, 2), get('x', 'a', 6, 7, 2)],
    verdict: 'illegal',
  },
  {
    name: 'read of a value never written',
    history: [put('x', 'a', 0, 1), put('x', 'b', 0, 3, 1), get('x', 'c', 2, 4, 2)],
    verdict: 'illegal',
  },
  {
    name: 'cas reports ok although the value could not have matched',
    history: [put('x', 'a', 0, 1), cas('x', 'b', 'c', true, 2, 3)],
    verdict: 'illegal',
  },
  {
    name: 'cas reports failure although the value must have matched',
    history: [put('x', 'a', 0, 1), cas('x', 'a', 'c', false, 2, 3)],
    verdict: 'illegal',
  },
  {
    name: 'two concurrent cas from absent both succeed',
    history: [cas('x', null, 'a', true, 0, 10, 0), cas('x', null, 'b', true, 1, 9, 1)],
    verdict: 'illegal',
  },
  {
    name: 'a read sees an unknown-outcome write, a later read does not',
    history: [put('x', 'a', 0, 1), put('x', 'b', 2, I, 1), get('x', 'b', 3, 4, 2), get('x', 'a', 5, 6, 2)],
    verdict: 'illegal',
  },
];

for (const c of cases) {
  test(`kv: ${c.name} → ${c.verdict}`, (t) => {
    const result = checkOperations(kvModel, c.history);
    t.is(result.verdict, c.verdict, describeFailure(kvModel, result));
    if (c.verdict === 'illegal') t.truthy(result.failure);
  });
}

test('the failure names the partition and its longest linearizable prefix', (t) => {
  const history = [put('x', 'a', 0, 1), put('x', 'b', 2, 3), get('x', 'a', 4, 5)];
  const result = checkOperations(kvModel, history);
  t.is(result.verdict, 'illegal');
  t.is(result.failure?.label, 'key "x"');
  t.deepEqual(result.failure?.longestPrefix, [0, 1]);
  const text = describeFailure(kvModel, result);
  t.regex(text, /key "x"/);
  t.regex(text, /#2 client 0 \[4, 5\] get\("x"\) -> "a"/);
});

test('a violation on one key among many legal keys is found and named', (t) => {
  const prng = new Prng(7);
  const keyCount = 50;
  const badKey = 'k37';
  const history: KvOperation[] = [];
  for (let k = 0; k < keyCount; k++) {
    const key = `k${k}`;
    for (let i = 0; i < 20; i++) {
      const time = i * 10 + prng.int(3);
      history.push(put(key, `v${i}`, time, time + 4, k % 3), get(key, `v${i}`, time + 5, time + 8, (k + 1) % 3));
    }
  }
  // A stale read on one key, after v19 is visibly written.
  history.push(get(badKey, 'v3', 1000, 1001, 9));
  const result = checkOperations(kvModel, prng.shuffle(history));
  t.is(result.verdict, 'illegal');
  t.is(result.failure?.label, `key "${badKey}"`);
  t.true(result.failure?.operations.every((o) => o.input.key === badKey));
  t.is(result.failure?.partitionIndex, kvModel.partition!(history).findIndex((p) => p[0]!.input.key === badKey));
});

// ---- randomized: histories linearizable by construction ----

interface GenOptions {
  clients: number;
  opsPerClient: number;
  keys: number;
  unknownChance: number;
}

/**
 * Each client issues operations one after another with random gaps and
 * durations; each operation takes effect at a random instant inside its
 * interval, and outputs come from applying them in that order. Some puts and
 * cases time out (return Infinity); of those, some are never applied at all.
 */
function generateHistory(prng: Prng, opts: GenOptions): KvOperation[] {
  const planned: { op: KvOperation; at: number; applied: boolean }[] = [];
  for (let client = 0; client < opts.clients; client++) {
    let time = prng.int(5);
    for (let i = 0; i < opts.opsPerClient; i++) {
      const call = time + prng.int(4);
      const ret = call + prng.int(12);
      const key = `k${prng.int(opts.keys)}`;
      const kind = prng.pick(['get', 'put', 'put', 'cas'] as const);
      const value = `c${client}-${i}`;
      const input: KvInput =
        kind === 'get' ? { kind, key } : kind === 'put' ? { kind, key, value } : { kind, key, expected: null, value };
      const unknown = kind !== 'get' && prng.chance(opts.unknownChance);
      const op: KvOperation = { clientId: client, input, call, return: unknown ? Infinity : ret, output: undefined };
      planned.push({ op, at: call + prng.float() * (ret - call), applied: !unknown || prng.chance(0.5) });
      time = ret;
    }
  }
  planned.sort((a, b) => a.at - b.at);
  const state = new Map<string, string | null>();
  for (const { op, applied } of planned) applySequentially(prng, state, op, applied);
  return planned.map(({ op }) => op);
}

function applySequentially(prng: Prng, state: Map<string, string | null>, op: KvOperation, applied: boolean): void {
  const current = state.get(op.input.key) ?? null;
  const input = op.input;
  if (input.kind === 'get') {
    op.output = { value: current };
  } else if (input.kind === 'put') {
    if (applied) state.set(input.key, input.value);
    op.output = {};
  } else {
    // Expect the current value half the time, so both outcomes occur.
    input.expected = prng.chance(0.5) ? current : prng.pick([null, 'c0-0', 'c1-1']);
    const ok = input.expected === current;
    if (applied && ok) state.set(input.key, input.value);
    op.output = { ok };
  }
  if (op.return === Infinity) op.output = undefined;
}

test('random linearizable histories pass; a read changed to an impossible value fails', (t) => {
  const seed = 20240601;
  const prng = new Prng(seed);
  let mutated = 0;
  for (let round = 0; round < 300; round++) {
    const history = generateHistory(prng, { clients: 1 + prng.int(5), opsPerClient: 1 + prng.int(10), keys: 1 + prng.int(3), unknownChance: 0.15 });
    const result = checkOperations(kvModel, history);
    t.is(result.verdict, 'ok', `seed ${seed} round ${round}\n${describeFailure(kvModel, result)}`);

    const reads = history.filter((o) => o.input.kind === 'get' && o.return !== Infinity);
    if (reads.length === 0) continue;
    prng.pick(reads).output = { value: 'never-written' };
    t.is(checkOperations(kvModel, history).verdict, 'illegal', `seed ${seed} round ${round} (mutated)`);
    mutated++;
  }
  t.true(mutated > 100, `only ${mutated} mutated histories`);
});

// ---- randomized: agreement with a brute-force oracle on tiny histories ----

/** Tries every order that respects real time (a before b iff a returns strictly before b is called). */
function bruteForceLinearizable(history: KvOperation[]): boolean {
  const used = history.map(() => false);
  const search = (state: Map<string, string | null>, placed: number): boolean => {
    if (placed === history.length) return true;
    for (let i = 0; i < history.length; i++) {
      if (used[i]) continue;
      const op = history[i]!;
      const mustWait = history.some((other, j) => !used[j] && j !== i && other.return < op.call);
      if (mustWait) continue;
      const output = op.return === Infinity ? undefined : op.output;
      const result = kvModel.step(state.get(op.input.key) ?? null, op.input, output);
      if (!result.ok) continue;
      used[i] = true;
      const found = search(new Map(state).set(op.input.key, result.state), placed + 1);
      used[i] = false;
      if (found) return true;
    }
    return false;
  };
  return search(new Map(), 0);
}

function randomTinyHistory(prng: Prng): KvOperation[] {
  const values = [null, 'a', 'b'];
  return Array.from({ length: 1 + prng.int(6) }, (_, i) => {
    const call = prng.int(8);
    const ret = prng.chance(0.15) ? Infinity : call + prng.int(4);
    const key = prng.pick(['x', 'y']);
    const value = prng.pick(['a', 'b']);
    const input: KvInput = prng.pick<KvInput>([
      { kind: 'get', key },
      { kind: 'put', key, value },
      { kind: 'cas', key, expected: prng.pick(values), value },
    ]);
    const output: KvOutput = input.kind === 'get' ? { value: prng.pick(values) } : input.kind === 'cas' ? { ok: prng.chance(0.5) } : {};
    return op(input, output, call, ret, i);
  });
}

test('agrees with a brute-force search on random tiny histories', (t) => {
  const seed = 99;
  const prng = new Prng(seed);
  const seen = { ok: 0, illegal: 0 };
  for (let round = 0; round < 3000; round++) {
    const history = randomTinyHistory(prng);
    const expected = bruteForceLinearizable(history) ? 'ok' : 'illegal';
    const verdict = checkOperations(kvModel, history).verdict;
    if (verdict !== expected) {
      t.fail(`seed ${seed} round ${round}: got ${verdict}, want ${expected}\n${JSON.stringify(history)}`);
      return;
    }
    seen[expected]++;
  }
  // Both verdicts must be common, or the comparison proves little.
  t.true(seen.ok > 500 && seen.illegal > 500, JSON.stringify(seen));
});

// ---- randomized: agreement with a simple memoized oracle past one bitset word ----

/** Depth-first over sets of placed operations (as bigints), memoized on (set, state). One key only. */
function oracleLinearizable(history: KvOperation[]): boolean {
  const all = (1n << BigInt(history.length)) - 1n;
  const seen = new Set<string>();
  const has = (set: bigint, i: number): boolean => ((set >> BigInt(i)) & 1n) === 1n;
  const search = (set: bigint, state: string | null): boolean => {
    if (set === all) return true;
    const key = `${set.toString(36)}|${state}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return history.some((op, i) => {
      if (has(set, i)) return false;
      if (history.some((other, j) => j !== i && !has(set, j) && other.return < op.call)) return false;
      const result = kvModel.step(state, op.input, op.return === Infinity ? undefined : op.output);
      return result.ok && search(set | (1n << BigInt(i)), result.state);
    });
  };
  return search(0n, null);
}

test('agrees with a simple oracle on random single-key histories of 40-90 operations', (t) => {
  const seed = 31337;
  const prng = new Prng(seed);
  const seen = { ok: 0, illegal: 0 };
  for (let round = 0; round < 60; round++) {
    const history = generateHistory(prng, { clients: 2 + prng.int(3), opsPerClient: 20, keys: 1, unknownChance: 0.03 });
    // Make a read return some written value: sometimes still legal, often not.
    const reads = history.filter((o) => o.input.kind === 'get' && o.return !== Infinity);
    const writes = history.filter((o) => o.input.kind !== 'get');
    if (reads.length > 0 && writes.length > 0 && prng.chance(0.7)) {
      const write = prng.pick(writes).input as { value: string };
      prng.pick(reads).output = { value: write.value };
    }
    const expected = oracleLinearizable(history) ? 'ok' : 'illegal';
    t.is(checkOperations(kvModel, history).verdict, expected, `seed ${seed} round ${round}`);
    // With a memo too small to help, the search is exponential and may run
    // out of budget, but it must never reach the opposite verdict.
    const starved = checkOperations(kvModel, history, { maxMemoBytes: 2048, maxSteps: 100_000 }).verdict;
    t.true(starved === expected || starved === 'unknown', `seed ${seed} round ${round}, starved memo: ${starved}`);
    seen[expected]++;
  }
  t.true(seen.ok > 10 && seen.illegal > 10, JSON.stringify(seen));
});

// ---- limits and performance ----

test('maxSteps: a pathological history gives unknown, never a wrong verdict', (t) => {
  const writers = 20;
  const history = Array.from({ length: writers }, (_, i) => put('x', `v${i}`, 0, 100, i));
  history.push(get('x', 'impossible', 200, 201, writers));
  const result = checkOperations(kvModel, history, { maxSteps: 1000 });
  t.is(result.verdict, 'unknown');
  t.is(result.exhaustedPartitionIndex, 0);
  t.true(result.steps <= 1000);

  // Small enough to finish: the same shape is found illegal.
  const small = Array.from({ length: 8 }, (_, i) => put('x', `v${i}`, 0, 100, i));
  small.push(get('x', 'impossible', 200, 201, 8));
  t.is(checkOperations(kvModel, small).verdict, 'illegal');
});

test('an illegal partition wins over one that ran out of budget', (t) => {
  const history = Array.from({ length: 20 }, (_, i) => put('slow', `v${i}`, 0, 100, i));
  history.push(get('slow', 'impossible', 200, 201));
  history.push(put('bad', 'a', 0, 1), get('bad', null, 2, 3));
  const result = checkOperations(kvModel, history, { maxSteps: 1000 });
  t.is(result.verdict, 'illegal');
  t.is(result.failure?.label, 'key "bad"');
});

test('bad histories and options are typed errors', (t) => {
  const error = t.throws(() => checkOperations(kvModel, [put('x', 'a', 5, 4)]), { instanceOf: LinearizabilityError });
  t.is(error?.code, 'LINEARIZABILITY_ERR_INVALID_HISTORY');
  const options = t.throws(() => checkOperations(kvModel, [], { maxSteps: 0 }), { instanceOf: LinearizabilityError });
  t.is(options?.code, 'LINEARIZABILITY_ERR_INVALID_OPTIONS');
});

test('performance: 5,000 operations on 5 keys from 5 clients', (t) => {
  const prng = new Prng(4242);
  const history = generateHistory(prng, { clients: 5, opsPerClient: 1000, keys: 5, unknownChance: 0.01 });
  const started = performance.now();
  const result = checkOperations(kvModel, history);
  const elapsedMs = performance.now() - started;
  t.is(result.verdict, 'ok', describeFailure(kvModel, result));
  t.log(`${history.length} ops, ${result.steps} steps, ${elapsedMs.toFixed(0)} ms`);
});
