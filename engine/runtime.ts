// The engine's process-wide state: device, buffer pool, command queue and pipeline cache.
// `init()` is the only async step; every op after it records work synchronously.
import { getGpu, onShutdown, shutdown as shutdownDevice, type DeviceOptions, type GpuContext } from './device/device.ts';
import { BufferPool, type MemoryInfo } from './device/buffers.ts';
import { CommandQueue } from './device/queue.ts';
import { PipelineCache } from './device/pipelines.ts';

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

/** Submits recorded work and waits for the GPU; throws any GPU error raised meanwhile. */
export async function sync(): Promise<void> {
  await runtime().queue.sync();
}
