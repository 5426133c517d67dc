import type { SalamaError } from 'salama';

/** The error `promise` rejects with; fails the test if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<SalamaError> {
  try {
    await promise;
  } catch (error) {
    return error as SalamaError;
  }
  throw new Error('expected a rejection');
}
