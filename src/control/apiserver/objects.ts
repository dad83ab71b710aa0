/**
 * Small pure helpers over JSON objects: deep equality and copies as the API
 * machinery needs them (generation bumps, no-op updates), timestamps in the
 * RFC 3339 form Kubernetes writes, and generated names.
 */
import type { KubeObject } from './object-store.js';

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], bb[i])) return false;
    return true;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ak = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const bk = Object.keys(bo).filter((k) => bo[k] !== undefined);
  if (ak.length !== bk.length) return false;
  for (const k of ak) if (!deepEqual(ao[k], bo[k])) return false;
  return true;
}

/** A deep copy of a JSON value. */
export function clone<T>(v: T): T {
  return structuredClone(v);
}

/** Kubernetes' timestamp form: RFC 3339, UTC, whole seconds. */
export function timestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The alphabet upstream draws generated name suffixes from (no vowels, no look-alikes). */
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
export const GENERATED_SUFFIX_LENGTH = 5;
/** A generated name is cut to leave room for the suffix within 63 characters. */
const GENERATED_PREFIX_MAX = 63 - GENERATED_SUFFIX_LENGTH;

export function generateName(base: string, random: () => number): string {
  let s = base.length > GENERATED_PREFIX_MAX ? base.slice(0, GENERATED_PREFIX_MAX) : base;
  for (let i = 0; i < GENERATED_SUFFIX_LENGTH; i++) s += NAME_ALPHABET[Math.floor(random() * NAME_ALPHABET.length)];
  return s;
}

/** Everything but metadata and status: what a spec change is measured on. */
export function specOf(obj: KubeObject): Record<string, unknown> {
  const { metadata: _m, status: _s, ...rest } = obj;
  return rest;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Freezes a JSON value and everything in it: shared objects must not be changed by anyone. */
export function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
