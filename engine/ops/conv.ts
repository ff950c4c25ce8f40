// conv2d (NCHW float32): dense, grouped and depthwise, with stride, dilation and asymmetric zero padding, and
// gradients to input, weight and bias; and convTranspose2d, its adjoint (the same three passes, roles swapped).
// The kernels and their selection live in conv-launch.ts.
import { apply, type FunctionDef } from '../autograd.ts';
import { shapeString } from '../host.ts';
import type { Tensor } from '../tensor.ts';
import { dense } from './movement.ts';
import { convBiasGrad, convForward, convInputGrad, convWeightGrad, type ConvGeometry } from './conv-launch.ts';

export interface Conv2dOptions {
  /** [sh, sw] or one number for both. Default 1. */
  stride?: number | readonly [number, number];
  /** [top, bottom, left, right], [ph, pw] or one number. Default 0. */
  padding?: number | readonly [number, number] | readonly [number, number, number, number];
  /** [dh, dw] or one number. Default 1. */
  dilation?: number | readonly [number, number];
  /** Default 1; groups = channels is a depthwise convolution. */
  groups?: number;
}

interface ConvAttrs {
  stride: [number, number];
  padding: [number, number, number, number];
  dilation: [number, number];
  groups: number;
}

function pair(op: string, name: string, v: number | readonly number[] | undefined, fallback: number): [number, number] {
  const p = v === undefined ? [fallback, fallback] : typeof v === 'number' ? [v, v] : [...v];
  if (p.length !== 2) throw new Error(`${op}: ${name} must be a number or [h, w], got [${p}]`);
  return [p[0], p[1]];
}

function normaliseOptions(opts: Conv2dOptions): ConvAttrs {
  const stride = pair('conv2d', 'stride', opts.stride, 1);
  const dilation = pair('conv2d', 'dilation', opts.dilation, 1);
  const p = opts.padding ?? 0;
  let padding: [number, number, number, number];
  if (typeof p === 'number') padding = [p, p, p, p];
  else if (p.length === 2) padding = [p[0], p[0], p[1], p[1]];
  else if (p.length === 4) padding = [p[0], p[1], p[2], p[3]];
  else throw new Error(`conv2d: padding must be a number, [ph, pw] or [top, bottom, left, right], got [${p}]`);
  const groups = opts.groups ?? 1;
  const positive = [...stride, ...dilation, groups].every((v) => Number.isInteger(v) && v >= 1);
  if (!positive) throw new Error(`conv2d: stride [${stride}], dilation [${dilation}] and groups ${groups} must be positive integers`);
  if (!padding.every((v) => Number.isInteger(v) && v >= 0)) throw new Error(`conv2d: padding [${padding}] must be non-negative integers`);
  return { stride, padding, dilation, groups };
}

function geometry(x: Tensor, w: Tensor, bias: Tensor | null, a: ConvAttrs): ConvGeometry {
  const where = `conv2d: input ${shapeString(x.shape)}, weight ${shapeString(w.shape)}`;
  if (x.rank !== 4) throw new Error(`conv2d: input ${shapeString(x.shape)} must be 4-D [N, C, H, W]`);
  if (w.rank !== 4) throw new Error(`conv2d: weight ${shapeString(w.shape)} must be 4-D [O, C/groups, kH, kW]`);
  for (const [name, t] of [['input', x], ['weight', w], ['bias', bias]] as const) {
    if (t && t.dtype !== 'float32') throw new Error(`conv2d: ${name} ${shapeString(t.shape)} is ${t.dtype}, expected float32`);
  }
  const [n, c, h, wd] = x.shape;
  const [o, cg, kh, kw] = w.shape;
  const { groups, stride, dilation, padding } = a;
  if (c % groups !== 0) throw new Error(`conv2d: input ${shapeString(x.shape)} has ${c} channels, not divisible by groups ${groups}`);
  if (c / groups !== cg) {
    throw new Error(`conv2d: input ${shapeString(x.shape)} has ${c} channels, weight ${shapeString(w.shape)} expects ${cg * groups} (groups ${groups})`);
  }
  if (o % groups !== 0) throw new Error(`${where}: ${o} output channels are not divisible by groups ${groups}`);
  if (kh < 1 || kw < 1) throw new Error(`${where}: empty kernel`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== o)) {
    throw new Error(`${where}: bias ${shapeString(bias.shape)} must be [${o}]`);
  }
  const oh = Math.floor((h + padding[0] + padding[1] - dilation[0] * (kh - 1) - 1) / stride[0]) + 1;
  const ow = Math.floor((wd + padding[2] + padding[3] - dilation[1] * (kw - 1) - 1) / stride[1]) + 1;
  if (oh < 1 || ow < 1) {
    throw new Error(
      `${where}: output would be ${oh} x ${ow}; the dilated kernel (${dilation[0] * (kh - 1) + 1} x ${dilation[1] * (kw - 1) + 1}) ` +
        `is larger than the padded input (${h + padding[0] + padding[1]} x ${wd + padding[2] + padding[3]})`,
    );
  }
  return { n, c, h, w: wd, o, kh, kw, oh, ow, groups, stride, dilation, padding };
}

