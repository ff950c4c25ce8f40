import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type MobileNetArch, ArchError, FNA_DEEPLABV3_ARCH, FNA_DEEPLABV3_NET_CONFIG, FNA_RETINANET_ARCH, FNA_RETINANET_NET_CONFIG,
  FNA_SSDLITE_ARCH, FNA_SSDLITE_NET_CONFIG, MOBILENET_V2_SEED_NUM_LAYERS, deriveArch, formatFnaNetConfig, makeDivisible,
  mbconvLayers, mobilenetV2Arch, parameterCount, parseFnaNetConfig, parseOp, resnetArch, searchSpacePreset, searchSpaceSize,
  sortSkips, stageDepths, stageGeometry, stateDictShapes, superArch, validateArch,
} from '../fna/arch/index.ts';
import { mobilenetSingleArb } from './helpers/arbitraries.ts';

/** Independent count from the MobileNetV2 paper's table: convs without bias, BN γ/β, Linear with bias. */
function mobilenetV2ParamsByHand(classes: number): number {
  const table = [[1, 16, 1], [6, 24, 2], [6, 32, 3], [6, 64, 4], [6, 96, 3], [6, 160, 3], [6, 320, 1]];
  let params = 3 * 32 * 3 * 3 + 2 * 32;
  let c = 32;
  for (const [t, out, n] of table) {
    for (let i = 0; i < n; i++) {
      const hidden = c * t;
      if (t !== 1) params += c * hidden + 2 * hidden;
      params += hidden * 3 * 3 + 2 * hidden + hidden * out + 2 * out;
      c = out;
    }
  }
  return params + 320 * 1280 + 2 * 1280 + 1280 * classes + classes;
}

function resnetParamsByHand(depth: 18 | 34 | 50): number {
  const blocks = { 18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3] }[depth];
  let params = 3 * 64 * 49 + 2 * 64;
  let c = 64;
  blocks.forEach((n, s) => {
    const planes = 64 * 2 ** s;
    for (let i = 0; i < n; i++) {
      const out = depth === 50 ? planes * 4 : planes;
      if (depth === 50) params += c * planes + planes * planes * 9 + planes * out + 2 * (planes + planes + out);
      else params += c * planes * 9 + planes * planes * 9 + 2 * (planes + planes);
      if (i === 0 && (s > 0 || c !== out)) params += c * out + 2 * out;
      c = out;
    }
  });
  return params + c * 1000 + 1000;
}

