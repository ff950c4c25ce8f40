// Keras MobileNetV2 (keras.applications naming: Conv1/bn_Conv1, expanded_conv_*, block_N_{expand,
// depthwise,project}[_BN], Conv_1/Conv_1_bn, then a pooled Dense top) from a TensorFlow.js layers model,
// onto our MobileNetArch and DenseNAS state dict. The arch is read off the graph, not assumed: convs are
// walked in topological order and every conv's input is checked against the chain an MBConv network has,
// and every residual Add against the rule our MBConv applies (in == out and stride 1).
import type { HostTensor } from '../../engine/host.ts';
import type { MobileNetArch } from '../arch/types.ts';
import { validateMobileNetArch } from '../arch/validate.ts';
import { type ConvBn, type LayerGeometry, type MBConvParts, denseNasStateDict, stagesFromLayers } from './densenas.ts';
import { KerasGraph, type KerasLayer } from './keras-graph.ts';
import { type ConvGeometry, type PaddingMode, KerasWeights, batchNormEpsilon, builtPadding, convGeometry, isRelu6, matchingPaddingModes } from './keras-layers.ts';
import { type WeightsGroup, decodeWeightsManifest, describeWeightStorage } from './tfjs-weights.ts';
import type { DenseLayer, SeedImport } from './types.ts';

export interface TfjsLayersArtifacts {
  modelTopology: unknown;
  weightsManifest: WeightsGroup[];
  /** Per manifest group, its shards' bytes concatenated in `paths` order. */
  weightData: Uint8Array[];
  location: string;
}

interface ConvBnAct {
  conv: KerasLayer;
  geometry: ConvGeometry;
  bn: KerasLayer;
  /** The ReLU6 after the BN, or the BN itself (project convs). */
  out: KerasLayer;
}

interface KerasBlock {
  expand: ConvBnAct | null;
  depthwise: ConvBnAct;
  project: ConvBnAct;
  geometry: LayerGeometry;
}

interface TopDense {
  layer: KerasLayer;
  activation: string;
}

const isConv = (l: KerasLayer) => l.className === 'Conv2D' || l.className === 'DepthwiseConv2D';

class MobileNetWalk {
  readonly epsilons = new Set<number>();
  readonly paddingVotes: { layer: string; geometry: ConvGeometry; modes: PaddingMode[] }[] = [];
  constructor(readonly graph: KerasGraph) {}

  convBn(conv: KerasLayer, expectedInput: KerasLayer, activation: boolean): ConvBnAct {
    const { graph } = this;
    const geometry = convGeometry(graph, conv);
    if (geometry.producer !== expectedInput) {
      graph.fail(`"${conv.name}" reads "${geometry.producer.name}" where a MobileNetV2 reads "${expectedInput.name}"`);
    }
    this.paddingVotes.push({ layer: conv.name, geometry, modes: matchingPaddingModes(geometry) });
    const bn = graph.soleConsumer(conv);
    if (bn?.className !== 'BatchNormalization') return graph.fail(`"${conv.name}" is followed by ${bn ? `${bn.className} "${bn.name}"` : 'nothing'}, expected BatchNormalization`);
    this.epsilons.add(batchNormEpsilon(graph, bn));
    if (!activation) return { conv, geometry, bn, out: bn };
    const act = graph.soleConsumer(bn);
    if (!act || !isRelu6(act)) return graph.fail(`"${bn.name}" is followed by ${act ? `${act.className} "${act.name}"` : 'nothing'}, expected ReLU6`);
    return { conv, geometry, bn, out: act };
  }

  /** The block's output: the residual Add when the block has one, else its project BN. */
  blockOutput(blockInput: KerasLayer, project: ConvBnAct, residual: boolean): KerasLayer {
    const add = this.graph.consumers(project.bn).find((l) => l.className === 'Add' && l.inputs.length === 2 && l.inputs.includes(blockInput.name));
    if (residual && !add) this.graph.fail(`"${project.conv.name}": in == out channels at stride 1, but no Add joins "${blockInput.name}" (our MBConv always adds there)`);
    if (!residual && add) this.graph.fail(`"${add.name}": residual Add on a block that changes channels or stride`);
    return add ?? project.bn;
  }

