// Depthwise launches: the row-walking forward (and stride-1 gradient to x), the general depthwise kernel
// (strided gradients to x, their phases), and the row-walking weight gradient. conv-launch.ts picks them.
import { grid1d } from '../kernel.ts';
import { tuning } from '../tuning.ts';
import { allocate, type Tensor } from '../tensor.ts';
import { blockedItems, columnBlocking, CONV_COLS, CONV_WG } from '../../kernels/conv2d.ts';
import { depthwiseForwardKernels, depthwiseKernels } from '../../kernels/depthwise.ts';
import { depthwiseWeightGradRowsKernels } from '../../kernels/depthwise-wgrad.ts';
import { denseLayout, finishSlices, type ConvGeometry, type SourcePass } from './conv-common.ts';

/** Rows per depthwise invocation; 2 halves the weight and source-row loads per output against 1. */
const DEPTHWISE_ROWS = 2;

export interface DepthwisePass extends SourcePass {
  srcChannels: number;
  channels: number;
  red: number;
  outDiv: number;
  /** Weight offset and strides for (out channel, source channel, ky, kx). */
  wIndex: [number, number, number, number, number];
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
 * A/B). 'auto' follows `tuning()` (engine/tuning.ts); tests force each.
 */
export type DepthwiseKernelChoice = 'auto' | 'row-walk' | 'direct';

let depthwiseChoice: DepthwiseKernelChoice = 'auto';

export function setDepthwiseKernel(choice: DepthwiseKernelChoice): void {
  depthwiseChoice = choice;
}

export function runDepthwise(g: ConvGeometry, p: DepthwisePass, w: Tensor, bias: Tensor | null, out: Tensor): void {
  const rowWalk = depthwiseChoice === 'auto' ? tuning() === 'software' : depthwiseChoice === 'row-walk';
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

/**
 * Depthwise weight gradient on the row-walking kernel (depthwise_wgrad_rows) where it applies: dilation 1,
 * stride 1 or 2, 4-aligned source rows, non-negative padding, output planes of at least 64. Null otherwise.
 */
export function depthwiseWeightGradRows(g: ConvGeometry, x: Tensor, gy: Tensor): Tensor | null {
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
