// Kernel launches behind conv2d: picks the pointwise, depthwise or direct kernel for each pass and fills in
// its uniforms. Every tensor passed in is dense (offset 0, row-major). No autograd here; conv.ts wraps it.
import { grid1d } from '../kernel.ts';
import { runtime } from '../runtime.ts';
import { allocate, type Tensor } from '../tensor.ts';
import { reshape, transpose, contiguous } from './movement.ts';
import { matmulKernel } from './matmul.ts';
import { sum } from './reduce.ts';
import { blockedItems, columnBlocking, CONV_COLS, CONV_WG, directConvKernels } from '../../kernels/conv2d.ts';
import { pointwiseKernels, type PointwiseWeight } from '../../kernels/pointwise.ts';
import { depthwiseForwardKernels, depthwiseKernels } from '../../kernels/depthwise.ts';
import { weightGradKernels } from '../../kernels/conv2d-wgrad.ts';
import { depthwiseWeightGradKernels, depthwiseWeightGradRowsKernels } from '../../kernels/depthwise-wgrad.ts';

/** Everything about one convolution that its shapes and options fix. */
export interface ConvGeometry {
  n: number;
  c: number;
  h: number;
  w: number;
  o: number;
  kh: number;
  kw: number;
  oh: number;
  ow: number;
  groups: number;
  stride: [number, number];
  dilation: [number, number];
  /** top, bottom, left, right */
  padding: [number, number, number, number];
}

/** Rows per depthwise invocation; 2 halves the weight and source-row loads per output against 1. */
const DEPTHWISE_ROWS = 2;
/** Weight-gradient passes aim for at least this many invocations, splitting the reduction to get there. */
const WGRAD_TARGET_INVOCATIONS = 4096;

export const isPointwise = (g: ConvGeometry): boolean =>
  g.kh === 1 && g.kw === 1 && g.stride[0] === 1 && g.stride[1] === 1 && g.padding.every((p) => p === 0) && g.groups === 1;

/** Largest kernel side the depthwise kernels unroll (hoisting KH*KW weights); larger ones take the direct kernel. */
const DEPTHWISE_MAX_K = 7;

export const isDepthwise = (g: ConvGeometry): boolean => g.groups === g.c && g.kh <= DEPTHWISE_MAX_K && g.kw <= DEPTHWISE_MAX_K;

/**
 * Register block along a channel axis: 4, 2 or 1 (few distinct pipelines; a partial last block is masked),
 * or exactly 3 for three channels (an image's: the stem's gradient to x ran 1.4-1.6x faster than in blocks
 * of 2 and a masked 2).
 */
const channelBlock = (n: number, max = 4): number => (n >= max ? max : n === 3 ? 3 : n >= 2 ? 2 : 1);

/** Register blocking of the pointwise kernel for rows of `pix` pixels and `outCh` output channels. */
function pointwiseBlocks(pix: number, outCh: number, weightTransposed: boolean) {
  const vec4 = pix % 4 === 0;
  // Two vec4 pixel groups per invocation, unless a row has a single one (2x2 maps), which would idle half.
  const pv = vec4 && pix > 4 ? 2 : 1;
  // Eight or sixteen output channels per invocation where the [R, O] weight gives them as vec4s: fewer x
  // loads per multiply-add. On MobileNetV2's shapes (same-process A/B, bit-identical) eight ran 1.1-1.9x
  // faster than four, and sixteen another 3-13% when there are at least 64 channels (9% slower at 32).
  const ob = !weightTransposed ? 4 : outCh % 16 === 0 && outCh >= 64 ? 16 : outCh % 8 === 0 ? 8 : 4;
  const pixBlocks = vec4 ? Math.ceil(pix / 4 / pv) : Math.ceil(pix / 4);
  return { vec4, pv, ob, pixBlocks };
}

/**
 * out[n, o, q] = sum_r w[o, r] x[n, r, q] (+ bias) over P pixels: x [N, R, P], out [N, O, P]; w dense,
 * [O, R], or [R, O] with `weightTransposed` (needs O % 4 == 0).
 */
