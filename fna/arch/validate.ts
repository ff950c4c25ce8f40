// validateArch: one ArchError naming the first offending field, for JSON from disk as much as for code.
import { parseOp } from './ops.ts';
import {
  type AnyArch, ArchError, type MobileNetArch, type ResNetArch, type SearchSpace, type SuperNetArch,
} from './types.ts';

type Json = Record<string, unknown>;

function object(value: unknown, field: string, allowed: readonly string[]): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ArchError(field, `expected an object, got ${describe(value)}`);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new ArchError(join(field, key), `unknown field (expected one of ${allowed.join(', ')})`);
    }
  }
  return value as Json;
}

function join(field: string, key: string): string {
  return field ? `${field}.${key}` : key;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  return Array.isArray(value) ? 'an array' : `${typeof value} ${JSON.stringify(value)}`;
}

function positiveInt(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new ArchError(field, `expected a positive integer, got ${describe(value)}`);
  }
  return value;
}

function oddKernel(value: unknown, field: string): number {
  const k = positiveInt(value, field);
  if (k % 2 === 0) throw new ArchError(field, `kernel size must be odd (centred padding), got ${k}`);
  return k;
}

function array(value: unknown, field: string, nonEmpty: boolean): unknown[] {
  if (!Array.isArray(value)) throw new ArchError(field, `expected an array, got ${describe(value)}`);
  if (nonEmpty && value.length === 0) throw new ArchError(field, 'must not be empty');
  return value;
}

function opName(value: unknown, field: string, allowSkip: boolean): string {
  if (typeof value !== 'string' || parseOp(value) === null) {
    throw new ArchError(field, `${typeof value === 'string' ? `'${value}'` : describe(value)} is not a valid op (odd kernel size, integer expansion, or 'skip')`);
  }
  if (!allowSkip && value === 'skip') {
    throw new ArchError(field, "the first layer of a stage cannot be 'skip' (it carries the stride and channel change)");
  }
  return value;
}

function bnEps(value: unknown, field: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ArchError(field, `expected a positive number, got ${describe(value)}`);
  }
}

function nullable<T>(value: unknown, field: string, read: (v: unknown, f: string) => T): T | null {
  if (value === undefined) throw new ArchError(field, 'is required (use null for none)');
  return value === null ? null : read(value, field);
}

function channelChain(stages: Json[], firstIn: number, firstField: string, path: string): void {
  stages.forEach((stage, i) => {
    const expected = i === 0 ? firstIn : (stages[i - 1].out as number);
    if (stage.in !== expected) {
      const from = i === 0 ? firstField : `${path}[${i - 1}].out`;
      throw new ArchError(`${path}[${i}].in`, `${stage.in} does not match ${from} ${expected}`);
    }
  });
}

export function validateMobileNetArch(value: unknown, field = ''): MobileNetArch {
  const arch = object(value, field, ['kind', 'inputChannels', 'stem', 'stages', 'head', 'numClasses', 'outputStride', 'bnEps']);
  if (arch.kind !== 'mobilenetv2') throw new ArchError(join(field, 'kind'), `expected 'mobilenetv2', got ${describe(arch.kind)}`);
  positiveInt(arch.inputChannels, join(field, 'inputChannels'));
  const stem = object(arch.stem, join(field, 'stem'), ['out', 'stride']);
  positiveInt(stem.out, join(field, 'stem.out'));
  positiveInt(stem.stride, join(field, 'stem.stride'));
  const stagesField = join(field, 'stages');
  const stages = array(arch.stages, stagesField, true).map((raw, i) => {
    const f = `${stagesField}[${i}]`;
    const stage = object(raw, f, ['in', 'out', 'stride', 'dilation', 'ops']);
    positiveInt(stage.in, `${f}.in`);
    positiveInt(stage.out, `${f}.out`);
    positiveInt(stage.stride, `${f}.stride`);
    if (stage.dilation !== undefined) positiveInt(stage.dilation, `${f}.dilation`);
    array(stage.ops, `${f}.ops`, true).forEach((op, j) => opName(op, `${f}.ops[${j}]`, j > 0));
    return stage;
  });
  channelChain(stages, stem.out as number, join(field, 'stem.out'), stagesField);
  nullable(arch.head, join(field, 'head'), (v, f) => positiveInt(object(v, f, ['out']).out, `${f}.out`));
  nullable(arch.numClasses, join(field, 'numClasses'), positiveInt);
  if (arch.outputStride !== undefined && ![8, 16, 32].includes(arch.outputStride as number)) {
    throw new ArchError(join(field, 'outputStride'), `expected 8, 16 or 32, got ${describe(arch.outputStride)}`);
  }
  bnEps(arch.bnEps, join(field, 'bnEps'));
  return value as MobileNetArch;
}

