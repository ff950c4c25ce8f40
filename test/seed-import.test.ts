// Seed importers: tfjs weight decoding, Keras -> our layouts, the nsfwjs MobileNetV2 run on our GPU network
// against TensorFlow.js's CPU backend, synthetic Keras MobileNetV2s, torchvision names, and loadSeed.
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type StateDict, hostTensor } from '../engine/host.ts';
import { serializeSafetensors } from '../engine/io/safetensors.ts';
import { compareClose, f32Tolerance } from '../engine/testing/allclose.ts';
import { mbconvLayers, mobilenetV2Arch, stateDictShapes, type MobileNetArch } from '../fna/arch/index.ts';
import { convPadding } from '../fna/models/mobilenet.ts';
import { type SeedImport, type TfjsLayersArtifacts, importKerasMobileNetV2, loadSeed, readNsfwjsModel, saveSeed } from '../fna/seeds/index.ts';
import { builtPadding } from '../fna/seeds/keras-layers.ts';
import { kerasConvToOIHW, kerasDenseToLinear, kerasDepthwiseToOIHW } from '../fna/seeds/layout.ts';
import { type WeightSpec, decodeWeightsGroup } from '../fna/seeds/tfjs-weights.ts';
import { extractBundleExport } from '../fna/seeds/umd.ts';
import { conv2dRef, tensor64 } from './helpers/conv-ref.ts';
import { bitwiseEqual, rng } from './helpers/random.ts';
import { depthAndTerms, differences, expectClose, firstBitDifference, inputs, networkTolerance, ourForward } from './helpers/tfjs-compare.ts';
import { loadTfjsModel, nchwToNhwc, predictNchw, tf } from './helpers/tfjs-reference.ts';
import { type MiniMobileNet, type WeightStorage, buildKerasMobileNet, randomizeWeights, saveArtifacts } from './helpers/tfjs-mobilenet.ts';

describe('tfjs weight decoding', () => {
  // Unaligned on purpose: 3 uint8 codes, then uint16, float16, float32 and int32 values.
  const specs: WeightSpec[] = [
    { name: 'q8', shape: [3], dtype: 'float32', quantization: { dtype: 'uint8', min: -1, scale: 0.5 } },
    { name: 'q16', shape: [2], dtype: 'float32', quantization: { dtype: 'uint16', min: 0.25, scale: 1 / 1024 } },
    { name: 'half', shape: [2, 2], dtype: 'float32', quantization: { dtype: 'float16' } },
    { name: 'full', shape: [1], dtype: 'float32' },
    { name: 'count', shape: [1], dtype: 'int32' },
  ];
  const bytes = new Uint8Array(3 + 4 + 8 + 4 + 4);
  const view = new DataView(bytes.buffer);
  bytes.set([0, 3, 255]);
  view.setUint16(3, 1, true);
  view.setUint16(5, 65535, true);
  [0x3c00, 0xc000, 0x7bff, 0x0001].forEach((h, i) => view.setUint16(7 + 2 * i, h, true));
  view.setFloat32(15, -2.5, true);
  view.setInt32(19, -7, true);

  it('decodes uint8/uint16 as q * scale + min, float16 bits, and raw float32/int32, as tfjs does', async () => {
    const ours = decodeWeightsGroup({ paths: ['shard'], weights: specs }, bytes);
    expect([...ours.get('q8')!.data]).toEqual([-1, 0.5, 126.5]);
    expect([...ours.get('q16')!.data]).toEqual([Math.fround(0.25 + 1 / 1024), Math.fround(0.25 + 65535 / 1024)]);
    expect([...ours.get('half')!.data]).toEqual([1, -2, 65504, 2 ** -24]);
    expect(ours.get('count')).toEqual({ dtype: 'int32', shape: [1], data: Int32Array.of(-7) });
    const theirs = tf.io.decodeWeights(bytes.slice().buffer, specs as tf.io.WeightsManifestEntry[]);
    for (const spec of specs) expect(ours.get(spec.name)!.data, spec.name).toEqual(await theirs[spec.name].data());
  });

  it('names the shards and byte counts when they do not match the manifest', () => {
    expect(() => decodeWeightsGroup({ paths: ['a.bin', 'b.bin'], weights: specs }, bytes.subarray(1), 'm.json'))
      .toThrow('m.json: shards [a.bin, b.bin] hold 22 bytes, the manifest\'s 5 weights need 23');
    expect(() => decodeWeightsGroup({ paths: ['a'], weights: [{ name: 'w', shape: [1], dtype: 'float32', quantization: { dtype: 'int4' as 'uint8' } }] }, bytes))
      .toThrow('weight "w": unsupported quantization dtype "int4"');
  });
});