function runPointwise(
  x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor, n: number, red: number, outCh: number, pix: number, weightTransposed = false,
  weightStride = 0,
): void {
  const { vec4, pv, ob, pixBlocks } = pointwiseBlocks(pix, outCh, weightTransposed);
  const weight: PointwiseWeight = weightTransposed ? 'cols4' : 'rows';
  const outBlocks = Math.ceil(outCh / ob);
  const total = n * outBlocks * pixBlocks;
  const kernel = pointwiseKernels.get({ ob, pv, vec4, weight });
  const bindings = { x: x.storage, w: w.storage, bias: (bias ?? w).storage, out: out.storage };
  const uniforms = {
    total, red, out_ch: outCh, pix, pix4: Math.floor(pix / 4), pix_blocks: pixBlocks, out_blocks: outBlocks, has_bias: bias ? 1 : 0,
    w_stride: weightStride,
  };
  kernel.run(bindings, uniforms, grid1d(total, CONV_WG));
}

interface DirectPass {
  src: Tensor;
  srcH: number;
  srcW: number;
  redPerGroup: number;
  outPerGroup: number;
  outH: number;
  outW: number;
  stride: [number, number];
  dilation: [number, number];
  pad: [number, number];
  up: [number, number];
  /** Weight offset and strides for (group, out channel, reduction channel, ky, kx). */
  wIndex: [number, number, number, number, number, number];
  /** Taps [rows, columns] when not the geometry's kernel (a phase of the gradient to x). */
  taps?: [number, number];
  /** Where the pass's outputs go in `out` when not a dense [N, C, outH, outW] (see kernels/conv2d.ts). */
  outLayout?: OutLayout;
}

/** Output placement of a conv pass: plane size, element step between rows and between columns, first element. */
interface OutLayout {
  plane: number;
  row: number;
  col: number;
  off: number;
}

const denseLayout = (outH: number, outW: number): OutLayout => ({ plane: outH * outW, row: outW, col: 1, off: 0 });

function runDirect(g: ConvGeometry, p: DirectPass, w: Tensor, bias: Tensor | null, out: Tensor): void {
  const { step, jm } = columnBlocking(p.stride[1], p.dilation[1]);
  const ob = channelBlock(p.outPerGroup);
  const [kh, kw] = p.taps ?? [g.kh, g.kw];
  const layout = p.outLayout ?? denseLayout(p.outH, p.outW);
  // Eight output columns per invocation where a stride-1 row of at least 8 reuses each loaded source value
  // across 3+ taps: 10 loads for 8 columns instead of 6 for 4. 3x3 convs at 16-56 wide ran 10-20% faster
  // (alternating runs, lavapipe); stride 2 (17 loads for 8 columns) and 1-2 tap phases gained nothing.
  const cols = jm === 1 && kw >= 3 && p.outW >= 8 ? 2 * CONV_COLS : CONV_COLS;
  const kernel = directConvKernels.get({ kw, jm, ob, up: p.up, cols });
  const colItems = blockedItems(p.outW, step, cols);
  const outBlocks = Math.ceil(p.outPerGroup / ob);
  const total = g.n * g.groups * outBlocks * p.outH * colItems;
  const [wOff, wGroup, wOut, wRed, wKy, wKx] = p.wIndex;
  kernel.run(
    { src: p.src.storage, w: w.storage, bias: (bias ?? w).storage, out: out.storage },
    {
      total, groups: g.groups, red_per_group: p.redPerGroup, out_per_group: p.outPerGroup,
      src_h: p.srcH, src_w: p.srcW, out_h: p.outH, out_w: p.outW,
      stride: p.stride, dilation: p.dilation, pad: p.pad,
      kh, col_step: step, col_items: colItems, out_blocks: outBlocks,
      w_off: wOff, w_group: wGroup, w_out: wOut, w_red: wRed, w_ky: wKy, w_kx: wKx, has_bias: bias ? 1 : 0,
      out_plane: layout.plane, out_row: layout.row, out_col: layout.col, out_off: layout.off,
    },
    grid1d(total, CONV_WG),
  );
}

interface DepthwisePass {
  src: Tensor;
  srcChannels: number;
  srcH: number;
  srcW: number;
  channels: number;
  red: number;
  outDiv: number;
  outH: number;
  outW: number;
  stride: [number, number];
  dilation: [number, number];
  pad: [number, number];
  up: [number, number];
  /** Weight offset and strides for (out channel, source channel, ky, kx). */
  wIndex: [number, number, number, number, number];
  /** Taps [rows, columns] when not the geometry's kernel (a phase of the gradient to x). */
  taps?: [number, number];
  /** Where the pass's outputs go in `out` when not a dense [N, C, outH, outW] (see kernels/conv2d.ts). */
  outLayout?: OutLayout;
}

