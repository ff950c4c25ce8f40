// 3x3 stride-1 dense convs as Winograd (kernels/winograd.ts): the forward and the gradient to x as
// F(2x2, 3x3), the weight gradient as F(3x3, 2x2); each an input transform, a GEMM per transform position
// on the pointwise kernel, an output transform. 2.25x fewer multiply-adds than the direct sum, for memory
// passes over 4x the input and output.
import { grid1d } from '../kernel.ts';
import { derived } from '../derived.ts';
import { allocate, type Tensor } from '../tensor.ts';
import { reductionSlices, runPointwise } from './conv-pointwise.ts';
import { reshape } from './movement.ts';
import { sum } from './reduce.ts';
import type { ConvGeometry } from './conv-common.ts';
import {
  WINOGRAD_WG, winogradGradOutput, winogradGradTransform, winogradInput, winogradOutput, winogradWeight,
} from '../../kernels/winograd.ts';

/** Largest transformed buffer (V or M, bytes) the path allocates; bigger convs take the other paths. */
const WINOGRAD_MAX_BYTES = 64 * 2 ** 20;
/** Transform positions of F(2x2, 3x3): its 4x4 tiles. */
const POSITIONS = 16;

/** Fewest multiply-adds (direct count) worth the path's 4 dispatches; below it the direct kernels win. */
export const WINOGRAD_MIN_MACS = 2 ** 18;

let mode: 'on' | 'off' | 'always' = 'on';

/**
 * Turns the Winograd path off (tests compare it with the GEMM and direct kernels), back on, or on for every
 * eligible conv however small ('always': tests run it on shapes a float64 reference can afford).
 */
export function setWinogradConv(on: boolean | 'always'): void {
  mode = on === 'always' ? 'always' : on ? 'on' : 'off';
}

/**
 * Which convs run as Winograd: 3x3, stride 1, dilation 1, one group, 16+ channels reduced over and 16+
 * produced, a multiple of 4 of them (the GEMM reads U's output channels as vec4s), and at least
 * WINOGRAD_MIN_MACS multiply-adds. `pass` 'inputGrad' reduces over the conv's output channels and produces
 * its input channels; 'weightGrad' produces [O, C] (O a multiple of 4). Weight gradient against the direct
 * kernel: 32->64 at 56x56 2.37x, at 16x16 b8 2.12x, 64->64 56x56 2.61x, 128->128 28x28 2.47x, 256->256
 * 14x14 3.22x, 512->512 7x7 1.87x, 16->16 9x9 b2 2.28x. Same-process A/B on lavapipe against what these shapes took before (im2col + GEMM,
 * col2im, direct), forward / gradient to x: 32->64 at 56x56 1.52x / 1.63x, at 16x16 b8 1.54x / 1.64x;
 * 64->64 56x56 1.76x / 1.81x; 128->128 28x28 1.62x / 1.90x; 256->256 14x14 1.48x / 1.36x; 512->512 7x7
 * 1.65x / 1.23x; 16->64 112x112 1.18x / 1.62x; 64->16 28x28 1.80x / 2.12x; 32->32 2x2 b8 3.2x / 1.4x;
 * 16->16 4x4 b8 1.97x / 0.81x. Under the threshold: 16->16 8x8 1.0x / 0.74x, 4x4 1.04x / 0.46x.
 */
export function usesWinograd(g: ConvGeometry, pass: 'forward' | 'inputGrad' | 'weightGrad' = 'forward'): boolean {
  if (mode === 'off' || g.kh !== 3 || g.kw !== 3 || g.groups !== 1) return false;
  if (g.stride[0] !== 1 || g.stride[1] !== 1 || g.dilation[0] !== 1 || g.dilation[1] !== 1) return false;
  // The weight gradient's GEMM produces [O, C] (O a multiple of 4: its weight operand's vec4 columns).
  const [red, outs] = pass === 'inputGrad' ? [g.o, g.c] : pass === 'forward' ? [g.c, g.o] : [g.c, g.o];
  const [outH, outW] = pass === 'inputGrad' ? [g.h, g.w] : [g.oh, g.ow];
  if (red < 16 || outs < 16 || outs % 4 !== 0) return false;
  // The gradient to x pads dy by 2 - p: a side padded past 2 would need a negative padding.
  if (pass === 'inputGrad' && g.padding.some((p) => p > 2)) return false;
  if (mode !== 'always' && g.n * red * outs * 9 * outH * outW < WINOGRAD_MIN_MACS) return false;
  const tiles = Math.ceil((g.n * Math.ceil(outH / 2) * Math.ceil(outW / 2)) / 4) * 4;
  return 4 * POSITIONS * Math.max(red, outs) * tiles <= WINOGRAD_MAX_BYTES;
}

/**
 * out [N, outs, outH, outW] = the 3x3 stride-1 conv of src [N, red, srcH, srcW] padded (top, left), with
 * U's filters (`flip` as in winogradWeight) and an optional bias [outs]. Dense tensors.
 */
