// SGD with momentum, dampening, Nesterov and L2 weight decay: torch.optim.SGD's update, fused in one kernel.
//   d = g + wd * p
//   buf = d (first step) | momentum * buf + (1 - dampening) * d
//   d = nesterov ? d + momentum * buf : buf          (when momentum > 0)
//   p = p - lr * d
import type { Tensor } from '../tensor.ts';
import type { Storage } from '../device/buffers.ts';
import { grid1d } from '../kernel.ts';
import { WG } from '../../kernels/prelude.ts';
import { updateKernels, updateLayout } from '../../kernels/optim.ts';
import { checkNonNegative, Optimizer, type GroupOptions, type ParamGroup, type ParamState, type ParamsInput, type UpdateItem } from './optimizer.ts';

export interface SGDOptions extends GroupOptions {
  momentum: number;
  dampening: number;
  nesterov: boolean;
}

export const SGD_DEFAULTS: SGDOptions = { lr: 1e-3, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 };

export class SGD extends Optimizer<SGDOptions> {
  constructor(params: ParamsInput<SGDOptions>, options: Partial<SGDOptions> = {}) {
    super('SGD', params, { ...SGD_DEFAULTS, ...options });
  }

  protected validateGroup(g: ParamGroup<SGDOptions>, index: number): void {
    for (const k of ['lr', 'momentum', 'dampening', 'weightDecay'] as const) checkNonNegative('SGD', index, k, g[k]);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) {
      throw new Error(
        `SGD: Nesterov momentum needs momentum > 0 and dampening 0; group ${index} has momentum ${g.momentum}, dampening ${g.dampening}`,
      );
    }
  }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<SGDOptions>, state: ParamState): void {
    this.run(g, [{ p, grad, state }]);
  }

  /**
   * Parameters two a dispatch where their layouts (vec4 or not) agree, in order; a leftover goes alone, and
   * so does a parameter sharing a buffer with the other's parameter or gradient (views of one buffer): a
   * dispatch may not bind a buffer writable and also bound again.
   */
  protected override updateGroup(g: ParamGroup<SGDOptions>, items: UpdateItem[]): void {
    const waiting = new Map<boolean, UpdateItem>();
    for (const item of items) {
      const { vec4 } = updateLayout(item.p.size, item.p.offset, item.grad.offset);
      const first = waiting.get(vec4);
      if (first && !separate(first, item)) {
        this.run(g, [first]);
        waiting.set(vec4, item);
      } else if (first) {
        this.run(g, [first, item]);
        waiting.delete(vec4);
      } else {
        waiting.set(vec4, item);
      }
    }
    for (const item of waiting.values()) this.run(g, [item]);
  }

  private run(g: ParamGroup<SGDOptions>, items: UpdateItem[]): void {
    const momentum = g.momentum > 0;
    const layouts = items.map(({ p, grad }) => updateLayout(p.size, p.offset, grad.offset));
    const pair = items.length === 2;
    const kernel = updateKernels.get({ rule: 'sgd', momentum, nesterov: momentum && g.nesterov, vec4: layouts[0].vec4, pair });
    const bindings: Record<string, Storage> = {};
    const uniforms: Record<string, number> = {
      lr: g.lr,
      weight_decay: g.weightDecay,
      momentum: g.momentum,
      one_minus_dampening: 1 - g.dampening,
    };
    items.forEach(({ p, grad, state }, k) => {
      const suffix = k === 0 ? '' : '1';
      const firstStep = momentum && !state.buffers.momentum_buffer;
      bindings[`p${suffix}`] = p.storage;
      bindings[`g${suffix}`] = grad.storage;
      if (momentum) bindings[`momentum_buffer${suffix}`] = this.buffer(p, state, 'momentum_buffer', false).storage;
      Object.assign(uniforms, {
        [`n${suffix}`]: layouts[k].n,
        [`p_offset${suffix}`]: layouts[k].p_offset,
        [`g_offset${suffix}`]: layouts[k].g_offset,
        [`first_step${suffix}`]: firstStep ? 1 : 0,
      });
    });
    const total = layouts.reduce((sum, l) => sum + l.n, 0);
    kernel.run(bindings, uniforms, grid1d(total, WG));
  }
}

/** No buffer of one item's parameter is the other's parameter or gradient. */
function separate(a: UpdateItem, b: UpdateItem): boolean {
  const [pa, pb] = [a.p.storage.buffer, b.p.storage.buffer];
  return pa !== pb && pa !== b.grad.storage.buffer && pb !== a.grad.storage.buffer;
}