/**
 * The forward's common case takes the row-walking kernel (depthwise-fwd): no zero insertion, dilation 1, stride
 * 1 or 2, 4-aligned source rows, non-negative padding, one weight plane per output channel: the forward's
 * layout [O, 1, KH, KW], or (the gradient to x of a stride-1 conv with multiplier 1) that layout rotated
 * by 180 degrees.
 */
function depthwiseForwardWeights(g: ConvGeometry, p: DepthwisePass): 'forward' | 'flipped' | null {
  const kk = g.kh * g.kw;
  const same = (a: readonly number[], b: readonly number[]) => a.every((x, i) => x === b[i]);
  const fits =
    p.red === 1 && p.up[0] === 1 && p.up[1] === 1 && p.dilation[0] === 1 && p.dilation[1] === 1 &&
    p.stride.every((s) => s === 1 || s === 2) && p.srcW % 4 === 0 && p.pad[0] >= 0 && p.pad[1] >= 0;
  if (!fits) return null;
  if (same(p.wIndex, [0, kk, 0, g.kw, 1])) return 'forward';
  if (p.outDiv === 1 && same(p.wIndex, [kk - 1, 0, kk, -g.kw, -1])) return 'flipped';
  return null;
}

/** Invocations the row-walking kernel aims for before it splits the output rows into blocks. */
const DEPTHWISE_FWD_TARGET_INVOCATIONS = 512;

/**
 * Work split of the row-walking kernels: items (strips of `cols` output columns over a block of rows of one
 * image) per channel, and one workgroup per (channel, run of items).
 */
function rowWalkLayout(batch: number, channels: number, outH: number, outW: number, cols: number) {
  const colItems = Math.ceil(outW / cols);
  // Whole planes per strip unless that leaves too few invocations to fill the threads; blocks stay at
  // least 8 rows (the forward's first A - 1 steps per block only warm its accumulators).
  let rowBlock = outH;
  while (rowBlock >= 16 && batch * channels * colItems * Math.ceil(outH / rowBlock) < DEPTHWISE_FWD_TARGET_INVOCATIONS) {
    rowBlock = Math.ceil(rowBlock / 2);
  }
  const rowItems = Math.ceil(outH / rowBlock);
  const items = batch * colItems * rowItems;
  // The largest workgroup that idles at most 1/8 of its invocations.
  const wg = [64, 32, 16, 8].find((s) => items / (Math.ceil(items / s) * s) >= 7 / 8) ?? 8;
  return { colItems, rowBlock, rowItems, items, wg, groupsPerChannel: Math.ceil(items / wg) };
}

function runDepthwiseForward(g: ConvGeometry, p: DepthwisePass, w: Tensor, bias: Tensor | null, out: Tensor, flip: boolean): void {
  const [sy, sx] = p.stride;
  // 8 columns per strip at stride 1 (4 vec4s per source row for k <= 7); 4 at stride 2, where 8 would hold
  // twice the source lanes live and measured slower.
  const cols = sx === 1 ? 8 : 4;
  const slots = Math.ceil(g.kh / sy);
  const { colItems, rowBlock, rowItems, items, wg, groupsPerChannel } = rowWalkLayout(g.n, p.channels, p.outH, p.outW, cols);
  const padLeft = p.pad[1];
  const kernel = depthwiseForwardKernels.get({
    kh: g.kh, kw: g.kw, sy, sx, cols, lead: 4 * Math.ceil(padLeft / 4) - padLeft, wg, vec4Out: p.outW % 4 === 0,
  });
  kernel.run(
    { src: p.src.storage, w: w.storage, bias: (bias ?? w).storage, out: out.storage },
    {
      batch: g.n, channels: p.channels, out_div: p.outDiv, src_channels: p.srcChannels,
      groups_per_channel: groupsPerChannel, items, src_h: p.srcH, src_w4: p.srcW / 4, out_h: p.outH, out_w: p.outW,
      col_items: colItems, row_items: rowItems, row_block: rowBlock, steps: rowBlock + slots - 1,
      pad_top: p.pad[0], pad_left4: Math.ceil(padLeft / 4), w_out: g.kh * g.kw, has_bias: bias ? 1 : 0, w_flip: flip ? 1 : 0,
    },
    grid1d(p.channels * groupsPerChannel, 1),
  );
}

/**
 * Which kernel runs the eligible depthwise passes (forward, and the stride-1 gradient to x with the kernel
 * rotated): the row-walking one, which a software adapter runs 2.7-12x faster, or the direct one (a few
 * outputs per invocation), which an NVIDIA H200 ran 2.5-10x faster than the row-walking one (same-run
 * A/B). 'auto' picks by adapter; tests force each.
 */
