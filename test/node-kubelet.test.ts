/**
 * The kubelet against a real containerd (private, in a network namespace
 * this test creates), real runc and CNI, and a real control plane in this
 * process (API over HTTP on loopback): registration and Lease, pods with two
 * containers sharing volumes and the network, environment from ConfigMaps,
 * Secrets and the downward API, restart policies with back-off, liveness
 * and readiness probes, graceful deletion, and a daemon restart that keeps
 * running containers and removes orphans.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import pino from 'pino';
import { ApiClient, type Json } from '../src/node/api/index.js';
import { BUSYBOX_IMAGE, buildImageTars } from '../src/node/images/index.js';
import { writeCniConfig } from '../src/node/network/index.js';
import { Kubelet, LABEL_POD_UID } from '../src/node/kubelet/index.js';
import { NodeServer } from '../src/node/server.js';
import { type ControlCluster, startControlCluster } from './helpers/control-cluster.js';
import { type Containerd, createTestNetns, startContainerd } from './helpers/containerd.js';
import { hostGate } from './helpers/host-gate.js';

const run = promisify(execFile);
const g = hostGate(test, 'test/node-kubelet.test.ts', ['root', 'containerd', 'ctr', 'runc', 'cni', 'busybox', 'ip']);

const POD_CIDR = '10.244.9.0/24';
const NODE = 'kubelet-t1';
/** The node's address as the API server reaches its kubelet port (logs): loopback, as everything here. */
const NODE_IP = '127.0.0.1';
let server: NodeServer;
let cluster: ControlCluster;
let ctd: Containerd;
let netns: { name: string; remove: () => Promise<void> };
let dir = '';
let api: ApiClient;
let kubelet: Kubelet | null = null;

function newKubelet(): Kubelet {
  return new Kubelet({
    api,
    cri: ctd.cri,
    nodeName: NODE,
    nodeIP: NODE_IP,
    rootDir: join(dir, 'kubelet'),
    podLogDir: ctd.podLogDir,
    cgroupRoot: `/${netns.name}`,
    clusterDNS: ['10.96.0.10'],
    clusterDomain: 'cluster.local',
    resolvConf: '',
    maxPods: 20,
    kubeletPort: server.kubeletPort,
    leaseRenewSeconds: 1,
    statusReportSeconds: 5,
    relistMs: 300,
    backoffBaseMs: 500,
    backoffMaxMs: 2000,
    logger: pino({ level: process.env.SKIFF_TEST_LOG ?? 'silent' }),
  });
}

