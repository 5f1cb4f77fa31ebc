/**
 * Retry-After of an API answer (429, 503, …): the header the API server sends, or the
 * `details.retryAfterSeconds` of its Status body. One reading for every caller.
 * @module
 */

/**
 * An HTTP-date (RFC 9110 §5.6.7): IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, the obsolete
 * RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT` and asctime `Sun Nov  6 08:49:37 1994`. Checked
 * before `Date.parse`, which reads almost anything (`"1.5"` is 5 January 2001).
 */
const HTTP_DATE =
  /^[A-Za-z]{3,9}, \d{2}[ -][A-Za-z]{3}[ -]\d{2,4} \d{2}:\d{2}:\d{2} GMT$|^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/;

/**
 * Retry-After in milliseconds: delta-seconds, as the API server sends it, or an HTTP-date, as a
 * proxy or load balancer in front of it may (the time left until then by our clock, 0 when past).
 */
export function retryAfterMs(
  header: string | string[] | undefined,
  now = Date.now(),
): number | undefined {
  const text = (Array.isArray(header) ? header[0] : header)?.trim();
  if (text === undefined) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!HTTP_DATE.test(text)) return undefined;
  // asctime carries no zone: it is GMT too.
  const at = Date.parse(text.endsWith("GMT") ? text : `${text} GMT`);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The longest wait a Retry-After is taken for: a silly value (a huge number, a date far ahead,
 * or our clock far behind a proxy's) must not hold Events or the pod index back for hours.
 */
export const MAX_RETRY_AFTER_MS = 600_000;

/**
 * Retry-After of an error answer, in ms, from the header or the Status details; at most
 * {@link MAX_RETRY_AFTER_MS}.
 */
export function retryAfterOf(
  headers: Record<string, string | string[] | undefined>,
  body: unknown,
): number | undefined {
  const fromHeader = retryAfterMs(headers["retry-after"]);
  if (fromHeader !== undefined) return Math.min(fromHeader, MAX_RETRY_AFTER_MS);
  const details = typeof body === "object" && body !== null
    ? (body as { details?: { retryAfterSeconds?: unknown } }).details
    : undefined;
  const seconds = details?.retryAfterSeconds;
  return typeof seconds === "number" && seconds > 0
    ? Math.min(seconds * 1000, MAX_RETRY_AFTER_MS)
    : undefined;
}