describe('MobileNetV2 arch', () => {
  it('has 3,504,872 parameters with a 1000-class classifier, matching a count by hand', () => {
    const shapes = stateDictShapes(mobilenetV2Arch(), 'seed');
    expect(mobilenetV2ParamsByHand(1000)).toBe(3_504_872);
    expect(parameterCount(shapes)).toBe(3_504_872);
    // stem 6 keys, the k3_e1 layer 12, sixteen e6 layers 18 each, the 1x1 head 6, the classifier 2
    expect(shapes.size).toBe(6 + 12 + 16 * 18 + 6 + 2);
  });

  it('rounds widths like torchvision (make_divisible by 8)', () => {
    const channels = (w: number) => {
      const a = mobilenetV2Arch({ widthMultiplier: w });
      return [a.stem.out, ...a.stages.map((s) => s.out), a.head!.out];
    };
    expect(channels(0.5)).toEqual([16, 8, 16, 16, 32, 48, 80, 160, 1280]);
    expect(channels(0.75)).toEqual([24, 16, 24, 24, 48, 72, 120, 240, 1280]);
    expect(channels(1.4)).toEqual([48, 24, 32, 48, 88, 136, 224, 448, 1792]);
    expect([makeDivisible(3), makeDivisible(11), makeDivisible(12), makeDivisible(99.2)]).toEqual([8, 16, 16, 96]);
  });

  it('uses the DenseNAS key layout of spec §1.0, in registration order', () => {
    const shapes = stateDictShapes(mobilenetV2Arch(), 'seed');
    const keys = [...shapes.keys()];
    expect(keys[0]).toBe('blocks.0.0.weight');
    expect(keys.at(-1)).toBe('classifier.bias');
    expect(shapes.get('blocks.0.0.weight')!.shape).toEqual([32, 3, 3, 3]);
    expect(shapes.get('blocks.1.layers.0.op.0.weight')!.shape).toEqual([32, 1, 3, 3]);
    expect(shapes.get('blocks.1.layers.0.op.3.weight')!.shape).toEqual([16, 32, 1, 1]);
    expect(shapes.get('blocks.1.layers.0.op.4.running_var')!.shape).toEqual([16]);
    expect(shapes.get('blocks.2.layers.0.op.0.weight')!.shape).toEqual([96, 16, 1, 1]);
    expect(shapes.get('blocks.2.layers.1.op.3.weight')).toEqual({ shape: [144, 1, 3, 3], dtype: 'float32', init: 'conv' });
    expect(shapes.get('blocks.2.layers.1.op.6.weight')!.shape).toEqual([24, 144, 1, 1]);
    expect(shapes.get('blocks.7.layers.0.op.7.bias')).toEqual({ shape: [320], dtype: 'float32', init: 'bn_bias' });
    expect(shapes.get('blocks.8.conv.0.weight')!.shape).toEqual([1280, 320, 1, 1]);
    expect(shapes.get('blocks.8.conv.1.num_batches_tracked')).toEqual({ shape: [], dtype: 'int32', init: 'count' });
    expect(shapes.get('classifier.weight')).toEqual({ shape: [1000, 1280], dtype: 'float32', init: 'linear' });
    expect(keys.filter((k) => k.startsWith('blocks.2.layers.0.'))).toEqual([
      'weight', 'weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked', 'weight',
      'weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked', 'weight',
      'weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked',
    ].map((p, i) => `blocks.2.layers.0.op.${[0, 1, 1, 1, 1, 1, 3, 4, 4, 4, 4, 4, 6, 7, 7, 7, 7, 7][i]}.${p}`));
    expect(stageDepths(mobilenetV2Arch())).toEqual(MOBILENET_V2_SEED_NUM_LAYERS.slice(1, 8));
  });

  it('numbers the head block after however many stages there are', () => {
    const arch = mobilenetV2Arch({ numClasses: 10 });
    const fewer: MobileNetArch = { ...arch, stages: arch.stages.slice(0, 4), head: { out: 100 } };
    const shapes = stateDictShapes(fewer, 'target');
    expect(shapes.get('blocks.5.conv.0.weight')!.shape).toEqual([100, 64, 1, 1]);
    expect(shapes.get('classifier.weight')!.shape).toEqual([10, 100]);
    const noHead = stateDictShapes({ ...arch, head: null }, 'target');
    expect([...noHead.keys()].some((k) => k.includes('.conv.'))).toBe(false);
    expect(noHead.get('classifier.weight')!.shape).toEqual([10, 320]);
  });

  it('turns strides into dilation past the output stride, like FNA seg derive_blocks', () => {
    const geometry = (os?: 8 | 16 | 32) => stageGeometry(mobilenetV2Arch(os ? { outputStride: os } : {})).map((g) => [g.stride, g.dilation]);
    expect(geometry()).toEqual([[1, 1], [2, 1], [2, 1], [2, 1], [1, 1], [2, 1], [1, 1]]);
    expect(geometry(32)).toEqual(geometry());
    expect(geometry(16)).toEqual([[1, 1], [2, 1], [2, 1], [2, 1], [1, 1], [1, 2], [1, 2]]);
    expect(geometry(8)).toEqual([[1, 1], [2, 1], [2, 1], [1, 2], [1, 2], [1, 4], [1, 4]]);
  });

  it('lists MBConv layers with stride only on the first layer and residuals where C_in = C_out, stride 1', () => {
    const layers = mbconvLayers(mobilenetV2Arch());
    expect(layers).toHaveLength(17);
    expect(layers.map((l) => l.stride)).toEqual([1, 2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1]);
    expect(layers.map((l) => l.residual)).toEqual([false, false, true, false, true, true, false, true, true, true, false, true, true, false, true, true, false]);
    expect(layers[1]).toMatchObject({ block: 2, layer: 0, in: 16, out: 24, hidden: 96 });
  });
});

