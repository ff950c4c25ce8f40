import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type HostTensor, type StateDict, hostTensor, sizeOf } from '../engine/host.ts';
import { halfToFloat } from '../engine/io/dtypes.ts';
import {
  parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensorsAtomic,
} from '../engine/io/safetensors.ts';

// Lets a test make one fs call fail, to check that a failed write leaves the target untouched.
const faults = vi.hoisted(() => ({ failRename: false, failWriteAfter: -1 }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    rename: async (from: string, to: string) => {
      if (faults.failRename) throw new Error('injected rename failure');
      return real.rename(from, to);
    },
    open: async (...args: Parameters<typeof real.open>) => {
      const handle = await real.open(...args);
      if (faults.failWriteAfter < 0) return handle;
      const limit = faults.failWriteAfter;
      const write = handle.write.bind(handle) as (b: Uint8Array, o: number, l: number) => Promise<{ bytesWritten: number }>;
      (handle as unknown as { write: typeof write }).write = async (b, o, l) => {
        if (o >= limit) throw new Error('injected ENOSPC');
        return write(b, o, Math.min(l, limit - o));
      };
      return handle;
    },
  };
});

const bytesOf = (s: string) => new TextEncoder().encode(s);
function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const arrays = parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const a of arrays) (out.set(a, o), (o += a.length));
  return out;
}
/** A file laid out by hand from the format spec: u64 LE length, header text, data bytes. */
function handBuilt(header: string, data: Uint8Array | number[] = []): Uint8Array {
  const h = bytesOf(header);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(h.length), true);
  return concat(len, h, data);
}
const rawBytes = (t: HostTensor) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

// Byte vectors that the reference implementation (huggingface/safetensors, Rust crate, tests in
// safetensors/src/tensor.rs: test_serialization, test_empty, test_serialization_forced_alignement)
// asserts its serializer produces. No Python or Rust toolchain is reachable here to regenerate them.
const REF_ATTN_0 = [
  64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34,
  70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95,
  111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64,
  0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
];
const REF_EMPTY = [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32];
const REF_EMPTY_WITH_METADATA = [
  40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95, 95, 34, 58, 123, 34, 102, 114, 97,
  109, 101, 119, 111, 114, 107, 34, 58, 34, 112, 116, 34, 125, 125, 32, 32, 32, 32, 32,
];
const REF_FORCED_ALIGNMENT = [
  72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116, 121, 112, 101, 34, 58, 34, 70,
  51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58, 91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97,
  95, 111, 102, 102, 115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32, 32, 32, 0, 0,
  0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
];

describe('reference bytes', () => {
  const zeroToFive = [0, 1, 2, 3, 4, 5];

  it('serializes exactly as the reference implementation', () => {
    expect(serializeSafetensors(new Map([['attn.0', hostTensor([1, 2, 3], zeroToFive)]]))).toEqual(Uint8Array.from(REF_ATTN_0));
    expect(serializeSafetensors(new Map([['attn0', hostTensor([1, 1, 2, 3], zeroToFive)]]))).toEqual(Uint8Array.from(REF_FORCED_ALIGNMENT));
    expect(serializeSafetensors(new Map())).toEqual(Uint8Array.from(REF_EMPTY));
    expect(serializeSafetensors(new Map(), { framework: 'pt' })).toEqual(Uint8Array.from(REF_EMPTY_WITH_METADATA));
  });

  it('parses the reference bytes', () => {
    const { tensors, metadata } = parseSafetensors(Uint8Array.from(REF_FORCED_ALIGNMENT));
    expect(metadata).toEqual({});
    expect(tensors.get('attn0')).toEqual(hostTensor([1, 1, 2, 3], zeroToFive));
    expect(parseSafetensors(Uint8Array.from(REF_EMPTY_WITH_METADATA)).metadata).toEqual({ framework: 'pt' });
  });

  it('accepts the spec edge cases: 0-d, zero-sized, whitespace padding', () => {
    const scalar = parseSafetensors(handBuilt('{"test":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}', [7, 0, 0, 0]));
    expect(scalar.tensors.get('test')).toEqual(hostTensor([], [7], 'int32'));
    const empty = parseSafetensors(handBuilt('{"test":{"dtype":"I32","shape":[2,0],"data_offsets":[0, 0]}}'));
    expect(empty.tensors.get('test')).toEqual(hostTensor([2, 0], [], 'int32'));
    expect(parseSafetensors(handBuilt('{}\r \t\n')).tensors.size).toBe(0);
  });
});

