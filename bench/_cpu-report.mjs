/**
 * Preloaded into a Node child by the benches (`node --import <abs path>/bench/_cpu-report.mjs ...`)
 * when REHEARSE_BENCH_CPU_FILE is set: at exit it writes to that file the process's CPU seconds
 * (every thread, the worker pool's included: process.cpuUsage() is the whole process's), its peak
 * memory, and two instants in milliseconds since the process started: when this preload ran (Node
 * has booted; the program's own modules have not loaded yet) and the 'exit' event. A bench can
 * then tell a command's own CPU from other processes' load, and split its wall time into Node's
 * boot, the program, and the teardown after 'exit'. It changes nothing else.
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const file = process.env.REHEARSE_BENCH_CPU_FILE;
if (file) {
  const preloadMs = performance.now();
  process.once('exit', () => {
    const u = process.cpuUsage();
    const r = process.resourceUsage();
    writeFileSync(file, JSON.stringify({ cpuSeconds: (u.user + u.system) / 1e6, maxRssKiB: r.maxRSS, preloadMs, exitMs: performance.now() }));
  });
}