  /** Pooling, Flatten, Dropout and Dense layers after the feature extractor, in order. */
  top(features: KerasLayer): { pooling: string | null; poolSize: number | null; dense: TopDense[] } {
    const { graph } = this;
    let pooling: string | null = null;
    let poolSize: number | null = null;
    const dense: TopDense[] = [];
    for (let layer = graph.soleConsumer(features); layer; layer = graph.soleConsumer(layer)) {
      const where = `${layer.className} "${layer.name}"`;
      const c = layer.config;
      if (layer.className === 'GlobalAveragePooling2D' && !pooling) pooling = 'global average';
      else if (layer.className === 'AveragePooling2D' && !pooling) {
        const size = c.pool_size as number[];
        const strides = (c.strides ?? size) as number[];
        if (size[0] !== size[1] || strides[0] !== size[0] || strides[1] !== size[1] || c.padding !== 'valid') graph.fail(`${where}: only square, non-overlapping pools are supported`);
        poolSize = size[0];
        pooling = `average ${poolSize}x${poolSize}`;
      } else if (layer.className === 'Dropout') continue;
      else if (!pooling) graph.fail(`${where} on the unpooled feature map is not supported`);
      else if (layer.className === 'Flatten') continue;
      else if (layer.className === 'Dense') dense.push({ layer, activation: (c.activation as string | undefined) ?? 'linear' });
      else if (['Activation', 'Softmax', 'ReLU'].includes(layer.className) && dense.at(-1)?.activation === 'linear') {
        dense.at(-1)!.activation = layer.className === 'Activation' ? (c.activation as string) : layer.className.toLowerCase();
      } else graph.fail(`${where} after the feature extractor is not supported`);
    }
    return { pooling, poolSize, dense };
  }

  paddingMode(): PaddingMode {
    for (const mode of ['keras', 'torch'] as const) if (this.paddingVotes.every((v) => v.modes.includes(mode))) return mode;
    const odd = this.paddingVotes.find((v) => v.modes.length === 0) ?? this.paddingVotes.find((v) => !v.modes.includes('keras'))!;
    const { kernel, stride, pad } = odd.geometry;
    return this.graph.fail(
      `conv "${odd.layer}" (k${kernel}, stride ${stride}) pads [${pad}] (top, bottom, left, right), where build option padding 'keras' ` +
        `gives [${builtPadding(kernel, stride, 'keras')}] and 'torch' [${builtPadding(kernel, stride, 'torch')}]; no one option pads every conv as the model does`,
    );
  }

  bnEps(): number {
    if (this.epsilons.size !== 1) this.graph.fail(`BatchNormalization layers use different epsilons (${[...this.epsilons].join(', ')}); our arch has one bnEps`);
    return [...this.epsilons][0];
  }
}

function inputChannels(graph: KerasGraph): { input: KerasLayer; channels: number } {
  const inputs = graph.layers.filter((l) => l.className === 'InputLayer');
  if (inputs.length !== 1) graph.fail(`expected one InputLayer, found ${inputs.length}`);
  const shape = (inputs[0].config.batch_input_shape ?? inputs[0].config.batch_shape) as unknown[] | undefined;
  const channels = shape?.[3];
  if (!Array.isArray(shape) || shape.length !== 4 || typeof channels !== 'number') {
    graph.fail(`InputLayer "${inputs[0].name}" has shape ${JSON.stringify(shape)}; expected [batch, height, width, channels]`);
  }
  return { input: inputs[0], channels };
}

