// Reference-counted GPU storage with an exact-size pool.
//
// A storage released while commands that use it are still unsubmitted goes to `pendingRelease` and joins
// the pool only after the flush that submits them: a later `queue.writeBuffer` into a reused buffer would
// otherwise land before the earlier commands run (queue writes are ordered against submits, not against
// commands still sitting in an encoder). Such a buffer may still be handed out again within the same batch
// to a storage whose contents the GPU writes first (a kernel's output): commands run in recording order,
// so the new owner's writes follow the old owner's last use. Uploads ask for `fresh` storage instead, and
// any other queue write into a storage goes through CommandQueue.write, which flushes first when the
// storage is used by the unsubmitted batch. Without this, a batch of N dispatches keeps N outputs alive:
// 256 calls of a 16 MiB op would need 4 GiB, and the buffers past the pool's cap are created anew each call.
import { GpuError } from './device.ts';

export const STORAGE_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** Something computed from a storage's contents (engine/derived.ts), valid while `version` is the storage's. */
export interface DerivedEntry {
  version: number;
  /** The kept result, or null: seen once at this version, not kept yet. */
  kept: { dispose(): void } | null;
}

export class Storage {
  refs = 1;
  /** Id of the unsubmitted batch that last used this buffer, or -1. */
  usedInBatch = -1;
  /**
   * Bumped by every write recorded into the buffer (a dispatch binding it writable, a queue write, a copy
   * into it), at record time, which is also the order the GPU runs them in.
   */
  version = 0;
  /** Results derived from this storage's contents, by key (engine/derived.ts); disposed with the storage. */
  derived: Map<string, DerivedEntry> | null = null;
  constructor(
    readonly buffer: GPUBuffer,
    readonly byteSize: number,
    private readonly pool: BufferPool,
    /** The buffer's id, unique for the pool's lifetime (bind-group cache keys, oldest-first reuse). */
    readonly bufferId: number,
  ) {}

  retain(): this {
    if (this.refs <= 0) throw new Error('Storage.retain: storage was already released');
    this.refs++;
    return this;
  }

  release(): void {
    if (this.refs <= 0) throw new Error('Storage.release: storage was already released');
    if (--this.refs > 0) return;
    if (this.derived) {
      for (const entry of this.derived.values()) entry.kept?.dispose();
      this.derived = null;
    }
    this.pool.free(this);
  }
}

export interface MemoryInfo {
  /** Bytes held by live storages (tensors, optimizer state, anything retained). */
  live: number;
  /** Bytes of free buffers kept for reuse. */
  pooled: number;
  /** Bytes released but still used by unsubmitted commands; they join the pool at the next flush. */
  pendingRelease: number;
  /** Bytes of every GPUBuffer that exists: live + pooled + pendingRelease. */
  allocated: number;
  liveBuffers: number;
  pooledBuffers: number;
}

export interface PoolOptions {
  /** Free bytes kept for reuse; buffers freed past this cap are destroyed. */
  maxPooledBytes: number;
}

/** Tensor byte sizes are rounded up to 4 bytes; binding sizes must be a multiple of 4. */
export function roundBytes(n: number): number {
  return Math.max(4, Math.ceil(n / 4) * 4);
}

export class BufferPool {
  private free_ = new Map<number, GPUBuffer[]>();
  /** Released in the unsubmitted batch, by byte size: reusable only for GPU-written storage until the flush. */
  private pending = new Map<number, GPUBuffer[]>();
  private stats = { live: 0, pooled: 0, pendingRelease: 0, liveBuffers: 0, pooledBuffers: 0 };
  /** Told before a buffer is destroyed (the queue drops bind groups that hold it). */
  onDestroy: (buffer: GPUBuffer) => void = () => {};
  constructor(
    private readonly device: GPUDevice,
    private readonly currentBatch: () => number,
    public options: PoolOptions = { maxPooledBytes: 2 ** 30 },
  ) {}

  /**
   * A storage of at least `byteSize` bytes. `fresh`: the buffer must not be used by unsubmitted commands
   * (the caller fills it with queue.writeBuffer); otherwise the first write must be a GPU command.
   */
  allocate(byteSize: number, label = 'tensor', fresh = false): Storage {
    const size = roundBytes(byteSize);
    const maxBuffer = this.device.limits.maxBufferSize;
    if (size > maxBuffer) {
      throw new GpuError(`allocate(${label}): ${size} bytes exceeds the device's maxBufferSize of ${maxBuffer} bytes`);
    }
    const recycled = fresh ? undefined : this.takeLowest(this.pending.get(size));
    let buffer = recycled;
    if (recycled) {
      this.stats.pendingRelease -= size;
    } else {
      buffer = this.takeLowest(this.free_.get(size));
      if (buffer) {
        this.stats.pooled -= size;
        this.stats.pooledBuffers--;
      } else {
        buffer = this.device.createBuffer({ size, usage: STORAGE_USAGE, label });
      }
    }
    this.stats.live += size;
    this.stats.liveBuffers++;
    const storage = new Storage(buffer!, size, this, this.bufferId(buffer!));
    // Still used by the batch's earlier commands: released again before the flush, it must wait for it.
    if (recycled) storage.usedInBatch = this.currentBatch();
    return storage;
  }

  private bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 0;
  private bufferId(b: GPUBuffer): number {
    let id = this.bufferIds.get(b);
    if (id === undefined) this.bufferIds.set(b, (id = this.nextBufferId++));
    return id;
  }
  /** The oldest buffer of a list: which buffer an op gets then depends on which are free, not on the order they were freed. */
  private takeLowest(list: GPUBuffer[] | undefined): GPUBuffer | undefined {
    if (!list?.length) return undefined;
    let best = 0;
    for (let i = 1; i < list.length; i++) if (this.bufferId(list[i]) < this.bufferId(list[best])) best = i;
    const b = list[best];
    list[best] = list[list.length - 1];
    list.pop();
    return b;
  }

  /** Called by Storage when its last reference goes. */
  free(storage: Storage): void {
    this.stats.live -= storage.byteSize;
    this.stats.liveBuffers--;
    if (storage.usedInBatch === this.currentBatch()) {
      let list = this.pending.get(storage.byteSize);
      if (!list) this.pending.set(storage.byteSize, (list = []));
      list.push(storage.buffer);
      this.stats.pendingRelease += storage.byteSize;
    } else {
      this.toPool(storage.buffer, storage.byteSize);
    }
  }

  /** After a submit: everything pending may be reused. */
  onSubmitted(): void {
    const pending = this.pending;
    this.pending = new Map();
    for (const [size, buffers] of pending) {
      for (const b of buffers) {
        this.stats.pendingRelease -= size;
        this.toPool(b, size);
      }
    }
  }

  private toPool(buffer: GPUBuffer, size: number): void {
    if (this.stats.pooled + size > this.options.maxPooledBytes) {
      this.onDestroy(buffer);
      buffer.destroy();
      return;
    }
    let list = this.free_.get(size);
    if (!list) this.free_.set(size, (list = []));
    list.push(buffer);
    this.stats.pooled += size;
    this.stats.pooledBuffers++;
  }

  /** Destroys every pooled buffer (for example between NAS trials whose shapes differ). */
  trim(): void {
    for (const list of this.free_.values()) {
      for (const b of list) {
        this.onDestroy(b);
        b.destroy();
      }
    }
    this.free_.clear();
    this.stats.pooled = 0;
    this.stats.pooledBuffers = 0;
  }

  memory(): MemoryInfo {
    const s = this.stats;
    return { ...s, allocated: s.live + s.pooled + s.pendingRelease };
  }
}
