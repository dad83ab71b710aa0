/**
 * Strategic merge patch (`application/strategic-merge-patch+json`), applied
 * server-side as kube-apiserver applies it (k8s.io/apimachinery
 * `strategicpatch.StrategicMergeMapPatch`), over the metadata in
 * smp-schema.ts. The inputs are never modified.
 *
 * Semantics:
 * - objects merge member by member; `null` deletes a member;
 * - a list whose field has strategy `merge` merges: objects element-wise by
 *   the field's merge key, scalars as a set; other lists are replaced;
 * - `$patch: replace` replaces an object (or, as an element, a whole list);
 *   `$patch: delete` empties an object, or as an element `{key, $patch:
 *   delete}` removes every element with that key; upstream refuses
 *   `$patch: merge`, and so do we;
 * - `$setElementOrder/<field>` orders a merged list (see smp-order.ts);
 * - `$deleteFromPrimitiveList/<field>` removes scalars from a list;
 * - `$retainKeys` drops the object's members it does not list.
 *
 * Where upstream would keep patch syntax in the result (nulls and directives
 * inside a new element) we drop it, as upstream's conversion to a typed
 * object does for struct fields (see `stripPatchSyntax`).
 *
 * Deliberate differences, all in corner cases (differential fuzzing against
 * upstream's own code finds no others):
 * - server-only elements keep the live list's order as it was before the
 *   patch; upstream's Go slices alias when one list both loses and gains
 *   elements, and its ordering then depends on slice capacities;
 * - a `$setElementOrder` naming a list that stays empty is not an error
 *   (upstream: "no elements in any of the given slices", a 500);
 * - `$deleteFromPrimitiveList` must name a list of scalars (upstream merges a
 *   list of objects, or the value, instead);
 * - `$patch` left in a replaced map-typed field (such as labels) is dropped,
 *   where upstream would keep it as a key and fail validation later.
 */
import { PatchError } from './errors.js';
import { checkJson, cloneJson, getOwn, hasOwn, isJsonObject, kindOf, preview, setOwn } from './json-value.js';
import { isStrategicMergeType, lookupFieldPatchMeta, type FieldPatchMeta } from './smp-schema.js';
import { mergeKeyId, orderMergedList, requireId, scalarId, type ElementId, type TryIdOf } from './smp-order.js';
import { MAX_PATCH_DEPTH, type JsonObject, type JsonValue, type PatchLimits } from './types.js';

const PATCH_DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ELEMENT_ORDER = '$setElementOrder';
const DELETE_FROM_PRIMITIVE_LIST = '$deleteFromPrimitiveList';

/**
 * Applies `patch` to `original`, an object of the schema type `type` (a root
 * such as `apps/v1.Deployment`; see `strategicMergeTypeFor`). Throws
 * PATCH_ERR_UNSUPPORTED_KIND for a type without metadata: like upstream for
 * custom resources, callers should offer merge patch instead.
 */
export function applyStrategicMergePatch(original: JsonObject, patch: unknown, type: string, limits: PatchLimits = {}): JsonObject {
  if (!isStrategicMergeType(type)) {
    throw new PatchError('PATCH_ERR_UNSUPPORTED_KIND', `strategic merge patch is not supported for ${type}`);
  }
  if (!isJsonObject(patch)) {
    throw new PatchError('PATCH_ERR_MALFORMED', `a strategic merge patch must be an object, got ${preview(patch)}`);
  }
  if (!isJsonObject(original)) {
    throw new PatchError('PATCH_ERR_MALFORMED', `the document must be an object, got ${preview(original)}`);
  }
  const maxDepth = limits.maxDepth ?? MAX_PATCH_DEPTH;
  checkJson(original, maxDepth, 'the document');
  checkJson(patch, maxDepth, 'the patch');
  return mergeObject(cloneJson(original), patch, type);
}

/**
 * Merges `patch` into `original`, which is our own copy and is modified in
 * place (undefined when the field is new). `type` names the metadata.
 */
function mergeObject(original: JsonObject | undefined, patch: JsonObject, type: string | undefined): JsonObject {
  if (hasOwn(patch, PATCH_DIRECTIVE)) return objectDirective(patch);
  const result = original ?? {};
  applyRetainKeys(result, patch);
  const consumed = applySetElementOrders(result, patch, type);
  const deletions: Array<[string, JsonValue]> = [];
  for (const [key, value] of Object.entries(patch)) {
    if (consumed.has(key) || key === RETAIN_KEYS) continue;
    if (key.startsWith(DELETE_FROM_PRIMITIVE_LIST)) {
      deletions.push([directiveTarget(key, DELETE_FROM_PRIMITIVE_LIST), value]);
    } else {
      mergeField(result, key, value, type);
    }
  }
  // After the additions, so that one patch may add and delete in one list
  // deterministically (upstream's order is Go's random map order).
  for (const [key, value] of deletions) deleteFromPrimitiveList(result, key, value);
  return result;
}

