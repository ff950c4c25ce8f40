import { describe, expect, it } from 'vitest';
import { fromArray, memory, noGrad, tidy } from '../engine/index.ts';
import { mobilenetV2Arch, resnetArch, searchSpacePreset, stateDictShapes, superArch, FNA_RETINANET_ARCH, type Arch } from '../fna/arch/index.ts';
import { remap } from '../fna/remap/index.ts';
import { MobileNetV2 } from '../fna/models/mobilenet.ts';
import { ResNet } from '../fna/models/resnet.ts';
import { SuperNet } from '../fna/models/supernet.ts';
import type { Module } from '../engine/nn/module.ts';
import { randomSeed } from './helpers/random.ts';

function keysAndShapes(m: Module): [string, number[]][] {
  return m.namedTensors().map(([k, t]) => [k, [...t.shape]]);
}
function specKeysAndShapes(arch: Arch, mode: 'seed' | 'super' = 'seed', space?: Parameters<typeof stateDictShapes>[2]): [string, number[]][] {
  return [...stateDictShapes(arch, mode, space)].map(([k, s]) => [k, s.shape]);
}

describe('GPU modules carry exactly the state-dict keys and shapes of their arch spec', () => {
  it('MobileNetV2 (stock and a published searched net) and the FNA super network', () => {
    for (const arch of [mobilenetV2Arch({ widthMultiplier: 0.5, numClasses: 10 }), { ...FNA_RETINANET_ARCH, numClasses: null, head: null }]) {
      const m = new MobileNetV2(arch);
      expect(keysAndShapes(m)).toEqual(specKeysAndShapes(arch));
      m.dispose();
    }
    const space = searchSpacePreset('detection');
    const sup = superArch(space, mobilenetV2Arch({ widthMultiplier: 0.25, numClasses: null, head: false }));
    const s = new SuperNet(sup);
    expect(keysAndShapes(s)).toEqual(specKeysAndShapes(sup.base, 'super', space));
    expect(s.archParameters().map((a) => a.shape[0])).toEqual(space.stages.flatMap((st) => [st.reduceOps.length, ...Array(st.layers - 1).fill(st.normalOps.length)]));
    s.dispose();
  });

  it('ResNet 18 and 50 (and a grouped variant) build, load a remapped seed and run', async () => {
    const before = memory().live;
    for (const arch of [resnetArch(18, 16, { numClasses: 5 }), resnetArch(50, 8, { numClasses: 5 })]) {
      const m = new ResNet(arch);
      expect(keysAndShapes(m)).toEqual(specKeysAndShapes(arch));
      const grouped = { ...arch, stages: arch.stages.map((s) => ({ ...s, groups: 2 })) };
      const seed = randomSeed(arch, 3);
      const target = new ResNet(grouped);
      target.loadStateDict(remap(seed, grouped).stateDict);
      target.eval();
      const y = noGrad(() => tidy(() => target.forward(fromArray(new Float32Array(2 * 3 * 32 * 32).fill(0.5), [2, 3, 32, 32]))));
      expect(y.shape).toEqual([2, 5]);
      expect((await y.toArray()).every(Number.isFinite)).toBe(true);
      y.dispose();
      m.dispose();
      target.dispose();
    }
    expect(memory().live).toBe(before);
  });
});

import { backward, mean, add, mulScalar, log } from '../engine/index.ts';

describe('FNA super network steps', () => {
  it('the arch step reaches every alpha (task loss and cost); the weight step flows through skip to the stem', async () => {
    const space = searchSpacePreset('detection');
    const sup = superArch(space, mobilenetV2Arch({ widthMultiplier: 0.25, numClasses: null, head: false }));
    const before = memory().live;
    const net = new SuperNet(sup, { costInputSize: [32, 32] });
    const x = new Float32Array(2 * 3 * 32 * 32).map((_, i) => Math.sin(i));
    tidy(() => {
      const { stages, cost } = net.forwardSuper(fromArray(x, [2, 3, 32, 32]), { mode: 'mixed' });
      const task = mean(stages[stages.length - 1]);
      backward(add(task, mulScalar(log(cost as ReturnType<typeof mean>), 0.02 / Math.log(10))));
    });
    for (const a of net.archParameters()) {
      expect(a.grad).not.toBeNull();
      expect((await a.grad!.toArray()).some((v) => v !== 0)).toBe(true);
    }
    for (const a of net.archParameters()) a.grad = (a.grad?.dispose(), null);
    for (const p of net.parameters()) if (p.grad) p.grad = (p.grad.dispose(), null);
    // one candidate per layer, skip wherever a normal layer offers it
    const path = net.layers.map((l) => Math.max(0, l.spec.candidates.indexOf('skip')));
    tidy(() => {
      const { stages, cost } = net.forwardSuper(fromArray(x, [2, 3, 32, 32]), { mode: 'path', path });
      expect(typeof cost).toBe('number');
      backward(mean(stages[stages.length - 1]));
    });
    expect(net.stem.conv.weight.grad).not.toBeNull();
    expect((await net.stem.conv.weight.grad!.toArray()).some((v) => v !== 0)).toBe(true);
    for (const p of net.parameters()) if (p.grad) p.grad = (p.grad.dispose(), null);
    net.dispose();
    expect(memory().live).toBe(before);
  });
});
