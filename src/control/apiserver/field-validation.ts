/**
 * Server-side field validation (`?fieldValidation=Strict|Warn|Ignore`), as
 * kube-apiserver does it: fields a kind does not have are refused (Strict:
 * 400 `strict decoding error: unknown field "spec.foo"`), reported in
 * `Warning` headers (Warn, the default), or dropped silently (Ignore) — and
 * in every case not stored, as upstream's typed decoding drops them.
 *
 * The schema is the one the protobuf decoder walks (protobuf/schema-*.ts:
 * every field of every kind we serve, with its JSON name), so JSON, YAML and
 * protobuf bodies are held to the same fields. Kinds without a schema are
 * not checked.
 */
import { badRequest } from './errors.js';
import type { KubeObject } from './object-store.js';
import { isObject } from './objects.js';
import { type FieldSchema, type MessageSchema, schemaFor } from './protobuf/index.js';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

/** Unknown fields reported per request (the rest are dropped all the same). */
export const UNKNOWN_FIELDS_REPORTED_MAX = 100;

export function parseFieldValidation(v: string | null): FieldValidation {
  if (v === null || v === '') return 'Warn';
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  throw badRequest(`fieldValidation parameter unsupported: ${v}`);
}

/** JSON name → field, with inlined messages' fields lifted into their parent. */
const byName = new WeakMap<MessageSchema, Map<string, FieldSchema>>();

function fieldsByName(m: MessageSchema): Map<string, FieldSchema> {
  let map = byName.get(m);
  if (map) return map;
  map = new Map();
  for (const f of m.fields.values()) {
    if (f.inline && f.value.kind === 'message') for (const [n, g] of fieldsByName(f.value.message)) map.set(n, g);
    else map.set(f.name, f);
  }
  byName.set(m, map);
  return map;
}

/**
 * Removes the fields `obj` has that its kind does not, and returns their
 * paths (`spec.template.spec.containers[0].imagePullPolcy`). Values of the
 * wrong JSON type are left to validation.
 */
export function dropUnknownFields(obj: KubeObject, apiVersion: string, kind: string): string[] {
  const schema = schemaFor(apiVersion, kind);
  if (!schema) return [];
  const found: string[] = [];
  walk(obj, schema, '', found, true);
  return found;
}

function walk(v: Record<string, unknown>, m: MessageSchema, path: string, found: string[], top: boolean): void {
  const fields = fieldsByName(m);
  for (const name of Object.keys(v)) {
    if (top && (name === 'apiVersion' || name === 'kind')) continue;
    const f = fields.get(name);
    const p = path ? `${path}.${name}` : name;
    if (!f) {
      found.push(p);
      delete v[name];
      continue;
    }
    if (f.value.kind !== 'message') continue;
    const inner = f.value.message;
    const x = v[name];
    if (f.cardinality === 'repeated' && Array.isArray(x)) x.forEach((e, i) => isObject(e) && walk(e, inner, `${p}[${i}]`, found, false));
    else if (f.cardinality === 'map' && isObject(x)) for (const [k, e] of Object.entries(x)) isObject(e) && walk(e, inner, `${p}[${k}]`, found, false);
    else if (f.cardinality === 'single' && isObject(x)) walk(x, inner, p, found, false);
  }
}

/** The Strict refusal, worded as upstream's. */
export function strictError(paths: string[]): Error {
  const shown = paths.slice(0, UNKNOWN_FIELDS_REPORTED_MAX).map((p) => `unknown field "${p}"`);
  return badRequest(`strict decoding error: ${shown.join(', ')}`);
}

/** `Warning` header values (RFC 7234 form, code 299), one per unknown field. */
export function warnings(paths: string[]): string[] {
  return paths.slice(0, UNKNOWN_FIELDS_REPORTED_MAX).map((p) => `299 - ${JSON.stringify(`unknown field "${p}"`)}`);
}
