/**
 * The process's peak resident memory. On Linux it is read from /proc/self/status (VmHWM, this
 * process's own high-water mark): getrusage's maxrss also keeps the parent's resident size at
 * the fork that started us, so imgpipe spawned by a large process (a Node service, a benchmark
 * harness) reported that process's size instead of its own. Measured: a child of a 400 MB Node
 * process got maxrss 404 MB and VmHWM 39 MB. Elsewhere maxrss is all there is.
 */
import { readFileSync } from 'node:fs';

export function peakRssMb(): number {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Math.round(Number(match[1]) / 1024);
  } catch {
    // Not Linux: fall through.
  }
  return Math.round(process.resourceUsage().maxRSS / 1024);
}
