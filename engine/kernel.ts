// A kernel is WGSL source plus what wgsl_reflect reads from it: the storage bindings (by name, in binding
// order), the uniform struct's layout and the workgroup size. The TypeScript side binds by the names the
// shader declares, so the two cannot drift apart silently.
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import type { Storage } from './device/buffers.ts';
import { runtime } from './runtime.ts';

/** WebGPU's default maxStorageBuffersPerShaderStage; our kernels must run on every adapter. */
export const PORTABLE_STORAGE_BINDINGS = 8;
export const MAX_WORKGROUPS_PER_DIM = 65535;

interface UniformField {
  name: string;
  offset: number;
  /** Scalar kind of every component. */
  kind: 'u32' | 'i32' | 'f32';
  /** Number of 4-byte components written (vec4 -> 4, array<vec4<u32>, 2> -> 8). */
  components: number;
}

export interface StorageBinding {
  name: string;
  binding: number;
  readOnly: boolean;
}

export type UniformValues = Record<string, number | ArrayLike<number>>;

export class Kernel {
  readonly storage: StorageBinding[];
  readonly uniformFields: UniformField[];
  readonly uniformSize: number;
  readonly workgroupSize: [number, number, number];

  constructor(
    readonly name: string,
    readonly wgsl: string,
  ) {
    let reflect: WgslReflect;
    try {
      reflect = new WgslReflect(wgsl);
    } catch (e) {
      throw new Error(`kernel '${name}': WGSL does not parse: ${(e as Error).message}`);
    }
    const entry = reflect.entry.compute[0];
    if (!entry || reflect.entry.compute.length !== 1) {
      throw new Error(`kernel '${name}': expected exactly one @compute entry point`);
    }
    const wg = entry.workgroupSize as unknown as number[] | null;
    this.workgroupSize = [wg?.[0] ?? 1, wg?.[1] ?? 1, wg?.[2] ?? 1];
    this.storage = reflect.storage
      .map((v) => ({ name: v.name, binding: v.binding, readOnly: v.access !== 'read_write', group: v.group }))
      .sort((a, b) => a.binding - b.binding)
      .map(({ name, binding, readOnly }) => ({ name, binding, readOnly }));
    if (this.storage.length > PORTABLE_STORAGE_BINDINGS) {
      throw new Error(
        `kernel '${name}': ${this.storage.length} storage bindings exceed the portable limit of ${PORTABLE_STORAGE_BINDINGS}`,
      );
    }
    this.storage.forEach((s, i) => {
      if (s.binding !== i) throw new Error(`kernel '${name}': storage bindings must be numbered 0..n-1 (${s.name})`);
    });
    if (reflect.uniforms.length > 1) throw new Error(`kernel '${name}': at most one uniform struct`);
    const u = reflect.uniforms[0];
    if (u) {
      if (u.binding !== this.storage.length) {
        throw new Error(`kernel '${name}': the uniform must be binding ${this.storage.length}, after the storage`);
      }
      this.uniformSize = u.size;
      this.uniformFields = (u.type as any).members.map((m: any) => describeField(name, m));
    } else {
      this.uniformSize = 0;
      this.uniformFields = [];
    }
  }

  get threadsPerWorkgroup(): number {
    return this.workgroupSize[0] * this.workgroupSize[1] * this.workgroupSize[2];
  }

  getPipeline(): GPUComputePipeline {
    return runtime().pipelines.get(this);
  }

  /** Reused by packUniforms: the queue copies the bytes into its ring at once. */
  private uniformScratch: { bytes: Uint8Array; view: DataView } | null = null;

  /**
   * Packs uniform values into the layout WGSL's alignment rules give the struct. The bytes returned are
   * overwritten by the next call: copy them before packing again.
   */
  packUniforms(values: UniformValues): Uint8Array {
    if (!this.uniformScratch) {
      const bytes = new Uint8Array(this.uniformSize);
      this.uniformScratch = { bytes, view: new DataView(bytes.buffer) };
    }
    const { bytes, view } = this.uniformScratch;
    bytes.fill(0);
    for (const f of this.uniformFields) {
      const v = values[f.name];
      if (v === undefined) throw new Error(`kernel '${this.name}': uniform '${f.name}' was not given`);
      if (typeof v === 'number') {
        this.setUniform(view, f, f.offset, v);
        continue;
      }
      if (v.length > f.components) {
        throw new Error(`kernel '${this.name}': uniform '${f.name}' takes ${f.components} values, got ${v.length}`);
      }
      for (let i = 0; i < v.length; i++) this.setUniform(view, f, f.offset + 4 * i, v[i]);
    }
    // Every field was given; more keys than fields means one is unknown.
    let given = 0;
    for (const k in values) given++;
    if (given > this.uniformFields.length) {
      const unknown = Object.keys(values).filter((k) => !this.uniformFields.some((f) => f.name === k));
      throw new Error(`kernel '${this.name}': unknown uniform '${unknown[0]}'`);
    }
    return bytes;
  }

  private setUniform(view: DataView, f: UniformField, at: number, v: number): void {
    if (f.kind === 'f32') view.setFloat32(at, v, true);
    else if (f.kind === 'i32') view.setInt32(at, v, true);
    else view.setUint32(at, v, true);
  }

