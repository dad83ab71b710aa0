/**
 * JSON Patch (RFC 6902, `application/json-patch+json`).
 *
 * Contract: the inputs are never modified; the operations apply in order to a
 * copy, and the first failing one throws, so a caller sees either the fully
 * patched document or an error, never a partial result. By default the
 * leniencies of kube-apiserver's library are kept (see
 * {@link JsonPatchOptions.strict}); `strict` gives RFC 6902 to the letter.
 *
 * Where upstream's library does something no client can mean, we follow the
 * RFC instead, in both modes: `copy` from a missing member fails (upstream
 * copies a null), `add`/`replace`/`test` without `value` fail (upstream uses
 * null), and `test` of arrays holding null works (upstream panics: a 500).
 */
import { assert } from '../../../util/assert.js';
import { PatchError } from './errors.js';
import { formatPointer, isProperPrefix, parsePointer } from './json-pointer.js';
import { checkJson, cloneJson, getOwn, hasOwn, isJsonObject, jsonByteLength, jsonEqual, preview, setOwn } from './json-value.js';
import {
  MAX_JSON_PATCH_COPY_BYTES,
  MAX_JSON_PATCH_OPERATIONS,
  MAX_PATCH_DEPTH,
  type JsonObject,
  type JsonPatchOptions,
  type JsonValue,
} from './types.js';

export type JsonPatchOpName = 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';

const OP_NAMES: ReadonlySet<string> = new Set<JsonPatchOpName>(['add', 'remove', 'replace', 'move', 'copy', 'test']);

/** One operation as a client sends it. */
export interface JsonPatchOperation {
  readonly op: JsonPatchOpName;
  readonly path: string;
  readonly from?: string;
  readonly value?: JsonValue;
}

interface Run {
  readonly strict: boolean;
  readonly maxDepth: number;
  readonly maxCopyBytes: number;
  copiedBytes: number;
  /** The document being patched; replaced whole by ops on the root pointer. */
  doc: JsonValue;
}

/** Where a pointer lands: its parent container and the last token. */
interface Slot {
  readonly parent: JsonObject | JsonValue[];
  readonly key: string;
}

export function applyJsonPatch(document: JsonValue, patch: unknown, options: JsonPatchOptions = {}): JsonValue {
  const maxDepth = options.maxDepth ?? MAX_PATCH_DEPTH;
  const operations = decodeOperations(patch, options.maxOperations ?? MAX_JSON_PATCH_OPERATIONS, maxDepth);
  checkJson(document, maxDepth, 'the document');
  const run: Run = {
    strict: options.strict ?? false,
    maxDepth,
    maxCopyBytes: options.maxCopyBytes ?? MAX_JSON_PATCH_COPY_BYTES,
    copiedBytes: 0,
    doc: cloneJson(document),
  };
  operations.forEach((operation, index) => {
    try {
      applyOperation(run, operation);
    } catch (e) {
      if (e instanceof PatchError) throw new PatchError(e.code, `${describe(operation, index)}: ${e.message}`);
      throw e;
    }
  });
  return run.doc;
}

/**
 * The body must be an array of objects (upstream: 400 when it does not decode);
 * the members of each operation are checked when it applies (upstream: 422).
 */
function decodeOperations(patch: unknown, maxOperations: number, maxDepth: number): JsonObject[] {
  if (!Array.isArray(patch)) {
    throw new PatchError('PATCH_ERR_MALFORMED', 'a JSON patch must be an array of operations');
  }
  if (patch.length > maxOperations) {
    throw new PatchError(
      'PATCH_ERR_TOO_MANY_OPERATIONS',
      `The allowed maximum operations in a JSON patch is ${maxOperations}, got ${patch.length}`,
    );
  }
  checkJson(patch, maxDepth + 2, 'the patch');
  patch.forEach((operation: unknown, index) => {
    if (!isJsonObject(operation)) {
      throw new PatchError('PATCH_ERR_MALFORMED', `operation ${index} is not an object: ${preview(operation)}`);
    }
  });
  return patch as JsonObject[];
}

function describe(operation: JsonObject, index: number): string {
  const op = getOwn(operation, 'op');
  const path = getOwn(operation, 'path');
  return `operation ${index} (${typeof op === 'string' ? op : '?'} ${typeof path === 'string' ? path : '?'})`;
}

