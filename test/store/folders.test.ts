import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeFolders } from '../../src/store/folders.js';

const root = mkdtempSync(path.join(tmpdir(), 'rehearse-folders-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('makeFolders', () => {
  it('makes every missing level, and is a no-op on a folder that exists', () => {
    const deep = path.join(root, 'a', 'b', 'c');
    makeFolders(deep);
    expect(statSync(deep).isDirectory()).toBe(true);
    makeFolders(deep);
    makeFolders(root);
    expect(statSync(deep).isDirectory()).toBe(true);
  });

  it('takes a relative path from the working folder', () => {
    const rel = path.relative(process.cwd(), path.join(root, 'rel', 'x'));
    makeFolders(rel);
    expect(statSync(path.join(root, 'rel', 'x')).isDirectory()).toBe(true);
  });

  it('names a file in the way instead of making anything', () => {
    const file = path.join(root, 'file');
    writeFileSync(file, 'x');
    expect(() => makeFolders(path.join(file, 'sub'))).toThrow(/ENOTDIR|EEXIST/);
    expect(() => makeFolders(file)).toThrow(/EEXIST/);
  });

  // Node's own mkdirSync(…, { recursive: true }) never returns here: `check --junit
  // /proc/x/report.xml` hung instead of exiting 2.
  it.runIf(existsSync('/proc/self'))('fails at once under /proc instead of hanging', () => {
    expect(() => makeFolders('/proc/rehearse-no-such/deeper')).toThrow(/ENOENT/);
  });
});
