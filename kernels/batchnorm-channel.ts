// Batch norm's one-invocation-a-channel passes (see kernels/batchnorm.ts for the row passes they replace on
// small maps, and for the helpers shared with them).
import { LINEAR_ID } from './prelude.ts';
import { KernelFamily } from '../engine/kernel.ts';
import {
  CHAN_MERGE, declare, elementType, GRAD_PARAMS, hsum, laneSummaries, masked, relu6Clamp, reluKey, type BatchNormReluVariant,
} from './batchnorm.ts';

// One invocation a channel, for channels of few elements (N·H·W <= BN_CHANNEL_MAX): the whole forward or
// backward in one dispatch, with no partials and no finalize. Invocation c reads its channel's N rows of
// S (stride C·S between images) twice: once for the statistics (or the gradient sums), then, with the
// rows now in cache, for the output. Neighbouring lanes read addresses a row apart; on lavapipe a
// per-lane load is a per-lane gather either way, and saving dispatches and a read from memory won over
// the row passes in same-process A/B up to 4096 elements (1.1-1.8x; still even at 8K-12K elements with
// 16-144 channels, where one invocation a channel leaves few workgroups). Workgroups of 16 and 64 measured
// alike. The statistics are those of bn_stats_partial over the whole channel (one shift, the channel's
// first value; the vec4 lanes Chan-merged), so they stay robust when |mean| >> std.
//   bn_channel_forward   (batch statistics) the stats of bn_stats_partial over the whole channel, the
//                        finalize (running buffers, coeff) and bn_apply's y.
//   bn_channel_backward  bn_grad_partial's sums, bn_grad_finalize's dweight, dbias (batch or running
//                        statistics) and bn_input_grad's dx.

/** Most elements a channel (N·H·W) that one invocation handles whole. */
export const BN_CHANNEL_MAX = 4096;
/** Rows (vec4s, or floats when H·W % 4 != 0) up to this long are constants of the per-channel kernels. */
export const BN_CONST_ROW_MAX = { forward: 4, backward: 2 };
/** Invocations per workgroup of the one-invocation-a-channel passes. */
export const BN_CHANNEL_WG = 64;

export interface BatchNormChannelVariant extends BatchNormReluVariant {
  affine: boolean;
  /** Forward: running buffers bound (updated when params.update). */
  running?: boolean;
  /** The row length S as a constant of the kernel (short rows), or 0 to read params.s. */
  rowLength?: number;
}

const CHANNEL_HEAD = (vec4: boolean, bindings: string, params: string) => /* wgsl */ `
struct Params { n: u32, c: u32, s: u32${params} }
alias T = ${elementType(vec4)};
@group(0) @binding(0) var<storage, read> x: array<T>;
${bindings}
${LINEAR_ID}
@compute @workgroup_size(${BN_CHANNEL_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let c = linear_id(wid, nwg, lidx, ${BN_CHANNEL_WG}u);
  if (c >= params.c) { return; }
  let first = c * params.s;
  let stride = params.c * params.s;`;

/**
 * The channel's rows: \`body(index, slot)\`. A loop takes one element an iteration, in slot 'a': unrolled by
 * two into slots 'a' and 'b' (independent accumulators) it ran 1.02-1.14x slower backward, level forward
 * (same-process A/B, 96-960 channels, 2x2-14x14 maps). With a constant row length (rows of at most
 * BN_CONST_ROW_MAX) the row is written out in full, alternating the slots, with no inner loop:
 * on 2x2 and 4x4 maps the loop's own work outweighed its one load an iteration (forward on 2x2 maps 1.2-1.35x,
 * on 4x4 1.05-1.1x; backward on 2x2 1.1-1.3x faster). The backward on 4x4 maps and either direction on
 * 8-vec4 rows ran up to 1.25x slower unrolled (alternating runs), and longer rows, unrolled or with constant
 * bounds, up to 2.7x.
 */
const CHANNEL_LOOP = (rowLength: number | undefined, body: (i: string, slot: 'a' | 'b') => string) =>
  rowLength
    ? /* wgsl */ `
  for (var n = 0u; n < params.n; n++) {
    let base = first + n * stride;
    ${[...Array(rowLength).keys()].map((j) => `{ ${body(`base + ${j}u`, j % 2 ? 'b' : 'a')} }`).join('\n    ')}
  }`
    : /* wgsl */ `
  for (var n = 0u; n < params.n; n++) {
    let base = first + n * stride;
    for (var s = 0u; s < params.s; s++) {
      ${body('base + s', 'a')}
    }
  }`;

