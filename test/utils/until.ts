// Waiting in end-to-end tests for something another process does: polled every 50 ms, named when it times out.

/** Resolves once `check` holds; throws `timed out waiting for <what>` after `ms`. */
export async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  for (const end = Date.now() + ms; !(await check());) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