async function eventually<T>(what: string, f: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out: ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function pod(name: string, spec: Json, extra: Json = {}): Json {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', ...extra }, spec: { nodeName: NODE, terminationGracePeriodSeconds: 2, ...spec } };
}

const getPod = (name: string) => api.get(`/api/v1/namespaces/default/pods/${name}`);
const statusOf = (p: Json, c: string) => (p.status?.containerStatuses ?? []).find((s: Json) => s.name === c);

if (g.enabled) {
  test.before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'skiff-kubelet-'));
    netns = await createTestNetns();
    const images = await buildImageTars(join(dir, 'images'));
    ctd = await startContainerd({ netns: netns.name, imageTars: images.map((i) => i.tarPath) });
    await writeCniConfig(ctd.cniConfDir, { podCidr: POD_CIDR, bridge: 'skiff-k0', dataDir: ctd.cniDataDir });
    cluster = await startControlCluster({ members: ['a'], controllers: () => [] });
    api = new ApiClient({ baseUrl: `http://127.0.0.1:${cluster.apis.get('a')!.port}`, token: 't' });
    server = new NodeServer({ host: '127.0.0.1', readOnlyPort: 0, kubeletPort: 0, tls: null, cri: ctd.cri, podLogDir: ctd.podLogDir, pods: () => kubelet?.podList() ?? [], metrics: () => '', healthy: () => null, logger: pino({ level: 'silent' }) });
    await server.start();
    kubelet = newKubelet();
    await kubelet.start();
  });

  test.after.always(async () => {
    await kubelet?.stop();
    await server?.close();
    api?.close();
    try {
      await ctd?.stop();
    } finally {
      await netns?.remove();
      await cluster?.close();
      // The pods' cgroup parents (the kubelet removes them as pods go; an aborted run may leave some).
      await run('sh', ['-c', `for d in /sys/fs/cgroup/*/${netns.name}; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + ; done; true`]).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

g.serial('the node registers with capacity and conditions, and renews its Lease', async (t) => {
  const node = await api.get(`/api/v1/nodes/${NODE}`);
  t.true(Number(node.status.capacity.cpu) >= 1);
  t.regex(node.status.capacity.memory, /^\d+Ki$/);
  t.is(node.status.capacity.pods, '20');
  t.deepEqual(node.status.addresses, [
    { type: 'InternalIP', address: NODE_IP },
    { type: 'Hostname', address: NODE },
  ]);
  const ready = node.status.conditions.find((c: Json) => c.type === 'Ready');
  t.is(ready.status, 'True', JSON.stringify(ready));
  t.deepEqual(node.status.conditions.map((c: Json) => c.type).sort(), ['DiskPressure', 'MemoryPressure', 'NetworkUnavailable', 'PIDPressure', 'Ready']);
  t.regex(node.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\//);
  t.is(node.metadata.labels['kubernetes.io/hostname'], NODE);
  const l1 = await api.get(`/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${NODE}`);
  await eventually('a renewal', async () => (await api.get(`/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${NODE}`)).spec.renewTime !== l1.spec.renewTime);
  t.is(l1.spec.holderIdentity, NODE);
});

g.serial('a pod of two containers runs: shared network and emptyDir, env from a ConfigMap, a Secret and the downward API, a configMap volume', async (t) => {
  await api.post('/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web-config' }, data: { greeting: 'hello from a configmap', 'index.html': '<h1>skiff</h1>\n' } });
  await api.post('/api/v1/namespaces/default/secrets', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'web-secret' }, data: { password: Buffer.from('s3cret').toString('base64') } });
  await api.post(
    '/api/v1/namespaces/default/pods',
    pod('web', {
      volumes: [
        { name: 'shared', emptyDir: {} },
        { name: 'site', configMap: { name: 'web-config', items: [{ key: 'index.html', path: 'index.html' }] } },
      ],
      containers: [
        { name: 'httpd', image: BUSYBOX_IMAGE, command: ['httpd', '-f', '-p', '8080', '-h', '/site'], ports: [{ containerPort: 8080, name: 'http' }], volumeMounts: [{ name: 'site', mountPath: '/site' }, { name: 'shared', mountPath: '/shared' }] },
        {
          name: 'sidecar',
          image: BUSYBOX_IMAGE,
          command: ['sh', '-c', 'echo "$GREETING $POD_NAME $PASSWORD $(MY_IP)" > /shared/hello; echo started; sleep 3600'],
          env: [
            { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'web-config', key: 'greeting' } } },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'web-secret', key: 'password' } } },
            { name: 'MY_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          ],
          volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
        },
      ],
    }),
  );
  const p = await eventually('web Running', async () => {
    const p = await getPod('web');
    return p.status?.phase === 'Running' && statusOf(p, 'sidecar')?.state?.running ? p : null;
  });
  t.regex(p.status.podIP, /^10\.244\.9\./);
  t.is(p.status.hostIP, NODE_IP);
  t.is(p.status.qosClass, 'BestEffort');
  t.regex(statusOf(p, 'httpd').containerID, /^containerd:\/\//);
  t.is(statusOf(p, 'httpd').restartCount, 0);
  // The sidecar sees the emptyDir, the env, and reaches httpd over the pod's shared localhost.
  const sandboxes = await ctd.cri.listPodSandbox({ labelSelector: { [LABEL_POD_UID]: p.metadata.uid } });
  t.is(sandboxes.length, 1);
  const ctrs = await ctd.cri.listContainers({ labelSelector: { [LABEL_POD_UID]: p.metadata.uid } });
  const sidecar = ctrs.find((c) => c.metadata.name === 'sidecar')!;
  const hello = await eventually('the sidecar wrote its file', async () => {
    const r = await ctd.cri.execSync(sidecar.id, ['cat', '/shared/hello'], 5);
    return r.exitCode === 0 ? r.stdout.toString() : null;
  });
  t.is(hello.trim(), `hello from a configmap web s3cret ${p.status.podIP}`);
  const page = await ctd.cri.execSync(sidecar.id, ['wget', '-q', '-O', '-', 'http://127.0.0.1:8080/'], 5);
  t.is(page.stdout.toString(), '<h1>skiff</h1>\n');
  // No probes: Ready as soon as both run (HTTP probes are tested where the node shares the pods' network, in e2e).
  const readyPod = await eventually('web Ready', async () => {
    const q = await getPod('web');
    return q.status.conditions.find((c: Json) => c.type === 'Ready')?.status === 'True' ? q : null;
  });
  t.true(statusOf(readyPod, 'httpd').ready && statusOf(readyPod, 'sidecar').ready);
  const events = (await api.get('/api/v1/namespaces/default/events')).items.filter((e: Json) => e.involvedObject.name === 'web');
  t.true(events.some((e: Json) => e.reason === 'Started' && e.source.component === 'kubelet'), JSON.stringify(events.map((e: Json) => e.reason)));
});

