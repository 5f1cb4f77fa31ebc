/**
 * Retry-After of an API answer (429, 503, …): the header the API server sends, or the
 * `details.retryAfterSeconds` of its Status body. One reading for every caller.
 * @module
 */

/** Retry-After in milliseconds (delta-seconds form only, as the API server sends it). */
export function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const text = Array.isArray(header) ? header[0] : header;
  if (text === undefined || !/^\d+$/.test(text.trim())) return undefined;
  return Number(text.trim()) * 1000;
}

/** Retry-After of an error answer, in ms, from the header or the Status details. */
export function retryAfterOf(
  headers: Record<string, string | string[] | undefined>,
  body: unknown,
): number | undefined {
  const fromHeader = retryAfterMs(headers["retry-after"]);
  if (fromHeader !== undefined) return fromHeader;
  const details = typeof body === "object" && body !== null
    ? (body as { details?: { retryAfterSeconds?: unknown } }).details
    : undefined;
  const seconds = details?.retryAfterSeconds;
  return typeof seconds === "number" && seconds > 0 ? seconds * 1000 : undefined;
}
