import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { conv2d, convTranspose2d, fromArray, memory, permute, tidy, zeros } from '../engine/index.ts';
import { arb, gradcheck, ref, seededValues } from '../engine/testing/index.ts';
import type { ConvConfig } from '../engine/testing/arbitraries.ts';
import { conv2dRef, convShapes, convTranspose2dRef } from '../engine/testing/refs/conv.ts';
import { checkConv, conv, convTransposeCase } from './helpers/conv-case.ts';
import { checkOp } from '../engine/testing/index.ts';
import { setTuning } from '../engine/tuning.ts';
import { IM2COL_MAX_CHANNELS } from '../engine/ops/conv-im2col.ts';
import { setWinogradConv } from '../engine/ops/conv-winograd.ts';
import { col2imKernels, im2colKernels } from '../kernels/im2col.ts';
import { pointwiseKernels } from '../kernels/pointwise.ts';

// Each new kernel variant compiles once (lavapipe JIT, ~0.2 s, far more on a busy machine).
const PROPERTY_TIMEOUT = 600_000;
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

function refInputs(c: ConvConfig, seed: number) {
  const s = convShapes(c);
  const inputs = [ref(s.x, seededValues(size(s.x), seed)), ref(s.w, seededValues(size(s.w), seed + 1))];
  if (c.bias) inputs.push(ref(s.bias, seededValues(c.outChannels, seed + 2)));
  return inputs;
}