describe('dtype decoding (hand-built from the spec)', () => {
  it('decodes F16, BF16, F64, I64, U8, BOOL, I8, U16', () => {
    const f16 = [0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0xfc00, 0x3555, 0x8000];
    const bf16 = [0x3f80, 0xc049, 0x7f80];
    const i64 = [5n, -7n, 2147483647n, -2147483648n];
    const data = concat(
      new Uint8Array(Uint16Array.from(f16).buffer), new Uint8Array(Uint16Array.from(bf16).buffer),
      new Uint8Array(Float64Array.from([0.1, -1e300]).buffer), new Uint8Array(BigInt64Array.from(i64).buffer),
      [200, 3], [1, 0, 1], new Uint8Array(Int8Array.from([-128, 127]).buffer), new Uint8Array(Uint16Array.from([65535]).buffer),
    );
    const header = JSON.stringify({
      h: { dtype: 'F16', shape: [8], data_offsets: [0, 16] },
      b: { dtype: 'BF16', shape: [3], data_offsets: [16, 22] },
      d: { dtype: 'F64', shape: [2], data_offsets: [22, 38] },
      l: { dtype: 'I64', shape: [2, 2], data_offsets: [38, 70] },
      u: { dtype: 'U8', shape: [2], data_offsets: [70, 72] },
      m: { dtype: 'BOOL', shape: [3], data_offsets: [72, 75] },
      s: { dtype: 'I8', shape: [2], data_offsets: [75, 77] },
      w: { dtype: 'U16', shape: [1], data_offsets: [77, 79] },
    });
    const t = parseSafetensors(handBuilt(header, data)).tensors;
    expect([...t.get('h')!.data]).toEqual([1, -2, 65504, 2 ** -24, Infinity, -Infinity, 0.333251953125, -0]);
    expect(Object.is(t.get('h')!.data[7], -0)).toBe(true);
    expect(halfToFloat(0x7e00)).toBeNaN();
    expect([...t.get('b')!.data]).toEqual([1, -3.140625, Infinity]);
    expect([...t.get('d')!.data]).toEqual([Math.fround(0.1), -Infinity]);
    expect(t.get('l')).toEqual(hostTensor([2, 2], [5, -7, 2147483647, -2147483648], 'int32'));
    expect([...t.get('u')!.data, ...t.get('m')!.data, ...t.get('s')!.data, ...t.get('w')!.data]).toEqual([200, 3, 1, 0, 1, -128, 127, 65535]);
    expect(t.get('u')!.dtype).toBe('int32');
  });

  it('rejects I64 values outside int32', () => {
    const data = new Uint8Array(BigInt64Array.from([1n, 2147483648n]).buffer);
    const bytes = handBuilt('{"big":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}', data);
    expect(() => parseSafetensors(bytes, 'big.safetensors')).toThrow(/big\.safetensors.*"big".*element 1 = 2147483648 does not fit in int32/);
  });
});

describe('corrupted files are rejected with the problem named', () => {
  const good = '{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}';
  const zeros16 = new Uint8Array(16);
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty file', new Uint8Array(0), /too short/],
    ['length only', handBuilt(good).subarray(0, 8), /runs past the end of the file/],
    ['header length past EOF', concat([60, 0, 0, 0, 0, 0xff, 0xff, 0xff], bytesOf(good), zeros16), /runs past the end/],
    ['truncated data', handBuilt(good, zeros16).subarray(0, 8 + 60 + 14), /run past the 14-byte data buffer/],
    ['trailing bytes', handBuilt(good, concat(zeros16, bytesOf('polyglot'))), /cover only 16.*belong to no tensor/],
    ['not UTF-8', concat([1, 0, 0, 0, 0, 0, 0, 0, 0xff]), /not valid UTF-8/],
    ['not JSON', handBuilt('{'), /not valid JSON/],
    ['not an object', handBuilt('[1]   '), /must start with '\{'/],
    ['unknown dtype', handBuilt('{"t":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}}', [0]), /unknown dtype "Q7"/],
    ['unsupported dtype', handBuilt('{"t":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}', [0]), /not supported here/],
    ['size mismatch', handBuilt('{"t":{"dtype":"I32","shape":[2,2],"data_offsets":[0,4]}}', [0, 0, 0, 0]), /\[2, 2\] of I32 needs 16 bytes.*span 4/],
    ['reversed offsets', handBuilt('{"t":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}'), /begin <= end/],
    ['negative shape', handBuilt('{"t":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}'), /non-negative integers/],
    ['bad metadata', handBuilt('{"__metadata__":{"epoch":3}}'), /"__metadata__"\."epoch" must be a string/],
    ['duplicate name', handBuilt('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', [1, 2]), /names "a" twice/],
    ['gap', handBuilt('{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', [1, 2]), /bytes \[0, 1\) .* belong to no tensor/],
    [
      'overlap',
      handBuilt('{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}', [1, 2, 3]),
      /"b" \[1, 3\] overlaps tensor "a" \[0, 2\]/,
    ],
  ];
  it.each(cases)('%s', (_name, bytes, problem) => {
    expect(() => parseSafetensors(bytes, 'ckpt.safetensors')).toThrow(/^safetensors ckpt\.safetensors: /);
    expect(() => parseSafetensors(bytes, 'ckpt.safetensors')).toThrow(problem);
  });
});