export type DepthwiseKernelChoice = 'auto' | 'row-walk' | 'direct';
let depthwiseChoice: DepthwiseKernelChoice = 'auto';
export function setDepthwiseKernel(choice: DepthwiseKernelChoice): void {
  depthwiseChoice = choice;
}

function runDepthwise(g: ConvGeometry, p: DepthwisePass, w: Tensor, bias: Tensor | null, out: Tensor): void {
  const rowWalk = depthwiseChoice === 'auto' ? runtime().ctx.isSoftware : depthwiseChoice === 'row-walk';
  const fast = rowWalk && !p.taps && !p.outLayout ? depthwiseForwardWeights(g, p) : null;
  if (fast) return runDepthwiseForward(g, p, w, bias, out, fast === 'flipped');
  const [kh, kw] = p.taps ?? [g.kh, g.kw];
  const layout = p.outLayout ?? denseLayout(p.outH, p.outW);
  const cols = columnBlocking(p.stride[1], p.dilation[1]);
  const rows = columnBlocking(p.stride[0], p.dilation[0]);
  // Two output rows share source rows when JMH <= 2 (every stride-1 and stride-2 case); rarer strides take
  // one row per invocation, which keeps the variant count down.
  const rb = rows.jm <= 2 ? DEPTHWISE_ROWS : 1;
  const kernel = depthwiseKernels.get({ kh, kw, jm: cols.jm, jmh: rb === 1 ? 1 : rows.jm, rb, up: p.up });
  const colItems = blockedItems(p.outW, cols.step, CONV_COLS);
  const rowItems = blockedItems(p.outH, rows.step, rb);
  const total = g.n * p.channels * rowItems * colItems;
  const [wOff, wOut, wSrc, wKy, wKx] = p.wIndex;
  kernel.run(
    { src: p.src.storage, w: w.storage, bias: (bias ?? w).storage, out: out.storage },
    {
      total, channels: p.channels, red: p.red, out_div: p.outDiv, src_channels: p.srcChannels,
      src_h: p.srcH, src_w: p.srcW, out_h: p.outH, out_w: p.outW,
      stride: p.stride, dilation: p.dilation, pad: p.pad,
      col_step: cols.step, col_items: colItems, row_step: rows.step, row_items: rowItems,
      w_off: wOff, w_out: wOut, w_src: wSrc, w_ky: wKy, w_kx: wKx, has_bias: bias ? 1 : 0,
      out_plane: layout.plane, out_row: layout.row, out_col: layout.col, out_off: layout.off,
    },
    grid1d(total, CONV_WG),
  );
}

export function convForward(g: ConvGeometry, x: Tensor, w: Tensor, bias: Tensor | null): Tensor {
  const out = allocate([g.n, g.o, g.oh, g.ow]);
  const kk = g.kh * g.kw;
  const pad: [number, number] = [g.padding[0], g.padding[2]];
  if (isPointwise(g) && g.h * g.w === 1) {
    // One pixel per image: the whole batch is a single [N, C] x [C, O] matmul (far better blocked than
    // a pointwise kernel that would have one pixel to work with).
    const x2 = x.view([g.n, g.c], [g.c, 1], x.offset);
    const wt = w.view([g.c, g.o], [1, g.c], w.offset);
    const y = matmulKernel(x2, wt, bias ? { bias, biasAxis: 'cols' } : {});
    for (const t of [x2, wt, out]) t.dispose();
    const shaped = y.view([g.n, g.o, 1, 1], [g.o, 1, 1, 1], 0);
    y.dispose();
    return shaped;
  } else if (isPointwise(g) && g.o % 4 === 0) {
    // The kernel reads [C, O] weights as one vec4 per r for its four output channels: a transposed copy
    // of the (small) weight costs far less than the loads it saves.
    const w2 = reshape(w, [g.o, g.c]);
    const wt = transpose(w2);
    const wDense = contiguous(wt);
    runPointwise(x, wDense, bias, out, g.n, g.c, g.o, g.h * g.w, true);
    for (const t of [w2, wt, wDense]) t.dispose();
  } else if (isPointwise(g)) {
    runPointwise(x, w, bias, out, g.n, g.c, g.o, g.h * g.w);
  } else if (isDepthwise(g)) {
    const pass: DepthwisePass = {
      src: x, srcChannels: g.c, srcH: g.h, srcW: g.w, channels: g.o, red: 1, outDiv: g.o / g.c,
      outH: g.oh, outW: g.ow, stride: g.stride, dilation: g.dilation, pad, up: [1, 1],
      wIndex: [0, kk, 0, g.kw, 1],
    };
    runDepthwise(g, pass, w, bias, out);
  } else {
    const cg = g.c / g.groups;
    const og = g.o / g.groups;
    const pass: DirectPass = {
      src: x, srcH: g.h, srcW: g.w, redPerGroup: cg, outPerGroup: og, outH: g.oh, outW: g.ow,
      stride: g.stride, dilation: g.dilation, pad, up: [1, 1],
      wIndex: [0, og * cg * kk, cg * kk, kk, g.kw, 1],
    };
    runDirect(g, pass, w, bias, out);
  }
  return out;
}

