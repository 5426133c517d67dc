/**
 * Lets real I/O (Redis round trips, pub/sub delivery, file writes) proceed until `condition`
 * holds; fails after `timeoutMs` so a broken expectation never hangs a test.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 2_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not reached within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