/** `$patch` in an object: `replace` keeps only the patch's members, `delete` leaves `{}`. */
function objectDirective(patch: JsonObject): JsonObject {
  const directive = patch[PATCH_DIRECTIVE]!;
  if (directive === 'delete') return {};
  if (directive !== 'replace') {
    throw new PatchError('PATCH_ERR_UNKNOWN_DIRECTIVE', `unknown patch type: ${preview(directive)} in map: ${preview(patch)}`);
  }
  return stripPatchSyntax(patch, 'verbatim') as JsonObject;
}

/** The field a `$setElementOrder/<field>` or `$deleteFromPrimitiveList/<field>` key names. */
function directiveTarget(key: string, prefix: string): string {
  const slash = key.indexOf('/');
  if (slash < 0 || key.slice(0, slash) !== prefix) {
    throw new PatchError('PATCH_ERR_BAD_DIRECTIVE', `invalid patch format of ${prefix}: ${JSON.stringify(key)}`);
  }
  return key.slice(slash + 1);
}

function mergeField(result: JsonObject, key: string, value: JsonValue, type: string | undefined): void {
  if (value === null) {
    delete result[key];
    return;
  }
  const current = getOwn(result, key);
  if (current === undefined || kindOf(current) !== kindOf(value)) {
    setOrDelete(result, key, stripPatchSyntax(value, 'new'));
    return;
  }
  const meta = lookupFieldPatchMeta(type, key);
  if (Array.isArray(value)) {
    setOwn(result, key, mergeListField(current as JsonValue[], value, meta));
  } else if (isJsonObject(value)) {
    const replaced = listStrategy(meta) === 'replace';
    setOwn(result, key, replaced ? stripPatchSyntax(value, 'verbatim')! : mergeObject(current as JsonObject, value, meta.type));
  } else {
    setOwn(result, key, value);
  }
}

function setOrDelete(result: JsonObject, key: string, value: JsonValue | undefined): void {
  if (value === undefined) delete result[key];
  else setOwn(result, key, value);
}

/** The strategy that is not `retainKeys` (which only tells clients to send `$retainKeys`). */
function listStrategy(meta: FieldPatchMeta): 'merge' | 'replace' | undefined {
  const strategy = meta.strategies.find((s) => s !== 'retainKeys');
  return strategy === 'merge' || strategy === 'replace' ? strategy : undefined;
}

function mergeListField(current: JsonValue[], patch: JsonValue[], meta: FieldPatchMeta): JsonValue[] {
  if (listStrategy(meta) !== 'merge') return stripList(patch, 'verbatim');
  if (current.length === 0 && patch.length === 0) return current;
  if (listElementKind(current, patch) !== 'object') {
    return orderMergedList(dedupe([...current, ...patch]), patch, current, scalarId, undefined);
  }
  const mergeKey = meta.mergeKey;
  if (mergeKey === undefined) {
    throw new PatchError('PATCH_ERR_TYPE_MISMATCH', 'cannot merge lists of objects without a merge key');
  }
  const tryId = mergeKeyId(mergeKey);
  const { live, additions } = applyListDirectives(current, patch, tryId, mergeKey);
  const merged = mergeByKey(live, additions, tryId, mergeKey, meta.type);
  return orderMergedList(merged, additions, live, tryId, mergeKey);
}

/**
 * The element kind shared by the lists: upstream merges only lists whose
 * elements all have one type, and no lists of lists.
 */
function listElementKind(...lists: JsonValue[][]): string {
  let kind: string | undefined;
  for (const element of lists.flat()) {
    if (Array.isArray(element)) throw new PatchError('PATCH_ERR_LIST_OF_LISTS', 'lists of lists are not supported');
    const elementKind = element === null ? 'null' : typeof element;
    if (elementKind === 'null' || (kind !== undefined && kind !== elementKind)) {
      throw new PatchError('PATCH_ERR_TYPE_MISMATCH', `list element types are not identical: ${preview(lists)}`);
    }
    kind = elementKind;
  }
  return kind ?? 'none';
}

/** First occurrence wins, as in upstream's set merge. */
function dedupe(list: JsonValue[]): JsonValue[] {
  return [...new Set(list)];
}

/**
 * Applies the `$patch` elements of a merged list of objects: `delete` drops
 * the live elements with that key, `replace` makes the patch's own elements
 * the whole list. Returns the live list that remains and the plain elements
 * still to merge into it.
 */