describe('layout transposes', () => {
  it('moves hand-made Keras kernels to [O, I/g, kh, kw] and Dense to [out, in]', () => {
    // Keras conv [kh 1, kw 2, I 1, O 2]: value = 10*x + o.
    const conv = kerasConvToOIHW({ dtype: 'float32', shape: [1, 2, 1, 2], data: Float32Array.of(0, 1, 10, 11) });
    expect(conv).toEqual({ dtype: 'float32', shape: [2, 1, 1, 2], data: Float32Array.of(0, 10, 1, 11) });
    // Keras depthwise [kh 2, kw 1, C 2, 1]: value = 10*y + c.
    const dw = kerasDepthwiseToOIHW({ dtype: 'float32', shape: [2, 1, 2, 1], data: Float32Array.of(0, 1, 10, 11) });
    expect(dw).toEqual({ dtype: 'float32', shape: [2, 1, 2, 1], data: Float32Array.of(0, 10, 1, 11) });
    const dense = kerasDenseToLinear({ dtype: 'float32', shape: [3, 2], data: Float32Array.of(1, 2, 3, 4, 5, 6) });
    expect(dense).toEqual({ dtype: 'float32', shape: [2, 3], data: Float32Array.of(1, 3, 5, 2, 4, 6) });
  });

  it('makes our NCHW reference conv agree with tf.conv2d / tf.depthwiseConv2d on the transposed kernels', async () => {
    const random = rng(9);
    const values = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);
    const [n, c, h, w, o, k] = [2, 3, 7, 6, 4, 3];
    const x = values(n * c * h * w);
    const xNhwc = tf.tensor4d(nchwToNhwc(x, [n, c, h, w]), [n, h, w, c]);
    for (const stride of [1, 2]) {
      const kernel = values(k * k * c * o);
      const expected = tf.conv2d(xNhwc, tf.tensor4d(kernel, [k, k, c, o]), stride, 'valid');
      const ours = conv2dRef(tensor64([n, c, h, w], x), kerasConvToOIHW({ dtype: 'float32', shape: [k, k, c, o], data: kernel }), { stride });
      expect(compareClose(nchwToNhwc(ours.data, ours.shape), await expected.data(), f32Tolerance(k * k * c)).ok).toBe(true);
      const dwKernel = values(k * k * c);
      const dwExpected = tf.depthwiseConv2d(xNhwc, tf.tensor4d(dwKernel, [k, k, c, 1]), stride, 'valid');
      const dwOurs = conv2dRef(tensor64([n, c, h, w], x), kerasDepthwiseToOIHW({ dtype: 'float32', shape: [k, k, c, 1], data: dwKernel }), { stride, groups: c });
      expect(compareClose(nchwToNhwc(dwOurs.data, dwOurs.shape), await dwExpected.data(), f32Tolerance(k * k)).ok).toBe(true);
    }
  });

  it("keeps the importer's padding rule equal to MobileNetV2's convPadding", () => {
    for (const k of [1, 3, 5, 7]) for (const s of [1, 2]) for (const mode of ['keras', 'torch'] as const) expect(builtPadding(k, s, mode)).toEqual(convPadding(k, s, 1, mode));
  });
});

describe('bundle extraction (nsfwjs UMD files)', () => {
  const bundle = (body: string) => `!function(e){module.exports=e()}(function(){return function e(){}({1:[function(e,a,n){a.exports=${body}},{}]},{},[1])(1)});`;
  it('reads the exported literal without running the bundle', () => {
    expect(extractBundleExport(bundle('{k:!0,"s":[.5,-1e-3,"a\\"\\u0041"],n:null,f:!1,u:void 0}'))).toEqual({ k: true, s: [0.5, -1e-3, 'a"A'], n: null, f: false, u: undefined });
  });
  it('refuses code', () => {
    expect(() => extractBundleExport(bundle('require("fs")'), 'x.js')).toThrow(/x\.js: 'require' is not a literal/);
    expect(() => extractBundleExport('module.exports = {}', 'y.js')).toThrow(/y\.js: is not a browserify bundle/);
  });
});

