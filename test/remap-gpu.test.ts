// Remapping items 3 and 9 of issue #6 through our GPU kernels: a kernel grown by remapping computes the
// seed conv's function (dense, grouped, depthwise; stride 1 and 2; dilation), and a whole seed network
// remapped onto larger kernels gives the seed's logits.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { conv2d, fromArray, noGrad, tidy } from '../engine/index.ts';
import { hostTensor } from '../engine/host.ts';
import { assertClose, f32Tolerance } from '../engine/testing/index.ts';
import { mobilenetV2Arch, type MobileNetArch } from '../fna/arch/index.ts';
import { remap } from '../fna/remap/index.ts';
import { remapConvWeight } from '../fna/remap/tensor.ts';
import { MobileNetV2 } from '../fna/models/mobilenet.ts';
import { randomSeed, rng } from './helpers/random.ts';

const oddKernels = fc.constantFrom(1, 3, 5).chain((ks) => fc.tuple(fc.constant(ks), fc.constantFrom(...[3, 5, 7].filter((k) => k > ks))));

describe('kernel growth preserves the function on the GPU (item 3)', () => {
  it('dense, grouped and depthwise convs with the remapped kernel match the seed conv', async () => {
    await fc.assert(
      fc.asyncProperty(
        oddKernels,
        fc.constantFrom(1, 2),
        fc.constantFrom(1, 2, 3),
        fc.constantFrom('dense', 'grouped', 'depthwise'),
        fc.integer({ min: 1, max: 2 ** 30 }),
        async ([ks, kt], stride, dilation, kind, seed) => {
          const random = rng(seed);
          const groups = kind === 'dense' ? 1 : kind === 'grouped' ? 2 : 4;
          const inC = 4;
          const outC = kind === 'depthwise' ? 4 : 6;
          const seedW = hostTensor([outC, inC / groups, ks, ks], Array.from({ length: outC * (inC / groups) * ks * ks }, () => random() * 2 - 1));
          const grown = remapConvWeight(seedW, [outC, inC / groups, kt, kt]);
          const x = Array.from({ length: 2 * inC * 9 * 11 }, () => random() * 2 - 1);
          const pad = (k: number) => ((k - 1) * dilation) / 2;
          const [a, b] = await Promise.all(
            [
              [seedW, ks],
              [grown, kt],
            ].map(async ([w, k]) => {
              const y = tidy(() =>
                conv2d(fromArray(x, [2, inC, 9, 11]), fromArray((w as typeof seedW).data, (w as typeof seedW).shape), null, {
                  stride,
                  dilation,
                  padding: pad(k as number),
                  groups,
                }),
              );
              const out = await y.toArray();
              y.dispose();
              return out;
            }),
          );
          // Both sums have the same non-zero terms (the ring is exactly zero), so only summation order differs.
          assertClose(b, a, f32Tolerance((inC / groups) * kt * kt, inC / groups * ks * ks), `k${ks}->k${kt} s${stride} d${dilation} ${kind}`);
        },
      ),
      { numRuns: 40 },
    );
  });
});

function largerKernels(arch: MobileNetArch, by: number): MobileNetArch {
  return {
    ...arch,
    stages: arch.stages.map((s) => ({ ...s, ops: s.ops.map((op) => (op === 'skip' ? op : op.replace(/^k(\d+)/, (_, k) => `k${Number(k) + 2 * by}`))) })),
  };
}

describe('whole-network function preservation on the GPU (item 9)', () => {
  it('a MobileNetV2 seed remapped onto larger kernels gives the seed logits', async () => {
    const seedArch = mobilenetV2Arch({ widthMultiplier: 0.25, numClasses: 7, inputChannels: 3 });
    const seed = randomSeed(seedArch, 11);
    for (const by of [1, 2]) {
      const targetArch = largerKernels(seedArch, by);
      const { stateDict } = remap(seed, targetArch);
      const seedNet = new MobileNetV2(seedArch).eval();
      const targetNet = new MobileNetV2(targetArch).eval();
      seedNet.loadStateDict(seed.stateDict);
      targetNet.loadStateDict(stateDict);
      const random = rng(5 + by);
      const x = Array.from({ length: 2 * 3 * 32 * 32 }, () => random() * 2 - 1);
      const logits = await Promise.all(
        [seedNet, targetNet].map(async (net) => {
          const y = noGrad(() => tidy(() => net.forward(fromArray(x, [2, 3, 32, 32]))));
          const v = await y.toArray();
          y.dispose();
          return v;
        }),
      );
      const scale = Math.max(...Array.from(logits[0], Math.abs));
      // 52 conv layers, each a sum of at most 7*7 (depthwise) or ~320 (pointwise) terms: the same
      // random-walk budget the nsfwjs import test uses.
      assertClose(logits[1], logits[0], f32Tolerance(52 * 320, scale), `seed vs k+${2 * by} target logits`);
      expect(logits[0].some((v) => v !== 0)).toBe(true);
      seedNet.dispose();
      targetNet.dispose();
    }
  });
});
