import { UserError } from '../src/config/errors.js';

/** The UserError `f` throws: any other error is rethrown, and none at all fails the test. */
export function userErrorOf(f: () => unknown): UserError {
  try {
    f();
  } catch (err) {
    if (err instanceof UserError) return err;
    throw err;
  }
  throw new Error('expected a UserError');
}
