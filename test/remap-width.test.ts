// Width remapping across whole state dicts (issue #6 items 5, 6; spec §1.6 items 7-9), including the
// importance-based ablations of spec §1.4.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StateDict } from '../engine/host.ts';
import { type MobileNetArch, stateDictShapes } from '../fna/arch/index.ts';
import { remap } from '../fna/remap/index.ts';
import { mobilenetPairArb } from './helpers/arbitraries.ts';
import { bitwiseEqual, randomSeed, randomStateDict } from './helpers/random.ts';

describe('width at network level', () => {
  it('copies the overlap, zero-fills uncovered conv entries and keeps BN init values (item 5, spec items 7, 8)', () => {
    const defaults: Record<string, number> = { bn_weight: 1, bn_bias: 0, bn_mean: 0, bn_var: 1, linear: 0 };
    fc.assert(fc.property(mobilenetPairArb, fc.integer(), fc.boolean(), ([seedArch, target], s, withInit) => {
      const seed = randomSeed(seedArch, s);
      const shapes = stateDictShapes(target, 'target');
      const targetInit = withInit ? randomStateDict(shapes, s ^ 0xbeef) : undefined;
      const { stateDict, report } = remap(seed, target, { targetInit });
      const mismatches: string[] = [];
      for (const e of report.entries) {
        const t = stateDict.get(e.key)!;
        const spec = shapes.get(e.key)!;
        if (e.source === null || t.shape.length === 0) continue;
        const src = seed.stateDict.get(e.source)!;
        if (t.shape.length === 1) {
          for (let j = 0; j < t.shape[0]; j++) {
            const init = targetInit ? targetInit.get(e.key)!.data[j] : defaults[spec.init];
            if (t.data[j] !== (j < src.shape[0] ? src.data[j] : init)) mismatches.push(`${e.key}[${j}]`);
          }
          continue;
        }
        // Rank 2 is [O, I]; rank 4 is [O, I/g, k, k] with the min(k_s, k_t) window centred in both.
        const [o, i, kt = 1] = t.shape;
        const ks = src.shape[2] ?? 1;
        const m = Math.min(ks, kt);
        const [offT, offS] = [(kt - m) / 2, (ks - m) / 2];
        for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let y = 0; y < kt; y++) for (let x = 0; x < kt; x++) {
          const inWindow = a < src.shape[0] && b < src.shape[1] && y >= offT && y < offT + m && x >= offT && x < offT + m;
          const expected = inWindow ? src.data[((a * src.shape[1] + b) * ks + y - offT + offS) * ks + x - offT + offS] : 0;
          if (t.data[((a * i + b) * kt + y) * kt + x] !== expected) mismatches.push(`${e.key}[${a},${b},${y},${x}]`);
        }
      }
      expect(mismatches).toEqual([]);
    }), { numRuns: 200 });
  });
});

/** Expected kept hidden channels: first-k, or the top-q by the ablation's score in ascending index order. */
function expectedHidden(by: 'first-k' | 'bn' | 'std' | 'l1', seed: StateDict, prefix: string, q: number): number[] {
  const gamma = seed.get(`${prefix}.op.1.weight`)!.data;
  if (by === 'first-k') return Array.from({ length: q }, (_, i) => i);
  const expand = seed.get(`${prefix}.op.0.weight`)!;
  const cin = expand.shape[1];
  const score = (r: number) => {
    const row = Array.from(expand.data.subarray(r * cin, (r + 1) * cin));
    if (by === 'l1') return row.reduce((a, v) => a + Math.abs(v), 0);
    const mean = row.reduce((a, v) => a + v, 0) / cin;
    return Math.sqrt(row.reduce((a, v) => a + (v - mean) ** 2, 0) / cin);
  };
  const scores = Array.from({ length: gamma.length }, (_, r) => (by === 'bn' ? Math.abs(gamma[r]) : score(r)));
  const order = scores.map((_, r) => r).sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, q).sort((a, b) => a - b);
}

/** For each target row of a [rows, ...] tensor, the seed row it equals on `compare` (or -1). */
function decodeRows(rows: number, seedRows: number, compare: (t: number, s: number) => boolean): number[] {
  return Array.from({ length: rows }, (_, t) => {
    for (let s = 0; s < seedRows; s++) if (compare(t, s)) return s;
    return -1;
  });
}

