// IDX files (the MNIST container): magic [0, 0, typeCode, nDims], nDims big-endian u32 sizes, then the
// data in row-major order. Files may be gzipped (detected by the 1f 8b magic, not by the file name).

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

const TYPE_NAMES: Record<number, string> = {
  0x08: 'unsigned byte', 0x09: 'signed byte', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64',
};
const UNSIGNED_BYTE = 0x08;

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Parses unsigned-byte IDX data; `source` names the file in errors. */
export function parseIdx(bytes: Uint8Array, source = '<bytes>'): IdxArray {
  const fail = (problem: string): never => {
    throw new Error(`parseIdx(${source}): ${problem}`);
  };
  if (bytes.length < 4) fail(`${bytes.length} bytes, too short for the 4-byte magic number`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    fail(`bad magic ${hex(bytes.subarray(0, 4))}: the first two bytes must be 0 (not an IDX file, or still compressed?)`);
  }
  const typeCode = bytes[2];
  if (typeCode !== UNSIGNED_BYTE) {
    const name = TYPE_NAMES[typeCode] ?? 'unknown type';
    fail(`element type 0x${typeCode.toString(16).padStart(2, '0')} (${name}); only 0x08 (unsigned byte) is supported`);
  }
  const ndims = bytes[3];
  const headerLength = 4 + 4 * ndims;
  if (bytes.length < headerLength) fail(`${bytes.length} bytes, too short for ${ndims} dimension sizes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - headerLength !== count) {
    fail(`dims [${dims.join(', ')}] need ${count} data bytes after the ${headerLength}-byte header, file has ${bytes.length - headerLength}`);
  }
  // A plain Uint8Array view, not a Buffer slice, so callers see one array type whatever the source.
  return { dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + headerLength, count) };
}

export function readIdx(path: string): IdxArray {
  let bytes: Uint8Array = readFileSync(path);
  if (isGzip(bytes)) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new Error(`readIdx("${path}"): gzip data is corrupt or truncated (${(err as Error).message})`);
    }
  }
  return parseIdx(bytes, `"${path}"`);
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}
