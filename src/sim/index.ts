/**
 * skiff/sim — the deterministic cluster simulator: a whole Raft cluster, its
 * network, disks and clients in one process, driven by one seed.
 */
export { SimCluster, SIM_DEFAULTS, type SimOptions, type SimResult, type SimViolation, type SimStats } from './cluster.js';
export { runBatch, runSeed, type BatchOptions, type BatchSummary } from './run.js';
export { runDemo, type DemoOptions } from './demo.js';
export { InvariantChecker, Violation } from './invariants.js';
export { SimDisk, type WriteBatch } from './disk.js';
export { SimNetwork, type NetworkFaults, type Partition } from './network.js';