const Conv2d: FunctionDef<ConvAttrs> = {
  name: 'conv2d',
  forward(ctx, [x, w, bias], attrs) {
    const g = geometry(x, w, bias ?? null, attrs);
    const [xd, wd, bd] = [dense(x), dense(w), bias ? dense(bias) : null];
    const out = convForward(g, xd, wd, bd);
    ctx.values.geometry = g;
    if (ctx.needsInputGrad[0] || ctx.needsInputGrad[1]) ctx.save(xd, wd);
    for (const [t, d] of [[x, xd], [w, wd], [bias, bd]] as const) if (d && d !== t) d.dispose();
    return out;
  },
  backward(ctx, gy) {
    const g = ctx.values.geometry as ConvGeometry;
    const [x, w] = ctx.saved;
    const gd = dense(gy);
    const [needX, needW, needBias] = ctx.needsInputGrad;
    const grads = [
      needX ? convInputGrad(g, gd, w) : null,
      needW ? convWeightGrad(g, x, gd) : null,
      needBias ? convBiasGrad(gd) : null,
    ];
    return grads.slice(0, ctx.needsInputGrad.length);
  },
};

/**
 * 2-D convolution of x [N, C, H, W] with w [O, C/groups, kH, kW] (+ bias [O]) -> [N, O, OH, OW], where
 * OH = floor((H + top + bottom - dilation*(kH-1) - 1) / stride) + 1 (and likewise OW).
 */
export function conv2d(x: Tensor, w: Tensor, bias: Tensor | null = null, opts: Conv2dOptions = {}): Tensor {
  return apply(Conv2d, bias ? [x, w, bias] : [x, w], normaliseOptions(opts));
}

export interface ConvTranspose2dOptions extends Conv2dOptions {
  /** Extra rows / columns at the bottom / right of the output, [h, w] or one number (< stride or dilation). */
  outputPadding?: number | readonly [number, number];
}

interface ConvTransposeAttrs extends ConvAttrs {
  outputPadding: [number, number];
}

/** The conv2d whose input gradient this transposed convolution is: its "input" is our output. */
function transposedGeometry(x: Tensor, w: Tensor, bias: Tensor | null, a: ConvTransposeAttrs): ConvGeometry {
  const where = `convTranspose2d: input ${shapeString(x.shape)}, weight ${shapeString(w.shape)}`;
  if (x.rank !== 4) throw new Error(`convTranspose2d: input ${shapeString(x.shape)} must be 4-D [N, C, H, W]`);
  if (w.rank !== 4) throw new Error(`convTranspose2d: weight ${shapeString(w.shape)} must be 4-D [C, O/groups, kH, kW]`);
  const [n, c, h, wd] = x.shape;
  const [wc, og, kh, kw] = w.shape;
  const { groups, stride, dilation, padding, outputPadding } = a;
  if (c !== wc) throw new Error(`${where}: input has ${c} channels, weight expects ${wc}`);
  if (c % groups !== 0) throw new Error(`${where}: ${c} input channels are not divisible by groups ${groups}`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== og * groups)) throw new Error(`${where}: bias ${shapeString(bias.shape)} must be [${og * groups}]`);
  outputPadding.forEach((p, i) => {
    if (!Number.isInteger(p) || p < 0 || (p >= stride[i] && p >= dilation[i])) {
      throw new Error(`${where}: output padding [${outputPadding}] must be non-negative and smaller than stride [${stride}] or dilation [${dilation}]`);
    }
  });
  const oh = (h - 1) * stride[0] - padding[0] - padding[1] + dilation[0] * (kh - 1) + outputPadding[0] + 1;
  const ow = (wd - 1) * stride[1] - padding[2] - padding[3] + dilation[1] * (kw - 1) + outputPadding[1] + 1;
  if (oh < 1 || ow < 1) throw new Error(`${where}: output would be ${oh} x ${ow}; padding [${padding}] is too large`);
  return { n, c: og * groups, h: oh, w: ow, o: c, kh, kw, oh: h, ow: wd, groups, stride, dilation, padding };
}

const ConvTranspose2d: FunctionDef<ConvTransposeAttrs> = {
  name: 'convTranspose2d',
  forward(ctx, [x, w, bias], attrs) {
    const g = transposedGeometry(x, w, bias ?? null, attrs);
    const [xd, wd, bd] = [dense(x), dense(w), bias ? dense(bias) : null];
    const out = convInputGrad(g, xd, wd, bd);
    ctx.values.geometry = g;
    if (ctx.needsInputGrad[0] || ctx.needsInputGrad[1]) ctx.save(xd, wd);
    for (const [t, d] of [[x, xd], [w, wd], [bias, bd]] as const) if (d && d !== t) d.dispose();
    return out;
  },
  backward(ctx, gy) {
    const g = ctx.values.geometry as ConvGeometry;
    const [x, w] = ctx.saved;
    const gd = dense(gy);
    const [needX, needW, needBias] = ctx.needsInputGrad;
    const grads = [
      needX ? convForward(g, gd, w, null) : null,
      needW ? convWeightGrad(g, gd, x) : null,
      needBias ? convBiasGrad(gd) : null,
    ];
    return grads.slice(0, ctx.needsInputGrad.length);
  },
};

/**
 * Transposed convolution (PyTorch's ConvTranspose2d) of x [N, C, H, W] with w [C, O/groups, kH, kW]
 * (+ bias [O]) -> [N, O, OH, OW], OH = (H-1)*stride - top - bottom + dilation*(kH-1) + outputPadding + 1:
 * the gradient of conv2d with the same options, as an op.
 */
export function convTranspose2d(x: Tensor, w: Tensor, bias: Tensor | null = null, opts: ConvTranspose2dOptions = {}): Tensor {
  const outputPadding = pair('convTranspose2d', 'outputPadding', opts.outputPadding, 0);
  return apply(ConvTranspose2d, bias ? [x, w, bias] : [x, w], { ...normaliseOptions(opts), outputPadding });
}