describe('nsfwjs MobileNetV2 (uint8-quantised Keras 2.2.4 layers model)', () => {
  let artifacts: TfjsLayersArtifacts;
  let seed: SeedImport<MobileNetArch>;
  beforeAll(async () => {
    artifacts = await readNsfwjsModel('mobilenet_v2');
    seed = importKerasMobileNetV2(artifacts);
  });

  it('derives the arch from the topology: 17 MBConv layers, width-1.0 channels, 5 output classes', () => {
    const { arch } = seed;
    expect(mbconvLayers(arch)).toHaveLength(17);
    expect([arch.stem.out, ...arch.stages.map((s) => s.out), arch.head?.out]).toEqual([32, 16, 24, 32, 64, 96, 160, 320, 1280]);
    expect(arch.stages.map((s) => s.ops.length)).toEqual([1, 2, 3, 4, 3, 3, 1]);
    expect(arch.stages.map((s) => s.stride)).toEqual([1, 2, 2, 2, 1, 2, 1]);
    expect(arch.stages.flatMap((s) => s.ops)).toEqual(['k3_e1', ...new Array(16).fill('k3_e6')]);
    expect([arch.inputChannels, arch.stem.stride, arch.bnEps]).toEqual([3, 2, 1e-3]);
    expect(seed.buildOptions).toEqual({ padding: 'keras' });
    // nsfwjs's top is Dense 256 -> Dense 128 -> Dense 5: more than the arch's one Linear holds.
    expect(arch.numClasses).toBeNull();
    expect(seed.top.map((d) => [d.name, d.weight.shape, d.activation])).toEqual([
      ['dense_1', [256, 1280], 'relu'], ['dense_2', [128, 256], 'relu'], ['dense_3', [5, 128], 'softmax'],
    ]);
    expect(seed.source).toMatchObject({ format: 'tfjs-layers', outputClasses: 5, outputActivation: 'softmax', weights: '266 uint8-quantised', pooling: 'average 7x7' });
  });

  it('names the layer when the graph strays from what our MobileNetV2 builds', () => {
    const mutated = (layer: string, change: Record<string, unknown>): TfjsLayersArtifacts => {
      const modelTopology = structuredClone(artifacts.modelTopology) as { model_config: { config: { layers: { name: string; config: object }[] } } };
      const target = modelTopology.model_config.config.layers.find((l) => l.name === layer)!;
      Object.assign(target.config, change);
      return { ...artifacts, modelTopology };
    };
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ['Conv1', { use_bias: true }, /Conv2D "Conv1": has a bias/],
      ['block_5_expand_relu', { max_value: null }, /"block_5_expand_BN" is followed by ReLU "block_5_expand_relu", expected ReLU6/],
      ['block_9_depthwise_BN', { epsilon: 1e-5 }, /BatchNormalization layers use different epsilons \(0\.001, 0\.00001\)/],
      ['block_3_pad', { padding: [[1, 1], [1, 1]] }, /conv "block_3_depthwise" \(k3, stride 2\) pads \[1,1,1,1\]/],
      ['block_6_depthwise', { dilation_rate: [2, 2] }, /DepthwiseConv2D "block_6_depthwise": dilated convs are not supported/],
    ];
    for (const [layer, change, message] of cases) expect(() => importKerasMobileNetV2(mutated(layer, change)), layer).toThrow(message);
  });

  it('gives every tensor the shape stateDictShapes implies, with tfjs-decoded values in our layout', async () => {
    const shapes = stateDictShapes(seed.arch, 'seed');
    expect([...seed.stateDict.keys()]).toEqual([...shapes.keys()]);
    for (const [key, spec] of shapes) expect(seed.stateDict.get(key)!.shape, key).toEqual(spec.shape);
    const model = await loadTfjsModel(artifacts);
    const kerasValue = (layer: string, i: number) => model.getLayer(layer).getWeights()[i];
    const pairs: [string, tf.Tensor, number[]][] = [
      ['blocks.0.0.weight', kerasValue('Conv1', 0), [3, 2, 0, 1]],
      ['blocks.3.layers.1.op.3.weight', kerasValue('block_4_depthwise', 0), [2, 3, 0, 1]],
      ['blocks.6.layers.2.op.6.weight', kerasValue('block_15_project', 0), [3, 2, 0, 1]],
      ['blocks.8.conv.1.running_var', kerasValue('Conv_1_bn', 3), [0]],
      ['blocks.1.layers.0.op.4.bias', kerasValue('expanded_conv_project_BN', 1), [0]],
    ];
    for (const [key, value, perm] of pairs) expect(firstBitDifference(seed.stateDict.get(key)!.data, await tf.transpose(value, perm).data()), key).toBe(-1);
    expect(firstBitDifference(seed.top[2].weight.data, await tf.transpose(kerasValue('dense_3', 0)).data())).toBe(-1);
  });

  it('runs on our GPU network with the features and logits of TensorFlow.js (CPU backend)', async () => {
    const shape = [2, 3, 96, 96];
    const input = inputs(shape, 11);
    const ours = await ourForward(seed, input, shape);
    const features = await predictNchw(await loadTfjsModel(artifacts, 'out_relu'), input, shape);
    const full = await loadTfjsModel(artifacts);
    const logits = tf.tidy(() => {
      let h = tf.mean(tf.tensor4d(features.data, features.shape as [number, number, number, number]), [2, 3]);
      h = full.getLayer('dense_2').apply(full.getLayer('dense_1').apply(h)) as tf.Tensor2D;
      const [kernel, bias] = full.getLayer('dense_3').getWeights();
      return tf.add(tf.matMul(h as tf.Tensor2D, kernel as tf.Tensor2D), bias);
    });
    const reference = { shape: logits.shape, data: await logits.data() };
    logits.dispose();

    const { depth, terms } = depthAndTerms(seed);
    expectClose(ours.out, features, networkTolerance(depth, terms, features.data), 'out_relu features');
    expectClose(ours.logits!, reference, networkTolerance(depth + 3, Math.max(terms, 1280), reference.data), 'logits');
    console.log(`[seed-import] nsfwjs 2x3x96x96, ${depth} conv layers: features`, differences(ours.out.data, features.data), 'logits', differences(ours.logits!.data, reference.data));
  });

  it("at 224x224 gives nsfwjs's own class probabilities (its 7x7 pool is global there)", async () => {
    const shape = [1, 3, 224, 224];
    const input = inputs(shape, 13);
    const ours = await ourForward(seed, input, shape);
    const probabilities = await predictNchw(await loadTfjsModel(artifacts), input, shape);
    const logits = Float64Array.from(ours.logits!.data);
    const total = logits.reduce((sum, z) => sum + Math.exp(z - Math.max(...logits)), 0);
    const oursSoftmax = { shape: [1, 5], data: logits.map((z) => Math.exp(z - Math.max(...logits)) / total) };
    const { depth, terms } = depthAndTerms(seed);
    expectClose(oursSoftmax, probabilities, networkTolerance(depth + 3, Math.max(terms, 1280), [1]), 'class probabilities');
    console.log('[seed-import] nsfwjs 1x3x224x224 probabilities', differences(oursSoftmax.data, probabilities.data));
  });
});

