// Reverse-mode autograd in the shape of PyTorch's autograd.Function: an op is a declaration with a
// `forward` that records kernels and saves what backward needs, and a `backward` that returns one
// gradient (or null) per input, written in terms of other ops.
import { shapeString, sameShape } from './host.ts';
import { keep, tidy } from './scope.ts';
import { allocate, Tensor } from './tensor.ts';
import { map } from './ops/map.ts';

export interface GradCtx {
  /** Which inputs need a gradient; backward may return null for the others. */
  readonly needsInputGrad: readonly boolean[];
  /** Tensors saved by forward; they hold their storage until backward has run. */
  readonly saved: Tensor[];
  /** Non-tensor values forward wants backward to see (shapes, flags). */
  readonly values: Record<string, unknown>;
}

export interface FunctionDef<A = void> {
  readonly name: string;
  forward(ctx: ForwardCtx, inputs: readonly Tensor[], attrs: A): Tensor;
  /** Omit for ops that have no gradient (comparisons, argmax, integer ops). */
  backward?(ctx: GradCtx, grad: Tensor, attrs: A): (Tensor | null)[];
}

export class ForwardCtx implements GradCtx {
  readonly saved: Tensor[] = [];
  readonly values: Record<string, unknown> = {};
  constructor(readonly needsInputGrad: readonly boolean[]) {}

  /** Saves tensors for backward (each gets its own storage reference). */
  save(...tensors: Tensor[]): void {
    for (const t of tensors) this.saved.push(t.view(t.shape, t.strides, t.offset, false));
  }
}

/**
 * One recorded op. Its saved tensors are freed after backward (unless retainGraph) or, when backward never
 * runs, once nothing can reach the node any more: `holders` counts its output tensor (until disposed) and
 * the later nodes that take that output as an input.
 */
export class GradNode {
  released = false;
  private holders = 1;
  constructor(
    readonly fn: FunctionDef<any>,
    readonly inputs: readonly Tensor[],
    readonly ctx: ForwardCtx,
    readonly attrs: unknown,
  ) {
    for (const t of inputs) if (t.gradFn) t.gradFn.holders++;
  }

  release(): void {
    for (const t of this.ctx.saved) t.dispose();
    this.ctx.saved.length = 0;
    this.released = true;
  }

  /** Drops one holder; a node nothing holds frees its saved tensors and lets go of its inputs' nodes. */
  drop(): void {
    const work: GradNode[] = [this];
    // Iterative: disposing the end of a long chain must not recurse once per node.
    while (work.length) {
      const node = work.pop()!;
      if (--node.holders > 0) continue;
      node.release();
      for (const t of node.inputs) if (t.gradFn) work.push(t.gradFn);
    }
  }
}

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording a graph. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

export function enableGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Calls an op: runs forward without grad, and links the result into the graph when an input needs grad. */
export function apply<A>(fn: FunctionDef<A>, inputs: readonly Tensor[], attrs: A): Tensor {
  const needs = inputs.map((t) => gradEnabled && t.requiresGrad);
  const record = needs.some(Boolean) && fn.backward !== undefined;
  const ctx = new ForwardCtx(needs);
  let out: Tensor;
  try {
    out = noGrad(() => fn.forward(ctx, inputs, attrs));
  } catch (e) {
    for (const t of ctx.saved) t.dispose();
    throw e;
  }
  if (record) {
    out.requiresGrad = true;
    out.gradFn = new GradNode(fn, inputs, ctx, attrs);
  } else {
    for (const t of ctx.saved) t.dispose();
  }
  return out;
}

/** A new tensor sharing storage, cut from the graph. */
export function detach(t: Tensor): Tensor {
  return t.view(t.shape, t.strides, t.offset);
}

