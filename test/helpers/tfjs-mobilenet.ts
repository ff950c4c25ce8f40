// Small Keras-style MobileNetV2s built with tfjs-layers, named as keras.applications names them, with
// seeded random weights and BN statistics; saved to artifacts whose weights are float32, float16- or
// uint8-quantised. What the importer sees is then exactly what tfjs's own loader reads.
import type { TfjsLayersArtifacts } from '../../fna/seeds/index.ts';
import type { WeightSpec } from '../../fna/seeds/tfjs-weights.ts';
import { rng } from './random.ts';
import { tf, useCpuBackend } from './tfjs-reference.ts';

export interface MiniBlock {
  expansion: number;
  out: number;
  kernel: number;
  stride: number;
}

export interface MiniMobileNet {
  inputChannels: number;
  stem: number;
  blocks: MiniBlock[];
  head: number | null;
  classes: number | null;
  /** 'zero-pad': ZeroPadding2D + 'valid' before stride-2 convs (keras.applications); 'same': the conv pads itself. */
  strided: 'zero-pad' | 'same';
  eps: number;
}

type Sym = tf.SymbolicTensor;

/** Keras's correct_pad for an even input: (k//2 - 1, k//2) per axis. */
function strided(x: Sym, name: string, kernel: number, stride: number, mode: MiniMobileNet['strided']): { x: Sym; padding: 'same' | 'valid' } {
  if (stride === 1 || mode === 'same') return { x, padding: 'same' };
  const half = kernel >> 1;
  const padded = tf.layers.zeroPadding2d({ name, padding: [[half - 1, half], [half - 1, half]] }).apply(x) as Sym;
  return { x: padded, padding: 'valid' };
}

export function buildKerasMobileNet(spec: MiniMobileNet): tf.LayersModel {
  const bn = (x: Sym, name: string) => tf.layers.batchNormalization({ name, epsilon: spec.eps, momentum: 0.999 }).apply(x) as Sym;
  const relu6 = (x: Sym, name: string) => tf.layers.reLU({ name, maxValue: 6 }).apply(x) as Sym;
  const input = tf.input({ shape: [null, null, spec.inputChannels] as unknown as number[], name: 'input_1' });
  const stemIn = strided(input, 'Conv1_pad', 3, 2, spec.strided);
  let x = tf.layers.conv2d({ name: 'Conv1', filters: spec.stem, kernelSize: 3, strides: 2, padding: stemIn.padding, useBias: false }).apply(stemIn.x) as Sym;
  x = relu6(bn(x, 'bn_Conv1'), 'Conv1_relu');
  let channels = spec.stem;
  spec.blocks.forEach((b, id) => {
    const prefix = id === 0 ? 'expanded_conv_' : `block_${id}_`;
    const blockInput = x;
    let h = x;
    if (b.expansion !== 1) {
      h = tf.layers.conv2d({ name: `${prefix}expand`, filters: channels * b.expansion, kernelSize: 1, padding: 'same', useBias: false }).apply(h) as Sym;
      h = relu6(bn(h, `${prefix}expand_BN`), `${prefix}expand_relu`);
    }
    const dwIn = strided(h, `${prefix}pad`, b.kernel, b.stride, spec.strided);
    h = tf.layers.depthwiseConv2d({ name: `${prefix}depthwise`, kernelSize: b.kernel, strides: b.stride, padding: dwIn.padding, useBias: false }).apply(dwIn.x) as Sym;
    h = relu6(bn(h, `${prefix}depthwise_BN`), `${prefix}depthwise_relu`);
    h = tf.layers.conv2d({ name: `${prefix}project`, filters: b.out, kernelSize: 1, padding: 'same', useBias: false }).apply(h) as Sym;
    h = bn(h, `${prefix}project_BN`);
    if (channels === b.out && b.stride === 1) h = tf.layers.add({ name: `${prefix}add` }).apply([blockInput, h]) as Sym;
    x = h;
    channels = b.out;
  });
  if (spec.head !== null) {
    x = tf.layers.conv2d({ name: 'Conv_1', filters: spec.head, kernelSize: 1, useBias: false }).apply(x) as Sym;
    x = relu6(bn(x, 'Conv_1_bn'), 'out_relu');
  }
  if (spec.classes !== null) {
    x = tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }).apply(x) as Sym;
    x = tf.layers.dense({ name: 'Logits', units: spec.classes }).apply(x) as Sym;
    x = tf.layers.activation({ name: 'predictions', activation: 'softmax' }).apply(x) as Sym;
  }
  return tf.model({ inputs: input, outputs: x, name: 'mobilenetv2_mini' });
}

