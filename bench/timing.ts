// fna-webgpu/bench: time GPU work recorded through the engine, or any WGSL compute shader.
//
// Every measurement separates the cold call (first call: pipeline compile, allocation, upload) from warm
// runs after a warm-up, and reports the median with its spread (min, p10, p90, max) per call.
//
// Two clocks:
//  - 'gpu-timestamp' where the adapter has the `timestamp-query` feature: a run's calls are recorded with
//    submission held back (WorkDriver.hold), then an empty compute pass that writes a timestamp is
//    submitted, then the recorded work, then a pass that writes the end timestamp. So the time is the GPU's
//    own: neither recording nor submission gaps count (while the driver records, the GPU has nothing queued
//    past the first marker; a marker submitted before recording would count the recording too).
//    A driver that cannot hold back its submits (hold is optional) is measured as it submits.
//  - 'wall' otherwise: performance.now() around recording plus `await sync()` (queue.onSubmittedWorkDone).
// Fast work is repeated inside one measured run (callsPerRun) until a run lasts `minRunMs`. Before the
// measured runs, unmeasured ones run for `warmupMs` (steady state: lavapipe measured the first ~100 ms of a
// repeated mixed op at up to 2x its later per-call time).
import { Kernel, type UniformValues } from '../engine/kernel.ts';
import { runtime, sync } from '../engine/runtime.ts';
import { tidy } from '../engine/scope.ts';
import { allocate, type Tensor } from '../engine/tensor.ts';

export type Clock = 'gpu-timestamp' | 'wall';

export interface TimingOptions {
  /** Warm calls after the cold one, not measured (default 2). */
  warmup?: number;
  /** Measured runs (default 10). */
  runs?: number;
  /**
   * Unmeasured runs, like measured ones, for at least this long before measuring (default 250 ms): a
   * software adapter runs the first ~100 ms of repeated work up to 2x slower than its steady state.
   */
  warmupMs?: number;
  /** Repeat the work inside a run until one run lasts at least this long (default 25 ms). */
  minRunMs?: number;
  /** Force a clock; 'auto' (default) uses GPU timestamps when the adapter has them. */
  clock?: 'auto' | Clock;
}

export interface Spread {
  minMs: number;
  p10Ms: number;
  p90Ms: number;
  maxMs: number;
}

export interface Timing extends Spread {
  clock: Clock;
  /** First call, wall clock, including pipeline compilation. */
  coldMs: number;
  /** Median per call over the warm runs. */
  medianMs: number;
  runs: number;
  callsPerRun: number;
  /** Per-call time of each run, in run order. */
  samplesMs: number[];
}

/** Percentile by linear interpolation between order statistics (p in [0, 1]). */
export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return NaN;
  const at = (sorted.length - 1) * p;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

export function summarize(samplesMs: readonly number[]): Spread & { medianMs: number } {
  const s = [...samplesMs].sort((a, b) => a - b);
  return { medianMs: percentile(s, 0.5), minMs: s[0], p10Ms: percentile(s, 0.1), p90Ms: percentile(s, 0.9), maxMs: s[s.length - 1] };
}

/**
 * How many times longer a call of \`a\` took than one of \`b\`, from per-run samples measured together by
 * \`timeWorks\` (run i of each sits next to run i of the other in time): the median of the runs' ratios.
 * A machine that drifts, or flips between speeds, slows both runs of a pair alike, where a ratio of medians
 * can set one side's fast runs against the other's slow ones. Samples that do not pair (other lengths) give
 * the ratio of the medians.
 */
export function pairedTimeRatio(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length || a.length === 0) return summarize(a).medianMs / summarize(b).medianMs;
  return percentile(a.map((t, i) => t / b[i]).sort((x, y) => x - y), 0.5);
}

export function hasGpuTimestamps(): boolean {
  return runtime().ctx.features.has('timestamp-query');
}

