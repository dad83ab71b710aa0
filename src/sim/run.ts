/**
 * Runs many seeds of the simulator and summarizes. Used by `skiff sim`, by
 * `npm test` (a time-bounded batch) and by tests that prove injected bugs are
 * caught.
 */
import { SimCluster, type SimOptions, type SimResult } from './cluster.js';

export interface BatchOptions extends Partial<Omit<SimOptions, 'seed'>> {
  /** Seeds to run: firstSeed, firstSeed+1, ... */
  seeds: number;
  firstSeed: number;
  /** Stop starting new seeds after this much wall time (0 = no limit). */
  timeBudgetMs: number;
  /** Stop at the first violation. */
  stopOnViolation: boolean;
  onResult?: (r: SimResult) => void;
}

export interface BatchSummary {
  seeds: number;
  steps: number;
  ops: number;
  violations: number;
  elapsed_ms: number;
  first_violation: { seed: number; invariant: string; message: string } | null;
  /** Histories the checker could not decide within its budget. */
  undecided: number;
  nodes: number;
}

export function runSeed(seed: number, options: Partial<Omit<SimOptions, 'seed'>> = {}): SimResult {
  return new SimCluster({ ...options, seed }).run();
}

export function runBatch(options: BatchOptions): BatchSummary {
  const started = Date.now();
  const summary: BatchSummary = {
    seeds: 0,
    steps: 0,
    ops: 0,
    violations: 0,
    elapsed_ms: 0,
    first_violation: null,
    undecided: 0,
    nodes: options.nodes ?? 3,
  };
  const { seeds, firstSeed, timeBudgetMs, stopOnViolation, onResult, ...simOptions } = options;
  for (let i = 0; i < seeds; i++) {
    if (timeBudgetMs > 0 && Date.now() - started >= timeBudgetMs) break;
    const r = runSeed(firstSeed + i, simOptions);
    summary.seeds++;
    summary.steps += r.steps;
    summary.ops += r.ops;
    if (r.stats.linearizability === 'unknown') summary.undecided++;
    onResult?.(r);
    if (r.violation) {
      summary.violations++;
      summary.first_violation ??= { seed: r.seed, invariant: r.violation.invariant, message: r.violation.message };
      if (stopOnViolation) break;
    }
  }
  summary.elapsed_ms = Date.now() - started;
  return summary;
}
