// Whole-state-dict properties of MobileNetV2 remapping (issue #6 items 1, 2, 7, 8; spec §1.6 items 1, 2,
// 10-12).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { StateDict } from '../engine/host.ts';
import { mobilenetV2Arch, searchSpacePreset, sortSkips, stageDepths, stateDictShapes, superArch } from '../fna/arch/index.ts';
import { depthSourceLayer, parseMobileNetKey, remap } from '../fna/remap/index.ts';
import { mobilenetArchArb, mobilenetPairArb, mobilenetSingleArb, searchSpaceArb } from './helpers/arbitraries.ts';
import { bitwiseEqual, randomSeed as seedOf } from './helpers/random.ts';

function cloneStateDict(sd: StateDict): StateDict {
  return new Map([...sd].map(([k, t]) => [k, { ...t, shape: [...t.shape], data: t.data.slice() }]));
}

/** Seed layer index of a remapped layer tensor, parsed from its source key. */
function sourceLayer(source: string): { block: number; layer: number } {
  const k = parseMobileNetKey(source);
  if (k.kind !== 'layer') throw new Error(`not a layer key: ${source}`);
  return { block: k.block, layer: k.layer };
}

describe('identity and totality', () => {
  it('remapping into the seed arch reproduces every tensor bit for bit (item 1)', () => {
    fc.assert(fc.property(mobilenetSingleArb, fc.integer(), (arch, s) => {
      const seed = seedOf(arch, s);
      const { stateDict, report } = remap(seed, arch);
      expect([...stateDict.keys()]).toEqual([...seed.stateDict.keys()]);
      for (const [key, t] of stateDict) expect(bitwiseEqual(t, seed.stateDict.get(key)!)).toBe(true);
      expect(report.entries.every((e) => e.actions.length === 1 && e.actions[0] === 'copied' && e.source === e.key)).toBe(true);
      expect(report.unusedSeedKeys).toEqual([]);
    }), { numRuns: 200 });
  });

  it('is the identity on stock MobileNetV2 too', () => {
    const seed = seedOf(mobilenetV2Arch(), 1);
    const { stateDict } = remap(seed, mobilenetV2Arch());
    for (const [key, t] of stateDict) expect(bitwiseEqual(t, seed.stateDict.get(key)!)).toBe(true);
  });

  it('yields exactly the target keys, order, shapes and dtypes for any pair of valid archs, leaving the seed alone (item 7)', () => {
    fc.assert(fc.property(mobilenetPairArb, fc.integer(), ([seedArch, target], s) => {
      const seed = seedOf(seedArch, s);
      const before = cloneStateDict(seed.stateDict);
      const { stateDict, report } = remap(seed, target);
      const expected = stateDictShapes(target, 'target');
      expect([...stateDict.keys()]).toEqual([...expected.keys()]);
      for (const [key, spec] of expected) {
        const t = stateDict.get(key)!;
        expect(t.shape).toEqual(spec.shape);
        expect(t.dtype).toBe(spec.dtype);
        expect(t.data.length).toBe(spec.shape.reduce((a, b) => a * b, 1));
      }
      expect(report.entries.map((e) => e.key)).toEqual([...expected.keys()]);
      expect(JSON.parse(JSON.stringify(report))).toEqual(report);
      for (const [key, t] of before) expect(bitwiseEqual(seed.stateDict.get(key)!, t)).toBe(true);
    }), { numRuns: 250 });
  });
});

