// Builds a checkOp case for one conv configuration: seeded inputs in [-1, 1), float32-scaled tolerances, and
// the GPU call with the configuration's options.
import { conv2d, convTranspose2d } from '../../engine/index.ts';
import { checkOp, f32Tolerance, ref, seededValues, type OpCase } from '../../engine/testing/index.ts';
import { convOutputSize, type ConvConfig } from '../../engine/testing/arbitraries.ts';
import { conv2dRef, convShapes, convTranspose2dRef } from '../../engine/testing/refs/conv.ts';

export function convCase(c: ConvConfig, seed: number): OpCase {
  const s = convShapes(c);
  const [oh, ow] = convOutputSize(c);
  const taps = c.kernelH * c.kernelW;
  const inputs = [ref(s.x, seededValues(s.x.reduce((a, b) => a * b), seed)), ref(s.w, seededValues(s.w.reduce((a, b) => a * b), seed + 1))];
  if (c.bias) inputs.push(ref(s.bias, seededValues(c.outChannels, seed + 2)));
  // Every summed term is a product of two values in [-1, 1): scale 1. Forward sums C/groups*kH*kW products
  // (+ bias); the weight and bias gradients sum N*OH*OW, the input gradient at most O/groups*kH*kW.
  const forwardTerms = (c.inChannels / c.groups) * taps + 1;
  const gradTerms = Math.max(c.batch * oh * ow, (c.outChannels / c.groups) * taps);
  return {
    ref: conv2dRef(c),
    inputs,
    gpu: ([x, w, b]) => conv2d(x, w, b ?? null, { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups }),
    tol: f32Tolerance(forwardTerms, 1),
    gradTol: f32Tolerance(gradTerms, 1),
    seed,
  };
}

export function checkConv(c: ConvConfig, seed = 1): Promise<void> {
  return checkOp(convCase(c, seed));
}

/**
 * The transposed convolution adjoint to conv configuration c: input c's output shape, output c's input shape
 * (the output padding recovers the rows and columns the conv's floor dropped).
 */
export function convTransposeCase(c: ConvConfig, seed: number): OpCase {
  const s = convShapes(c);
  const [oh, ow] = convOutputSize(c);
  const taps = c.kernelH * c.kernelW;
  const size = (shape: number[]) => shape.reduce((a, b) => a * b);
  const inputs = [ref(s.out, seededValues(size(s.out), seed)), ref(s.w, seededValues(size(s.w), seed + 1))];
  if (c.bias) inputs.push(ref([c.inChannels], seededValues(c.inChannels, seed + 2)));
  const span = (n: number, k: number, i: 0 | 1) => (n - 1) * c.stride[i] - c.padding[2 * i] - c.padding[2 * i + 1] + c.dilation[i] * (k - 1) + 1;
  const outputPadding: [number, number] = [c.height - span(oh, c.kernelH, 0), c.width - span(ow, c.kernelW, 1)];
  const opts = { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups, outputPadding };
  return {
    ref: convTranspose2dRef(c),
    inputs,
    gpu: ([x, w, b]) => convTranspose2d(x, w, b ?? null, opts),
    tol: f32Tolerance((c.outChannels / c.groups) * taps + 1, 1),
    gradTol: f32Tolerance(Math.max(c.batch * oh * ow, c.batch * c.height * c.width, (c.inChannels / c.groups) * taps), 1),
    seed,
  };
}

/** A configuration from the fields that matter, defaults elsewhere (batch 1, 3x3, stride 1, no padding). */
export function conv(partial: Partial<ConvConfig> & Pick<ConvConfig, 'inChannels' | 'outChannels'>): ConvConfig {
  return {
    batch: 1, groups: 1, height: 8, width: 8, kernelH: 3, kernelW: 3,
    stride: [1, 1], dilation: [1, 1], padding: [0, 0, 0, 0], bias: false,
    ...partial,
  };
}
