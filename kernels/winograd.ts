// Winograd F(2x2, 3x3) for 3x3 stride-1 undilated dense convs (Lavin & Gray): every 2x2 output tile is
// Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A over its 4x4 input patch d, so a tile's 36 multiply-adds per (in, out) channel
// pair become 16, and those 16 are one batched GEMM over the 16 transform positions ξ:
//   V [16, R, T]  = Bᵀ d B of every input channel r and tile t           (winograd_input)
//   U [16, R, O]  = G g Gᵀ of every 3x3 filter, stored [R, O] per ξ      (winograd_weight)
//   M [16, O, T]  = Σ_r U[ξ, r, o] · V[ξ, r, t]                           (the pointwise kernel, 16 "images")
//   y [N, O, H', W'] = Aᵀ M A of every tile (+ bias)                      (winograd_output)
// T = N · ceil(H'/2) · ceil(W'/2) tiles, t = (image, tile row, tile column) row-major. The same kernels run
// the gradient to x of such a conv: a conv of dy with the filters rotated 180° and in/out swapped
// (`flip`: U[ξ, k, c] from w[k, c]), padded 2 - p.
//
//   Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]   Aᵀ = [1 1 1 0; 0 1 -1 -1]
//
// The transforms add and subtract neighbours (and halve, which is exact), so the result differs from the
// direct sum only by the rounding of a few more additions per term; the conv tests hold it to the same
// float32 tolerances as the direct kernels.
//
// Variants: `tiles` 4 has each invocation take four horizontally adjacent tiles (the host needs tile
// columns per row % 4 == 0, so the four share a row and T % 4 == 0): V and M are then read and written as
// vec4s along t, and the input transform loads a 4 x 10 window once instead of four 4 x 4 patches.
// V's and M's rows hold T rounded up to a multiple of 4 (`row`, in units of the binding's element), so the
// GEMM runs on vec4s. Grids are 1-D over (channel, tile group), tile fastest (neighbouring lanes,
// neighbouring t); V holds 16·R·T floats in one storage binding, so R·T < 2^21 and no grid passes 65535
// workgroups of 64.
import { Kernel, KernelFamily } from '../engine/kernel.ts';
import { LINEAR_ID } from './prelude.ts';

export const WINOGRAD_WG = 64;

export interface WinogradVariant {
  /** Tiles an invocation takes: 1, or 4 adjacent along a tile row (vec4 along t). */
  tiles: 1 | 4;
  /**
   * Input transform only: 'tileMajor' writes V [16, T, C], channel fastest, one tile an invocation (the
   * weight gradient's GEMM reads it so); by default V [16, C, T].
   */
  layout?: 'tileMajor';
}

const range = (n: number) => [...Array(n).keys()];
const ENTRY = /* wgsl */ `
${LINEAR_ID}
@compute @workgroup_size(${WINOGRAD_WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lidx: u32) {
  let id = linear_id(wid, nwg, lidx, ${WINOGRAD_WG}u);`;

/** (image, tile row, tile column) of tile t: the only divisions, once an invocation. */
const TILE_COORDS = /* wgsl */ `
  let per_image = p.tiles_h * p.tiles_w;
  let img = t / per_image;
  let in_image = t - img * per_image;
  let ty = in_image / p.tiles_w;
  let tx = in_image - ty * p.tiles_w;`;