export function validateResNetArch(value: unknown, field = ''): ResNetArch {
  const arch = object(value, field, ['kind', 'block', 'inputChannels', 'stem', 'stages', 'numClasses', 'bnEps']);
  if (arch.kind !== 'resnet') throw new ArchError(join(field, 'kind'), `expected 'resnet', got ${describe(arch.kind)}`);
  if (arch.block !== 'basic' && arch.block !== 'bottleneck') {
    throw new ArchError(join(field, 'block'), `expected 'basic' or 'bottleneck', got ${describe(arch.block)}`);
  }
  positiveInt(arch.inputChannels, join(field, 'inputChannels'));
  const stem = object(arch.stem, join(field, 'stem'), ['out', 'kernel', 'stride', 'maxPool']);
  positiveInt(stem.out, join(field, 'stem.out'));
  oddKernel(stem.kernel, join(field, 'stem.kernel'));
  positiveInt(stem.stride, join(field, 'stem.stride'));
  if (typeof stem.maxPool !== 'boolean') throw new ArchError(join(field, 'stem.maxPool'), `expected a boolean, got ${describe(stem.maxPool)}`);
  const stagesField = join(field, 'stages');
  const stages = array(arch.stages, stagesField, true).map((raw, i) => {
    const f = `${stagesField}[${i}]`;
    const stage = object(raw, f, ['in', 'out', 'stride', 'blocks', 'groups', 'width', 'kernel']);
    const inC = positiveInt(stage.in, `${f}.in`);
    const out = positiveInt(stage.out, `${f}.out`);
    positiveInt(stage.stride, `${f}.stride`);
    positiveInt(stage.blocks, `${f}.blocks`);
    const groups = stage.groups === undefined ? 1 : positiveInt(stage.groups, `${f}.groups`);
    if (stage.kernel !== undefined) oddKernel(stage.kernel, `${f}.kernel`);
    if (stage.width !== undefined) positiveInt(stage.width, `${f}.width`);
    else if (arch.block === 'bottleneck' && out % 4 !== 0) {
      throw new ArchError(`${f}.width`, `is required when out (${out}) is not a multiple of 4`);
    }
    const width = (stage.width as number | undefined) ?? (arch.block === 'bottleneck' ? out / 4 : out);
    const divisible = arch.block === 'bottleneck' ? [width] : [inC, width, out];
    for (const c of divisible) {
      if (c % groups !== 0) throw new ArchError(`${f}.groups`, `${groups} groups do not divide ${c} channels`);
    }
    return stage;
  });
  channelChain(stages, stem.out as number, join(field, 'stem.out'), stagesField);
  nullable(arch.numClasses, join(field, 'numClasses'), positiveInt);
  bnEps(arch.bnEps, join(field, 'bnEps'));
  return value as ResNetArch;
}

export function validateSearchSpace(value: unknown, base: MobileNetArch, field = 'space'): SearchSpace {
  const space = object(value, field, ['name', 'stages']);
  if (typeof space.name !== 'string') throw new ArchError(join(field, 'name'), `expected a string, got ${describe(space.name)}`);
  const stages = array(space.stages, join(field, 'stages'), true);
  if (stages.length !== base.stages.length - 1) {
    throw new ArchError(join(field, 'stages'), `has ${stages.length} searchable stages but the base arch has ${base.stages.length - 1} after the fixed first block`);
  }
  stages.forEach((raw, i) => {
    const f = `${field}.stages[${i}]`;
    const stage = object(raw, f, ['layers', 'reduceOps', 'normalOps']);
    const layers = positiveInt(stage.layers, `${f}.layers`);
    for (const [list, allowSkip] of [['reduceOps', false], ['normalOps', true]] as const) {
      const ops = array(stage[list], `${f}.${list}`, list === 'reduceOps' || layers > 1);
      ops.forEach((op, j) => {
        opName(op, `${f}.${list}[${j}]`, allowSkip);
        if (ops.indexOf(op) !== j) throw new ArchError(`${f}.${list}[${j}]`, `'${op}' is listed twice (candidate keys would collide)`);
      });
    }
  });
  return value as SearchSpace;
}

export function validateSuperNetArch(value: unknown, field = ''): SuperNetArch {
  const arch = object(value, field, ['kind', 'base', 'space']);
  if (arch.kind !== 'mobilenetv2-super') throw new ArchError(join(field, 'kind'), `expected 'mobilenetv2-super', got ${describe(arch.kind)}`);
  const base = validateMobileNetArch(arch.base, join(field, 'base'));
  if (base.stages[0].ops.length !== 1) {
    throw new ArchError(join(field, 'base.stages[0].ops'), `the fixed first block of a super net is one layer, got ${base.stages[0].ops.length}`);
  }
  validateSearchSpace(arch.space, base, join(field, 'space'));
  return value as SuperNetArch;
}

/** Checks any architecture kind; throws one ArchError naming the field, returns the input typed. */
export function validateArch(value: unknown): AnyArch {
  const kind = typeof value === 'object' && value !== null ? (value as Json).kind : undefined;
  switch (kind) {
    case 'mobilenetv2':
      return validateMobileNetArch(value);
    case 'resnet':
      return validateResNetArch(value);
    case 'mobilenetv2-super':
      return validateSuperNetArch(value);
    default:
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new ArchError('arch', `expected an object, got ${describe(value)}`);
      }
      throw new ArchError('kind', `expected 'mobilenetv2', 'resnet' or 'mobilenetv2-super', got ${describe(kind)}`);
  }
}
