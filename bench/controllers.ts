/**
 * `npm run bench:controllers`: a 3-master `skiff up` (real processes, HTTPS)
 * with 100 hollow nodes (one process, each node on its own watch, as kubelets
 * are); a Deployment of 1,000 replicas is created and timed until all are
 * Ready (Deployment controller → ReplicaSet controller → scheduler → hollow
 * nodes), then a full rolling update of it (new image, default 25%/25%)
 * until the rollout is complete. Last line JSON.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { ApiClient, startHollowNodes } from '../src/control/hollow/index.js';
import { SkiffUp, freePortRange } from '../test/helpers/e2e-up.js';

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '100' }, replicas: { type: 'string', default: '1000' }, 'timeout-s': { type: 'string', default: '600' } } });
const NODES = Number(values.nodes);
const REPLICAS = Number(values.replicas);
const TIMEOUT_MS = Number(values['timeout-s']) * 1000;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type J = any;

const dir = mkdtempSync(join(tmpdir(), 'skiff-bench-controllers-'));
const base = await freePortRange(12);
const up = new SkiffUp(['--masters', '3', '--dir', dir, '--base-port', String(base), '--api-base-port', String(base + 9)]);
let fleet: Awaited<ReturnType<typeof startHollowNodes>> | null = null;
try {
  const ready = await up.ready();
  const k = parseYaml(readFileSync(ready.kubeconfig, 'utf8')) as J;
  const b64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');
  const api = { baseUrl: k.clusters[0].cluster.server, caPem: b64(k.clusters[0].cluster['certificate-authority-data']), certPem: b64(k.users[0].user['client-certificate-data']), keyPem: b64(k.users[0].user['client-key-data']) };
  const t0 = performance.now();
  fleet = await startHollowNodes(NODES, { api, cpu: '32', memory: '128Gi', pods: 110, heartbeatSeconds: 10, namePrefix: 'hollow-' });
  console.log(`${NODES} hollow nodes registered in ${Math.round(performance.now() - t0)} ms`);
  const client = new ApiClient(api);
  const path = '/apis/apps/v1/namespaces/default/deployments';
  const deployment = (image: string) => ({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'big' },
    spec: { replicas: REPLICAS, selector: { matchLabels: { app: 'big' } }, template: { metadata: { labels: { app: 'big' } }, spec: { containers: [{ name: 'c', image, resources: { requests: { cpu: '10m', memory: '16Mi' } } }] } } },
  });
  /** Polls the Deployment until its rollout is complete (what kubectl rollout status waits for). */
  const waitRolledOut = async (what: string): Promise<number> => {
    const start = performance.now();
    for (;;) {
      const d = (await client.request('GET', `${path}/big`)) as J;
      const s = d.status ?? {};
      if (s.observedGeneration >= d.metadata.generation && s.updatedReplicas === REPLICAS && s.replicas === REPLICAS && s.availableReplicas === REPLICAS && s.readyReplicas === REPLICAS) return performance.now() - start;
      if (performance.now() - start > TIMEOUT_MS) throw new Error(`${what}: not done after ${TIMEOUT_MS} ms: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const c0 = performance.now();
  await client.request('POST', path, deployment('busybox:1'));
  await waitRolledOut('create');
  const createdMs = performance.now() - c0;
  console.log(`${REPLICAS} replicas Ready in ${Math.round(createdMs)} ms`);
  const cur = (await client.request('GET', `${path}/big`)) as J;
  const u0 = performance.now();
  await client.request('PUT', `${path}/big`, { ...cur, spec: deployment('busybox:2').spec });
  await waitRolledOut('rolling update');
  const updateMs = performance.now() - u0;
  console.log(`rolling update of ${REPLICAS} replicas done in ${Math.round(updateMs)} ms`);
  console.log(JSON.stringify({ bench: 'controllers', nodes: NODES, replicas: REPLICAS, create_to_ready_ms: Math.round(createdMs), rolling_update_ms: Math.round(updateMs), pods_ready_per_s: Math.round((REPLICAS * 1000) / createdMs) }));
} finally {
  await fleet?.close();
  await up.kill();
  rmSync(dir, { recursive: true, force: true });
}
