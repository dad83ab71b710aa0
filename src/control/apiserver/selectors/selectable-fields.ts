/**
 * Which fields each resource can be selected by, how each value is read from
 * a stored object, and the error for any other field — the server side of
 * field selectors (upstream: the field-label conversion functions registered
 * per kind, and each registry's ToSelectableFields).
 *
 * Values follow Go's rendering of the typed field: a missing string is '',
 * a missing bool is 'false', a missing integer is '0'. Resources not in the
 * table accept only metadata.name and metadata.namespace, with upstream's
 * default message for anything else.
 *
 * Keys are resource names of the core group unless noted (`jobs` is
 * batch/v1, `certificatesigningrequests` is certificates.k8s.io/v1); `events`
 * is core/v1 Event, whose JSON these extractors read.
 */
import { goQuote } from '../../registry/validation/index.js';
import { SelectorError } from './errors.js';
import { type FieldSelector, parseFieldSelector } from './field-selector.js';

/** A stored object as decoded JSON. */
export type KubeObject = Readonly<Record<string, unknown>>;

type Extract = (obj: KubeObject) => string;

export interface ResourceFields {
  /** Supported field paths and how to read each. */
  readonly fields: Readonly<Record<string, Extract>>;
  /** Old spellings the server still accepts, mapped to the supported path. */
  readonly aliases: Readonly<Record<string, string>>;
  /** Upstream's message for a field that is not supported. */
  readonly unsupported: (field: string) => string;
}

/** Walk decoded JSON by keys (list indices as strings); anything missing reads as undefined. */
function at(obj: unknown, path: readonly string[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null || !Object.hasOwn(cur, p)) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

const str = (...path: string[]): Extract => (obj) => {
  const v = at(obj, path);
  return typeof v === 'string' ? v : '';
};

const bool = (...path: string[]): Extract => (obj) => String(at(obj, path) === true);

const int = (...path: string[]): Extract => (obj) => {
  const v = at(obj, path);
  return typeof v === 'number' && Number.isFinite(v) ? String(Math.trunc(v)) : '0';
};

/** The first pod IP: status.podIPs[0].ip, else the older singular status.podIP. */
const podIP: Extract = (obj) => {
  const first = at(obj, ['status', 'podIPs', '0', 'ip']);
  if (typeof first === 'string') return first;
  return str('status', 'podIP')(obj);
};

/** Core events: source.component, falling back to reportingComponent for events.k8s.io writers. */
const eventSource: Extract = (obj) => str('source', 'component')(obj) || str('reportingComponent')(obj);

const NAME = { 'metadata.name': str('metadata', 'name') };
const NAMESPACED = { ...NAME, 'metadata.namespace': str('metadata', 'namespace') };

const coreMessage = (field: string) => `field label not supported: ${field}`;

/** Upstream's conversion for kinds without their own: metadata fields only. */
export const DEFAULT_RESOURCE_FIELDS: ResourceFields = {
  fields: NAMESPACED,
  aliases: {},
  unsupported: (field) => `${goQuote(field)} is not a known field selector: only "metadata.name", "metadata.namespace"`,
};

const POD_FIELDS: Readonly<Record<string, Extract>> = {
  ...NAMESPACED,
  'spec.nodeName': str('spec', 'nodeName'),
  'spec.restartPolicy': str('spec', 'restartPolicy'),
  'spec.schedulerName': str('spec', 'schedulerName'),
  'spec.serviceAccountName': str('spec', 'serviceAccountName'),
  'spec.hostNetwork': bool('spec', 'hostNetwork'),
  'status.phase': str('status', 'phase'),
  'status.podIP': podIP,
  // Accepted by upstream's conversion but absent from the pod's field set, so it always reads ''.
  'status.podIPs': () => '',
  'status.nominatedNodeName': str('status', 'nominatedNodeName'),
};

const EVENT_FIELDS: Readonly<Record<string, Extract>> = {
  ...NAMESPACED,
  'involvedObject.kind': str('involvedObject', 'kind'),
  'involvedObject.namespace': str('involvedObject', 'namespace'),
  'involvedObject.name': str('involvedObject', 'name'),
  'involvedObject.uid': str('involvedObject', 'uid'),
  'involvedObject.apiVersion': str('involvedObject', 'apiVersion'),
  'involvedObject.resourceVersion': str('involvedObject', 'resourceVersion'),
  'involvedObject.fieldPath': str('involvedObject', 'fieldPath'),
  reason: str('reason'),
  reportingComponent: str('reportingComponent'),
  source: eventSource,
  type: str('type'),
};

const core = (fields: Readonly<Record<string, Extract>>, aliases: Record<string, string> = {}): ResourceFields => ({
  fields,
  aliases,
  unsupported: coreMessage,
});

/** Per resource: the fields kube-apiserver lets clients select on. */
export const SELECTABLE_FIELDS: Readonly<Record<string, ResourceFields>> = {
  pods: core(POD_FIELDS, { 'spec.host': 'spec.nodeName' }),
  // Nodes and namespaces are cluster-scoped: metadata.namespace is NOT supported for them.
  nodes: core({ ...NAME, 'spec.unschedulable': bool('spec', 'unschedulable') }),
  namespaces: core({ ...NAME, 'status.phase': str('status', 'phase') }),
  events: core(EVENT_FIELDS),
  secrets: core({ ...NAMESPACED, type: str('type') }),
  services: core({ ...NAMESPACED, 'spec.clusterIP': str('spec', 'clusterIP'), 'spec.type': str('spec', 'type') }),
  replicationcontrollers: core({ ...NAMESPACED, 'status.replicas': int('status', 'replicas') }),
  certificatesigningrequests: core({ ...NAME, 'spec.signerName': str('spec', 'signerName') }),
  jobs: {
    fields: { ...NAMESPACED, 'status.successful': int('status', 'succeeded') },
    aliases: {},
    unsupported: (field) => `field label ${goQuote(field)} not supported for Job`,
  },
};

export function resourceFields(resource: string): ResourceFields {
  return Object.hasOwn(SELECTABLE_FIELDS, resource) ? SELECTABLE_FIELDS[resource]! : DEFAULT_RESOURCE_FIELDS;
}

/** The field paths a resource supports (aliases not included). */
export function supportedFieldPaths(resource: string): string[] {
  return Object.keys(resourceFields(resource).fields);
}

/**
 * The value of one supported field of an object ('' for a field the resource
 * does not support, as a field set lookup gives).
 */
export function fieldValue(resource: string, obj: KubeObject, field: string): string {
  const spec = resourceFields(resource);
  return Object.hasOwn(spec.fields, field) ? spec.fields[field]!(obj) : '';
}

/** All selectable fields of an object (upstream's fields.Set for it). */
export function selectableFields(resource: string, obj: KubeObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [field, extract] of Object.entries(resourceFields(resource).fields)) out[field] = extract(obj);
  return out;
}

