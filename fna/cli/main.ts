// `fna <command>`: entry point of the CLI. Each command returns an exit code.
import { NoAdapterError } from '../../engine/device/device.ts';
import { shutdown } from '../../engine/runtime.ts';

const USAGE = `usage: fna <command> [options]

commands:
  doctor            show the WebGPU adapter, its limits and features, and run a tiny kernel
  train-seed        train a MobileNetV2 seed on MNIST / Fashion-MNIST and save a checkpoint
  remap             remap a seed checkpoint onto another architecture (fna remap --help)
  help              this text

environment: FNA_BACKEND (vulkan, metal, d3d12, ...), FNA_ADAPTER (adapter name as Dawn lists it)`;

type Command = (argv: string[]) => Promise<number>;
// Loaded on demand so `fna doctor` starts fast and does not load the whole model zoo.
const commands: Record<string, Command> = {
  doctor: async (a) => (await import('./doctor.ts')).doctor(a),
  'train-seed': async (a) => (await import('./train-seed.ts')).trainSeedCommand(a),
  remap: async (a) => (await import('./remap.ts')).remapCommand(a),
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    console.log(USAGE);
    return name ? 0 : 1;
  }
  const command = commands[name];
  if (!command) {
    console.error(`fna: unknown command '${name}'\n\n${USAGE}`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (e) {
    if (e instanceof NoAdapterError || ['UsageError', 'ArchError', 'StateDictError', 'RemapError'].includes((e as Error).name)) {
      console.error(`fna ${name}: ${(e as Error).message}`);
    } else {
      console.error(`fna ${name}: ${(e as Error).stack ?? e}`);
    }
    return 1;
  } finally {
    await shutdown();
  }
}
