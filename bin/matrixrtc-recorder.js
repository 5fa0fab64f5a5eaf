#!/usr/bin/env node
// Runs the compiled CLI when present (npm run build, the Docker image); otherwise the
// TypeScript sources directly through Node's type stripping (Node >= 22.18).
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli.js', import.meta.url);
await import(existsSync(compiled) ? compiled.href : new URL('../src/cli.ts', import.meta.url).href);
