// Winograd (engine/ops/conv-winograd.ts, kernels/winograd.ts): 3x3 stride-1 dense convs with 16+ channels,
// forward and gradient to x as F(2x2, 3x3) (and convTranspose2d's forward), weight gradient as F(3x3, 2x2),
// against the float64 reference.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { setWinogradConv, usesWinograd, WINOGRAD_MIN_MACS } from '../engine/ops/conv-winograd.ts';
import type { ConvGeometry } from '../engine/ops/conv-common.ts';
import type { ConvConfig } from '../engine/testing/arbitraries.ts';
import { convShapes } from '../engine/testing/refs/conv.ts';
import { checkOp } from '../engine/testing/index.ts';
import { setTuning } from '../engine/tuning.ts';
import { winogradGradOutput, winogradGradTransform, winogradInput, winogradOutput } from '../kernels/winograd.ts';
import { checkConv, conv, convTransposeCase } from './helpers/conv-case.ts';

const PROPERTY_TIMEOUT = 600_000;

/** Which passes take Winograd by usesWinograd's rule: 16+ channels reduced and produced, a multiple of 4 produced. */
function expectedPasses(c: ConvConfig): { forward: boolean; inputGrad: boolean; weightGrad: boolean } {
  const eligible = c.kernelH === 3 && c.kernelW === 3 && c.groups === 1 && c.stride.every((s) => s === 1) && c.dilation.every((d) => d === 1);
  const forward = eligible && c.inChannels >= 16 && c.outChannels >= 16 && c.outChannels % 4 === 0;
  return {
    forward,
    inputGrad: eligible && c.outChannels >= 16 && c.inChannels >= 16 && c.inChannels % 4 === 0 && c.padding.every((p) => p <= 2),
    weightGrad: forward,
  };
}

// Output widths 7, 8, 15 and 16 give 4k tile columns (4 tiles an invocation); the padding is drawn first
// and the input width follows from the output width wanted.
const winogradCase = fc
  .record({
    batch: fc.integer({ min: 1, max: 3 }),
    inChannels: fc.constantFrom(8, 16, 17, 20, 32),
    outChannels: fc.constantFrom(12, 16, 18, 20, 32),
    height: fc.integer({ min: 1, max: 13 }),
    outWidth: fc.oneof(fc.integer({ min: 1, max: 13 }), fc.constantFrom(7, 8, 15, 16)),
    padding: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)),
    bias: fc.boolean(),
  })
  .map(({ outWidth, ...c }) => ({ ...c, width: outWidth + 2 - c.padding[2] - c.padding[3] }))
  .filter((c) => c.width >= 1 && convShapes({ ...conv(c) }).out.every((d) => d > 0));