function winogradConv(
  src: Tensor, w: Tensor, bias: Tensor | null, out: Tensor, n: number, red: number, outs: number,
  src2: [number, number], out2: [number, number], padTop: number, padLeft: number, flip: boolean,
): void {
  const [tilesH, tilesW] = [Math.ceil(out2[0] / 2), Math.ceil(out2[1] / 2)];
  const tiles = n * tilesH * tilesW;
  const per = tilesW % 4 === 0 ? 4 : 1;
  const groups = tiles / per;
  // V's and M's rows are padded to a multiple of 4 tiles, so the GEMM reads and writes them as vec4s (14x14
  // maps have 49 tiles an image). The padding columns are never written by the input transform nor read by
  // the output transform; the GEMM's columns are independent, so whatever they hold stays there.
  const tilesPadded = Math.ceil(tiles / 4) * 4;
  const row = tilesPadded / per;
  const v = allocate([POSITIONS, red, tilesPadded]);
  winogradInput.get({ tiles: per }).run(
    { x: src.storage, v: v.storage },
    { chans: red, h: src2[0], w: src2[1], pad_t: padTop, pad_l: padLeft, tiles_h: tilesH, tiles_w: tilesW, groups, row, total: src.size },
    grid1d(red * groups, WINOGRAD_WG),
  );
  // U depends on w alone: kept while w is unwritten (engine/derived.ts), e.g. across evaluation calls.
  const u = derived(w, `winograd_u:${red}:${outs}:${flip ? 1 : 0}`, () => {
    const made = allocate([POSITIONS, red, outs]);
    winogradWeight.run({ w: w.storage, u: made.storage }, { red, outs, flip: flip ? 1 : 0 }, grid1d((red * outs) / 4, WINOGRAD_WG));
    return made;
  });
  const m = allocate([POSITIONS, outs, tilesPadded]);
  // 16 "images" (positions ξ), each with its own [red, outs] weight U[ξ].
  runPointwise(v, u, null, m, POSITIONS, red, outs, tilesPadded, true, red * outs, false);
  v.dispose();
  u.dispose();
  winogradOutput.get({ tiles: per }).run(
    { m: m.storage, bias: (bias ?? m).storage, y: out.storage },
    { chans: outs, oh: out2[0], ow: out2[1], tiles_h: tilesH, tiles_w: tilesW, groups, row, has_bias: bias ? 1 : 0 },
    grid1d(outs * groups, WINOGRAD_WG),
  );
  m.dispose();
}

export function winogradForward(g: ConvGeometry, x: Tensor, w: Tensor, bias: Tensor | null, out: Tensor): void {
  winogradConv(x, w, bias, out, g.n, g.c, g.o, [g.h, g.w], [g.oh, g.ow], g.padding[0], g.padding[2], false);
}

/**
 * dx [N, C, H, W] = the conv of dy with w rotated 180° (in and out channels swapped), padded 2 - p: output
 * position i gathers dy at i - 2 + p + tap. `bias` [C]: convTranspose2d's forward runs here too.
 */
export function winogradInputGrad(g: ConvGeometry, gy: Tensor, w: Tensor, bias: Tensor | null, dx: Tensor): void {
  winogradConv(gy, w, bias, dx, g.n, g.o, g.c, [g.oh, g.ow], [g.h, g.w], 2 - g.padding[0], 2 - g.padding[2], true);
}

/**
 * dw [O, C, 3, 3] as F(3x3, 2x2) (kernels/winograd.ts): V [16, T, C] from x, U [16, T, O] from dy's 2x2
 * tiles, M [16, O, C] = Σ_t U[ξ, t, :]ᵀ V[ξ, t, :] on the pointwise kernel (in slices of the tiles, each
 * slice an "image" with its own weight, summed after), then dw = Aᵀ M A.
 */
export function winogradWeightGrad(g: ConvGeometry, x: Tensor, gy: Tensor): Tensor {
  const [tilesH, tilesW] = [Math.ceil(g.oh / 2), Math.ceil(g.ow / 2)];
  const tiles = g.n * tilesH * tilesW;
  const v = allocate([POSITIONS, tiles, g.c]);
  winogradInput.get({ tiles: 1, layout: 'tileMajor' }).run(
    { x: x.storage, v: v.storage },
    { chans: g.c, h: g.h, w: g.w, pad_t: g.padding[0], pad_l: g.padding[2], tiles_h: tilesH, tiles_w: tilesW, groups: tiles, row: tiles, total: x.size },
    grid1d(g.c * tiles, WINOGRAD_WG),
  );
  const u = allocate([POSITIONS, tiles, g.o]);
  winogradGradTransform.run(
    { gy: gy.storage, u: u.storage },
    { chans: g.o, oh: g.oh, ow: g.ow, tiles_h: tilesH, tiles_w: tilesW, tiles },
    grid1d(g.o * tiles, WINOGRAD_WG),
  );
  const slices = reductionSlices(tiles, POSITIONS, g.c, g.o);
  const perSlice = tiles / slices;
  const partial = allocate([POSITIONS * slices, g.o, g.c]);
  runPointwise(v, u, null, partial, POSITIONS * slices, perSlice, g.o, g.c, true, perSlice * g.o);
  v.dispose();
  u.dispose();
  let m = partial;
  if (slices > 1) {
    const split = reshape(partial, [POSITIONS, slices, g.o, g.c]);
    m = sum(split, 1);
    split.dispose();
    partial.dispose();
  }
  const dw = allocate([g.o, g.c, 3, 3]);
  winogradGradOutput.run({ m: m.storage, dw: dw.storage }, { count: g.o * g.c }, grid1d(g.o * g.c, WINOGRAD_WG));
  m.dispose();
  return dw;
}
