import { randomUUID } from 'node:crypto';
import type { Store } from './database.js';

export const VERSION = '0.1.0';

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** Records an invocation as running; `finishInvocation` closes it with its status. */
export async function startInvocation(store: Store, command: string, args: unknown): Promise<string> {
  const id = randomUUID();
  await store.run(
    `INSERT INTO invocations VALUES (${sqlString(id)}, ${sqlString(command)}, ${sqlString(JSON.stringify(args))}, now(), NULL, 'running', ${sqlString(VERSION)})`,
  );
  return id;
}

export async function finishInvocation(store: Store, id: string, status: 'ok' | 'failed' | 'interrupted'): Promise<void> {
  await store.run(`UPDATE invocations SET finished_at = now(), status = ${sqlString(status)} WHERE invocation_id = ${sqlString(id)}`);
}
