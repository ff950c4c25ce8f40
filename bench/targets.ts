// The targets of issue #7, checked against one run's rows, each miss with the measurement (from the same
// run) that shows what limits it.
import type { BenchRow, KernelProfile } from './suite.ts';
import { pairedTimeRatio } from './timing.ts';

/**
 * Tensor-sized streams each dispatch of the mixed op moves (K = 7; 0: one invocation, next to nothing): the
 * forward is mixed_probs and one mixed_sum over the 7 candidates and out; the backward adds the candidate
 * gradients (dy in, 6 + 1 out) and the dots (dy and 6 + 1 candidates in), in chunks under WebGPU's 8
 * storage bindings, each chunk reading dy again, and mixed_alpha_grad.
 */
export const MIXED_OP_MOVED = { fwd: [0, 8], fwdBwd: [0, 8, 7, 2, 7, 2, 0] };

/**
 * Tensor-sized streams a batch-norm kernel moves (kernels/batchnorm.ts, batchnorm-channel.ts), by the name
 * before its variant: partial statistics read x; the apply reads x and writes y; the one-invocation-a-channel
 * forward reads x twice (statistics, then the apply) and writes y; the backward's partial sums read dy and x,
 * the gradient to x reads them again and writes dx; its one-invocation-a-channel pass does both. Anything
 * else (a finalize over per-channel partials) moves next to nothing.
 */
const BN_KERNEL_STREAMS: Record<string, number> = {
  bn_stats_partial: 1, bn_apply: 2, bn_channel_forward: 3, bn_grad_partial: 2, bn_input_grad: 3, bn_channel_backward: 5,
};

/** Streams moved by each dispatch of a profiled batch-norm call, in the profile's order. */
export function batchNormDispatchStreams(kernels: { kernel: string; calls: number }[]): number[] {
  return kernels.flatMap((k) => Array<number>(k.calls).fill(BN_KERNEL_STREAMS[k.kernel.split('[')[0]] ?? 0));
}

export interface TargetRow {
  row: BenchRow;
  measured: number;
  met: boolean;
  /** The lowest and highest value over the row's runs (per-run fractions or speed-ups), where it has them. */
  runRange?: [number, number];
  /** A GFLOP/s miss that runs at or above our matmul on the same pass's own GEMM shape. */
  atGemmShape?: boolean;
  /**
   * A miss that is not \`adapterBound\` (we run more than 10% behind the limit probes), though the fastest of
   * them still misses the target: the target is beyond this adapter for this work either way. The probe's
   * value and our time as a multiple of its.
   */
  limitBelowTarget?: { value: number; ratio: number };
  /**
   * A miss whose limit this run measured on the adapter itself: the copy kernel moving the same bytes stays
   * below the target, or the peer already runs so close to our ceiling that the speed-up would need more
   * than 100% of it. Misses without it are ours to fix.
   */
  adapterBound?: boolean;
}

export interface TargetCheck {
  target: string;
  /** How a row's measured number is shown: a fraction of a ceiling or a speed-up. */
  kind: 'fraction' | 'speedup';
  threshold: number;
  rows: TargetRow[];
  /** Markdown lines explaining the misses with measurements from the same run. */
  limits: string[];
}

/** Bytes moved under which a copy's time is mostly its dispatch's fixed costs on lavapipe (~0.1 ms against ~4 GB/s). */
const SMALL_COPY_BYTES = 4 * 2 ** 20;

const isProbe = (r: BenchRow) => r.name.startsWith('probe');

/**
 * How many times \`probe\`'s time \`row\` takes, run by run (\`pairedTimeRatio\`): this machine flips between a
 * fast and a slow mode about 2x apart within seconds. Rows without samples (from an older results file)
 * fall back to the ratio of their medians.
 */
export function timeRatio(row: BenchRow, probe: BenchRow): number {
  const [a, b] = [row.samplesMs, probe.samplesMs];
  return a && b ? pairedTimeRatio(a, b) : row.medianMs / probe.medianMs;
}

/** "1.04x": a time ratio, said as run by run when the rows have paired runs. */
const ratioText = (row: BenchRow, probe: BenchRow) =>
  `${timeRatio(row, probe).toFixed(2)}x ${row.samplesMs && probe.samplesMs ? 'its time run by run' : 'its median time'}`;
