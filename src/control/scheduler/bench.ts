/**
 * The body of `npm run bench:scheduler`: the real SchedulingLoop (cache,
 * queue, framework, event routing) over an in-memory cluster, without the
 * store: binds succeed at once and come back as informer events (bound pod
 * MODIFIED), as they would from the watch. Nodes vary in size, zone,
 * instance type and taints; pods mix plain resource requests, required and
 * preferred node affinity, nodeSelector, tolerations, and required and
 * preferred pod anti-affinity. Deterministic for a seed.
 *
 * Measures pods scheduled per second (all cycles, wall clock) and the p99 of
 * one scheduling cycle (pop → node chosen, pod assumed, bind sent).
 */
import { performance } from 'node:perf_hooks';
import type { KubeObject } from '../apiserver/index.js';
import { Prng } from '../../util/prng.js';
import { SchedulingLoop } from './scheduler.js';

export interface SchedulerBenchOptions {
  nodes: number;
  pods: number;
  seed?: number;
}

export interface SchedulerBenchResult {
  pods_per_s: number;
  p99_ms: number;
  p50_ms: number;
  scheduled: number;
  unschedulable: number;
  nodes: number;
  pods: number;
  elapsed_ms: number;
}

const ZONES = 10;
const SIZES = [
  { type: 'small', cpu: '4', memory: '8Gi' },
  { type: 'medium', cpu: '8', memory: '16Gi' },
  { type: 'large', cpu: '16', memory: '64Gi' },
  { type: 'xlarge', cpu: '32', memory: '128Gi' },
];
const CREATED = '2024-01-01T00:00:00Z';

export function benchNode(i: number, rnd: Prng): KubeObject {
  const size = SIZES[rnd.nextU32() % SIZES.length]!;
  const name = `node-${i}`;
  const tainted = i % 20 === 0; // 5% dedicated nodes
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: { 'kubernetes.io/hostname': name, 'topology.kubernetes.io/zone': `zone-${i % ZONES}`, 'node.kubernetes.io/instance-type': size.type, 'kubernetes.io/os': 'linux' },
    },
    spec: tainted ? { taints: [{ key: 'dedicated', value: 'batch', effect: 'NoSchedule' }] } : {},
    status: { allocatable: { cpu: size.cpu, memory: size.memory, pods: '110', 'ephemeral-storage': '100Gi' } },
  };
}

function container(rnd: Prng): KubeObject['spec'] {
  const cpu = [100, 250, 500, 1000][rnd.nextU32() % 4]!;
  const mem = [128, 256, 512, 1024][rnd.nextU32() % 4]!;
  return { name: 'c', image: 'registry.local/app:1', resources: { requests: { cpu: `${cpu}m`, memory: `${mem}Mi` } } };
}

/** The constraint mix: 45% resources only, 15% required node affinity, 10% nodeSelector, 5% tolerating the taint, 15% required anti-affinity, 10% preferred anti-affinity. */
function constraints(i: number, app: string, rnd: Prng): Record<string, unknown> {
  const kind = rnd.nextU32() % 100;
  const byApp = { labelSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: [app] }] }, topologyKey: 'kubernetes.io/hostname' };
  if (kind < 45) return {};
  if (kind < 60)
    return {
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'node.kubernetes.io/instance-type', operator: 'In', values: ['large', 'xlarge'] }] }] },
          preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, preference: { matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: [`zone-${i % ZONES}`] }] } }],
        },
      },
    };
  if (kind < 70) return { nodeSelector: { 'topology.kubernetes.io/zone': `zone-${i % ZONES}` } };
  if (kind < 75) return { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'batch', effect: 'NoSchedule' }] };
  if (kind < 90) return { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [byApp] } } };
  return { affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: byApp }] } } };
}

export function benchPod(i: number, rnd: Prng): KubeObject {
  const app = `app-${i % 500}`; // 500 workloads of ~20 replicas each
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: 'bench', name: `pod-${i}`, labels: { app }, creationTimestamp: CREATED },
    spec: { schedulerName: 'default-scheduler', priority: 0, containers: [container(rnd)], ...constraints(i, app, rnd) },
    status: { phase: 'Pending' },
  };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function runSchedulerBench(o: SchedulerBenchOptions): SchedulerBenchResult {
  const rnd = new Prng(o.seed ?? 1);
  const objects = new Map<string, KubeObject>();
  /** Binds sent and not yet seen back: delivered as informer events between cycles. */
  const confirmations: KubeObject[] = [];
  const loop = new SchedulingLoop(
    (pod, node) => {
      confirmations.push({ ...pod.pod, spec: { ...pod.pod.spec, nodeName: node } });
      return Promise.resolve();
    },
    () => Promise.resolve(),
    { random: () => rnd.nextU32() / 2 ** 32 },
  );
  for (let i = 0; i < o.nodes; i++) loop.onNode('ADDED', benchNode(i, rnd), undefined);
  for (let i = 0; i < o.pods; i++) {
    const p = benchPod(i, rnd);
    objects.set(`bench/${p.metadata.name}`, p);
    loop.onPod('ADDED', p, undefined);
  }
  const cycles = new Float64Array(o.pods * 2);
  let n = 0;
  const t0 = performance.now();
  for (;;) {
    const pod = loop.queue.tryPop();
    if (!pod) break;
    const c0 = performance.now();
    void loop.scheduleOne(pod);
    if (n < cycles.length) cycles[n++] = performance.now() - c0;
    for (const bound of confirmations.splice(0)) {
      const key = `bench/${bound.metadata.name}`;
      loop.onPod('MODIFIED', bound, objects.get(key));
      objects.set(key, bound);
    }
  }
  const elapsed = performance.now() - t0;
  const sorted = cycles.slice(0, n).sort();
  const scheduled = loop.cache.podCount;
  return {
    pods_per_s: Math.round((scheduled / elapsed) * 1000),
    p99_ms: Number(percentile(sorted, 99).toFixed(3)),
    p50_ms: Number(percentile(sorted, 50).toFixed(3)),
    scheduled,
    unschedulable: loop.stats.unschedulable,
    nodes: o.nodes,
    pods: o.pods,
    elapsed_ms: Math.round(elapsed),
  };
}
