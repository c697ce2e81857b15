import { randomUUID } from 'node:crypto';
import { UserError } from '../config/errors.js';
import type { Store } from './database.js';

export const VERSION = '0.1.0';

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** Records an invocation as running; `finishInvocation` closes it with its status. */
export async function startInvocation(store: Store, command: string, args: unknown, id: string = randomUUID()): Promise<string> {
  // An empty id (an unset variable) could be neither reported nor merged by name.
  if (id.trim() === '') throw new UserError('--invocation: empty id');
  const existing = await store.connection.runAndReadAll(`SELECT count(*)::INT FROM invocations WHERE invocation_id = ${sqlString(id)}`);
  if (Number(existing.getRowsJson()[0]![0]) > 0) {
    throw new UserError(`${store.file}: invocation ${id} is already recorded in this file; give each shard its own --db and join them with \`rehearse merge\``);
  }
  await store.run(
    `INSERT INTO invocations VALUES (${sqlString(id)}, ${sqlString(command)}, ${sqlString(JSON.stringify(args))}, now(), NULL, 'running', ${sqlString(VERSION)})`,
  );
  return id;
}

export async function finishInvocation(store: Store, id: string, status: 'ok' | 'failed' | 'interrupted'): Promise<void> {
  await store.run(`UPDATE invocations SET finished_at = now(), status = ${sqlString(status)} WHERE invocation_id = ${sqlString(id)}`);
}