describe('ops, validation and skip sorting', () => {
  it('parses op names', () => {
    expect(parseOp('k3_e6')).toEqual({ kernel: 3, expansion: 6 });
    expect(parseOp('k11_e12')).toEqual({ kernel: 11, expansion: 12 });
    expect(parseOp('skip')).toBe('skip');
    for (const bad of ['k4_e6', 'k3_e0', 'k3', 'k03_e6', 'k3_e1.5', 'K3_E6', 'k3_e6 ', 'identity', '']) expect(parseOp(bad)).toBeNull();
  });

  const cases: Array<[string, (a: any) => void, string]> = [
    ['bad op', (a) => { a.stages[3].ops[1] = 'k4_e6'; }, "stages[3].ops[1]: 'k4_e6' is not a valid op (odd kernel size, integer expansion, or 'skip')"],
    ['leading skip', (a) => { a.stages[2].ops[0] = 'skip'; }, "stages[2].ops[0]: the first layer of a stage cannot be 'skip'"],
    ['broken chain', (a) => { a.stages[4].in = 65; }, 'stages[4].in: 65 does not match stages[3].out 64'],
    ['stem chain', (a) => { a.stem.out = 24; }, 'stages[0].in: 32 does not match stem.out 24'],
    ['empty ops', (a) => { a.stages[1].ops = []; }, 'stages[1].ops: must not be empty'],
    ['no stages', (a) => { a.stages = []; }, 'stages: must not be empty'],
    ['zero stride', (a) => { a.stages[1].stride = 0; }, 'stages[1].stride: expected a positive integer, got number 0'],
    ['bad output stride', (a) => { a.outputStride = 4; }, 'outputStride: expected 8, 16 or 32, got number 4'],
    ['missing head', (a) => { delete a.head; }, 'head: is required (use null for none)'],
    ['typo field', (a) => { a.numclasses = 3; }, 'numclasses: unknown field'],
    ['bad eps', (a) => { a.bnEps = -1; }, 'bnEps: expected a positive number, got number -1'],
    ['bad kind', (a) => { a.kind = 'mobilenetv3'; }, "kind: expected 'mobilenetv2', 'resnet' or 'mobilenetv2-super', got string \"mobilenetv3\""],
  ];
  it.each(cases)('rejects %s with one error naming the field', (_, mutate, message) => {
    const arch = structuredClone(mobilenetV2Arch()) as any;
    mutate(arch);
    expect(() => validateArch(arch)).toThrow(ArchError);
    expect(() => validateArch(arch)).toThrow(message);
  });

  it('rejects bad ResNet archs naming the field', () => {
    const bad = (mutate: (a: any) => void) => {
      const a = structuredClone(resnetArch(50)) as any;
      mutate(a);
      return () => validateArch(a);
    };
    expect(bad((a) => { a.stages[1].groups = 3; })).toThrow('stages[1].groups: 3 groups do not divide 128 channels');
    expect(bad((a) => { a.stages[0].kernel = 4; })).toThrow('stages[0].kernel: kernel size must be odd');
    expect(bad((a) => { a.block = 'wide'; })).toThrow("block: expected 'basic' or 'bottleneck'");
    expect(bad((a) => { a.stages[2].out = 1022; delete a.stages[2].width; })).toThrow('stages[2].width: is required');
  });

  it('sorts skips to the end of each stage (spec §1.1, pitfall 12)', () => {
    const arch = mobilenetV2Arch();
    arch.stages[2].ops = ['k3_e6', 'skip', 'k5_e3', 'skip'];
    expect(sortSkips(arch).stages[2].ops).toEqual(['k3_e6', 'k5_e3', 'skip', 'skip']);
    expect(arch.stages[2].ops).toEqual(['k3_e6', 'skip', 'k5_e3', 'skip']);
    fc.assert(fc.property(mobilenetSingleArb, (a) => {
      const sorted = sortSkips(a);
      expect(sortSkips(sorted)).toEqual(sorted);
      sorted.stages.forEach((s, i) => {
        const nonSkip = a.stages[i].ops.filter((o) => o !== 'skip');
        expect(s.ops.slice(0, nonSkip.length)).toEqual(nonSkip);
        expect(s.ops.slice(nonSkip.length).every((o) => o === 'skip')).toBe(true);
        expect(s.ops).toHaveLength(a.stages[i].ops.length);
      });
      expect(stateDictShapes(sorted, 'target')).toEqual(stateDictShapes(a, 'target'));
    }), { numRuns: 200 });
  });
});

