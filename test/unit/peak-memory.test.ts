/**
 * The peak memory a run reports is its own: a process started by a large one (a service, a
 * benchmark harness) must not report its parent's size, as getrusage's maxrss does on Linux.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const PEAK_MEMORY = fileURLToPath(new URL('../../dist/observe/peak-memory.js', import.meta.url));

describe('peakRssMb', () => {
  it.runIf(process.platform === 'linux')('reports the process itself, not the 400 MB parent that spawned it', () => {
    // The parent touches 400 MB, then spawns a small child that prints both measures.
    const parent = `
      const held = Buffer.alloc(400 * 2 ** 20, 1);
      const child = require('node:child_process').execFileSync(process.execPath, ['--input-type=module', '-e',
        "import { peakRssMb } from " + JSON.stringify(${JSON.stringify(PEAK_MEMORY)}) + "; console.log(JSON.stringify({ own: peakRssMb(), rusage: Math.round(process.resourceUsage().maxRSS / 1024) }))"]);
      process.stdout.write(child.toString() + held.length);
    `;
    const output = execFileSync(process.execPath, ['-e', parent]).toString();
    const { own, rusage } = JSON.parse(output.split('\n')[0]!) as { own: number; rusage: number };
    expect(rusage).toBeGreaterThan(400); // what the old measure said: the parent's size
    expect(own).toBeGreaterThan(10);
    expect(own).toBeLessThan(150);
  });
});
