/**
 * host-gw pod networking: a route to every other node's pod CIDR via that
 * node's InternalIP, so Pods reach each other across nodes without NAT; and
 * masquerade for traffic from this node's Pods to anywhere outside the
 * cluster's pod range (the CNI bridge itself is configured without ipMasq,
 * which would also NAT pod-to-pod traffic).
 *
 * Routes are replaced idempotently (`ip route replace`) and the ones for
 * nodes that left (or changed CIDR) are removed. The masquerade rule lives in
 * a chain of our own (SKIFF-POSTROUTING), jumped to from nat POSTROUTING,
 * written with one iptables-restore --noflush; `cleanupNetwork` removes it.
 */
import type { Json } from '../api/index.js';
import { type CommandResult, type Exec, runCommand } from '../proxy/index.js';

export const MASQ_CHAIN = 'SKIFF-POSTROUTING';
const PROTO = 'static';

export interface RouteManagerOptions {
  nodeName: string;
  clusterCidr: string;
  exec?: Exec;
  logger?: { warn(o: object, m: string): void; info(o: object, m: string): void };
}

const RUN_TIMEOUT_MS = 10_000;
const RUN_OUTPUT_MAX = 1 << 20;

/** Runs a host command (`ip`, `iptables`) with the node's bounds, through `exec` when given; fails on a non-zero exit. */
export function runOnHost(exec: Exec | undefined, argv: string[], input?: string): Promise<CommandResult> {
  const opts = { timeoutMs: RUN_TIMEOUT_MS, maxOutputBytes: RUN_OUTPUT_MAX, ...(input === undefined ? {} : { input }) };
  return (exec ?? runCommand)(argv, opts);
}

function run(exec: Exec | undefined, cmd: string, args: string[], input?: string): Promise<CommandResult> {
  return runOnHost(exec, [cmd, ...args], input);
}

export class RouteManager {
  /** Pod CIDR → gateway we installed. */
  private readonly routes = new Map<string, string>();
  private readonly nodes = new Map<string, { cidr: string; ip: string }>();
  private syncing: Promise<void> = Promise.resolve();

  constructor(private readonly o: RouteManagerOptions) {}

  /** Informer handler for Nodes. */
  onNode(type: string, node: Json): void {
    const name: string = node.metadata?.name;
    if (!name || name === this.o.nodeName) return;
    const cidr: string | undefined = node.spec?.podCIDR;
    const ip: string | undefined = (node.status?.addresses ?? []).find((a: Json) => a.type === 'InternalIP')?.address;
    if (type === 'DELETED' || !cidr || !ip) this.nodes.delete(name);
    else this.nodes.set(name, { cidr, ip });
    this.kick();
  }

  private kick(): void {
    this.syncing = this.syncing.then(() => this.sync()).catch((e) => this.o.logger?.warn({ err: e instanceof Error ? e.message : String(e) }, 'pod routes: sync failed'));
  }

  /** Waits for the pending route changes. */
  settled(): Promise<void> {
    return this.syncing;
  }

  private async sync(): Promise<void> {
    const want = new Map<string, string>();
    for (const n of this.nodes.values()) want.set(n.cidr, n.ip);
    for (const [cidr, via] of want) {
      if (this.routes.get(cidr) === via) continue;
      await run(this.o.exec, 'ip', ['route', 'replace', cidr, 'via', via, 'proto', PROTO]);
      this.routes.set(cidr, via);
      this.o.logger?.info({ cidr, via }, 'pod route set');
    }
    for (const [cidr] of this.routes) {
      if (want.has(cidr)) continue;
      await run(this.o.exec, 'ip', ['route', 'del', cidr]).catch(() => undefined);
      this.routes.delete(cidr);
    }
  }

  /** Removes the routes this manager set. */
  async cleanup(): Promise<void> {
    for (const cidr of this.routes.keys()) await run(this.o.exec, 'ip', ['route', 'del', cidr]).catch(() => undefined);
    this.routes.clear();
  }
}

/** Installs the masquerade of pod traffic leaving the cluster's pod range (idempotent). */
export async function ensureMasquerade(clusterCidr: string, podCidr: string, exec?: Exec): Promise<void> {
  const rules = [
    '*nat',
    `:${MASQ_CHAIN} - [0:0]`,
    `-F ${MASQ_CHAIN}`,
    `-A ${MASQ_CHAIN} -s ${podCidr} -d ${clusterCidr} -j RETURN`,
    `-A ${MASQ_CHAIN} -s ${podCidr} -m addrtype ! --dst-type LOCAL -j MASQUERADE`,
    'COMMIT',
    '',
  ].join('\n');
  await run(exec, 'iptables-restore', ['-w', '5', '--noflush'], rules);
  const has = await run(exec, 'iptables', ['-w', '5', '-t', 'nat', '-C', 'POSTROUTING', '-j', MASQ_CHAIN, '-m', 'comment', '--comment', 'skiff pod egress']).then(
    () => true,
    () => false,
  );
  if (!has) await run(exec, 'iptables', ['-w', '5', '-t', 'nat', '-A', 'POSTROUTING', '-j', MASQ_CHAIN, '-m', 'comment', '--comment', 'skiff pod egress']);
}

/** Removes the masquerade chain and its jump. */
export async function cleanupMasquerade(exec?: Exec): Promise<void> {
  for (;;) {
    const r = await run(exec, 'iptables', ['-w', '5', '-t', 'nat', '-D', 'POSTROUTING', '-j', MASQ_CHAIN, '-m', 'comment', '--comment', 'skiff pod egress']).then(
      () => true,
      () => false,
    );
    if (!r) break;
  }
  await run(exec, 'iptables', ['-w', '5', '-t', 'nat', '-F', MASQ_CHAIN]).catch(() => undefined);
  await run(exec, 'iptables', ['-w', '5', '-t', 'nat', '-X', MASQ_CHAIN]).catch(() => undefined);
}
