/**
 * The Docker-links style environment variables the kubelet gives every
 * container (enableServiceLinks): for each Service of the pod's namespace
 * with a cluster IP, `<NAME>_SERVICE_HOST`, `<NAME>_SERVICE_PORT[_<PORT>]`,
 * `<NAME>_PORT`, `<NAME>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]`; and the
 * `kubernetes` Service of `default` in every namespace.
 */
import type { Json } from '../api/index.js';

function envName(s: string): string {
  return s.toUpperCase().replace(/-/g, '_');
}

function add(env: Record<string, string>, svc: Json): void {
  const ip = svc.spec?.clusterIP;
  if (typeof ip !== 'string' || ip === '' || ip === 'None') return;
  const ports: Json[] = svc.spec?.ports ?? [];
  if (ports.length === 0) return;
  const name = envName(svc.metadata.name);
  env[`${name}_SERVICE_HOST`] = ip;
  env[`${name}_SERVICE_PORT`] = String(ports[0]!.port);
  for (const p of ports) if (p.name) env[`${name}_SERVICE_PORT_${envName(p.name)}`] = String(p.port);
  const first = ports[0]!;
  const proto0 = String(first.protocol ?? 'TCP').toLowerCase();
  env[`${name}_PORT`] = `${proto0}://${ip}:${first.port}`;
  for (const p of ports) {
    const proto = String(p.protocol ?? 'TCP');
    const prefix = `${name}_PORT_${p.port}_${proto.toUpperCase()}`;
    env[prefix] = `${proto.toLowerCase()}://${ip}:${p.port}`;
    env[`${prefix}_PROTO`] = proto.toLowerCase();
    env[`${prefix}_PORT`] = String(p.port);
    env[`${prefix}_ADDR`] = ip;
  }
}

export function serviceEnv(services: readonly Json[], namespace: string): Record<string, string> {
  const env: Record<string, string> = {};
  // Sorted by name, as upstream; the namespace's own services, then `kubernetes` from default.
  const mine = services.filter((s) => s.metadata?.namespace === namespace).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  for (const s of mine) add(env, s);
  const master = services.find((s) => s.metadata?.namespace === 'default' && s.metadata?.name === 'kubernetes');
  if (master && namespace !== 'default') add(env, master);
  return env;
}