  /**
   * Records one dispatch. `bindings` maps each storage variable of the shader to a storage; `workgroups`
   * is the grid (see `grid1d` for element-wise kernels).
   */
  run(bindings: Record<string, Storage>, uniforms: UniformValues, workgroups: [number, number, number]): void {
    const storages = this.storage.map((s) => {
      const st = bindings[s.name];
      if (!st) throw new Error(`kernel '${this.name}': binding '${s.name}' was not given`);
      return st;
    });
    if (Object.keys(bindings).length !== storages.length) {
      const extra = Object.keys(bindings).filter((k) => !this.storage.some((s) => s.name === k));
      throw new Error(`kernel '${this.name}': unknown binding(s) ${extra.join(', ')}`);
    }
    const rt = runtime();
    const maxBinding = rt.ctx.limits.maxStorageBufferBindingSize;
    for (const s of storages) {
      if (s.byteSize > maxBinding) {
        throw new Error(
          `kernel '${this.name}': a ${s.byteSize}-byte buffer exceeds maxStorageBufferBindingSize (${maxBinding})`,
        );
      }
    }
    for (const w of workgroups) {
      if (w > MAX_WORKGROUPS_PER_DIM) {
        throw new Error(`kernel '${this.name}': ${w} workgroups in one dimension exceed ${MAX_WORKGROUPS_PER_DIM}`);
      }
    }
    if (workgroups[0] * workgroups[1] * workgroups[2] === 0) return;
    if (!this.uniformSize && Object.keys(uniforms).length) {
      throw new Error(`kernel '${this.name}': has no uniform struct, but uniforms ${Object.keys(uniforms).join(', ')} were given`);
    }
    const uniformBytes = this.uniformSize ? this.packUniforms(uniforms) : null;
    for (let i = 0; i < storages.length; i++) if (!this.storage[i].readOnly) storages[i].version++;
    rt.queue.dispatch(this.name, this.getPipeline(), storages, uniformBytes, workgroups);
  }
}

function describeField(kernel: string, m: any): UniformField {
  const t = m.type;
  const scalar = (n: string): UniformField['kind'] => {
    if (n === 'u32' || n === 'i32' || n === 'f32') return n;
    throw new Error(`kernel '${kernel}': uniform field '${m.name}' has unsupported type ${n}`);
  };
  // A vector's component type: vec4<u32> carries it as a format, the shorthands (vec4u, vec4i, vec4f) in the name.
  const vector = (v: any): { n: number; kind: UniformField['kind'] } => {
    const short = /^vec([234])([uif])$/.exec(v.name);
    if (short) return { n: Number(short[1]), kind: ({ u: 'u32', i: 'i32', f: 'f32' } as const)[short[2] as 'u' | 'i' | 'f'] };
    const n = Number(v.name.slice(3, 4));
    if (!v.format?.name) throw new Error(`kernel '${kernel}': uniform field '${m.name}' has a vector without a component type`);
    return { n, kind: scalar(v.format.name) };
  };
  if (t.name === 'array') {
    const elem = t.format;
    if (!elem.name.startsWith('vec')) throw new Error(`kernel '${kernel}': uniform arrays of scalars have a 16-byte stride; use vec4`);
    const { n, kind } = vector(elem);
    if (n !== 4) throw new Error(`kernel '${kernel}': uniform arrays must hold vec4s`);
    return { name: m.name, offset: m.offset, kind, components: t.count * 4 };
  }
  if (t.name.startsWith('vec')) {
    const { n, kind } = vector(t);
    return { name: m.name, offset: m.offset, kind, components: n };
  }
  return { name: m.name, offset: m.offset, kind: scalar(t.name), components: 1 };
}

/**
 * Grid for `n` work items of `perWorkgroup` each. Past 65535 workgroups the grid becomes 2-D; the shader
 * recovers the linear workgroup index as `wid.x + wid.y * nwg.x` (see `LINEAR_INDEX` in kernels/prelude).
 */
export function grid1d(n: number, perWorkgroup: number): [number, number, number] {
  const groups = Math.ceil(n / perWorkgroup);
  if (groups <= MAX_WORKGROUPS_PER_DIM) return [groups, 1, 1];
  const y = Math.ceil(groups / MAX_WORKGROUPS_PER_DIM);
  const x = Math.ceil(groups / y);
  if (y > MAX_WORKGROUPS_PER_DIM) throw new Error(`grid1d: ${n} items need more than 65535^2 workgroups`);
  return [x, y, 1];
}

/** Kernels whose WGSL depends on a few code-changing parameters; one compiled kernel per distinct key. */
export class KernelFamily<P> {
  private cache = new Map<string, Kernel>();
  constructor(
    readonly name: string,
    private readonly source: (params: P) => string,
    private readonly key: (params: P) => string = (p) => JSON.stringify(p),
  ) {}

  get(params: P): Kernel {
    const k = this.key(params);
    let kernel = this.cache.get(k);
    if (!kernel) {
      kernel = new Kernel(k ? `${this.name}[${k}]` : this.name, this.source(params));
      this.cache.set(k, kernel);
    }
    return kernel;
  }
}