export function importKerasMobileNetV2(artifacts: TfjsLayersArtifacts): SeedImport<MobileNetArch> {
  const graph = new KerasGraph(artifacts.modelTopology, artifacts.location);
  const walk = new MobileNetWalk(graph);
  const { input, channels: inChannels } = inputChannels(graph);
  const convs = graph.layers.filter(isConv);
  if (convs[0]?.className !== 'Conv2D') graph.fail('the first conv must be the Conv2D stem');
  const stem = walk.convBn(convs[0], input, true);
  if (stem.geometry.kernel !== 3) graph.fail(`stem "${stem.conv.name}" is ${stem.geometry.kernel}x${stem.geometry.kernel}; our MobileNetV2 stem is 3x3`);

  const blocks: KerasBlock[] = [];
  let current = stem.out;
  let channels = stem.geometry.filters!;
  let i = 1;
  while (i < convs.length && (convs[i].className === 'DepthwiseConv2D' || convs[i + 1]?.className === 'DepthwiseConv2D')) {
    const expand = convs[i].className === 'Conv2D' ? walk.convBn(convs[i++], current, true) : null;
    const depthwise = walk.convBn(convs[i++], expand?.out ?? current, true);
    if (convs[i]?.className !== 'Conv2D') graph.fail(`depthwise "${depthwise.conv.name}" is not followed by a 1x1 project Conv2D`);
    const project = walk.convBn(convs[i++], depthwise.out, false);
    for (const pointwise of [expand, project]) {
      if (pointwise && (pointwise.geometry.kernel !== 1 || pointwise.geometry.stride !== 1)) graph.fail(`"${pointwise.conv.name}" must be a 1x1 stride-1 conv`);
    }
    const hidden = expand?.geometry.filters ?? channels;
    if (hidden % channels !== 0) graph.fail(`"${expand!.conv.name}" expands ${channels} to ${hidden} channels, not an integer factor`);
    const { kernel, stride } = depthwise.geometry;
    const geometry = { in: channels, out: project.geometry.filters!, expansion: hidden / channels, kernel, stride };
    current = walk.blockOutput(current, project, geometry.in === geometry.out && stride === 1);
    blocks.push({ expand, depthwise, project, geometry });
    channels = geometry.out;
  }
  let head: ConvBnAct | null = null;
  if (i < convs.length) {
    if (i !== convs.length - 1) graph.fail(`"${convs[i].name}" does not fit the MBConv pattern (expand, depthwise, project)`);
    head = walk.convBn(convs[i], current, true);
    if (head.geometry.kernel !== 1 || head.geometry.stride !== 1) graph.fail(`head conv "${head.conv.name}" must be 1x1 stride 1`);
    current = head.out;
  }
  const top = walk.top(current);
  const features = head?.geometry.filters ?? channels;

  const arch: MobileNetArch = validateMobileNetArch({
    kind: 'mobilenetv2',
    inputChannels: inChannels,
    stem: { out: stem.geometry.filters!, stride: stem.geometry.stride },
    stages: stagesFromLayers(blocks.map((b) => b.geometry)),
    head: head ? { out: head.geometry.filters! } : null,
    numClasses: top.dense.length === 1 ? (top.dense[0].layer.config.units as number) : null,
    bnEps: walk.bnEps(),
  });

  const weights = new KerasWeights(decodeWeightsManifest(artifacts.weightsManifest, artifacts.weightData, artifacts.location), graph.fail);
  const convBn = (part: ConvBnAct, inC: number): ConvBn => {
    const conv = weights.conv(part.conv, part.geometry, inC);
    return { conv, bn: weights.batchNorm(part.bn, conv.shape[0]) };
  };
  const layers: MBConvParts[] = blocks.map(({ expand, depthwise, project, geometry: g }) => ({
    expand: expand ? convBn(expand, g.in) : null,
    depthwise: convBn(depthwise, g.in * g.expansion),
    project: convBn(project, g.in * g.expansion),
  }));
  let inFeatures = features;
  const dense: DenseLayer[] = top.dense.map(({ layer, activation }) => {
    const { weight, bias } = weights.dense(layer, inFeatures);
    inFeatures = weight.shape[0];
    return { name: layer.name, weight, bias, activation };
  });
  const classifier = dense.length === 1 ? { weight: dense[0].weight, bias: dense[0].bias ?? zeros(dense[0].weight.shape[0]) } : null;
  const stateDict = denseNasStateDict(
    arch,
    { stem: convBn(stem, inChannels), layers, head: head ? convBn(head, channels) : null, classifier },
    artifacts.location,
  );

  const notes: string[] = [];
  const stride = arch.stem.stride * arch.stages.reduce((s, st) => s * st.stride, 1);
  if (top.poolSize !== null) {
    notes.push(`the original pools with a fixed ${top.pooling} window, which is global only at ${top.poolSize * stride}x${top.poolSize * stride} input; our network pools globally`);
  }
  if (walk.paddingVotes.some((v) => v.geometry.stride > 1 && graph.layer(v.layer).config.padding === 'same')) {
    notes.push("stride-2 'same' padding taken as TensorFlow pads inputs of even size (one extra row/column at the bottom/right)");
  }
  if (dense.length > 1) notes.push(`the ${dense.length}-layer Dense top has no place in the arch: it is returned in \`top\`, and the arch ends at the ${features}-channel features`);
  const unused = weights.unused();
  if (unused.length) notes.push(`${unused.length} weights were not used: ${unused.slice(0, 8).join(', ')}${unused.length > 8 ? ', ...' : ''}`);
  const last = top.dense.at(-1);
  return {
    arch,
    stateDict,
    buildOptions: { padding: walk.paddingMode() },
    top: dense.length > 1 ? dense : [],
    source: {
      format: 'tfjs-layers',
      location: artifacts.location,
      weights: describeWeightStorage(artifacts.weightsManifest),
      pooling: top.pooling ?? 'none (the model outputs the feature map)',
      outputClasses: last ? (last.layer.config.units as number) : null,
      ...(last ? { outputActivation: last.activation } : {}),
      notes,
    },
  };
}

function zeros(n: number): HostTensor {
  return { dtype: 'float32', shape: [n], data: new Float32Array(n) };
}
