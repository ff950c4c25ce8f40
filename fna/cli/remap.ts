// `fna remap --seed CKPT --arch ARCH.json --out CKPT`: seed checkpoint -> target or super-net checkpoint.
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../engine/io/atomic-write.ts';
import { readSafetensors, writeSafetensorsAtomic } from '../../engine/io/safetensors.ts';
import { type RemapCommandIo, isInputError, runRemapCommand } from '../remap/command.ts';

const fileIo: RemapCommandIo = {
  readCheckpoint: (path) => readSafetensors(path),
  writeCheckpoint: (path, tensors, metadata) => writeSafetensorsAtomic(path, tensors, metadata),
  readText: async (path) => {
    try {
      return await readFile(path, 'utf8');
    } catch (e) {
      const error = new Error(`cannot read ${path}: ${(e as Error).message}`);
      error.name = 'UsageError';
      throw error;
    }
  },
  writeText: (path, text) => writeFileAtomic(path, new TextEncoder().encode(text)),
  log: (line) => console.log(line),
};

export async function remapCommand(argv: string[]): Promise<number> {
  try {
    await runRemapCommand(argv, fileIo);
    return 0;
  } catch (e) {
    if (!isInputError(e)) throw e;
    console.error(`fna remap: ${e.message}`);
    return e.name === 'UsageError' ? 2 : 1;
  }
}