describe('MBConv expansion change (item 6, spec item 9)', () => {
  const caseArb = fc.record({
    cin: fc.integer({ min: 1, max: 6 }), cout: fc.integer({ min: 1, max: 6 }),
    es: fc.integer({ min: 3, max: 6 }), et: fc.integer({ min: 2, max: 5 }),
    ks: fc.constantFrom(3, 5), kt: fc.constantFrom(3, 5, 7),
    by: fc.constantFrom('first-k', 'bn', 'std', 'l1'), seed: fc.integer(),
  }).filter((c) => c.et < c.es);

  const archWith = (cin: number, cout: number, op: string): MobileNetArch => ({
    kind: 'mobilenetv2', inputChannels: 3, stem: { out: cin, stride: 2 },
    stages: [{ in: cin, out: cin, stride: 1, ops: ['k3_e1'] }, { in: cin, out: cout, stride: 2, ops: [op] }],
    head: null, numClasses: null, bnEps: 1e-3,
  });

  it('keeps one hidden index set in expand outputs, BN1, depthwise, BN2 and project inputs', () => {
    fc.assert(fc.property(caseArb, (c) => {
      const seedArch = archWith(c.cin, c.cout, `k${c.ks}_e${c.es}`);
      const seed = randomSeed(seedArch, c.seed);
      const { stateDict: out, report } = remap(seed, archWith(c.cin, c.cout, `k${c.kt}_e${c.et}`), { widthBy: c.by });
      const S = (j: number, p = 'weight') => seed.stateDict.get(`blocks.2.layers.0.op.${j}.${p}`)!;
      const T = (j: number, p = 'weight') => out.get(`blocks.2.layers.0.op.${j}.${p}`)!;
      const hs = c.cin * c.es;
      const ht = c.cin * c.et;
      const keep = expectedHidden(c.by, seed.stateDict, 'blocks.2.layers.0', ht);
      const row = (t: { data: ArrayLike<number> }, width: number, r: number) => Array.from(t.data).slice(r * width, (r + 1) * width);
      const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
      const bnRow = (j: number, get: typeof S, r: number) => ['weight', 'bias', 'running_mean', 'running_var'].map((p) => get(j, p).data[r]);
      const m = Math.min(c.ks, c.kt);
      const window = (t: { data: ArrayLike<number> }, k: number, r: number) => {
        const off = (k - m) / 2;
        const v: number[] = [];
        for (let y = 0; y < m; y++) for (let x = 0; x < m; x++) v.push(t.data[r * k * k + (y + off) * k + x + off]);
        return v;
      };
      const decoded = {
        expand: decodeRows(ht, hs, (t, s) => same(row(T(0), c.cin, t), row(S(0), c.cin, s))),
        bn1: decodeRows(ht, hs, (t, s) => same(bnRow(1, T, t), bnRow(1, S, s))),
        depthwise: decodeRows(ht, hs, (t, s) => same(window(T(3), c.kt, t), window(S(3), c.ks, s))),
        bn2: decodeRows(ht, hs, (t, s) => same(bnRow(4, T, t), bnRow(4, S, s))),
        project: decodeRows(ht, hs, (t, s) => same(
          Array.from({ length: c.cout }, (_, o) => T(6).data[o * ht + t]), Array.from({ length: c.cout }, (_, o) => S(6).data[o * hs + s]))),
      };
      for (const kept of Object.values(decoded)) expect(kept).toEqual(keep);
      const selected = c.by !== 'first-k' && keep.some((v, i) => v !== i) ? c.by : undefined;
      for (const j of [0, 3, 6]) expect(report.entries.find((e) => e.key === `blocks.2.layers.0.op.${j}.weight`)!.selection).toBe(selected);
      expect(T(6).shape).toEqual([c.cout, ht, 1, 1]);
      for (const p of ['weight', 'bias', 'running_mean', 'running_var']) expect(bitwiseEqual(T(7, p), S(7, p))).toBe(true);
    }), { numRuns: 300 });
  });
});
