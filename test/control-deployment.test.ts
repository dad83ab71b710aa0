/**
 * The Deployment controller (with the ReplicaSet controller under it) on a
 * real 3-member store with an API server per member. No node runs: a fake
 * kubelet in the test marks new pods Running/Ready through pods/status, a
 * little after they appear, so that rollouts take several steps whose every
 * observed state is checked against maxSurge and maxUnavailable.
 */
import test from 'ava';
import { DeploymentController } from '../src/control/controllers/deployment.js';
import { ReplicaSetController } from '../src/control/controllers/replicaset.js';
import * as u from '../src/control/controllers/workload-rollout.js';
import type { StoreTestCluster } from './helpers/store-cluster.js';
import { type ControlCluster, startControlCluster } from './helpers/control-cluster.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;
const auth = { Authorization: 'Bearer t' };

/** The shared in-process control plane (test/helpers/control-cluster.ts), named as this file uses it. */
type Env = ControlCluster & { cluster: StoreTestCluster };

async function start(): Promise<Env> {
  const c = await startControlCluster({ controllers: () => [new DeploymentController(), new ReplicaSetController('replicasets')] });
  return { ...c, cluster: c.store };
}

async function stopMember(e: Env, name: string): Promise<void> {
  await e.managers.get(name)?.close();
  e.managers.delete(name);
  await e.apis.get(name)?.close();
  e.apis.delete(name);
  await e.cluster.stop(name);
}

async function stop(e: Env): Promise<void> {
  await e.close();
}

