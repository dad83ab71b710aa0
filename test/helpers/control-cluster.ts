/**
 * A control plane in one process for tests: a real store of 1 or 3 members
 * (LevelDB, Raft, gRPC on loopback), an API server per member (plain HTTP,
 * token `t`), and a ControllerManager per member running the given
 * controllers (they run wherever the Raft leadership is).
 */
import pino from 'pino';
import { ApiServer } from '../../src/control/apiserver/index.js';
import { type Controller, ControllerManager } from '../../src/control/controllers/index.js';
import { StoreTestCluster } from './store-cluster.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type J = any;

export interface Reply {
  status: number;
  body: J;
}

export interface ControlCluster {
  store: StoreTestCluster;
  apis: Map<string, ApiServer>;
  managers: Map<string, ControllerManager>;
  /** A request to a member's API (the first member's by default); PATCH bodies are merge patches. */
  call(method: string, path: string, body?: unknown, member?: string): Promise<Reply>;
  /** Polls `cond` every 50 ms until true; throws after `timeoutMs`. */
  eventually(what: string, cond: () => Promise<boolean>, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startControlCluster(o: { members?: string[]; controllers: () => Controller[] }): Promise<ControlCluster> {
  const store = new StoreTestCluster(o.members ?? ['a', 'b', 'c']);
  await store.startAll();
  await store.waitFor(() => store.leader() !== undefined, 'a leader');
  const apis = new Map<string, ApiServer>();
  const managers = new Map<string, ControllerManager>();
  for (const [name, member] of store.servers) {
    const api = new ApiServer({
      kv: member, host: '127.0.0.1', port: 0, tls: null, tokens: new Map([['t', { name: 'admin', uid: '1', groups: [] }]]),
      allowAnonymous: false, maxBodyBytes: 3 << 20, bookmarkIntervalMs: 60_000, notReady: () => null, logger: pino({ level: 'silent' }),
    });
    await api.start();
    apis.set(name, api);
    const m = new ControllerManager(member, o.controllers(), pino({ level: 'silent' }));
    m.start();
    managers.set(name, m);
  }
  const first = [...apis.keys()][0]!;
  const c: ControlCluster = {
    store,
    apis,
    managers,
    async call(method, path, body, member = first) {
      const api = apis.get(member);
      if (!api) throw new Error(`no API server on member ${member}`);
      const headers: Record<string, string> = { Authorization: 'Bearer t' };
      if (body !== undefined) headers['Content-Type'] = method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
      const r = await fetch(`http://127.0.0.1:${api.port}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await r.text();
      return { status: r.status, body: text ? JSON.parse(text) : null };
    },
    async eventually(what, cond, timeoutMs = 10_000) {
      const t0 = Date.now();
      while (!(await cond())) {
        if (Date.now() - t0 > timeoutMs) throw new Error(`timed out: ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      for (const m of managers.values()) await m.close();
      for (const a of apis.values()) await a.close();
      await store.close();
    },
  };
  await c.eventually('the system namespaces', async () => (await c.call('GET', '/api/v1/namespaces/default')).status === 200);
  return c;
}

/** What the scheduler and a kubelet would do for a pod in a test: bind it to `node`, then report it Running and Ready. */
export async function runPodOn(c: ControlCluster, namespace: string, name: string, node: string): Promise<void> {
  const path = `/api/v1/namespaces/${namespace}/pods/${name}`;
  let pod = (await c.call('GET', path)).body;
  if (!pod.spec.nodeName) {
    await c.call('POST', `${path}/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name }, target: { kind: 'Node', name: node } });
    pod = (await c.call('GET', path)).body;
  }
  const r = await c.call('PUT', `${path}/status`, { ...pod, status: { ...pod.status, phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } });
  if (r.status !== 200) throw new Error(`pod ${name} status: ${r.status} ${JSON.stringify(r.body)}`);
}