function applyOperation(run: Run, operation: JsonObject): void {
  const op = getOwn(operation, 'op');
  if (typeof op !== 'string' || !OP_NAMES.has(op)) {
    throw new PatchError('PATCH_ERR_INVALID_OP', `unknown operation ${preview(op ?? null)}`);
  }
  const path = parsePointer(stringMember(operation, 'path'));
  switch (op as JsonPatchOpName) {
    case 'add':
      return add(run, path, valueMember(run, operation, path));
    case 'remove':
      return void remove(run, path);
    case 'replace':
      return replace(run, path, valueMember(run, operation, path));
    case 'move':
      return move(run, parsePointer(stringMember(operation, 'from')), path);
    case 'copy':
      return copy(run, parsePointer(stringMember(operation, 'from')), path);
    case 'test':
      return test(run, path, valueMember(run, operation, path));
  }
}

function stringMember(operation: JsonObject, name: 'path' | 'from'): string {
  const value = getOwn(operation, name);
  if (typeof value !== 'string') {
    throw new PatchError('PATCH_ERR_INVALID_OP', `the operation has no string "${name}" member`);
  }
  return value;
}

/** The operation's value, copied so that later operations never alias the caller's patch. */
function valueMember(run: Run, operation: JsonObject, path: string[]): JsonValue {
  if (!hasOwn(operation, 'value')) {
    throw new PatchError('PATCH_ERR_INVALID_OP', 'the operation has no "value" member');
  }
  const value = operation['value']!;
  checkDepthAt(run, path, checkJson(value, run.maxDepth, 'the value'));
  return cloneJson(value);
}

function checkDepthAt(run: Run, path: string[], valueDepth: number): void {
  if (path.length + valueDepth > run.maxDepth) {
    throw new PatchError('PATCH_ERR_TOO_DEEP', `the result would be nested deeper than ${run.maxDepth} levels`);
  }
}

/** Walks to the container of the pointer's last token; every step must exist. */
function resolveSlot(run: Run, path: string[]): Slot {
  assert(path.length > 0, 'resolveSlot needs a non-root pointer');
  let node = run.doc;
  for (let i = 0; i < path.length - 1; i += 1) {
    const next = childOf(run, node, path[i]!);
    if (next === undefined) throw notFound(path.slice(0, i + 1));
    node = next;
  }
  if (!Array.isArray(node) && !isJsonObject(node)) {
    const at = JSON.stringify(formatPointer(path.slice(0, -1)));
    throw new PatchError('PATCH_ERR_PATH', `the value at ${at} is neither an object nor an array`);
  }
  return { parent: node, key: path[path.length - 1]! };
}

function childOf(run: Run, node: JsonValue, token: string): JsonValue | undefined {
  if (isJsonObject(node)) return getOwn(node, token);
  if (!Array.isArray(node)) return undefined;
  const index = arrayIndex(run, token, node.length, false);
  return index === undefined ? undefined : node[index];
}

/**
 * The array position a token names, or undefined when it names none.
 * `forInsert` allows the position just past the end (and, leniently, negative
 * indices count from that end, so -1 appends, as upstream does).
 */
function arrayIndex(run: Run, token: string, length: number, forInsert: boolean): number | undefined {
  const pattern = run.strict ? /^(0|[1-9][0-9]*)$/ : /^[+-]?[0-9]+$/;
  if (!pattern.test(token)) return undefined;
  let index = Number(token);
  const size = forInsert ? length + 1 : length;
  if (index < 0) index += size;
  return index >= 0 && index < size && Number.isSafeInteger(index) ? index : undefined;
}

function notFound(tokens: string[]): PatchError {
  return new PatchError('PATCH_ERR_PATH', `no value at ${JSON.stringify(formatPointer(tokens))}`);
}

function add(run: Run, path: string[], value: JsonValue): void {
  if (path.length === 0) {
    if (!run.strict) throw new PatchError('PATCH_ERR_PATH', 'the whole document can only be replaced or tested');
    run.doc = value;
    return;
  }
  const { parent, key } = resolveSlot(run, path);
  if (!Array.isArray(parent)) return setOwn(parent, key, value);
  if (key === '-') {
    parent.push(value);
    return;
  }
  const index = arrayIndex(run, key, parent.length, true);
  if (index === undefined) throw notFound(path);
  parent.splice(index, 0, value);
}