describe('conv2d reference', () => {
  it('has a backward that matches central differences', () => {
    fc.assert(
      fc.property(arb.convConfig({ maxBatch: 2, maxChannels: 4, maxSpatial: 7, maxKernel: 4 }), fc.nat(1000), (c, seed) => {
        const r = gradcheck(conv2dRef(c), refInputs(c, seed), { maxElements: 48 });
        expect(r.ok, r.message).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('has a transposed convolution whose backward matches central differences', () => {
    fc.assert(
      fc.property(arb.convConfig({ maxBatch: 2, maxChannels: 4, maxSpatial: 7, maxKernel: 4 }), fc.nat(1000), (c, seed) => {
        const r = gradcheck(convTranspose2dRef(c), convTransposeCase(c, seed).inputs, { maxElements: 48 });
        expect(r.ok, r.message).toBe(true);
      }),
      { numRuns: 25 },
    );
  });
});

const pointwise = fc.record({
  batch: fc.integer({ min: 1, max: 3 }),
  // Multiples of 8 (16 from 64 up) take the 8- (16-) channel blocks of the forward and the gradient to x.
  inChannels: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constantFrom(8, 16, 24, 64)),
  outChannels: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constantFrom(8, 16, 24, 64)),
  height: arb.dim(12),
  width: arb.dim(12),
  bias: fc.boolean(),
});

describe('conv2d on the GPU', () => {
  it('matches the reference: forward and gradients to input, weight and bias', async () => {
    await fc.assert(fc.asyncProperty(arb.convConfig(), fc.nat(1000), (c, seed) => checkConv(c, seed)), { numRuns: 40 });
  }, PROPERTY_TIMEOUT);

  it('takes the pointwise path for 1x1 stride-1 unpadded convolutions (vec4 and scalar pixel rows)', async () => {
    await fc.assert(
      fc.asyncProperty(pointwise, fc.nat(1000), (p, seed) => checkConv(conv({ ...p, kernelH: 1, kernelW: 1 }), seed)),
      { numRuns: 30 },
    );
  }, PROPERTY_TIMEOUT);

  it.each<[string, ConvConfig]>([
    ['1x1 input with padding', conv({ inChannels: 3, outChannels: 5, height: 1, width: 1, padding: [1, 1, 1, 1], bias: true })],
    ['non-square input and kernel', conv({ inChannels: 2, outChannels: 3, height: 5, width: 11, kernelH: 2, kernelW: 5 })],
    ['stem: 3->8, 3x3 stride 2, TF "same" padding', conv({ batch: 2, inChannels: 3, outChannels: 8, height: 16, width: 16, stride: [2, 2], padding: [0, 1, 0, 1], bias: true })],
    ['stride 2 with odd dilation 3', conv({ inChannels: 2, outChannels: 4, height: 13, width: 14, stride: [2, 2], dilation: [3, 3], padding: [3, 2, 3, 1] })],
    ['stride 3, dilation 2, groups 2', conv({ batch: 2, inChannels: 4, outChannels: 6, groups: 2, height: 12, width: 10, stride: [3, 3], dilation: [2, 2], padding: [2, 1, 0, 2] })],
    ['padding larger than the dilated kernel', conv({ inChannels: 2, outChannels: 2, height: 3, width: 4, kernelH: 2, kernelW: 2, padding: [4, 3, 5, 2] })],
    ['grouped 1x1 (not the pointwise path)', conv({ inChannels: 6, outChannels: 9, groups: 3, kernelH: 1, kernelW: 1, height: 5, width: 6 })],
    ['1x1 stride 2', conv({ inChannels: 8, outChannels: 16, kernelH: 1, kernelW: 1, stride: [2, 2], height: 9, width: 9, bias: true })],
    ['more output channels than a register block (13), 7x7', conv({ batch: 2, inChannels: 5, outChannels: 13, height: 9, width: 9, kernelH: 7, kernelW: 7, padding: [3, 3, 3, 3] })],
    ['pointwise at 2x3 over a batch of 3 (weight gradient as one slice of the pointwise kernel)', conv({ batch: 3, inChannels: 12, outChannels: 20, height: 2, width: 3, kernelH: 1, kernelW: 1, bias: true })],
    ['pointwise 6->9 at 5x4 (weight gradient summed over images inside the matmul)', conv({ batch: 3, inChannels: 6, outChannels: 9, height: 5, width: 4, kernelH: 1, kernelW: 1 })],
    ['pointwise 8->16 at 24x24 over 2 images (weight gradient over slices of the pixel rows)', conv({ batch: 2, inChannels: 8, outChannels: 16, height: 24, width: 24, kernelH: 1, kernelW: 1 })],
    ['pointwise 6->4 at 48x48 (slices of the rows, 6 channels: scalar rows of the transposed x)', conv({ batch: 1, inChannels: 6, outChannels: 4, height: 48, width: 48, kernelH: 1, kernelW: 1 })],
    ['pointwise with 6 input channels (gradient to x through a transposed weight copy)', conv({ batch: 2, inChannels: 6, outChannels: 8, height: 4, width: 4, kernelH: 1, kernelW: 1 })],
    ['pointwise at 5x5 over a batch of 3, scalar pixel rows', conv({ batch: 3, inChannels: 4, outChannels: 6, height: 5, width: 5, kernelH: 1, kernelW: 1 })],
    ['pointwise 16->24 at 6x6 (8-channel blocks both ways)', conv({ batch: 2, inChannels: 16, outChannels: 24, height: 6, width: 6, kernelH: 1, kernelW: 1, bias: true })],
    ['pointwise 8->16 at 7x7, scalar pixel rows in 8-channel blocks', conv({ batch: 2, inChannels: 8, outChannels: 16, height: 7, width: 7, kernelH: 1, kernelW: 1 })],
    ['pointwise 64->80 at 4x5 (16- and 8-channel blocks, vec4 pixel rows)', conv({ batch: 2, inChannels: 64, outChannels: 80, height: 4, width: 5, kernelH: 1, kernelW: 1, bias: true })],
    ['pointwise 96->64 at 3x3 (16-channel blocks both ways, scalar pixel rows)', conv({ batch: 1, inChannels: 96, outChannels: 64, height: 3, width: 3, kernelH: 1, kernelW: 1 })],
    ['3->20 3x3 (weight gradient in blocks of 16 output channels, the second one partial)', conv({ batch: 2, inChannels: 3, outChannels: 20, height: 9, width: 10, padding: [1, 1, 1, 1], bias: true })],
    ['3->36 3x3 stride 2 (im2col forward, 16-channel weight-gradient blocks)', conv({ batch: 1, inChannels: 3, outChannels: 36, height: 11, width: 12, stride: [2, 2], padding: [0, 1, 0, 1] })],
    ['groups 2 of 3->17 channels, 3x3', conv({ batch: 2, inChannels: 6, outChannels: 34, groups: 2, height: 7, width: 6, padding: [1, 0, 1, 0] })],
    ['wide reduction: batch 4 at 24x24 (sliced weight gradient)', conv({ batch: 4, inChannels: 4, outChannels: 4, height: 24, width: 24, padding: [1, 1, 1, 1] })],
  ])('%s', async (_name, c) => {
    await checkConv(c, 3);
  });

  it('pointwise with 16-channel blocks over many pixels takes 4 vec4 pixel groups an invocation, and matches', async () => {
    const get = vi.spyOn(pointwiseKernels, 'get');
    // 30x30: 225 vec4 groups a row, so the last block of 4 holds one.
    await checkConv(conv({ batch: 2, inChannels: 8, outChannels: 64, height: 30, width: 30, kernelH: 1, kernelW: 1, bias: true }), 7);
    expect(get.mock.calls.some(([v]) => v.pv === 4 && v.ob === 16), JSON.stringify(get.mock.calls.map(([v]) => v))).toBe(true);
    get.mockRestore();
  }, PROPERTY_TIMEOUT);

  it('takes the im2col path (16+ output channels) / col2im path (24+) for strided convs with few input channels, and matches', async () => {
    const get = vi.spyOn(im2colKernels, 'get');
    const getAdjoint = vi.spyOn(col2imKernels, 'get');
    const im2colCase = fc.record({
      batch: fc.integer({ min: 1, max: 2 }),
      inChannels: fc.integer({ min: 1, max: IM2COL_MAX_CHANNELS }),
      outChannels: fc.constantFrom(16, 20, 24, 32, 36, 64),
      height: fc.integer({ min: 1, max: 13 }),
      width: fc.integer({ min: 1, max: 13 }),
      kernelH: fc.integer({ min: 1, max: 7 }),
      kernelW: fc.integer({ min: 1, max: 7 }),
      stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 2, max: 3 })),
      dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
      padding: fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3), fc.nat(3)),
      bias: fc.boolean(),
    }).filter((c) => convShapes({ ...c, groups: 1 }).out.every((d) => d > 0));
    let taken = 0;
    await fc.assert(
      fc.asyncProperty(im2colCase, fc.nat(1000), async (p, seed) => {
        get.mockClear();
        getAdjoint.mockClear();
        const c = conv(p);
        await checkConv(c, seed);
        // One input channel is depthwise (groups == channels), which the depthwise kernels take; the
        // gradient to x takes col2im without a bias only (convTranspose2d's forward passes one).
        expect(get.mock.calls.length > 0, `im2col on ${JSON.stringify(p)}`).toBe(c.inChannels > 1);
        expect(getAdjoint.mock.calls.length > 0, `col2im on ${JSON.stringify(p)}`).toBe(c.inChannels > 1 && c.outChannels >= 24);
        taken += c.inChannels > 1 ? 1 : 0;
      }),
      { numRuns: 25 },
    );
    expect(taken).toBeGreaterThan(10);
    get.mockClear();
    // MobileNetV2's stem (TF "same" padding, vec4 output rows) and ResNet's, scaled down.
    await checkConv(conv({ batch: 2, inChannels: 3, outChannels: 32, height: 16, width: 16, stride: [2, 2], padding: [0, 1, 0, 1], bias: true }), 4);
    await checkConv(conv({ batch: 1, inChannels: 3, outChannels: 64, height: 19, width: 18, kernelH: 7, kernelW: 7, stride: [2, 2], padding: [3, 3, 3, 3] }), 5);
    expect(get.mock.calls.length).toBe(2);
    get.mockRestore();
    getAdjoint.mockRestore();
  }, PROPERTY_TIMEOUT);

  it('dense convs with 8-24 input and 28-36 output channels take im2col / col2im as usesIm2col says, and match', async () => {
    // 3x3 stride-1 convs with 16+ channels take Winograd (test/conv-winograd.test.ts) unless it is off.
    setWinogradConv(false);
    onTestFinished(() => setWinogradConv(true));
    const get = vi.spyOn(im2colKernels, 'get');
    const getAdjoint = vi.spyOn(col2imKernels, 'get');
    const denseCase = fc.record({
      batch: fc.integer({ min: 1, max: 2 }),
      inChannels: fc.constantFrom(8, 12, 16, 24),
      outChannels: fc.constantFrom(28, 32, 36),
      height: fc.integer({ min: 1, max: 9 }),
      width: fc.integer({ min: 1, max: 9 }),
      kernelH: fc.integer({ min: 1, max: 5 }),
      kernelW: fc.integer({ min: 1, max: 5 }),
      stride: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
      dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
      padding: fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)),
      bias: fc.boolean(),
    }).filter((c) => convShapes({ ...c, groups: 1 }).out.every((d) => d > 0) && !(c.kernelH === 1 && c.kernelW === 1 && c.stride.every((s) => s === 1) && c.padding.every((p) => p === 0)));
    const seen = { forward: 0, inputGrad: 0 };
    await fc.assert(
      fc.asyncProperty(denseCase, fc.nat(1000), async (p, seed) => {
        get.mockClear();
        getAdjoint.mockClear();
        const c = conv(p);
        await checkConv(c, seed);
        const forward = c.outChannels >= 32 || c.inChannels <= 16;
        const inputGrad = c.outChannels >= 32 && c.kernelH * c.kernelW <= 9;
        expect(get.mock.calls.length > 0, `im2col on ${JSON.stringify(p)}`).toBe(forward);
        expect(getAdjoint.mock.calls.length > 0, `col2im on ${JSON.stringify(p)}`).toBe(inputGrad);
        seen.forward += forward ? 1 : 0;
        seen.inputGrad += inputGrad ? 1 : 0;
      }),
      { numRuns: 25 },
    );
    expect(seen.forward > 3 && seen.inputGrad > 3, JSON.stringify(seen)).toBe(true);
    get.mockRestore();
    getAdjoint.mockRestore();
  }, PROPERTY_TIMEOUT);

  it.each<[string, ConvConfig]>([
    ['3x3 16->32 at 8x8 (vec4 stores)', conv({ batch: 1, inChannels: 16, outChannels: 32, height: 8, width: 8, padding: [1, 1, 1, 1] })],
    ['3x3 16->32 at 6x7 (scalar stores, a partial block)', conv({ batch: 2, inChannels: 16, outChannels: 32, height: 6, width: 7, padding: [1, 1, 1, 1], bias: true })],
    ['2x5 kernel, stride 2 and dilation 2 along y only', conv({ batch: 1, inChannels: 16, outChannels: 32, height: 11, width: 9, kernelH: 2, kernelW: 5, stride: [2, 1], dilation: [2, 1], padding: [1, 0, 2, 1] })],
    ['3x3 stem, stride 2 (a window of 9 for 12 taps)', conv({ batch: 2, inChannels: 3, outChannels: 16, height: 13, width: 14, stride: [2, 2], padding: [0, 1, 0, 1] })],
    ['3x3 16->32, stride 3 along x', conv({ batch: 1, inChannels: 16, outChannels: 32, height: 7, width: 17, stride: [1, 3], padding: [1, 1, 1, 1] })],
  ])('im2col at dilation 1 along x (one window for a row of taps): %s', async (_name, c) => {
    setWinogradConv(false);
    onTestFinished(() => setWinogradConv(true));
    const get = vi.spyOn(im2colKernels, 'get');
    await checkConv(c, 8);
    expect(get.mock.calls.map(([v]) => v.window)).toContain(c.stride[1]);
    get.mockRestore();
  }, PROPERTY_TIMEOUT);

  it('im2col / col2im split batches whose grid would pass 65535 workgroups in z', async () => {
    // im2col's z is N·C·KH = 16400·12 (4 dispatches), col2im's N·C = 65600 (2 dispatches).
    await checkConv(conv({ batch: 16400, inChannels: 4, outChannels: 32, height: 4, width: 4, stride: [2, 2], padding: [1, 1, 1, 1] }), 6);
  }, PROPERTY_TIMEOUT);

  it('convTranspose2d matches the reference: forward and gradients to input, weight and bias', async () => {
    await fc.assert(
      fc.asyncProperty(arb.convConfig({ maxSpatial: 9 }), fc.nat(1000), (c, seed) => checkOp(convTransposeCase(c, seed))),
      { numRuns: 25 },
    );
  }, PROPERTY_TIMEOUT);

  it('convTranspose2d from 32+ channels to 3 at stride 2 takes col2im without a bias, the direct kernel with one', async () => {
    const getAdjoint = vi.spyOn(col2imKernels, 'get');
    for (const bias of [false, true]) {
      getAdjoint.mockClear();
      await checkOp(convTransposeCase(conv({ batch: 2, inChannels: 3, outChannels: 32, height: 11, width: 12, stride: [2, 2], padding: [1, 0, 1, 1], bias }), 12));
      expect(getAdjoint.mock.calls.length > 0, `col2im with bias ${bias}`).toBe(!bias);
    }
    getAdjoint.mockRestore();
  }, PROPERTY_TIMEOUT);

  it('convTranspose2d: SimpleBaseline 4x4 stride-2 deconvolution doubles the size; errors name the op', async () => {
    await checkOp(convTransposeCase(conv({ batch: 2, inChannels: 4, outChannels: 6, height: 10, width: 8, kernelH: 4, kernelW: 4, stride: [2, 2], padding: [1, 1, 1, 1], bias: true }), 9));
    tidy(() => {
      const y = convTranspose2d(zeros([1, 6, 5, 4]), zeros([6, 4, 4, 4]), null, { stride: 2, padding: 1 });
      expect(y.shape).toEqual([1, 4, 10, 8]);
      expect(() => convTranspose2d(zeros([1, 5, 5, 4]), zeros([6, 4, 4, 4]))).toThrow('convTranspose2d: input [1, 5, 5, 4], weight [6, 4, 4, 4]: input has 5 channels, weight expects 6');
      expect(() => convTranspose2d(zeros([1, 6, 5, 4]), zeros([6, 4, 4, 4]), null, { stride: 2, outputPadding: 2 })).toThrow('output padding [2,2] must be non-negative and smaller than stride');
    });
  });

  it('reads non-dense inputs (permuted views) correctly', async () => {
    const c = conv({ inChannels: 3, outChannels: 4, height: 6, width: 5, padding: [1, 1, 1, 1] });
    const x = seededValues(2 * 3 * 6 * 5, 5).map(Math.fround);
    const w = seededValues(4 * 3 * 9, 6).map(Math.fround);
    const expected = conv2dRef({ ...c, batch: 2 }).forward([ref([2, 3, 6, 5], x), ref([4, 3, 3, 3], w)]);
    // x stored as [C, N, H, W], viewed as [N, C, H, W].
    const stored = new Float32Array(x.length);
    for (let n = 0; n < 2; n++) for (let ch = 0; ch < 3; ch++) for (let i = 0; i < 30; i++) stored[(ch * 2 + n) * 30 + i] = x[(n * 3 + ch) * 30 + i];
    const out = await tidy(() => {
      const xs = fromArray(stored, [3, 2, 6, 5]);
      return conv2d(permute(xs, [1, 0, 2, 3]), fromArray(w, [4, 3, 3, 3]), null, { padding: 1 });
    }).toArray();
    for (let i = 0; i < out.length; i++) expect(out[i]).toBeCloseTo(expected.data[i], 4);
  });

  it('explains shape errors, naming the op and shapes', () => {
    const before = memory().live;
    tidy(() => {
      const x = zeros([2, 3, 8, 8]);
      expect(() => conv2d(x, zeros([16, 4, 3, 3]))).toThrow('conv2d: input [2, 3, 8, 8] has 3 channels, weight [16, 4, 3, 3] expects 4 (groups 1)');
      expect(() => conv2d(x, zeros([4, 3, 9, 9]))).toThrow(/conv2d: input \[2, 3, 8, 8\], weight \[4, 3, 9, 9\]: output would be 0 x 0/);
      expect(() => conv2d(x, zeros([4, 3, 3, 3]), null, { dilation: 5 })).toThrow(/output would be -2 x -2/);
      expect(() => conv2d(x, zeros([4, 3, 3, 3]), zeros([5]))).toThrow('bias [5] must be [4]');
      expect(() => conv2d(x, zeros([4, 1, 3, 3]), null, { groups: 2 })).toThrow('not divisible by groups 2');
      expect(() => conv2d(zeros([3, 8, 8]), zeros([4, 3, 3, 3]))).toThrow('conv2d: input [3, 8, 8] must be 4-D');
      expect(() => conv2d(x, zeros([4, 3, 3, 3]), null, { stride: 0 })).toThrow('must be positive integers');
    });
    expect(memory().live).toBe(before);
  });
});