function inputSource({ tiles, layout }: WinogradVariant): string {
  const tileMajor = layout === 'tileMajor';
  const cols = 2 * tiles + 2;
  const elem = tiles === 4 ? 'vec4<f32>' : 'f32';
  // Window rows i (4) by columns j (cols): masked loads (zero padding), index clamped into the tensor.
  const loads = range(4)
    .map((i) => {
      const row = `let row${i} = top + ${i}; let row_ok${i} = row${i} >= 0 && row${i} < i32(p.h); let rb${i} = base + row${i} * i32(p.w);`;
      const vals = range(cols).map((j) => `let d${i}_${j} = select(0.0, x[u32(clamp(rb${i} + x0 + ${j}, 0, last))], row_ok${i} && col_ok${j});`);
      return [row, ...vals].join('\n  ');
    })
    .join('\n  ');
  const colOk = range(cols).map((j) => `let col_ok${j} = x0 + ${j} >= 0 && x0 + ${j} < i32(p.w);`).join(' ');
  // Bᵀ d: rows of the window, then d Bᵀᵀ per tile's 4 columns (tile k starts at column 2k).
  const rowT = range(cols)
    .map((j) => `let r0_${j} = d0_${j} - d2_${j}; let r1_${j} = d1_${j} + d2_${j}; let r2_${j} = d2_${j} - d1_${j}; let r3_${j} = d1_${j} - d3_${j};`)
    .join('\n  ');
  const colT = (i: number, col: number, k: number) => {
    const c = 2 * k;
    return [`r${i}_${c} - r${i}_${c + 2}`, `r${i}_${c + 1} + r${i}_${c + 2}`, `r${i}_${c + 2} - r${i}_${c + 1}`, `r${i}_${c + 1} - r${i}_${c + 3}`][col];
  };
  const stores = range(16)
    .map((xi) => {
      const [i, col] = [xi >> 2, xi & 3];
      const value = tiles === 4 ? `vec4<f32>(${range(4).map((k) => colT(i, col, k)).join(', ')})` : colT(i, col, 0);
      return `v[o + ${xi}u * stride] = ${value};`;
    })
    .join('\n  ');
  // Channel-major: invocations over (channel, tile group), tile fastest, rows of `row` elements of V.
  // Tile-major: over (tile, channel), channel fastest; V's rows are the channels (groups = tiles there).
  const indices = tileMajor
    ? `let c = id % p.chans;
  let tg = id / p.chans;
  let stride = p.groups * p.chans;
  let o = tg * p.chans + c;`
    : `let tg = id % p.groups;
  let c = id / p.groups;
  let stride = p.chans * p.row;
  let o = c * p.row + tg;`;
  return /* wgsl */ `
struct Params { chans: u32, h: u32, w: u32, pad_t: i32, pad_l: i32, tiles_h: u32, tiles_w: u32, groups: u32, row: u32, total: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> v: array<${elem}>;
@group(0) @binding(2) var<uniform> p: Params;
${ENTRY}
  if (id >= p.chans * p.groups) { return; }
  ${indices}
  let t = tg * ${tiles}u;
  ${TILE_COORDS}
  let top = i32(2u * ty) - p.pad_t;
  let x0 = i32(2u * tx) - p.pad_l;
  let base = i32((img * p.chans + c) * p.h * p.w);
  let last = i32(p.total) - 1;
  ${colOk}
  ${loads}
  ${rowT}
  ${stores}
}`;
}

function outputSource({ tiles }: WinogradVariant): string {
  const elem = tiles === 4 ? 'vec4<f32>' : 'f32';
  const loads = range(16).map((xi) => `let m${xi} = m[q + ${xi}u * stride];`).join('\n  ');
  // Aᵀ m A: columns per row i first (a = m_i0 + m_i1 + m_i2, b = m_i1 - m_i2 - m_i3), then rows.
  const cols = range(4)
    .map((i) => `let a${i} = m${4 * i} + m${4 * i + 1} + m${4 * i + 2}; let b${i} = m${4 * i + 1} - m${4 * i + 2} - m${4 * i + 3};`)
    .join('\n  ');
  const comp = (k: number) => (tiles === 4 ? `[${k}]` : '');
  const writes = range(tiles)
    .map((k) => {
      const ox = `ox + ${2 * k}u`;
      return `if (${ox} < p.ow) {
    y[row0 + ${ox}] = y00${comp(k)} + b;
    if (${ox} + 1u < p.ow) { y[row0 + ${ox} + 1u] = y01${comp(k)} + b; }
    if (has_row1) {
      y[row0 + p.ow + ${ox}] = y10${comp(k)} + b;
      if (${ox} + 1u < p.ow) { y[row0 + p.ow + ${ox} + 1u] = y11${comp(k)} + b; }
    }
  }`;
    })
    .join('\n  ');
  return /* wgsl */ `
struct Params { chans: u32, oh: u32, ow: u32, tiles_h: u32, tiles_w: u32, groups: u32, row: u32, has_bias: u32 }
@group(0) @binding(0) var<storage, read> m: array<${elem}>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
${ENTRY}
  if (id >= p.chans * p.groups) { return; }
  let tg = id % p.groups;
  let o = id / p.groups;
  let t = tg * ${tiles}u;
  ${TILE_COORDS}
  let stride = p.chans * p.row;
  let q = o * p.row + tg;
  ${loads}
  ${cols}
  let y00 = a0 + a1 + a2;
  let y01 = b0 + b1 + b2;
  let y10 = a1 - a2 - a3;
  let y11 = b1 - b2 - b3;
  let b = select(0.0, bias[o], p.has_bias != 0u);
  let oy = 2u * ty;
  let ox = 2u * tx;
  let has_row1 = oy + 1u < p.oh;
  let row0 = ((img * p.chans + o) * p.oh + oy) * p.ow;
  ${writes}
}`;
}

