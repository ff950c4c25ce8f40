import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Kernel, runtime } from '../engine/index.ts';
import { convOutputSize, type ConvConfig } from '../engine/testing/arbitraries.ts';
import { checkConv, conv } from './helpers/conv-case.ts';
import { setDepthwiseKernel } from '../engine/ops/conv-launch.ts';
import { depthwiseForwardKernels, depthwiseKernels } from '../kernels/depthwise.ts';
import { depthwiseWeightGradRowsKernels } from '../kernels/depthwise-wgrad.ts';

/** A depthwise configuration (groups = channels) with "same"-style padding for odd kernels. */
function depthwise(k: number, stride: number, dilation: number, extra: Partial<ConvConfig> = {}): ConvConfig {
  const pad = (dilation * (k - 1)) >> 1;
  return conv({
    batch: 2, inChannels: 3, outChannels: 3, groups: 3, height: 11, width: 13, kernelH: k, kernelW: k,
    stride: [stride, stride], dilation: [dilation, dilation], padding: [pad, pad, pad, pad], bias: true,
    ...extra,
  });
}

describe('depthwise conv2d on the GPU', () => {
  const grid: [number, number, number][] = [];
  for (const k of [3, 5, 7]) for (const s of [1, 2]) for (const d of [1, 2, 6]) grid.push([k, s, d]);

  it.each(grid)('k%i stride %i dilation %i: forward and all gradients', async (k, s, d) => {
    await checkConv(depthwise(k, s, d), k * 100 + s * 10 + d);
  });

  it.each([12, 18])('ASPP dilation %i (3x3, padding = dilation) at 33x33', async (d) => {
    await checkConv(depthwise(3, 1, d, { batch: 1, inChannels: 4, outChannels: 4, groups: 4, height: 33, width: 33 }), d);
  });

  it.each<[string, ConvConfig]>([
    ['any odd k: 9x9', depthwise(9, 1, 1)],
    ['any odd k: 11x11 stride 2', depthwise(11, 2, 1, { height: 14, width: 12 })],
    ['non-square kernel 3x5, asymmetric padding', depthwise(3, 1, 1, { kernelW: 5, padding: [0, 2, 3, 1] })],
    ['stride 2 with dilation 3 (odd: JM 2)', depthwise(3, 2, 3)],
    ['stride [2, 1], dilation [1, 2]', depthwise(5, 1, 1, { stride: [2, 1], dilation: [1, 2], padding: [2, 2, 4, 4] })],
    ['stride 3', depthwise(3, 3, 1, { height: 16, width: 17 })],
    ['channel multiplier 2, stride 2', depthwise(3, 2, 1, { outChannels: 6 })],
    ['channel multiplier 3, k5, dilation 2', depthwise(5, 1, 2, { inChannels: 2, outChannels: 6, groups: 2 })],
    ['1x1 spatial input', depthwise(3, 1, 1, { height: 1, width: 1 })],
    ['one channel, wide rows (weight-gradient slices)', depthwise(3, 1, 1, { batch: 4, inChannels: 1, outChannels: 1, groups: 1, height: 40, width: 37 })],
  ])('%s', async (_name, c) => {
    await checkConv(c, 11);
  });

  it('runs past 65535 workgroups (2-D grid), forward and gradients', async () => {
    // 4100 x 1024 single-pixel planes: one invocation each, 4.2M invocations = 65600 workgroups of 64.
    const c = depthwise(3, 1, 1, { batch: 4100, inChannels: 1024, outChannels: 1024, groups: 1024, height: 1, width: 1, bias: false });
    await checkConv(c, 5);
  });

  it('matches the reference on random depthwise configurations', async () => {
    // MobileNet / DeepLab-like: square odd kernels, stride 1-2, small dilations, channel multiplier 1-3. The
    // conv2d property test covers arbitrary (non-square, even) depthwise kernels.
    const config = fc
      .record({
        batch: fc.integer({ min: 1, max: 3 }),
        channels: fc.integer({ min: 1, max: 6 }),
        multiplier: fc.integer({ min: 1, max: 3 }),
        height: fc.integer({ min: 1, max: 14 }),
        width: fc.integer({ min: 1, max: 14 }),
        k: fc.constantFrom(1, 3, 5, 7),
        stride: fc.integer({ min: 1, max: 2 }),
        dilation: fc.integer({ min: 1, max: 3 }),
        padding: fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3), fc.nat(3)),
        bias: fc.boolean(),
      })
      .map(({ channels, multiplier, k, stride, dilation, ...r }) =>
        conv({
          ...r, inChannels: channels, outChannels: channels * multiplier, groups: channels,
          kernelH: k, kernelW: k, stride: [stride, stride], dilation: [dilation, dilation],
        }),
      )
      .filter((c) => convOutputSize(c)[0] >= 1 && convOutputSize(c)[1] >= 1);
    await fc.assert(fc.asyncProperty(config, fc.nat(1000), (c, seed) => checkConv(c, seed)), { numRuns: 30 });
  }, 600_000);

  it('keeps the spatial shape out of the pipeline key', async () => {
    const before = runtime().pipelines.size;
    for (const hw of [6, 9, 14]) await checkConv(depthwise(3, 1, 1, { height: hw, width: hw + 1, batch: 1 }), hw);
    const afterFirst = runtime().pipelines.size;
    for (const hw of [7, 12]) await checkConv(depthwise(3, 1, 1, { height: hw, width: hw + 3, batch: 2 }), hw);
    expect(runtime().pipelines.size).toBe(afterFirst);
    expect(afterFirst - before).toBeLessThanOrEqual(5);
  });
});