describe('FNA net_config form and published archs', () => {
  it('round-trips the three published configs character for character', () => {
    for (const text of [FNA_RETINANET_NET_CONFIG, FNA_SSDLITE_NET_CONFIG, FNA_DEEPLABV3_NET_CONFIG]) {
      expect(formatFnaNetConfig(parseFnaNetConfig(text))).toBe(text);
    }
  });

  it('builds the published archs of spec §3.4', () => {
    expect(stageDepths(FNA_RETINANET_ARCH)).toEqual([1, 2, 2, 4, 2, 4, 1]);
    expect(FNA_RETINANET_ARCH.stages[5].ops[2]).toBe('k7_e3');
    expect(FNA_RETINANET_ARCH).toMatchObject({ head: null, numClasses: null, bnEps: 1e-5, stem: { out: 32, stride: 2 } });
    expect(stageDepths(FNA_SSDLITE_ARCH)).toEqual([1, 1, 4, 3, 4, 3, 1]);
    expect(FNA_SSDLITE_ARCH.head).toEqual({ out: 1280 });
    expect(stateDictShapes(FNA_SSDLITE_ARCH, 'target').get('blocks.8.conv.0.weight')!.shape).toEqual([1280, 320, 1, 1]);
    expect(stageDepths(FNA_DEEPLABV3_ARCH)).toEqual([1, 2, 4, 6, 4, 2, 1]);
    expect(FNA_DEEPLABV3_ARCH.outputStride).toBe(16);
    expect(stateDictShapes(FNA_DEEPLABV3_ARCH, 'target').get('blocks.7.layers.0.op.3.weight')!.shape).toEqual([480, 1, 7, 7]);
  });

  it('accepts other quoting and separators, and rejects malformed text naming the stage', () => {
    const arch = parseFnaNetConfig('[[8, 4], ["k3_e1"], 1] | [[4,6],["k5_e3","skip"],2]\n[[6, 6], [\'k7_e6\'], 1]');
    expect(arch.stages.map((s) => s.ops)).toEqual([['k3_e1'], ['k5_e3', 'skip'], ['k7_e6']]);
    expect(arch.stem.out).toBe(8);
    expect(() => parseFnaNetConfig("[[32, 16], ['k3_e1'], 1]|\n[[16, 24], ['k3_e6'], 'two']")).toThrow('netConfig[1][2]: expected an integer stride');
    expect(() => parseFnaNetConfig("[[32, 16], ['k3_e1'], 1]|\n[[16, 24], ['k3_e6'")).toThrow(/netConfig: expected ',' or '\]'/);
    expect(() => parseFnaNetConfig("[[32, 16], ['k3_e1'], 1]|\n[[16, 24], ['k4_e6'], 2]")).toThrow("stages[1].ops[0]: 'k4_e6' is not a valid op");
    expect(() => parseFnaNetConfig('  |  ')).toThrow('netConfig: no stages found');
  });

  it('round-trips any valid arch through the printed form', () => {
    fc.assert(fc.property(mobilenetSingleArb, (a) => {
      const back = parseFnaNetConfig(formatFnaNetConfig(a), { inputChannels: a.inputChannels, stemStride: a.stem.stride, head: a.head, numClasses: a.numClasses, bnEps: a.bnEps, outputStride: a.outputStride });
      expect(back).toEqual(a);
    }), { numRuns: 300 });
  });
});

