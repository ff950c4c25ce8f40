// TensorFlow.js (CPU backend) as the independent reference for imported Keras models: it loads the same
// topology and weight bytes through its own IOHandler and decoders, and evaluates in NHWC.
import * as tf from '@tensorflow/tfjs';
import type { TfjsLayersArtifacts } from '../../fna/seeds/index.ts';

export { tf };

let ready: Promise<void> | null = null;
export function useCpuBackend(): Promise<void> {
  ready ??= tf.setBackend('cpu').then(() => tf.ready());
  return ready;
}

function concatBytes(parts: Uint8Array[]): ArrayBuffer {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out.buffer;
}

type Json = Record<string, any>;

/**
 * The model cut after `outputLayer`, with the input's spatial size left open: the convolutional part runs
 * at any resolution, while the original's fixed-shape top (Flatten after a 7x7 pool) would not build.
 */
function truncatedTopology(topology: unknown, outputLayer: string): Json {
  const copy = structuredClone(topology) as Json;
  const config = (copy.model_config ?? copy).config as Json;
  const end = config.layers.findIndex((l: Json) => l.name === outputLayer);
  if (end < 0) throw new Error(`truncatedTopology: no layer ${outputLayer}`);
  config.layers = config.layers.slice(0, end + 1);
  config.output_layers = [[outputLayer, 0, 0]];
  const input = config.layers.find((l: Json) => l.class_name === 'InputLayer').config;
  const shape = input.batch_input_shape;
  input.batch_input_shape = [null, null, null, shape[3]];
  return copy;
}

/** Loads the artifacts with tfjs's own weight decoding; `outputLayer` truncates the model there. */
export async function loadTfjsModel(artifacts: TfjsLayersArtifacts, outputLayer?: string): Promise<tf.LayersModel> {
  await useCpuBackend();
  const modelTopology = outputLayer ? truncatedTopology(artifacts.modelTopology, outputLayer) : (artifacts.modelTopology as Json);
  const weightSpecs = artifacts.weightsManifest.flatMap((g) => g.weights) as tf.io.WeightsManifestEntry[];
  const handler = tf.io.fromMemory({ modelTopology, weightSpecs, weightData: concatBytes(artifacts.weightData) });
  return tf.loadLayersModel(handler, { strict: !outputLayer });
}

/** NCHW (ours) to NHWC (tfjs), and back. */
export function nchwToNhwc(data: ArrayLike<number>, [n, c, h, w]: readonly number[]): Float32Array {
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let i = 0; i < h * w; i++) out[(b * h * w + i) * c + ch] = data[(b * c + ch) * h * w + i];
    }
  }
  return out;
}

export function nhwcToNchw(data: ArrayLike<number>, [n, h, w, c]: readonly number[]): Float32Array {
  const out = new Float32Array(n * c * h * w);
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      for (let i = 0; i < h * w; i++) out[(b * c + ch) * h * w + i] = data[(b * h * w + i) * c + ch];
    }
  }
  return out;
}

/** Runs `model` on an NCHW input; a rank-4 output comes back as NCHW too. */
export async function predictNchw(model: tf.LayersModel, input: Float32Array, shape: readonly number[]): Promise<{ shape: number[]; data: Float32Array }> {
  const [n, c, h, w] = shape;
  const y = tf.tidy(() => model.predict(tf.tensor4d(nchwToNhwc(input, shape), [n, h, w, c])) as tf.Tensor);
  const data = (await y.data()) as Float32Array;
  const outShape = y.shape;
  y.dispose();
  if (outShape.length !== 4) return { shape: outShape, data };
  const [, oh, ow, oc] = outShape;
  return { shape: [n, oc, oh, ow], data: nhwcToNchw(data, outShape) };
}
