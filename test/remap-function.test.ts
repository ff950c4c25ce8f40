// Whole-network function preservation (issue #6 item 9) on the float64 CPU reference forward pass; the GPU
// variant comes with the engine's conv kernels.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type MobileNetArch, FNA_RETINANET_ARCH } from '../fna/arch/index.ts';
import { remap } from '../fna/remap/index.ts';
import { mobilenetArchArb } from './helpers/arbitraries.ts';
import { tensor64 } from './helpers/conv-ref.ts';
import { mobilenetForward } from './helpers/mobilenet-ref.ts';
import { firstMismatch, maxAbs, randomSeed as seedOf, rng } from './helpers/random.ts';

/**
 * The target keeps depth and skips but grows kernels, channels (c -> c + grow, which keeps every in == out
 * relation, hence the residuals) and expansions > 1 (an e1 block has no expand conv to grow from).
 */
function grown(arch: MobileNetArch, grow: number, kernelGrowth: number[], expansionGrowth: number): MobileNetArch {
  let layer = 0;
  return {
    ...arch,
    stem: { ...arch.stem, out: arch.stem.out + grow },
    stages: arch.stages.map((s) => ({
      ...s, in: s.in + grow, out: s.out + grow,
      ops: s.ops.map((op) => {
        if (op === 'skip') return op;
        const [, k, e] = /^k(\d+)_e(\d+)$/.exec(op)!.map(Number);
        return `k${k + 2 * kernelGrowth[layer++ % kernelGrowth.length]}_e${e === 1 ? 1 : e + expansionGrowth}`;
      }),
    })),
    head: arch.head && { out: arch.head.out + grow },
  };
}

describe('whole-network function preservation on the CPU reference (item 9)', () => {
  it('larger kernels, wider channels and larger expansions compute the same logits', () => {
    const netCase = fc.record({
      stageCount: fc.integer({ min: 1, max: 3 }), head: fc.boolean(),
    }).chain((f) => fc.record({
      arch: mobilenetArchArb({ stageCount: f.stageCount, head: f.head, classifier: true }, 5),
      grow: fc.integer({ min: 0, max: 3 }),
      kernelGrowth: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 4 }),
      expansionGrowth: fc.integer({ min: 0, max: 2 }),
      size: fc.integer({ min: 5, max: 14 }),
      seed: fc.integer(),
    }));
    fc.assert(fc.property(netCase, (c) => {
      const seed = seedOf(c.arch, c.seed);
      const target = grown(c.arch, c.grow, c.kernelGrowth, c.expansionGrowth);
      const { stateDict } = remap(seed, target);
      const random = rng(c.seed ^ 0x1234);
      const n = c.arch.inputChannels * c.size * c.size;
      const input = tensor64([1, c.arch.inputChannels, c.size, c.size], Array.from({ length: n }, () => 2 * random() - 1));
      const expected = mobilenetForward(c.arch, seed.stateDict, input);
      const actual = mobilenetForward(target, stateDict, input);
      expect(firstMismatch(actual, expected, maxAbs(expected) + 1)).toBe(-1);
    }), { numRuns: 150 });
  });

  it('the whole-network check fails when the growth is not function-preserving (dilated placement)', () => {
    const arch = { ...FNA_RETINANET_ARCH, stem: { out: 8, stride: 2 }, numClasses: 3 };
    const small: MobileNetArch = {
      ...arch, stages: [{ in: 8, out: 4, stride: 1, ops: ['k3_e1'] }, { in: 4, out: 6, stride: 2, ops: ['k3_e6', 'k3_e3'] }],
    };
    const seed = seedOf(small, 9);
    const target = grown(small, 0, [1], 0);
    const random = rng(2);
    const input = tensor64([1, 3, 8, 8], Array.from({ length: 192 }, () => 2 * random() - 1));
    const expected = mobilenetForward(small, seed.stateDict, input);
    const centre = mobilenetForward(target, remap(seed, target).stateDict, input);
    const dilated = mobilenetForward(target, remap(seed, target, { kernelPlacement: 'dilate' }).stateDict, input);
    expect(firstMismatch(centre, expected, maxAbs(expected) + 1)).toBe(-1);
    expect(firstMismatch(dilated, expected, maxAbs(expected) + 1)).not.toBe(-1);
  });
});
