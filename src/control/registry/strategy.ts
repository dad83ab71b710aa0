/**
 * Per-kind behaviour on writes, as upstream's REST strategies: defaulting
 * (the defaults users rely on), validation (field errors, 422), and what an
 * update may change. The generic rules every kind shares (metadata, status
 * subresources, generation) live in the API server; a kind adds only what is
 * its own. Strategies are pure functions of the objects: no I/O.
 */
import type { KubeObject } from '../apiserver/object-store.js';
import type { ResourceInfo } from './resources.js';

import type { FieldError } from './validation/index.js';

export type { FieldError };

export interface Strategy {
  /** Fills in the defaults of a new or updated object (in place). */
  default(obj: KubeObject): void;
  /** Field errors of an object about to be created. */
  validate(obj: KubeObject): FieldError[];
  /** Field errors of an update (immutable fields, …); `validate` has already run on `obj`. */
  validateUpdate(obj: KubeObject, old: KubeObject): FieldError[];
  /** Kind-specific preparation of a new object (after the generic rules). */
  prepareForCreate(obj: KubeObject): void;
  /**
   * Kind-specific preparation of an update (after the generic rules, before
   * defaulting): what the new object keeps of the old one when the writer
   * left it out (a Service's allocated cluster IP, a Pod's QoS class).
   */
  prepareForUpdate(obj: KubeObject, old: KubeObject): void;
}

const NOTHING: Strategy = {
  default: () => undefined,
  validate: () => [],
  validateUpdate: () => [],
  prepareForCreate: () => undefined,
  prepareForUpdate: () => undefined,
};

const strategies = new Map<string, Partial<Strategy>>();

/** Registers a kind's strategy (`apiVersion/Kind`); the missing parts do nothing. */
export function registerStrategy(apiVersionKind: string, s: Partial<Strategy>): void {
  strategies.set(apiVersionKind, s);
}

export function strategyFor(r: ResourceInfo): Strategy {
  const s = strategies.get(`${r.group ? `${r.group}/` : ''}${r.version}/${r.kind}`);
  return s ? { ...NOTHING, ...s } : NOTHING;
}
