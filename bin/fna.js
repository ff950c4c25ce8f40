#!/usr/bin/env node
// The `fna` command. Sources are TypeScript, run through tsx's loader.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../fna/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