const MINI: MiniMobileNet = {
  inputChannels: 3,
  stem: 8,
  blocks: [
    { expansion: 1, out: 8, kernel: 3, stride: 1 },
    { expansion: 3, out: 12, kernel: 3, stride: 2 },
    { expansion: 3, out: 12, kernel: 5, stride: 1 },
    { expansion: 4, out: 16, kernel: 5, stride: 2 },
    { expansion: 2, out: 16, kernel: 3, stride: 1 },
    { expansion: 6, out: 24, kernel: 3, stride: 1 },
  ],
  head: 32,
  classes: 7,
  strided: 'zero-pad',
  eps: 1e-3,
};

describe('synthetic Keras MobileNetV2s with a one-Dense classifier', () => {
  const cases: [string, MiniMobileNet, WeightStorage][] = [
    ['float32, ZeroPadding2D', MINI, 'float32'],
    ['float16, stride-2 convs padded "same"', { ...MINI, strided: 'same' }, 'float16'],
    ['uint8, 4 input channels, eps 1e-5, no head conv', { ...MINI, inputChannels: 4, eps: 1e-5, head: null }, 'uint8'],
  ];
  it.each(cases)('%s: derived arch and GPU logits match tfjs', async (_, spec, storage) => {
    const model = buildKerasMobileNet(spec);
    randomizeWeights(model, 5);
    const artifacts = await saveArtifacts(model, storage, `mini (${storage})`);
    const seed = importKerasMobileNetV2(artifacts);
    expect(seed.arch).toEqual({
      kind: 'mobilenetv2', inputChannels: spec.inputChannels, stem: { out: 8, stride: 2 },
      stages: [
        { in: 8, out: 8, stride: 1, ops: ['k3_e1'] },
        { in: 8, out: 12, stride: 2, ops: ['k3_e3', 'k5_e3'] },
        { in: 12, out: 16, stride: 2, ops: ['k5_e4', 'k3_e2'] },
        { in: 16, out: 24, stride: 1, ops: ['k3_e6'] },
      ],
      head: spec.head === null ? null : { out: spec.head }, numClasses: 7, bnEps: spec.eps,
    });
    expect(seed.buildOptions.padding).toBe('keras');
    expect(seed.source.weights).toBe(`${artifacts.weightsManifest[0].weights.length} ${storage === 'float32' ? 'float32' : `${storage}-quantised`}`);
    const shape = [2, spec.inputChannels, 32, 32];
    const input = inputs(shape, 3);
    const ours = await ourForward(seed, input, shape);
    const reference = await predictNchw(await loadTfjsModel(artifacts, 'Logits'), input, shape);
    const { depth, terms } = depthAndTerms(seed);
    expectClose(ours.out, reference, networkTolerance(depth, terms, reference.data), 'logits');
  });
});

