// Bad input (issue #6 item 10), structural key parsing, the report, and `fna remap` over in-memory files.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type StateDict, hostTensor } from '../engine/host.ts';
import {
  FNA_RETINANET_ARCH, mobilenetV2Arch, searchSpacePreset, stateDictShapes, superArch,
} from '../fna/arch/index.ts';
import {
  type RemapCommandIo, RemapError, countActions, formatRemapReport, parseMobileNetKey, parseResNetKey, remap,
  runRemapCommand,
} from '../fna/remap/index.ts';
import { mobilenetPairArb } from './helpers/arbitraries.ts';
import { bitwiseEqual, randomSeed as seedOf } from './helpers/random.ts';

const stock = () => mobilenetV2Arch();
const SEED = seedOf(stock(), 42);

function withTensor(sd: StateDict, key: string, tensor?: ReturnType<typeof hostTensor>): StateDict {
  const copy = new Map(sd);
  if (tensor) copy.set(key, tensor);
  else copy.delete(key);
  return copy;
}

describe('structural keys (pitfall 1)', () => {
  it('parses multi-digit blocks and layers and any primitive name', () => {
    expect(parseMobileNetKey('blocks.12.layers.10._ops.k11_e12.op.3.weight')).toEqual({ kind: 'layer', block: 12, layer: 10, prim: 'k11_e12', module: 3, param: 'weight' });
    expect(parseMobileNetKey('blocks.10.layers.0.op.7.num_batches_tracked')).toEqual({ kind: 'layer', block: 10, layer: 0, prim: null, module: 7, param: 'num_batches_tracked' });
    expect(parseMobileNetKey('blocks.1.op.4.running_var')).toEqual({ kind: 'bare-block', block: 1, module: 4, param: 'running_var' });
    expect(parseMobileNetKey('blocks.10.op.0.weight')).toEqual({ kind: 'bare-block', block: 10, module: 0, param: 'weight' });
    expect(parseMobileNetKey('blocks.0.1.bias')).toEqual({ kind: 'stem', module: 1, param: 'bias' });
    expect(parseMobileNetKey('blocks.8.conv.1.weight')).toEqual({ kind: 'head', block: 8, module: 1, param: 'weight' });
    expect(parseMobileNetKey('classifier.bias')).toEqual({ kind: 'classifier', param: 'bias' });
    expect(parseResNetKey('layer12.3.downsample.1.running_mean')).toEqual({ kind: 'block', stage: 12, index: 3, module: 'downsample.1', param: 'running_mean' });
    expect(parseResNetKey('bn1.num_batches_tracked')).toEqual({ kind: 'stem', module: 'bn1', param: 'num_batches_tracked' });
    for (const bad of ['blocks.01.layers.0.op.0.weight', 'blocks.2.layers.x.op.0.weight', 'blocks.2.layers.0.op.0.gamma', 'backbone.blocks.0.0.weight', 'blocks.2.layers.0._ops.op.0.weight']) {
      expect(() => parseMobileNetKey(bad)).toThrow(`'${bad}' is not a MobileNetV2 state-dict key`);
    }
    expect(() => parseResNetKey('layer1.0.conv4.weight')).toThrow('is not a ResNet state-dict key');
  });
});

