// The FNA super network (fna-spec §2, §3.1): stem and fixed first block as in the seed, then every
// searchable layer holds all candidate MBConvs (non-affine, untracked BN) plus skip in normal layers, mixed
// by a row of architecture parameters. State-dict keys: blocks.0.*, blocks.1.op.j.*,
// blocks.b.layers.l._ops.<prim>.op.j.*. Architecture parameters live apart from the weights
// (`archParameters()`), one [candidates] row per layer, initialised 1e-3 * N(0, 1).
import { fromArray } from '../../engine/ops/creation.ts';
import { add } from '../../engine/ops/arithmetic.ts';
import { mixedOp } from '../../engine/ops/mixedop.ts';
import { contiguous } from '../../engine/ops/movement.ts';
import { BatchNorm2d, Conv2d } from '../../engine/nn/conv.ts';
import { HostRng, initRng } from '../../engine/nn/init.ts';
import { Module } from '../../engine/nn/module.ts';
import { keep } from '../../engine/scope.ts';
import type { Tensor } from '../../engine/tensor.ts';
import { isSkip, mbconvOp } from '../arch/ops.ts';
import { stageGeometry } from '../arch/mobilenet.ts';
import type { SuperNetArch } from '../arch/types.ts';
import { convPadding, MBConv, type BuildOptions } from './mobilenet.ts';

export interface SuperLayer {
  block: number;
  layer: number;
  candidates: string[];
  in: number;
  out: number;
  stride: number;
  dilation: number;
}

/** Every searchable layer of the super net, in order. */
export function superLayers(arch: SuperNetArch): SuperLayer[] {
  const geometry = stageGeometry(arch.base);
  const out: SuperLayer[] = [];
  arch.space.stages.forEach((s, i) => {
    const stage = arch.base.stages[i + 1];
    for (let l = 0; l < s.layers; l++) {
      out.push({
        block: i + 2,
        layer: l,
        candidates: [...(l === 0 ? s.reduceOps : s.normalOps)],
        in: l === 0 ? stage.in : stage.out,
        out: stage.out,
        stride: l === 0 ? geometry[i + 1].stride : 1,
        dilation: geometry[i + 1].dilation,
      });
    }
  });
  return out;
}

/**
 * Multiply-adds of each candidate (billions, conv layers only, as FNA counts them) at an input size,
 * layer by layer; skip costs 0.
 */
export function candidateCosts(arch: SuperNetArch, inputSize: [number, number]): number[][] {
  const geo = stageGeometry(arch.base);
  let [h, w] = inputSize.map((d) => Math.ceil(d / arch.base.stem.stride));
  // the fixed first block keeps the resolution unless it has a stride
  [h, w] = [Math.ceil(h / geo[0].stride), Math.ceil(w / geo[0].stride)];
  return superLayers(arch).map((layer) => {
    const [ho, wo] = [Math.ceil(h / layer.stride), Math.ceil(w / layer.stride)];
    const costs = layer.candidates.map((name) => {
      if (isSkip(name)) return 0;
      const { kernel, expansion } = mbconvOp(name);
      const hidden = layer.in * expansion;
      const expand = expansion === 1 ? 0 : layer.in * hidden * h * w;
      return (expand + kernel * kernel * hidden * ho * wo + hidden * layer.out * ho * wo) / 1e9;
    });
    [h, w] = [ho, wo];
    return costs;
  });
}

class Candidates extends Module {
  constructor(readonly ops: Map<string, MBConv>) {
    super();
    for (const [name, m] of ops) this.child(name, m);
  }
}
class MixedLayer extends Module {
  readonly ops: Candidates;
  constructor(readonly spec: SuperLayer, bnEps: number, opts: BuildOptions) {
    super();
    const candidates = new Map<string, MBConv>();
    for (const name of spec.candidates.filter((c) => !isSkip(c))) {
      const op = mbconvOp(name);
      candidates.set(
        name,
        new MBConv(
          { in: spec.in, out: spec.out, hidden: spec.in * op.expansion, stride: spec.stride, dilation: spec.dilation, residual: spec.in === spec.out && spec.stride === 1, op },
          { eps: bnEps, affine: false, trackRunningStats: false },
          opts,
        ),
      );
    }
    this.ops = this.child('_ops', new Candidates(candidates));
  }

  runCandidate(name: string, x: Tensor): Tensor {
    if (isSkip(name)) return contiguous(x); // an autograd alias, so gradients flow through skip
    return this.ops.ops.get(name)!.forward(x);
  }
}
class LayerList extends Module {
  constructor(list: MixedLayer[]) {
    super();
    list.forEach((m, i) => this.child(String(i), m));
  }
}
class SuperStage extends Module {
  constructor(readonly list: MixedLayer[]) {
    super();
    this.child('layers', new LayerList(list));
  }
}
class Blocks extends Module {
  constructor(list: Module[]) {
    super();
    list.forEach((m, i) => this.child(String(i), m));
  }
}
class StemBlock extends Module {
  constructor(readonly conv: Conv2d, readonly bn: BatchNorm2d) {
    super();
    this.child('0', conv);
    this.child('1', bn);
  }
}

