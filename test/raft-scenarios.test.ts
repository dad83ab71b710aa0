/**
 * Runs every scenario script in test/scenarios/*.txt (see
 * test/helpers/scenario.ts for the commands and the file format), one ava test
 * per file, comparing each command's output exactly.
 *
 * With SCENARIO_REWRITE=1 the expected outputs are regenerated in place
 * instead. Rewritten expectations are claims about the protocol: read every
 * changed line before keeping it.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { formatScenario, runScenario } from './helpers/scenario.js';

const SCENARIO_DIR = join(dirname(fileURLToPath(import.meta.url)), 'scenarios');
const REWRITE = process.env['SCENARIO_REWRITE'] === '1';

const files = readdirSync(SCENARIO_DIR)
  .filter((f) => f.endsWith('.txt'))
  .sort();

test('there are scenarios to run', (t) => {
  t.true(files.length > 0, `no scenarios in ${SCENARIO_DIR}`);
});

for (const name of files) {
  test(`scenario ${name}`, (t) => {
    const path = join(SCENARIO_DIR, name);
    const text = readFileSync(path, 'utf8');
    const result = runScenario(text);
    if (REWRITE) {
      const next = formatScenario(result.file, result.outputs);
      if (next !== text) writeFileSync(path, next);
      t.pass();
      return;
    }
    const mm = result.mismatch;
    if (mm === null) {
      t.pass();
      return;
    }
    t.is(mm.actual, mm.expected, `${name}:${mm.line}: output of "${mm.command}" differs (SCENARIO_REWRITE=1 regenerates)`);
  });
}
