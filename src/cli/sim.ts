/**
 * `skiff sim`: runs seeds of the deterministic simulator. The last line of
 * output is one JSON summary; a violation prints the seed, the invariant and
 * a trace, then exits non-zero. `--seed S` alone replays seed S exactly.
 */
import { parseArgs } from 'node:util';
import type { RaftMutation } from '../raft/index.js';
import { type BatchSummary, runBatch } from '../sim/index.js';
import type { SimResult } from '../sim/index.js';

const BUGS = ['commit-previous-term', 'vote-ignores-log', 'send-before-sync'] as const;

export const SIM_USAGE = `usage: skiff sim [--seeds N] [--seed S] [--nodes 3|5] [--time-budget-ms MS]
                 [--safety-ms MS] [--liveness-ms MS] [--clients N] [--bug NAME] [--keep-going] [--trace N]

  --seeds N           how many seeds to run (default 100; 1 when only --seed is given)
  --seed S            first seed (default 1); seeds S, S+1, ... are run
  --nodes 3|5         cluster size (default 3)
  --time-budget-ms    stop starting new seeds after this much wall time
  --bug NAME          inject a known protocol bug to see it caught:
                      ${BUGS.join(', ')}
  --keep-going        do not stop at the first violation
  --trace N           events shown before a violation (default 40)`;

export async function simCommand(argv: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      seeds: { type: 'string' },
      seed: { type: 'string' },
      nodes: { type: 'string', default: '3' },
      'time-budget-ms': { type: 'string', default: '0' },
      'safety-ms': { type: 'string' },
      'liveness-ms': { type: 'string' },
      clients: { type: 'string' },
      bug: { type: 'string' },
      'keep-going': { type: 'boolean', default: false },
      trace: { type: 'string', default: '40' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    out(SIM_USAGE);
    return 0;
  }
  const int = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
  const nodes = int('nodes', values.nodes, 1)!;
  if (nodes !== 3 && nodes !== 5) throw new UsageError(`--nodes must be 3 or 5, got ${nodes}`);
  const bug = values.bug;
  if (bug !== undefined && !(BUGS as readonly string[]).includes(bug)) {
    throw new UsageError(`--bug must be one of ${BUGS.join(', ')}, got ${JSON.stringify(bug)}`);
  }
  const firstSeed = int('seed', values.seed, 0) ?? 1;
  const seeds = int('seeds', values.seeds, 1) ?? (values.seed !== undefined ? 1 : 100);
  const traceEvents = int('trace', values.trace, 0)!;
  let printed = 0;
  const summary: BatchSummary = runBatch({
    seeds,
    firstSeed,
    nodes,
    timeBudgetMs: int('time-budget-ms', values['time-budget-ms'], 0)!,
    stopOnViolation: !values['keep-going'],
    traceEvents,
    ...(values['safety-ms'] !== undefined ? { safetyMs: int('safety-ms', values['safety-ms'], 100)! } : {}),
    ...(values['liveness-ms'] !== undefined ? { livenessMs: int('liveness-ms', values['liveness-ms'], 500)! } : {}),
    ...(values.clients !== undefined ? { clients: int('clients', values.clients, 1)! } : {}),
    mutation: bug === 'send-before-sync' || bug === undefined ? null : (bug as RaftMutation),
    sendBeforeSync: bug === 'send-before-sync',
    onResult: (r) => {
      if (r.violation) {
        if (printed++ < 3) printViolation(r, nodes, bug, err);
      }
    },
  });
  out(JSON.stringify(summary));
  return summary.violations > 0 ? 1 : 0;
}

function printViolation(r: SimResult, nodes: number, bug: string | undefined, err: (s: string) => void): void {
  const v = r.violation!;
  err(`VIOLATION seed=${r.seed} invariant=${v.invariant} at t=${v.timeMs}ms step ${v.step}`);
  err(`  ${v.message}`);
  err(`  last ${v.trace.length} events:`);
  for (const line of v.trace) err(`    ${line}`);
  err(`  replay: npm run sim -- --seed ${r.seed} --nodes ${nodes}${bug ? ` --bug ${bug}` : ''}`);
}

export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'SKIFF_ERR_USAGE';
}