/**
 * Check one term against the resource, mapping aliases (upstream
 * ConvertFieldLabel). Throws SelectorError SELECTOR_ERR_FIELD_UNSUPPORTED.
 */
export function convertFieldLabel(resource: string, field: string, value: string): { field: string; value: string } {
  const spec = resourceFields(resource);
  const canonical = Object.hasOwn(spec.aliases, field) ? spec.aliases[field]! : field;
  if (!Object.hasOwn(spec.fields, canonical)) throw new SelectorError('SELECTOR_ERR_FIELD_UNSUPPORTED', spec.unsupported(field));
  return { field: canonical, value };
}

export interface ResourceFieldSelector {
  /** The parsed and converted selector (aliases already mapped). */
  readonly selector: FieldSelector;
  /** Whether a stored object of the resource satisfies every term. */
  matches(obj: KubeObject): boolean;
}

/**
 * Parse a `fieldSelector` for a resource and check every field against the
 * table, as the API server does before listing or watching. Throws
 * SelectorError (syntax or unsupported field); both are 400 BadRequest.
 */
export function compileFieldSelector(resource: string, selector: string): ResourceFieldSelector {
  const converted = parseFieldSelector(selector).transform((f, v) => convertFieldLabel(resource, f, v));
  const spec = resourceFields(resource);
  return {
    selector: converted,
    matches: (obj) => converted.matches((field) => (Object.hasOwn(spec.fields, field) ? spec.fields[field]!(obj) : '')),
  };
}