describe('bad input: one clear error naming the key or field (item 10)', () => {
  it('names any missing seed tensor the target needs', () => {
    const sources = new Set(remap(SEED, FNA_RETINANET_ARCH).report.entries.map((e) => e.source));
    const keys = [...SEED.stateDict.keys()].filter((k) => !k.endsWith('num_batches_tracked'));
    fc.assert(fc.property(fc.constantFrom(...keys), (key) => {
      const run = () => remap({ arch: stock(), stateDict: withTensor(SEED.stateDict, key) }, FNA_RETINANET_ARCH);
      if (!sources.has(key)) {
        expect(run).not.toThrow();
        return;
      }
      const pattern = `^seed\\['${key.replace(/\./g, '\\.')}'\\]: missing from the seed state dict \\(needed for target '`;
      expect(run).toThrow(RemapError);
      expect(run).toThrow(new RegExp(pattern));
    }), { numRuns: 40 });
  });

  it('tolerates a missing num_batches_tracked (kept at its initial value) like FNA', () => {
    const key = 'blocks.2.layers.1.op.4.num_batches_tracked';
    const { stateDict, report } = remap({ arch: stock(), stateDict: withTensor(SEED.stateDict, key) }, stock());
    expect(Array.from(stateDict.get(key)!.data)).toEqual([0]);
    expect(report.entries.find((e) => e.key === key)).toMatchObject({ source: null, actions: ['initialised'] });
  });

  it('rejects wrong rank, shape and dtype', () => {
    const key = 'blocks.3.layers.0.op.3.weight';
    const remapWith = (t: ReturnType<typeof hostTensor>) => () => remap({ arch: stock(), stateDict: withTensor(SEED.stateDict, key, t) }, FNA_RETINANET_ARCH);
    expect(remapWith(hostTensor([144, 9]))).toThrow(`seed['${key}']: has rank 2 [144, 9] but the seed arch gives it rank 4 [144, 1, 3, 3]`);
    expect(remapWith(hostTensor([144, 1, 5, 5]))).toThrow(`seed['${key}']: has shape [144, 1, 5, 5] but the seed arch gives it [144, 1, 3, 3]`);
    expect(remapWith(hostTensor([144, 1, 3, 3], undefined, 'int32'))).toThrow(`seed['${key}']: has dtype int32, expected float32`);
  });

  it('rejects invalid archs, incompatible pairs and bad options', () => {
    const badTarget = structuredClone(FNA_RETINANET_ARCH);
    badTarget.stages[3].ops[1] = 'k4_e6';
    expect(() => remap(SEED, badTarget)).toThrow("target arch: stages[3].ops[1]: 'k4_e6' is not a valid op (odd kernel size, integer expansion, or 'skip')");
    const badSeed = { ...SEED, arch: { ...stock(), bnEps: 0 } };
    expect(() => remap(badSeed, stock())).toThrow('seed arch: bnEps: expected a positive number, got number 0');
    const net = superArch(searchSpacePreset('detection'));
    expect(() => remap({ arch: net as never, stateDict: SEED.stateDict }, stock())).toThrow('seed arch: a super net cannot be a seed');
    expect(() => remap(SEED, { ...stock(), stages: stock().stages.slice(0, 6), head: null, numClasses: null })).toThrow('target.stages: has 6 stages but the seed has 7');
    const headless = seedOf({ ...stock(), head: null, numClasses: null }, 1);
    expect(() => remap(headless, stock())).toThrow("target['blocks.8.conv.0.weight']: the seed arch has no tensor 'blocks.8.conv.0.weight' to remap it from");
    expect(() => remap(SEED, stock(), { widthBy: 'gamma' as never })).toThrow("options.widthBy: 'gamma' is not one of first-k, bn, std, l1");
    expect(() => remap(SEED, stock(), { kernelPlacement: 'corner' as never })).toThrow("options.kernelPlacement: 'corner' is not one of centre, dilate");
    const k5 = structuredClone(FNA_RETINANET_ARCH);
    const seedK5 = seedOf({ ...k5, stages: k5.stages.map((s, i) => (i === 2 ? { ...s, ops: ['k5_e6', 'k5_e6'] } : s)) }, 3);
    expect(() => remap(seedK5, k5, { kernelPlacement: 'dilate' })).toThrow("target['blocks.3.layers.0.op.3.weight']: 'dilate' placement needs (7 - 1) divisible by (5 - 1)");
    const init = new Map([['blocks.0.1.weight', hostTensor([16])]]);
    expect(() => remap(SEED, stock(), { targetInit: init })).toThrow("targetInit['blocks.0.1.weight']: is float32 [16], the target arch needs float32 [32]");
    expect(() => remap({ arch: { ...stock(), kind: 'resnet' } as never, stateDict: SEED.stateDict }, stock())).toThrow(/^seed arch: head: unknown field \(expected one of kind, block,/);
  });
});

describe('report', () => {
  it('summarises on one screen with counts per action and per stage', () => {
    const { report } = remap(SEED, FNA_RETINANET_ARCH);
    const text = formatRemapReport(report);
    const lines = text.split('\n');
    expect(lines.length).toBeLessThanOrEqual(25);
    expect(lines[0]).toBe('remap mobilenetv2 seed -> mobilenetv2 (target), width first-k, kernel centre');
    const { total, byGroup } = countActions(report.entries);
    expect(lines[1]).toBe(`${report.entries.length} target tensors; ${total.copied} copied, ${total['channel-selected']} channel-selected, 0 cropped, ${total.padded} padded, 0 zero-filled, 0 initialised; ${report.unusedSeedKeys.length} seed tensors unused`);
    expect([...byGroup.keys()]).toEqual(['stem', 'blocks.1', 'blocks.2', 'blocks.3', 'blocks.4', 'blocks.5', 'blocks.6', 'blocks.7']);
    // RetinaNet's blocks.3 is k7_e6, k5_e6: two depthwise convs grow 3 -> 7 and 3 -> 5
    expect(byGroup.get('blocks.3')!.padded).toBe(2);
    expect(report.entries.find((e) => e.key === 'blocks.3.layers.0.op.3.weight')!.kernel).toEqual({ from: 3, to: 7, placement: 'centre' });
    // blocks.6 layer 2 is k7_e3: expand outputs, 2 BNs x 4 stats, depthwise and project inputs narrow to 480
    expect(byGroup.get('blocks.6')!['channel-selected']).toBe(11);
    expect(report.unusedSeedKeys).toContain('classifier.weight');
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
  });

  it('covers every target tensor with its source and actions', () => {
    fc.assert(fc.property(mobilenetPairArb, fc.integer(), ([seedArch, target], s) => {
      const { report } = remap(seedOf(seedArch, s), target, { widthBy: 'l1' });
      for (const e of report.entries) {
        expect(e.actions.length).toBeGreaterThan(0);
        if (e.actions.includes('copied')) expect(e.actions).toEqual(['copied']);
        if (e.source === null) expect(e.note).toBeTruthy();
      }
      expect(formatRemapReport(report).split('\n').length).toBeLessThanOrEqual(25);
    }), { numRuns: 200 });
  });
});

class MemoryIo implements RemapCommandIo {
  files = new Map<string, string>();
  checkpoints = new Map<string, { tensors: StateDict; metadata: Record<string, string> }>();
  writes: string[] = [];
  logs: string[] = [];
  async readCheckpoint(path: string) {
    const c = this.checkpoints.get(path);
    if (!c) throw new RemapError(`--seed ${path}`, 'no such file');
    return c;
  }
  async writeCheckpoint(path: string, tensors: StateDict, metadata: Record<string, string>) {
    this.writes.push(path);
    this.checkpoints.set(path, { tensors, metadata });
  }
  async readText(path: string) {
    const t = this.files.get(path);
    if (t === undefined) throw new RemapError(path, 'no such file');
    return t;
  }
  async writeText(path: string, text: string) {
    this.writes.push(path);
    this.files.set(path, text);
  }
  log(line: string) {
    this.logs.push(line);
  }
}

function memoryIo(seedStateDict = SEED.stateDict, metadata: Record<string, string> = { arch: JSON.stringify(stock()) }): MemoryIo {
  const io = new MemoryIo();
  io.checkpoints.set('seed.safetensors', { tensors: seedStateDict, metadata });
  io.files.set('retina.json', JSON.stringify(FNA_RETINANET_ARCH));
  io.files.set('super.json', JSON.stringify(superArch(searchSpacePreset('segmentation'))));
  return io;
}

describe('fna remap command', () => {
  it('remaps the seed checkpoint into a target and writes the checkpoint, its arch and the report', async () => {
    const io = memoryIo();
    const result = await runRemapCommand(['--seed', 'seed.safetensors', '--arch', 'retina.json', '--out', 'out.safetensors', '--report', 'r.json'], io);
    expect(io.writes).toEqual(['out.safetensors', 'r.json']);
    const out = io.checkpoints.get('out.safetensors')!;
    expect(JSON.parse(out.metadata.arch)).toEqual(FNA_RETINANET_ARCH);
    expect([...out.tensors.keys()]).toEqual([...stateDictShapes(FNA_RETINANET_ARCH, 'target').keys()]);
    expect(bitwiseEqual(out.tensors.get('blocks.0.0.weight')!, SEED.stateDict.get('blocks.0.0.weight')!)).toBe(true);
    expect(JSON.parse(io.files.get('r.json')!)).toEqual(result!.report);
    expect(io.files.get('r.json')!.split('\n').length).toBeLessThan(out.tensors.size + 20);
    expect(io.logs.join('\n')).toContain('remap mobilenetv2 seed -> mobilenetv2 (target)');
  });

  it('remaps into a super net with ablation options', async () => {
    const io = memoryIo();
    const result = await runRemapCommand(['--seed', 'seed.safetensors', '--arch', 'super.json', '--out', 'sup.safetensors', '--width-by', 'std', '--kernel-placement', 'dilate'], io);
    expect(result!.report).toMatchObject({ mode: 'super', widthBy: 'std', kernelPlacement: 'dilate' });
    expect(JSON.parse(io.checkpoints.get('sup.safetensors')!.metadata.arch).kind).toBe('mobilenetv2-super');
  });

  const failures: Array<[string, string[], (io: MemoryIo) => void, RegExp]> = [
    ['no --out', ['--seed', 'seed.safetensors', '--arch', 'retina.json'], () => {}, /^--out is required/],
    ['unknown flag', ['--seed', 's', '--arch', 'a', '--out', 'o', '--widthby', 'bn'], () => {}, /Unknown option '--widthby'/],
    ['bad --width-by', ['--seed', 's', '--arch', 'a', '--out', 'o', '--width-by', 'gamma'], () => {}, /--width-by must be one of first-k, bn, std, l1, got 'gamma'/],
    ['arch not JSON', ['--seed', 'seed.safetensors', '--arch', 'retina.json', '--out', 'o'], (io) => io.files.set('retina.json', '[[32, 16]'), /^--arch retina.json: is not valid JSON/],
    ['invalid arch', ['--seed', 'seed.safetensors', '--arch', 'retina.json', '--out', 'o'], (io) => io.files.set('retina.json', JSON.stringify({ ...FNA_RETINANET_ARCH, stem: { out: 16, stride: 2 } })), /^--arch retina.json: stages\[0\]\.in: 32 does not match stem\.out 16$/],
    ['seed without arch metadata', ['--seed', 'seed.safetensors', '--arch', 'retina.json', '--out', 'o'], (io) => { io.checkpoints.get('seed.safetensors')!.metadata = {}; }, /^--seed seed.safetensors: has no 'arch' metadata entry/],
    ['seed missing a tensor', ['--seed', 'seed.safetensors', '--arch', 'retina.json', '--out', 'o'], (io) => { io.checkpoints.get('seed.safetensors')!.tensors = withTensor(SEED.stateDict, 'blocks.4.layers.2.op.6.weight'); }, /^seed\['blocks\.4\.layers\.2\.op\.6\.weight'\]: missing from the seed state dict/],
    ['missing arch file', ['--seed', 'seed.safetensors', '--arch', 'missing.json', '--out', 'o', '--report', 'r.json'], () => {}, /^missing.json: no such file/],
  ];
  it.each(failures)('%s: throws one clear error and writes nothing', async (_, argv, breakIt, message) => {
    const io = memoryIo();
    breakIt(io);
    await expect(runRemapCommand(argv, io)).rejects.toThrow(message);
    expect(io.writes).toEqual([]);
  });

  it('prints usage for --help', async () => {
    const io = memoryIo();
    expect(await runRemapCommand(['--help'], io)).toBeNull();
    expect(io.logs[0]).toMatch(/^usage: fna remap --seed CKPT --arch ARCH.json --out CKPT/);
    expect(io.writes).toEqual([]);
  });
});