const pct = (v: number) => `${(100 * v).toFixed(0)}%`;
const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** A row's target value in each of its runs: its anchored fractions, or tfjs's time over ours run by run. */
function perRun(r: BenchRow, kind: TargetCheck['kind']): number[] | undefined {
  if (kind === 'fraction') return r.fractionRuns;
  const [ours, theirs] = [r.samplesMs, r.peer?.samplesMs];
  return ours && theirs && ours.length === theirs.length ? ours.map((t, i) => theirs[i] / t) : undefined;
}

function check(target: string, kind: TargetCheck['kind'], threshold: number, rows: BenchRow[]): TargetCheck {
  const measured = (r: BenchRow) => (kind === 'fraction' ? r.fraction : r.speedup?.warm) ?? NaN;
  const checked = rows.filter((r) => Number.isFinite(measured(r))).map((row): TargetRow => {
    const runs = perRun(row, kind);
    return { row, measured: measured(row), met: measured(row) >= threshold, ...(runs?.length ? { runRange: [Math.min(...runs), Math.max(...runs)] } : {}) };
  });
  return { target, kind, threshold, rows: checked, limits: [] };
}

/** Rows of `suite` measured on the same shape as `r` whose name starts with `prefix`. */
const probesFor = (rows: BenchRow[], r: BenchRow, prefix: string) => rows.filter((p) => p.suite === r.suite && p.shape === r.shape && p.name.startsWith(prefix));

/** The speed-up a peer comparison would need, as a fraction of our ceiling: above 100% it cannot be met here. */
function neededFraction(r: BenchRow, factor: number): number | null {
  if (!r.peer || r.fraction === null || !r.speedup) return null;
  const peerFraction = r.fraction / r.speedup.warm;
  return factor * peerFraction;
}

/**
 * The most any of our GEMM-shaped rows (matmul, dense and pointwise conv, their probes) reached in this run,
 * as a fraction of `ceiling` (at least 1): our own blocked kernels can outrun the best square matmul (the
 * pointwise kernel does), so a peer target is beyond the adapter only past what we have shown it can do.
 * Depthwise rows are left out: they reuse each load across the taps, so their GFLOP/s say nothing of a GEMM.
 * So are Winograd rows (`effective`): they count multiply-adds they never do.
 */
function bestShown(all: BenchRow[], ceiling: string | null | undefined): { fraction: number; row: BenchRow | null } {
  let best: { fraction: number; row: BenchRow | null } = { fraction: 1, row: null };
  for (const r of all) {
    const gemm = (r.suite === 'matmul' || r.suite === 'conv') && !r.effective;
    if (gemm && r.ceiling === ceiling && (r.fraction ?? 0) > best.fraction) best = { fraction: r.fraction!, row: r };
  }
  return best;
}

function speedupLimits(c: TargetCheck, all: BenchRow[], profiles: KernelProfile[]): string[] {
  return c.rows
    .filter((t) => !t.met)
    .map((t) => {
      const { row } = t;
      const need = neededFraction(row, c.threshold);
      const best = bestShown(all, row.ceiling);
      const shown = best.row ? `our fastest row in this run (${best.row.name}, ${best.row.shape}) reached ${pct(best.fraction)}` : `the ceiling is 100%`;
      t.adapterBound = need !== null && need > best.fraction;
      const room = need === null ? '' : t.adapterBound
        ? ` ${c.threshold}x would need ${pct(need)} of ${row.ceiling}, and ${shown}: beyond what this adapter has shown.`
        : ` ${c.threshold}x would need ${pct(need)} of ${row.ceiling} and we run at ${pct(row.fraction!)}, while ${shown}: this is our kernel, not the adapter.`;
      const profile = profileText(row, profiles);
      return `- ${row.name} (${row.shape}): ours ${ms(row.medianMs)} ms, tfjs ${ms(row.peer!.medianMs)} ms = ${row.speedup!.warm.toFixed(2)}x; ` +
        `tfjs runs at ${pct((row.fraction ?? 0) / row.speedup!.warm)} of ${row.ceiling}.${room}${profile ? ` ${profile}` : ''}`;
    });
}