export type SuperForward =
  /** Weight step: one candidate index per layer (single-path training). */
  | { mode: 'path'; path: number[] }
  /** Arch step: every candidate of every layer mixed by softmax(alpha / temperature). */
  | { mode: 'mixed'; temperature?: number };

export interface SuperOutput {
  /** Output of each stage (block 1..n). */
  stages: Tensor[];
  /** Expected MAdds (billions) of the searchable layers: a tensor in mixed mode, a number for a path. */
  cost: Tensor | number;
}

export class SuperNet extends Module {
  readonly layers: MixedLayer[];
  readonly alphas: Tensor[];
  readonly costs: number[][];
  readonly stem: StemBlock;
  readonly first: MBConv;
  private readonly stageOf: number[];

  constructor(readonly arch: SuperNetArch, opts: BuildOptions & { costInputSize?: [number, number] } = {}) {
    super();
    const rng = opts.rng ?? initRng();
    const base = arch.base;
    const bn = { eps: base.bnEps };
    const mode = opts.padding ?? 'torch';
    this.stem = new StemBlock(
      new Conv2d(base.inputChannels, base.stem.out, { kernel: 3, stride: base.stem.stride, padding: convPadding(3, base.stem.stride, 1, mode), init: 'kaiming_fan_out', rng }),
      new BatchNorm2d(base.stem.out, bn),
    );
    const s0 = base.stages[0];
    const op0 = mbconvOp(s0.ops[0]);
    const g0 = stageGeometry(base)[0];
    this.first = new MBConv(
      { in: s0.in, out: s0.out, hidden: s0.in * op0.expansion, stride: g0.stride, dilation: g0.dilation, residual: s0.in === s0.out && g0.stride === 1, op: op0 },
      bn,
      { ...opts, rng },
    );
    const specs = superLayers(arch);
    this.layers = specs.map((s) => new MixedLayer(s, base.bnEps, { ...opts, rng }));
    this.stageOf = specs.map((s) => s.block - 2);
    const stages = arch.space.stages.map((_, i) => new SuperStage(this.layers.filter((_, k) => this.stageOf[k] === i)));
    this.child('blocks', new Blocks([this.stem, this.first, ...stages]));
    const alphaRng = new HostRng((opts.rng?.nextU32() ?? 0) ^ 0xa1fa);
    this.alphas = specs.map((s) => {
      const t = keep(fromArray(Float32Array.from(s.candidates, () => 1e-3 * alphaRng.normal()), [s.candidates.length]));
      t.requiresGrad = true;
      return t;
    });
    this.costs = candidateCosts(arch, opts.costInputSize ?? [224, 224]);
  }

  archParameters(): Tensor[] {
    return this.alphas;
  }

  forwardSuper(x: Tensor, how: SuperForward): SuperOutput {
    const swap = (h: Tensor, next: Tensor) => {
      h.dispose();
      return next;
    };
    let h = this.stem.conv.forward(x);
    h = swap(h, this.stem.bn.forward(h, 'relu6'));
    h = swap(h, this.first.forward(h));
    const stages: Tensor[] = [contiguous(h)];
    let pathCost = 0;
    const layerCosts: Tensor[] = [];
    this.layers.forEach((layer, k) => {
      if (how.mode === 'path') {
        const choice = layer.spec.candidates[how.path[k]];
        if (choice === undefined) throw new Error(`SuperNet: path[${k}] = ${how.path[k]} is not a candidate index of layer ${k}`);
        pathCost += this.costs[k][how.path[k]];
        h = swap(h, layer.runCandidate(choice, h));
      } else {
        const outs = layer.spec.candidates.map((c) => layer.runCandidate(c, h));
        const { out, expectedCost } = mixedOp(outs, this.alphas[k], { temperature: how.temperature ?? 1, costs: this.costs[k] });
        for (const o of outs) o.dispose();
        layerCosts.push(expectedCost);
        h = swap(h, out);
      }
      const last = k === this.layers.length - 1 || this.stageOf[k + 1] !== this.stageOf[k];
      if (last) stages.push(contiguous(h));
    });
    h.dispose();
    let cost: Tensor | number = pathCost;
    if (layerCosts.length) {
      let total = layerCosts[0];
      for (const c of layerCosts.slice(1)) {
        const next = add(total, c);
        total.dispose();
        c.dispose();
        total = next;
      }
      cost = total;
    }
    return { stages, cost };
  }

  /** The op each layer would be derived as: argmax of its alpha row. */
  async derive(): Promise<string[][]> {
    const rows = await Promise.all(this.alphas.map((a) => a.toArray()));
    const out: string[][] = this.arch.space.stages.map(() => []);
    rows.forEach((row, k) => {
      let best = 0;
      for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
      out[this.stageOf[k]].push(this.layers[k].spec.candidates[best]);
    });
    return out;
  }

  override dispose(): void {
    super.dispose();
    for (const a of this.alphas) a.dispose();
  }
}
