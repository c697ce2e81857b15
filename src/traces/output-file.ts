import path from 'node:path';
import { UserError } from '../config/errors.js';
import { makeFolders } from '../store/folders.js';

/** The output's folder, made if missing; a file in the way is the user's to move. */
export function makeFolderFor(out: string): void {
  const dir = path.dirname(out);
  if (!dir) return;
  try {
    makeFolders(dir);
  } catch (err) {
    throw new UserError(`${out}: cannot make its folder ${dir}: ${(err as Error).message}`);
  }
}
