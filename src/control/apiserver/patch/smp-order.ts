/**
 * Element order of a merged list, as upstream's strategic merge patch decides
 * it (k8s.io/apimachinery `strategicpatch`, `normalizeElementOrder`):
 *
 * 1. Split the merged list into the elements the patch (or its
 *    `$setElementOrder`) names and the server-only rest.
 * 2. Sort the named elements by the patch's order, the rest by the live
 *    list's order.
 * 3. Interleave: walk both; take the server-only element first only when the
 *    live list has both candidates and puts it first. So an element new to the
 *    server goes *before* the server-only elements that follow it — a patch
 *    adding one container to `[a, b]` without `$setElementOrder` yields
 *    `[new, a, b]`; `kubectl apply` sends `$setElementOrder` to say otherwise.
 */
import { PatchError } from './errors.js';
import { getOwn, isJsonObject, preview } from './json-value.js';
import type { JsonValue } from './types.js';

/** What identifies a list element: its merge key's value, or the scalar itself. */
export type ElementId = string | number | boolean | null;

/** An element's id; undefined when it has none (an object without the merge key). */
export type TryIdOf = (element: JsonValue) => ElementId | undefined;

/** Identity of scalars (lists merged as sets). */
export const scalarId: TryIdOf = (element) => (isElementId(element) ? element : undefined);

/** Identity by merge key; a merge key whose value is an object or a list cannot identify anything. */
export function mergeKeyId(mergeKey: string): TryIdOf {
  return (element) => {
    if (!isJsonObject(element)) return undefined;
    const id = getOwn(element, mergeKey);
    if (id === undefined || isElementId(id)) return id;
    throw new PatchError('PATCH_ERR_TYPE_MISMATCH', `merge key ${mergeKey} of ${preview(element)} is not a scalar`);
  };
}

/** Like `tryId`, but an element without an id is an error (upstream refuses to order it). */
export function requireId(tryId: TryIdOf, element: JsonValue, mergeKey: string | undefined): ElementId {
  const id = tryId(element);
  if (id === undefined) {
    throw new PatchError('PATCH_ERR_MERGE_KEY_MISSING', `map: ${preview(element)} does not contain declared merge key: ${mergeKey ?? '?'}`);
  }
  return id;
}

function isElementId(value: JsonValue): value is ElementId {
  return value === null || typeof value !== 'object';
}

/**
 * Orders `merged` (see the module comment). `named` lists the elements the
 * patch names, in the wanted order; `live` is the server's list before the
 * patch, whose order the server-only elements keep.
 */
export function orderMergedList(
  merged: readonly JsonValue[],
  named: readonly JsonValue[],
  live: readonly JsonValue[],
  tryId: TryIdOf,
  mergeKey: string | undefined,
): JsonValue[] {
  const namedAt = firstPositions(named, tryId);
  const liveAt = firstPositions(live, tryId);
  const fromPatch: Array<[ElementId, JsonValue]> = [];
  const serverOnly: Array<[ElementId, JsonValue]> = [];
  for (const element of merged) {
    const id = requireId(tryId, element, mergeKey);
    (namedAt.has(id) ? fromPatch : serverOnly).push([id, element]);
  }
  return interleave(sortByPosition(serverOnly, liveAt), sortByPosition(fromPatch, namedAt), liveAt);
}

/** Position of each id's first occurrence; elements without an id are skipped. */
function firstPositions(list: readonly JsonValue[], tryId: TryIdOf): Map<ElementId, number> {
  const positions = new Map<ElementId, number>();
  list.forEach((element, position) => {
    const id = tryId(element);
    if (id !== undefined && !positions.has(id)) positions.set(id, position);
  });
  return positions;
}

/** Stable sort by position; ids without one (possible only with an empty `$setElementOrder`) go last. */
function sortByPosition(items: Array<[ElementId, JsonValue]>, positions: Map<ElementId, number>): Array<[ElementId, JsonValue]> {
  const rank = (id: ElementId) => positions.get(id) ?? Number.MAX_SAFE_INTEGER;
  return items
    .map((item, i) => ({ item, i }))
    .sort((a, b) => rank(a.item[0]) - rank(b.item[0]) || a.i - b.i)
    .map(({ item }) => item);
}

function interleave(
  serverOnly: Array<[ElementId, JsonValue]>,
  fromPatch: Array<[ElementId, JsonValue]>,
  liveAt: Map<ElementId, number>,
): JsonValue[] {
  const out: JsonValue[] = [];
  let i = 0;
  let j = 0;
  while (i < serverOnly.length || j < fromPatch.length) {
    if (j >= fromPatch.length) {
      out.push(serverOnly[i++]![1]);
    } else if (i >= serverOnly.length || !liveBefore(serverOnly[i]![0], fromPatch[j]![0], liveAt)) {
      out.push(fromPatch[j++]![1]);
    } else {
      out.push(serverOnly[i++]![1]);
    }
  }
  return out;
}

function liveBefore(a: ElementId, b: ElementId, liveAt: Map<ElementId, number>): boolean {
  const pa = liveAt.get(a);
  const pb = liveAt.get(b);
  return pa !== undefined && pb !== undefined && pa < pb;
}
