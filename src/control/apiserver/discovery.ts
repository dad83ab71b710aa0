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