describe('conv2d under gpu tuning (pointwise in 4x4 blocks, weight gradient in many short slices)', () => {
  beforeAll(() => setTuning('gpu'));
  afterAll(() => setTuning('auto'));

  it('pointwise matches the reference: forward and gradients to input, weight and bias', async () => {
    await fc.assert(
      fc.asyncProperty(pointwise, fc.nat(1000), (p, seed) => checkConv(conv({ ...p, kernelH: 1, kernelW: 1 }), seed)),
      { numRuns: 20 },
    );
    // MobileNetV2-like: 24->144 at 28x28 over 2 images slices the weight gradient's 1568 rows 49 ways.
    await checkConv(conv({ batch: 2, inChannels: 24, outChannels: 144, height: 28, width: 28, kernelH: 1, kernelW: 1, bias: true }), 5);
    await checkConv(conv({ batch: 1, inChannels: 32, outChannels: 64, height: 7, width: 7, kernelH: 1, kernelW: 1 }), 6);
  }, PROPERTY_TIMEOUT);

  it('depthwise and dense convolutions match the reference', async () => {
    await fc.assert(fc.asyncProperty(arb.convConfig(), fc.nat(1000), (c, seed) => checkConv(c, seed)), { numRuns: 15 });
  }, PROPERTY_TIMEOUT);
});
