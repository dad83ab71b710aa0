/**
 * Helpers over plain JSON values. Object members are always read and written
 * as own properties: a member named `__proto__` or `constructor` (legal JSON)
 * must neither reach `Object.prototype` nor be mistaken for an inherited one.
 */
import { PatchError } from './errors.js';
import type { JsonObject, JsonValue } from './types.js';

export type JsonKind = 'object' | 'array' | 'scalar' | 'null';

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Object, array, scalar or null: values of different kinds never merge. */
export function kindOf(value: JsonValue): JsonKind {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'object' ? 'object' : 'scalar';
}

export function hasOwn(obj: JsonObject, key: string): boolean {
  return Object.hasOwn(obj, key);
}

export function getOwn(obj: JsonObject, key: string): JsonValue | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

export function setOwn(obj: JsonObject, key: string, value: JsonValue): void {
  // Plain assignment to `__proto__` would replace the prototype instead.
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

/** A deep copy. Callers have bounded the depth (see {@link checkJson}). */
export function cloneJson<T extends JsonValue>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => cloneJson(v)) as T;
  if (!isJsonObject(value)) return value;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(value)) setOwn(out, k, cloneJson(v));
  return out as T;
}

/** Structural equality; numbers compare by value, object member order is irrelevant. */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]!));
  }
  if (!isJsonObject(a) || !isJsonObject(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => hasOwn(b, k) && jsonEqual(a[k]!, b[k]!));
}

/**
 * Checks that `value` is a JSON value (plain objects, arrays, finite numbers,
 * strings, booleans, null) nested at most `maxDepth` levels, and returns its
 * depth (a scalar is 0, `{}` is 1). Iterative, so hostile input cannot exhaust
 * the stack before we refuse it; a cyclic value fails as too deep.
 */
export function checkJson(value: unknown, maxDepth: number, what: string): number {
  const stack: Array<[unknown, number]> = [[value, 0]];
  let depth = 0;
  while (stack.length > 0) {
    const [v, level] = stack.pop()!;
    if (v === null || typeof v === 'string' || typeof v === 'boolean') continue;
    if (typeof v === 'number' && Number.isFinite(v)) continue;
    if (typeof v !== 'object' || !(Array.isArray(v) || isPlainObject(v))) {
      throw new PatchError('PATCH_ERR_MALFORMED', `${what} is not a JSON value`);
    }
    depth = Math.max(depth, level + 1);
    if (depth > maxDepth) {
      throw new PatchError('PATCH_ERR_TOO_DEEP', `${what} is nested deeper than ${maxDepth} levels`);
    }
    for (const child of Object.values(v)) stack.push([child, level + 1]);
  }
  return depth;
}

function isPlainObject(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** How many bytes `value` takes as compact JSON (what upstream counts against the copy limit). */
export function jsonByteLength(value: JsonValue): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/** Renders a value for an error message, cut short. */
export function preview(value: unknown, maxChars = 120): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > maxChars ? `${text.slice(0, maxChars)}…` : text;
}
