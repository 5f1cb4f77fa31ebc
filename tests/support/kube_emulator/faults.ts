/**
 * Fault injection for the emulator: added latency, failed answers (500/503/429 with
 * Retry-After), connections dropped without an answer, and open watches cut mid-stream or held
 * silent.
 *
 * @example
 * ```ts
 * api.faults.failNext({ count: 2, status: 429, retryAfterSeconds: 1, method: "POST" });
 * api.faults.dropNext({ pathPattern: /\/events$/ });
 * api.faults.silenceWatches(); // open watches go quiet, as on a connection that died
 * ```
 * @module
 */

import { failure, internalError, serviceUnavailable, type Status } from "./status.ts";

/** Which requests a fault applies to (all when omitted). */
export interface FaultMatch {
  /** HTTP method, e.g. "POST". */
  method?: string;
  /** A substring of the path, or a RegExp tested against the path. */
  pathPattern?: string | RegExp;
}

/** A failure to answer with instead of serving the request. */
export interface FailSpec extends FaultMatch {
  /** How many matching requests fail (default 1). */
  count?: number;
  /**
   * 500 (InternalError), 503 (ServiceUnavailable), 429 (as API Priority and Fairness answers:
   * plain text, no Status), or another code with the reason the real server gives it (400
   * BadRequest, 403 Forbidden, 409 Conflict, …).
   */
  status: number;
  /**
   * Sets the Retry-After header and, on a Status, `details.retryAfterSeconds`. 429 defaults
   * to 1.
   */
  retryAfterSeconds?: number;
}

/** Connections to destroy without an answer. */
export interface DropSpec extends FaultMatch {
  /** How many matching requests are dropped (default 1). */
  count?: number;
}

interface Pending<T> {
  spec: T;
  left: number;
}

function matches(spec: FaultMatch, method: string, path: string): boolean {
  if (spec.method && spec.method.toUpperCase() !== method) return false;
  if (spec.pathPattern === undefined) return true;
  return typeof spec.pathPattern === "string"
    ? path.includes(spec.pathPattern)
    : spec.pathPattern.test(path);
}

function take<T extends FaultMatch>(
  queue: Pending<T>[],
  method: string,
  path: string,
): T | undefined {
  const index = queue.findIndex((p) => matches(p.spec, method, path));
  if (index < 0) return undefined;
  const pending = queue[index];
  if (--pending.left <= 0) queue.splice(index, 1);
  return pending.spec;
}

/** The Status reason kube-apiserver uses with each code. */
const REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  409: "Conflict",
  410: "Expired",
  413: "RequestEntityTooLarge",
  415: "UnsupportedMediaType",
  422: "Invalid",
  504: "Timeout",
};

/** An injected failure as it goes on the wire. */
export interface FailureAnswer {
  code: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * The text kube-apiserver's overload filters answer 429 with. API Priority and Fairness and the
 * max-in-flight filter (k8s.io/apiserver pkg/server/filters: priority-and-fairness.go and
 * maxinflight.go, `tooManyRequests`) reject with Go's `http.Error`: a `text/plain` body, the
 * Retry-After header, and no Status object (so no `details.retryAfterSeconds`).
 */
export const TOO_MANY_REQUESTS_TEXT = "Too many requests, please try again later.";

/** The answer of an injected failure. */
export function failureAnswer(spec: FailSpec): FailureAnswer {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (spec.status === 429) {
    return {
      code: 429,
      headers: {
        "Content-Type": "text/plain; charset=utf-8",
        "X-Content-Type-Options": "nosniff",
        "Retry-After": String(spec.retryAfterSeconds ?? 1),
      },
      body: `${TOO_MANY_REQUESTS_TEXT}\n`,
    };
  }
  let status: Status;
  if (spec.status === 503) status = serviceUnavailable();
  else if (spec.status === 500) status = internalError("injected fault");
  else {
    status = failure(
      spec.status,
      REASONS[spec.status] ?? "Unknown",
      `injected fault (HTTP ${spec.status})`,
    );
  }
  if (spec.retryAfterSeconds !== undefined) {
    headers["Retry-After"] = String(spec.retryAfterSeconds);
    status.details = { ...status.details, retryAfterSeconds: spec.retryAfterSeconds };
  }
  return { code: status.code, headers, body: JSON.stringify(status) };
}

/** The fault switches of one emulator. */
export class Faults {
  /** Milliseconds added before every answer (and before a watch starts). */
  latencyMs = 0;
  readonly #failures: Pending<FailSpec>[] = [];
  readonly #drops: Pending<DropSpec>[] = [];
  readonly #closeWatches: () => number;
  readonly #silenceWatches: () => number;

  constructor(closeWatches: () => number, silenceWatches: () => number) {
    this.#closeWatches = closeWatches;
    this.#silenceWatches = silenceWatches;
  }

  /** Makes the next `count` matching requests fail with `status`. */
  failNext(spec: FailSpec): void {
    this.#failures.push({ spec, left: spec.count ?? 1 });
  }

  /** Makes the next `count` matching requests lose their connection without an answer. */
  dropNext(spec: DropSpec = {}): void {
    this.#drops.push({ spec, left: spec.count ?? 1 });
  }

  /** Cuts every open watch mid-stream (the connection is destroyed); returns how many. */
  closeWatches(): number {
    return this.#closeWatches();
  }

  /**
   * Holds every open watch silent from now on; returns how many. The connection stays open but
   * nothing more is written on it (no event, no BOOKMARK, not the end at `timeoutSeconds`), as
   * when the server or a load balancer vanishes without a FIN or RST. Watches opened later are
   * served as usual.
   */
  silenceWatches(): number {
    return this.#silenceWatches();
  }

  /** Removes pending failures and drops and sets latency back to 0. */
  clear(): void {
    this.latencyMs = 0;
    this.#failures.length = 0;
    this.#drops.length = 0;
  }

  /** @internal The failure for this request, consuming one. */
  takeFailure(method: string, path: string): FailSpec | undefined {
    return take(this.#failures, method, path);
  }

  /** @internal Whether to drop this request, consuming one. */
  takeDrop(method: string, path: string): boolean {
    return take(this.#drops, method, path) !== undefined;
  }
}