function applyListDirectives(
  current: JsonValue[],
  patch: JsonValue[],
  tryId: TryIdOf,
  mergeKey: string,
): { live: JsonValue[]; additions: JsonObject[] } {
  const doomed = new Set<ElementId>(); // one pass over the live list, however many deletions
  let replace = false;
  const additions: JsonObject[] = [];
  for (const element of patch as JsonObject[]) {
    if (!hasOwn(element, PATCH_DIRECTIVE)) {
      additions.push(element);
      continue;
    }
    const directive = element[PATCH_DIRECTIVE];
    if (directive === 'delete') {
      doomed.add(requireId(tryId, element, mergeKey));
    } else if (directive === 'replace') {
      replace = true;
    } else {
      const why = directive === 'merge' ? 'merging lists cannot yet be specified in the patch' : `unknown patch type: ${preview(directive)}`;
      throw new PatchError('PATCH_ERR_UNKNOWN_DIRECTIVE', why);
    }
  }
  if (replace) return { live: stripList(additions, 'verbatim'), additions: [] };
  const live = current.filter((e) => {
    const id = tryId(e);
    return id === undefined || !doomed.has(id);
  });
  return { live, additions };
}

/** Merges each addition into the live element with its key, or appends it. */
function mergeByKey(live: JsonValue[], additions: JsonObject[], tryId: TryIdOf, mergeKey: string, type: string | undefined): JsonValue[] {
  const merged = [...live];
  const at = new Map<ElementId, number>();
  merged.forEach((element, i) => {
    const id = tryId(element);
    if (id !== undefined && !at.has(id)) at.set(id, i);
  });
  for (const addition of additions) {
    const id = requireId(tryId, addition, mergeKey);
    const i = at.get(id);
    if (i === undefined) {
      at.set(id, merged.length);
      merged.push(stripPatchSyntax(addition, 'verbatim')!);
    } else {
      merged[i] = mergeObject(merged[i] as JsonObject, addition, type);
    }
  }
  return merged;
}

function deleteFromPrimitiveList(result: JsonObject, key: string, value: JsonValue): void {
  if (value === null) {
    delete result[key]; // as upstream: a null directive deletes the field
    return;
  }
  if (!Array.isArray(value) || listElementKind(value) === 'object') {
    throw new PatchError('PATCH_ERR_BAD_DIRECTIVE', `invalid patch format of primitive list: ${DELETE_FROM_PRIMITIVE_LIST}/${key}`);
  }
  const current = getOwn(result, key);
  if (!Array.isArray(current)) return; // nothing to delete from
  listElementKind(current, value); // throws unless both hold one scalar type
  const doomed = new Set(value);
  setOwn(result, key, current.filter((element) => !doomed.has(element)));
}

/**
 * `$retainKeys`: every member the patch sets must be listed, and the
 * original's members not listed are dropped (a union switching branches).
 */
function applyRetainKeys(result: JsonObject, patch: JsonObject): void {
  if (!hasOwn(patch, RETAIN_KEYS)) return;
  const retained = patch[RETAIN_KEYS];
  if (!Array.isArray(retained)) {
    throw new PatchError('PATCH_ERR_BAD_DIRECTIVE', `invalid patch format of retainKeys: ${preview(retained)}`);
  }
  const keep = new Set<JsonValue>(retained);
  for (const [key, value] of Object.entries(patch)) {
    if (value === null || key === RETAIN_KEYS || isDirectiveKey(key)) continue;
    if (!keep.has(key)) {
      throw new PatchError('PATCH_ERR_BAD_DIRECTIVE', `invalid patch format of retainKeys: ${JSON.stringify(key)} is not retained`);
    }
  }
  for (const key of Object.keys(result)) {
    if (!keep.has(key)) delete result[key];
  }
}

function isDirectiveKey(key: string): boolean {
  return key.startsWith(SET_ELEMENT_ORDER) || key.startsWith(DELETE_FROM_PRIMITIVE_LIST);
}

/**
 * Processes every `$setElementOrder/<field>` of `patch`: merges the field's
 * list (if the patch has one) and orders the result. Returns the patch keys
 * handled here, which the caller must skip.
 */
function applySetElementOrders(result: JsonObject, patch: JsonObject, type: string | undefined): Set<string> {
  const consumed = new Set<string>();
  for (const [key, order] of Object.entries(patch)) {
    if (!key.startsWith(SET_ELEMENT_ORDER)) continue;
    const field = directiveTarget(key, SET_ELEMENT_ORDER);
    if (!Array.isArray(order)) {
      throw new PatchError('PATCH_ERR_BAD_DIRECTIVE', `invalid patch format of setElementOrder list: ${preview(order)}`);
    }
    consumed.add(key).add(field);
    const current = listOrUndefined(result, field, 'the live list');
    const patchList = listOrUndefined(patch, field, 'the patch list');
    const meta = lookupFieldPatchMeta(type, field);
    checkOrderCoversPatch(patchList ?? [], order, meta.mergeKey);
    const merged = mergedForOrder(current, patchList, meta);
    if (merged === undefined) continue;
    setOwn(result, field, orderBySetElementOrder(merged, order, current ?? [], meta.mergeKey));
  }
  return consumed;
}

