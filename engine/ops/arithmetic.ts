// Element-wise ops with broadcasting. Each is a forward expression plus a backward in terms of other ops;
// broadcast gradients are summed back to each input's shape.
import { apply, type FunctionDef } from '../autograd.ts';
import type { Tensor } from '../tensor.ts';
import { map } from './map.ts';
import { sumToShape } from './reduce.ts';

type Binary = (a: Tensor, b: Tensor) => Tensor;

function binaryOp(
  name: string,
  expr: string,
  grads: (g: Tensor, a: Tensor, b: Tensor, out: Tensor) => [Tensor | null, Tensor | null],
  saveOut = false,
): Binary {
  const def: FunctionDef = {
    name,
    forward(ctx, [a, b]) {
      const out = map(name, expr, [a, b]);
      if (ctx.needsInputGrad.some(Boolean)) ctx.save(a, b, ...(saveOut ? [out] : []));
      return out;
    },
    backward(ctx, g) {
      const [a, b, out] = ctx.saved;
      const [ga, gb] = grads(g, a, b, out);
      return [
        ga && ctx.needsInputGrad[0] ? sumToShape(ga, a.shape) : null,
        gb && ctx.needsInputGrad[1] ? sumToShape(gb, b.shape) : null,
      ];
    },
  };
  return (a, b) => {
    if (a.dtype !== 'float32' || b.dtype !== 'float32') {
      throw new Error(`${name}: expects float32 tensors, got ${a.dtype} and ${b.dtype}`);
    }
    return apply(def, [a, b], undefined);
  };
}

const m = (name: string, expr: string, ...xs: Tensor[]) => map(name, expr, xs);

export const add = binaryOp('add', 'a + b', (g) => [g, g]);
export const sub = binaryOp('sub', 'a - b', (g) => [g, m('neg', '-a', g)]);
export const mul = binaryOp('mul', 'a * b', (g, a, b) => [m('mul', 'a * b', g, b), m('mul', 'a * b', g, a)]);
export const div = binaryOp('div', 'a / b', (g, a, b) => [
  m('div', 'a / b', g, b),
  m('div_grad_b', '-a * b / (c * c)', g, a, b),
]);
/**
 * a^b over the reals (see `pow_real` in kernels/elementwise.ts): a negative base needs an integer exponent
 * (NaN otherwise), 0^0 = 1. The exponent's gradient is out * log|a| (the derivative of the real part, so
 * finite for negative bases) and 0 where a = 0; the base's is b * a^(b-1), 0 where b = 0 (as PyTorch).
 */
export const pow = binaryOp(
  'pow',
  'pow_real(a, b)',
  (g, a, b, out) => [
    m('pow_grad_a', 'select(a * c * pow_real(b, c - 1.0), 0.0, c == 0.0)', g, a, b),
    m('pow_grad_b', 'select(a * c * log(abs(b)), 0.0, b == 0.0)', g, a, out),
  ],
  true,
);
export const maximum = binaryOp('maximum', 'max(a, b)', (g, a, b) => [
  m('max_grad_a', 'select(select(0.0, a, b > c), 0.5 * a, b == c)', g, a, b),
  m('max_grad_b', 'select(select(0.0, a, c > b), 0.5 * a, b == c)', g, a, b),
]);
export const minimum = binaryOp('minimum', 'min(a, b)', (g, a, b) => [
  m('min_grad_a', 'select(select(0.0, a, b < c), 0.5 * a, b == c)', g, a, b),
  m('min_grad_b', 'select(select(0.0, a, c < b), 0.5 * a, b == c)', g, a, b),
]);

type Unary = (x: Tensor) => Tensor;
function unaryOp(name: string, expr: string, grad: (g: Tensor, x: Tensor, out: Tensor) => Tensor, saveOut = false): Unary {
  const def: FunctionDef = {
    name,
    forward(ctx, [x]) {
      const out = map(name, expr, [x]);
      if (ctx.needsInputGrad[0]) ctx.save(x, ...(saveOut ? [out] : []));
      return out;
    },
    backward: (ctx, g) => [grad(g, ctx.saved[0], ctx.saved[1])],
  };
  return (x) => {
    if (x.dtype !== 'float32') throw new Error(`${name}: expects a float32 tensor, got ${x.dtype}`);
    return apply(def, [x], undefined);
  };
}

