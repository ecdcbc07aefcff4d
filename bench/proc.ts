// SPDX-License-Identifier: Apache-2.0
// Per-process figures from /proc (Linux): CPU time of a child, its peak resident set, the machine's CPU.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';

let ticksPerSecond = 0;

function clockTicks(): number {
  if (!ticksPerSecond) {
    try { ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100; } catch { ticksPerSecond = 100; }
  }
  return ticksPerSecond;
}

/** User + system CPU seconds used so far by process `pid` (all its threads), or null if it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / clockTicks();    // utime, stime (fields 14 and 15)
  } catch { return null; }
}

function statusKb(pid: number, key: string): number | null {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch { return null; }
}

/** Peak resident set (VmHWM) in MB since start or since the last resetPeak(). */
export function peakRssMb(pid: number): number | null {
  const kb = statusKb(pid, 'VmHWM');
  return kb === null ? null : kb / 1024;
}

/** Current resident set (VmRSS) in MB. */
export function rssMb(pid: number): number | null {
  const kb = statusKb(pid, 'VmRSS');
  return kb === null ? null : kb / 1024;
}

/** Resets the peak resident set of `pid` to its current size (Linux >= 4.0); false if not allowed. */
export function resetPeak(pid: number): boolean {
  try { fs.writeFileSync(`/proc/${pid}/clear_refs`, '5'); return true; } catch { return false; }
}

/** Busy and total CPU seconds of the whole machine (all cores), from /proc/stat. */
export function machineCpu(): { busy: number; total: number } | null {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: (total - f[3] - f[4]) / clockTicks(), total: total / clockTicks() };
  } catch { return null; }
}

/** The machine as the report describes it. */
export function machine(): { cores: number; cpu: string; node: string; kernel: string; memoryGb: number } {
  return {
    cores: os.cpus().length,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    kernel: os.release(),
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
  };
}

/** The file system type that holds `dir` (fsync on tmpfs proves nothing about durability), from /proc/self/mounts. */
export function fsType(dir: string): string {
  try {
    const real = fs.realpathSync(dir);
    let best = '', type = 'unknown';
    for (const line of fs.readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
      const [, mountPoint, fsName] = line.split(' ');
      if (!mountPoint || !fsName) continue;
      const inside = real === mountPoint || real.startsWith(mountPoint.endsWith('/') ? mountPoint : mountPoint + '/');
      if (inside && mountPoint.length >= best.length) { best = mountPoint; type = fsName; }
    }
    return type;
  } catch { return 'unknown'; }
}
