// TensorFlow.js weights: a manifest of groups, each group's binary shards concatenated, its weights laid
// end to end in manifest order. A weight is float32/int32, or quantised: uint8/uint16 codes q with a
// per-tensor affine map (value = q * scale + min, as tfjs-core's io_utils decodes it) or float16 bits.
import { type HostTensor, shapeString, sizeOf } from '../../engine/host.ts';
import { halfToFloat } from '../../engine/io/dtypes.ts';

export interface Quantization {
  dtype: 'uint8' | 'uint16' | 'float16';
  min?: number;
  scale?: number;
}

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  quantization?: Quantization;
}

export interface WeightsGroup {
  paths: string[];
  weights: WeightSpec[];
}

export class TfjsWeightsError extends Error {
  constructor(readonly source: string, problem: string) {
    super(`${source}: ${problem}`);
    this.name = 'TfjsWeightsError';
  }
}

const STORED_BYTES = { float32: 4, int32: 4, uint8: 1, uint16: 2, float16: 2 } as const;

function storedBytes(spec: WeightSpec, fail: (p: string) => never): number {
  const stored = spec.quantization?.dtype ?? spec.dtype;
  const bytes = STORED_BYTES[stored as keyof typeof STORED_BYTES];
  if (bytes === undefined) fail(`weight "${spec.name}": unsupported ${spec.quantization ? 'quantization ' : ''}dtype ${JSON.stringify(stored)}`);
  return bytes * sizeOf(spec.shape);
}

/** Little-endian reads from an arbitrary offset (shards need not keep typed-array alignment). */
function decodeValues(spec: WeightSpec, view: DataView, fail: (p: string) => never): HostTensor {
  const n = sizeOf(spec.shape);
  const q = spec.quantization;
  if (spec.dtype !== 'float32' && spec.dtype !== 'int32') fail(`weight "${spec.name}": unsupported dtype ${JSON.stringify(spec.dtype)}`);
  if (!q) {
    const data = spec.dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = spec.dtype === 'int32' ? view.getInt32(4 * i, true) : view.getFloat32(4 * i, true);
    return { dtype: spec.dtype, shape: [...spec.shape], data };
  }
  if (q.dtype === 'float16') {
    if (spec.dtype !== 'float32') fail(`weight "${spec.name}": float16 quantisation needs a float32 weight, not ${spec.dtype}`);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = halfToFloat(view.getUint16(2 * i, true));
    return { dtype: 'float32', shape: [...spec.shape], data };
  }
  if (typeof q.min !== 'number' || typeof q.scale !== 'number') {
    fail(`weight "${spec.name}": ${q.dtype} quantisation needs numeric min and scale`);
  }
  const { min, scale } = q as Required<Quantization>;
  const code = (i: number) => (q.dtype === 'uint8' ? view.getUint8(i) : view.getUint16(2 * i, true));
  const data = spec.dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = code(i) * scale + min;
    data[i] = spec.dtype === 'int32' ? Math.round(v) : v;
  }
  return { dtype: spec.dtype, shape: [...spec.shape], data };
}

/** Decodes one group from its shards' bytes, concatenated in `paths` order; they must be consumed exactly. */
export function decodeWeightsGroup(group: WeightsGroup, bytes: Uint8Array, source = '<weights>'): Map<string, HostTensor> {
  const fail = (problem: string): never => {
    throw new TfjsWeightsError(source, problem);
  };
  const sizes = group.weights.map((spec) => storedBytes(spec, fail));
  const needed = sizes.reduce((a, b) => a + b, 0);
  if (needed !== bytes.byteLength) {
    fail(`shards [${group.paths.join(', ')}] hold ${bytes.byteLength} bytes, the manifest's ${group.weights.length} weights need ${needed}`);
  }
  const out = new Map<string, HostTensor>();
  let offset = 0;
  group.weights.forEach((spec, i) => {
    if (out.has(spec.name)) fail(`weight "${spec.name}" is listed twice`);
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset, sizes[i]);
    out.set(spec.name, decodeValues(spec, view, fail));
    offset += sizes[i];
  });
  return out;
}

/** Every group of a manifest; `groupBytes[g]` is group g's shards concatenated. */
export function decodeWeightsManifest(manifest: WeightsGroup[], groupBytes: Uint8Array[], source = '<weights>'): Map<string, HostTensor> {
  if (groupBytes.length !== manifest.length) {
    throw new TfjsWeightsError(source, `manifest has ${manifest.length} weight groups, got bytes for ${groupBytes.length}`);
  }
  const out = new Map<string, HostTensor>();
  manifest.forEach((group, g) => {
    for (const [name, t] of decodeWeightsGroup(group, groupBytes[g], source)) {
      if (out.has(name)) throw new TfjsWeightsError(source, `weight "${name}" appears in two groups`);
      out.set(name, t);
    }
  });
  return out;
}

/** One-line description of how a manifest stores its weights, e.g. "266 uint8-quantised". */
export function describeWeightStorage(manifest: WeightsGroup[]): string {
  const counts = new Map<string, number>();
  for (const spec of manifest.flatMap((g) => g.weights)) {
    const kind = spec.quantization ? `${spec.quantization.dtype}-quantised` : spec.dtype;
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return [...counts].map(([kind, n]) => `${n} ${kind}`).join(', ');
}

export function checkShape(t: HostTensor, expected: readonly number[], what: string): void {
  if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i])) {
    throw new Error(`${what}: shape ${shapeString(t.shape)}, expected ${shapeString(expected)}`);
  }
}