/** Seeded weights: He-uniform kernels, BN gamma in [0.5, 1.5], beta/mean in [-0.5, 0.5], variance in [0.5, 2]. */
export function randomizeWeights(model: tf.LayersModel, seed: number): void {
  const random = rng(seed);
  const uniform = (lo: number, hi: number) => lo + (hi - lo) * random();
  for (const layer of model.layers) {
    const values = layer.getWeights().map((w, i) => {
      const n = w.size;
      const data = new Float32Array(n);
      const name = layer.weights[i].originalName;
      const fanIn = w.shape.length === 4 ? w.shape[0] * w.shape[1] * (layer.getClassName() === 'DepthwiseConv2D' ? 1 : w.shape[2]) : w.shape[0];
      const bound = Math.sqrt(6 / fanIn);
      const range: [number, number] = name.endsWith('gamma') ? [0.5, 1.5] : name.endsWith('moving_variance') ? [0.5, 2] : name.match(/beta|moving_mean|bias/) ? [-0.5, 0.5] : [-bound, bound];
      for (let j = 0; j < n; j++) data[j] = uniform(...range);
      return tf.tensor(data, w.shape);
    });
    if (values.length) layer.setWeights(values);
    values.forEach((t) => t.dispose());
  }
}

/** IEEE binary16, round to nearest even (finite inputs well inside the half range). */
export function floatToHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  const mantissa = bits & 0x7fffff;
  if (exponent <= 0) {
    const shifted = Math.round((Math.abs(value) / 2 ** -24));
    return sign | shifted;
  }
  let half = sign | (exponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return half;
}

export type WeightStorage = 'float32' | 'float16' | 'uint8';

/** Re-encodes float32 weights as tfjs would quantise them (per-tensor uint8 min/scale, or float16). */
function encode(specs: WeightSpec[], data: Float32Array, storage: WeightStorage): { specs: WeightSpec[]; bytes: Uint8Array } {
  if (storage === 'float32') return { specs, bytes: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) };
  const out: number[] = [];
  let offset = 0;
  const encoded = specs.map((spec) => {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const values = data.subarray(offset, offset + n);
    offset += n;
    if (storage === 'float16') {
      for (const v of values) {
        const h = floatToHalf(v);
        out.push(h & 0xff, h >>> 8);
      }
      return { ...spec, quantization: { dtype: 'float16' as const } };
    }
    let min = Infinity;
    let max = -Infinity;
    for (const v of values) [min, max] = [Math.min(min, v), Math.max(max, v)];
    const scale = (max - min) / 255 || 1;
    for (const v of values) out.push(Math.round((v - min) / scale));
    return { ...spec, quantization: { dtype: 'uint8' as const, min, scale } };
  });
  return { specs: encoded, bytes: Uint8Array.from(out) };
}

export async function saveArtifacts(model: tf.LayersModel, storage: WeightStorage, location: string): Promise<TfjsLayersArtifacts> {
  await useCpuBackend();
  let saved: tf.io.ModelArtifacts | null = null;
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    saved = artifacts;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  const artifacts = saved! as tf.io.ModelArtifacts;
  const raw = new tf.io.CompositeArrayBuffer(artifacts.weightData!).slice();
  const { specs, bytes } = encode(artifacts.weightSpecs as WeightSpec[], new Float32Array(raw), storage);
  return { modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: specs }], weightData: [bytes], location };
}