/** How a timing drives GPU work: the engine's ops, or a peer library on the same device (bench/peers). */
export interface WorkDriver {
  /** Records one call's work (it may stay unsubmitted until `flush`). */
  call(): void;
  /** Submits everything recorded so far. */
  flush(): void;
  /** Resolves once the submitted work is done; throws GPU errors. */
  settle(): Promise<void>;
  /** While on, recorded work stays unsubmitted until `flush`. Throws if that could not be kept. */
  hold?(on: boolean): void;
  /** A running count of what limits a held run (the engine: uniform-ring bytes taken). */
  usage?(): number;
  /** How many calls that each add `usagePerCall` to `usage()` one held run may record. */
  heldCalls?(usagePerCall: number): number;
}

/** The engine as a driver: `record` runs in a tidy scope per call, so its tensors are released. */
export function engineDriver(record: () => unknown): WorkDriver {
  let threshold = 0;
  let submits = 0;
  return {
    call: () =>
      tidy(() => {
        record();
      }),
    flush: () => runtime().queue.flush(),
    settle: () => sync(),
    hold: (on) => {
      const queue = runtime().queue;
      if (on) {
        [threshold, queue.flushThreshold] = [queue.flushThreshold, Number.MAX_SAFE_INTEGER];
        submits = queue.stats.submits;
        return;
      }
      queue.flushThreshold = threshold;
      if (queue.stats.submits !== submits) {
        throw new Error('timing: the engine submitted while a run was held (its uniform ring filled); time fewer calls per run');
      }
    },
    usage: () => runtime().queue.stats.uniformBytes,
    // A margin of 10% under the ring's capacity.
    heldCalls: (perCall) => Math.floor((0.9 * runtime().queue.uniformCapacity) / Math.max(perCall, 1)),
  };
}

function callTimes(driver: WorkDriver, calls: number): void {
  for (let i = 0; i < calls; i++) driver.call();
}

class TimestampBracket {
  private readonly querySet: GPUQuerySet;
  private readonly resolved: GPUBuffer;
  private readonly readback: GPUBuffer;
  constructor(private readonly device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: 2, label: 'bench-timestamps' });
    this.resolved = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    this.readback = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  private marker(index: 0 | 1): GPUCommandEncoder {
    const encoder = this.device.createCommandEncoder({ label: 'bench-marker' });
    const timestampWrites: GPUComputePassTimestampWrites =
      index === 0 ? { querySet: this.querySet, beginningOfPassWriteIndex: 0 } : { querySet: this.querySet, endOfPassWriteIndex: 1 };
    encoder.beginComputePass({ timestampWrites }).end();
    return encoder;
  }

  /** GPU milliseconds between the two markers around `record`'s work (see the header). */
  async measure(driver: WorkDriver, calls: number): Promise<number> {
    driver.flush();
    const held = Boolean(driver.hold);
    if (held) {
      driver.hold!(true);
      try {
        callTimes(driver, calls);
      } finally {
        driver.hold!(false);
      }
      this.device.queue.submit([this.marker(0).finish()]);
    } else {
      this.device.queue.submit([this.marker(0).finish()]);
      callTimes(driver, calls);
    }
    driver.flush();
    const end = this.marker(1);
    end.resolveQuerySet(this.querySet, 0, 2, this.resolved, 0);
    end.copyBufferToBuffer(this.resolved, 0, this.readback, 0, 16);
    this.device.queue.submit([end.finish()]);
    await this.readback.mapAsync(GPUMapMode.READ);
    const [t0, t1] = new BigInt64Array(this.readback.getMappedRange().slice(0));
    this.readback.unmap();
    await driver.settle(); // surfaces any GPU error raised by the work
    return Number(t1 - t0) / 1e6;
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolved.destroy();
    this.readback.destroy();
  }
}

/**
 * Times `record`, a function that records GPU work through the engine (e.g. `() => matmul(a, b)`);
 * tensors it creates are disposed after each call.
 */
export function timeGpu(record: () => unknown, opts: TimingOptions = {}): Promise<Timing> {
  return timeWork(engineDriver(record), opts);
}

/** Times the work of any driver (the engine's, or a peer library's on the same device). */
export async function timeWork(driver: WorkDriver, opts: TimingOptions = {}): Promise<Timing> {
  return (await timeWorks([driver], opts))[0];
}

/**
 * Times several drivers doing the same work: each gets its cold call and warm-up in turn, then their
 * measured runs alternate, so background load hits them alike and their ratio stays fair.
 */
