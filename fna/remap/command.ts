// `fna remap` without the file system: argument parsing and the read -> remap -> write sequence over an
// injected I/O object, so tests can check that bad input writes nothing. fna/cli/remap.ts wires real files.
import { parseArgs } from 'node:util';
import type { StateDict } from '../../engine/host.ts';
import { type AnyArch, ArchError, validateArch } from '../arch/index.ts';
import { RemapError } from './errors.ts';
import { type WidthSelection, WIDTH_SELECTIONS } from './importance.ts';
import type { KernelPlacement } from './kernel.ts';
import { type RemapResult, remap } from './remap.ts';
import { countActions, formatRemapReport, remapReportJson } from './report.ts';

export const REMAP_USAGE = `usage: fna remap --seed CKPT --arch ARCH.json --out CKPT [options]

  --seed CKPT                 seed checkpoint (safetensors; its metadata 'arch' holds the seed arch JSON)
  --arch ARCH.json            target arch, or a super net {"kind": "mobilenetv2-super", "base", "space"}
  --out CKPT                  where to write the remapped checkpoint (written atomically)
  --width-by first-k|bn|std|l1        channel choice; default first-k (FNA). Others are ablations
  --kernel-placement centre|dilate    kernel growth/crop; default centre (FNA). dilate is an ablation
  --report report.json        also write the per-tensor remap report as JSON`;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface RemapCommandIo {
  readCheckpoint(path: string): Promise<{ tensors: StateDict; metadata: Record<string, string> }>;
  writeCheckpoint(path: string, tensors: StateDict, metadata: Record<string, string>): Promise<void>;
  readText(path: string): Promise<string>;
  writeText(path: string, text: string): Promise<void>;
  log(line: string): void;
}

export interface RemapCommandArgs {
  seed: string;
  arch: string;
  out: string;
  widthBy: WidthSelection;
  kernelPlacement: KernelPlacement;
  report: string | null;
}

/** Null for --help. */
export function parseRemapArgs(argv: string[]): RemapCommandArgs | null {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        seed: { type: 'string' },
        arch: { type: 'string' },
        out: { type: 'string' },
        'width-by': { type: 'string', default: 'first-k' },
        'kernel-placement': { type: 'string', default: 'centre' },
        report: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${REMAP_USAGE}`);
  }
  if (values.help) return null;
  for (const name of ['seed', 'arch', 'out'] as const) {
    if (!values[name]) throw new UsageError(`--${name} is required\n\n${REMAP_USAGE}`);
  }
  const widthBy = values['width-by'] as WidthSelection;
  if (!WIDTH_SELECTIONS.includes(widthBy)) throw new UsageError(`--width-by must be one of ${WIDTH_SELECTIONS.join(', ')}, got '${widthBy}'`);
  const kernelPlacement = values['kernel-placement'] as KernelPlacement;
  if (kernelPlacement !== 'centre' && kernelPlacement !== 'dilate') {
    throw new UsageError(`--kernel-placement must be centre or dilate, got '${kernelPlacement}'`);
  }
  return { seed: values.seed!, arch: values.arch!, out: values.out!, widthBy, kernelPlacement, report: values.report ?? null };
}

function parseArchJson(text: string, subject: string): AnyArch {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new RemapError(subject, `is not valid JSON (${(e as Error).message})`);
  }
  try {
    return validateArch(value);
  } catch (e) {
    if (e instanceof ArchError) throw new RemapError(subject, e.message);
    throw e;
  }
}

/** Reads, remaps and only then writes: any bad input throws before a file is touched. */
export async function runRemapCommand(argv: string[], io: RemapCommandIo): Promise<RemapResult | null> {
  const args = parseRemapArgs(argv);
  if (!args) {
    io.log(REMAP_USAGE);
    return null;
  }
  const target = parseArchJson(await io.readText(args.arch), `--arch ${args.arch}`);
  const checkpoint = await io.readCheckpoint(args.seed);
  const seedArchJson = checkpoint.metadata.arch;
  if (seedArchJson === undefined) {
    throw new RemapError(`--seed ${args.seed}`, "has no 'arch' metadata entry (the seed's arch spec as JSON)");
  }
  const seedArch = parseArchJson(seedArchJson, `--seed ${args.seed} metadata 'arch'`);
  if (seedArch.kind === 'mobilenetv2-super') {
    throw new RemapError(`--seed ${args.seed}`, 'holds a super net; remapping always starts from the seed checkpoint (spec §0)');
  }
  const result = remap({ arch: seedArch, stateDict: checkpoint.tensors }, target, {
    widthBy: args.widthBy,
    kernelPlacement: args.kernelPlacement,
  });
  const { total } = countActions(result.report.entries);
  await io.writeCheckpoint(args.out, result.stateDict, {
    arch: JSON.stringify(target),
    seed_arch: JSON.stringify(seedArch),
    remap: JSON.stringify({ widthBy: args.widthBy, kernelPlacement: args.kernelPlacement, actions: total }),
  });
  if (args.report) await io.writeText(args.report, remapReportJson(result.report));
  io.log(formatRemapReport(result.report));
  io.log(`wrote ${args.out}${args.report ? ` and ${args.report}` : ''}`);
  return result;
}

/** Errors that mean bad input (print the message, exit 1) rather than a bug (print the stack). */
export function isInputError(e: unknown): e is Error {
  return e instanceof Error && ['RemapError', 'ArchError', 'UsageError', 'SafetensorsError'].includes(e.name);
}
