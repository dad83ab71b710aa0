/**
 * Defensive access to the plain JSON objects strategies receive. Upstream
 * decodes into Go structs first, so a string where an object belongs never
 * reaches validation there (it is a 400 at decode time). Here the object is
 * whatever the client sent, so every read checks the type: validation turns
 * a wrong type into a field error at that path, defaulting leaves it alone.
 * Nothing here throws on a user's mistake.
 *
 * Convention for the validation readers: `undefined` means absent (Go's zero
 * value applies), `null` means present with the wrong type (an error has been
 * pushed; skip further checks of that field).
 */
import { deepEqual, isObject } from '../../apiserver/objects.js';
import { compareGoStrings, FIELD_IMMUTABLE_ERROR_MSG, type FieldError, type FieldPath, invalid, typeInvalid } from '../validation/index.js';

export { deepEqual, isObject };

export type Json = Record<string, unknown>;
type Kind = 'object' | 'array' | 'string' | 'integer' | 'boolean' | 'number';

/** Go's int32 range, the type of most integer fields. */
export const MAX_INT32 = 2147483647;

export function wrongType(path: FieldPath, value: unknown, kind: Kind): FieldError {
  return typeInvalid(path, value, `must be of type ${kind}`);
}

function matches(value: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'object':
      return isObject(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return Number.isInteger(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
  }
}

/** `o[key]` if it has the kind; undefined if absent or null; null (and an error) otherwise. */
function read<T>(o: Json, key: string, path: FieldPath, errs: FieldError[], kind: Kind): T | undefined | null {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (matches(v, kind)) return v as T;
  errs.push(wrongType(path, v, kind));
  return null;
}

export const objAt = (o: Json, key: string, path: FieldPath, errs: FieldError[]) => read<Json>(o, key, path, errs, 'object');
export const arrAt = (o: Json, key: string, path: FieldPath, errs: FieldError[]) => read<unknown[]>(o, key, path, errs, 'array');
export const intAt = (o: Json, key: string, path: FieldPath, errs: FieldError[]) => read<number>(o, key, path, errs, 'integer');
export const boolAt = (o: Json, key: string, path: FieldPath, errs: FieldError[]) => read<boolean>(o, key, path, errs, 'boolean');

/** A string field: '' when absent (Go's zero value), null on a wrong type. */
export function strAt(o: Json, key: string, path: FieldPath, errs: FieldError[]): string | null {
  const v = read<string>(o, key, path, errs, 'string');
  return v === undefined ? '' : v;
}

/** A map of strings (labels, selectors, data): non-string values are reported and dropped. */
export function strMapAt(o: Json, key: string, path: FieldPath, errs: FieldError[]): Record<string, string> | undefined | null {
  const m = objAt(o, key, path, errs);
  if (!m) return m;
  const out: Record<string, string> = {};
  for (const k of sortedKeys(m)) {
    const v = m[k];
    if (typeof v === 'string') out[k] = v;
    else errs.push(wrongType(path.key(k), v, 'string'));
  }
  return out;
}

/** The elements of a list that are objects; the others are reported. Pairs each with its index. */
export function objectsIn(list: readonly unknown[], path: FieldPath, errs: FieldError[]): [Json, number][] {
  const out: [Json, number][] = [];
  for (const [i, v] of list.entries()) {
    if (isObject(v)) out.push([v, i]);
    else errs.push(wrongType(path.index(i), v, 'object'));
  }
  return out;
}

/** Map keys in Go's byte order: upstream walks maps in random order, we report in a stable one. */
export function sortedKeys(m: Json): string[] {
  return Object.keys(m).sort(compareGoStrings);
}

// ---- defaulting helpers: they never replace a value of the wrong type ----

/** `o[key]` when it is an object. */
export function objOf(o: Json, key: string): Json | undefined {
  const v = o[key];
  return isObject(v) ? v : undefined;
}

/** `o[key]` when it is a list, its object elements only. */
export function objectsOf(o: Json, key: string): Json[] {
  const v = o[key];
  return Array.isArray(v) ? v.filter(isObject) : [];
}

/** `o[key]`, created as {} when absent; undefined when it holds something else. */
export function ensureObj(o: Json, key: string): Json | undefined {
  if (o[key] === undefined || o[key] === null) o[key] = {};
  return objOf(o, key);
}

/** Sets `o[key]` when it is absent or null (Go's nil pointer). */
export function setDefault(o: Json, key: string, value: unknown): void {
  if (o[key] === undefined || o[key] === null) o[key] = value;
}

/** Sets a string field when it is absent, null or '' (Go's zero value for strings). */
export function setDefaultStr(o: Json, key: string, value: string): void {
  if (o[key] === undefined || o[key] === null || o[key] === '') o[key] = value;
}

/** A string field for reading in defaulting and update rules; '' unless it is a string. */
export function strOf(o: Json | undefined, key: string): string {
  const v = o?.[key];
  return typeof v === 'string' ? v : '';
}

/** A labels-like map for reading; only string values count. */
export function strMapOf(o: Json | undefined, key: string): Record<string, string> {
  const v = o?.[key];
  if (!isObject(v)) return {};
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

/** The `spec` of an object, created when absent; undefined when it is not an object. */
export function ensureSpec(obj: Json): Json | undefined {
  return ensureObj(obj, 'spec');
}

/**
 * "field is immutable" unless the value is unchanged. Absent, null and
 * undefined-valued keys count as the same (JSON cannot tell them apart).
 */
export function immutable(now: unknown, before: unknown, path: FieldPath): FieldError[] {
  return deepEqual(now ?? null, before ?? null) ? [] : [invalid(path, now ?? null, FIELD_IMMUTABLE_ERROR_MSG)];
}

/** A copy with keys in Go's order: Go prints maps sorted, so bad values read the same as upstream's. */
export function sortedMap<T>(m: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(m).sort(compareGoStrings)) out[k] = m[k]!;
  return out;
}
