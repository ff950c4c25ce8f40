// Optimizer base: parameter groups, per-parameter state kept outside tidy scopes, skipping parameters
// without a gradient, and a host-array state dict so runs can be resumed.
import { shapeString, sameShape, type HostTensor } from '../host.ts';
import { fromArray, zeros } from '../ops/creation.ts';
import { map } from '../ops/map.ts';
import { keep } from '../scope.ts';
import { allocate, type Tensor } from '../tensor.ts';

/** Options every parameter group has; optimizers add their own. */
export interface GroupOptions {
  lr: number;
  weightDecay: number;
}

/** A group as the optimizer holds it: its parameters, its options, and the lr it started with (for schedules). */
export type ParamGroup<O extends GroupOptions> = O & { params: Tensor[]; initialLr: number };

/** A group as the caller describes it: parameters plus any options that differ from the optimizer's defaults. */
export type GroupSpec<O extends GroupOptions> = { params: readonly Tensor[] } & Partial<O>;

export type ParamsInput<O extends GroupOptions> = readonly Tensor[] | readonly GroupSpec<O>[];

export interface ParamState {
  /** Steps taken by this parameter (those where it had a gradient). */
  step: number;
  /** GPU state tensors, named as in PyTorch (exp_avg, momentum_buffer, ...). */
  buffers: Record<string, Tensor>;
}

/** A parameter to update this step: its gradient (dense) and its state (step already counted). */
export interface UpdateItem {
  p: Tensor;
  grad: Tensor;
  state: ParamState;
}

export interface OptimizerStateDict<O extends GroupOptions = GroupOptions> {
  /** The optimizer's class name; loading into another kind throws. */
  kind: string;
  /** Parameters are numbered in group order, as `optimizer.params` lists them. */
  groups: { params: number[]; options: O & { initialLr: number } }[];
  state: { param: number; step: number; buffers: Record<string, HostTensor> }[];
}

export abstract class Optimizer<O extends GroupOptions> {
  readonly groups: ParamGroup<O>[] = [];
  protected readonly state = new Map<Tensor, ParamState>();

  constructor(
    readonly kind: string,
    params: ParamsInput<O>,
    readonly defaults: O,
  ) {
    const specs: readonly GroupSpec<O>[] = isTensorList(params) ? [{ params }] as GroupSpec<O>[] : params;
    if (specs.length === 0) throw new Error(`${kind}: got an empty parameter list`);
    for (const spec of specs) this.addParamGroup(spec);
  }

  /** Adds a group (e.g. layers unfrozen mid-training); options default to the optimizer's. */
  addParamGroup(spec: GroupSpec<O>): void {
    const { params, ...overrides } = spec;
    const seen = new Set(this.params);
    params.forEach((p, i) => {
      const where = `${this.kind}: parameter ${i} of group ${this.groups.length} (${p})`;
      if (seen.has(p)) throw new Error(`${where} appears in more than one place`);
      if (p.gradFn) throw new Error(`${where} is not a leaf tensor; optimise the tensors you created`);
      if (p.dtype !== 'float32') throw new Error(`${where} is ${p.dtype}; only float32 parameters can be optimised`);
      if (!p.isContiguous()) throw new Error(`${where} is not contiguous; updates are written in place`);
      seen.add(p);
    });
    const given = Object.entries(overrides).filter(([, v]) => v !== undefined);
    const options = { ...this.defaults, ...Object.fromEntries(given) } as O;
    const group = { ...options, params: [...params], initialLr: options.lr } as ParamGroup<O>;
    this.validateGroup(group, this.groups.length);
    this.groups.push(group);
  }

  get params(): Tensor[] {
    return this.groups.flatMap((g) => g.params);
  }

  /** Throws when a group's options are out of range; runs at construction and at every step. */
  protected abstract validateGroup(group: ParamGroup<O>, index: number): void;

  /** Records the fused update of one parameter (state.step already counts this step). */
  protected abstract update(p: Tensor, grad: Tensor, group: ParamGroup<O>, state: ParamState): void;

  /** Records the updates of a group's parameters that have a gradient; one dispatch each unless overridden. */
  protected updateGroup(group: ParamGroup<O>, items: UpdateItem[]): void {
    for (const { p, grad, state } of items) this.update(p, grad, group, state);
  }

