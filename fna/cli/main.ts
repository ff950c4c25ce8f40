// `fna <command>`: entry point of the CLI. Each command returns an exit code.
import { NoAdapterError } from '../../engine/device/device.ts';
import { shutdown } from '../../engine/runtime.ts';
import { doctor } from './doctor.ts';

const USAGE = `usage: fna <command> [options]

commands:
  doctor            show the WebGPU adapter, its limits and features, and run a tiny kernel
  help              this text

environment: FNA_BACKEND (vulkan, metal, d3d12, ...), FNA_ADAPTER (adapter name as Dawn lists it)`;

type Command = (argv: string[]) => Promise<number>;
const commands: Record<string, Command> = {
  doctor,
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
    if (e instanceof NoAdapterError || (e as Error).name === 'UsageError') {
      console.error(`fna ${name}: ${(e as Error).message}`);
    } else {
      console.error(`fna ${name}: ${(e as Error).stack ?? e}`);
    }
    return 1;
  } finally {
    await shutdown();
  }
}
