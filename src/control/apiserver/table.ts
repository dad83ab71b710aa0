/**
 * The Table form of objects (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`):
 * what `kubectl get` prints, column for column as upstream's printers
 * (pkg/printers/internalversion) define them for the kinds we serve;
 * priority-1 columns show with `-o wide`. Other kinds get Name and Age.
 */
import type { KubeObject } from './object-store.js';
import { isObject } from './objects.js';

export interface TableColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format: string;
  description: string;
  priority: number;
}

type Cell = string | number | boolean;
type Printer = { columns: TableColumn[]; cells: (o: KubeObject, now: Date) => Cell[] };

function col(name: string, type: TableColumn['type'] = 'string', priority = 0, format = ''): TableColumn {
  return { name, type, format, description: `${name} column`, priority };
}

const NAME = { ...col('Name', 'string', 0, 'name'), description: 'Name must be unique within a namespace.' };
const AGE = { ...col('Age'), description: 'CreationTimestamp is a timestamp representing the server time when this object was created.' };

/** Upstream's HumanDuration: short, coarser as it grows ("45s", "5m3s", "3h", "12d", "2y30d"). */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < -1) return '<invalid>';
  if (s < 0) return '0s';
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 24 * 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (d < 365 * 2) return `${d}d`;
  const y = Math.floor(d / 365);
  if (d < 365 * 8) return d % 365 === 0 ? `${y}y` : `${y}y${d % 365}d`;
  return `${y}y`;
}

