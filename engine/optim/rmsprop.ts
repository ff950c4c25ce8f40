// RMSprop with PyTorch's semantics (torch.optim.RMSprop), one kernel:
//   g = g + wd * p
//   sq = alpha * sq + (1 - alpha) * g^2                     (sq starts at 0)
//   centered: ga = lerp(ga, g, 1 - alpha);  avg = sqrt(sq - ga^2) + eps,  else avg = sqrt(sq) + eps
//   momentum > 0: buf = momentum * buf + g / avg;  p = p - lr * buf,  else p = p - lr * g / avg
//
// TensorFlow's RMSprop (tf.compat.v1.train.RMSPropOptimizer, and the TF MobileNet/SSDLite recipes) is a
// different rule: the mean square starts at 1, eps goes inside the square root (sqrt(sq + eps)), and lr
// sits inside the momentum buffer (buf = momentum * buf + lr * g / sqrt(sq + eps); p -= buf). With
// eps 1.0 the two differ a lot: FNA++'s SSDLite recipe (RMSprop lr 0.05 / 0.2, eps 1.0, momentum 0.9,
// wd 4e-5) runs on mmcv, which builds torch.optim.RMSprop, so this is the rule it used.
import type { Tensor } from '../tensor.ts';
import { updateKernels, updateLayout } from '../../kernels/optim.ts';
import { checkNonNegative, Optimizer, type GroupOptions, type ParamGroup, type ParamState, type ParamsInput } from './optimizer.ts';

export interface RMSpropOptions extends GroupOptions {
  alpha: number;
  eps: number;
  momentum: number;
  centered: boolean;
}

export const RMSPROP_DEFAULTS: RMSpropOptions = { lr: 1e-2, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false };

export class RMSprop extends Optimizer<RMSpropOptions> {
  constructor(params: ParamsInput<RMSpropOptions>, options: Partial<RMSpropOptions> = {}) {
    super('RMSprop', params, { ...RMSPROP_DEFAULTS, ...options });
  }

  protected validateGroup(g: ParamGroup<RMSpropOptions>, index: number): void {
    for (const k of ['lr', 'alpha', 'eps', 'weightDecay', 'momentum'] as const) checkNonNegative('RMSprop', index, k, g[k]);
  }

  protected update(p: Tensor, grad: Tensor, g: ParamGroup<RMSpropOptions>, state: ParamState): void {
    const layout = updateLayout(p.size, p.offset, grad.offset);
    const momentum = g.momentum > 0;
    const storage = (name: string) => this.buffer(p, state, name).storage;
    const bindings = {
      p: p.storage,
      g: grad.storage,
      square_avg: storage('square_avg'),
      ...(g.centered ? { grad_avg: storage('grad_avg') } : {}),
      ...(momentum ? { momentum_buffer: storage('momentum_buffer') } : {}),
    };
    updateKernels.get({ rule: 'rmsprop', centered: g.centered, momentum, vec4: layout.vec4 }).run(
      bindings,
      {
        n: layout.n,
        p_offset: layout.p_offset,
        g_offset: layout.g_offset,
        lr: g.lr,
        alpha: g.alpha,
        one_minus_alpha: 1 - g.alpha,
        eps: g.eps,
        weight_decay: g.weightDecay,
        momentum: g.momentum,
      },
      layout.workgroups,
    );
  }
}
