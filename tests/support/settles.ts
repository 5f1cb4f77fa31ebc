/**
 * Fails a test when an abort is not honoured: the promise must settle well before what it would
 * otherwise wait for (a poll interval of minutes), not merely eventually.
 * @module
 */

/** `promise`'s value; a failure naming `what` when it has not settled within `ms`. */
export async function settlesWithin<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