function memoryLimits(c: TargetCheck, all: BenchRow[], profiles: KernelProfile[]): string[] {
  return c.rows
    .filter((t) => !t.met)
    .map((t) => {
      const { row } = t;
      const parts = [`- ${row.name} (${row.shape}): ${row.value.toFixed(2)} GB/s = ${pct(row.fraction!)} of copy.`];
      // A copy timed in the same alternation as this row where the suite made one, else the shape's copy.
      const copy = all.find((p) => p.suite === row.suite && p.shape === row.shape && p.name === `probe: copy of the same bytes as ${row.name}`) ??
        probesFor(all, row, 'probe: copy')[0];
      if (copy) {
        const reach = copy.fraction ?? 0;
        t.adapterBound = reach < c.threshold;
        const interleaved = copy.name.endsWith(` as ${row.name}`) ? ', timed alternating with it,' : '';
        parts.push(
          `A copy kernel moving the same bytes${interleaved} reaches ${pct(reach)} (${ms(copy.medianMs)} ms)` +
            (t.adapterBound
              ? `: ${pct(c.threshold)} of copy GB/s was beyond the adapter while this row ran (${copy.value * copy.medianMs * 1e6 < SMALL_COPY_BYTES ? 'at this size fixed per-dispatch costs dominate' : 'at this size, a slower stretch of the machine than when the ceiling was measured'}), and we reach ${pct(row.fraction! / reach)} of that copy.`
              : `; we reach ${pct(row.fraction! / reach)} of that copy.`),
        );
      }
      // The probes that time what this work costs at best on the adapter (the least kernel, copies in our dispatches).
      const limits: { value: number; ratio: number }[] = [];
      const hand = all.find((p) => p.suite === row.suite && p.shape === row.shape && p.name.startsWith('probe: hand-written') && p.name.endsWith(` as ${row.name}`));
      if (hand) {
        limits.push({ value: hand.fraction ?? 0, ratio: timeRatio(row, hand) });
        const atHand = timeRatio(row, hand) <= 1.1;
        const handBound = atHand && (hand.fraction ?? 0) < c.threshold;
        if (handBound) t.adapterBound = true;
        parts.push(
          `The least kernel for this op (${hand.name.replace(/^probe: /, '').replace(/ as .*$/, '')}: ${hand.note}), on the same tensors and timed alternating with it, ` +
            `reaches ${pct(hand.fraction ?? 0)} (${ms(hand.medianMs)} ms): ` +
            (handBound
              ? `we are within 10% of it (${ms(row.medianMs)} ms, ${ratioText(row, hand)}), so the loads and stores the op needs, not our kernel, are the limit on this adapter.`
              : atHand
                ? `we are within 10% of it (${ms(row.medianMs)} ms, ${ratioText(row, hand)}).`
                : `our kernel takes ${ms(row.medianMs)} ms, ${ratioText(row, hand)}.`),
        );
      }
      if (row.name.startsWith('batch norm')) {
        // Forward: x read for the statistics and again for the apply, y written. Backward: x and dy read for
        // the sums and again for dx, dx written. The row counts each tensor once.
        const [counted, moved] = row.name.includes('bwd') ? [5, 8] : [2, 3];
        parts.push(
          `Our passes move ${moved} tensor-sized streams for the ${counted} counted (x${row.name.includes('bwd') ? ' and dy' : ''} read twice), ` +
            `so at copy speed they reach ${pct(counted / moved)} of copy unless the second read hits the cache.`,
        );
        const profile = profiles.find((p) => p.title === `${row.name} ${row.shape}`);
        const why = ': batch statistics are known only after a pass over every element, so each tensor is read twice';
        const limit = profile && movedProbeText(row, all, batchNormDispatchStreams(profile.kernels), why, c.threshold, parts);
        if (limit) {
          limits.push(limit);
          if (limit.adapterBound) t.adapterBound = true;
        }
      }
      if (row.name.startsWith('mixed op K=7')) {
        const dispatches = row.name.includes('bwd') ? MIXED_OP_MOVED.fwdBwd : MIXED_OP_MOVED.fwd;
        const streams = dispatches.reduce((a, b) => a + b, 0);
        const counted = row.name.includes('bwd') ? 23 : 8;
        parts.push(
          `Our passes move ${streams} tensor-sized streams for the ${counted} counted in ${dispatches.length} dispatches` +
            (streams > counted ? ' (dy read once per chunk).' : '.'),
        );
        const why = ' (the softmax needs its own dispatch: 7 candidates and the output fill the sum\'s 8 storage bindings)';
        const limit = movedProbeText(row, all, dispatches, why, c.threshold, parts);
        if (limit) {
          limits.push(limit);
          if (limit.adapterBound) t.adapterBound = true;
        }
      }
      const fastest = limits.reduce<{ value: number; ratio: number } | null>((f, l) => (!f || l.value > f.value ? l : f), null);
      if (!t.adapterBound && fastest && fastest.value < c.threshold) {
        t.limitBelowTarget = fastest;
        parts.push(
          `${limits.length > 1 ? `The fastest of these limit probes reaches ${pct(fastest.value)}` : `That limit probe reaches ${pct(fastest.value)}`}, ` +
            `below ${pct(c.threshold)}: the target is beyond this adapter for this work, and our kernel takes ${fastest.ratio.toFixed(2)}x that probe's time run by run.`,
        );
      }
      const profile = profileText(row, profiles);
      if (profile) parts.push(profile);
      return parts.join(' ');
    });
}

