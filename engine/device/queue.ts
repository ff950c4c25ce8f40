// Records many dispatches into one command encoder and compute pass, and submits them together.
// Uniforms of a batch are packed into one CPU staging area and uploaded with a single writeBuffer just
// before the submit; each dispatch binds its own 256-byte-aligned slice.
// createBindGroup is the costliest call of a dispatch (about 50 us on lavapipe, more than everything else
// the dispatch does), so bind groups are cached by layout, uniform slot and buffers: a training step
// records the same dispatches in the same order, so its slots repeat and, once the pool settles, so do its
// buffers. The pool reports destroyed buffers so no cached group outlives one. (A dynamic uniform offset
// would make the slot irrelevant, but lavapipe then runs each step 25% slower.)
import { noteKernel, settleGpuChecks, throwPendingGpuError } from './device.ts';
import type { BufferPool, Storage } from './buffers.ts';
import { KernelProfiler } from './profiler.ts';

export interface DispatchBinding {
  storage: Storage;
}

export interface QueueStats {
  dispatches: number;
  /** Dispatches that had to create their bind group (the rest found it in the cache). */
  bindGroupsCreated: number;
  /** Bytes of uniform-ring slots taken (a batch holds at most `uniformCapacity`). */
  uniformBytes: number;
  submits: number;
  readbacks: number;
}

const UNIFORM_SLOT_ALIGN = 256; // minUniformBufferOffsetAlignment on every adapter we know

export class CommandQueue {
  batchId = 0;
  /** Dispatches recorded since the last submit. */
  pendingDispatches = 0;
  /** Flush automatically after this many dispatches. */
  flushThreshold = 256;
  readonly stats: QueueStats = { dispatches: 0, bindGroupsCreated: 0, uniformBytes: 0, submits: 0, readbacks: 0 };
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private uniformStaging: Uint8Array;
  private uniformBuffer: GPUBuffer;
  private uniformUsed = 0;
  /** getBindGroupLayout is a native call that makes a new wrapper each time: ask once per pipeline. */
  private layouts = new WeakMap<GPUComputePipeline, { layout: GPUBindGroupLayout; id: number }>();
  private nextLayoutId = 0;
  /** The pipeline last set on the open pass (a pass keeps it between dispatches). */
  private passPipeline: GPUComputePipeline | null = null;
  private pipelinePass: GPUComputePassEncoder | null = null;
  private bindGroups = new BindGroupCache();
  pool!: BufferPool;
  /** Set by `startProfiling()`: every dispatch is timed with timestamp queries (and gets its own pass). */
  profiler: KernelProfiler | null = null;

  constructor(
    private readonly device: GPUDevice,
    readonly uniformCapacity = 256 * 1024,
  ) {
    this.uniformStaging = new Uint8Array(uniformCapacity);
    this.uniformBuffer = this.makeUniformBuffer();
  }

  private makeUniformBuffer(): GPUBuffer {
    return this.device.createBuffer({
      size: this.uniformCapacity,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'uniform-ring',
    });
  }