g.serial('restart policies: OnFailure restarts a failing container with back-off; Never with exit 0 ends Succeeded', async (t) => {
  await api.post('/api/v1/namespaces/default/pods', pod('crash', { restartPolicy: 'OnFailure', containers: [{ name: 'c', image: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo crashing; exit 3'] }] }));
  await api.post('/api/v1/namespaces/default/pods', pod('once', { restartPolicy: 'Never', containers: [{ name: 'c', image: BUSYBOX_IMAGE, command: ['sh', '-c', 'echo done'] }] }));
  const crashed = await eventually('crash restarted twice', async () => {
    const p = await getPod('crash');
    return statusOf(p, 'c')?.restartCount >= 2 ? p : null;
  });
  const cs = statusOf(crashed, 'c');
  t.is(cs.lastState.terminated.exitCode, 3);
  t.is(crashed.status.phase, 'Running');
  const once = await eventually('once Succeeded', async () => {
    const p = await getPod('once');
    return p.status?.phase === 'Succeeded' ? p : null;
  });
  t.is(statusOf(once, 'c').state.terminated.exitCode, 0);
  t.is(statusOf(once, 'c').state.terminated.reason, 'Completed');
  t.is(statusOf(once, 'c').restartCount, 0);
  const backoff = await eventually('CrashLoopBackOff shows', async () => {
    const p = await getPod('crash');
    const w = statusOf(p, 'c')?.state?.waiting;
    return w?.reason === 'CrashLoopBackOff' ? w : null;
  }, 20_000);
  t.regex(backoff.message, /back-off/);
});

g.serial('kubectl logs through the API: the kubelet port streams CRI logs (tail, previous, a missing container); the read-only port serves pods, spec and metrics', async (t) => {
  const base = `http://127.0.0.1:${cluster.apis.get('a')!.port}/api/v1/namespaces/default/pods`;
  const get = async (path: string) => {
    const r = await fetch(`${base}/${path}`, { headers: { Authorization: 'Bearer t' } });
    return { status: r.status, text: await r.text() };
  };
  const logs = await get('crash/log?container=c');
  t.is(logs.status, 200, logs.text);
  t.is(logs.text, 'crashing\n');
  const prev = await get('crash/log?previous=true');
  t.is(prev.text, 'crashing\n', 'the only container is the default');
  const two = await get('web/log');
  t.is(two.status, 400);
  t.regex(JSON.parse(two.text).message, /a container name must be specified for pod web, choose one of: \[httpd sidecar\]/);
  const side = await get('web/log?container=sidecar&tailLines=1&timestamps=true');
  t.regex(side.text, /^\d{4}-\d\d-\d\dT\S+ started\n$/);
  t.is((await get('web/log?container=nope')).status, 400);
  t.is((await get('web/log?container=sidecar&tailLines=-1')).status, 400);
  // exec needs an upgraded connection (kubectl's SPDY or WebSocket; the e2e test drives it with kubectl).
  const plain = await fetch(`${base}/web/exec?container=sidecar&command=true&stdout=true`, { method: 'POST', headers: { Authorization: 'Bearer t' } });
  t.is(plain.status, 400);
  t.is(((await plain.json()) as { message: string }).message, 'Upgrade request required');
  // The read-only port.
  const ro = `http://127.0.0.1:${server.readOnlyPort}`;
  t.is(await (await fetch(`${ro}/healthz`)).text(), 'ok');
  const pods = (await (await fetch(`${ro}/pods`)).json()) as { items: Json[] };
  t.true(pods.items.some((p) => p.metadata.name === 'web'));
  const spec = (await (await fetch(`${ro}/spec`)).json()) as { num_cores: number };
  t.true(spec.num_cores >= 1);
  const metrics = await (await fetch(`${ro}/metrics`)).text();
  t.regex(metrics, /container_memory_working_set_bytes\{namespace="default",pod="web",container="httpd"\} \d+/);
  t.regex(metrics, /container_cpu_usage_seconds_total\{namespace="default",pod="web",container="sidecar"\} [\d.e-]+/);
});

g.serial('a failing liveness probe restarts the container; a readiness probe gates Ready', async (t) => {
  await api.post(
    '/api/v1/namespaces/default/pods',
    pod('live', {
      containers: [
        {
          name: 'c',
          image: BUSYBOX_IMAGE,
          command: ['sh', '-c', 'touch /tmp/healthy; sleep 2; rm /tmp/healthy; sleep 3600'],
          livenessProbe: { exec: { command: ['cat', '/tmp/healthy'] }, periodSeconds: 1, failureThreshold: 1 },
          readinessProbe: { exec: { command: ['cat', '/tmp/healthy'] }, periodSeconds: 1 },
        },
      ],
    }),
  );
  const ready = await eventually('live Ready', async () => {
    const p = await getPod('live');
    return p.status?.conditions?.find((c: Json) => c.type === 'Ready')?.status === 'True' ? p : null;
  });
  t.true(statusOf(ready, 'c').ready);
  const restarted = await eventually('live restarted', async () => {
    const p = await getPod('live');
    return statusOf(p, 'c')?.restartCount >= 1 ? p : null;
  });
  t.truthy(statusOf(restarted, 'c').lastState.terminated);
  const events = (await api.get('/api/v1/namespaces/default/events')).items.filter((e: Json) => e.involvedObject.name === 'live').map((e: Json) => e.reason);
  t.true(events.includes('Unhealthy') && events.includes('Killing'), JSON.stringify(events));
});

g.serial('kubectl logs -f streams lines as the container writes them', async (t) => {
  await api.post('/api/v1/namespaces/default/pods', pod('ticker', { containers: [{ name: 'c', image: BUSYBOX_IMAGE, command: ['sh', '-c', 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done'] }] }));
  await eventually('ticker Running', async () => (await getPod('ticker')).status?.phase === 'Running');
  const ac = new AbortController();
  const r = await fetch(`http://127.0.0.1:${cluster.apis.get('a')!.port}/api/v1/namespaces/default/pods/ticker/log?follow=true&tailLines=1`, { headers: { Authorization: 'Bearer t' }, signal: ac.signal });
  t.is(r.status, 200);
  const reader = r.body!.getReader();
  let text = '';
  const t0 = Date.now();
  while ((text.match(/\n/g) ?? []).length < 4 && Date.now() - t0 < 10_000) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString('utf8');
  }
  ac.abort();
  const ticks = text.trim().split('\n').map((l) => Number(/^tick (\d+)$/.exec(l)?.[1]));
  t.true(ticks.length >= 4, text);
  t.true(ticks.every((n, i) => Number.isInteger(n) && (i === 0 || n === ticks[i - 1]! + 1)), `consecutive ticks: ${text}`);
});

g.serial('hostPort reaches the pod through the node; a hostNetwork pod runs in the node\'s network', async (t) => {
  await api.post('/api/v1/namespaces/default/pods', pod('hp', { containers: [{ name: 'web', image: BUSYBOX_IMAGE, command: ['httpd', '-f', '-p', '8080', '-h', '/www'], ports: [{ containerPort: 8080, hostPort: 18080 }] }] }));
  await api.post('/api/v1/namespaces/default/pods', pod('hn', { hostNetwork: true, containers: [{ name: 'web', image: BUSYBOX_IMAGE, command: ['httpd', '-f', '-p', '18181', '-h', '/www'] }] }));
  await eventually('hp Running', async () => (await getPod('hp')).status?.phase === 'Running');
  const hn = await eventually('hn Running', async () => {
    const p = await getPod('hn');
    return p.status?.phase === 'Running' ? p : null;
  });
  t.is(hn.status.podIP, NODE_IP, 'a hostNetwork pod has the node IP');
  // Both from the "host" (the netns containerd and its pods' bridge live in): the bridge's gateway address for the hostPort, loopback for the host network.
  const inHost = (url: string) => run('nsenter', [`--net=/run/netns/${netns.name}`, '--', 'busybox', 'wget', '-q', '-O', '-', url]).then((r) => r.stdout);
  const viaHostPort = await eventually('the hostPort answers', () => inHost('http://10.244.9.1:18080/').catch(() => ''));
  t.regex(viaHostPort, /Welcome to skiff/);
  const viaHostNet = await eventually('the hostNetwork pod answers', () => inHost('http://127.0.0.1:18181/').catch(() => ''));
  t.regex(viaHostNet, /Welcome to skiff/);
});

g.serial('graceful deletion stops the containers, deletes the pod, and removes its sandbox', async (t) => {
  const p = await getPod('web');
  await api.delete('/api/v1/namespaces/default/pods/web', { gracePeriodSeconds: 2 });
  await eventually('web gone', async () => {
    try {
      await getPod('web');
      return false;
    } catch {
      return true;
    }
  });
  await eventually('its sandbox removed', async () => (await ctd.cri.listPodSandbox({ labelSelector: { [LABEL_POD_UID]: p.metadata.uid } })).length === 0);
  t.pass();
});

g.serial('a restarted daemon keeps running containers and removes the sandboxes of pods deleted meanwhile', async (t) => {
  await api.post('/api/v1/namespaces/default/pods', pod('keep', { containers: [{ name: 'c', image: BUSYBOX_IMAGE, command: ['sleep', '3600'] }] }));
  await api.post('/api/v1/namespaces/default/pods', pod('orphan', { containers: [{ name: 'c', image: BUSYBOX_IMAGE, command: ['sleep', '3600'] }] }));
  const keep = await eventually('keep Running', async () => {
    const p = await getPod('keep');
    return p.status?.phase === 'Running' ? p : null;
  });
  const orphan = await eventually('orphan Running', async () => {
    const p = await getPod('orphan');
    return p.status?.phase === 'Running' ? p : null;
  });
  await kubelet!.stop();
  // While the daemon is down: the orphan's Pod is force-deleted.
  await api.delete('/api/v1/namespaces/default/pods/orphan', { gracePeriodSeconds: 0 });
  kubelet = newKubelet();
  await kubelet.start();
  await eventually('orphan sandbox removed', async () => (await ctd.cri.listPodSandbox({ labelSelector: { [LABEL_POD_UID]: orphan.metadata.uid } })).length === 0);
  const after = await getPod('keep');
  t.is(statusOf(after, 'c').containerID, statusOf(keep, 'c').containerID, 'the running container was kept');
  t.is(statusOf(after, 'c').restartCount, 0);
  t.is(after.status.phase, 'Running');
});
