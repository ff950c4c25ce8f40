// The engine's process-wide state: device, buffer pool, command queue and pipeline cache.
// `init()` is the only async step; every op after it records work synchronously.
import { getGpu, onShutdown, shutdown as shutdownDevice, type DeviceOptions, type GpuContext } from './device/device.ts';
import { BufferPool, type MemoryInfo } from './device/buffers.ts';
import { CommandQueue } from './device/queue.ts';
import { PipelineCache } from './device/pipelines.ts';
import { KernelProfiler, type KernelTime } from './device/profiler.ts';
import { clearDerivedCache } from './derived.ts';

export interface Runtime {
  ctx: GpuContext;
  pool: BufferPool;
  queue: CommandQueue;
  pipelines: PipelineCache;
}

let current: Runtime | null = null;

export async function init(opts: DeviceOptions = {}): Promise<Runtime> {
  if (current) return current;
  const ctx = await getGpu(opts);
  if (current) return current;
  const queue = new CommandQueue(ctx.device);
  const pool = new BufferPool(ctx.device, () => queue.batchId);
  queue.pool = pool;
  pool.onDestroy = (buffer) => queue.forgetBuffer(buffer);
  current = { ctx, pool, queue, pipelines: new PipelineCache(ctx.device) };
  return current;
}

onShutdown(() => {
  if (!current) return;
  current.queue.flush();
  current.queue.destroy();
  current.pool.trim();
  current.pipelines.clear();
  current = null;
});

export function runtime(): Runtime {
  if (!current) throw new Error('fna-webgpu: the engine is not initialised; call `await init()` first');
  return current;
}

export function isInitialised(): boolean {
  return current !== null;
}

export async function shutdown(): Promise<void> {
  if (isInitialised()) clearDerivedCache();
  await shutdownDevice();
}

export function memory(): MemoryInfo {
  return runtime().pool.memory();
}

export function trimPool(): void {
  const rt = runtime();
  rt.queue.flush();
  rt.pool.trim();
}

/**
 * Times every dispatch from now on with GPU timestamp queries (each dispatch gets its own pass, so
 * batching is off while profiling). Needs the adapter's 'timestamp-query' feature.
 */
export function startProfiling(): void {
  const rt = runtime();
  if (!rt.ctx.features.has('timestamp-query')) throw new Error("startProfiling: the adapter has no 'timestamp-query' feature");
  rt.queue.flush();
  rt.queue.profiler ??= new KernelProfiler(rt.ctx.device);
}

/** Stops profiling and returns per-kernel GPU time, slowest first. */
export async function stopProfiling(): Promise<KernelTime[]> {
  const rt = runtime();
  const profiler = rt.queue.profiler;
  if (!profiler) return [];
  rt.queue.flush();
  rt.queue.profiler = null;
  const times = await profiler.report();
  profiler.destroy();
  return times;
}

/** Submits recorded work and waits for the GPU; throws any GPU error raised meanwhile. */
export async function sync(): Promise<void> {
  await runtime().queue.sync();
}