/** "Kernel profile (...)": the row's profiled call, its three costliest kernels; '' without a profile. */
function profileText(row: BenchRow, profiles: KernelProfile[]): string {
  const profile = profiles.find((p) => p.title === `${row.name} ${row.shape}`);
  if (!profile) return '';
  const total = profile.kernels.reduce((s, k) => s + k.totalMs, 0);
  const top = profile.kernels.slice(0, 3).map((k) => `${k.kernel} ${ms(k.totalMs)} ms`).join(', ');
  return `Kernel profile (${ms(total)} ms of GPU time, each kernel in its own pass): ${top}.`;
}

/**
 * The sentence on a row's "copy of the bytes moved" probe (copies moving each of our dispatches' streams,
 * in as many dispatches, timed alternating with the row), pushed to `parts`; null without the probe. Its
 * \`adapterBound\` when the row is within 10% of that probe and the probe itself misses the threshold: the limit
 * is the adapter's, for this work.
 */
function movedProbeText(
  row: BenchRow, all: BenchRow[], dispatches: number[], why: string, threshold: number, parts: string[],
): { adapterBound: boolean; value: number; ratio: number } | null {
  const name = `probe: copy of the bytes moved, in ${dispatches.length} dispatches as ${row.name}`;
  const passes = all.find((p) => p.suite === row.suite && p.shape === row.shape && p.name === name);
  if (!passes) return null;
  const bound = passes.fraction ?? 0;
  const atLimit = timeRatio(row, passes) <= 1.1;
  parts.push(
    `Copies moving those streams in the same dispatches (${dispatches.join(' + ')} streams), timed alternating with it, take ` +
      `${ms(passes.medianMs)} ms (${pct(bound)} of copy on the row's count): ` +
      (atLimit
        ? `we are within 10% of that (${ms(row.medianMs)} ms, ${ratioText(row, passes)}), so moving these streams in these dispatches is the limit on this adapter${why}.`
        : `we take ${ms(row.medianMs)} ms, ${ratioText(row, passes)}.`),
  );
  return { adapterBound: atLimit && bound < threshold, value: bound, ratio: timeRatio(row, passes) };
}

function flopLimits(c: TargetCheck, all: BenchRow[], profiles: KernelProfile[]): string[] {
  return c.rows
    .filter((t) => !t.met)
    .map((t) => {
      const { row } = t;
      const mm = all.find((p) => p.suite === row.suite && p.shape === row.shape && p.name === `probe: matmul as ${row.name}`);
      t.atGemmShape = mm !== undefined && row.value >= mm.value;
      const same = mm
        ? ` Our matmul kernel on this pass's own GEMM shape (${mm.note}) reaches ${mm.value.toFixed(2)} GFLOP/s = ${pct(mm.fraction ?? 0)}` +
          (t.atGemmShape ? ': the conv already beats it, so what is missing is a faster kernel for GEMMs of this shape.' : '.')
        : '';
      const profile = profileText(row, profiles);
      return `- ${row.name} (${row.shape}): ${row.value.toFixed(2)} GFLOP/s = ${pct(row.fraction!)} of the best matmul.${same}${profile ? ` ${profile}` : ''}`;
    });
}

/**
 * Sums a profile's kernel time into kinds both libraries share. Batch norm, element-wise ops, reductions and
 * the optimizer go together: tfjs builds batch-norm statistics, its gradient and SGD from element-wise
 * and reduction kernels.
 */
export function categorize(p: KernelProfile): Record<string, number> {
  const cats: [string, RegExp][] = [
    ['depthwise conv', /depthwise/i],
    ['dense / pointwise conv, matmul', /conv|matmul|pointwise/i],
  ];
  const out: Record<string, number> = { total: 0 };
  for (const k of p.kernels) {
    const cat = cats.find(([, re]) => re.test(k.kernel))?.[0] ?? 'batch norm, element-wise, reductions, optimizer';
    out[cat] = (out[cat] ?? 0) + k.totalMs;
    out.total += k.totalMs;
  }
  return out;
}

