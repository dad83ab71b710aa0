/**
 * The resources the API server serves: one row per resource, with what
 * discovery advertises (kind, short names, categories, scope, subresources)
 * and where objects live in the store (`/registry/<prefix>/<ns>/<name>`, the
 * layout upstream uses, including its historical prefixes such as `minions`
 * for nodes and `services/specs` for services, so that `etcdctl get
 * --prefix /registry` reads the same on skiff as on a Kubernetes etcd).
 */

export type Subresource = 'status' | 'scale' | 'binding' | 'finalize' | 'log' | 'exec';

export interface ResourceInfo {
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  /** Plural, lower case: the URL segment. */
  readonly resource: string;
  readonly singular: string;
  readonly kind: string;
  readonly namespaced: boolean;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  readonly subresources: readonly Subresource[];
  /** Store key prefix, without the trailing slash. */
  readonly storagePrefix: string;
  /** metadata.generation starts at 1 and moves on every spec change (workloads). */
  readonly hasGeneration: boolean;
  /** Status is set by controllers only: cleared on create (unless kept), ignored on the main resource's update. */
  readonly statusOnCreate: 'clear' | 'keep';
}

interface Row {
  group?: string;
  version?: string;
  resource: string;
  kind: string;
  namespaced?: boolean;
  shortNames?: string[];
  all?: boolean;
  subresources?: Subresource[];
  prefix?: string;
  generation?: boolean;
  statusOnCreate?: 'clear' | 'keep';
}

const ROWS: Row[] = [
  // core/v1
  { resource: 'namespaces', kind: 'Namespace', namespaced: false, shortNames: ['ns'], subresources: ['status', 'finalize'] },
  { resource: 'pods', kind: 'Pod', shortNames: ['po'], all: true, subresources: ['status', 'binding', 'log', 'exec'], statusOnCreate: 'keep' },
  { resource: 'services', kind: 'Service', shortNames: ['svc'], all: true, subresources: ['status'], prefix: 'services/specs' },
  { resource: 'endpoints', kind: 'Endpoints', shortNames: ['ep'], prefix: 'services/endpoints' },
  { resource: 'nodes', kind: 'Node', namespaced: false, shortNames: ['no'], subresources: ['status'], prefix: 'minions', statusOnCreate: 'keep' },
  { resource: 'configmaps', kind: 'ConfigMap', shortNames: ['cm'] },
  { resource: 'secrets', kind: 'Secret' },
  { resource: 'events', kind: 'Event', shortNames: ['ev'] },
  { resource: 'serviceaccounts', kind: 'ServiceAccount', shortNames: ['sa'] },
  { resource: 'resourcequotas', kind: 'ResourceQuota', shortNames: ['quota'], subresources: ['status'] },
  { resource: 'limitranges', kind: 'LimitRange', shortNames: ['limits'] },
  { resource: 'replicationcontrollers', kind: 'ReplicationController', shortNames: ['rc'], all: true, subresources: ['status', 'scale'], prefix: 'controllers', generation: true },
  // apps/v1
  { group: 'apps', resource: 'deployments', kind: 'Deployment', shortNames: ['deploy'], all: true, subresources: ['status', 'scale'], generation: true },
  { group: 'apps', resource: 'replicasets', kind: 'ReplicaSet', shortNames: ['rs'], all: true, subresources: ['status', 'scale'], generation: true },
  { group: 'apps', resource: 'daemonsets', kind: 'DaemonSet', shortNames: ['ds'], all: true, subresources: ['status'], generation: true },
  { group: 'apps', resource: 'statefulsets', kind: 'StatefulSet', shortNames: ['sts'], all: true, subresources: ['status', 'scale'], generation: true },
  { group: 'apps', resource: 'controllerrevisions', kind: 'ControllerRevision' },
  // batch/v1
  { group: 'batch', resource: 'jobs', kind: 'Job', all: true, subresources: ['status'], generation: true },
  // coordination.k8s.io/v1
  { group: 'coordination.k8s.io', resource: 'leases', kind: 'Lease' },
  // discovery.k8s.io/v1
  { group: 'discovery.k8s.io', resource: 'endpointslices', kind: 'EndpointSlice' },
  // rbac.authorization.k8s.io/v1 (stored now, enforced later)
  { group: 'rbac.authorization.k8s.io', resource: 'roles', kind: 'Role' },
  { group: 'rbac.authorization.k8s.io', resource: 'rolebindings', kind: 'RoleBinding' },
  { group: 'rbac.authorization.k8s.io', resource: 'clusterroles', kind: 'ClusterRole', namespaced: false },
  { group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', kind: 'ClusterRoleBinding', namespaced: false },
];

function build(r: Row): ResourceInfo {
  return Object.freeze({
    group: r.group ?? '',
    version: r.version ?? 'v1',
    resource: r.resource,
    singular: r.kind.toLowerCase(),
    kind: r.kind,
    namespaced: r.namespaced ?? true,
    shortNames: Object.freeze(r.shortNames ?? []),
    categories: Object.freeze(r.all ? ['all'] : []),
    subresources: Object.freeze(r.subresources ?? []),
    storagePrefix: `/registry/${r.prefix ?? r.resource}`,
    hasGeneration: r.generation ?? false,
    statusOnCreate: r.statusOnCreate ?? 'clear',
  });
}

export const RESOURCES: readonly ResourceInfo[] = Object.freeze(ROWS.map(build));

/** "apps/v1", or "v1" for the core group. */
export function apiVersionOf(r: { group: string; version: string }): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** The served group/versions, core first, in the order discovery lists them. */
export function groupVersions(): { group: string; version: string }[] {
  const seen = new Map<string, { group: string; version: string }>();
  for (const r of RESOURCES) seen.set(apiVersionOf(r), { group: r.group, version: r.version });
  return [...seen.values()];
}

const byPath = new Map(RESOURCES.map((r) => [`${apiVersionOf(r)}/${r.resource}`, r]));
const byKind = new Map(RESOURCES.map((r) => [`${apiVersionOf(r)}/${r.kind}`, r]));

/** The resource served at `/api(s)/<group/version>/<resource>`, if any. */
export function lookupResource(group: string, version: string, resource: string): ResourceInfo | undefined {
  return byPath.get(`${apiVersionOf({ group, version })}/${resource}`);
}

export function lookupKind(apiVersion: string, kind: string): ResourceInfo | undefined {
  return byKind.get(`${apiVersion}/${kind}`);
}