describe('search space and super net', () => {
  it('has the spec §2 presets and sizes', () => {
    const det = searchSpacePreset('detection');
    expect(det.stages.map((s) => s.layers)).toEqual([4, 4, 4, 4, 4, 1]);
    expect(searchSpacePreset('segmentation').stages.map((s) => s.layers)).toEqual([4, 4, 6, 6, 4, 1]);
    expect(det.stages[0].reduceOps).toEqual(['k3_e3', 'k3_e6', 'k5_e3', 'k5_e6', 'k7_e3', 'k7_e6']);
    expect(det.stages[0].normalOps).toEqual([...det.stages[0].reduceOps, 'skip']);
    expect(searchSpacePreset('ssdlite').stages[4].reduceOps).toEqual(['k3_e6', 'k5_e6', 'k7_e6']);
    expect(searchSpaceSize(det) / (6 ** 6 * 7 ** 15)).toBeCloseTo(1, 12);
    expect(searchSpaceSize(searchSpacePreset('segmentation')) / (6 ** 6 * 7 ** 19)).toBeCloseTo(1, 12);
    expect(searchSpaceSize(searchSpacePreset('ssdlite')) / (6 ** 5 * 3 * 7 ** 15)).toBeCloseTo(1, 12);
  });

  it('enumerates super-net keys: bare first block, candidates under _ops, no searchable BN keys, skip adds none', () => {
    const net = superArch(searchSpacePreset('detection'));
    const shapes = stateDictShapes(net.base, 'super', net.space);
    expect(shapes.get('blocks.1.op.0.weight')!.shape).toEqual([32, 1, 3, 3]);
    expect(shapes.get('blocks.1.op.4.running_var')!.shape).toEqual([16]);
    expect(shapes.get('blocks.2.layers.0._ops.k5_e3.op.0.weight')!.shape).toEqual([48, 16, 1, 1]);
    expect(shapes.get('blocks.2.layers.0._ops.k5_e3.op.3.weight')!.shape).toEqual([48, 1, 5, 5]);
    expect(shapes.get('blocks.2.layers.3._ops.k7_e6.op.6.weight')!.shape).toEqual([24, 144, 1, 1]);
    const searchable = [...shapes].filter(([k]) => k.includes('._ops.'));
    expect(searchable.every(([k, s]) => k.endsWith('.weight') && s.shape.length === 4)).toBe(true);
    expect([...shapes.keys()].some((k) => k.includes('skip'))).toBe(false);
    // 21 searchable layers x 6 MBConv candidates x 3 convs, plus stem (6) and the first block (12)
    expect(searchable).toHaveLength(21 * 6 * 3);
    expect(shapes.size).toBe(6 + 12 + 21 * 6 * 3);
    expect(() => stateDictShapes(net.base, 'super')).toThrow("mode 'super' needs a search space");
    expect(() => stateDictShapes(resnetArch(18), 'super')).toThrow('no super-net layout');
  });

  it('validates super nets and derives target archs from choices', () => {
    const net = superArch(searchSpacePreset('detection'));
    const choice = FNA_RETINANET_ARCH.stages.slice(1).map((s) => [...s.ops]);
    expect(deriveArch(net, choice).stages).toEqual(FNA_RETINANET_ARCH.stages);
    choice[0][0] = 'skip';
    expect(() => deriveArch(net, choice)).toThrow("ops[0][0]: 'skip' is not a candidate of this layer");
    const space = searchSpacePreset('detection');
    space.stages[2].normalOps.push('k3_e3');
    expect(() => superArch(space)).toThrow("space.stages[2].normalOps[7]: 'k3_e3' is listed twice");
    expect(() => superArch({ name: 'short', stages: space.stages.slice(1) })).toThrow('space.stages: has 5 searchable stages but the base arch has 6');
    const reduceSkip = searchSpacePreset('detection');
    reduceSkip.stages[0].reduceOps.push('skip');
    expect(() => superArch(reduceSkip)).toThrow("space.stages[0].reduceOps[6]: the first layer of a stage cannot be 'skip'");
  });
});

describe('ResNet arch', () => {
  it.each([[18, 11_689_512], [34, 21_797_672], [50, 25_557_032]] as const)('resnet%d has %d parameters (torchvision), matching a count by hand', (depth, count) => {
    expect(resnetParamsByHand(depth)).toBe(count);
    expect(parameterCount(stateDictShapes(resnetArch(depth), 'seed'))).toBe(count);
  });

  it('uses torchvision keys', () => {
    const shapes = stateDictShapes(resnetArch(50), 'seed');
    expect(shapes.get('conv1.weight')!.shape).toEqual([64, 3, 7, 7]);
    expect(shapes.get('bn1.num_batches_tracked')!.shape).toEqual([]);
    expect(shapes.get('layer1.0.downsample.0.weight')!.shape).toEqual([256, 64, 1, 1]);
    expect(shapes.get('layer2.0.conv2.weight')!.shape).toEqual([128, 128, 3, 3]);
    expect(shapes.get('layer2.1.conv1.weight')!.shape).toEqual([128, 512, 1, 1]);
    expect(shapes.has('layer2.1.downsample.0.weight')).toBe(false);
    expect(shapes.get('fc.weight')!.shape).toEqual([1000, 2048]);
    const r18 = stateDictShapes(resnetArch(18, 16), 'seed');
    expect(r18.has('layer1.0.downsample.0.weight')).toBe(false);
    expect(r18.get('layer3.0.downsample.0.weight')!.shape).toEqual([64, 32, 1, 1]);
    const grouped = resnetArch(50);
    grouped.stages[0] = { ...grouped.stages[0], groups: 32, width: 128 };
    expect(stateDictShapes(grouped, 'seed').get('layer1.0.conv2.weight')!.shape).toEqual([128, 4, 3, 3]);
  });
});