  private ensurePass(): GPUComputePassEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    if (!this.pass) this.pass = this.encoder.beginComputePass();
    return this.pass;
  }

  private endPass(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    return this.encoder;
  }

  /** Reserves a uniform slot of `size` bytes in this batch and returns its offset and the bytes to fill. */
  private reserveUniform(size: number): { offset: number; bytes: Uint8Array } {
    const slot = Math.ceil(size / UNIFORM_SLOT_ALIGN) * UNIFORM_SLOT_ALIGN;
    if (this.uniformUsed + slot > this.uniformCapacity) this.flush();
    const offset = this.uniformUsed;
    this.uniformUsed += slot;
    this.stats.uniformBytes += slot;
    return { offset, bytes: this.uniformStaging.subarray(offset, offset + size) };
  }

  dispatch(
    kernelName: string,
    pipeline: GPUComputePipeline,
    storages: Storage[],
    uniformBytes: Uint8Array | null,
    workgroups: [number, number, number],
  ): void {
    noteKernel(kernelName);
    // Reserve the uniform slot first: it may flush, and the storages must be marked with the batch that
    // really holds this dispatch (or a release before the next flush would pool a buffer still in use).
    const uniform = uniformBytes && this.reserveUniform(uniformBytes.byteLength);
    for (const s of storages) s.usedInBatch = this.batchId;
    if (uniformBytes && uniform) uniform.bytes.set(uniformBytes);
    const uniformSize = uniformBytes?.byteLength ?? 0;
    const uniformOffset = uniform?.offset ?? -1;
    let known = this.layouts.get(pipeline);
    if (!known) this.layouts.set(pipeline, (known = { layout: pipeline.getBindGroupLayout(0), id: this.nextLayoutId++ }));
    const key = bindGroupKey(known.id, storages, uniformOffset, uniformSize);
    let bindGroup = this.bindGroups.get(key);
    if (!bindGroup) {
      const entries: GPUBindGroupEntry[] = storages.map((s, i) => ({ binding: i, resource: { buffer: s.buffer, size: s.byteSize } }));
      if (uniform) entries.push({ binding: storages.length, resource: { buffer: this.uniformBuffer, offset: uniformOffset, size: uniformSize } });
      this.stats.bindGroupsCreated++;
      bindGroup = this.device.createBindGroup({ layout: known.layout, entries, label: kernelName });
      this.bindGroups.set(key, storages, bindGroup);
    }
    if (this.profiler?.full) this.flush();
    let pass: GPUComputePassEncoder;
    if (this.profiler) {
      const encoder = this.endPass();
      pass = this.pass = encoder.beginComputePass({ timestampWrites: this.profiler.next(kernelName) });
    } else {
      pass = this.ensurePass();
    }
    if (pass !== this.pipelinePass || pipeline !== this.passPipeline) pass.setPipeline(pipeline);
    this.pipelinePass = pass;
    this.passPipeline = pipeline;
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(workgroups[0], workgroups[1], workgroups[2]);
    this.stats.dispatches++;
    if (++this.pendingDispatches >= this.flushThreshold) this.flush();
  }

  copy(src: Storage, srcOffset: number, dst: Storage, dstOffset: number, size: number): void {
    src.usedInBatch = this.batchId;
    dst.usedInBatch = this.batchId;
    dst.version++;
    this.endPass().copyBufferToBuffer(src.buffer, srcOffset, dst.buffer, dstOffset, size);
    this.pendingDispatches++;
  }

  /** Submits everything recorded so far. */
  flush(): void {
    if (!this.encoder) {
      this.batchId++;
      this.pool.onSubmitted();
      return;
    }
    this.submit(this.finishEncoder());
  }

  private finishEncoder(): GPUCommandBuffer {
    const encoder = this.endPass();
    this.profiler?.resolve(encoder);
    return encoder.finish();
  }

  private submit(commands: GPUCommandBuffer): void {
    if (this.uniformUsed > 0) {
      this.device.queue.writeBuffer(this.uniformBuffer, 0, this.uniformStaging, 0, this.uniformUsed);
    }
    this.device.queue.submit([commands]);
    this.stats.submits++;
    this.encoder = null;
    this.uniformUsed = 0;
    this.pendingDispatches = 0;
    this.batchId++;
    this.pool.onSubmitted();
  }

  /**
   * Writes bytes into a storage through queue.writeBuffer. Queue writes run before anything still in the
   * encoder, so a storage the unsubmitted batch uses (or whose buffer it recycled) is flushed first.
   */
  write(storage: Storage, byteOffset: number, data: ArrayBufferView): void {
    if (storage.usedInBatch === this.batchId) this.flush();
    storage.version++;
    this.device.queue.writeBuffer(storage.buffer, byteOffset, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Copies bytes of a storage to the CPU. Submits pending work (once) together with the copy. */
  async read(storage: Storage, byteOffset: number, byteSize: number): Promise<ArrayBuffer> {
    const alignedOffset = byteOffset & ~3;
    const size = Math.ceil((byteOffset + byteSize - alignedOffset) / 4) * 4;
    const staging = this.device.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: 'readback',
    });
    storage.usedInBatch = this.batchId;
    this.endPass().copyBufferToBuffer(storage.buffer, alignedOffset, staging, 0, size);
    this.submit(this.finishEncoder());
    this.stats.readbacks++;
    try {
      await staging.mapAsync(GPUMapMode.READ);
    } catch (e) {
      await settleGpuChecks();
      throwPendingGpuError();
      throw e;
    }
    await settleGpuChecks();
    throwPendingGpuError();
    const start = byteOffset - alignedOffset;
    const out = staging.getMappedRange().slice(start, start + byteSize);
    staging.unmap();
    staging.destroy();
    return out;
  }

  /** Waits until the GPU has finished everything submitted so far, and surfaces any GPU error. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await settleGpuChecks();
    throwPendingGpuError();
  }

  /** The pool is about to destroy this buffer: forget every bind group that holds it. */
  forgetBuffer(buffer: GPUBuffer): void {
    this.bindGroups.forget(buffer);
  }

  destroy(): void {
    this.bindGroups.clear();
    this.uniformBuffer.destroy();
    this.profiler?.destroy();
  }
}

/**
 * Bind groups by (layout, uniform slot, buffers, sizes). Ids are per object (WeakMap), so a key never confuses two
 * buffers; each buffer lists the keys that hold it, for `forget`. Past `capacity` groups it starts over.
 */
/** Bind groups are keyed by layout, uniform slot and each storage's buffer and size. */
function bindGroupKey(layoutId: number, storages: Storage[], uniformOffset: number, uniformSize: number): string {
  let key = `${layoutId}|${uniformOffset}:${uniformSize}`;
  for (const s of storages) key += `|${s.bufferId}:${s.byteSize}`;
  return key;
}

class BindGroupCache {
  private groups = new Map<string, GPUBindGroup>();
  private keysByBuffer = new Map<GPUBuffer, string[]>();
  constructor(private readonly capacity = 8192) {}

  get(key: string): GPUBindGroup | undefined {
    return this.groups.get(key);
  }

  set(key: string, storages: Storage[], group: GPUBindGroup): void {
    if (this.groups.size >= this.capacity) this.clear();
    this.groups.set(key, group);
    for (const s of storages) {
      let keys = this.keysByBuffer.get(s.buffer);
      if (!keys) this.keysByBuffer.set(s.buffer, (keys = []));
      keys.push(key);
    }
  }

  forget(buffer: GPUBuffer): void {
    for (const key of this.keysByBuffer.get(buffer) ?? []) this.groups.delete(key);
    this.keysByBuffer.delete(buffer);
  }

  clear(): void {
    this.groups.clear();
    this.keysByBuffer.clear();
  }
}
