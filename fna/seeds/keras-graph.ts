// A Keras functional-model topology (as TensorFlow.js layers models store it) as a graph of layers with
// producers and consumers. Handles both inbound-node formats: legacy `[[["name", 0, 0, {}], ...]]` and
// Keras 3 `[{args: [{config: {keras_history: ["name", 0, 0]}}], kwargs}]`.

export class KerasImportError extends Error {
  constructor(readonly source: string, problem: string) {
    super(`${source}: ${problem}`);
    this.name = 'KerasImportError';
  }
}

export interface KerasLayer {
  className: string;
  name: string;
  config: Record<string, unknown>;
  /** Names of the layers whose outputs feed this one, in call order. */
  inputs: string[];
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function historyNames(value: unknown, out: string[]): void {
  if (Array.isArray(value)) {
    for (const v of value) historyNames(v, out);
  } else if (isObject(value)) {
    const history = isObject(value.config) ? value.config.keras_history : undefined;
    if (Array.isArray(history) && typeof history[0] === 'string') out.push(history[0]);
    else for (const v of Object.values(value)) historyNames(v, out);
  }
}

function inboundNames(layer: Json, fail: (p: string) => never): string[] {
  const nodes = layer.inbound_nodes;
  if (!Array.isArray(nodes) || nodes.length === 0) return [];
  if (nodes.length > 1) fail(`layer "${layer.name}" is called ${nodes.length} times (shared layers are not supported)`);
  const node = nodes[0];
  if (Array.isArray(node)) return node.map((entry) => (Array.isArray(entry) ? String(entry[0]) : fail(`layer "${layer.name}": malformed inbound node`)));
  const names: string[] = [];
  historyNames(isObject(node) ? node.args : undefined, names);
  return names;
}

export class KerasGraph {
  readonly layers: KerasLayer[];
  readonly #byName = new Map<string, KerasLayer>();
  readonly #consumers = new Map<string, KerasLayer[]>();
  readonly fail: (problem: string) => never;

  constructor(topology: unknown, readonly source: string) {
    this.fail = (problem) => {
      throw new KerasImportError(source, problem);
    };
    const top = isObject(topology) && isObject(topology.model_config) ? topology.model_config : topology;
    if (!isObject(top) || !isObject(top.config) || !Array.isArray(top.config.layers)) {
      this.fail('modelTopology has no model_config.config.layers (not a TensorFlow.js layers model)');
    }
    const model = top as { class_name?: unknown; config: { layers: unknown[] } };
    if (model.class_name !== 'Model' && model.class_name !== 'Functional') {
      this.fail(`expected a functional Keras model (class_name Model or Functional), got ${JSON.stringify(model.class_name)}`);
    }
    this.layers = model.config.layers.map((raw, i) => {
      if (!isObject(raw) || typeof raw.class_name !== 'string' || !isObject(raw.config)) this.fail(`layers[${i}] is not a Keras layer`);
      const name = typeof raw.name === 'string' ? raw.name : String(raw.config.name);
      if (raw.class_name === 'Model' || raw.class_name === 'Functional' || raw.class_name === 'Sequential') {
        this.fail(`layer "${name}" is a nested model; only flat MobileNetV2 graphs are supported`);
      }
      return { className: raw.class_name, name, config: raw.config, inputs: inboundNames({ ...raw, name }, this.fail) };
    });
    for (const layer of this.layers) {
      if (this.#byName.has(layer.name)) this.fail(`two layers are named "${layer.name}"`);
      this.#byName.set(layer.name, layer);
      this.#consumers.set(layer.name, []);
    }
    for (const layer of this.layers) {
      for (const input of layer.inputs) {
        const list = this.#consumers.get(input);
        if (!list) this.fail(`layer "${layer.name}" reads from "${input}", which is not in the model`);
        list.push(layer);
      }
    }
  }

  layer(name: string): KerasLayer {
    return this.#byName.get(name) ?? this.fail(`no layer named "${name}"`);
  }

  consumers(layer: KerasLayer): KerasLayer[] {
    return this.#consumers.get(layer.name) ?? [];
  }

  soleConsumer(layer: KerasLayer): KerasLayer | null {
    const list = this.consumers(layer);
    if (list.length > 1) this.fail(`layer "${layer.name}" feeds ${list.length} layers (${list.map((l) => l.name).join(', ')}); expected one`);
    return list[0] ?? null;
  }

  soleInput(layer: KerasLayer): KerasLayer {
    if (layer.inputs.length !== 1) this.fail(`layer "${layer.name}" has ${layer.inputs.length} inputs; expected one`);
    return this.layer(layer.inputs[0]);
  }

  /** The layer feeding `layer`, looking through ZeroPadding2D layers, and the padding they add [t, b, l, r]. */
  inputThroughPadding(layer: KerasLayer): { producer: KerasLayer; pad: [number, number, number, number] } {
    const pad: [number, number, number, number] = [0, 0, 0, 0];
    let producer = this.soleInput(layer);
    while (producer.className === 'ZeroPadding2D') {
      zeroPadding(producer, this.fail).forEach((p, i) => (pad[i] += p));
      producer = this.soleInput(producer);
    }
    return { producer, pad };
  }
}

/** ZeroPadding2D's `padding`: p, [ph, pw] or [[top, bottom], [left, right]], as [t, b, l, r]. */
export function zeroPadding(layer: KerasLayer, fail: (p: string) => never): [number, number, number, number] {
  const p = layer.config.padding;
  if (typeof p === 'number') return [p, p, p, p];
  if (Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'number')) return [p[0], p[0], p[1], p[1]];
  if (Array.isArray(p) && p.length === 2 && p.every((v) => Array.isArray(v) && v.length === 2)) {
    return [p[0][0], p[0][1], p[1][0], p[1][1]];
  }
  return fail(`ZeroPadding2D "${layer.name}": cannot read padding ${JSON.stringify(p)}`);
}