/** torchvision's mobilenet_v2 state dict, written from its module tree, and where each key lands in ours. */
function torchvisionStateDict(numClasses: number, seed: number): { tensors: StateDict; ourKeyOf: Map<string, string> } {
  const arch = mobilenetV2Arch({ numClasses });
  const tensors: StateDict = new Map();
  const ourKeyOf = new Map<string, string>();
  const random = rng(seed);
  const add = (theirs: string, ours: string, shape: number[]) => {
    tensors.set(theirs, hostTensor(shape, Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random() + 0.1)));
    ourKeyOf.set(theirs, ours);
  };
  const convBn = (conv: string, bn: string, ours: string, oursBn: string, shape: number[]) => {
    add(`${conv}.weight`, `${ours}.weight`, shape);
    for (const p of ['weight', 'bias', 'running_mean', 'running_var']) add(`${bn}.${p}`, `${oursBn}.${p}`, [shape[0]]);
    tensors.set(`${bn}.num_batches_tracked`, hostTensor([], [100], 'int32'));
  };
  convBn('features.0.0', 'features.0.1', 'blocks.0.0', 'blocks.0.1', [32, 3, 3, 3]);
  mbconvLayers(arch).forEach((l, i) => {
    const [p, q] = [`features.${i + 1}.conv`, `blocks.${l.block}.layers.${l.layer}.op`];
    if (l.op.expansion === 1) {
      convBn(`${p}.0.0`, `${p}.0.1`, `${q}.0`, `${q}.1`, [l.hidden, 1, 3, 3]);
      convBn(`${p}.1`, `${p}.2`, `${q}.3`, `${q}.4`, [l.out, l.hidden, 1, 1]);
    } else {
      convBn(`${p}.0.0`, `${p}.0.1`, `${q}.0`, `${q}.1`, [l.hidden, l.in, 1, 1]);
      convBn(`${p}.1.0`, `${p}.1.1`, `${q}.3`, `${q}.4`, [l.hidden, 1, 3, 3]);
      convBn(`${p}.2`, `${p}.3`, `${q}.6`, `${q}.7`, [l.out, l.hidden, 1, 1]);
    }
  });
  convBn('features.18.0', 'features.18.1', 'blocks.8.conv.0', 'blocks.8.conv.1', [1280, 320, 1, 1]);
  add('classifier.1.weight', 'classifier.weight', [numClasses, 1280]);
  add('classifier.1.bias', 'classifier.bias', [numClasses]);
  return { tensors, ourKeyOf };
}

describe('torchvision MobileNetV2 safetensors', () => {
  it('maps features.* / classifier.1.* onto the DenseNAS keys with eps 1e-5 and symmetric padding', async () => {
    const { tensors, ourKeyOf } = torchvisionStateDict(1000, 21);
    const dir = await mkdtemp(join(tmpdir(), 'seed-tv-'));
    await writeFile(join(dir, 'mobilenet_v2.safetensors'), serializeSafetensors(tensors));
    const seed = await loadSeed(join(dir, 'mobilenet_v2.safetensors'));
    expect(seed.arch).toMatchObject({ numClasses: 1000, bnEps: 1e-5, head: { out: 1280 } });
    expect((seed.arch as MobileNetArch).stages.map((s) => [s.out, s.stride, s.ops.length])).toEqual([[16, 1, 1], [24, 2, 2], [32, 2, 3], [64, 2, 4], [96, 1, 3], [160, 2, 3], [320, 1, 1]]);
    expect(seed.buildOptions.padding).toBe('torch');
    expect(tensors.size).toBe(314);
    for (const [key, t] of tensors) {
      if (key.endsWith('num_batches_tracked')) continue;
      expect(bitwiseEqual(seed.stateDict.get(ourKeyOf.get(key)!)!, t), `${key} -> ${ourKeyOf.get(key)}`).toBe(true);
    }
  });
});