describe('depthwise forward, row-walking kernel (dilation 1, stride 1-2, width a multiple of 4)', () => {
  // The row-walking kernel is what a software adapter picks; forced here so a GPU runs these too.
  beforeAll(() => setDepthwiseKernel('row-walk'));
  afterAll(() => setDepthwiseKernel('auto'));
  afterEach(() => vi.restoreAllMocks());

  /** Checks c (forward and gradients) and that its forward took the row-walking kernel. */
  async function checkFast(c: ConvConfig, seed: number): Promise<void> {
    const get = vi.spyOn(depthwiseForwardKernels, 'get');
    await checkConv(c, seed);
    expect(get).toHaveBeenCalled();
  }

  it.each<[string, ConvConfig]>([
    ['k3 s1, 16x16, batch 2', depthwise(3, 1, 1, { height: 16, width: 16 })],
    ['k5 s1, output width not a multiple of 4 (no padding)', depthwise(5, 1, 1, { height: 9, width: 12, padding: [0, 0, 0, 0] })],
    ['k7 s1, width 4 < kernel', depthwise(7, 1, 1, { height: 5, width: 4 })],
    ['k7 s2, width 4 < kernel, odd height', depthwise(7, 2, 1, { height: 7, width: 4 })],
    ['k3 s2, odd height, width 20', depthwise(3, 2, 1, { height: 13, width: 20 })],
    ['k5 s2, padding 4 and 5 (lead 0 and 3)', depthwise(5, 2, 1, { height: 11, width: 12, padding: [4, 5, 5, 4] })],
    ['k3 s1, padding 6 > kernel', depthwise(3, 1, 1, { height: 6, width: 8, padding: [6, 2, 6, 3] })],
    ['non-square 3x5, asymmetric padding', depthwise(3, 1, 1, { kernelW: 5, height: 10, width: 12, padding: [0, 2, 3, 1] })],
    ['non-square 7x2 (even), stride [1, 2]', depthwise(7, 1, 1, { kernelW: 2, stride: [1, 2], height: 9, width: 16, padding: [3, 3, 1, 0] })],
    ['stride [2, 1], k 4x6', depthwise(4, 1, 1, { kernelW: 6, stride: [2, 1], height: 12, width: 8, padding: [1, 2, 2, 3] })],
    ['1x1 kernel, stride 2', depthwise(1, 2, 1, { height: 7, width: 8, padding: [0, 0, 0, 0] })],
    ['channel multiplier 2, stride 2', depthwise(3, 2, 1, { outChannels: 6, height: 10, width: 16 })],
    ['channel multiplier 3, k7, no bias', depthwise(7, 1, 1, { inChannels: 2, outChannels: 6, groups: 2, height: 9, width: 8, bias: false })],
    ['tall plane split into row blocks (last one partial)', depthwise(5, 1, 1, { batch: 1, inChannels: 2, outChannels: 2, groups: 2, height: 37, width: 8 })],
    ['tall plane, stride 2 row blocks', depthwise(3, 2, 1, { batch: 1, inChannels: 1, outChannels: 1, groups: 1, height: 75, width: 12 })],
    ['wide rows: several strips and workgroups per channel', depthwise(3, 1, 1, { batch: 3, height: 6, width: 100 })],
  ])('%s', async (_name, c) => {
    await checkFast(c, 13);
  });

  it('runs past 65535 workgroups (one per channel here), forward and gradients', async () => {
    // 70000 channels of 4x4: one strip each, one 8-wide workgroup per channel.
    const c = depthwise(3, 1, 1, { batch: 1, inChannels: 70000, outChannels: 70000, groups: 70000, height: 4, width: 4, bias: true });
    await checkFast(c, 6);
  });

  it.each<[string, ConvConfig]>([
    ['k3 s1, 16x16', depthwise(3, 1, 1, { height: 16, width: 16 })],
    ['k5 s1, no padding (dy 8 wide)', depthwise(5, 1, 1, { height: 9, width: 12, padding: [0, 0, 0, 0] })],
    ['k7 s1, 3 rows', depthwise(7, 1, 1, { height: 3, width: 8 })],
    ['non-square 3x5, asymmetric padding', depthwise(3, 1, 1, { kernelW: 5, height: 10, width: 12, padding: [0, 2, 3, 1] })],
  ])('gradient to x of a stride-1 conv takes it with the kernel rotated 180 degrees: %s', async (_name, c) => {
    const run = vi.spyOn(Kernel.prototype, 'run');
    await checkConv(c, 17);
    const flipped = run.mock.calls.filter(([, uniforms]) => (uniforms as Record<string, unknown>).w_flip === 1);
    expect(flipped.length).toBeGreaterThan(0);
  });

  it.each<[string, ConvConfig]>([
    ['k3 s1, 16x16, batch 2', depthwise(3, 1, 1, { height: 16, width: 16 })],
    ['k3 s1, no padding, output 10 wide (dy read as scalars)', depthwise(3, 1, 1, { height: 10, width: 12, padding: [0, 0, 0, 0] })],
    ['k3 s2, odd height, width 20', depthwise(3, 2, 1, { height: 17, width: 20 })],
    ['k5 s2, padding 4 and 5 (lead 0 and 3)', depthwise(5, 2, 1, { height: 11, width: 12, padding: [4, 5, 5, 4] })],
    ['k7 s1, tall plane split into row blocks', depthwise(7, 1, 1, { batch: 1, inChannels: 2, outChannels: 2, groups: 2, height: 37, width: 8 })],
    ['channel multiplier 2, stride 2', depthwise(3, 2, 1, { outChannels: 6, height: 16, width: 16 })],
    ['non-square 3x5, stride [2, 1]', depthwise(3, 1, 1, { kernelW: 5, stride: [2, 1], height: 20, width: 12, padding: [1, 1, 2, 2] })],
  ])('weight gradient takes the row-walking kernel: %s', async (_name, c) => {
    const get = vi.spyOn(depthwiseWeightGradRowsKernels, 'get');
    await checkConv(c, 19);
    expect(get).toHaveBeenCalled();
  });

  it('matches the reference on random eligible configurations', async () => {
    const config = fc
      .record({
        batch: fc.integer({ min: 1, max: 3 }),
        channels: fc.integer({ min: 1, max: 4 }),
        multiplier: fc.integer({ min: 1, max: 2 }),
        height: fc.integer({ min: 1, max: 19 }),
        width: fc.constantFrom(4, 8, 12, 16, 20, 28),
        kernelH: fc.integer({ min: 1, max: 7 }),
        kernelW: fc.integer({ min: 1, max: 7 }),
        stride: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
        padding: fc.tuple(fc.nat(4), fc.nat(4), fc.nat(4), fc.nat(4)),
        bias: fc.boolean(),
      })
      .map(({ channels, multiplier, ...r }) =>
        conv({ ...r, inChannels: channels, outChannels: channels * multiplier, groups: channels, dilation: [1, 1] }),
      )
      .filter((c) => convOutputSize(c)[0] >= 1 && convOutputSize(c)[1] >= 1);
    await fc.assert(fc.asyncProperty(config, fc.nat(1000), (c, seed) => checkFast(c, seed)), { numRuns: 20 });
  }, 600_000);
});

