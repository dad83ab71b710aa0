/**
 * The Job controller on a real 3-member store: completions with parallelism,
 * the backoff limit, suspend, and no duplicate pods however events interleave.
 */
import test from 'ava';
import { JobController } from '../src/control/controllers/job.js';
import { type ControlCluster, type J, startControlCluster } from './helpers/control-cluster.js';

const job = (name: string, spec: J) => ({
  apiVersion: 'batch/v1', kind: 'Job', metadata: { name },
  spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'busybox', command: ['true'] }] } }, ...spec },
});

async function podsOf(c: ControlCluster, name: string): Promise<J[]> {
  return (await c.call('GET', `/api/v1/namespaces/default/pods?labelSelector=${encodeURIComponent(`batch.kubernetes.io/job-name=${name}`)}`)).body.items;
}

const pending = (p: J) => !p.status?.phase || p.status.phase === 'Pending';

async function finish(c: ControlCluster, pod: J, phase: 'Succeeded' | 'Failed'): Promise<void> {
  const r = await c.call('PUT', `/api/v1/namespaces/default/pods/${pod.metadata.name}/status`, { ...pod, status: { ...pod.status, phase } });
  if (r.status !== 200) throw new Error(`status ${r.status}: ${JSON.stringify(r.body)}`);
}

const condition = async (c: ControlCluster, name: string, type: string) => ((await c.call('GET', `/apis/batch/v1/namespaces/default/jobs/${name}`)).body.status?.conditions ?? []).find((x: J) => x.type === type);

test('completions with parallelism: never more than parallelism at once, no duplicates, Complete at the end', async (t) => {
  const c = await startControlCluster({ controllers: () => [new JobController()] });
  try {
    t.is((await c.call('POST', '/apis/batch/v1/namespaces/default/jobs', job('work', { completions: 5, parallelism: 2 }))).status, 201);
    for (let done = 0; done < 5; done++) {
      await c.eventually('pods to run', async () => (await podsOf(c, 'work')).some(pending));
      const running = (await podsOf(c, 'work')).filter((p) => p.status?.phase !== 'Succeeded' && !p.metadata.deletionTimestamp);
      t.true(running.length <= 2, `at most parallelism pods at once, saw ${running.length}`);
      await finish(c, running[0], 'Succeeded');
    }
    await c.eventually('Complete', async () => Boolean(await condition(c, 'work', 'Complete')));
    const j = (await c.call('GET', '/apis/batch/v1/namespaces/default/jobs/work')).body;
    t.is(j.status.succeeded, 5);
    t.truthy(j.status.completionTime);
    t.is((await podsOf(c, 'work')).length, 5, 'exactly completions pods were ever made');
  } finally {
    await c.close();
  }
});

test('backoffLimit: failures past it fail the job; suspend stops the pods', async (t) => {
  const c = await startControlCluster({ controllers: () => [new JobController()] });
  try {
    await c.call('POST', '/apis/batch/v1/namespaces/default/jobs', job('flaky', { backoffLimit: 1 }));
    for (let i = 0; i < 2; i++) {
      await c.eventually('a pod', async () => (await podsOf(c, 'flaky')).some(pending));
      await finish(c, (await podsOf(c, 'flaky')).find(pending), 'Failed');
    }
    await c.eventually('Failed', async () => (await condition(c, 'flaky', 'Failed'))?.reason === 'BackoffLimitExceeded');
    t.is((await podsOf(c, 'flaky')).length, 2);
    await c.call('POST', '/apis/batch/v1/namespaces/default/jobs', job('paused', { parallelism: 3, completions: 3 }));
    await c.eventually('3 pods', async () => (await podsOf(c, 'paused')).length === 3);
    await c.call('PATCH', '/apis/batch/v1/namespaces/default/jobs/paused', { spec: { suspend: true } });
    await c.eventually('suspended: no pod left running', async () => (await podsOf(c, 'paused')).every((p) => p.metadata.deletionTimestamp));
    t.pass();
  } finally {
    await c.close();
  }
});
