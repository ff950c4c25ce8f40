// The least WGSL kernels with batch norm's one-invocation-a-channel access (kernels/batchnorm-channel.ts): a
// probe for the rows that take that path. Invocation c walks its channel's N rows of S elements (C·S apart)
// and reads them twice, as our passes do: the forward sums x, then writes y = x·s + t; the backward sums dy
// and dy·x, then writes dx = a·dy + b·x. No shift, no Chan merge, no clamp or mask, no running statistics:
// what those loads and stores cost on this adapter.
import { grid1d, Kernel, type Tensor } from '../../engine/index.ts';
import { allocate } from '../../engine/tensor.ts';
import type { Probe } from '../compare.ts';
import { COPY_CEILING } from './copy.ts';

const WG = 64;

function channelShader(vec4: boolean, backward: boolean): string {
  const t = vec4 ? 'vec4<f32>' : 'f32';
  const hsum = (v: string) => (vec4 ? `dot(${v}, vec4<f32>(1.0))` : v);
  const walk = (body: string) => /* wgsl */ `
  for (var n = 0u; n < params.n; n++) {
    let base = first + n * stride;
    for (var s = 0u; s < params.s; s++) { let i = base + s; ${body} }
  }`;
  const bindings = backward
    ? `@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read> g: array<${t}>;
@group(0) @binding(2) var<storage, read_write> out: array<${t}>;
@group(0) @binding(3) var<uniform> params: Params;`
    : `@group(0) @binding(0) var<storage, read> x: array<${t}>;
@group(0) @binding(1) var<storage, read_write> out: array<${t}>;
@group(0) @binding(2) var<uniform> params: Params;`;
  const body = backward
    ? `var a = ${t}(0.0);
  var b = ${t}(0.0);${walk('let gv = g[i]; a += gv; b += gv * x[i];')}
  let sa = ${hsum('a')};
  let sb = ${hsum('b')};${walk('out[i] = sa * g[i] + sb * x[i];')}`
    : `var a = ${t}(0.0);${walk('a += x[i];')}
  let sa = ${hsum('a')};${walk('out[i] = x[i] * sa + sa;')}`;
  return /* wgsl */ `
struct Params { n: u32, c: u32, s: u32 }
${bindings}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let c = (wid.x + wid.y * nwg.x) * ${WG}u + lidx;
  if (c >= params.c) { return; }
  let first = c * params.s;
  let stride = params.c * params.s;
  ${body}
}`;
}

const kernels = new Map<string, Kernel>();

function channelKernel(vec4: boolean, backward: boolean): Kernel {
  const key = `bench_least_bn_channel_${backward ? 'backward' : 'forward'}_${vec4 ? 'vec4' : 'f32'}`;
  let kernel = kernels.get(key);
  if (!kernel) kernels.set(key, (kernel = new Kernel(key, channelShader(vec4, backward))));
  return kernel;
}

/**
 * A probe: the least one-invocation-a-channel forward (and, with `dy`, backward) on the row's own x [N, C, H, W]
 * and dy, as many dispatches as our path; `work` is the row's count. `dispose` frees its outputs.
 */
export function leastChannelProbe(rowName: string, x: Tensor, dy: Tensor | null, work: number): Probe & { dispose(): void } {
  const [n, c, h, w] = x.shape;
  const vec4 = (h * w) % 4 === 0;
  const params = { n, c, s: vec4 ? (h * w) / 4 : h * w };
  const grid = grid1d(c, WG);
  const y = allocate(x.shape);
  const dx = dy ? allocate(x.shape) : null;
  const forward = channelKernel(vec4, false);
  const backward = dy ? channelKernel(vec4, true) : null;
  return {
    name: `hand-written WGSL one-invocation-a-channel pass${dy ? 'es' : ''} as ${rowName}`, work, unit: 'GB/s', ceiling: COPY_CEILING,
    note: dy
      ? 'per channel, x read for a sum and again for y; x and dy read for two sums and again for dx: the same loads and stores as ours, nothing else'
      : 'per channel, x read for a sum and again for y: the same loads and stores as ours, nothing else',
    record: () => {
      forward.run({ x: x.storage, out: y.storage }, params, grid);
      if (backward && dy && dx) backward.run({ x: x.storage, g: dy.storage, out: dx.storage }, params, grid);
    },
    dispose: () => {
      y.dispose();
      dx?.dispose();
    },
  };
}