export const winogradInput = new KernelFamily<WinogradVariant>('winograd_input', inputSource, (v) => `tiles${v.tiles}${v.layout ? `,${v.layout}` : ''}`);
export const winogradOutput = new KernelFamily<WinogradVariant>('winograd_output', outputSource, (v) => `tiles${v.tiles}`);

/** WGSL of winogradWeight, written out (no private arrays: lavapipe spills dynamically indexed ones). */
function weightSource(): string {
  const channel = (k: number) => {
    const taps = range(3).map((i) => {
      const row = `select(base${k} + ${3 * i}u, base${k} + ${6 - 3 * i}u, flip)`;
      return `let v${k}_${i} = vec3<f32>(w[${row}], w[${row} + 1u], w[${row} + 2u]); let g${k}_${i} = select(v${k}_${i}, v${k}_${i}.zyx, flip);`;
    });
    // G g (4 x 3) rows, then each row times Gᵀ: (a.x, (a.x + a.y + a.z) / 2, (a.x - a.y + a.z) / 2, a.z).
    const rows = [`g${k}_0`, `0.5 * (g${k}_0 + g${k}_1 + g${k}_2)`, `0.5 * (g${k}_0 - g${k}_1 + g${k}_2)`, `g${k}_2`]
      .map((e, i) => `let a${k}_${i} = ${e};`);
    return [`let base${k} = select(((4u * o4 + ${k}u) * p.red + r) * 9u, (r * p.outs + 4u * o4 + ${k}u) * 9u, flip);`, ...taps, ...rows].join('\n  ');
  };
  const entry = (k: number, xi: number) => {
    const a = `a${k}_${xi >> 2}`;
    return [`${a}.x`, `0.5 * (${a}.x + ${a}.y + ${a}.z)`, `0.5 * (${a}.x - ${a}.y + ${a}.z)`, `${a}.z`][xi & 3];
  };
  const stores = range(16).map((xi) => `u[q + ${xi}u * stride] = vec4<f32>(${range(4).map((k) => entry(k, xi)).join(', ')});`);
  return /* wgsl */ `
struct Params { red: u32, outs: u32, flip: u32 }
@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read_write> u: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;
${ENTRY}
  let outs4 = p.outs / 4u;
  if (id >= p.red * outs4) { return; }
  let o4 = id % outs4;
  let r = id / outs4;
  let flip = p.flip != 0u;
  ${range(4).map(channel).join('\n  ')}
  let stride = p.red * outs4;
  let q = r * outs4 + o4;
  ${stores.join('\n  ')}
}`;
}

/**
 * U [16, R, O] from w [O', C', 3, 3]: forward (flip 0) r = input channel c, o = output channel k, g = w[k, c];
 * gradient to x (flip 1) r = k, o = c, g = w[k, c] rotated 180° (tap (i, j) is w's (2 - i, 2 - j)). One
 * invocation per (r, 4 consecutive o), o fastest, U written as vec4s (O % 4 == 0).
 */
export const winogradWeight = new Kernel('winograd_weight', weightSource());

// The weight gradient as F(3x3, 2x2) (engine/ops/conv-winograd.ts):
//   dw[k, c] (3x3) = Σ over 2x2 tiles t of dy of Aᵀ [(G dy_t Gᵀ) ⊙ (Bᵀ d_t B)] A, with d_t the 4x4 patch of x
//   under tile t, i.e. the correlation of d_t with dy_t. Bᵀ is the forward's up to the sign of its last row
//   ([0 -1 0 1] here); G's last row is negated to match ([0 -1] for [0 1]), so the forward's input
//   transform serves as it is, in its 'tileMajor' layout. The sum over tiles is the GEMM's reduction: both
//   operands are written tile-major, V [16, T, C] and U [16, T, K], channel fastest, so the pointwise
//   kernel reads them as rows of its x and columns of its weight.
//     G = [1 0; ½ ½; ½ -½; 0 -1]   Aᵀ = [1 1 1 0; 0 1 -1 0; 0 1 1 1]