/**
 * Gradient to the input: the transposed-conv gather over dy (zero-inserted by the stride), flipped weights.
 * Also the forward of convTranspose2d, which passes a bias [C].
 */
export function convInputGrad(g: ConvGeometry, gy: Tensor, w: Tensor, bias: Tensor | null = null): Tensor {
  const dx = allocate([g.n, g.c, g.h, g.w]);
  const kk = g.kh * g.kw;
  if (isPointwise(g) && g.h * g.w === 1 && !bias) {
    const gy2 = gy.view([g.n, g.o], [g.o, 1], gy.offset);
    const w2 = w.view([g.o, g.c], [g.c, 1], w.offset);
    const d = matmulKernel(gy2, w2);
    for (const t of [gy2, w2, dx]) t.dispose();
    const shaped = d.view([g.n, g.c, 1, 1], [g.c, 1, 1, 1], 0);
    d.dispose();
    return shaped;
  }
  if (isPointwise(g) && g.c % 4 === 0) {
    // dx [N, C, P] = wᵀ · dy: w [O, C] is the [red, out] layout the kernel reads directly.
    runPointwise(gy, w, bias, dx, g.n, g.o, g.c, g.h * g.w, true);
    return dx;
  }
  if (isPointwise(g)) {
    const w2 = reshape(w, [g.o, g.c]);
    const wt = transpose(w2);
    const wDense = contiguous(wt);
    runPointwise(gy, wDense, bias, dx, g.n, g.o, g.c, g.h * g.w);
    for (const t of [w2, wt, wDense]) t.dispose();
    return dx;
  }
  // Source position p = iy + pad' - ky'*d with ky' = k-1-ky gives pad' = (k-1)*d - pad (may be negative).
  const pad: [number, number] = [(g.kh - 1) * g.dilation[0] - g.padding[0], (g.kw - 1) * g.dilation[1] - g.padding[2]];
  const flipped = kk - 1;
  // Depthwise phases pay off only with taps to spare: at k5/k7 stride 2 they ran 1.5-1.8x faster, at k3 (phases
  // of 1-2 taps, where per-invocation work dominates) no faster than zero insertion (alternating runs).
  const fewTaps = (k: number, s: number) => s > 1 && Math.floor(k / s) < 2;
  if (isDepthwise(g) && (g.stride.every((s) => s === 1) || fewTaps(g.kh, g.stride[0]) || fewTaps(g.kw, g.stride[1]))) {
    const mult = g.o / g.c;
    const pass: DepthwisePass = {
      src: gy, srcChannels: g.o, srcH: g.oh, srcW: g.ow, channels: g.c, red: mult, outDiv: 1,
      outH: g.h, outW: g.w, stride: [1, 1], dilation: g.dilation, pad, up: g.stride,
      wIndex: [flipped, 0, kk, -g.kw, -1],
    };
    runDepthwise(g, pass, w, bias, dx);
  } else if (isDepthwise(g)) {
    forEachPhase(g, (py, px, taps, outLayout) => {
      const pass: DepthwisePass = {
        src: gy, srcChannels: g.o, srcH: g.oh, srcW: g.ow, channels: g.c, red: g.o / g.c, outDiv: 1,
        outH: py.count, outW: px.count, stride: [1, 1], dilation: [py.dilation, px.dilation], pad: [py.pad, px.pad], up: [py.up, px.up],
        wIndex: [py.wFirst * g.kw + px.wFirst, 0, kk, py.wStep * g.kw, px.wStep], taps, outLayout,
      };
      runDepthwise(g, pass, w, bias, dx);
    });
  } else {
    directInputGrad(g, gy, w, bias, dx);
  }
  return dx;
}

