// Module: parameters, buffers (running statistics), children, train/eval, PyTorch-style state dicts.
import { shapeString, sameShape, type HostTensor, type StateDict } from '../host.ts';
import { fromHost } from '../ops/creation.ts';
import { runtime } from '../runtime.ts';
import { keep } from '../scope.ts';
import type { Tensor } from '../tensor.ts';

export class StateDictError extends Error {
  override name = 'StateDictError';
}

export abstract class Module {
  training = true;
  readonly #params = new Map<string, Tensor | null>();
  readonly #buffers = new Map<string, Tensor | null>();
  readonly #children = new Map<string, Module>();

  /** Registers a trainable tensor (kept out of tidy scopes, requiresGrad set). null reserves the name. */
  protected param(name: string, t: Tensor | null): Tensor {
    if (t) {
      keep(t);
      t.requiresGrad = true;
    }
    this.#params.set(name, t);
    return t as Tensor;
  }

  /** Registers a non-trainable tensor saved in the state dict (running mean/var, counters). */
  protected buffer(name: string, t: Tensor | null): Tensor {
    if (t) keep(t);
    this.#buffers.set(name, t);
    return t as Tensor;
  }

  protected child<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }

  /** Replaces a buffer's tensor (e.g. after an out-of-place update); the old one is disposed. */
  protected replaceBuffer(name: string, t: Tensor): void {
    const old = this.#buffers.get(name);
    if (old && old !== t) old.dispose();
    this.#buffers.set(name, keep(t));
  }

  children(): [string, Module][] {
    return [...this.#children];
  }

  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, m] of this.#children) yield* m.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, t] of m.#params) if (t) out.push([path ? `${path}.${name}` : name, t]);
    }
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [path, m] of this.namedModules(prefix)) {
      for (const [name, t] of m.#buffers) if (t) out.push([path ? `${path}.${name}` : name, t]);
    }
    return out;
  }

  /** Parameters and buffers in registration order, as state-dict entries. */
  namedTensors(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [path, m] of this.namedModules()) {
      for (const map of [m.#params, m.#buffers]) {
        for (const [name, t] of map) if (t) out.push([path ? `${path}.${name}` : name, t]);
      }
    }
    return out;
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  parameterCount(): number {
    return this.parameters().reduce((s, t) => s + t.size, 0);
  }

  /** Reads every parameter and buffer back to the CPU. */
  async stateDict(): Promise<StateDict> {
    const sd: StateDict = new Map();
    for (const [k, t] of this.namedTensors()) sd.set(k, await t.toHost());
    return sd;
  }

  /**
   * Copies values into the existing tensors (optimizers keep their references). Strict by default: one
   * error lists every missing, unexpected and mis-shaped key, and nothing is loaded.
   */
  loadStateDict(sd: StateDict, { strict = true }: { strict?: boolean } = {}): void {
    const own = new Map(this.namedTensors());
    const missing = [...own.keys()].filter((k) => !sd.has(k));
    const unexpected = [...sd.keys()].filter((k) => !own.has(k));
    const misshaped = [...own]
      .filter(([k, t]) => sd.has(k) && (!sameShape(sd.get(k)!.shape, t.shape) || sd.get(k)!.dtype !== t.dtype))
      .map(([k, t]) => `${k}: checkpoint ${shapeString(sd.get(k)!.shape)} ${sd.get(k)!.dtype}, model ${shapeString(t.shape)} ${t.dtype}`);
    const problems = [
      strict && missing.length ? `missing keys: ${missing.join(', ')}` : '',
      strict && unexpected.length ? `unexpected keys: ${unexpected.join(', ')}` : '',
      misshaped.length ? `mis-shaped: ${misshaped.join('; ')}` : '',
    ].filter(Boolean);
    if (problems.length) throw new StateDictError(`loadStateDict: ${problems.join(' | ')}`);
    const rt = runtime();
    for (const [k, t] of own) {
      const h = sd.get(k);
      if (!h) continue;
      if (!t.isDense()) throw new StateDictError(`loadStateDict: ${k} is not a dense tensor`);
      rt.queue.write(t.storage, 0, h.data);
    }
    for (const [path, m] of this.namedModules()) m.afterLoad(sd, path ? `${path}.` : '');
  }

  /** Lets a module refresh host-side state from freshly loaded entries (keys are `prefix + name`). */
  protected afterLoad(_sd: StateDict, _prefix: string): void {}

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const [, t] of this.namedTensors()) t.dispose();
  }
}

/** Uploads a host tensor as a parameter-ready tensor. */
export function tensorFromHost(h: HostTensor): Tensor {
  return fromHost(h);
}
