// Per-kernel GPU time from timestamp queries: in profiling mode every dispatch gets its own compute pass
// with timestampWrites, the queries are resolved at each submit and read back asynchronously.
// Timestamps are in nanoseconds; on lavapipe they are the CPU's clock, so they measure the real work.

export interface KernelTime {
  kernel: string;
  calls: number;
  totalMs: number;
}

const CAPACITY = 2048; // dispatches per submit (WebGPU allows 4096 queries per set: two per dispatch)

export class KernelProfiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolveBuffer: GPUBuffer;
  private names: string[] = [];
  private readonly pending: Promise<void>[] = [];
  private readonly totals = new Map<string, { calls: number; ns: bigint }>();

  constructor(private readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2 * CAPACITY });
    this.resolveBuffer = device.createBuffer({
      size: 16 * CAPACITY,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
  }

  /** Whether another dispatch fits before the next submit. */
  get full(): boolean {
    return this.names.length >= CAPACITY;
  }

  /** Timestamp writes for the next dispatch's pass. */
  next(kernel: string): GPUComputePassTimestampWrites {
    const i = this.names.length;
    this.names.push(kernel);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Records the resolve of this batch's queries into `encoder` (call before finish). */
  resolve(encoder: GPUCommandEncoder): void {
    const n = this.names.length;
    if (!n) return;
    const staging = this.device.createBuffer({ size: 16 * n, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolveBuffer, 0);
    encoder.copyBufferToBuffer(this.resolveBuffer, 0, staging, 0, 16 * n);
    const names = this.names;
    this.names = [];
    this.pending.push(
      // Mapping waits for the submit that follows; the promise settles once the times are known.
      Promise.resolve().then(async () => {
        await staging.mapAsync(GPUMapMode.READ);
        const t = new BigUint64Array(staging.getMappedRange());
        names.forEach((name, k) => {
          const entry = this.totals.get(name) ?? { calls: 0, ns: 0n };
          entry.calls++;
          entry.ns += t[2 * k + 1] > t[2 * k] ? t[2 * k + 1] - t[2 * k] : 0n;
          this.totals.set(name, entry);
        });
        staging.unmap();
        staging.destroy();
      }),
    );
  }

  /** Kernel times so far, slowest first. */
  async report(): Promise<KernelTime[]> {
    await Promise.all(this.pending.splice(0));
    return [...this.totals]
      .map(([kernel, v]) => ({ kernel, calls: v.calls, totalMs: Number(v.ns) / 1e6 }))
      .sort((a, b) => b.totalMs - a.totalMs);
  }

  reset(): void {
    this.totals.clear();
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolveBuffer.destroy();
  }
}

/** A table of kernel times for the console. */
export function formatKernelTimes(times: KernelTime[], top = 25): string {
  const total = times.reduce((s, t) => s + t.totalMs, 0);
  const lines = times.slice(0, top).map(
    (t) => `${t.totalMs.toFixed(1).padStart(9)} ms ${((100 * t.totalMs) / total).toFixed(1).padStart(5)}%  ${String(t.calls).padStart(6)}x  ${t.kernel}`,
  );
  return [`${total.toFixed(1).padStart(9)} ms total GPU time in ${times.reduce((s, t) => s + t.calls, 0)} dispatches`, ...lines].join('\n');
}