/**
 * One axis of the dense gradient to x, split into phases. Along an axis with stride s > 1 and dilation 1,
 * dx positions i = s·a + r (phase r) receive dy[a + q] · w[k] exactly for the taps k with r + pad - k ≡ 0
 * (mod s), q = (r + pad - k) / s; listed with k falling by s, q rises by 1, so a phase is a stride-1
 * correlation of dy with ceil((K - k0) / s) taps (k0 the phase's smallest tap), and the phases together do
 * no multiply by an inserted zero (zero insertion does s times the taps along the axis). Elsewhere one
 * phase covers the axis through zero insertion (up = stride), the weight flipped.
 */
interface AxisPhase {
  /** First dx position, step between its positions (s), and how many there are. */
  first: number;
  step: number;
  count: number;
  taps: number;
  /** Source padding: dy position a + t - pad for tap t. */
  pad: number;
  /** Weight index of tap 0, and its step per tap. */
  wFirst: number;
  wStep: number;
  up: number;
  dilation: number;
}

function axisPhases(size: number, k: number, stride: number, dilation: number, padBefore: number): AxisPhase[] {
  if (stride === 1 || dilation !== 1) {
    const pad = (k - 1) * dilation - padBefore;
    return [{ first: 0, step: 1, count: size, taps: k, pad, wFirst: k - 1, wStep: -1, up: stride, dilation }];
  }
  const phases: AxisPhase[] = [];
  for (let r = 0; r < Math.min(stride, size); r++) {
    const k0 = (((r + padBefore) % stride) + stride) % stride;
    const taps = k0 < k ? Math.ceil((k - k0) / stride) : 0;
    const kLast = k0 + (taps - 1) * stride;
    // Tap t reads k = kLast - t·s at dy position a + (r + pad - kLast) / s + t.
    const pad = taps ? -(r + padBefore - kLast) / stride : 0;
    phases.push({ first: r, step: stride, count: Math.ceil((size - r) / stride), taps, pad, wFirst: kLast, wStep: -stride, up: 1, dilation: 1 });
  }
  return phases;
}

/**
 * Calls `each` for every (row phase, column phase) of the gradient to x, with the phase's taps and where
 * its outputs go in dx. A phase without taps still writes its outputs (zero, or the bias): its kernel
 * runs over no rows.
 */
function forEachPhase(g: ConvGeometry, each: (py: AxisPhase, px: AxisPhase, taps: [number, number], outLayout: OutLayout) => void): void {
  for (const py of axisPhases(g.h, g.kh, g.stride[0], g.dilation[0], g.padding[0])) {
    for (const px of axisPhases(g.w, g.kw, g.stride[1], g.dilation[1], g.padding[2])) {
      const taps: [number, number] = py.taps === 0 || px.taps === 0 ? [0, 1] : [py.taps, px.taps];
      each(py, px, taps, { plane: g.h * g.w, row: py.step * g.w, col: px.step, off: py.first * g.w + px.first });
    }
  }
}

function directInputGrad(g: ConvGeometry, gy: Tensor, w: Tensor, bias: Tensor | null, dx: Tensor): void {
  const cg = g.c / g.groups;
  const og = g.o / g.groups;
  const kk = g.kh * g.kw;
  forEachPhase(g, (py, px, taps, outLayout) => {
    const pass: DirectPass = {
      src: gy, srcH: g.oh, srcW: g.ow, redPerGroup: og, outPerGroup: cg, outH: py.count, outW: px.count,
      stride: [1, 1], dilation: [py.dilation, px.dilation], pad: [py.pad, px.pad], up: [py.up, px.up],
      wIndex: [py.wFirst * g.kw + px.wFirst, og * cg * kk, kk, cg * kk, py.wStep * g.kw, px.wStep],
      taps, outLayout,
    };
    runDirect(g, pass, w, bias, dx);
  });
}

/** Splits `rows` reduction rows into slices so that `base * slices` invocations reach the target. */
function sliceRows(rows: number, base: number): { slices: number; rowsPerSlice: number } {
  const wanted = Math.max(1, Math.min(rows, Math.ceil(WGRAD_TARGET_INVOCATIONS / base)));
  const rowsPerSlice = Math.ceil(rows / wanted);
  return { slices: Math.ceil(rows / rowsPerSlice), rowsPerSlice };
}

/** Sums partial[..., slice] over the slices into a tensor shaped like the weight. */
function finishSlices(partial: Tensor, slices: number, shape: number[]): Tensor {
  if (slices === 1) {
    const out = reshape(partial, shape);
    partial.dispose();
    return out;
  }
  const summed = sum(reshape(partial, [partial.size / slices, slices]), 1);
  partial.dispose();
  const out = reshape(summed, shape);
  summed.dispose();
  return out;
}

