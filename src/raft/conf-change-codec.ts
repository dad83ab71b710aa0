/**
 * The byte encoding of a ConfChange inside a log entry. Entries are persisted,
 * so the format is versioned and decoding validates everything.
 *
 * v1: u8 version | u8 transition | u16 count | count × (u8 type, f64 nodeId) | u32 contextLength | context
 */
import { RaftError } from './errors.js';
import { type ConfChange, ConfChangeTransition, ConfChangeType } from './types.js';

const VERSION = 1;
const MAX_CHANGES = 1024;
const MAX_CONTEXT_BYTES = 64 * 1024;

export function encodeConfChange(cc: ConfChange): Uint8Array {
  if (cc.changes.length > MAX_CHANGES) throw invalid(`too many changes (${cc.changes.length} > ${MAX_CHANGES})`);
  if (cc.context.length > MAX_CONTEXT_BYTES) throw invalid(`context too large (${cc.context.length} > ${MAX_CONTEXT_BYTES} bytes)`);
  const out = new Uint8Array(4 + cc.changes.length * 9 + 4 + cc.context.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, VERSION);
  view.setUint8(1, cc.transition);
  view.setUint16(2, cc.changes.length);
  let at = 4;
  for (const c of cc.changes) {
    view.setUint8(at, c.type);
    view.setFloat64(at + 1, c.nodeId);
    at += 9;
  }
  view.setUint32(at, cc.context.length);
  out.set(cc.context, at + 4);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.length < 8) throw invalid('truncated');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (view.getUint8(0) !== VERSION) throw invalid(`unknown version ${view.getUint8(0)}`);
  const transition = view.getUint8(1);
  if (!(transition in ConfChangeTransition)) throw invalid(`unknown transition ${transition}`);
  const count = view.getUint16(2);
  if (count > MAX_CHANGES || data.length < 8 + count * 9) throw invalid('truncated changes');
  const changes = [];
  let at = 4;
  for (let i = 0; i < count; i++, at += 9) {
    const type = view.getUint8(at);
    if (!(type in ConfChangeType)) throw invalid(`unknown change type ${type}`);
    changes.push({ type: type as ConfChangeType, nodeId: view.getFloat64(at + 1) });
  }
  const len = view.getUint32(at);
  if (len > MAX_CONTEXT_BYTES || at + 4 + len !== data.length) throw invalid('bad context length');
  return { transition: transition as ConfChangeTransition, changes, context: data.slice(at + 4, at + 4 + len) };
}

function invalid(why: string): RaftError {
  return new RaftError('RAFT_ERR_INVALID_CONF_CHANGE', `invalid conf change: ${why}`);
}
