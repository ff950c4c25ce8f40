// The safetensors checkpoint format (https://github.com/huggingface/safetensors), written from its spec:
//   [u64 little-endian N][N bytes of UTF-8 JSON header, space-padded][byte buffer]
//   header = {"__metadata__": {str: str}?, name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}
// Offsets are relative to the start of the byte buffer; the tensors must tile it exactly, with no gap
// and no overlap. We read the common dtypes (see dtypes.ts) and write F32 and I32. Header key order is
// preserved both ways, so a StateDict keeps its insertion order through a round trip.

import { readFile } from 'node:fs/promises';
import { type HostTensor, type StateDict, shapeString, sizeOf } from '../host.ts';
import { writeFileAtomic } from './atomic-write.ts';
import { BYTES_PER_ELEMENT, decodeTensor, describeDTypeProblem, isSupportedDType } from './dtypes.ts';
import { topLevelKeys } from './header-keys.ts';

export interface Safetensors {
  tensors: StateDict;
  metadata: Record<string, string>;
}

/** Same cap as the reference implementation: a larger header is treated as corruption, not allocated. */
export const MAX_HEADER_BYTES = 100_000_000;
const HEADER_ALIGNMENT = 8;
const METADATA_KEY = '__metadata__';

export class SafetensorsError extends Error {
  constructor(readonly source: string, readonly problem: string) {
    super(`safetensors ${source}: ${problem}`);
    this.name = 'SafetensorsError';
  }
}

interface TensorEntry {
  name: string;
  dtype: keyof typeof BYTES_PER_ELEMENT;
  shape: number[];
  begin: number;
  end: number;
}

export async function readSafetensors(path: string): Promise<Safetensors> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new SafetensorsError(`"${path}"`, `cannot be read: ${(err as Error).message}`);
  }
  return parseSafetensors(bytes, `"${path}"`);
}

/** `source` names the bytes in error messages (the reader passes the file path). */
export function parseSafetensors(bytes: Uint8Array, source = '<bytes>'): Safetensors {
  const fail = (problem: string): never => {
    throw new SafetensorsError(source, problem);
  };
  if (bytes.byteLength < 8) fail(`is ${bytes.byteLength} bytes, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.byteLength - 8)) {
    fail(`header length ${headerLength} runs past the end of the file (${bytes.byteLength} bytes; truncated?)`);
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLength} exceeds ${MAX_HEADER_BYTES}`);
  const headerEnd = 8 + Number(headerLength);

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, headerEnd));
  } catch {
    return fail('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail(`header must start with '{', found ${JSON.stringify(text.slice(0, 16))}`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    return fail(`header is not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(header)) return fail('header JSON is not an object');

  const keys = topLevelKeys(text);
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k)) fail(`header names "${k}" twice`);
    seen.add(k);
  }

  const metadata = parseMetadata(header[METADATA_KEY], fail);
  const entries = keys.filter((k) => k !== METADATA_KEY).map((name) => parseEntry(name, header[name], fail));
  const bufferLength = bytes.byteLength - headerEnd;
  checkTiling(entries, bufferLength, fail);

  const tensors: StateDict = new Map();
  for (const e of entries) {
    const raw = bytes.subarray(headerEnd + e.begin, headerEnd + e.end);
    tensors.set(e.name, decodeTensor(e.dtype, e.shape, raw, () => `safetensors ${source}: tensor "${e.name}"`));
  }
  return { tensors, metadata };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function parseMetadata(raw: unknown, fail: (p: string) => never): Record<string, string> {
  if (raw === undefined) return {};
  if (!isPlainObject(raw)) return fail(`"${METADATA_KEY}" must be an object of strings`);
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') fail(`"${METADATA_KEY}"."${k}" must be a string, found ${JSON.stringify(v)}`);
  }
  return { ...(raw as Record<string, string>) };
}