const tensorArb: fc.Arbitrary<HostTensor> = fc
  .tuple(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }), fc.boolean())
  .chain(([shape, isFloat]) =>
    fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: sizeOf(shape), maxLength: sizeOf(shape) })
      .map((bits) => {
        // Any 32-bit pattern, so NaN payloads, -0 and subnormals must survive too.
        const ints = Int32Array.from(bits);
        return isFloat
          ? { dtype: 'float32' as const, shape, data: new Float32Array(ints.buffer) }
          : { dtype: 'int32' as const, shape, data: ints };
      }));
const stateDictArb = fc
  .uniqueArray(fc.tuple(fc.string({ unit: 'binary', maxLength: 10 }).filter((n) => n !== '__metadata__'), tensorArb), {
    maxLength: 6, selector: ([name]) => name,
  })
  .map((entries) => new Map(entries) as StateDict);
const metadataArb = fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 8 }), { maxKeys: 3 });

describe('round trip', () => {
  it('is bit-identical for random state dicts (incl. 0-d and zero-sized tensors)', () => {
    fc.assert(
      fc.property(stateDictArb, metadataArb, (tensors, metadata) => {
        const bytes = serializeSafetensors(tensors, metadata);
        expect(bytes.length % 4).toBe(0);
        const back = parseSafetensors(bytes);
        expect([...back.tensors.keys()]).toEqual([...tensors.keys()]);
        for (const [name, t] of tensors) {
          const u = back.tensors.get(name)!;
          expect(u.dtype).toBe(t.dtype);
          expect(u.shape).toEqual(t.shape);
          expect(rawBytes(u)).toEqual(rawBytes(t));
        }
        expect(back.metadata).toEqual(metadata);
        expect(serializeSafetensors(back.tensors, back.metadata)).toEqual(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('refuses tensors whose data does not match the shape', () => {
    const bad = new Map([['w', { dtype: 'float32' as const, shape: [2, 3], data: new Float32Array(5) }]]);
    expect(() => serializeSafetensors(bad)).toThrow(/tensor "w": shape \[2, 3\] holds 6 elements, data has 5/);
  });
});

describe('files', () => {
  let dir = '';
  beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), 'fna-safetensors-'))));
  afterAll(async () => rm(dir, { recursive: true, force: true }));
  const dict: StateDict = new Map([
    ['blocks.0.weight', hostTensor([2, 2], [1, 2, 3, 4])],
    ['num_batches_tracked', hostTensor([], [12], 'int32')],
  ]);
  const other: StateDict = new Map([['x', hostTensor([1], [9])]]);

  it('writes and reads back a file', async () => {
    const path = join(dir, 'model.safetensors');
    await writeSafetensorsAtomic(path, dict, { format: 'pt' });
    const { tensors, metadata } = await readSafetensors(path);
    expect(tensors).toEqual(dict);
    expect(metadata).toEqual({ format: 'pt' });
  });

  it('names the file when reading fails', async () => {
    const path = join(dir, 'truncated.safetensors');
    await writeFile(path, serializeSafetensors(dict).subarray(0, 40));
    await expect(readSafetensors(path)).rejects.toThrow(/truncated\.safetensors.*runs past the end/);
    await expect(readSafetensors(join(dir, 'missing.safetensors'))).rejects.toThrow(/missing\.safetensors.*cannot be read/);
  });

  it('leaves an existing file untouched when serialization, writing or renaming fails', async () => {
    const path = join(dir, 'keep.safetensors');
    await writeSafetensorsAtomic(path, dict);
    const before = await readFile(path);
    const invalid = new Map([['w', { dtype: 'int32' as const, shape: [3], data: new Float32Array(3) }]]);
    await expect(writeSafetensorsAtomic(path, invalid)).rejects.toThrow(/expected float32\/Float32Array or int32\/Int32Array/);
    try {
      faults.failWriteAfter = 20;
      await expect(writeSafetensorsAtomic(path, other)).rejects.toThrow(/injected ENOSPC.*target was not modified/);
      faults.failWriteAfter = -1;
      faults.failRename = true;
      await expect(writeSafetensorsAtomic(path, other)).rejects.toThrow(/keep\.safetensors.*injected rename failure/);
    } finally {
      faults.failWriteAfter = -1;
      faults.failRename = false;
    }
    expect(await readFile(path)).toEqual(before);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    await writeSafetensorsAtomic(path, other);
    expect((await readSafetensors(path)).tensors).toEqual(other);
  });
});
