/**
 * The Job controller on a real 3-member store: completions with parallelism,
 * the backoff limit, suspend, and no duplicate pods however events interleave.
 */
import test from 'ava';
import pino from 'pino';
import { ApiServer } from '../src/control/apiserver/index.js';
import { ControllerManager } from '../src/control/controllers/index.js';
import { JobController } from '../src/control/controllers/job.js';
import { StoreTestCluster } from './helpers/store-cluster.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;

async function withCluster(f: (call: (m: string, p: string, b?: unknown) => Promise<J>, eventually: (what: string, c: () => Promise<boolean>) => Promise<void>) => Promise<void>): Promise<void> {
  const cluster = new StoreTestCluster(['a', 'b', 'c']);
  await cluster.startAll();
  await cluster.waitFor(() => cluster.leader() !== undefined, 'a leader');
  const api = new ApiServer({
    kv: cluster.leader()!, host: '127.0.0.1', port: 0, tls: null, tokens: new Map([['t', { name: 'admin', uid: '1', groups: [] }]]),
    allowAnonymous: false, maxBodyBytes: 1 << 20, bookmarkIntervalMs: 60_000, notReady: () => null, logger: pino({ level: 'silent' }),
  });
  await api.start();
  const managers = [...cluster.servers.values()].map((s) => new ControllerManager(s, [new JobController()], pino({ level: 'silent' })));
  for (const m of managers) m.start();
  const call = async (method: string, path: string, body?: unknown): Promise<J> => {
    const ct = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
    const r = await fetch(`http://127.0.0.1:${api.port}${path}`, { method, headers: { Authorization: 'Bearer t', 'Content-Type': ct }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: r.status, body: await r.json() };
  };
  const eventually = async (what: string, c: () => Promise<boolean>) => {
    const t0 = Date.now();
    while (!(await c())) {
      if (Date.now() - t0 > 10_000) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await eventually('default exists', async () => (await call('GET', '/api/v1/namespaces/default')).status === 200);
    await f(call, eventually);
  } finally {
    for (const m of managers) await m.close();
    await api.close();
    await cluster.close();
  }
}

const job = (name: string, spec: J) => ({
  apiVersion: 'batch/v1', kind: 'Job', metadata: { name },
  spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', command: ['true'] }] } }, ...spec },
});

async function podsOf(call: (m: string, p: string) => Promise<J>, name: string): Promise<J[]> {
  return (await call('GET', `/api/v1/namespaces/default/pods?labelSelector=${encodeURIComponent(`batch.kubernetes.io/job-name=${name}`)}`)).body.items;
}

async function finish(call: (m: string, p: string, b?: unknown) => Promise<J>, pod: J, phase: 'Succeeded' | 'Failed'): Promise<void> {
  const r = await call('PUT', `/api/v1/namespaces/default/pods/${pod.metadata.name}/status`, { ...pod, status: { ...pod.status, phase } });
  if (r.status !== 200) throw new Error(`status ${r.status}: ${JSON.stringify(r.body)}`);
}

test('completions with parallelism: never more than parallelism at once, no duplicates, Complete at the end', async (t) => {
  await withCluster(async (call, eventually) => {
    t.is((await call('POST', '/apis/batch/v1/namespaces/default/jobs', job('work', { completions: 5, parallelism: 2 }))).status, 201);
    let done = 0;
    while (done < 5) {
      await eventually('pods to run', async () => (await podsOf(call, 'work')).some((p) => !p.status?.phase || p.status.phase === 'Pending'));
      const pods = await podsOf(call, 'work');
      const running = pods.filter((p) => p.status?.phase !== 'Succeeded' && !p.metadata.deletionTimestamp);
      t.true(running.length <= 2, `at most parallelism pods at once, saw ${running.length}`);
      await finish(call, running[0], 'Succeeded');
      done++;
    }
    await eventually('Complete', async () => ((await call('GET', '/apis/batch/v1/namespaces/default/jobs/work')).body.status?.conditions ?? []).some((c: J) => c.type === 'Complete'));
    const j = (await call('GET', '/apis/batch/v1/namespaces/default/jobs/work')).body;
    t.is(j.status.succeeded, 5);
    t.truthy(j.status.completionTime);
    t.is((await podsOf(call, 'work')).length, 5, 'exactly completions pods were ever made');
  });
});

test('backoffLimit: failures past it fail the job; suspend stops the pods', async (t) => {
  await withCluster(async (call, eventually) => {
    await call('POST', '/apis/batch/v1/namespaces/default/jobs', job('flaky', { backoffLimit: 1 }));
    for (let i = 0; i < 2; i++) {
      await eventually('a pod', async () => (await podsOf(call, 'flaky')).some((p) => !p.status?.phase || p.status.phase === 'Pending'));
      const p = (await podsOf(call, 'flaky')).find((x) => !x.status?.phase || x.status.phase === 'Pending');
      await finish(call, p, 'Failed');
    }
    await eventually('Failed', async () => ((await call('GET', '/apis/batch/v1/namespaces/default/jobs/flaky')).body.status?.conditions ?? []).some((c: J) => c.type === 'Failed' && c.reason === 'BackoffLimitExceeded'));
    t.is((await podsOf(call, 'flaky')).length, 2);

    await call('POST', '/apis/batch/v1/namespaces/default/jobs', job('paused', { parallelism: 3, completions: 3 }));
    await eventually('3 pods', async () => (await podsOf(call, 'paused')).length === 3);
    await call('PATCH', '/apis/batch/v1/namespaces/default/jobs/paused', { spec: { suspend: true } });
    await eventually('suspended: no pod left running', async () => (await podsOf(call, 'paused')).every((p) => p.metadata.deletionTimestamp));
    t.pass();
  });
});
