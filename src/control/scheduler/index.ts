/**
 * skiff's scheduler: upstream's scheduler framework (extension points, a
 * profile of plugins, FitError wording) over an incremental in-memory cache,
 * run as a control loop of the Raft leader (`Scheduler`).
 */
export { Scheduler, SchedulingLoop, unschedulableChange, MAX_BINDS_IN_FLIGHT, type SchedulerOptions, type BindFn, type ReportFn } from './scheduler.js';
export { Framework, defaultProfile, numFeasibleNodesToFind, runFilters, type FrameworkOptions, type ScheduleResult } from './framework.js';
export { SchedulerCache, HARD_POD_AFFINITY_WEIGHT } from './cache.js';
export { SchedulingQueue, backoffMs, INITIAL_BACKOFF_MS, MAX_BACKOFF_MS, UNSCHEDULABLE_FLUSH_MS } from './queue.js';
export { NodeInfo, PodInfo, podRequests, resourcesOf, tolerates, DEFAULT_SCHEDULER_NAME, type Resources, type Taint, type Toleration } from './pod-info.js';
export { quantityValue, milliValue, intValue } from '../../util/quantity.js';
export {
  CycleState,
  FitError,
  fitErrorMessage,
  MAX_NODE_SCORE,
  SKIP,
  unschedulable,
  type AffinityTerm,
  type AnyPlugin,
  type BindPlugin,
  type Code,
  type FilterPlugin,
  type Plugin,
  type PreFilterPlugin,
  type PreScorePlugin,
  type Profile,
  type QueueSortPlugin,
  type ScorePlugin,
  type Snapshot,
  type Status,
  type TermGroup,
  type WeightedAffinityTerm,
} from './types.js';
export { runSchedulerBench, type SchedulerBenchResult } from './bench.js';
export * as plugins from './plugins/index.js';
