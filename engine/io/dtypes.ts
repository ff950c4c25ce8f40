// Decoding of safetensors element types into the two host dtypes. Floats become float32, integers and
// bools become int32 (with a range check where the source is wider). The host is assumed little-endian.

import type { HostTensor } from '../host.ts';

export type SafetensorsDType =
  | 'BOOL' | 'U8' | 'I8' | 'I16' | 'U16' | 'I32' | 'U32' | 'I64' | 'U64' | 'F16' | 'BF16' | 'F32' | 'F64';

export const BYTES_PER_ELEMENT: Record<SafetensorsDType, number> = {
  BOOL: 1, U8: 1, I8: 1, I16: 2, U16: 2, I32: 4, U32: 4, I64: 8, U64: 8, F16: 2, BF16: 2, F32: 4, F64: 8,
};

/** Types the format defines that this reader does not decode (so the error can say "unsupported", not "unknown"). */
const KNOWN_UNSUPPORTED = new Set(['F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2', 'C64']);

export function isSupportedDType(dtype: string): dtype is SafetensorsDType {
  return Object.hasOwn(BYTES_PER_ELEMENT, dtype);
}

export function describeDTypeProblem(dtype: unknown): string {
  const supported = Object.keys(BYTES_PER_ELEMENT).join(', ');
  if (typeof dtype === 'string' && KNOWN_UNSUPPORTED.has(dtype)) {
    return `dtype "${dtype}" is valid safetensors but not supported here (supported: ${supported})`;
  }
  return `unknown dtype ${JSON.stringify(dtype)} (supported: ${supported})`;
}

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('engine/io: safetensors decoding assumes a little-endian host');
}

/** IEEE 754 binary16 bits to a number, subnormals, infinities and NaN included. */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Copies `bytes` into a fresh, aligned buffer so typed-array views of any width are legal. */
function aligned(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

function toInt32Checked(values: ArrayLike<number | bigint>, describe: () => string): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < -2147483648 || v > 2147483647) {
      throw new Error(`${describe()}: element ${i} = ${v} does not fit in int32`);
    }
    out[i] = Number(v);
  }
  return out;
}

/** Decodes the raw little-endian bytes of one tensor. `describe` names the file and tensor for errors. */
export function decodeTensor(
  dtype: SafetensorsDType, shape: number[], bytes: Uint8Array, describe: () => string,
): HostTensor {
  const buffer = aligned(bytes);
  switch (dtype) {
    case 'F32':
      return { dtype: 'float32', shape, data: new Float32Array(buffer) };
    case 'F64':
      return { dtype: 'float32', shape, data: Float32Array.from(new Float64Array(buffer)) };
    case 'F16': {
      const half = new Uint16Array(buffer);
      const data = new Float32Array(half.length);
      for (let i = 0; i < half.length; i++) data[i] = halfToFloat(half[i]);
      return { dtype: 'float32', shape, data };
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const bf = new Uint16Array(buffer);
      const bits = new Uint32Array(bf.length);
      for (let i = 0; i < bf.length; i++) bits[i] = bf[i] << 16;
      return { dtype: 'float32', shape, data: new Float32Array(bits.buffer) };
    }
    case 'I32':
      return { dtype: 'int32', shape, data: new Int32Array(buffer) };
    case 'BOOL':
    case 'U8':
      return { dtype: 'int32', shape, data: Int32Array.from(new Uint8Array(buffer)) };
    case 'I8':
      return { dtype: 'int32', shape, data: Int32Array.from(new Int8Array(buffer)) };
    case 'I16':
      return { dtype: 'int32', shape, data: Int32Array.from(new Int16Array(buffer)) };
    case 'U16':
      return { dtype: 'int32', shape, data: Int32Array.from(new Uint16Array(buffer)) };
    case 'U32':
      return { dtype: 'int32', shape, data: toInt32Checked(new Uint32Array(buffer), describe) };
    case 'I64':
      return { dtype: 'int32', shape, data: toInt32Checked(new BigInt64Array(buffer), describe) };
    case 'U64':
      return { dtype: 'int32', shape, data: toInt32Checked(new BigUint64Array(buffer), describe) };
  }
}
