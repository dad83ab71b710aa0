/**
 * CRC-32C (Castagnoli), the checksum etcd uses for hashKV; here also for
 * snapshot integrity. Streaming: start with CRC32C_INIT, update, then finish.
 */
const TABLE = buildTable();

function buildTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

export const CRC32C_INIT = 0xffffffff;

export function crc32cUpdate(crc: number, bytes: Uint8Array): number {
  let c = crc;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

export function crc32cFinish(crc: number): number {
  return (crc ^ 0xffffffff) >>> 0;
}

export function crc32c(bytes: Uint8Array): number {
  return crc32cFinish(crc32cUpdate(CRC32C_INIT, bytes));
}
