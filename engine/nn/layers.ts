// Basic layers: Linear, Sequential, activations, Flatten.
import { add, relu, relu6 } from '../ops/arithmetic.ts';
import { matmul } from '../ops/matmul.ts';
import { reshape, transpose } from '../ops/movement.ts';
import { shapeString } from '../host.ts';
import type { Tensor } from '../tensor.ts';
import { defaultWeight, HostRng, initRng, uniformTensor } from './init.ts';
import { Module } from './module.ts';

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    { bias = true, rng = initRng() }: { bias?: boolean; rng?: HostRng } = {},
  ) {
    super();
    this.weight = this.param('weight', defaultWeight([outFeatures, inFeatures], rng));
    this.bias = this.param('bias', bias ? uniformTensor([outFeatures], 1 / Math.sqrt(inFeatures), rng) : null);
  }

  forward(x: Tensor): Tensor {
    if (x.shape[x.rank - 1] !== this.inFeatures) {
      throw new Error(`Linear(${this.inFeatures}, ${this.outFeatures}): input ${shapeString(x.shape)} has last dimension ${x.shape[x.rank - 1]}`);
    }
    const wt = transpose(this.weight);
    const y = matmul(x, wt);
    wt.dispose();
    if (!this.bias) return y;
    const out = add(y, this.bias);
    y.dispose();
    return out;
  }
}

/** A Module that applies a function with no parameters. */
export class Lambda extends Module {
  constructor(
    readonly name: string,
    private readonly fn: (x: Tensor) => Tensor,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return this.fn(x);
  }
}

export const ReLU = () => new Lambda('relu', relu);
export const ReLU6 = () => new Lambda('relu6', relu6);
/** Flattens all axes after the first. */
export const Flatten = () => new Lambda('flatten', (x) => reshape(x, [x.shape[0], -1]));

export interface Forward {
  forward(x: Tensor): Tensor;
}

/** Children named "0", "1", ... as in PyTorch, so state-dict keys match. */
export class Sequential extends Module {
  readonly layers: (Module & Forward)[];
  constructor(...layers: (Module & Forward)[]) {
    super();
    this.layers = layers.map((l, i) => this.child(String(i), l));
  }
  forward(x: Tensor): Tensor {
    let h = x;
    for (const layer of this.layers) {
      const next = layer.forward(h);
      if (h !== x) h.dispose();
      h = next;
    }
    return h;
  }
}
