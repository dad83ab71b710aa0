// Copies the non-TypeScript files the compiled code needs (the .proto
// definitions) from src/ to dist/, keeping their paths.
import { cpSync, existsSync } from 'node:fs';

if (existsSync('src')) {
  cpSync('src', 'dist', { recursive: true, filter: (p) => !p.includes('.') || p.endsWith('.proto') || !/\.[a-z]+$/.test(p) });
}