export async function timeWorks(drivers: WorkDriver[], opts: TimingOptions = {}): Promise<Timing[]> {
  const { warmup = 2, runs = 10, minRunMs = 25, warmupMs = 250 } = opts;
  const clock: Clock = opts.clock === 'wall' || !hasGpuTimestamps() ? 'wall' : 'gpu-timestamp';
  const timed = async (driver: WorkDriver, calls: number) => {
    const t0 = performance.now();
    callTimes(driver, calls);
    driver.flush();
    await driver.settle();
    return performance.now() - t0;
  };
  const prepared: { driver: WorkDriver; coldMs: number; callsPerRun: number; samplesMs: number[] }[] = [];
  for (const driver of drivers) {
    driver.flush();
    await driver.settle();
    const before = driver.usage?.() ?? 0;
    const coldMs = await timed(driver, 1);
    let lastMs = coldMs;
    for (let i = 0; i < warmup; i++) lastMs = await timed(driver, 1);
    const perCall = ((driver.usage?.() ?? 0) - before) / (1 + warmup);
    const heldCap = clock === 'gpu-timestamp' && driver.heldCalls ? Math.max(1, driver.heldCalls(perCall)) : 1000;
    const callsPerRun = Math.max(1, Math.min(1000, heldCap, Math.ceil(minRunMs / Math.max(lastMs, 1e-3))));
    prepared.push({ driver, coldMs, callsPerRun, samplesMs: [] });
  }
  const bracket = clock === 'gpu-timestamp' ? new TimestampBracket(runtime().ctx.device) : null;
  const run = (p: (typeof prepared)[number]) => (bracket ? bracket.measure(p.driver, p.callsPerRun) : timed(p.driver, p.callsPerRun));
  try {
    const warmStart = performance.now();
    while (performance.now() - warmStart < warmupMs) for (const p of prepared) await run(p);
    for (let r = 0; r < runs; r++) {
      for (const p of prepared) p.samplesMs.push((await run(p)) / p.callsPerRun);
    }
  } finally {
    bracket?.destroy();
  }
  return prepared.map(({ coldMs, callsPerRun, samplesMs }) => ({ clock, coldMs, runs, callsPerRun, samplesMs, ...summarize(samplesMs) }));
}

export interface ShaderSpec {
  /** Names the shader in errors and pipeline caches. */
  name: string;
  /**
   * A compute shader in the engine's convention: storage bindings 0..n-1 in group 0, then at most one
   * uniform struct at binding n (see docs/writing-ops.md).
   */
  wgsl: string;
  /** Each storage variable the shader declares: a tensor, or a byte size to allocate for the run. */
  bindings: Record<string, Tensor | number>;
  uniforms?: UniformValues;
  workgroups: [number, number?, number?];
}

/**
 * One dispatch of a user WGSL compute shader as a driver (for `timeWorks`, e.g. alternating with another);
 * buffers given as byte sizes are allocated here and freed by `dispose`.
 */
export function shaderWork(spec: ShaderSpec): { driver: WorkDriver; dispose(): void } {
  // The pipeline cache is keyed by name: the source's hash keeps two shaders of one name apart.
  const kernel = new Kernel(`${spec.name}#${hashString(spec.wgsl)}`, spec.wgsl);
  const owned: Tensor[] = [];
  const storages = Object.fromEntries(
    Object.entries(spec.bindings).map(([name, b]) => {
      if (typeof b !== 'number') return [name, b.storage];
      const t = allocate([Math.ceil(b / 4)]);
      owned.push(t);
      return [name, t.storage];
    }),
  );
  const [x, y = 1, z = 1] = spec.workgroups;
  return {
    driver: engineDriver(() => kernel.run(storages, spec.uniforms ?? {}, [x, y, z])),
    dispose: () => {
      for (const t of owned) t.dispose();
    },
  };
}

/** Times one dispatch of a user WGSL compute shader. Buffers given as byte sizes are allocated and freed here. */
export async function timeShader(spec: ShaderSpec, opts: TimingOptions = {}): Promise<Timing> {
  const work = shaderWork(spec);
  try {
    return await timeWork(work.driver, opts);
  } finally {
    work.dispose();
  }
}

function hashString(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}
