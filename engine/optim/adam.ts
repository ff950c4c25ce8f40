// Adam and AdamW: torch.optim.Adam / AdamW's update (bias-corrected, optional AMSGrad), one kernel.
//   Adam:  g = g + wd * p                 AdamW: p = p * (1 - lr * wd)
//   m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g^2;  vmax = max(vmax, v) (amsgrad)
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v or vmax) / sqrt(1 - beta2^t) + eps)
// t counts the steps of this parameter. FNA's arch optimizer is Adam(lr 3e-4, betas [0.5, 0.999], wd 1e-3).
import type { Tensor } from '../tensor.ts';
import { updateKernels, updateLayout } from '../../kernels/optim.ts';
import { checkNonNegative, Optimizer, type GroupOptions, type ParamGroup, type ParamState, type ParamsInput } from './optimizer.ts';

export interface AdamOptions extends GroupOptions {
  betas: [number, number];
  eps: number;
  amsgrad: boolean;
}

export const ADAM_DEFAULTS: AdamOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false };
export const ADAMW_DEFAULTS: AdamOptions = { ...ADAM_DEFAULTS, weightDecay: 1e-2 };

/** Adam and AdamW differ only in where weight decay goes. */
abstract class AdamFamily extends Optimizer<AdamOptions> {
  constructor(
    kind: string,
    params: ParamsInput<AdamOptions>,
    options: Partial<AdamOptions>,
    defaults: AdamOptions,
    /** True for AdamW: weight decay shrinks the weights instead of adding to the gradient. */
    private readonly decoupled: boolean,
  ) {
    super(kind, params, { ...defaults, ...options });
  }

  protected validateGroup(g: ParamGroup<AdamOptions>, index: number): void {
    for (const k of ['lr', 'eps', 'weightDecay'] as const) checkNonNegative(this.kind, index, k, g[k]);
    const [b1, b2] = g.betas;
    if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1)) {
      throw new Error(`${this.kind}: betas must lie in [0, 1), group ${index} has [${g.betas}]`);
    }
  }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<AdamOptions>, state: ParamState): void {
    const layout = updateLayout(p.size, p.offset, grad.offset);
    const [beta1, beta2] = g.betas;
    const t = state.step;
    const storage = (name: string) => this.buffer(p, state, name).storage;
    const bindings = {
      p: p.storage,
      g: grad.storage,
      exp_avg: storage('exp_avg'),
      exp_avg_sq: storage('exp_avg_sq'),
      ...(g.amsgrad ? { max_exp_avg_sq: storage('max_exp_avg_sq') } : {}),
    };
    updateKernels.get({ rule: 'adam', amsgrad: g.amsgrad, vec4: layout.vec4 }).run(
      bindings,
      {
        n: layout.n,
        p_offset: layout.p_offset,
        g_offset: layout.g_offset,
        step_size: g.lr / (1 - beta1 ** t),
        one_minus_beta1: 1 - beta1,
        beta2,
        one_minus_beta2: 1 - beta2,
        eps: g.eps,
        l2_decay: this.decoupled ? 0 : g.weightDecay,
        param_scale: this.decoupled ? 1 - g.lr * g.weightDecay : 1,
        bias_correction2_sqrt: Math.sqrt(1 - beta2 ** t),
      },
      layout.workgroups,
    );
  }
}

export class Adam extends AdamFamily {
  constructor(params: ParamsInput<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super('Adam', params, options, ADAM_DEFAULTS, false);
  }
}

export class AdamW extends AdamFamily {
  constructor(params: ParamsInput<AdamOptions>, options: Partial<AdamOptions> = {}) {
    super('AdamW', params, options, ADAMW_DEFAULTS, true);
  }
}
