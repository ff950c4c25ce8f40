import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { add, fromArray, memory, relu, runtime, startProfiling, stopProfiling, sync } from '../engine/index.ts';

const run = promisify(execFile);

describe('device bring-up', () => {
  it('has an adapter with the limits and features we asked for', () => {
    const { ctx } = runtime();
    expect(ctx.limits.maxStorageBuffersPerShaderStage).toBeGreaterThanOrEqual(8);
    expect(ctx.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    for (const f of ['timestamp-query', 'shader-f16']) {
      // optional features are requested exactly when the adapter has them
      expect(ctx.features.has(f)).toBe([...ctx.device.features].includes(f));
    }
  });

  it('adds arrays on the GPU exactly as the CPU does, past 65535 workgroups', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.constantFrom(255, 256, 257, 65535 * 256 + 1)),
        fc.integer(),
        async (n, seed) => {
          const a = new Float32Array(n);
          const b = new Float32Array(n);
          for (let i = 0; i < n; i++) {
            a[i] = Math.fround(Math.sin(i + seed) * 100);
            b[i] = Math.fround(((i * 7919 + seed) % 1000) / 8);
          }
          const ta = fromArray(a);
          const tb = fromArray(b);
          const c = add(ta, tb);
          const out = await c.toArray();
          for (const t of [ta, tb, c]) t.dispose();
          let mismatch = -1;
          for (let i = 0; i < n && mismatch < 0; i++) if (out[i] !== Math.fround(a[i] + b[i])) mismatch = i;
          expect(mismatch).toBe(-1);
        },
      ),
      { numRuns: 40 },
    );
    await sync();
    expect(memory().live).toBe(0);
  });

  it('times kernels to the nanosecond, not rounded to Dawn\'s 65.5 us timestamp quantum', async () => {
    if (!runtime().ctx.features.has('timestamp-query')) {
      expect(() => startProfiling()).toThrow(/timestamp-query/);
      return;
    }
    const x = fromArray(new Float32Array(4096).fill(1));
    const totalsNs: number[] = [];
    for (let i = 0; i < 6; i++) {
      startProfiling();
      relu(x).dispose();
      const [t] = await stopProfiling();
      totalsNs.push(Math.round(t.totalMs * 1e6));
    }
    x.dispose();
    // With quantization every total is a multiple of 2^16 ns; without, six in a row would be a fluke.
    expect(totalsNs.some((ns) => ns % 65536 !== 0)).toBe(true);
  });
});

describe('fna CLI', () => {
  it('doctor prints the adapter and exits by itself', async () => {
    const { stdout } = await run('node', ['bin/fna.js', 'doctor'], { timeout: 60_000 });
    expect(stdout).toMatch(/^adapter\s+\S+/m);
    expect(stdout).toContain('matches the CPU');
  });

  it('an adapter that does not exist gives one clear sentence and a non-zero exit', async () => {
    const err = await run('node', ['bin/fna.js', 'doctor'], {
      timeout: 60_000,
      env: { ...process.env, FNA_ADAPTER: 'no-such-adapter-xyz' },
    }).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err).not.toBeNull();
    expect(err!.code).toBe(1);
    const ours = err!.stderr.split('\n').filter((l) => l.startsWith('fna '));
    expect(ours).toHaveLength(1);
    expect(ours[0]).toContain("adapter 'no-such-adapter-xyz'");
    expect(err!.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});
