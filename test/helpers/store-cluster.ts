/**
 * StoreServers in one process: real LevelDB, real gRPC between members.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreServer, type StoreServerOptions } from '../../src/store/server.js';
import { freePorts } from './ports.js';

const silent = { debug() {}, info() {}, warn() {} };

export class StoreTestCluster {
  readonly root = mkdtempSync(join(tmpdir(), 'skiff-store-'));
  readonly servers = new Map<string, StoreServer>();
  peerPorts = new Map<string, number>();

  constructor(readonly names: string[], readonly extra: Partial<StoreServerOptions> = {}) {}

  initialCluster() {
    return this.names.filter((n) => this.peerPorts.has(n)).map((n) => ({ name: n, peerURLs: [`http://127.0.0.1:${this.peerPorts.get(n)}`] }));
  }

  async startAll(): Promise<void> {
    const ports = await freePorts(this.names.length);
    this.names.forEach((n, i) => this.peerPorts.set(n, ports[i]!));
    await Promise.all(this.names.map((n) => this.start(n)));
  }

  async start(name: string, state: 'new' | 'existing' = 'new'): Promise<StoreServer> {
    if (!this.peerPorts.has(name)) this.peerPorts.set(name, (await freePorts(1))[0]!);
    const port = this.peerPorts.get(name)!;
    const s = await StoreServer.open({
      name,
      dataDir: join(this.root, name),
      initialCluster: this.initialCluster(),
      initialClusterState: state,
      listenPeer: `127.0.0.1:${port}`,
      advertisePeerURLs: [`http://127.0.0.1:${port}`],
      advertiseClientURLs: [`http://127.0.0.1:${port + 10000}`],
      heartbeatMs: 20,
      electionTimeoutMs: 200,
      requestTimeoutMs: 5000,
      logger: silent,
      ...this.extra,
    });
    await s.start();
    this.servers.set(name, s);
    return s;
  }

  async stop(name: string): Promise<void> {
    const s = this.servers.get(name);
    if (!s) return;
    this.servers.delete(name);
    await s.close();
  }

  leader(): StoreServer | undefined {
    return [...this.servers.values()].find((s) => s.isLeader);
  }

  async waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const t0 = Date.now();
    while (!cond()) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async close(): Promise<void> {
    for (const n of [...this.servers.keys()]) await this.stop(n);
    rmSync(this.root, { recursive: true, force: true });
  }
}
