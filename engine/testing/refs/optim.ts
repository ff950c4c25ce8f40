// Float64 CPU references of the optimizer update rules (PyTorch's single-tensor code paths) and of
// clip_grad_norm_. Each step updates `p` and the state in place; state buffers carry PyTorch's names.

export interface RefOptimState {
  step: number;
  buffers: Record<string, Float64Array>;
}

export const newRefState = (): RefOptimState => ({ step: 0, buffers: {} });

function buffer(state: RefOptimState, name: string, n: number): Float64Array {
  return (state.buffers[name] ??= new Float64Array(n));
}

const lerp = (a: number, b: number, w: number) => a + w * (b - a);

export interface RefSgdOptions {
  lr: number;
  momentum: number;
  dampening: number;
  nesterov: boolean;
  weightDecay: number;
}

export function refSgdStep(p: Float64Array, g: Float64Array, state: RefOptimState, o: RefSgdOptions): void {
  state.step++;
  const first = !state.buffers.momentum_buffer;
  const buf = o.momentum > 0 ? buffer(state, 'momentum_buffer', p.length) : null;
  for (let i = 0; i < p.length; i++) {
    let d = g[i] + o.weightDecay * p[i];
    if (buf) {
      buf[i] = first ? d : o.momentum * buf[i] + (1 - o.dampening) * d;
      d = o.nesterov ? d + o.momentum * buf[i] : buf[i];
    }
    p[i] -= o.lr * d;
  }
}

export interface RefAdamOptions {
  lr: number;
  betas: [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  /** AdamW: decay the weights instead of adding weightDecay * p to the gradient. */
  decoupled: boolean;
}

export function refAdamStep(p: Float64Array, g: Float64Array, state: RefOptimState, o: RefAdamOptions): void {
  const t = ++state.step;
  const [b1, b2] = o.betas;
  const m = buffer(state, 'exp_avg', p.length);
  const v = buffer(state, 'exp_avg_sq', p.length);
  const vmax = o.amsgrad ? buffer(state, 'max_exp_avg_sq', p.length) : null;
  const bc1 = 1 - b1 ** t;
  const bc2 = 1 - b2 ** t;
  for (let i = 0; i < p.length; i++) {
    let grad = g[i];
    if (o.decoupled) p[i] *= 1 - o.lr * o.weightDecay;
    else grad += o.weightDecay * p[i];
    m[i] = lerp(m[i], grad, 1 - b1);
    v[i] = b2 * v[i] + (1 - b2) * grad * grad;
    let vUsed = v[i];
    if (vmax) vUsed = vmax[i] = Math.max(vmax[i], v[i]);
    const denom = Math.sqrt(vUsed / bc2) + o.eps;
    p[i] -= (o.lr / bc1) * (m[i] / denom);
  }
}

export interface RefRmspropOptions {
  lr: number;
  alpha: number;
  eps: number;
  weightDecay: number;
  momentum: number;
  centered: boolean;
}

export function refRmspropStep(p: Float64Array, g: Float64Array, state: RefOptimState, o: RefRmspropOptions): void {
  state.step++;
  const sq = buffer(state, 'square_avg', p.length);
  const ga = o.centered ? buffer(state, 'grad_avg', p.length) : null;
  const buf = o.momentum > 0 ? buffer(state, 'momentum_buffer', p.length) : null;
  for (let i = 0; i < p.length; i++) {
    const grad = g[i] + o.weightDecay * p[i];
    sq[i] = o.alpha * sq[i] + (1 - o.alpha) * grad * grad;
    let variance = sq[i];
    if (ga) {
      ga[i] = lerp(ga[i], grad, 1 - o.alpha);
      variance -= ga[i] * ga[i];
    }
    const avg = Math.sqrt(variance) + o.eps;
    if (buf) {
      buf[i] = o.momentum * buf[i] + grad / avg;
      p[i] -= o.lr * buf[i];
    } else {
      p[i] -= (o.lr * grad) / avg;
    }
  }
}

/** clip_grad_norm_: scales `grads` in place; returns the total norm before clipping. */
export function refClipGradNorm(grads: Float64Array[], maxNorm: number, normType = 2): number {
  let total = 0;
  for (const g of grads) {
    for (const x of g) total = normType === Infinity ? Math.max(total, Math.abs(x)) : total + Math.abs(x) ** normType;
  }
  if (normType !== Infinity) total **= 1 / normType;
  const coef = Math.min(1, maxNorm / (total + 1e-6));
  for (const g of grads) for (let i = 0; i < g.length; i++) g[i] *= coef;
  return total;
}
