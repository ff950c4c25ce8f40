// ResNet seeds and grouped targets: FNA-style rules (spec §5), not verified against FNA++.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ResNetArch, resnetArch, stateDictShapes } from '../fna/arch/index.ts';
import { parseResNetKey, remap } from '../fna/remap/index.ts';
import { resnetArchArb } from './helpers/arbitraries.ts';
import { bitwiseEqual, randomSeed as seedOf } from './helpers/random.ts';


const pairArb = fc.record({ block: fc.constantFrom('basic' as const, 'bottleneck' as const), stages: fc.integer({ min: 1, max: 3 }) })
  .chain((f) => fc.tuple(resnetArchArb(f.block, f.stages), resnetArchArb(f.block, f.stages)))
  .map(([seed, target]) => [seed, seed.numClasses === null ? { ...target, numClasses: null } : target] as const);

describe('ResNet remapping', () => {
  it('is the identity on the seed arch and total for any pair (items 1, 7)', () => {
    fc.assert(fc.property(pairArb, fc.integer(), ([seedArch, target], s) => {
      const seed = seedOf(seedArch, s);
      const same = remap(seed, seedArch).stateDict;
      for (const [key, t] of same) expect(bitwiseEqual(t, seed.stateDict.get(key)!)).toBe(true);
      const { stateDict, report } = remap(seed, target);
      const expected = stateDictShapes(target, 'target');
      expect([...stateDict.keys()]).toEqual([...expected.keys()]);
      for (const [key, spec] of expected) expect(stateDict.get(key)!.shape).toEqual(spec.shape);
      expect(report.verifiedAgainstFna).toBe(false);
      expect(report.notes.join('\n')).toContain('not verified against FNA++');
      for (const e of report.entries) {
        const k = parseResNetKey(e.key);
        if (k.kind !== 'block' || e.source === null) continue;
        const src = parseResNetKey(e.source);
        expect(src).toMatchObject({ kind: 'block', stage: k.stage, index: Math.min(k.index, seedArch.stages[k.stage - 1].blocks - 1), module: k.module });
      }
    }), { numRuns: 200 });
  });

  it('grows resnet18 into resnet34: extra blocks copy the last seed block of the stage', () => {
    const seed = seedOf(resnetArch(18, 8), 1);
    const { stateDict } = remap(seed, resnetArch(34, 8));
    for (const key of ['layer3.5.conv2.weight', 'layer3.2.bn1.running_var', 'layer4.2.conv1.weight']) {
      const [stage, , ...rest] = key.split('.');
      expect(bitwiseEqual(stateDict.get(key)!, seed.stateDict.get([stage, '1', ...rest].join('.'))!)).toBe(true);
    }
    expect(bitwiseEqual(stateDict.get('layer2.0.downsample.0.weight')!, seed.stateDict.get('layer2.0.downsample.0.weight')!)).toBe(true);
  });

  it('zero-fills a downsample the seed block lacks and keeps its BN at init', () => {
    const seedArch = resnetArch(18, 8);
    const target: ResNetArch = { ...seedArch, stem: { ...seedArch.stem, out: 6 }, stages: seedArch.stages.map((s, i) => (i === 0 ? { ...s, in: 6 } : s)) };
    const { stateDict, report } = remap(seedOf(seedArch, 2), target);
    expect(stateDict.get('layer1.0.downsample.0.weight')!.data.every((v) => v === 0)).toBe(true);
    expect(Array.from(stateDict.get('layer1.0.downsample.1.weight')!.data)).toEqual(new Array(8).fill(1));
    expect(Array.from(stateDict.get('layer1.0.downsample.1.running_mean')!.data)).toEqual(new Array(8).fill(0));
    const entry = report.entries.find((e) => e.key === 'layer1.0.downsample.0.weight')!;
    expect(entry).toMatchObject({ source: null, actions: ['zero-filled'] });
    expect(entry.note).toContain('identity shortcut');
  });

  it('remaps a dense seed into a grouped target first-k on the per-group input axis', () => {
    const seedArch = resnetArch(50, 8);
    const seed = seedOf(seedArch, 4);
    for (const groups of [2, 4, 8, 16]) {
      const target = structuredClone(seedArch);
      target.stages[1] = { ...target.stages[1], groups };
      const { stateDict, report } = remap(seed, target);
      const t = stateDict.get('layer2.0.conv2.weight')!;
      const src = seed.stateDict.get('layer2.0.conv2.weight')!;
      const [o, iPerGroup] = t.shape;
      expect(t.shape).toEqual([16, 16 / groups, 3, 3]);
      for (let a = 0; a < o; a++) for (let b = 0; b < iPerGroup; b++) for (let k = 0; k < 9; k++) {
        expect(t.data[(a * iPerGroup + b) * 9 + k]).toBe(src.data[(a * 16 + b) * 9 + k]);
      }
      const note = report.entries.find((e) => e.key === 'layer2.0.conv2.weight')!.note!;
      expect(note).toContain(`1 -> ${groups} groups`);
      expect(note).toContain('FNA-style, not verified against FNA++');
      expect(report.entries.find((e) => e.key === 'layer2.0.conv2.weight')!.actions).toEqual(['channel-selected']);
    }
  });

  it('refuses block-type changes and importance-based width for ResNet', () => {
    const seed = seedOf(resnetArch(18, 8), 3);
    expect(() => remap(seed, resnetArch(50, 8))).toThrow("target.block: 'bottleneck' blocks cannot be remapped from 'basic' blocks");
    expect(() => remap(seed, resnetArch(34, 8), { widthBy: 'bn' })).toThrow("options.widthBy: 'bn' selects MBConv hidden channels");
    const threeStages = { ...resnetArch(18, 8), stages: resnetArch(18, 8).stages.slice(0, 3) };
    expect(() => remap(seed, threeStages)).toThrow('target.stages: has 3 stages but the seed has 4');
  });
});
