import { describe, expect, it } from 'vitest';
import type { BenchRow } from '../bench/suite.ts';
import { checkTargets } from '../bench/targets.ts';

const CEILING = 'best matmul GFLOP/s';

/** A conv row at `fraction` of the matmul ceiling (5 GFLOP/s), `speedup` times tfjs. */
function convRow(name: string, fraction: number, speedup: number, extra: Partial<BenchRow> = {}): BenchRow {
  const medianMs = 10 / fraction;
  const spread = { minMs: medianMs, p10Ms: medianMs, p90Ms: medianMs, maxMs: medianMs };
  return {
    suite: 'conv', name, shape: 's', clock: 'wall', coldMs: medianMs, medianMs, spread, runs: 5, callsPerRun: 1,
    value: 5 * fraction, unit: 'GFLOP/s', fraction, ceiling: CEILING,
    peer: { library: 'tfjs', clock: 'wall', coldMs: 1, medianMs: medianMs * speedup, spread, runs: 5, callsPerRun: 1 },
    speedup: { cold: 1, warm: speedup },
    ...extra,
  };
}

describe('bench targets: the spread over a row\'s runs', () => {
  it('gives the lowest and highest run: anchored fractions, and tfjs over ours run by run', () => {
    const row = convRow('pointwise fwd', 0.78, 2.5, { samplesMs: [10, 12, 8], fractionRuns: [0.7, 0.78, 0.91] });
    row.peer!.samplesMs = [30, 24, 24];
    const [flops, peer] = checkTargets([row], []).filter((c) => c.target.startsWith('pointwise'));
    expect(flops.rows[0].runRange).toEqual([0.7, 0.91]);
    expect(peer.rows[0].runRange).toEqual([2, 3]);
    const unpaired = convRow('pointwise fwd', 0.78, 2.5, { samplesMs: [10, 12] });
    unpaired.peer!.samplesMs = [30, 24, 24];
    expect(checkTargets([unpaired], []).filter((c) => c.target.startsWith('pointwise')).map((c) => c.rows[0].runRange)).toEqual([undefined, undefined]);
  });
});

describe('bench targets: a GFLOP/s miss', () => {
  it('names the kernels of its profiled call, when the run profiled it', () => {
    const miss = convRow('stem grad x', 0.73, 9);
    const profile = {
      title: 'stem grad x s', library: 'ours', wallMs: 9, brief: true,
      kernels: [{ kernel: 'conv2d_pointwise[ob8]', calls: 1, totalMs: 4.9 }, { kernel: 'col2im[k3x3]', calls: 1, totalMs: 1.7 }],
    };
    const flops = (profiles: typeof profile[]) => checkTargets([miss], profiles).find((c) => c.target.includes('80%'))!;
    expect(flops([profile]).limits[0]).toContain('Kernel profile (6.60 ms of GPU time, each kernel in its own pass): conv2d_pointwise[ob8] 4.90 ms, col2im[k3x3] 1.70 ms.');
    expect(flops([]).limits[0]).not.toContain('Kernel profile');
  });
});

const peerTarget = (rows: BenchRow[]) => checkTargets(rows, []).find((c) => c.target.includes('>= 2x tfjs') && c.target.startsWith('pointwise'))!;

describe('bench targets: what limits a miss against the peer', () => {
  it('calls a 2x miss the adapter\'s only when 2x would need more than any real GEMM row reached', () => {
    // tfjs at 92% / 1.8 = 51% of the ceiling: 2x needs 102%.
    const miss = convRow('pointwise fwd', 0.92, 1.8);
    const bound = peerTarget([miss, convRow('pointwise grad x', 0.95, 3)]).rows.find((r) => r.row === miss)!;
    expect(bound.met).toBe(false);
    expect(bound.adapterBound).toBe(true);
    const ours = peerTarget([miss, convRow('pointwise grad x', 1.3, 3)]).rows.find((r) => r.row === miss)!;
    expect(ours.adapterBound).toBe(false);
  });

  it('ignores Winograd rows, whose GFLOP/s count multiply-adds they never do', () => {
    const miss = convRow('pointwise fwd', 0.92, 1.8);
    const winograd = convRow('dense 3x3 grad x', 4.7, 3, { effective: true });
    const check = peerTarget([miss, winograd, convRow('pointwise grad x', 0.95, 3)]);
    expect(check.rows.find((r) => r.row === miss)!.adapterBound).toBe(true);
    expect(check.limits.join('\n')).toContain('the ceiling is 100%');
    expect(check.limits.join('\n')).not.toContain('dense 3x3');
  });
});