export function convWeightGrad(g: ConvGeometry, x: Tensor, gy: Tensor): Tensor {
  const cg = g.c / g.groups;
  const og = g.o / g.groups;
  const wShape = [g.o, cg, g.kh, g.kw];
  if (isPointwise(g)) return pointwiseWeightGrad(g, x, gy);
  const rows = g.n * g.oh;
  const { step, jm } = columnBlocking(g.stride[1], g.dilation[1]);
  const colItems = blockedItems(g.ow, step, CONV_COLS);
  const common = {
    in_h: g.h, in_w: g.w, out_h: g.oh, out_w: g.ow,
    stride: g.stride, dilation: g.dilation, pad: [g.padding[0], g.padding[2]],
    col_step: step, col_items: colItems, rows,
  };
  if (isDepthwise(g)) {
    const fast = depthwiseWeightGradRows(g, x, gy);
    if (fast) return fast;
    const { slices, rowsPerSlice } = sliceRows(rows, g.o);
    const partial = allocate([g.o * g.kh * g.kw * slices]);
    const total = g.o * slices;
    depthwiseWeightGradKernels.get({ kh: g.kh, kw: g.kw, jm }).run(
      { x: x.storage, gy: gy.storage, partial: partial.storage },
      { ...common, total, channels: g.o, mult: g.o / g.c, slices, rows_per_slice: rowsPerSlice },
      grid1d(total, CONV_WG),
    );
    return finishSlices(partial, slices, wShape);
  }
  const ob = channelBlock(og);
  const cbMax = g.kw <= 2 ? 4 : g.kw <= 4 ? 2 : 1;
  // An image's three channels in one block where blocks of 2 would fit (the 3x3 stem: 1.25-1.3x faster
  // than a block of 2 and a masked 2, same-process alternating runs).
  const cb = cg === 3 && cbMax >= 2 ? 3 : channelBlock(cg, cbMax);
  const outBlocks = Math.ceil(og / ob);
  const inBlocks = Math.ceil(cg / cb);
  const base = g.groups * outBlocks * inBlocks * g.kh;
  const { slices, rowsPerSlice } = sliceRows(rows, base);
  const partial = allocate([g.o * cg * g.kh * g.kw * slices]);
  const total = base * slices;
  weightGradKernels.get({ kw: g.kw, jm, ob, cb }).run(
    { x: x.storage, gy: gy.storage, partial: partial.storage },
    {
      ...common, total, groups: g.groups, in_per_group: cg, out_per_group: og, kh: g.kh,
      out_blocks: outBlocks, in_blocks: inBlocks, slices, rows_per_slice: rowsPerSlice,
    },
    grid1d(total, CONV_WG),
  );
  return finishSlices(partial, slices, wShape);
}

/**
 * Depthwise weight gradient on the row-walking kernel (depthwise_wgrad_rows) where it applies: dilation 1,
 * stride 1 or 2, 4-aligned source rows, non-negative padding, output planes of at least 64. Null otherwise.
 */
function depthwiseWeightGradRows(g: ConvGeometry, x: Tensor, gy: Tensor): Tensor | null {
  const [sy, sx] = g.stride;
  const [padTop, padLeft] = [g.padding[0], g.padding[2]];
  const strideOk = (s: number) => s === 1 || s === 2;
  if (g.dilation[0] !== 1 || g.dilation[1] !== 1 || !strideOk(sy) || !strideOk(sx) || g.w % 4 !== 0 || padTop < 0 || padLeft < 0) return null;
  // Planes under 64 outputs leave fewer items per channel than a workgroup has lanes: the general kernel wins.
  if (g.oh * g.ow < 64) return null;
  const cols = sx === 1 ? 8 : 4;
  const { colItems, rowBlock, rowItems, items, wg, groupsPerChannel } = rowWalkLayout(g.n, g.o, g.oh, g.ow, cols);
  const partial = allocate([g.o * g.kh * g.kw * items]);
  const kernel = depthwiseWeightGradRowsKernels.get({
    kh: g.kh, kw: g.kw, sy, sx, cols, lead: 4 * Math.ceil(padLeft / 4) - padLeft, wg, vec4Gy: g.ow % 4 === 0,
  });
  kernel.run(
    { x: x.storage, gy: gy.storage, partial: partial.storage },
    {
      batch: g.n, channels: g.o, out_div: g.o / g.c, src_channels: g.c, groups_per_channel: groupsPerChannel, items,
      src_h: g.h, src_w4: g.w / 4, out_h: g.oh, out_w: g.ow, col_items: colItems, row_items: rowItems, row_block: rowBlock,
      pad_top: padTop, pad_left4: Math.ceil(padLeft / 4),
    },
    grid1d(g.o * groupsPerChannel, 1),
  );
  return finishSlices(partial, items, [g.o, 1, g.kh, g.kw]);
}

