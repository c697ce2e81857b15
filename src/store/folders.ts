import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Makes `dir` and any missing parents, like `mkdirSync(dir, { recursive: true })`, but one level
 * at a time from the nearest folder that exists. Node's recursive mkdir never returns under
 * /proc (a missing folder there fails with ENOENT, which it answers by making the parent, again);
 * here the first level that cannot be made throws its own error (ENOENT, EACCES, ENOTDIR).
 */
export function makeFolders(dir: string): void {
  const missing: string[] = [];
  let at = path.resolve(dir);
  for (;;) {
    try {
      // A file in the way: mkdirSync names it (EEXIST for the folder itself, else ENOTDIR below).
      if (!statSync(at).isDirectory() && missing.length === 0) mkdirSync(at);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      const up = path.dirname(at);
      missing.push(at);
      if (up === at) break;
      at = up;
    }
  }
  for (const level of missing.reverse()) {
    try {
      mkdirSync(level);
    } catch (err) {
      // Made meanwhile by another process: as good as made here.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(level).isDirectory()) throw err;
    }
  }
}
