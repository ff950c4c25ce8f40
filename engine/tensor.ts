// Tensor = metadata (shape, strides, offset, dtype) over a reference-counted GPU storage.
// Views share the storage; `dispose()` drops this tensor's reference. Readback is async only.
import type { Storage } from './device/buffers.ts';
import { contiguousStrides, shapeString, sizeOf, type DType, type HostTensor } from './host.ts';
import { runtime } from './runtime.ts';
import { track } from './scope.ts';
import type { GradNode } from './autograd.ts';

let nextId = 1;

export class Tensor {
  readonly id = nextId++;
  requiresGrad = false;
  grad: Tensor | null = null;
  /** The node that produced this tensor, for reverse-mode autograd; null for leaves. */
  gradFn: GradNode | null = null;
  #storage: Storage | null;

  constructor(
    storage: Storage,
    readonly shape: readonly number[],
    readonly strides: readonly number[],
    readonly offset: number,
    readonly dtype: DType,
    register = true,
  ) {
    this.#storage = storage;
    if (register) track(this);
  }

  get storage(): Storage {
    if (!this.#storage) throw new Error(`Tensor#${this.id} ${shapeString(this.shape)} was used after dispose()`);
    return this.#storage;
  }

  get disposed(): boolean {
    return this.#storage === null;
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  isContiguous(): boolean {
    const c = contiguousStrides(this.shape);
    return this.shape.every((d, i) => d === 1 || this.strides[i] === c[i]);
  }

  /** Contiguous and starting at element 0 of its storage: what most kernels take as is. */
  isDense(): boolean {
    return this.offset === 0 && this.isContiguous() && this.size * 4 <= this.storage.byteSize;
  }

  dispose(): void {
    if (this.#storage) {
      this.#storage.release();
      this.#storage = null;
      // The node stays linked (a later node may still backpropagate through it); it only loses a holder.
      this.gradFn?.drop();
    }
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  /** A new tensor object over the same storage (one more reference). */
  view(shape: readonly number[], strides: readonly number[], offset: number, register = true): Tensor {
    return new Tensor(this.storage.retain(), shape, strides, offset, this.dtype, register);
  }

  toString(): string {
    return `Tensor#${this.id}(${shapeString(this.shape)}, ${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  /** Reads the tensor back in row-major order. Flushes pending GPU work once. */
  async toArray(): Promise<Float32Array | Int32Array> {
    const dense = this.isContiguous() ? this : contiguousCopy(this);
    const bytes = await runtime().queue.read(dense.storage, dense.offset * 4, dense.size * 4);
    if (dense !== this) dense.dispose();
    return this.dtype === 'int32' ? new Int32Array(bytes) : new Float32Array(bytes);
  }

  async toHost(): Promise<HostTensor> {
    return { dtype: this.dtype, shape: [...this.shape], data: await this.toArray() };
  }

  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item(): tensor has shape ${shapeString(this.shape)}, expected one element`);
    return (await this.toArray())[0];
  }
}

// Filled in by ops/movement.ts, which depends on this module (breaks the import cycle).
let contiguousCopy: (t: Tensor) => Tensor = () => {
  throw new Error('contiguous copy is not registered');
};
export function registerContiguousCopy(fn: (t: Tensor) => Tensor): void {
  contiguousCopy = fn;
}

export function allocate(shape: readonly number[], dtype: DType = 'float32', label?: string, opts: { fresh?: boolean } = {}): Tensor {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`allocate: invalid shape ${shapeString(shape)}`);
  }
  const storage = runtime().pool.allocate(sizeOf(shape) * 4, label, opts.fresh);
  return new Tensor(storage, [...shape], contiguousStrides(shape), 0, dtype);
}
