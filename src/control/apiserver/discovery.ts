/**
 * Discovery documents: what kubectl and client libraries read to learn which
 * groups, versions and resources exist (`/api`, `/apis`, `/api/v1`,
 * `/apis/<group>/<version>`, `/apis/<group>`), built from the resource table.
 */
import { RESOURCES, apiVersionOf, groupVersions, type ResourceInfo } from '../registry/resources.js';

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

interface ApiResource {
  name: string;
  singularName: string;
  namespaced: boolean;
  group?: string;
  version?: string;
  kind: string;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
}

function resourceEntries(r: ResourceInfo): ApiResource[] {
  const main: ApiResource = { name: r.resource, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: VERBS };
  if (r.shortNames.length > 0) main.shortNames = [...r.shortNames];
  if (r.categories.length > 0) main.categories = [...r.categories];
  const out = [main];
  for (const s of r.subresources) {
    const base = { name: `${r.resource}/${s}`, singularName: '', namespaced: r.namespaced };
    if (s === 'status') out.push({ ...base, kind: r.kind, verbs: ['get', 'patch', 'update'] });
    if (s === 'scale') out.push({ ...base, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'] });
    if (s === 'binding') out.push({ ...base, kind: 'Binding', verbs: ['create'] });
    if (s === 'finalize') out.push({ ...base, kind: r.kind, verbs: ['update'] });
    if (s === 'log') out.push({ ...base, kind: 'Pod', verbs: ['get'] });
    if (s === 'exec') out.push({ ...base, kind: 'PodExecOptions', verbs: ['create', 'get'] });
  }
  return out;
}

/** `/api/v1` or `/apis/<group>/<version>`; null when not served. */
export function apiResourceList(group: string, version: string): object | null {
  const rs = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (rs.length === 0) return null;
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf({ group, version }), resources: rs.flatMap(resourceEntries) };
}

/** `/api`: the core group's versions. */
export function apiVersions(serverAddress: string): object {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function apiGroup(name: string): object {
  const versions = groupVersions()
    .filter((gv) => gv.group === name)
    .map((gv) => ({ groupVersion: apiVersionOf(gv), version: gv.version }));
  return { name, versions, preferredVersion: versions[0] };
}

/** `/apis`: every named group. */
export function apiGroupList(): object {
  const names = [...new Set(groupVersions().map((gv) => gv.group).filter((g) => g !== ''))];
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: names.map(apiGroup) };
}

/** `/apis/<group>`; null when not served. */
export function apiGroupDocument(name: string): object | null {
  if (!groupVersions().some((gv) => gv.group === name)) return null;
  return { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(name) };
}

/** The media type of aggregated discovery (one document per root instead of one per group/version). */
export const AGGREGATED_DISCOVERY_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

/** Whether the client's Accept asks for aggregated discovery v2 before plain JSON. */
export function wantsAggregated(accept: string | undefined): boolean {
  if (!accept) return false;
  for (const part of accept.split(',')) {
    const p = part.replace(/\s+/g, '').toLowerCase();
    if (p.startsWith('application/json') && p.includes('g=apidiscovery.k8s.io') && p.includes('as=apigroupdiscoverylist')) {
      if (p.includes('v=v2;') || p.endsWith('v=v2')) return true;
      continue;
    }
    if (p.startsWith('application/json') || p.startsWith('*/*')) return false;
  }
  return false;
}

function discoveredResource(r: ResourceInfo) {
  const out: Record<string, unknown> = {
    resource: r.resource,
    responseKind: { group: r.group, version: r.version, kind: r.kind },
    scope: r.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: r.singular,
    verbs: VERBS,
  };
  if (r.shortNames.length > 0) out.shortNames = [...r.shortNames];
  if (r.categories.length > 0) out.categories = [...r.categories];
  if (r.subresources.length > 0) {
    out.subresources = r.subresources.map((s) => {
      if (s === 'scale') return { subresource: s, responseKind: { group: 'autoscaling', version: 'v1', kind: 'Scale' }, verbs: ['get', 'patch', 'update'] };
      if (s === 'binding') return { subresource: s, responseKind: { group: '', version: 'v1', kind: 'Binding' }, verbs: ['create'] };
      if (s === 'log') return { subresource: s, responseKind: { group: '', version: 'v1', kind: 'Pod' }, verbs: ['get'] };
      if (s === 'exec') return { subresource: s, responseKind: { group: '', version: 'v1', kind: 'PodExecOptions' }, verbs: ['create', 'get'] };
      if (s === 'finalize') return { subresource: s, responseKind: { group: r.group, version: r.version, kind: r.kind }, verbs: ['update'] };
      return { subresource: s, responseKind: { group: r.group, version: r.version, kind: r.kind }, verbs: ['get', 'patch', 'update'] };
    });
  }
  return out;
}

function discoveredGroup(name: string) {
  const versions = groupVersions()
    .filter((gv) => gv.group === name)
    .map((gv) => ({ version: gv.version, resources: RESOURCES.filter((r) => r.group === name && r.version === gv.version).map(discoveredResource), freshness: 'Current' }));
  return { metadata: name ? { name, creationTimestamp: null } : { creationTimestamp: null }, versions };
}

/** `/api` (core only) or `/apis` (every named group) as an APIGroupDiscoveryList. */
export function aggregatedDiscovery(core: boolean): object {
  const names = core ? [''] : [...new Set(groupVersions().map((gv) => gv.group).filter((g) => g !== ''))];
  return { kind: 'APIGroupDiscoveryList', apiVersion: 'apidiscovery.k8s.io/v2', metadata: {}, items: names.map(discoveredGroup) };
}