function age(o: KubeObject, now: Date): string {
  const t = o.metadata.creationTimestamp;
  return t ? humanDuration(now.getTime() - Date.parse(t)) : '<unknown>';
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;
const obj = (v: unknown): Any => (isObject(v) ? v : {});
const arr = (v: unknown): Any[] => (Array.isArray(v) ? v : []);
const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
const orNone = (s: string): string => (s === '' ? '<none>' : s);

function selectorString(sel: unknown): string {
  const s = obj(sel);
  const parts = Object.entries(obj(s.matchLabels ?? (s.matchExpressions ? {} : s))).map(([k, v]) => `${k}=${String(v)}`);
  for (const e of arr(s.matchExpressions)) {
    const op = String(e.operator);
    if (op === 'Exists') parts.push(String(e.key));
    else if (op === 'DoesNotExist') parts.push(`!${String(e.key)}`);
    else parts.push(`${String(e.key)} ${op.toLowerCase()} (${arr(e.values).join(',')})`);
  }
  return orNone(parts.join(','));
}

function podTemplateColumns(o: KubeObject): string[] {
  const cs = arr(obj(obj(obj(o.spec).template).spec).containers);
  return [orNone(cs.map((c) => String(c.name)).join(',')), orNone(cs.map((c) => String(c.image)).join(','))];
}

/** The STATUS column of a pod, as upstream's printPod reasons it. */
function podStatus(p: KubeObject): { reason: string; ready: number; total: number; restarts: number } {
  const spec = obj(p.spec);
  const st = obj(p.status);
  let reason: string = st.reason || st.phase || 'Pending';
  const total = arr(spec.containers).length;
  let ready = 0;
  let restarts = 0;
  const inits = arr(st.initContainerStatuses);
  let initializing = false;
  inits.forEach((c, i) => {
    restarts += num(c.restartCount);
    const term = obj(obj(c.state).terminated);
    const wait = obj(obj(c.state).waiting);
    if (c.state?.terminated && term.exitCode === 0) return;
    if (initializing) return;
    if (c.state?.terminated) reason = term.reason ? `Init:${term.reason}` : term.signal ? `Init:Signal:${term.signal}` : `Init:ExitCode:${term.exitCode}`;
    else if (wait.reason && wait.reason !== 'PodInitializing') reason = `Init:${wait.reason}`;
    else reason = `Init:${i}/${arr(spec.initContainers).length}`;
    initializing = true;
  });
  if (!initializing) {
    let running = false;
    for (const c of [...arr(st.containerStatuses)].reverse()) {
      restarts += num(c.restartCount);
      const s = obj(c.state);
      if (s.waiting?.reason) reason = s.waiting.reason;
      else if (s.terminated?.reason) reason = s.terminated.reason;
      else if (s.terminated) reason = s.terminated.signal ? `Signal:${s.terminated.signal}` : `ExitCode:${s.terminated.exitCode}`;
      else if (s.running && c.ready) {
        running = true;
        ready++;
      }
    }
    if (reason === 'Completed' && running) reason = 'Running';
  }
  if (p.metadata.deletionTimestamp) reason = st.reason === 'NodeLost' ? 'Unknown' : 'Terminating';
  return { reason, ready, total, restarts };
}

function servicePorts(s: KubeObject): string {
  const ps = arr(obj(s.spec).ports).map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`);
  return orNone(ps.join(','));
}

function nodeStatus(n: KubeObject): string {
  const ready = arr(obj(n.status).conditions).find((c) => c.type === 'Ready');
  const parts = [ready?.status === 'True' ? 'Ready' : ready ? 'NotReady' : 'Unknown'];
  if (obj(n.spec).unschedulable) parts.push('SchedulingDisabled');
  return parts.join(',');
}

function nodeRoles(n: KubeObject): string {
  const roles = Object.keys(n.metadata.labels ?? {})
    .filter((k) => k.startsWith('node-role.kubernetes.io/'))
    .map((k) => k.slice('node-role.kubernetes.io/'.length));
  return orNone(roles.join(','));
}

function nodeAddress(n: KubeObject, type: string): string {
  return orNone(arr(obj(n.status).addresses).find((a) => a.type === type)?.address ?? '');
}

function endpointsColumn(e: KubeObject): string {
  const out: string[] = [];
  for (const s of arr(e.subsets)) for (const a of arr(s.addresses)) for (const p of arr(s.ports).length ? arr(s.ports) : [{}]) out.push(p.port ? `${a.ip}:${p.port}` : String(a.ip));
  const shown = out.slice(0, 3).join(',');
  return orNone(out.length > 3 ? `${shown} + ${out.length - 3} more...` : shown);
}

const PRINTERS: Record<string, Printer> = {
  Pod: {
    columns: [NAME, col('Ready'), col('Status'), col('Restarts', 'string'), AGE, col('IP', 'string', 1), col('Node', 'string', 1), col('Nominated Node', 'string', 1), col('Readiness Gates', 'string', 1)],
    cells: (p, now) => {
      const s = podStatus(p);
      const gates = arr(obj(p.spec).readinessGates);
      return [p.metadata.name ?? '', `${s.ready}/${s.total}`, s.reason, String(s.restarts), age(p, now), orNone(obj(p.status).podIP ?? ''), orNone(obj(p.spec).nodeName ?? ''), orNone(obj(p.status).nominatedNodeName ?? ''), gates.length ? `0/${gates.length}` : '<none>'];
    },
  },
  Namespace: { columns: [NAME, col('Status'), AGE], cells: (n, now) => [n.metadata.name ?? '', obj(n.status).phase ?? 'Active', age(n, now)] },
  Node: {
    columns: [NAME, col('Status'), col('Roles'), AGE, col('Version'), col('Internal-IP', 'string', 1), col('External-IP', 'string', 1), col('OS-Image', 'string', 1), col('Kernel-Version', 'string', 1), col('Container-Runtime', 'string', 1)],
    cells: (n, now) => {
      const info = obj(obj(n.status).nodeInfo);
      return [n.metadata.name ?? '', nodeStatus(n), nodeRoles(n), age(n, now), info.kubeletVersion ?? '', nodeAddress(n, 'InternalIP'), nodeAddress(n, 'ExternalIP'), info.osImage ?? '<unknown>', info.kernelVersion ?? '<unknown>', info.containerRuntimeVersion ?? '<unknown>'];
    },
  },
  Service: {
    columns: [NAME, col('Type'), col('Cluster-IP'), col('External-IP'), col('Port(s)'), AGE, col('Selector', 'string', 1)],
    cells: (s, now) => {
      const spec = obj(s.spec);
      const ext = [...arr(spec.externalIPs), ...arr(obj(obj(s.status).loadBalancer).ingress).map((i) => i.ip ?? i.hostname)];
      const selector = Object.entries(obj(spec.selector)).map(([k, v]) => `${k}=${String(v)}`).join(',');
      return [s.metadata.name ?? '', spec.type ?? 'ClusterIP', spec.clusterIP || '<none>', orNone(ext.join(',')), servicePorts(s), age(s, now), orNone(selector)];
    },
  },
  Endpoints: { columns: [NAME, col('Endpoints'), AGE], cells: (e, now) => [e.metadata.name ?? '', endpointsColumn(e), age(e, now)] },
  ConfigMap: { columns: [NAME, col('Data', 'integer'), AGE], cells: (c, now) => [c.metadata.name ?? '', Object.keys(obj(c.data)).length + Object.keys(obj(c.binaryData)).length, age(c, now)] },
  Secret: { columns: [NAME, col('Type'), col('Data', 'integer'), AGE], cells: (s, now) => [s.metadata.name ?? '', s.type ?? 'Opaque', Object.keys(obj(s.data)).length, age(s, now)] },
  ServiceAccount: { columns: [NAME, col('Secrets', 'integer'), AGE], cells: (s, now) => [s.metadata.name ?? '', arr(s.secrets).length, age(s, now)] },
  Deployment: {
    columns: [NAME, col('Ready'), col('Up-to-date', 'integer'), col('Available', 'integer'), AGE, col('Containers', 'string', 1), col('Images', 'string', 1), col('Selector', 'string', 1)],
    cells: (d, now) => {
      const st = obj(d.status);
      return [d.metadata.name ?? '', `${num(st.readyReplicas)}/${num(obj(d.spec).replicas ?? 1)}`, num(st.updatedReplicas), num(st.availableReplicas), age(d, now), ...podTemplateColumns(d), selectorString(obj(d.spec).selector)];
    },
  },
  ReplicaSet: {
    columns: [NAME, col('Desired', 'integer'), col('Current', 'integer'), col('Ready', 'integer'), AGE, col('Containers', 'string', 1), col('Images', 'string', 1), col('Selector', 'string', 1)],
    cells: (r, now) => [r.metadata.name ?? '', num(obj(r.spec).replicas ?? 1), num(obj(r.status).replicas), num(obj(r.status).readyReplicas), age(r, now), ...podTemplateColumns(r), selectorString(obj(r.spec).selector)],
  },
  ReplicationController: {
    columns: [NAME, col('Desired', 'integer'), col('Current', 'integer'), col('Ready', 'integer'), AGE, col('Containers', 'string', 1), col('Images', 'string', 1), col('Selector', 'string', 1)],
    cells: (r, now) => [r.metadata.name ?? '', num(obj(r.spec).replicas ?? 1), num(obj(r.status).replicas), num(obj(r.status).readyReplicas), age(r, now), ...podTemplateColumns(r), selectorString(obj(r.spec).selector)],
  },
  DaemonSet: {
    columns: [NAME, col('Desired', 'integer'), col('Current', 'integer'), col('Ready', 'integer'), col('Up-to-date', 'integer'), col('Available', 'integer'), col('Node Selector'), AGE, col('Containers', 'string', 1), col('Images', 'string', 1), col('Selector', 'string', 1)],
    cells: (d, now) => {
      const st = obj(d.status);
      const ns = Object.entries(obj(obj(obj(obj(d.spec).template).spec).nodeSelector)).map(([k, v]) => `${k}=${String(v)}`).join(',');
      return [d.metadata.name ?? '', num(st.desiredNumberScheduled), num(st.currentNumberScheduled), num(st.numberReady), num(st.updatedNumberScheduled), num(st.numberAvailable), orNone(ns), age(d, now), ...podTemplateColumns(d), selectorString(obj(d.spec).selector)];
    },
  },
  StatefulSet: {
    columns: [NAME, col('Ready'), AGE, col('Containers', 'string', 1), col('Images', 'string', 1)],
    cells: (s, now) => [s.metadata.name ?? '', `${num(obj(s.status).readyReplicas)}/${num(obj(s.spec).replicas ?? 1)}`, age(s, now), ...podTemplateColumns(s)],
  },
  Job: {
    columns: [NAME, col('Status'), col('Completions'), col('Duration'), AGE, col('Containers', 'string', 1), col('Images', 'string', 1), col('Selector', 'string', 1)],
    cells: (j, now) => {
      const st = obj(j.status);
      const conds = arr(st.conditions).filter((c) => c.status === 'True').map((c) => c.type);
      const status = conds.includes('Complete') ? 'Complete' : conds.includes('Failed') ? 'Failed' : num(st.active) > 0 ? 'Running' : 'Pending';
      const completions = obj(j.spec).completions;
      const dur = st.startTime ? humanDuration((st.completionTime ? Date.parse(st.completionTime) : now.getTime()) - Date.parse(st.startTime)) : '';
      return [j.metadata.name ?? '', status, `${num(st.succeeded)}/${completions ?? 1}`, dur, age(j, now), ...podTemplateColumns(j), selectorString(obj(j.spec).selector)];
    },
  },
  Event: {
    columns: [col('Last Seen'), col('Type'), col('Reason'), col('Object'), col('Message')],
    cells: (e, now) => {
      const last = e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp;
      const io = obj(e.involvedObject);
      return [last ? humanDuration(now.getTime() - Date.parse(last)) : '<unknown>', e.type ?? '', e.reason ?? '', `${String(io.kind ?? '').toLowerCase()}/${io.name ?? ''}`, e.message ?? ''];
    },
  },
  Lease: { columns: [NAME, col('Holder'), AGE], cells: (l, now) => [l.metadata.name ?? '', obj(l.spec).holderIdentity ?? '', age(l, now)] },
  EndpointSlice: {
    columns: [NAME, col('AddressType'), col('Ports'), col('Endpoints'), AGE],
    cells: (s, now) => {
      const ports = arr(s.ports).map((p) => String(p.port ?? '')).join(',');
      const eps = arr(s.endpoints).flatMap((e) => arr(e.addresses));
      const shown = eps.slice(0, 3).join(',');
      return [s.metadata.name ?? '', s.addressType ?? '', orNone(ports), orNone(eps.length > 3 ? `${shown} + ${eps.length - 3} more...` : shown), age(s, now)];
    },
  },
};

const DEFAULT_PRINTER: Printer = { columns: [NAME, { ...AGE, name: 'Age' }], cells: (o, now) => [o.metadata.name ?? '', age(o, now)] };

export type IncludeObject = 'None' | 'Metadata' | 'Object';

function rowObject(o: KubeObject, include: IncludeObject): object | undefined {
  if (include === 'None') return undefined;
  if (include === 'Object') return o;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
}

/** A Table of `items` (of one kind), with list metadata (resourceVersion, continue). */
export function toTable(kind: string, items: KubeObject[], listMeta: Record<string, unknown>, include: IncludeObject, now: Date): object {
  const p = PRINTERS[kind] ?? DEFAULT_PRINTER;
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: p.columns,
    rows: items.map((o) => {
      const row: Record<string, unknown> = { cells: p.cells(o, now) };
      const ob = rowObject(o, include);
      if (ob) row.object = ob;
      return row;
    }),
  };
}