describe('conv2d as Winograd F(2x2, 3x3)', () => {
  // Every eligible conv, however small (the float64 reference decides what a test can afford).
  beforeAll(() => setWinogradConv('always'));
  afterAll(() => setWinogradConv(true));

  it('leaves convs under WINOGRAD_MIN_MACS multiply-adds to the other paths, and those over a binding', () => {
    setWinogradConv(true);
    onTestFinished(() => setWinogradConv('always'));
    const geometry = (n: number, c: number, o: number, h: number): ConvGeometry => ({
      n, c, o, h, w: h, oh: h, ow: h, kh: 3, kw: 3, groups: 1, stride: [1, 1], dilation: [1, 1], padding: [1, 1, 1, 1],
    });
    // 16->16 at 8x8: 147456 multiply-adds; over 2 images 294912.
    expect(16 * 16 * 9 * 64 < WINOGRAD_MIN_MACS && 2 * 16 * 16 * 9 * 64 >= WINOGRAD_MIN_MACS).toBe(true);
    expect(usesWinograd(geometry(1, 16, 16, 8))).toBe(false);
    expect(usesWinograd(geometry(2, 16, 16, 8))).toBe(true);
    expect(usesWinograd(geometry(2, 16, 16, 8), 'inputGrad')).toBe(true);
    expect(usesWinograd(geometry(2, 16, 18, 8))).toBe(false);
    expect(usesWinograd(geometry(2, 16, 18, 8), 'inputGrad')).toBe(true);
    expect(usesWinograd(geometry(2, 16, 16, 8), 'weightGrad')).toBe(true);
    expect(usesWinograd(geometry(1, 16, 16, 8), 'weightGrad')).toBe(false);
    expect(usesWinograd(geometry(2, 16, 18, 8), 'weightGrad')).toBe(false);
    expect(usesWinograd({ ...geometry(2, 16, 16, 8), stride: [1, 2] })).toBe(false);
    expect(usesWinograd({ ...geometry(2, 16, 16, 8), padding: [3, 3, 3, 3], oh: 12, ow: 12 }, 'inputGrad')).toBe(false);
    // V would hold 16 · 64 · (64 · 128 · 128 tiles) floats: 256 MiB.
    expect(usesWinograd(geometry(64, 64, 64, 256))).toBe(false);
  });
  it('matches the reference (forward, gradients to x, w and bias) and takes the path where usesWinograd says', async () => {
    const input = vi.spyOn(winogradInput, 'get');
    const output = vi.spyOn(winogradOutput, 'get');
    const gradIn = vi.spyOn(winogradGradTransform, 'run');
    const gradOut = vi.spyOn(winogradGradOutput, 'run');
    onTestFinished(() => {
      for (const spy of [input, output, gradIn, gradOut]) spy.mockRestore();
    });
    const seen = { forward: 0, inputGrad: 0, weightGrad: 0, tiles4: 0, tiles1: 0 };
    await fc.assert(
      fc.asyncProperty(winogradCase, fc.nat(1000), async (p, seed) => {
        for (const spy of [input, output, gradIn, gradOut]) spy.mockClear();
        const c = conv(p);
        await checkConv(c, seed);
        const want = expectedPasses(c);
        // One input and one output transform per Winograd pass (the weight gradient's input transform is
        // the tile-major one).
        const channelMajor = input.mock.calls.filter(([v]) => !v.layout);
        expect(channelMajor.length, `passes on ${JSON.stringify(p)}`).toBe(Number(want.forward) + Number(want.inputGrad));
        expect(output.mock.calls.length).toBe(channelMajor.length);
        expect(gradIn.mock.calls.length, `weight gradient on ${JSON.stringify(p)}`).toBe(Number(want.weightGrad));
        expect(input.mock.calls.length - channelMajor.length).toBe(Number(want.weightGrad));
        expect(gradOut.mock.calls.length).toBe(gradIn.mock.calls.length);
        seen.forward += Number(want.forward);
        seen.inputGrad += Number(want.inputGrad);
        seen.weightGrad += Number(want.weightGrad);
        for (const [v] of channelMajor) seen[v.tiles === 4 ? 'tiles4' : 'tiles1']++;
      }),
      { numRuns: 30 },
    );
    expect(Object.values(seen).every((k) => k >= 2), JSON.stringify(seen)).toBe(true);
  }, PROPERTY_TIMEOUT);

  it.each<[string, ConvConfig]>([
    ['32->32 at 16x16 over 2 images (4 tiles an invocation)', conv({ batch: 2, inChannels: 32, outChannels: 32, height: 16, width: 16, padding: [1, 1, 1, 1], bias: true })],
    ['16->16 at 7x7 (4 tiles an invocation, the last one half outside)', conv({ batch: 1, inChannels: 16, outChannels: 16, height: 7, width: 7, padding: [1, 1, 1, 1] })],
    ['64->64 at 14x14 (one tile an invocation), ResNet-like', conv({ batch: 2, inChannels: 64, outChannels: 64, height: 14, width: 14, padding: [1, 1, 1, 1] })],
    ['24->20 unpadded 1x9 output rows, asymmetric padding', conv({ batch: 3, inChannels: 24, outChannels: 20, height: 3, width: 11, padding: [0, 0, 2, 0] })],
    ['16->16 at 32x32 over 2 images (the weight gradient sums 512 tiles in 2 slices)', conv({ batch: 2, inChannels: 16, outChannels: 16, height: 32, width: 32, padding: [1, 1, 1, 1] })],
    ['16->16 with padding 2 (the gradient to x unpadded)', conv({ batch: 1, inChannels: 16, outChannels: 16, height: 5, width: 6, padding: [2, 2, 2, 2], bias: true })],
  ])('%s', async (_name, c) => {
    const input = vi.spyOn(winogradInput, 'get');
    const grad = vi.spyOn(winogradGradTransform, 'run');
    onTestFinished(() => {
      input.mockRestore();
      grad.mockRestore();
    });
    await checkConv(c, 4);
    expect(input.mock.calls.map(([v]) => v.layout ?? 'channelMajor').sort()).toEqual(['channelMajor', 'channelMajor', 'tileMajor']);
    expect(grad.mock.calls.length).toBe(1);
  }, PROPERTY_TIMEOUT);

  it('padding 3: the forward as Winograd, the gradient to x (which would pad -1) on the other paths', async () => {
    const input = vi.spyOn(winogradInput, 'get');
    onTestFinished(() => input.mockRestore());
    await checkConv(conv({ batch: 1, inChannels: 16, outChannels: 16, height: 4, width: 5, padding: [3, 1, 0, 3] }), 6);
    // The forward's transform and the weight gradient's (tile-major): no gradient-to-x pass.
    expect(input.mock.calls.map(([v]) => v.layout ?? 'channelMajor').sort()).toEqual(['channelMajor', 'tileMajor']);
  }, PROPERTY_TIMEOUT);

  it('convTranspose2d 3x3 stride 1 with 16+ channels runs its forward (with a bias) and gradient to x as Winograd', async () => {
    const input = vi.spyOn(winogradInput, 'get');
    onTestFinished(() => input.mockRestore());
    for (const bias of [false, true]) {
      input.mockClear();
      // The transposed conv's input is this conv's output (20 channels), its output this conv's input (16).
      await checkOp(convTransposeCase(conv({ batch: 2, inChannels: 16, outChannels: 20, height: 9, width: 8, padding: [1, 1, 0, 2], bias }), 11));
      expect(input.mock.calls.filter(([v]) => !v.layout).length, `bias ${bias}`).toBe(2);
    }
  }, PROPERTY_TIMEOUT);
});

describe('conv2d as Winograd under gpu tuning (the GEMM in 4x4 blocks)', () => {
  beforeAll(() => {
    setTuning('gpu');
    setWinogradConv('always');
  });
  afterAll(() => {
    setTuning('auto');
    setWinogradConv(true);
  });

  it('matches the reference', async () => {
    await checkConv(conv({ batch: 2, inChannels: 16, outChannels: 32, height: 9, width: 16, padding: [1, 1, 1, 1], bias: true }), 13);
  }, PROPERTY_TIMEOUT);
});
