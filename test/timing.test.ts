import { describe, expect, it } from 'vitest';
import { engineDriver, pairedTimeRatio, shaderWork, timeShader, timeWork, timeWorks } from '../bench/timing.ts';
import { fromArray, memory, neg, runtime } from '../engine/index.ts';

const busyWait = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

describe('bench timing API', () => {
  it('GPU-timestamp runs count the GPU work, not the JavaScript that records it', async () => {
    const x = fromArray(new Float32Array(256).fill(1));
    const driver = engineDriver(() => {
      busyWait(4); // recording that takes 4 ms of JavaScript per call
      return neg(x);
    });
    const t = await timeWork(driver, { warmup: 1, runs: 3, minRunMs: 20 });
    x.dispose();
    expect(t.clock).toBe(runtime().ctx.features.has('timestamp-query') ? 'gpu-timestamp' : 'wall');
    expect(t.callsPerRun).toBeGreaterThan(1);
    // One tiny dispatch per call: with timestamps far below the 4 ms each call spent recording; the wall
    // clock includes the recording by definition.
    if (t.clock === 'gpu-timestamp') expect(t.medianMs).toBeLessThan(2);
    else expect(t.medianMs).toBeGreaterThanOrEqual(4);
    expect(t.medianMs).toBeGreaterThan(0);
  });

  it('a held run that would overflow the uniform ring is cut to what the ring holds', async () => {
    const x = fromArray(new Float32Array(16).fill(1));
    // ~Thousands of tiny dispatches per 25 ms run on a fast adapter; the ring holds 1024 slots.
    const t = await timeWork(engineDriver(() => neg(x)), { warmup: 1, runs: 2, minRunMs: 200 });
    x.dispose();
    expect(t.callsPerRun).toBeLessThanOrEqual(Math.floor((0.9 * runtime().queue.uniformCapacity) / 256));
    expect(t.samplesMs.every((v) => v > 0)).toBe(true);
  });

  it('runs unmeasured runs for warmupMs before the measured ones, and none with warmupMs 0', async () => {
    const x = fromArray(new Float32Array(16).fill(1));
    const counted = async (warmupMs: number) => {
      let calls = 0;
      const driver = engineDriver(() => {
        calls++;
        return neg(x);
      });
      const t = await timeWork(driver, { warmup: 1, runs: 2, minRunMs: 1, warmupMs });
      // cold call + warm-up calls + measured runs; whatever is left ran in the warm-up runs
      return calls - 2 - t.runs * t.callsPerRun;
    };
    expect(await counted(0)).toBe(0);
    expect(await counted(50)).toBeGreaterThan(0);
    x.dispose();
  });

  it("times a user's WGSL shader and separates the cold call", async () => {
    const n = 1024;
    const src = fromArray(new Float32Array(n).fill(3));
    const t = await timeShader(
      {
        name: 'user_double',
        wgsl: /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < ${n}u) { dst[g.x] = 2.0 * src[g.x]; }
}`,
        bindings: { src, dst: n * 4 },
        workgroups: [n / 64],
      },
      { warmup: 1, runs: 3 },
    );
    src.dispose();
    expect(t.runs).toBe(3);
    expect(t.samplesMs).toHaveLength(3);
    expect(t.minMs).toBeLessThanOrEqual(t.medianMs);
    expect(t.medianMs).toBeLessThanOrEqual(t.maxMs);
    expect(t.coldMs).toBeGreaterThan(0);
  });

  it('gives a shader as a driver: two shaders timed alternating, the buffers it made freed by dispose', async () => {
    const n = 256;
    const src = fromArray(Float32Array.from({ length: n }, (_, i) => i));
    const before = memory().live;
    const shader = (name: string, factor: number) =>
      shaderWork({
        name,
        wgsl: /* wgsl */ `
@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
  if (g.x < ${n}u) { dst[g.x] = ${factor.toFixed(1)} * src[g.x]; }
}`,
        bindings: { src, dst: n * 4 },
        workgroups: [n / 64],
      });
    const [a, b] = [shader('user_times2', 2), shader('user_times3', 3)];
    expect(memory().live).toBe(before + 2 * n * 4);
    const [ta, tb] = await timeWorks([a.driver, b.driver], { warmup: 1, runs: 3 });
    expect([ta.runs, tb.runs]).toEqual([3, 3]);
    expect(ta.samplesMs).toHaveLength(3);
    expect(tb.samplesMs).toHaveLength(3);
    a.dispose();
    b.dispose();
    expect(memory().live).toBe(before);
    src.dispose();
  });
});

describe('paired time ratios', () => {
  it('takes the median of run-by-run ratios, so runs in a slow mode on both sides cancel', () => {
    // Runs 2-4 of a, and 3-4 of b, in a mode 2x slower: medians 2 vs 1 (2x); run by run 1.1, 1.1, 2.2, 1.1, 1.1.
    expect(pairedTimeRatio([1.1, 2.2, 2.2, 2.2, 1.1], [1, 1, 2, 2, 1])).toBeCloseTo(1.1, 12);
    expect(pairedTimeRatio([2, 4], [1, 1])).toBeCloseTo(3, 12);
  });

  it('falls back to the ratio of medians for samples that do not pair', () => {
    expect(pairedTimeRatio([1.1, 2.2, 2.2, 2.2], [1, 1, 2, 2, 1])).toBeCloseTo(2.2, 12);
  });
});
