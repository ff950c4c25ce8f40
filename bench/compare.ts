// One measurement of the same work in the engine and in tfjs-webgpu, timed in the same run on the same
// device with the same clock: the row's own timing is ours, `row.peer` is tfjs's.
import type { TensorContainer } from '@tensorflow/tfjs';
import { fromArray, type Tensor } from '../engine/index.ts';
import type { TfModule } from './peers/tfjs.ts';
import { rowFrom, type BenchContext, type BenchRow, type Unit } from './suite.ts';
import { engineDriver, pairedTimeRatio, timeWorks, type Timing, type TimingOptions } from './timing.ts';

/** The two input regimes of every kernel suite (issue #7): ImageNet-size batch 1, and 64x64 batch 8. */
export interface Regime {
  label: string;
  size: number;
  batch: number;
}

export function regimes(ctx: BenchContext): Regime[] {
  if (ctx.quick) return [{ label: '32x32 b2', size: 32, batch: 2 }];
  return [
    { label: '224x224 b1', size: 224, batch: 1 },
    { label: '64x64 b8', size: 64, batch: 8 },
  ];
}

/** Deterministic values in about [-1, 1]; the same array feeds both libraries. */
export function noise(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

export const engineTensor = (shape: number[], seed = 1): Tensor => fromArray(noise(shape.reduce((a, b) => a * b, 1), seed), shape);

/**
 * A measurement that explains a row (a copy of the same bytes, our matmul on the pass's GEMM shape), timed
 * in the same alternation as the row itself, so load on this machine hits both alike. Becomes a row named
 * `probe: ...` with the measured row's suite and shape.
 */
export interface Probe {
  name: string;
  work: number;
  unit: Unit;
  ceiling?: string;
  note?: string;
  /** Records the probe's work through the engine. */
  record: () => unknown;
}

export interface Measurement {
  suite: string;
  name: string;
  shape: string;
  /** FLOPs (GFLOP/s) or bytes (GB/s) per call. */
  work: number;
  unit: Unit;
  ceiling?: string;
  note?: string;
  /** See BenchRow.effective. */
  effective?: boolean;
  /** Records our work through the engine. */
  ours: () => unknown;
  /** The same work in tfjs, given the module; omitted where tfjs has no equivalent. */
  tfjs?: (tf: TfModule) => TensorContainer;
  /** Probes timed with ours and tfjs, their runs alternating (see Probe). */
  probes?: Probe[];
  opts?: TimingOptions;
}

/** Times ours and tfjs (when the peer is loaded and the measurement has a tfjs version), runs alternating. */
export async function measure(ctx: BenchContext, m: Measurement): Promise<BenchRow> {
  return (await measureWithProbes(ctx, m))[0];
}

/** As `measure`, and returns the probes' rows after the measured row. */
export async function measureWithProbes(ctx: BenchContext, m: Measurement): Promise<BenchRow[]> {
  const peer = m.tfjs ? await ctx.tfjs() : null;
  const tfjsWork = m.tfjs;
  const probes = m.probes ?? [];
  const theirsDriver = peer && tfjsWork ? [peer.driver(() => tfjsWork(peer.tf))] : [];
  // The ceiling's check kernel, where it is anchored, runs alternating with ours and the probes: each gets
  // its speed as a multiple of the check's, run by run (bench/ceilings.ts).
  const check = m.ceiling ? ctx.ceilings.checkWork(m.ceiling, ctx.suiteIndex) : undefined;
  const drivers = [engineDriver(m.ours), ...theirsDriver, ...probes.map((p) => engineDriver(p.record)), ...(check ? [check.driver] : [])];
  let timings: Timing[];
  try {
    timings = await timeWorks(drivers, m.opts);
  } finally {
    check?.dispose();
  }
  const [timing] = timings;
  const theirs = theirsDriver.length ? timings[1] : undefined;
  const checkTiming = check ? timings.at(-1)! : undefined;
  const anchor = (t: Timing, work: number, ceiling: string | undefined, r: BenchRow) => {
    if (check && checkTiming && ceiling === m.ceiling) {
      r.checkMultiple = work / check.work / pairedTimeRatio(t.samplesMs, checkTiming.samplesMs);
      if (t.samplesMs.length === checkTiming.samplesMs.length) {
        r.checkMultipleRuns = t.samplesMs.map((ms, i) => work / check.work / (ms / checkTiming.samplesMs[i]));
      }
    }
    return r;
  };
  const row = anchor(timing, m.work, m.ceiling, rowFrom(timing, m));
  if (peer && theirs) {
    row.peer = {
      library: `tfjs-webgpu ${peer.version}`,
      clock: theirs.clock,
      coldMs: theirs.coldMs,
      medianMs: theirs.medianMs,
      spread: { minMs: theirs.minMs, p10Ms: theirs.p10Ms, p90Ms: theirs.p90Ms, maxMs: theirs.maxMs },
      runs: theirs.runs,
      samplesMs: theirs.samplesMs,
      callsPerRun: theirs.callsPerRun,
    };
    row.speedup = { cold: theirs.coldMs / timing.coldMs, warm: theirs.medianMs / timing.medianMs };
  }
  const vs = row.speedup ? `, tfjs ${row.peer!.medianMs.toFixed(2)} ms (${row.speedup.warm.toFixed(2)}x)` : '';
  ctx.log(`${m.name} ${m.shape}: ${timing.medianMs.toFixed(2)} ms, ${row.value.toFixed(2)} ${m.unit}${vs}`);
  const probeRows = probes.map((p, i) => {
    const t = timings[1 + theirsDriver.length + i];
    return anchor(t, p.work, p.ceiling, rowFrom(t, { ...p, name: `probe: ${p.name}`, suite: m.suite, shape: m.shape }));
  });
  return [row, ...probeRows];
}

/** Runs `body` with tfjs tensors made by `make` (or none without the peer) and disposes them after. */
export async function withTfjs<T>(ctx: BenchContext, make: (tf: TfModule) => T, body: (made: T | null) => Promise<void>): Promise<void> {
  const peer = await ctx.tfjs();
  const made = peer ? make(peer.tf) : null;
  try {
    await body(made);
  } finally {
    if (peer && made) peer.tf.dispose(made as TensorContainer);
  }
}

/** Disposes engine tensors after `body`. */
export async function withTensors(tensors: Tensor[], body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } finally {
    for (const t of tensors) t.dispose();
  }
}

/** Drops the gradients backward accumulated into leaves, so repeated calls do not add them up. */
export function clearGrads(leaves: Tensor[]): void {
  for (const t of leaves) {
    t.grad?.dispose();
    t.grad = null;
  }
}