function trainLimits(c: TargetCheck, profiles: KernelProfile[]): string[] {
  return c.rows
    .filter((t) => !t.met)
    .flatMap(({ row }) => {
      const title = `${row.name.replace(/ step$/, '')} ${row.shape} step`;
      const ours = profiles.find((p) => p.title === title && p.library === 'ours');
      const theirs = profiles.find((p) => p.title === title && p.library !== 'ours');
      const head = `- ${row.name} (${row.shape}): ours ${ms(row.medianMs)} ms, tfjs ${ms(row.peer!.medianMs)} ms = ${row.speedup!.warm.toFixed(2)}x; ` +
        `${c.threshold}x needs ${ms(row.peer!.medianMs / c.threshold)} ms.`;
      if (!ours || !theirs) return [head];
      const [a, b] = [categorize(ours), categorize(theirs)];
      const kinds = Object.keys(a).filter((k) => k !== 'total');
      const ratio = (k: string) => (b[k] ?? 0) / a[k];
      const batchNorm = ours.kernels.filter((k) => /batchnorm|^bn_/.test(k.kernel)).reduce((s, k) => s + k.totalMs, 0);
      const recording = `recording one step in JavaScript takes ${ms(ours.recordMs ?? NaN)} ms`;
      return [
        head,
        `  GPU kernel time of one profiled step, ours vs tfjs: ${ms(a.total)} vs ${ms(b.total)} ms (${(b.total / a.total).toFixed(2)}x); by kind: ` +
          `${kinds.map((k) => `${k} ${ms(a[k])} vs ${ms(b[k] ?? 0)} ms (${ratio(k).toFixed(1)}x)`).join('; ')}. ` +
          `Our batch-norm kernels alone take ${ms(batchNorm)} ms (${pct(batchNorm / a.total)}).`,
        a.total < row.medianMs
          ? `  Our kernels add up to ${ms(a.total)} ms of the ${ms(row.medianMs)} ms step; ${recording}` +
            (row.medianMs - a.total - (ours.recordMs ?? 0) > 0
              ? `; the other ${ms(row.medianMs - a.total - (ours.recordMs ?? 0))} ms are outside any kernel (submission, and gaps ` +
                `while the main thread and lavapipe's workers share the 2 cores).`
              : ', partly while earlier kernels already run (recording and GPU work overlap).')
          : `  Profiled one at a time our kernels add up to ${ms(a.total)} ms, more than the ${ms(row.medianMs)} ms batched step ` +
            `(profiling gives every dispatch its own pass): the step is kernel-bound; ${recording}.`,
        `  ${c.threshold}x overall needs about ${c.threshold}x in every kind of kernel; ${kinds.filter((k) => ratio(k) < c.threshold).length} of ` +
          `${kinds.length} kinds are below it.`,
      ];
    });
}

export function checkTargets(rows: BenchRow[], profiles: KernelProfile[]): TargetCheck[] {
  const measuredRows = rows.filter((r) => !isProbe(r));
  const memory = check(
    'memory-bound kernels (element-wise, batch norm, mixed op) >= 70% of copy GB/s',
    'fraction', 0.7, measuredRows.filter((r) => ['elementwise', 'batchnorm', 'mixedop'].includes(r.suite)),
  );
  memory.limits = memoryLimits(memory, rows, profiles);
  const convs = measuredRows.filter((r) => r.suite === 'conv');
  const flops = check('pointwise and dense conv >= 80% of our best matmul GFLOP/s', 'fraction', 0.8, convs);
  flops.limits = flopLimits(flops, rows, profiles);
  const convPeer = check('pointwise and dense conv >= 2x tfjs-webgpu', 'speedup', 2, convs);
  convPeer.limits = speedupLimits(convPeer, rows, profiles);
  const grads = measuredRows.filter((r) => r.suite === 'depthwise' || (r.suite === 'conv' && / grad [xw]$/.test(r.name)));
  const depthwise = check('depthwise k3/k5/k7 forward and all conv gradients (depthwise, pointwise, dense) >= 2x tfjs-webgpu', 'speedup', 2, grads);
  depthwise.limits = speedupLimits(depthwise, rows, profiles);
  const train = check('MobileNetV2 training step >= 5x tfjs-webgpu', 'speedup', 5, measuredRows.filter((r) => r.suite === 'train'));
  train.limits = trainLimits(train, profiles);
  return [memory, flops, convPeer, depthwise, train];
}