function listOrUndefined(obj: JsonObject, field: string, what: string): JsonValue[] | undefined {
  const value = getOwn(obj, field);
  if (value === undefined || Array.isArray(value)) return value;
  throw new PatchError('PATCH_ERR_TYPE_MISMATCH', `${what} ${field} is not a list: ${preview(value)}`);
}

function mergedForOrder(current: JsonValue[] | undefined, patchList: JsonValue[] | undefined, meta: FieldPatchMeta): JsonValue[] | undefined {
  if (patchList === undefined) return current;
  if (current === undefined) return stripList(patchList, 'new');
  return mergeListField(current, patchList, meta);
}

function orderBySetElementOrder(merged: JsonValue[], order: JsonValue[], live: JsonValue[], mergeKey: string | undefined): JsonValue[] {
  if (merged.length === 0) return merged;
  const kind = listElementKind(merged);
  if (kind === 'object' && mergeKey === undefined) return merged; // nothing identifies the elements
  const tryId = kind === 'object' ? mergeKeyId(mergeKey!) : scalarId;
  return orderMergedList(merged, order, live, tryId, mergeKey);
}

/**
 * The patch list's elements (less deletions) must appear in
 * `$setElementOrder` in the same relative order. Other directive elements are
 * passed over while the walk lasts, but, as upstream, one left over after the
 * order list is exhausted counts as unmatched.
 */
function checkOrderCoversPatch(patchList: JsonValue[], order: JsonValue[], mergeKey: string | undefined): void {
  if (order.length === 0 || patchList.length === 0) return;
  const named = mergeKey === undefined ? patchList : patchList.filter((e) => !isDirective(e, 'delete'));
  const same = mergeKey === undefined ? (a: JsonValue, b: JsonValue) => a === b : sameKey(mergeKey);
  let p = 0;
  for (let s = 0; p < named.length && s < order.length; ) {
    if (isDirective(named[p]!)) {
      p += 1;
      continue;
    }
    if (same(named[p]!, order[s]!)) p += 1;
    s += 1;
  }
  if (p < named.length) {
    throw new PatchError(
      'PATCH_ERR_ORDER_MISMATCH',
      `the order in patch list ${preview(patchList)} doesn't match $setElementOrder list ${preview(order)}`,
    );
  }
}

/** Whether `element` carries `$patch` (with the given value, if any). */
function isDirective(element: JsonValue, value?: string): boolean {
  return isJsonObject(element) && hasOwn(element, PATCH_DIRECTIVE) && (value === undefined || element[PATCH_DIRECTIVE] === value);
}

function sameKey(mergeKey: string): (a: JsonValue, b: JsonValue) => boolean {
  const tryId = mergeKeyId(mergeKey);
  return (a, b) => requireId(tryId, a, mergeKey) === requireId(tryId, b, mergeKey);
}

/**
 * How upstream lets a patch value into the result without merging it:
 * - `new` (a member the original lacks, or of another kind): through
 *   `removeDirectives`, which drops every object carrying `$patch`;
 * - `verbatim` (replaced lists and objects, appended elements): as is, so
 *   only the conversion to a typed object drops the directive members.
 * Either way the nulls and directive members go (typed objects have no room
 * for them); we drop them here because we store plain JSON.
 */
type StripMode = 'new' | 'verbatim';

/** A copy of `value` without patch syntax; undefined when `new` drops it whole. */
function stripPatchSyntax(value: JsonValue, mode: StripMode): JsonValue | undefined {
  if (Array.isArray(value)) return stripList(value, mode);
  if (!isJsonObject(value)) return value;
  if (mode === 'new' && hasOwn(value, PATCH_DIRECTIVE)) return undefined;
  const out: JsonObject = {};
  for (const [key, member] of Object.entries(value)) {
    if (member === null || key === PATCH_DIRECTIVE || key === RETAIN_KEYS || isDirectiveKey(key)) continue;
    const stripped = stripPatchSyntax(member, mode);
    if (stripped !== undefined) setOwn(out, key, stripped);
  }
  return out;
}

function stripList(list: JsonValue[], mode: StripMode): JsonValue[] {
  return list.map((v) => stripPatchSyntax(v, mode)).filter((v): v is JsonValue => v !== undefined);
}