export const neg = unaryOp('neg', '-a', (g) => m('neg', '-a', g));
export const exp = unaryOp('exp', 'exp(a)', (g, _x, out) => m('mul', 'a * b', g, out), true);
export const log = unaryOp('log', 'log(a)', (g, x) => m('div', 'a / b', g, x));
export const sqrt = unaryOp('sqrt', 'sqrt(a)', (g, _x, out) => m('sqrt_grad', '0.5 * a / b', g, out), true);
export const abs = unaryOp('abs', 'abs(a)', (g, x) => m('abs_grad', 'a * sign(b)', g, x));
export const relu = unaryOp('relu', 'max(a, 0.0)', (g, x) => m('relu_grad', 'select(0.0, a, b > 0.0)', g, x));
export const relu6 = unaryOp('relu6', 'clamp(a, 0.0, 6.0)', (g, x) =>
  m('relu6_grad', 'select(0.0, a, b > 0.0 && b < 6.0)', g, x),
);
// Stable logistic: exp of a non-positive number only (in both select arms), so no overflow for large |a|.
export const sigmoid = unaryOp(
  'sigmoid',
  'select(exp(-abs(a)) / (1.0 + exp(-abs(a))), 1.0 / (1.0 + exp(-abs(a))), a >= 0.0)',
  (g, _x, out) => m('sigmoid_grad', 'a * b * (1.0 - b)', g, out),
  true,
);
export const tanh = unaryOp('tanh', 'tanh(a)', (g, _x, out) => m('tanh_grad', 'a * (1.0 - b * b)', g, out), true);

const Clamp: FunctionDef<{ lo: number; hi: number }> = {
  name: 'clamp',
  forward(ctx, [x], { lo, hi }) {
    if (ctx.needsInputGrad[0]) ctx.save(x);
    return map('clamp', 'clamp(a, s.x, s.y)', [x], { scalars: [lo, hi] });
  },
  backward: (ctx, g, { lo, hi }) => [
    map('clamp_grad', 'select(0.0, a, b >= s.x && b <= s.y)', [g, ctx.saved[0]], { scalars: [lo, hi] }),
  ],
};
export function clamp(x: Tensor, lo: number, hi: number): Tensor {
  if (!(lo <= hi)) throw new Error(`clamp: lo (${lo}) must not exceed hi (${hi})`);
  return apply(Clamp, [x], { lo, hi });
}

const AffineScalar: FunctionDef<{ scale: number; shift: number }> = {
  name: 'affine_scalar',
  forward: (_ctx, [x], { scale, shift }) => map('affine', 'a * s.x + s.y', [x], { scalars: [scale, shift] }),
  backward: (_ctx, g, { scale }) => [map('scale', 'a * s.x', [g], { scalars: [scale] })],
};
/** x * scale + shift with plain numbers. */
export function affine(x: Tensor, scale: number, shift = 0): Tensor {
  return apply(AffineScalar, [x], { scale, shift });
}
export const mulScalar = (x: Tensor, s: number): Tensor => affine(x, s, 0);
export const addScalar = (x: Tensor, s: number): Tensor => affine(x, 1, s);

const Where: FunctionDef = {
  name: 'where',
  forward(ctx, [cond, a, b]) {
    ctx.save(cond, a, b);
    return map('where', 'select(c, b, a != 0.0)', [cond, a, b], { out: 'float32' });
  },
  backward(ctx, g) {
    const [cond, a, b] = ctx.saved;
    return [
      null,
      ctx.needsInputGrad[1] ? sumToShape(m('where_a', 'select(0.0, a, b != 0.0)', g, cond), a.shape) : null,
      ctx.needsInputGrad[2] ? sumToShape(m('where_b', 'select(a, 0.0, b != 0.0)', g, cond), b.shape) : null,
    ];
  },
};
/** Picks a where cond is non-zero, else b (cond: float32 0/1 mask). */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  if ([cond, a, b].some((t) => t.dtype !== 'float32')) {
    throw new Error(`where: expects float32 cond, a and b, got ${cond.dtype}, ${a.dtype} and ${b.dtype}`);
  }
  return apply(Where, [cond, a, b], undefined);
}

/** Comparisons give float32 0/1 masks and have no gradient. */
const compare = (name: string, expr: string) => (a: Tensor, b: Tensor) => {
  if (a.dtype !== b.dtype) throw new Error(`${name}: compares tensors of one dtype, got ${a.dtype} and ${b.dtype}`);
  return map(name, `select(0.0, 1.0, ${expr})`, [a, b], { out: 'float32' });
};
export const greater = compare('gt', 'a > b');
export const less = compare('lt', 'a < b');
export const equal = compare('eq', 'a == b');

