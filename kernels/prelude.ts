// The small WGSL prelude shared by kernels: linear invocation index over a possibly 2-D grid, and
// strided offsets. Kept minimal on purpose (style.md: no template engine).

/** Workgroup size for 1-D element-wise kernels. */
export const WG = 256;

/** Max tensor rank for strided kernels; shapes and strides travel as array<vec4<u32>, 2>. */
export const MAX_RANK = 8;

/**
 * `linear_id` turns (workgroup id, local index) into a flat element index. Grids past 65535 workgroups
 * are 2-D (see grid1d), so the workgroup's flat index is wid.x + wid.y * nwg.x.
 */
export const LINEAR_ID = /* wgsl */ `
fn linear_id(wid: vec3<u32>, nwg: vec3<u32>, lidx: u32, wg: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * wg + lidx;
}`;

/** Pads shape/strides to MAX_RANK entries for the uniform. */
export function pad8(values: readonly number[], fill = 0): number[] {
  if (values.length > MAX_RANK) throw new Error(`rank ${values.length} exceeds the maximum of ${MAX_RANK}`);
  const out = [...values];
  while (out.length < MAX_RANK) out.push(fill);
  return out;
}
