// What a benchmark suite is: a named list of measurements, each turned into one result row. Suites are
// registered in bench/suites/index.ts and run in that order, so a later suite can use a ceiling an
// earlier one measured (element-wise GB/s as a fraction of the copy kernel's).
import type { CeilingTracker } from './ceilings.ts';
import type { TfjsPeer } from './peers/tfjs.ts';
import type { Spread, Timing } from './timing.ts';

export type Unit = 'GFLOP/s' | 'GB/s';

/** The same work in a peer library, timed in the same run on the same device and clock. */
export interface PeerTiming {
  library: string;
  clock: string;
  coldMs: number;
  medianMs: number;
  spread: Spread;
  runs: number;
  callsPerRun: number;
  /** Per-call time of each warm run, in run order (alternating with ours: run i of each side by side). */
  samplesMs?: number[];
}

export interface BenchRow {
  suite: string;
  name: string;
  shape: string;
  /** How the warm times were taken: GPU timestamps, wall clock, or benny's wall-clock samples. */
  clock: string;
  coldMs: number;
  medianMs: number;
  spread: Spread;
  runs: number;
  callsPerRun: number;
  /**
   * Per-call time of each warm run, in run order. Rows measured together alternate their runs, so run i of
   * one sits next to run i of the others in time (see `timeRatio` in bench/targets.ts).
   */
  samplesMs?: number[];
  value: number;
  unit: Unit;
  /** value / ceiling, where `ceiling` names the reference measured in the same run. */
  fraction: number | null;
  ceiling: string | null;
  /**
   * The ceiling's value for this row: its suite's best followed through the run, or for an anchored row
   * (\`checkMultiple\`) what its fraction implies for its median (bench/ceilings.ts).
   */
  ceilingValue?: number;
  /** The row's speed as a multiple of its ceiling's check kernel, timed alternating with it, run by run. */
  checkMultiple?: number;
  /** That multiple in each run (the median of these is \`checkMultiple\`). */
  checkMultipleRuns?: number[];
  /** The fraction in each run, where the row is anchored (\`checkMultipleRuns\` over the best kernel's multiple). */
  fractionRuns?: number[];
  note?: string;
  /**
   * The GFLOP/s count the direct algorithm's multiply-adds while the kernel does fewer (Winograd): a speed
   * relative to the direct algorithm, not what the adapter computed.
   */
  effective?: boolean;
  peer?: PeerTiming;
  /** Peer time / our time (above 1: we are faster), for the cold call and the warm median. */
  speedup?: { cold: number; warm: number };
}

/** Per-kernel GPU time of one call (engine profiler or tf.profile), for explaining a result. */
export interface KernelProfile {
  title: string;
  library: string;
  /** Wall time of the profiled call (kernels run one pass each while profiling, so it is slower). */
  wallMs: number;
  /** Ours: JavaScript time to record one unprofiled call (ops, autograd, dispatch encoding). */
  recordMs?: number;
  kernels: { kernel: string; calls: number; totalMs: number }[];
  /** Shown only where it explains a missed target, not in the report's profiles section. */
  brief?: boolean;
}

export interface BenchContext {
  quick: boolean;
  /** Reference throughputs measured in this run, by name (e.g. 'copy GB/s'), with their checks. */
  ceilings: CeilingTracker;
  /** The index of the running suite in the run (what a ceiling registered now belongs to). */
  suiteIndex: number;
  log(line: string): void;
  /** Kernel profiles taken by suites, reported under the targets they explain. */
  profiles: KernelProfile[];
  /** tfjs-webgpu on the engine's device, loaded on first use; null when disabled (--no-peer) or unavailable. */
  tfjs(): Promise<TfjsPeer | null>;
}

export interface Suite {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<BenchRow[]>;
}

/** A row from a timing; `work` is flops (GFLOP/s) or bytes moved (GB/s) per call. */
export function rowFrom(
  timing: Timing,
  fields: { suite: string; name: string; shape: string; work: number; unit: Unit; ceiling?: string; note?: string; effective?: boolean },
): BenchRow {
  const value = fields.work / (timing.medianMs * 1e6);
  return {
    suite: fields.suite,
    name: fields.name,
    shape: fields.shape,
    clock: timing.clock,
    coldMs: timing.coldMs,
    medianMs: timing.medianMs,
    spread: { minMs: timing.minMs, p10Ms: timing.p10Ms, p90Ms: timing.p90Ms, maxMs: timing.maxMs },
    runs: timing.runs,
    callsPerRun: timing.callsPerRun,
    samplesMs: timing.samplesMs,
    value,
    unit: fields.unit,
    fraction: null,
    ceiling: fields.ceiling ?? null,
    note: fields.note,
    ...(fields.effective ? { effective: true } : {}),
  };
}