/** Post-order over the graph below `root`, without recursion (deep nets must not overflow the stack). */
function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, next] = top;
    const inputs = t.gradFn?.inputs ?? [];
    if (next < inputs.length) {
      top[1]++;
      const child = inputs[next];
      if (child.requiresGrad && !visited.has(child)) {
        visited.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}

export interface BackwardOptions {
  /** Keep saved tensors so backward can run again through the same graph. */
  retainGraph?: boolean;
}

// Seeding and accumulating gradients needs two kernels; taken straight from the element-wise map so
// backward works whatever ops a program happened to import.
const gradHelpers = {
  onesLike: (t: Tensor): Tensor => map('fill', 's.x', [], { into: allocate(t.shape, 'float32'), scalars: [1] }),
  add: (a: Tensor, b: Tensor): Tensor => map('add', 'a + b', [a, b]),
};

/**
 * Accumulates d(root)/d(leaf) into `leaf.grad` for every leaf with requiresGrad. `grad` is required
 * unless root is a scalar. Leaf gradients survive enclosing tidy() scopes.
 */
export function backward(root: Tensor, grad?: Tensor, opts: BackwardOptions = {}): void {
  if (!root.requiresGrad) {
    throw new Error(`backward: ${root} does not require grad (no input of the graph has requiresGrad)`);
  }
  if (!grad && root.size !== 1) {
    throw new Error(
      `backward: the output has shape ${shapeString(root.shape)}; backward without a gradient argument needs a single-element output`,
    );
  }
  if (grad && !sameShape(grad.shape, root.shape)) {
    throw new Error(`backward: gradient shape ${shapeString(grad.shape)} does not match output ${shapeString(root.shape)}`);
  }
  noGrad(() => {
    const order = topoOrder(root);
    const grads = new Map<Tensor, Tensor>();
    grads.set(root, grad ? grad.view(grad.shape, grad.strides, grad.offset, false) : gradHelpers.onesLike(root));
    try {
      for (let k = order.length - 1; k >= 0; k--) {
        const t = order[k];
        const g = grads.get(t);
        if (!g) continue;
        grads.delete(t);
        if (t.gradFn) propagate(t.gradFn, g, grads, opts);
        else accumulateLeaf(t, g);
      }
    } finally {
      // Only reached with entries left when a backward threw: free the gradients still in flight.
      for (const g of grads.values()) g.dispose();
    }
  });
}

/** Runs one node's backward on its output gradient `g` (consumed) and adds the results into `grads`. */
function propagate(node: GradNode, g: Tensor, grads: Map<Tensor, Tensor>, opts: BackwardOptions): void {
  let returned: (Tensor | null)[];
  try {
    if (node.released) {
      throw new Error(`backward: the graph through '${node.fn.name}' was already freed; pass { retainGraph: true } the first time`);
    }
    returned = tidy(() => node.fn.backward!(node.ctx, g, node.attrs as never));
  } catch (e) {
    g.dispose();
    throw e;
  }
  // A backward may hand back `g` itself or one tensor for several inputs; give each its own reference.
  const seen = new Set<Tensor>([g]);
  const inputGrads = returned.map((gi) => {
    if (!gi) return null;
    if (!seen.has(gi)) {
      seen.add(gi);
      return gi;
    }
    return gi.view(gi.shape, gi.strides, gi.offset);
  });
  g.dispose();
  const problem =
    inputGrads.length !== node.inputs.length
      ? `returned ${inputGrads.length} gradients for ${node.inputs.length} inputs`
      : inputGrads
          .map((gi, i) =>
            gi && !sameShape(gi.shape, node.inputs[i].shape)
              ? `gradient for input ${i} has shape ${shapeString(gi.shape)}, expected ${shapeString(node.inputs[i].shape)}`
              : '',
          )
          .find(Boolean);
  if (problem) {
    for (const gi of inputGrads) gi?.dispose();
    throw new Error(`backward of '${node.fn.name}': ${problem}`);
  }
  node.inputs.forEach((input, i) => {
    const gi = inputGrads[i];
    if (!gi) return;
    if (!input.requiresGrad || !node.ctx.needsInputGrad[i]) {
      gi.dispose();
      return;
    }
    const prev = grads.get(input);
    if (prev) {
      grads.set(input, gradHelpers.add(prev, gi));
      prev.dispose();
      gi.dispose();
    } else {
      grads.set(input, gi);
    }
  });
  if (!opts.retainGraph) node.release();
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  keep(g);
  if (leaf.grad) {
    const sum = keep(gradHelpers.add(leaf.grad, g));
    leaf.grad.dispose();
    g.dispose();
    leaf.grad = sum;
  } else {
    leaf.grad = g;
  }
}