function channelForwardSource({ vec4, relu6, affine, running, rowLength }: BatchNormChannelVariant): string {
  const list: [string, string, string][] = [];
  if (affine) list.push(['weight', 'read', 'f32'], ['bias', 'read', 'f32']);
  if (running) list.push(['running_mean', 'read_write', 'f32'], ['running_var', 'read_write', 'f32']);
  const bindings = /* wgsl */ `${declare(list, 1)}
@group(0) @binding(${list.length + 1}) var<storage, read_write> coeff: array<vec4<f32>>;
@group(0) @binding(${list.length + 2}) var<storage, read_write> y: array<T>;
@group(0) @binding(${list.length + 3}) var<uniform> params: Params;
${CHAN_MERGE}`;
  // As bn_stats_partial: sums of x - shift and its square, shift = the channel's first value (per vec4
  // lane, the lanes' summaries then Chan-merged relative to lane x's shift).
  const lanes = laneSummaries(vec4);
  const s0 = vec4 ? 'shift.x' : 'shift';
  return /* wgsl */ `${CHANNEL_HEAD(vec4, bindings, ', eps: f32, momentum: f32, unbias: f32, update: u32')}
  let shift = x[first];
  var s1a = T(0.0);
  var s2a = T(0.0);
  var s1b = T(0.0);
  var s2b = T(0.0);${CHANNEL_LOOP(rowLength, (i, slot) => `let d${slot} = x[${i}] - shift;
      s1${slot} += d${slot};
      s2${slot} += d${slot} * d${slot};`)}
  let k = f32(params.n * params.s);
  let s1 = s1a + s1b;
  let s2 = s2a + s2b;
  let mean = (shift - T(${s0})) + s1 * (1.0 / k);
  let m2 = max(s2 - s1 * s1 * (1.0 / k), T(0.0));
  let acc = ${lanes};
  let mu = ${s0} + acc.y;
  let variance = acc.z / acc.x;${
    running
      ? `
  if (params.update != 0u) {
    running_mean[c] = (1.0 - params.momentum) * running_mean[c] + params.momentum * mu;
    running_var[c] = (1.0 - params.momentum) * running_var[c] + params.momentum * variance * params.unbias;
  }`
      : ''
  }
  let invstd = 1.0 / sqrt(variance + params.eps);
  let scale = invstd * ${affine ? 'weight[c]' : '1.0'};
  let co = vec4<f32>(scale, ${affine ? 'bias[c]' : '0.0'} - mu * scale, mu, invstd);
  coeff[c] = co;${CHANNEL_LOOP(rowLength, (i) => `y[${i}] = ${relu6Clamp(relu6, `x[${i}] * co.x + co.y`)};`)}
}`;
}

function channelBackwardSource({ vec4, relu6, affine, rowLength }: BatchNormChannelVariant): string {
  const list: [string, string, string][] = [['g', 'read', elementType(vec4)], ['coeff', 'read', 'vec4<f32>']];
  if (affine) list.push(['dweight', 'read_write', 'f32'], ['dbias', 'read_write', 'f32']);
  const bindings = /* wgsl */ `${declare(list, 1)}
@group(0) @binding(${list.length + 1}) var<storage, read_write> dx: array<T>;
@group(0) @binding(${list.length + 2}) var<uniform> params: Params;`;
  return /* wgsl */ `${CHANNEL_HEAD(vec4, bindings, GRAD_PARAMS)}
  let k = coeff[c];
  var acc_ga = T(0.0);
  var acc_gxa = T(0.0);
  var acc_gb = T(0.0);
  var acc_gxb = T(0.0);${CHANNEL_LOOP(rowLength, (i, slot) => `let x${slot} = x[${i}];
      let g${slot} = ${masked(relu6, `x${slot}`, `g[${i}]`)};
      acc_g${slot} += g${slot};
      acc_gx${slot} += g${slot} * (x${slot} - k.z);`)}
  let total = vec2<f32>(${hsum(vec4, 'acc_ga + acc_gb')}, ${hsum(vec4, 'acc_gxa + acc_gxb')});${
    affine ? '\n  dbias[c] = total.x;\n  dweight[c] = total.y * k.w;' : ''
  }
  // As bn_grad_finalize: dx = scale·g' + b·x + d.
  let batch = select(0.0, 1.0, params.use_batch != 0u);
  let b = -batch * k.x * k.w * k.w * total.y / params.count;
  let d = -batch * k.x * total.x / params.count - b * k.z;${CHANNEL_LOOP(rowLength, (i, slot) => `let x${slot} = x[${i}];
      dx[${i}] = k.x * ${masked(relu6, `x${slot}`, `g[${i}]`)} + b * x${slot} + d;`)}
}`;
}

export const bnChannelForward = new KernelFamily<BatchNormChannelVariant>('bn_channel_forward', channelForwardSource, (v) =>
  [reluKey(v), v.affine ? 'affine' : 'plain', v.running ? 'running' : '', v.rowLength ? `s${v.rowLength}` : ''].filter(Boolean).join(','),
);
export const bnChannelBackward = new KernelFamily<BatchNormChannelVariant>('bn_channel_backward', channelBackwardSource, (v) =>
  [reluKey(v), v.affine ? 'affine' : 'plain', v.rowLength ? `s${v.rowLength}` : ''].filter(Boolean).join(','),
);