  /** One update of every parameter that has a gradient. */
  step(): void {
    this.groups.forEach((group, index) => {
      this.validateGroup(group, index);
      const items: UpdateItem[] = [];
      for (const p of group.params) {
        const grad = p.grad;
        if (!grad) continue;
        if (!sameShape(grad.shape, p.shape) || grad.dtype !== 'float32') {
          throw new Error(`${this.kind}: gradient ${grad} does not match parameter ${p}`);
        }
        let state = this.state.get(p);
        if (!state) this.state.set(p, (state = { step: 0, buffers: {} }));
        state.step++;
        items.push({ p, grad: grad.isContiguous() ? grad : map('copy', 'a', [grad]), state });
      }
      this.updateGroup(group, items);
      items.forEach(({ p, grad }) => grad !== p.grad && grad.dispose());
    });
  }

  /** Drops every gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /**
   * The state buffer `name` of a parameter, created on first use: zero-filled, or left uninitialised when
   * the kernel writes it before reading (`zeroFill` false).
   */
  protected buffer(p: Tensor, state: ParamState, name: string, zeroFill = true): Tensor {
    let t = state.buffers[name];
    if (!t) {
      t = keep(zeroFill ? zeros(p.shape) : allocate(p.shape, 'float32', name));
      state.buffers[name] = t;
    }
    return t;
  }

  /** The state of one parameter (undefined before its first step). */
  stateOf(p: Tensor): Readonly<ParamState> | undefined {
    return this.state.get(p);
  }

  /** Options and state as host arrays (reads every state buffer back). */
  async stateDict(): Promise<OptimizerStateDict<O>> {
    const index = new Map(this.params.map((p, i) => [p, i]));
    const groups = this.groups.map(({ params, ...options }) => ({
      params: params.map((p) => index.get(p)!),
      options: structuredClone(options) as unknown as O & { initialLr: number },
    }));
    const state: OptimizerStateDict<O>['state'] = [];
    for (const [p, s] of this.state) {
      const buffers: Record<string, HostTensor> = {};
      for (const [name, t] of Object.entries(s.buffers)) buffers[name] = await t.toHost();
      state.push({ param: index.get(p)!, step: s.step, buffers });
    }
    state.sort((a, b) => a.param - b.param);
    return { kind: this.kind, groups, state };
  }

  /** Restores options and state saved by `stateDict` from an optimizer over parameters of the same shapes. */
  loadStateDict(dict: OptimizerStateDict<O>): void {
    const where = `${this.kind}.loadStateDict`;
    if (dict.kind !== this.kind) throw new Error(`${where}: the state dict is from ${dict.kind}`);
    if (dict.groups.length !== this.groups.length) {
      throw new Error(`${where}: the state dict has ${dict.groups.length} parameter groups, the optimizer ${this.groups.length}`);
    }
    dict.groups.forEach((g, i) => {
      if (g.params.length !== this.groups[i].params.length) {
        throw new Error(`${where}: group ${i} has ${g.params.length} parameters in the state dict, ${this.groups[i].params.length} here`);
      }
    });
    const params = this.params;
    const restored = new Map<Tensor, ParamState>();
    for (const s of dict.state) {
      const p = params[s.param];
      if (!p) throw new Error(`${where}: state for parameter ${s.param}, but there are ${params.length}`);
      const buffers: Record<string, Tensor> = {};
      for (const [name, h] of Object.entries(s.buffers)) {
        if (!sameShape(h.shape, p.shape)) {
          throw new Error(`${where}: ${name} of parameter ${s.param} has shape ${shapeString(h.shape)}, the parameter ${shapeString(p.shape)}`);
        }
        buffers[name] = keep(fromArray(h.data, h.shape));
      }
      restored.set(p, { step: s.step, buffers });
    }
    this.disposeState();
    for (const [p, s] of restored) this.state.set(p, s);
    dict.groups.forEach((g, i) => Object.assign(this.groups[i], structuredClone(g.options)));
  }

  private disposeState(): void {
    for (const s of this.state.values()) for (const t of Object.values(s.buffers)) t.dispose();
    this.state.clear();
  }

  /** Frees the optimizer's GPU state (not the parameters or their gradients). */
  dispose(): void {
    this.disposeState();
  }
}

function isTensorList<O extends GroupOptions>(params: ParamsInput<O>): params is readonly Tensor[] {
  return params.length === 0 || !('params' in (params[0] as object));
}

/** Throws unless `value` is a finite number >= 0 (a NaN lr would silently corrupt every weight). */
export function checkNonNegative(kind: string, index: number, name: string, value: number): void {
  if (!(Number.isFinite(value) && value >= 0)) {
    throw new Error(`${kind}: ${name} must be a finite number >= 0, group ${index} has ${value}`);
  }
}
