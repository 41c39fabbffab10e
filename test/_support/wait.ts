// Bounded waits: a test that waits for something names it, and fails after a short bound with
// what it saw instead, rather than by the 30 s test timeout with no word of what broke.

/** The bound the waits here use unless told (the machine is shared: generous, but far below 30 s). */
export const WAIT_TIMEOUT = 10_000;

/**
 * Poll `check` every `every` ms until it returns true. After `timeout` ms the error says
 * "`what`: not within N ms" and, given `seen`, what there was instead.
 */
export async function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  { timeout = WAIT_TIMEOUT, every = 20, seen }: { timeout?: number; every?: number; seen?: () => string } = {},
): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await check())) {
    if (Date.now() >= deadline) throw new Error(`${what}: not within ${timeout} ms${seen ? `; saw: ${seen()}` : ''}`);
    await new Promise((r) => setTimeout(r, every));
  }
}
