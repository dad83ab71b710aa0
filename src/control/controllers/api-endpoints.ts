/**
 * The Endpoints of the `kubernetes` Service: the API servers that are alive,
 * as their identity Leases in kube-system say (each API server renews one
 * with its advertised address; see ApiServer.publishIdentity) — upstream's
 * lease endpoint reconciler. A server whose Lease has not been renewed within
 * its duration drops out, so Pods reaching the API through the Service do not
 * hit a dead master. Masters that advertise a loopback address (a one-host
 * `skiff up`) are left out: no Pod could reach them there.
 */
import type { KubeObject } from '../apiserver/index.js';
import { IDENTITY_LABEL, isApiError, objectKey } from '../apiserver/index.js';
import { RESOURCES } from '../registry/index.js';
import { type Controller, type ControllerContext, aborted, onStop } from './manager.js';
import { KUBERNETES_SERVICE } from './service-ip.js';

const LEASES = RESOURCES.find((r) => r.resource === 'leases')!;
const ENDPOINTS = RESOURCES.find((r) => r.resource === 'endpoints')!;
/** Expiry is looked at this often even without Lease changes. */
export const API_ENDPOINTS_RECHECK_MS = 2_000;

/** `ip:port` of every API server whose identity Lease is current at `nowMs`. */
export function liveApiServers(leases: readonly KubeObject[], nowMs: number): { ip: string; port: number }[] {
  const out: { ip: string; port: number }[] = [];
  for (const l of leases) {
    if (l.metadata.labels?.[IDENTITY_LABEL] !== 'kube-apiserver') continue;
    const renew = Date.parse(l.spec?.renewTime ?? '');
    const ttlMs = (l.spec?.leaseDurationSeconds ?? 0) * 1000;
    const m = /^(.+):(\d+)$/.exec(String(l.spec?.holderIdentity ?? ''));
    if (!m || Number.isNaN(renew) || nowMs - renew > ttlMs) continue;
    // A loopback address is of no use to a Pod (and the API refuses it in Endpoints, as upstream's).
    if (m[1]!.startsWith('127.') || m[1] === '::1') continue;
    out.push({ ip: m[1]!, port: Number(m[2]) });
  }
  return out.sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
}

/** Endpoints subsets: addresses grouped by port (masters of one host may listen on different ports). */
export function apiSubsets(servers: readonly { ip: string; port: number }[]): KubeObject['subsets'] {
  const byPort = new Map<number, string[]>();
  for (const s of servers) byPort.set(s.port, [...(byPort.get(s.port) ?? []), s.ip]);
  return [...byPort].map(([port, ips]) => ({ addresses: ips.map((ip) => ({ ip })), ports: [{ name: 'https', port, protocol: 'TCP' }] }));
}

export class ApiEndpointsController implements Controller {
  readonly name = 'kubernetes-endpoints';

  async run(ctx: ControllerContext): Promise<void> {
    const leases = ctx.informer(LEASES);
    const endpoints = ctx.informer(ENDPOINTS);
    await Promise.all([leases.loaded, endpoints.loaded]);
    let busy = false;
    const sync = async () => {
      if (busy || ctx.stopped.aborted) return;
      busy = true;
      try {
        await this.reconcile(ctx);
      } catch (e) {
        ctx.logger.warn({ err: e }, 'kubernetes endpoints not updated; retrying');
      } finally {
        busy = false;
      }
    };
    leases.onChange((_t, l) => l.metadata.namespace === 'kube-system' && void sync());
    const timer = setInterval(() => void sync(), API_ENDPOINTS_RECHECK_MS);
    onStop(ctx.stopped, () => clearInterval(timer));
    await sync();
    await aborted(ctx.stopped);
  }

  private async reconcile(ctx: ControllerContext): Promise<void> {
    const leases = ctx.informer(LEASES).list(`${LEASES.storagePrefix}/kube-system/`, null, 0).items;
    const subsets = apiSubsets(liveApiServers(leases, Date.now()));
    const { namespace, name } = KUBERNETES_SERVICE;
    const cur = ctx.informer(ENDPOINTS).get(objectKey(ENDPOINTS, namespace, name));
    if (cur && JSON.stringify(cur.subsets ?? []) === JSON.stringify(subsets)) return;
    if (!cur) {
      try {
        await ctx.rest.create({ r: ENDPOINTS, namespace }, { apiVersion: 'v1', kind: 'Endpoints', metadata: { name, labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } }, subsets }, { dryRun: false });
      } catch (e) {
        if (!(isApiError(e) && e.reason === 'AlreadyExists')) throw e;
      }
      return;
    }
    await ctx.rest.modify({ r: ENDPOINTS, namespace, name, subresource: '' }, { dryRun: false }, (c) => ({ ...c, subsets }));
  }
}