function parseEntry(name: string, raw: unknown, fail: (p: string) => never): TensorEntry {
  const where = `tensor "${name}"`;
  if (!isPlainObject(raw)) return fail(`${where}: entry must be an object with dtype, shape, data_offsets`);
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== 'string' || !isSupportedDType(dtype)) return fail(`${where}: ${describeDTypeProblem(dtype)}`);
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    return fail(`${where}: shape must be an array of non-negative integers, found ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    return fail(`${where}: data_offsets must be [begin, end] with 0 <= begin <= end, found ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  const expected = sizeOf(shape) * BYTES_PER_ELEMENT[dtype];
  if (!Number.isSafeInteger(expected) || expected !== end - begin) {
    fail(`${where}: shape ${shapeString(shape)} of ${dtype} needs ${expected} bytes, data_offsets [${begin}, ${end}] span ${end - begin}`);
  }
  return { name, dtype, shape: [...shape], begin, end };
}

/** The tensors, sorted by offset, must cover [0, bufferLength) exactly once. */
function checkTiling(entries: TensorEntry[], bufferLength: number, fail: (p: string) => never): void {
  for (const e of entries) {
    if (e.end > bufferLength) {
      fail(`tensor "${e.name}": data_offsets [${e.begin}, ${e.end}] run past the ${bufferLength}-byte data buffer (truncated?)`);
    }
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: TensorEntry | undefined;
  for (const e of sorted) {
    if (e.begin < covered) {
      fail(`tensor "${e.name}" [${e.begin}, ${e.end}] overlaps tensor "${previous?.name}" [${previous?.begin}, ${previous?.end}]`);
    }
    if (e.begin > covered) fail(`bytes [${covered}, ${e.begin}) of the data buffer belong to no tensor (before "${e.name}")`);
    covered = e.end;
    previous = e;
  }
  if (covered !== bufferLength) {
    fail(`data buffer has ${bufferLength} bytes but the tensors cover only ${covered}; bytes [${covered}, ${bufferLength}) belong to no tensor`);
  }
}

function checkWritable(name: string, t: HostTensor): void {
  const where = `serializeSafetensors: tensor "${name}"`;
  if (name === METADATA_KEY) throw new Error(`${where}: the name is reserved for metadata`);
  if (!t.shape.every(isCount)) throw new Error(`${where}: shape ${shapeString(t.shape)} has a non-integer or negative dimension`);
  const arrayOk = t.dtype === 'float32' ? t.data instanceof Float32Array : t.dtype === 'int32' && t.data instanceof Int32Array;
  if (!arrayOk) throw new Error(`${where}: dtype ${t.dtype} with a ${t.data.constructor.name}; expected float32/Float32Array or int32/Int32Array`);
  if (t.data.length !== sizeOf(t.shape)) {
    throw new Error(`${where}: shape ${shapeString(t.shape)} holds ${sizeOf(t.shape)} elements, data has ${t.data.length}`);
  }
}

/** F32 / I32 only. Tensors are laid out in the StateDict's order; metadata comes first, as in the reference. */
export function serializeSafetensors(tensors: StateDict, metadata: Record<string, string> = {}): Uint8Array {
  const parts: string[] = [];
  const metaEntries = Object.entries(metadata);
  for (const [k, v] of metaEntries) {
    if (typeof v !== 'string') throw new Error(`serializeSafetensors: metadata "${k}" must be a string, found ${typeof v}`);
  }
  if (metaEntries.length > 0) {
    parts.push(`"${METADATA_KEY}":{${metaEntries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  }
  let offset = 0;
  for (const [name, t] of tensors) {
    checkWritable(name, t);
    const end = offset + t.data.byteLength;
    const info = { dtype: t.dtype === 'float32' ? 'F32' : 'I32', shape: t.shape, data_offsets: [offset, end] };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(json.byteLength / HEADER_ALIGNMENT) * HEADER_ALIGNMENT;

  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.byteLength, 8 + headerLength);
  let cursor = 8 + headerLength;
  for (const t of tensors.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), cursor);
    cursor += t.data.byteLength;
  }
  return out;
}

/** Serializes first (so invalid input never touches the disk), then replaces `path` atomically. */
export async function writeSafetensorsAtomic(
  path: string, tensors: StateDict, metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}
