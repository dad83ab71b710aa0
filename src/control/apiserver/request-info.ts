/**
 * The path of a Kubernetes REST request, decoded: which group, version,
 * resource, namespace, name and subresource, and which verb the method and
 * query make of it — as upstream's RequestInfoFactory does for resource paths.
 */
import { type ResourceInfo, type Subresource, lookupResource } from '../registry/resources.js';
import { ApiError, methodNotAllowed } from './errors.js';

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export interface RequestInfo {
  resource: ResourceInfo;
  /** '' when not namespaced or across all namespaces. */
  namespace: string;
  /** '' for a collection. */
  name: string;
  subresource: Subresource | '';
  verb: Verb;
}

function notFoundPath(): ApiError {
  return new ApiError('NotFound', 'the server could not find the requested resource');
}

/** Splits `/api/v1/...` or `/apis/<group>/<version>/...`; null for paths that are not resource paths. */
export function splitGroupVersion(segments: string[]): { group: string; version: string; rest: string[] } | null {
  if (segments[0] === 'api' && segments.length >= 2) return { group: '', version: segments[1]!, rest: segments.slice(2) };
  if (segments[0] === 'apis' && segments.length >= 3) return { group: segments[1]!, version: segments[2]!, rest: segments.slice(3) };
  return null;
}

function isWatch(query: URLSearchParams): boolean {
  const w = query.get('watch');
  return w === 'true' || w === '1';
}

function verbOf(method: string, hasName: boolean, query: URLSearchParams): Verb {
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (isWatch(query)) return 'watch';
      return hasName ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return hasName ? 'delete' : 'deletecollection';
    default:
      throw methodNotAllowed();
  }
}

/**
 * Decodes the resource part of a path (after the group/version). Throws a
 * NotFound Status for unknown resources and shapes, as kube-apiserver does.
 */
export function parseResourcePath(group: string, version: string, rest: string[], method: string, query: URLSearchParams): RequestInfo {
  let namespace = '';
  let parts = rest;
  // /namespaces/<ns>/<resource>/... — but /namespaces/<name>[/status|/finalize] is the namespace itself.
  if (parts[0] === 'namespaces' && parts.length >= 3) {
    namespace = parts[1]!;
    parts = parts.slice(2);
  }
  if (parts.length === 0 || parts.length > 3) throw notFoundPath();
  const resource = lookupResource(group, version, parts[0]!);
  if (!resource) throw notFoundPath();
  const name = parts[1] ?? '';
  const sub = parts[2] ?? '';
  if (sub && !resource.subresources.includes(sub as Subresource)) throw notFoundPath();
  if (namespace && !resource.namespaced) throw notFoundPath();
  if (resource.resource === 'namespaces' && name) namespace = '';
  let verb = verbOf(method, name !== '', query);
  // A subresource is always addressed by name; POST to binding creates it.
  if (sub && !name) throw notFoundPath();
  if (sub === 'binding' && verb !== 'create') throw methodNotAllowed();
  if (sub === 'log' && verb !== 'get') throw methodNotAllowed();
  if (sub === 'exec' && verb !== 'get' && verb !== 'create') throw methodNotAllowed();
  if (verb === 'create' && name && sub !== 'binding' && sub !== 'exec') throw methodNotAllowed();
  if (verb === 'watch' && name) verb = 'watch';
  return { resource, namespace, name, subresource: sub as Subresource | '', verb };
}