/** A request to the first live member's API server. */
async function call(e: Env, method: string, path: string, body?: unknown): Promise<{ status: number; body: J }> {
  const headers: Record<string, string> = { ...auth };
  if (body !== undefined) headers['Content-Type'] = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
  const member = [...e.apis.keys()][0]!;
  // A request caught by a member going away would wait for the store's request timeout: give up sooner and retry.
  const r = await fetch(`http://127.0.0.1:${e.apis.get(member)!.port}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(1_000) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function eventually(what: string, f: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const t0 = Date.now();
  while (!(await f().catch(() => false))) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NS = '/api/v1/namespaces/default';
const DEPLOYS = '/apis/apps/v1/namespaces/default/deployments';
const RSS = '/apis/apps/v1/namespaces/default/replicasets';
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function deployment(name: string, replicas: number, strategy: J, extra: J = {}): J {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: { replicas, selector: { matchLabels: { app: name } }, strategy, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'img:v1' }] } }, ...extra },
  };
}

const isReady = (p: J) => p.status?.conditions?.some((c: J) => c.type === 'Ready' && c.status === 'True') === true;

async function livePods(e: Env, app: string): Promise<J[]> {
  const r = await call(e, 'GET', `${NS}/pods?labelSelector=app%3D${app}`);
  if (r.status !== 200) throw new Error(`list pods: ${r.status}`);
  return r.body.items.filter((p: J) => !p.metadata.deletionTimestamp);
}

async function replicaSets(e: Env, app: string): Promise<J[]> {
  const r = await call(e, 'GET', `${RSS}?labelSelector=app%3D${app}`);
  if (r.status !== 200) throw new Error(`list replicasets: ${r.status}`);
  return r.body.items;
}

async function getDeploy(e: Env, name: string): Promise<J> {
  return (await call(e, 'GET', `${DEPLOYS}/${name}`)).body;
}

async function patchDeploy(e: Env, name: string, patch: J): Promise<void> {
  const r = await call(e, 'PATCH', `${DEPLOYS}/${name}`, patch);
  if (r.status !== 200) throw new Error(`patch: ${r.status} ${JSON.stringify(r.body)}`);
}

const image = (img: string) => ({ spec: { template: { spec: { containers: [{ name: 'c', image: img }] } } } });

/**
 * A fake kubelet: marks the pods of `app` Running and Ready once they are
 * `delayMs` old. Stops when `stop()` is called.
 */
function fakeKubelet(e: Env, app: string, delayMs = 150): { stop: () => Promise<void> } {
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        for (const p of await livePods(e, app)) {
          if (isReady(p) || Date.now() - Date.parse(p.metadata.creationTimestamp) < delayMs) continue;
          p.status = {
            ...p.status,
            phase: 'Running',
            conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: iso(Date.now()) }],
            containerStatuses: [{ name: 'c', image: p.spec.containers[0].image, imageID: '', ready: true, restartCount: 0, started: true, state: { running: { startedAt: iso(Date.now()) } } }],
          };
          await call(e, 'PUT', `${NS}/pods/${p.metadata.name}/status`, p);
        }
      } catch {
        /* a member going away mid-test: try again */
      }
      await sleep(50);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

function complete(d: J, replicas: number): boolean {
  const s = d.status ?? {};
  return s.observedGeneration === d.metadata.generation && s.replicas === replicas && s.updatedReplicas === replicas && s.availableReplicas === replicas && s.readyReplicas === replicas && !s.unavailableReplicas;
}

const cond = (d: J, type: string) => d.status?.conditions?.find((c: J) => c.type === type);

/**
 * Watches a rollout until `done`, checking every observed state: pods (not
 * being deleted) and the sum of ReplicaSet sizes never above
 * replicas + surge, ready pods never below replicas − unavailable.
 */
async function watchRollout(e: Env, app: string, replicas: number, surge: number, unavailable: number, done: () => Promise<boolean>, timeoutMs = 20_000): Promise<{ observations: number; violations: string[] }> {
  const violations: string[] = [];
  let observations = 0;
  const t0 = Date.now();
  for (;;) {
    try {
      const [pods, rss] = [await livePods(e, app), await replicaSets(e, app)];
      observations++;
      const ready = pods.filter(isReady).length;
      const sized = rss.reduce((n: number, rs: J) => n + rs.spec.replicas, 0);
      if (pods.length > replicas + surge) violations.push(`${pods.length} pods > ${replicas + surge}`);
      if (sized > replicas + surge) violations.push(`replica sets sized ${sized} > ${replicas + surge}`);
      if (ready < replicas - unavailable) violations.push(`${ready} ready < ${replicas - unavailable}`);
      if (await done()) return { observations, violations };
    } catch {
      /* a member going away: observe again */
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`rollout of ${app} did not finish; violations: ${violations.join('; ')}`);
    await sleep(20);
  }
}

// ---------------------------------------------------------------- units

test('pod-template hash: stable, DNS-safe, moved by the collision count', (t) => {
  const tpl = { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'c', image: 'i' }] } };
  const h = u.computeHash(tpl);
  t.is(h, u.computeHash(structuredClone(tpl)));
  t.is(h, u.computeHash({ spec: { containers: [{ image: 'i', name: 'c' }] }, metadata: { labels: { app: 'x' } } }), 'key order does not matter');
  t.regex(h, /^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
  t.not(u.computeHash(tpl, 1), h);
  t.not(u.computeHash({ ...tpl, spec: { containers: [{ name: 'c', image: 'j' }] } }), h);
  t.true(u.equalIgnoreHash({ metadata: { labels: { app: 'x', 'pod-template-hash': h } }, spec: tpl.spec } as J, tpl as J));
});

test('fenceposts: surge rounds up, unavailable rounds down, never both zero', (t) => {
  const cases: [unknown, unknown, number, [number, number]][] = [
    ['25%', '25%', 10, [3, 2]],
    ['25%', '25%', 1, [1, 0]],
    ['0%', '10%', 5, [0, 1]],
    [0, 0, 3, [0, 1]],
    [2, '50%', 5, [2, 2]],
    ['100%', 0, 4, [4, 0]],
  ];
  for (const [s, un, n, want] of cases) t.deepEqual(u.resolveFenceposts(s, un, n), want, `${String(s)}/${String(un)} of ${n}`);
  const d = (replicas: number, ru: J) => ({ metadata: {}, spec: { replicas, strategy: { type: 'RollingUpdate', rollingUpdate: ru } } }) as J;
  t.is(u.maxUnavailable(d(2, { maxSurge: 0, maxUnavailable: 5 })), 2, 'capped at replicas');
  t.is(u.maxSurge({ metadata: {}, spec: { replicas: 3, strategy: { type: 'Recreate' } } } as J), 0);
  const newRS = { metadata: {}, spec: { replicas: 0 } } as J;
  const oldRS = { metadata: {}, spec: { replicas: 10 } } as J;
  t.is(u.newRSNewReplicas(d(10, { maxSurge: '25%', maxUnavailable: '25%' }), [oldRS, newRS], newRS), 3);
});

test('revision annotations: a ReplicaSet coming back keeps its earlier revisions', (t) => {
  const d = { metadata: { annotations: { team: 'x' } }, spec: { replicas: 3, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } } } } as J;
  const fresh = { metadata: {}, spec: { replicas: 0 } } as J;
  t.true(u.setNewReplicaSetAnnotations(d, fresh, '1', false));
  t.deepEqual(fresh.metadata.annotations, { team: 'x', [u.REVISION_ANNOTATION]: '1', [u.DESIRED_REPLICAS_ANNOTATION]: '3', [u.MAX_REPLICAS_ANNOTATION]: '4' });
  const back = { metadata: { annotations: { [u.REVISION_ANNOTATION]: '1' } }, spec: { replicas: 0 } } as J;
  u.setNewReplicaSetAnnotations(d, back, '3', true);
  t.is(back.metadata.annotations[u.REVISION_ANNOTATION], '3');
  t.is(back.metadata.annotations[u.REVISION_HISTORY_ANNOTATION], '1');
  u.setNewReplicaSetAnnotations(d, back, '5', true);
  t.is(back.metadata.annotations[u.REVISION_HISTORY_ANNOTATION], '1,3');
  t.false(u.setNewReplicaSetAnnotations(d, back, '5', true), 'idempotent');
});

test('status: counts, Available, progress and the deadline', (t) => {
  const d = { metadata: { generation: 2 }, spec: { replicas: 4, progressDeadlineSeconds: 10, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 1 } } }, status: {} } as J;
  const oldRS = { metadata: {}, spec: { replicas: 2 }, status: { replicas: 2, readyReplicas: 2, availableReplicas: 2 } } as J;
  const newRS = { metadata: {}, spec: { replicas: 3 }, status: { replicas: 3, readyReplicas: 1, availableReplicas: 1 } } as J;
  const now = Date.parse('2024-01-01T00:00:00Z');
  const s = u.calculateStatus([oldRS, newRS], newRS, d, now);
  t.like(s, { observedGeneration: 2, replicas: 5, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3, unavailableReplicas: 2 });
  t.like(u.getCondition(s, u.AVAILABLE), { status: 'True', reason: u.MIN_REPLICAS_AVAILABLE });
  t.true(u.deploymentProgressing(d, s));
  t.false(u.deploymentComplete(d, s));
  const stale = { ...s, conditions: [u.newCondition(u.PROGRESSING, 'True', u.RS_UPDATED, 'x', now - 11_000)] };
  t.true(u.deploymentTimedOut(d, stale, now));
  t.false(u.deploymentTimedOut(d, { ...s, conditions: [u.newCondition(u.PROGRESSING, 'True', u.RS_UPDATED, 'x', now - 9_000)] }, now));
});

test('proportional scaling shares out by size', (t) => {
  const d = { metadata: {}, spec: { replicas: 15, strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 3, maxUnavailable: 2 } } }, status: { replicas: 13 } } as J;
  // Sized for a Deployment of 10 (+3 surge = 13): 8 and 5. Now 15 (+3 = 18): 5 to add.
  const a = { metadata: { annotations: { [u.MAX_REPLICAS_ANNOTATION]: '13' } }, spec: { replicas: 8 } } as J;
  const b = { metadata: { annotations: { [u.MAX_REPLICAS_ANNOTATION]: '13' } }, spec: { replicas: 5 } } as J;
  const pa = u.getProportion(a, d, 5, 0);
  const pb = u.getProportion(b, d, 5, pa);
  t.is(pa, 3); // 8 * 18 / 13 = 11.08 → 11
  t.is(pb, 2); // 5 * 18 / 13 = 6.92 → 7
});

// ---------------------------------------------------------------- on a cluster

test('Deployment: rolling update within surge and unavailability, rollback, pause, history limit, Recreate, deadline', async (t) => {
  const e = await start();
  const kubelets: { stop: () => Promise<void> }[] = [];
  try {
    await eventually('default exists', async () => (await call(e, 'GET', NS)).status === 200);
    kubelets.push(fakeKubelet(e, 'web'), fakeKubelet(e, 'rec'));
    // 6 replicas, 25%/25%: surge ceil(1.5) = 2, unavailable floor(1.5) = 1.
    const created = await call(e, 'POST', DEPLOYS, deployment('web', 6, { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } }, { revisionHistoryLimit: 2, progressDeadlineSeconds: 60 }));
    t.is(created.status, 201);
    await eventually('web is available', async () => complete(await getDeploy(e, 'web'), 6));
    let d = await getDeploy(e, 'web');
    t.like(cond(d, 'Available'), { status: 'True', reason: 'MinimumReplicasAvailable' });
    t.like(cond(d, 'Progressing'), { status: 'True', reason: 'NewReplicaSetAvailable' });
    t.is(d.metadata.annotations[u.REVISION_ANNOTATION], '1');
    const [rs1] = await replicaSets(e, 'web');
    const hash = rs1.metadata.labels['pod-template-hash'];
    t.is(rs1.metadata.name, `web-${hash}`);
    t.is(rs1.spec.selector.matchLabels['pod-template-hash'], hash);
    t.is(rs1.spec.template.metadata.labels['pod-template-hash'], hash);
    t.like(rs1.metadata.annotations, { [u.REVISION_ANNOTATION]: '1', [u.DESIRED_REPLICAS_ANNOTATION]: '6', [u.MAX_REPLICAS_ANNOTATION]: '8' });
    t.deepEqual(rs1.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', uid: d.metadata.uid, controller: true, blockOwnerDeletion: true }]);

    // A template change rolls out in steps, within the bounds at every observed state.
    await patchDeploy(e, 'web', image('img:v2'));
    const roll = await watchRollout(e, 'web', 6, 2, 1, async () => complete(await getDeploy(e, 'web'), 6) && (await livePods(e, 'web')).every((p) => p.spec.containers[0].image === 'img:v2'));
    t.deepEqual(roll.violations, []);
    t.true(roll.observations > 3, `observed ${roll.observations} states`);
    let rss = await replicaSets(e, 'web');
    t.is(rss.length, 2);
    const rs2 = rss.find((rs) => rs.metadata.name !== rs1.metadata.name)!;
    t.is(rss.find((rs) => rs.metadata.name === rs1.metadata.name)!.spec.replicas, 0);
    t.is(rs2.metadata.annotations[u.REVISION_ANNOTATION], '2');
    t.is((await getDeploy(e, 'web')).metadata.annotations[u.REVISION_ANNOTATION], '2');

    // Rollback as `kubectl rollout undo` does it: the old template is written back; the old ReplicaSet returns.
    const oldTemplate = structuredClone(rs1.spec.template);
    delete oldTemplate.metadata.labels['pod-template-hash'];
    await patchDeploy(e, 'web', { spec: { template: oldTemplate } });
    const back = await watchRollout(e, 'web', 6, 2, 1, async () => complete(await getDeploy(e, 'web'), 6) && (await livePods(e, 'web')).every((p) => p.spec.containers[0].image === 'img:v1'));
    t.deepEqual(back.violations, []);
    rss = await replicaSets(e, 'web');
    t.is(rss.length, 2, 'no third ReplicaSet');
    const again = rss.find((rs) => rs.metadata.name === rs1.metadata.name)!;
    t.is(again.spec.replicas, 6);
    t.is(again.metadata.annotations[u.REVISION_ANNOTATION], '3');
    t.is(again.metadata.annotations[u.REVISION_HISTORY_ANNOTATION], '1');

    // Paused: no rollout, but scaling applies; resumed: the rollout happens.
    await patchDeploy(e, 'web', { spec: { paused: true } });
    await eventually('paused condition', async () => cond(await getDeploy(e, 'web'), 'Progressing')?.reason === 'DeploymentPaused');
    await patchDeploy(e, 'web', image('img:v3'));
    await sleep(500);
    t.is((await replicaSets(e, 'web')).length, 2, 'no new ReplicaSet while paused');
    await patchDeploy(e, 'web', { spec: { replicas: 4 } });
    await eventually('scaled while paused', async () => (await livePods(e, 'web')).length === 4);
    t.true((await livePods(e, 'web')).every((p) => p.spec.containers[0].image === 'img:v1'));
    d = await getDeploy(e, 'web');
    t.like(cond(d, 'Progressing'), { status: 'Unknown', reason: 'DeploymentPaused' });
    await patchDeploy(e, 'web', { spec: { paused: false } });
    await eventually('resumed and rolled out', async () => complete(await getDeploy(e, 'web'), 4) && (await livePods(e, 'web')).every((p) => p.spec.containers[0].image === 'img:v3'));
    t.is((await replicaSets(e, 'web')).length, 3);
    await eventually('progressing done', async () => cond(await getDeploy(e, 'web'), 'Progressing')?.reason === 'NewReplicaSetAvailable');

    // revisionHistoryLimit 1: of the two old ReplicaSets, the lower revision (v2, revision 2) goes.
    await patchDeploy(e, 'web', { spec: { revisionHistoryLimit: 1 } });
    await eventually('history trimmed', async () => (await replicaSets(e, 'web')).length === 2);
    t.false((await replicaSets(e, 'web')).some((rs) => rs.metadata.name === rs2.metadata.name));

    // Recreate: every old pod is gone before a new one appears.
    t.is((await call(e, 'POST', DEPLOYS, deployment('rec', 3, { type: 'Recreate' }))).status, 201);
    await eventually('rec is available', async () => complete(await getDeploy(e, 'rec'), 3));
    await patchDeploy(e, 'rec', image('img:v2'));
    let mixed = false;
    await eventually('rec recreated', async () => {
      const pods = await livePods(e, 'rec');
      const images = new Set(pods.map((p) => p.spec.containers[0].image));
      if (images.size > 1) mixed = true;
      return complete(await getDeploy(e, 'rec'), 3) && pods.length === 3 && images.has('img:v2') && images.size === 1;
    });
    t.false(mixed, 'old and new pods never ran together');

    // A rollout that cannot progress passes its deadline.
    t.is((await call(e, 'POST', DEPLOYS, deployment('stuck', 2, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }, { progressDeadlineSeconds: 1 }))).status, 201);
    await eventually('deadline exceeded', async () => cond(await getDeploy(e, 'stuck'), 'Progressing')?.reason === 'ProgressDeadlineExceeded', 8_000);
    d = await getDeploy(e, 'stuck');
    t.like(cond(d, 'Progressing'), { status: 'False' });
    t.like(cond(d, 'Available'), { status: 'False', reason: 'MinimumReplicasUnavailable' });
    t.like(d.status, { replicas: 2, updatedReplicas: 2, unavailableReplicas: 2 });
  } finally {
    for (const k of kubelets) await k.stop();
    await stop(e);
  }
});

test('Deployment: the rollout survives a leader change mid-way, without duplicate or lost replicas', async (t) => {
  const e = await start();
  const kubelet = fakeKubelet(e, 'ha', 300);
  try {
    await eventually('default exists', async () => (await call(e, 'GET', NS)).status === 200);
    t.is((await call(e, 'POST', DEPLOYS, deployment('ha', 6, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } }))).status, 201);
    await eventually('ha is available', async () => complete(await getDeploy(e, 'ha'), 6));
    await patchDeploy(e, 'ha', image('img:v2'));
    await eventually('the rollout is under way', async () => {
      const pods = await livePods(e, 'ha');
      return pods.filter((p) => p.spec.containers[0].image === 'img:v2' && isReady(p)).length >= 2;
    });
    const leader = e.cluster.leader()!.name;
    const termBefore = e.managers.get(leader)!.runningTerm;
    t.not(termBefore, null, 'the Raft leader runs the controllers');
    t.false(complete(await getDeploy(e, 'ha'), 6) && (await livePods(e, 'ha')).every((p) => p.spec.containers[0].image === 'img:v2'), 'stopped mid-rollout');
    // The API of the first live member serves the test: keep one that stays.
    const stopping = stopMember(e, leader);
    const roll = watchRollout(e, 'ha', 6, 1, 0, async () => complete(await getDeploy(e, 'ha'), 6) && (await livePods(e, 'ha')).every((p) => p.spec.containers[0].image === 'img:v2'), 30_000);
    await stopping;
    await eventually('another member runs the controllers', async () => [...e.managers.values()].some((m) => m.runningTerm !== null));
    const next = [...e.managers.values()].find((m) => m.runningTerm !== null)!;
    t.true(next.runningTerm! > termBefore!);
    const { violations } = await roll;
    t.deepEqual(violations, []);
    const pods = await livePods(e, 'ha');
    t.is(pods.length, 6);
    t.true(pods.every(isReady));
    const rss = await replicaSets(e, 'ha');
    t.is(rss.length, 2);
    t.deepEqual(rss.map((rs) => rs.spec.replicas).sort(), [0, 6]);
  } finally {
    await kubelet.stop();
    await stop(e);
  }
});