describe('loadSeed', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'seed-load-'));
  });

  it("loads 'nsfwjs:mobilenet_v2', saves it as our checkpoint and loads that back unchanged", async () => {
    const seed = await loadSeed('nsfwjs:mobilenet_v2');
    await saveSeed(join(dir, 'nsfw.safetensors'), seed);
    const back = await loadSeed(join(dir, 'nsfw.safetensors'));
    expect(back.arch).toEqual(seed.arch);
    expect(back.buildOptions).toEqual({ padding: 'keras' });
    expect(back.source.format).toBe('fna-webgpu');
    expect(back.source.notes[0]).toBe('imported from nsfwjs:mobilenet_v2');
    for (const [key, t] of seed.stateDict) expect(bitwiseEqual(back.stateDict.get(key)!, t), key).toBe(true);
  });

  it('reads a directory holding model.json and its shards', async () => {
    const artifacts = await saveArtifacts(buildKerasMobileNet(MINI), 'uint8', 'mini');
    const modelDir = join(dir, 'mini-model');
    await mkdir(modelDir);
    await writeFile(join(modelDir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: artifacts.modelTopology, weightsManifest: artifacts.weightsManifest }));
    await writeFile(join(modelDir, artifacts.weightsManifest[0].paths[0]), artifacts.weightData[0]);
    const fromDir = await loadSeed(modelDir);
    const fromJson = await loadSeed(join(modelDir, 'model.json'));
    expect(fromDir.arch).toEqual(importKerasMobileNetV2(artifacts).arch);
    expect([...fromJson.stateDict.keys()]).toEqual([...fromDir.stateDict.keys()]);
  });

  it('rejects everything else with one error that lists the supported formats', async () => {
    await writeFile(join(dir, 'model.onnx'), 'onnx');
    await writeFile(join(dir, 'other.safetensors'), serializeSafetensors(new Map([['weight', { dtype: 'float32', shape: [1], data: new Float32Array(1) }]])));
    await writeFile(join(dir, 'graph.json'), JSON.stringify({ format: 'graph-model', modelTopology: {}, weightsManifest: [] }));
    await mkdir(join(dir, 'empty'));
    const listsFormats = /Supported seeds:\n {2}- a TensorFlow\.js layers model.*\n {2}- 'nsfwjs:mobilenet_v2'.*\n {2}- an fna-webgpu checkpoint.*\n {2}- a torchvision MobileNetV2/;
    await expect(loadSeed(join(dir, 'missing.safetensors'))).rejects.toThrow(/missing\.safetensors: does not exist\. Supported seeds/);
    await expect(loadSeed(join(dir, 'model.onnx'))).rejects.toThrow(listsFormats);
    await expect(loadSeed(join(dir, 'empty'))).rejects.toThrow(/is a directory without a model\.json/);
    await expect(loadSeed(join(dir, 'other.safetensors'))).rejects.toThrow(/without 'arch' metadata and without torchvision MobileNetV2 keys \(it has 1 tensors: weight\)/);
    await expect(loadSeed(join(dir, 'graph.json'))).rejects.toThrow(/is a TensorFlow\.js graph model/);
    await expect(loadSeed('nsfwjs:mobilenet_v2_mid')).rejects.toThrow(/unknown or unsupported nsfwjs model; importable: nsfwjs:mobilenet_v2/);
    const arch = JSON.stringify({ ...(await loadSeed('nsfwjs:mobilenet_v2')).arch, numClasses: 3 });
    await writeFile(join(dir, 'bad.safetensors'), serializeSafetensors(new Map(), { format: 'fna-webgpu', arch }));
    await expect(loadSeed(join(dir, 'bad.safetensors'))).rejects.toThrow(/tensors do not match its arch: missing blocks\.0\.0\.weight/);
  });
});
