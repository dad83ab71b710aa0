/**
 * The schema the decoder walks: for each protobuf message, its fields by
 * number, each with its JSON name, its type and how Kubernetes' JSON treats
 * its zero value.
 *
 * Why a table of our own rather than a .proto loaded by protobufjs: the
 * mapping to Kubernetes JSON needs facts a .proto does not carry (whether the
 * Go field is a pointer or lacks `omitempty`, so that a zero value is or is
 * not written; which messages are inlined into their parent), several types
 * convert specially (Time, IntOrString, Quantity, bytes, RawExtension), and
 * protobufjs skips unknown fields silently and reads int64 as Long. A compact
 * table plus a small wire reader does all of it in one pass.
 *
 * Table syntax (one string per message, fields separated by spaces):
 *
 *     jsonName=number:type[suffixes]
 *
 * - type: `string`, `bool`, `int32`, `int64`, `bytes` (JSON base64); the
 *   special types `Time`, `MicroTime`, `IntOrString`, `Quantity`,
 *   `RawExtension`, `FieldsV1`; a message of the same package (`Container`)
 *   or of another (`meta.ObjectMeta`); `{T}` is a map<string, T>.
 * - `[]` repeated.
 * - `!` a scalar whose zero value is still written: the Go field is a pointer
 *   (set means present, even when 0/""/false) or has no `omitempty`. Without
 *   it a zero scalar is left out, as Go's JSON does for non-pointer
 *   `omitempty` fields, which Go's protobuf encoder nevertheless always writes.
 * - `^` inlined: the message's fields land in the parent object (Go's
 *   embedded structs with `json:",inline"`).
 * - `~` retired: a field removed from Kubernetes that old clients still
 *   write; accepted only when it holds its zero value.
 */
import { assert } from '../../../util/index.js';

export type ScalarType = 'string' | 'bool' | 'int32' | 'int64' | 'bytes';
export type SpecialType = 'Time' | 'MicroTime' | 'IntOrString' | 'Quantity' | 'RawExtension' | 'FieldsV1';

export type FieldValue =
  | { readonly kind: 'scalar'; readonly type: ScalarType }
  | { readonly kind: 'special'; readonly type: SpecialType }
  | { readonly kind: 'message'; readonly message: MessageSchema };

export interface FieldSchema {
  readonly number: number;
  /** The JSON name (for inlined fields, only used in diagnostics). */
  readonly name: string;
  readonly value: FieldValue;
  readonly cardinality: 'single' | 'repeated' | 'map';
  readonly keepZero: boolean;
  readonly inline: boolean;
  readonly retired: boolean;
}

export interface MessageSchema {
  /** Fully qualified protobuf name, e.g. `k8s.io.api.core.v1.Container`. */
  readonly fullName: string;
  readonly fields: ReadonlyMap<number, FieldSchema>;
}

/** Message name (without package) → field list in the syntax above. */
export type MessageTable = Readonly<Record<string, string>>;

export interface SchemaPackage {
  /** Short prefix other tables use to refer to this package (`core`, `meta`). */
  readonly prefix: string;
  /** The protobuf package, e.g. `k8s.io.api.core.v1`. */
  readonly protoPackage: string;
  readonly messages: MessageTable;
}

const SCALARS: ReadonlySet<string> = new Set<ScalarType>(['string', 'bool', 'int32', 'int64', 'bytes']);
const SPECIALS: ReadonlySet<string> = new Set<SpecialType>(['Time', 'MicroTime', 'IntOrString', 'Quantity', 'RawExtension', 'FieldsV1']);
const FIELD_SYNTAX = /^([A-Za-z]\w*)=([1-9]\d*):(\{)?([A-Za-z][\w.]*)(\})?(\[\])?([!^~]*)$/;

interface ParsedField {
  readonly name: string;
  readonly number: number;
  readonly typeName: string;
  readonly map: boolean;
  readonly repeated: boolean;
  readonly flags: string;
}

function parseField(token: string, where: string): ParsedField {
  const m = FIELD_SYNTAX.exec(token);
  assert(m !== null, `schema ${where}: cannot parse field "${token}"`);
  const [, name, number, open, typeName, close, brackets, flags] = m;
  assert((open === undefined) === (close === undefined), `schema ${where}: unbalanced braces in "${token}"`);
  return { name: name!, number: Number(number), typeName: typeName!, map: open !== undefined, repeated: brackets !== undefined, flags: flags ?? '' };
}

/**
 * Builds and links every message of the given packages, keyed `prefix.Name`
 * (`core.Container`). Mistakes in the tables are our bugs, so they assert.
 */
export function buildSchema(packages: readonly SchemaPackage[]): ReadonlyMap<string, MessageSchema> {
  const messages = new Map<string, { fullName: string; fields: Map<number, FieldSchema> }>();
  for (const pkg of packages) {
    for (const name of Object.keys(pkg.messages)) {
      const key = `${pkg.prefix}.${name}`;
      assert(!messages.has(key), `schema: ${key} defined twice`);
      messages.set(key, { fullName: `${pkg.protoPackage}.${name}`, fields: new Map() });
    }
  }
  for (const pkg of packages) {
    for (const [name, text] of Object.entries(pkg.messages)) {
      const where = `${pkg.prefix}.${name}`;
      const message = messages.get(where)!;
      const names = new Set<string>();
      for (const token of text.split(/\s+/).filter((t) => t !== '')) {
        const f = parseField(token, where);
        assert(!message.fields.has(f.number), `schema ${where}: field number ${f.number} used twice`);
        assert(!names.has(f.name), `schema ${where}: field name ${f.name} used twice`);
        names.add(f.name);
        message.fields.set(f.number, linkField(f, pkg.prefix, messages, where));
      }
    }
  }
  return messages;
}

function linkField(f: ParsedField, prefix: string, messages: ReadonlyMap<string, MessageSchema>, where: string): FieldSchema {
  let value: FieldValue;
  if (SCALARS.has(f.typeName)) value = { kind: 'scalar', type: f.typeName as ScalarType };
  else if (SPECIALS.has(f.typeName)) value = { kind: 'special', type: f.typeName as SpecialType };
  else {
    const key = f.typeName.includes('.') ? f.typeName : `${prefix}.${f.typeName}`;
    const message = messages.get(key);
    assert(message !== undefined, `schema ${where}: unknown type ${f.typeName}`);
    value = { kind: 'message', message };
  }
  const keepZero = f.flags.includes('!');
  const inline = f.flags.includes('^');
  const retired = f.flags.includes('~');
  assert(!(f.map && f.repeated), `schema ${where}.${f.name}: a map cannot also be repeated`);
  assert(!keepZero || (value.kind === 'scalar' && !f.map && !f.repeated), `schema ${where}.${f.name}: "!" is for single scalars`);
  assert(!inline || (value.kind === 'message' && !f.map && !f.repeated), `schema ${where}.${f.name}: "^" is for single messages`);
  assert(!retired || (value.kind === 'scalar' && !f.map && !f.repeated), `schema ${where}.${f.name}: "~" is for single scalars`);
  return {
    number: f.number,
    name: f.name,
    value,
    cardinality: f.map ? 'map' : f.repeated ? 'repeated' : 'single',
    keepZero,
    inline,
    retired,
  };
}
