/**
 * `npm run bench:scheduler`: the scheduler's real queue, cache, framework and
 * plugins, in memory (binds succeed at once and come back as informer
 * updates, as from the store): 5,000 nodes with varied allocatable, zones and
 * taints; 10,000 pods with mixed constraints (resources, node affinity, pod
 * anti-affinity). Last line JSON with pods_per_s and p99_ms (scheduling
 * latency). Goal: ≥ 1,000 pods/s (Kubernetes' clusterloader threshold: 100).
 */
import { parseArgs } from 'node:util';
import { runSchedulerBench } from '../src/control/scheduler/index.js';

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '5000' }, pods: { type: 'string', default: '10000' } } });
const r = runSchedulerBench({ nodes: Number(values.nodes), pods: Number(values.pods) });
console.log(JSON.stringify({ bench: 'scheduler', ...r, goal_pods_per_s: 1000 }));