/** U [16, T, K] = G dy_t Gᵀ of each 2x2 tile of dy (zero outside it), one invocation per (tile, channel). */
export const winogradGradTransform = new Kernel(
  'winograd_grad_transform',
  /* wgsl */ `
struct Params { chans: u32, oh: u32, ow: u32, tiles_h: u32, tiles_w: u32, tiles: u32 }
@group(0) @binding(0) var<storage, read> gy: array<f32>;
@group(0) @binding(1) var<storage, read_write> u: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
${ENTRY}
  if (id >= p.chans * p.tiles) { return; }
  let k = id % p.chans;
  let t = id / p.chans;
  ${TILE_COORDS}
  let oy = 2u * ty;
  let ox = 2u * tx;
  let base = ((img * p.chans + k) * p.oh + oy) * p.ow + ox;
  let has_col1 = ox + 1u < p.ow;
  let has_row1 = oy + 1u < p.oh;
  let g00 = gy[base];
  // Past the map's edge: read the tile's first value (in bounds) and use 0.
  let g01 = select(0.0, gy[base + select(0u, 1u, has_col1)], has_col1);
  let g10 = select(0.0, gy[base + select(0u, p.ow, has_row1)], has_row1);
  let g11 = select(0.0, gy[base + select(0u, p.ow + 1u, has_row1 && has_col1)], has_row1 && has_col1);
  // G g: rows (g0, (g0 + g1) / 2, (g0 - g1) / 2, -g1) of the tile's rows g0 = (g00, g01), g1 = (g10, g11).
  let a0 = vec2<f32>(g00, g01);
  let a1 = 0.5 * (vec2<f32>(g00, g01) + vec2<f32>(g10, g11));
  let a2 = 0.5 * (vec2<f32>(g00, g01) - vec2<f32>(g10, g11));
  let a3 = -vec2<f32>(g10, g11);
  let stride = p.tiles * p.chans;
  let o = t * p.chans + k;
  ${range(4)
    .map((i) =>
      [`a${i}.x`, `0.5 * (a${i}.x + a${i}.y)`, `0.5 * (a${i}.x - a${i}.y)`, `-a${i}.y`]
        .map((e, j) => `u[o + ${4 * i + j}u * stride] = ${e};`)
        .join(' '),
    )
    .join('\n  ')}
}`,
);

/** dw [K, C, 3, 3] = Aᵀ M A of M [16, K, C] (the GEMM's sum over tiles), one invocation per (k, c). */
export const winogradGradOutput = new Kernel(
  'winograd_grad_output',
  /* wgsl */ `
struct Params { count: u32 }
@group(0) @binding(0) var<storage, read> m: array<f32>;
@group(0) @binding(1) var<storage, read_write> dw: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
${ENTRY}
  if (id >= p.count) { return; }
  ${range(16).map((xi) => `let m${xi} = m[id + ${xi}u * p.count];`).join('\n  ')}
  // Aᵀ along each row i: (m_i0 + m_i1 + m_i2, m_i1 - m_i2, m_i1 + m_i2 + m_i3), then along the columns.
  ${range(4).map((i) => `let e${i} = vec3<f32>(m${4 * i} + m${4 * i + 1} + m${4 * i + 2}, m${4 * i + 1} - m${4 * i + 2}, m${4 * i + 1} + m${4 * i + 2} + m${4 * i + 3});`).join('\n  ')}
  let y0 = e0 + e1 + e2;
  let y1 = e1 - e2;
  let y2 = e1 + e2 + e3;
  let o = id * 9u;
  dw[o] = y0.x; dw[o + 1u] = y0.y; dw[o + 2u] = y0.z;
  dw[o + 3u] = y1.x; dw[o + 4u] = y1.y; dw[o + 5u] = y1.z;
  dw[o + 6u] = y2.x; dw[o + 7u] = y2.y; dw[o + 8u] = y2.z;
}`,
);
