// SGD with momentum, dampening, Nesterov and L2 weight decay: torch.optim.SGD's update, fused in one kernel.
//   d = g + wd * p
//   buf = d (first step) | momentum * buf + (1 - dampening) * d
//   d = nesterov ? d + momentum * buf : buf          (when momentum > 0)
//   p = p - lr * d
import type { Tensor } from '../tensor.ts';
import { updateKernels, updateLayout } from '../../kernels/optim.ts';
import { checkNonNegative, Optimizer, type GroupOptions, type ParamGroup, type ParamState, type ParamsInput } from './optimizer.ts';

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
    const layout = updateLayout(p.size, p.offset, grad.offset);
    const momentum = g.momentum > 0;
    const kernel = updateKernels.get({ rule: 'sgd', momentum, nesterov: momentum && g.nesterov, vec4: layout.vec4 });
    const firstStep = momentum && !state.buffers.momentum_buffer;
    const bindings = { p: p.storage, g: grad.storage, ...(momentum ? { momentum_buffer: this.buffer(p, state, 'momentum_buffer', false).storage } : {}) };
    kernel.run(
      bindings,
      {
        n: layout.n,
        p_offset: layout.p_offset,
        g_offset: layout.g_offset,
        first_step: firstStep ? 1 : 0,
        lr: g.lr,
        weight_decay: g.weightDecay,
        momentum: g.momentum,
        one_minus_dampening: 1 - g.dampening,
      },
      layout.workgroups,
    );
  }
}