/** Removes and returns the value at `path`. */
function remove(run: Run, path: string[]): JsonValue {
  if (path.length === 0) {
    throw new PatchError('PATCH_ERR_PATH', 'cannot remove the whole document');
  }
  const { parent, key } = resolveSlot(run, path);
  if (!Array.isArray(parent)) {
    if (!hasOwn(parent, key)) throw notFound(path);
    const value = parent[key]!;
    delete parent[key];
    return value;
  }
  const index = arrayIndex(run, key, parent.length, false);
  if (index === undefined) throw notFound(path);
  return parent.splice(index, 1)[0]!;
}

function replace(run: Run, path: string[], value: JsonValue): void {
  if (path.length === 0) {
    if (!run.strict && !Array.isArray(value) && !isJsonObject(value)) {
      throw new PatchError('PATCH_ERR_INVALID_OP', 'the whole document can only be replaced by an object or an array');
    }
    run.doc = value;
    return;
  }
  const { parent, key } = resolveSlot(run, path);
  if (!Array.isArray(parent)) {
    // Upstream lets replace create the member; RFC 6902 requires it to exist.
    if (run.strict && !hasOwn(parent, key)) throw notFound(path);
    return setOwn(parent, key, value);
  }
  const index = arrayIndex(run, key, parent.length, false);
  if (index === undefined) throw notFound(path);
  parent[index] = value;
}

/**
 * RFC 6902 forbids moving a value into its own children; upstream does not
 * check, and removes then adds (so `path` is resolved after the removal).
 */
function move(run: Run, from: string[], path: string[]): void {
  if (run.strict && isProperPrefix(from, path)) {
    throw new PatchError('PATCH_ERR_PATH', 'cannot move a value into one of its own children');
  }
  if (!run.strict && (from.length === 0 || path.length === 0)) {
    throw new PatchError('PATCH_ERR_PATH', 'the whole document cannot be moved or moved to');
  }
  if (from.length === path.length && from.every((t, i) => t === path[i])) {
    get(run, from); // moving a value onto itself changes nothing, if it exists
    return;
  }
  add(run, path, remove(run, from));
}

function copy(run: Run, from: string[], path: string[]): void {
  if (!run.strict && (from.length === 0 || path.length === 0)) {
    throw new PatchError('PATCH_ERR_PATH', 'the whole document cannot be copied or copied to');
  }
  const value = get(run, from);
  run.copiedBytes += jsonByteLength(value);
  if (run.copiedBytes > run.maxCopyBytes) {
    throw new PatchError(
      'PATCH_ERR_COPY_TOO_LARGE',
      `the accumulated size increase of copy is ${run.copiedBytes}, exceeding the limit ${run.maxCopyBytes}`,
    );
  }
  checkDepthAt(run, path, checkJson(value, run.maxDepth, 'the copied value'));
  add(run, path, cloneJson(value));
}

function test(run: Run, path: string[], expected: JsonValue): void {
  if (!run.strict && expected === null && isMissingMember(run, path)) return;
  if (!jsonEqual(get(run, path), expected)) {
    throw new PatchError('PATCH_ERR_TEST_FAILED', `the value at ${JSON.stringify(formatPointer(path))} is not ${preview(expected)}`);
  }
}

/** Upstream treats a missing object member as null in `test`. */
function isMissingMember(run: Run, path: string[]): boolean {
  if (path.length === 0) return false;
  const parent = childAt(run, path.slice(0, -1));
  return isJsonObject(parent) && !hasOwn(parent, path[path.length - 1]!);
}

function childAt(run: Run, path: string[]): JsonValue | undefined {
  let node: JsonValue | undefined = run.doc;
  for (const token of path) {
    if (node === undefined) return undefined;
    node = childOf(run, node, token);
  }
  return node;
}

function get(run: Run, path: string[]): JsonValue {
  const value = childAt(run, path);
  if (value === undefined) throw notFound(path);
  return value;
}