describe('depthwise forward, direct kernel on the shapes the row-walking one takes on software adapters', () => {
  // What a GPU picks by default ('auto'): forced here so the software adapter runs it on these shapes too.
  beforeAll(() => setDepthwiseKernel('direct'));
  afterAll(() => setDepthwiseKernel('auto'));
  afterEach(() => vi.restoreAllMocks());

  it.each<[string, ConvConfig]>([
    ['k3 s1, 16x16, batch 2', depthwise(3, 1, 1, { height: 16, width: 16 })],
    ['k5 s2, padding 4 and 5', depthwise(5, 2, 1, { height: 11, width: 12, padding: [4, 5, 5, 4] })],
    ['k7 s1, width 4 < kernel', depthwise(7, 1, 1, { height: 5, width: 4 })],
    ['channel multiplier 2, stride 2', depthwise(3, 2, 1, { outChannels: 6, height: 10, width: 16 })],
    ['non-square 3x5, asymmetric padding', depthwise(3, 1, 1, { kernelW: 5, height: 10, width: 12, padding: [0, 2, 3, 1] })],
  ])('%s: forward and gradients match the reference, and no row-walking forward runs', async (_name, c) => {
    const rowWalk = vi.spyOn(depthwiseForwardKernels, 'get');
    const direct = vi.spyOn(depthwiseKernels, 'get');
    await checkConv(c, 23);
    expect(rowWalk).not.toHaveBeenCalled();
    expect(direct).toHaveBeenCalled();
  });
});