/**
 * dw [O, C] = sum over n of dy[n] [O, P] · x[n]ᵀ [P, C]: the sliced pointwise kernel when O % 4 == 0 (1.4-3.8x
 * faster than the matmul on MobileNetV2's shapes in a same-process A/B), else one matmul summing over images
 * with x read transposed in place.
 */
function pointwiseWeightGrad(g: ConvGeometry, x: Tensor, gy: Tensor): Tensor {
  const pix = g.h * g.w;
  if (pix === 1) {
    // dw [O, C] = dyᵀ [O, N] · x [N, C]: one matmul over the batch.
    const gyT = gy.view([g.o, g.n], [1, g.o], gy.offset);
    const x2 = x.view([g.n, g.c], [g.c, 1], x.offset);
    const d = matmulKernel(gyT, x2);
    const out = reshape(d, [g.o, g.c, 1, 1]);
    for (const t of [gyT, x2, d]) t.dispose();
    return out;
  }
  if (g.o % 4 === 0) return pointwiseWeightGradSlices(g, x, gy);
  const xt = x.view([g.n, pix, g.c], [g.c * pix, 1, pix], 0);
  const gy3 = gy.view([g.n, g.o, pix], [g.o * pix, pix, 1], 0);
  const summed = matmulKernel(gy3, xt, { sumBatch: true });
  const out = reshape(summed, [g.o, g.c, 1, 1]);
  for (const t of [xt, gy3, summed]) t.dispose();
  return out;
}

/**
 * Slicing of the pointwise weight gradient: at most this many invocations, and slices of at least this many
 * rows (measured on MobileNetV2's shapes: more, shorter slices lost to their partials and loop overhead).
 */
const POINTWISE_WGRAD_MAX_INVOCATIONS = 512;
const POINTWISE_WGRAD_MIN_SLICE_ROWS = 512;

/**
 * dw [O, C] = Σ over the N·P pixel rows r of dyᵀ[r, o] · xᵀ[r, c], run as the pointwise kernel (lanes along
 * C, reduction along r) on transposed copies dyᵀ [N·P, O] and xᵀ [N·P, C]: the [R, O] weight layout it
 * reads as vec4 columns is exactly dyᵀ. The rows are split into S slices (S divides N·P), each slice an
 * "image" with its own weight (w_stride) writing a partial [O, C]; the partials are summed after. Needs
 * O % 4 == 0.
 */
function pointwiseWeightGradSlices(g: ConvGeometry, x: Tensor, gy: Tensor): Tensor {
  const pix = g.h * g.w;
  const rows = g.n * pix;
  const xT = contiguous(x.view([g.n, pix, g.c], [g.c * pix, 1, pix], x.offset));
  const gyT = contiguous(gy.view([g.n, pix, g.o], [g.o * pix, 1, pix], gy.offset));
  const { ob, pixBlocks } = pointwiseBlocks(g.c, g.o, true);
  const perSlice = Math.ceil(g.o / ob) * pixBlocks;
  let slices = 1;
  for (let s = 2; s * perSlice <= POINTWISE_WGRAD_MAX_INVOCATIONS && rows / s >= POINTWISE_WGRAD_MIN_SLICE_ROWS; s++) {
    if (rows % s === 0) slices = s;
  }
  const partial = allocate([slices, g.o, g.c]);
  runPointwise(xT, gyT, null, partial, slices, rows / slices, g.o, g.c, true, (rows / slices) * g.o);
  xT.dispose();
  gyT.dispose();
  const summed = slices > 1 ? sum(partial, 0) : reshape(partial, [g.o, g.c]);
  partial.dispose();
  const out = reshape(summed, [g.o, g.c, 1, 1]);
  summed.dispose();
  return out;
}

/** Gradient to the bias: dy summed over batch and pixels, as [N, O, P] -> [N, O] -> [O] (no transposed copy). */
export function convBiasGrad(gy: Tensor): Tensor {
  const [n, o, h, w] = gy.shape;
  const flat = reshape(gy, [n, o, h * w]);
  const perImage = sum(flat, 2);
  const out = sum(perImage, 0);
  flat.dispose();
  perImage.dispose();
  return out;
}
