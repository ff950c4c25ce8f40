// Tensor creation. Uploads go through queue.writeBuffer into a fresh storage (never one still used by
// unsubmitted commands; see buffers.ts), fills run a kernel.
import { contiguousStrides, shapeString, sizeOf, type DType, type HostTensor } from '../host.ts';
import { runtime } from '../runtime.ts';
import { allocate, Tensor } from '../tensor.ts';
import { map } from './map.ts';

export interface CreateOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

function finish(t: Tensor, opts: CreateOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

export function fromArray(data: ArrayLike<number>, shape: readonly number[] = [data.length], opts: CreateOptions = {}): Tensor {
  const dtype = opts.dtype ?? (data instanceof Int32Array ? 'int32' : 'float32');
  if (sizeOf(shape) !== data.length) {
    throw new Error(`fromArray: shape ${shapeString(shape)} holds ${sizeOf(shape)} elements, data has ${data.length}`);
  }
  const t = allocate(shape, dtype, 'fromArray', { fresh: true });
  const typed = dtype === 'int32' ? Int32Array.from(data) : data instanceof Float32Array ? data : Float32Array.from(data);
  if (typed.length > 0) {
    t.storage.version++;
    runtime().ctx.device.queue.writeBuffer(t.storage.buffer, 0, typed.buffer, typed.byteOffset, typed.byteLength);
  }
  return finish(t, opts);
}

export function fromHost(h: HostTensor, opts: CreateOptions = {}): Tensor {
  return fromArray(h.data, h.shape, { dtype: h.dtype, ...opts });
}

export function full(shape: readonly number[], value: number, opts: CreateOptions = {}): Tensor {
  const dtype = opts.dtype ?? 'float32';
  const t = allocate(shape, dtype, 'full');
  map(dtype === 'int32' ? 'fill_i32' : 'fill', dtype === 'int32' ? 'i32(s.x)' : 's.x', [], {
    into: t,
    out: dtype,
    scalars: [value],
  });
  return finish(t, opts);
}

export const zeros = (shape: readonly number[], opts: CreateOptions = {}): Tensor => full(shape, 0, opts);
export const ones = (shape: readonly number[], opts: CreateOptions = {}): Tensor => full(shape, 1, opts);
export const zerosLike = (t: Tensor): Tensor => full(t.shape, 0, { dtype: t.dtype });
export const onesLike = (t: Tensor): Tensor => full(t.shape, 1, { dtype: t.dtype });

export function scalar(value: number, opts: CreateOptions = {}): Tensor {
  return fromArray([value], [], opts);
}

export { contiguousStrides };
