/**
 * @kubernetes/client-node — a client nobody here wrote — against the API
 * server over HTTPS with a client certificate from the cluster CA: list,
 * create, patch, delete, and an informer (list + watch) that sees every change.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import test from 'ava';
import pino from 'pino';
import { ApiServer } from '../src/control/apiserver/index.js';
import { issueCertificate, loadOrCreateClusterPki, renderKubeconfig } from '../src/control/pki/index.js';
import { StoreTestCluster } from './helpers/store-cluster.js';

test('client-node: CRUD with patch, and an informer over list + watch', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'skiff-client-node-'));
  const cluster = new StoreTestCluster(['a']);
  let api: ApiServer | null = null;
  try {
    await cluster.startAll();
    await cluster.waitFor(() => cluster.leader() !== undefined, 'a leader');
    const pki = await loadOrCreateClusterPki(join(dir, 'pki'));
    const serving = issueCertificate({ ca: pki.ca, commonName: 'apiserver', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'], usages: ['server'] });
    const admin = issueCertificate({ ca: pki.ca, commonName: 'admin', organizations: ['system:masters'], usages: ['client'] });
    api = new ApiServer({
      kv: cluster.leader()!,
      host: '127.0.0.1',
      port: 0,
      tls: { certPem: serving.certPem, keyPem: serving.keyPem, caPem: pki.ca.certPem },
      tokens: new Map(),
      allowAnonymous: false,
      maxBodyBytes: 3 * 1024 * 1024,
      bookmarkIntervalMs: 60_000,
      notReady: () => null,
      logger: pino({ level: 'silent' }),
    });
    await api.start();
    const kc = new k8s.KubeConfig();
    kc.loadFromString(renderKubeconfig({ clusterName: 'skiff', server: `https://127.0.0.1:${api.port}`, caPem: pki.ca.certPem, user: 'admin', clientCertPem: admin.certPem, clientKeyPem: admin.keyPem }));
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const apps = kc.makeApiClient(k8s.AppsV1Api);

    // The system namespaces appear once the bootstrap ran.
    let names: string[] = [];
    for (let i = 0; i < 100 && !names.includes('kube-system'); i++) {
      names = (await core.listNamespace()).items.map((n) => n.metadata!.name!);
      if (!names.includes('kube-system')) await new Promise((r) => setTimeout(r, 100));
    }
    t.true(names.includes('kube-system'));

    // An informer on configmaps in default, started before the writes.
    const seen: string[] = [];
    const informer = k8s.makeInformer(kc, '/api/v1/namespaces/default/configmaps', () => core.listNamespacedConfigMap({ namespace: 'default' }));
    informer.on('add', (o) => seen.push(`add ${o.metadata!.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata!.name} ${o.data?.k ?? ''}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata!.name}`));
    await informer.start();

    const created = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'cn1', labels: { app: 'x' } }, data: { k: 'v1' } } });
    t.truthy(created.metadata?.uid);
    const conflict = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'cn1' } } }).catch((e: unknown) => e);
    t.is((conflict as { code?: number }).code, 409);
    const list = await core.listNamespacedConfigMap({ namespace: 'default', labelSelector: 'app=x' });
    t.deepEqual(list.items.map((c) => c.metadata!.name), ['cn1']);

    const patched = await core.patchNamespacedConfigMap({ namespace: 'default', name: 'cn1', body: { data: { k: 'v2' } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    t.is(patched.data!.k, 'v2');
    const dep = await apps.createNamespacedDeployment({
      namespace: 'default',
      body: { metadata: { name: 'd1' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } } } },
    });
    t.is(dep.metadata!.generation, 1);
    const smp = await apps.patchNamespacedDeployment(
      { namespace: 'default', name: 'd1', body: { spec: { template: { spec: { containers: [{ name: 'c', image: 'busybox:2' }] } } } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch),
    );
    t.is(smp.spec!.template.spec!.containers[0]!.image, 'busybox:2');
    t.is(smp.metadata!.generation, 2);
    await core.deleteNamespacedConfigMap({ namespace: 'default', name: 'cn1' });
    const missing = await core.readNamespacedConfigMap({ namespace: 'default', name: 'cn1' }).catch((e: unknown) => e);
    t.is((missing as { code?: number }).code, 404);

    for (let i = 0; i < 100 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 50));
    await informer.stop();
    t.deepEqual(seen, ['add cn1', 'update cn1 v2', 'delete cn1']);
  } finally {
    await api?.close();
    await cluster.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