/** A memory-bound row of the elementwise suite taking `medianMs` at 10 GB counted per ms / 10 GB/s ceiling. */
function memRow(name: string, medianMs: number, extra: Partial<BenchRow> = {}): BenchRow {
  const spread = { minMs: medianMs, p10Ms: medianMs, p90Ms: medianMs, maxMs: medianMs };
  const value = 10 / medianMs;
  return {
    suite: 'elementwise', name, shape: 's', clock: 'wall', coldMs: medianMs, medianMs, spread, runs: 10, callsPerRun: 1,
    value, unit: 'GB/s', fraction: value / 10, ceiling: 'copy GB/s', ...extra,
  };
}

describe('bench targets: what limits a memory-bound miss', () => {
  const memory = (rows: BenchRow[]) => checkTargets(rows, []).find((c) => c.target.startsWith('memory-bound'))!;

  it("is the op's when we are within 10% of the least kernel for it and that kernel misses too", () => {
    const miss = memRow('exp', 1 / 0.64);
    const copy = memRow('probe: copy of the same bytes as exp', 1 / 0.94);
    const hand = memRow('probe: hand-written WGSL vec4 exp as exp', 1 / 0.66, { note: 'one load, exp(av), one store: nothing else' });
    const c = memory([miss, copy, hand]);
    expect(c.rows).toHaveLength(1);
    expect(c.rows[0].adapterBound).toBe(true);
    expect(c.limits[0]).toContain('not our kernel');
  });

  it('is ours when the least kernel for the op reaches the target, or we are more than 10% behind it', () => {
    const miss = memRow('exp', 1 / 0.64);
    const copy = memRow('probe: copy of the same bytes as exp', 1 / 0.94);
    const fast = memRow('probe: hand-written WGSL vec4 exp as exp', 1 / 0.75, { note: 'n' });
    expect(memory([miss, copy, fast]).rows[0].adapterBound).toBe(false);
    const slow = memRow('probe: hand-written WGSL vec4 exp as exp', 1 / 0.69, { note: 'n' });
    const far = memRow('exp', 1 / 0.55);
    const c = memory([far, copy, slow]);
    expect(c.rows[0].adapterBound).toBe(false);
    expect(c.limits[0]).toContain('1.25x its median time');
    // The least kernel still misses the target: the target is beyond the adapter, though we are 25% behind it.
    expect(c.rows[0].limitBelowTarget?.value).toBeCloseTo(0.69, 12);
    expect(c.rows[0].limitBelowTarget?.ratio).toBeCloseTo(0.69 / 0.55, 12);
    expect(c.limits[0]).toContain('the target is beyond this adapter for this work');
    expect(memory([miss, copy, fast]).rows[0].limitBelowTarget).toBeUndefined();
  });

  it('compares alternated runs run by run, so a slow stretch in some of our runs is not read as our kernel', () => {
    // Our runs 3-5 and the probe's runs 4-5 fell in the machine's slow mode: the medians pair our slow
    // runs with the probe's fast ones (2.07x), while each run is within 4% of the probe's run beside it.
    const ours = [1.56, 1.56, 3.1, 3.1, 3.1];
    const least = [1.5, 1.5, 1.5, 3.0, 3.0];
    const miss = memRow('exp', 3.1, { samplesMs: ours });
    const copy = memRow('probe: copy of the same bytes as exp', 1 / 0.94);
    const hand = memRow('probe: hand-written WGSL vec4 exp as exp', 1.5, { note: 'n', samplesMs: least });
    const c = memory([miss, copy, hand]);
    expect(c.rows[0].adapterBound).toBe(true);
    expect(c.limits[0]).toContain('1.04x its time run by run');
    const unpaired = memory([memRow('exp', 3.1, { samplesMs: ours.slice(1) }), copy, hand]);
    expect(unpaired.rows[0].adapterBound).toBe(false);
  });
});