describe('depth (spec §1.1)', () => {
  it('maps target layers to [0..min(m,n)-1] ++ [n-1] x max(0, m-n) (item 2)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 }), (n, m) => {
      const expected = [...Array.from({ length: Math.min(m, n) }, (_, i) => i), ...new Array(Math.max(0, m - n)).fill(n - 1)];
      expect(Array.from({ length: m }, (_, l) => depthSourceLayer(l, n))).toEqual(expected);
    }), { numRuns: 200 });
  });

  it('every non-skip target layer reads seed layer min(l, n_b - 1) of the same block', () => {
    fc.assert(fc.property(mobilenetPairArb, fc.integer(), ([seedArch, target], s) => {
      const n = stageDepths(seedArch);
      const { report } = remap(seedOf(seedArch, s), target);
      for (const e of report.entries) {
        const k = parseMobileNetKey(e.key);
        if (k.kind !== 'layer' || e.source === null) continue;
        const src = sourceLayer(e.source);
        expect(src.block).toBe(k.block);
        expect(src.layer).toBe(Math.min(k.layer, n[k.block - 1] - 1));
      }
    }), { numRuns: 200 });
  });

  it('parses blocks and layers past 9 structurally (pitfall 1: blocks.1 vs blocks.10)', () => {
    const stages = Array.from({ length: 11 }, (_, i) => ({ in: i === 0 ? 4 : 3 + (i % 2), out: 3 + ((i + 1) % 2), stride: 1, ops: i === 0 ? ['k3_e1'] : new Array(i === 9 ? 12 : 2).fill('k3_e2') }));
    const seedArch = { kind: 'mobilenetv2' as const, inputChannels: 3, stem: { out: 4, stride: 2 }, stages, head: { out: 8 }, numClasses: 2, bnEps: 1e-3 };
    const target = { ...seedArch, stages: stages.map((st, i) => (i === 9 ? { ...st, ops: new Array(14).fill('k5_e2') } : st)) };
    const seed = seedOf(seedArch, 8);
    const { stateDict, report } = remap(seed, target);
    const source = (key: string) => report.entries.find((e) => e.key === key)!.source;
    expect(source('blocks.10.layers.11.op.3.weight')).toBe('blocks.10.layers.11.op.3.weight');
    expect(source('blocks.10.layers.13.op.3.weight')).toBe('blocks.10.layers.11.op.3.weight');
    expect(source('blocks.11.layers.1.op.0.weight')).toBe('blocks.11.layers.1.op.0.weight');
    expect(source('blocks.12.conv.0.weight')).toBe('blocks.12.conv.0.weight');
    expect(bitwiseEqual(stateDict.get('blocks.1.layers.0.op.0.weight')!, seed.stateDict.get('blocks.1.layers.0.op.0.weight')!)).toBe(true);
  });

  it('builds [A, skip, B, skip] as [A, B, skip, skip]: B reads seed layer min(1, n-1) (item 12)', () => {
    const seedArch = mobilenetV2Arch();
    const seed = seedOf(seedArch, 3);
    const target = mobilenetV2Arch();
    target.stages[3].ops = ['k5_e6', 'skip', 'k7_e3', 'skip'];
    const { stateDict } = remap(seed, target);
    expect(stateDict.has('blocks.4.layers.2.op.0.weight')).toBe(false);
    const b = stateDict.get('blocks.4.layers.1.op.7.running_mean')!;
    expect(bitwiseEqual(b, seed.stateDict.get('blocks.4.layers.1.op.7.running_mean')!)).toBe(true);
    fc.assert(fc.property(mobilenetPairArb, fc.integer(), ([seedArch2, t], s) => {
      const seed2 = seedOf(seedArch2, s);
      const interleaved = remap(seed2, t).stateDict;
      const sorted = remap(seed2, sortSkips(t)).stateDict;
      expect([...interleaved.keys()]).toEqual([...sorted.keys()]);
      for (const [key, tensor] of interleaved) expect(bitwiseEqual(tensor, sorted.get(key)!)).toBe(true);
    }), { numRuns: 200 });
  });
});

describe('super net (item 8, spec item 11)', () => {
  it('remaps every candidate of layer (b, l) from seed layer min(l, n_b - 1); skip adds no keys', () => {
    const superCase = fc.record({ stageCount: fc.integer({ min: 2, max: 5 }), head: fc.boolean(), classifier: fc.boolean() })
      .chain((f) => fc.tuple(mobilenetArchArb(f), mobilenetArchArb(f), searchSpaceArb(f.stageCount - 1)));
    fc.assert(fc.property(superCase, fc.integer(), ([seedArch, base, space], s) => {
      const seed = seedOf(seedArch, s);
      const net = superArch(space, base);
      const { stateDict, report } = remap(seed, net);
      const expected = stateDictShapes(base, 'super', space);
      expect([...stateDict.keys()]).toEqual([...expected.keys()]);
      for (const [key, spec] of expected) expect(stateDict.get(key)!.shape).toEqual(spec.shape);
      expect([...stateDict.keys()].some((k) => k.includes('skip'))).toBe(false);
      const withoutSkip = { ...space, stages: space.stages.map((st) => ({ ...st, normalOps: st.normalOps.filter((o) => o !== 'skip') })) };
      if (withoutSkip.stages.every((st) => st.layers === 1 || st.normalOps.length > 0)) {
        expect([...stateDictShapes(base, 'super', withoutSkip).keys()]).toEqual([...expected.keys()]);
      }
      const n = stageDepths(seedArch);
      const sourcesByLayer = new Map<string, Set<string>>();
      for (const e of report.entries) {
        const k = parseMobileNetKey(e.key);
        if (k.kind === 'bare-block' && e.source !== null) expect(e.source.startsWith('blocks.1.layers.0.op.')).toBe(true);
        if (k.kind !== 'layer' || e.source === null) continue;
        expect(k.prim).not.toBeNull();
        const src = sourceLayer(e.source);
        expect(src).toEqual({ block: k.block, layer: Math.min(k.layer, n[k.block - 1] - 1) });
        const id = `${k.block}.${k.layer}`;
        if (!sourcesByLayer.has(id)) sourcesByLayer.set(id, new Set());
        sourcesByLayer.get(id)!.add(`${src.block}.${src.layer}`);
      }
      for (const sources of sourcesByLayer.values()) expect(sources.size).toBe(1);
    }), { numRuns: 200 });
  });

  it('remaps stock MobileNetV2 into the detection super net like FNA', () => {
    const seed = seedOf(mobilenetV2Arch(), 5);
    const { stateDict, report } = remap(seed, superArch(searchSpacePreset('detection')));
    const dw = stateDict.get('blocks.3.layers.3._ops.k7_e3.op.3.weight')!;
    const seedDw = seed.stateDict.get('blocks.3.layers.2.op.3.weight')!;
    expect(dw.shape).toEqual([96, 1, 7, 7]);
    for (let c = 0; c < 96; c++) for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) {
      expect(dw.data[c * 49 + (y + 2) * 7 + x + 2]).toBe(seedDw.data[c * 9 + y * 3 + x]);
    }
    expect(bitwiseEqual(stateDict.get('blocks.1.op.4.running_var')!, seed.stateDict.get('blocks.1.layers.0.op.4.running_var')!)).toBe(true);
    expect(report.mode).toBe('super');
    expect(report.verifiedAgainstFna).toBe(true);
  });
});
