/**
 * skiff as a library. Each layer is also importable on its own:
 * `skiff/raft` (the consensus core), `skiff/sim` (the deterministic cluster
 * simulator), `skiff/linearizability` (the history checker).
 */
export * as raft from './raft/index.js';
export * as sim from './sim/index.js';
export * as linearizability from './linearizability/index.js';
