/**
 * A path from the root of an object to one of its fields, rendered the way
 * Kubernetes names fields in validation errors: `spec.containers[0].name`,
 * `metadata.labels[app]`. Immutable: every step returns a new path, so one
 * parent can be shared by many children (as validators do when they walk a
 * list).
 */

import { assert } from '../../../util/assert.js';

type Segment = { readonly name: string } | { readonly subscript: string };

export class FieldPath {
  /** The empty path: its first child carries no leading dot. Renders as ''. */
  static readonly ROOT = new FieldPath([]);

  private constructor(private readonly segments: readonly Segment[]) {}

  /** A path that starts at a named field: `root('spec', 'template')` → `spec.template`. */
  static root(name: string, ...more: string[]): FieldPath {
    return FieldPath.ROOT.child(name, ...more);
  }

  /** One or more named fields below this one. */
  child(name: string, ...more: string[]): FieldPath {
    const added = [name, ...more].map((n): Segment => ({ name: n }));
    return new FieldPath([...this.segments, ...added]);
  }

  /** A list element: `[3]`. */
  index(index: number): FieldPath {
    assert(Number.isSafeInteger(index) && index >= 0, `field path index must be a natural number, got ${index}`);
    return new FieldPath([...this.segments, { subscript: String(index) }]);
  }

  /** A map entry: `[key]` (the key is not quoted, as upstream). */
  key(key: string): FieldPath {
    return new FieldPath([...this.segments, { subscript: key }]);
  }

  toString(): string {
    let out = '';
    for (const [i, s] of this.segments.entries()) {
      if ('subscript' in s) out += `[${s.subscript}]`;
      else out += i === 0 ? s.name : `.${s.name}`;
    }
    return out;
  }
}
