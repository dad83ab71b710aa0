/**
 * OpenAPI v3 documents, generated from the resource table: `/openapi/v3`
 * (the index of group/versions) and `/openapi/v3/<api|apis/group>/<version>`.
 *
 * What clients read from them, and so what they carry:
 * - kubectl decides from the PATCH operation of a kind whether the server
 *   validates fields itself (`fieldValidation` query parameter); if so it
 *   skips client-side schema validation and sends `fieldValidation=Strict`,
 *   which field-validation.ts honours.
 * - kubectl apply looks for a component schema tagged with the kind's
 *   group/version/kind to compute strategic merge patches; finding none, it
 *   uses its compiled-in Kubernetes types, which know every merge key. We
 *   publish no such schemas yet (they would have to be complete to be better
 *   than kubectl's own), so `kubectl explain` has nothing to show.
 */
import { createHash } from 'node:crypto';
import { RESOURCES, apiVersionOf, groupVersions, type ResourceInfo } from '../registry/resources.js';

const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'];

function param(name: string, where: 'query' | 'path', description: string) {
  return { name, in: where, description, ...(where === 'path' ? { required: true } : {}), schema: { type: 'string', uniqueItems: true } };
}

const WRITE_PARAMS = [
  param('dryRun', 'query', 'When present, indicates that modifications should not be persisted.'),
  param('fieldManager', 'query', 'A name associated with the actor or entity making these changes.'),
  param('fieldValidation', 'query', 'How the server treats unknown or duplicate fields: Ignore, Warn or Strict.'),
];

function schemaRef(r: ResourceInfo): string {
  return `#/components/schemas/${schemaName(r)}`;
}

function schemaName(r: ResourceInfo): string {
  const group = r.group === '' ? 'core' : r.group.split('.')[0];
  return `io.skiff.api.${group}.${r.version}.${r.kind}`;
}

function gvk(r: ResourceInfo) {
  return { group: r.group, version: r.version, kind: r.kind };
}

function operation(r: ResourceInfo, action: string, extra: Record<string, unknown> = {}) {
  const ok = { description: 'OK', content: { 'application/json': { schema: { $ref: schemaRef(r) } } } };
  return {
    operationId: `${action}${r.kind}`,
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk(r),
    responses: { '200': ok, '401': { description: 'Unauthorized' } },
    ...extra,
  };
}

function body(r: ResourceInfo, types: string[]) {
  return { required: true, content: Object.fromEntries(types.map((t) => [t, { schema: { $ref: schemaRef(r) } }])) };
}

function pathsFor(r: ResourceInfo): Record<string, unknown> {
  const prefix = `/${r.group ? `apis/${apiVersionOf(r)}` : 'api/v1'}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.resource}`;
  const collection = {
    get: operation(r, 'list'),
    post: operation(r, 'post', { parameters: WRITE_PARAMS, requestBody: body(r, ['application/json', 'application/yaml']) }),
    delete: operation(r, 'deletecollection'),
  };
  const item = {
    get: operation(r, 'get'),
    put: operation(r, 'put', { parameters: WRITE_PARAMS, requestBody: body(r, ['application/json', 'application/yaml']) }),
    patch: operation(r, 'patch', { parameters: [...WRITE_PARAMS, param('force', 'query', 'Force is only meaningful for apply requests.')], requestBody: body(r, PATCH_TYPES) }),
    delete: operation(r, 'delete', { parameters: [param('dryRun', 'query', 'When present, indicates that modifications should not be persisted.')] }),
  };
  return { [prefix]: collection, [`${prefix}/{name}`]: item };
}

/** The document of one group/version, or null when not served. */
export function openApiV3Document(group: string, version: string): object | null {
  const rs = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (rs.length === 0) return null;
  const schemas = Object.fromEntries(rs.map((r) => [schemaName(r), { type: 'object', description: `${r.kind} (schema not published by skiff yet)`, 'x-kubernetes-preserve-unknown-fields': true }]));
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.32.0' },
    paths: Object.assign({}, ...rs.map(pathsFor)),
    components: { schemas },
  };
}

const docs = new Map<string, { text: string; hash: string }>();

function documentText(gvPath: string): { text: string; hash: string } | null {
  const hit = docs.get(gvPath);
  if (hit) return hit;
  const parts = gvPath.split('/');
  const [group, version] = parts[0] === 'api' ? ['', parts[1] ?? ''] : [parts[1] ?? '', parts[2] ?? ''];
  const doc = openApiV3Document(group, version);
  if (!doc) return null;
  const text = JSON.stringify(doc);
  const entry = { text, hash: createHash('sha512').update(text).digest('hex').slice(0, 128) };
  docs.set(gvPath, entry);
  return entry;
}

function gvPathOf(gv: { group: string; version: string }): string {
  return gv.group ? `apis/${gv.group}/${gv.version}` : `api/${gv.version}`;
}

/** `/openapi/v3`: where each group/version's document is (with a content hash clients cache by). */
export function openApiV3Index(): object {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const gv of groupVersions()) {
    const p = gvPathOf(gv);
    const d = documentText(p);
    if (d) paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${d.hash}` };
  }
  return { paths };
}

/** The JSON text of `/openapi/v3/<gvPath>`, or null. */
export function openApiV3Text(gvPath: string): string | null {
  return documentText(gvPath)?.text ?? null;
}
