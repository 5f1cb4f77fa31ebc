/**
 * Reads one watch answer: a chunked body of one JSON event per line
 * (`{"type":"ADDED","object":{…}}`), handed over event by event. The request itself is the
 * caller's (`KubeClient.stream` with `watch: true`), so it carries the client's credentials,
 * agent and metrics, and its path stays visible where it is made.
 *
 * Why not client-node's `Watch`: it drops lines it cannot parse without telling anyone (an
 * event silently lost is an index silently wrong; here the caller learns of it and resumes
 * from the last good resourceVersion, so the event comes again), swallows exceptions of the
 * callback, and cannot be cancelled before the answer's headers arrive (a stalled connect would
 * outlive shutdown).
 *
 * @example
 * ```ts
 * const end = await streamWatch({
 *   open: (signal) => client.stream("GET", "/api/v1/pods", {
 *     query: { watch: true, resourceVersion: "123" }, signal, timeoutMs: 660_000,
 *   }),
 *   signal,
 *   idleMs: 150_000,
 *   onEvent: (type, object) => { apply(type, object); return true; },
 * });
 * ```
 * @module
 */

import { retryAfterOf } from "./retry_after.ts";
import { readBody, type StreamedResponse, TransportError } from "./client.ts";

/** Options of {@link streamWatch}. */
export interface WatchStreamOptions {
  /**
   * Sends the watch request with `signal` (which aborts on the caller's `signal` and at the
   * idle limit). Its timeout bounds the whole stream (outcome `deadline`): the server closes a
   * watch after its `timeoutSeconds`, so a stream that outlives that by far sits on a dead
   * connection.
   */
  open(signal: AbortSignal): Promise<StreamedResponse>;
  /** The caller's signal: its abort ends the stream (outcome `aborted`). */
  signal: AbortSignal;
  /**
   * Longest silence, in ms: when neither the answer's headers nor any byte of its body arrive
   * for this long, the stream is ended (outcome `idle`). Default: no limit. Worth setting only
   * on a watch that asks for bookmarks, which a live server never leaves silent for long; the
   * request's own timeout would notice a dead connection only after minutes.
   */
  idleMs?: number;
  /** Called for every event line in order; return false to stop reading (outcome `stopped`). */
  onEvent(type: unknown, object: unknown): boolean;
  /**
   * Longest event line read, in characters (default {@link DEFAULT_MAX_LINE_LENGTH}); longer
   * lines are skipped unread (the text held for a line never grows past this) and reported to
   * `onOversized`, and the stream goes on.
   */
  maxLineLength?: number;
  /** Called for every line skipped for its length, with that length. */
  onOversized?(length: number): void;
}

/** Default {@link WatchStreamOptions.maxLineLength}: 8 MiB, far over etcd's object limit. */
export const DEFAULT_MAX_LINE_LENGTH = 8 * 1024 * 1024;

/** Why a watch stream ended. */
export type WatchEnd =
  /** The server ended the stream; `clean` when the chunked answer was complete. */
  | { kind: "closed"; clean: boolean; message?: string }
  /** The server answered without a stream (`status` other than 200; `body` as parsed). */
  | { kind: "refused"; status: number; body: unknown; retryAfterMs?: number }
  /** No answer: connection refused or reset, TLS or credential failure. */
  | { kind: "failed"; message: string }
  /** A line that is not a JSON event (`line` is its start). */
  | { kind: "bad_line"; line: string; message: string }
  | { kind: "stopped" }
  | { kind: "deadline" }
  /** Nothing arrived for `silentMs` (at least the idle limit): the connection is presumed dead. */
  | { kind: "idle"; silentMs: number }
  | { kind: "aborted" };

/** Error answers are Statuses of a few hundred bytes; more than this is not worth reading. */
const MAX_ERROR_BODY = 64 * 1024;

/** Runs one watch request until it ends; never rejects. */
export async function streamWatch(options: WatchStreamOptions): Promise<WatchEnd> {
  if (options.signal.aborted) return { kind: "aborted" };
  const idle = new IdleLimit(options.signal, options.idleMs);
  try {
    return await readWatch(options, idle);
  } finally {
    idle.stop();
  }
}

/** {@link streamWatch}'s work, under an idle limit that is stopped when it returns. */
async function readWatch(options: WatchStreamOptions, idle: IdleLimit): Promise<WatchEnd> {
  const ended = (error: unknown, otherwise: (message: string) => WatchEnd) =>
    endOf(error, options.signal, idle, otherwise);
  let response: StreamedResponse;
  try {
    response = await options.open(idle.signal);
  } catch (error) {
    return ended(error, (message) => ({ kind: "failed", message }));
  }
  idle.heard();
  if (response.status !== 200) {
    const body = await errorBodyOf(response);
    return {
      kind: "refused",
      status: response.status,
      body,
      retryAfterMs: retryAfterOf(response.headers, body),
    };
  }
  const lines = new EventLines(
    options.onEvent,
    options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH,
    options.onOversized ?? (() => {}),
  );
  const decoder = new TextDecoder();
  let end: WatchEnd | undefined;
  try {
    for await (const chunk of response.body) {
      idle.heard();
      end = lines.take(decoder.decode(chunk, { stream: true }));
      if (end) break; // which closes the connection
    }
  } catch (error) {
    return ended(error, (message) => ({ kind: "closed", clean: false, message }));
  }
  response.cancel(); // a no-op when the body was read to its end
  if (end) return end;
  end = lines.take(decoder.decode());
  if (end) return end;
  // A last line without its newline: the stream was cut inside an event.
  if (lines.pending) {
    return { kind: "closed", clean: false, message: "stream ended inside an event" };
  }
  return { kind: "closed", clean: true };
}

/** How a failure of the request or its stream ends the watch. */
function endOf(
  error: unknown,
  signal: AbortSignal,
  idle: IdleLimit,
  otherwise: (message: string) => WatchEnd,
): WatchEnd {
  if (signal.aborted) return { kind: "aborted" };
  if (idle.silentMs !== undefined) return { kind: "idle", silentMs: idle.silentMs };
  if (error instanceof TransportError && error.timeout) return { kind: "deadline" };
  return otherwise((error as Error)?.message ?? String(error));
}

/**
 * The idle limit of one watch: its {@link signal} aborts when the caller's does, or when
 * nothing was {@link heard} for `limitMs` (then {@link silentMs} says for how long). One timer,
 * re-armed only when it fires early: hearing a chunk costs a clock read, not a timer.
 */
class IdleLimit {
  /** How long nothing had arrived when the limit ended the stream; undefined until it does. */
  silentMs: number | undefined;
  readonly #controller = new AbortController();
  readonly #caller: AbortSignal;
  readonly #limitMs: number;
  #last = performance.now();
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #onAbort = () => this.#controller.abort(this.#caller.reason);

  constructor(caller: AbortSignal, limitMs: number | undefined) {
    this.#caller = caller;
    this.#limitMs = limitMs ?? Infinity;
    caller.addEventListener("abort", this.#onAbort, { once: true });
    if (this.#limitMs > 0 && Number.isFinite(this.#limitMs)) this.#arm(this.#limitMs);
  }

  /** Aborts on the caller's signal or at the idle limit: the request's signal. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Something arrived: the silence starts over. */
  heard(): void {
    this.#last = performance.now();
  }

  /** The stream is over: no timer, no listener. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#caller.removeEventListener("abort", this.#onAbort);
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#check(), ms);
  }

  #check(): void {
    const silent = performance.now() - this.#last;
    if (silent < this.#limitMs) return this.#arm(this.#limitMs - silent);
    this.silentMs = Math.round(silent);
    this.#controller.abort(new TransportError(`nothing received for ${this.silentMs} ms`));
  }
}

/** Splits decoded text into event lines and hands each event over. */
class EventLines {
  #pending = "";
  /** Characters of an over-long line skipped so far; -1 when not inside one. */
  #skipped = -1;

  constructor(
    readonly onEvent: (type: unknown, object: unknown) => boolean,
    readonly maxLine: number,
    readonly onOversized: (length: number) => void,
  ) {}

  /** Whether a partial line is waiting for its end. */
  get pending(): boolean {
    return this.#skipped >= 0 || this.#pending.trim() !== "";
  }

  /** Takes more text; returns how the stream ends when one of its lines ends it. */
  take(text: string): WatchEnd | undefined {
    let start = 0;
    if (this.#skipped >= 0) {
      const newline = text.indexOf("\n");
      if (newline < 0) {
        this.#skipped += text.length;
        return undefined;
      }
      this.onOversized(this.#skipped + newline);
      this.#skipped = -1;
      start = newline + 1;
    }
    const pending = this.#pending.length === 0
      ? (start === 0 ? text : text.slice(start))
      : this.#pending + text;
    start = 0;
    for (;;) {
      const newline = pending.indexOf("\n", start);
      if (newline < 0) break;
      if (newline - start > this.maxLine) this.onOversized(newline - start);
      else {
        const end = this.#line(pending.slice(start, newline));
        if (end) return end;
      }
      start = newline + 1;
    }
    this.#pending = start === 0 ? pending : pending.slice(start);
    if (this.#pending.length > this.maxLine) {
      this.#skipped = this.#pending.length;
      this.#pending = "";
    }
    return undefined;
  }

  #line(line: string): WatchEnd | undefined {
    if (line.trim() === "") return undefined;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch (error) {
      return { kind: "bad_line", line: line.slice(0, 200), message: (error as Error).message };
    }
    if (typeof event !== "object" || event === null || Array.isArray(event)) {
      return { kind: "bad_line", line: line.slice(0, 200), message: "not a JSON object" };
    }
    const { type, object } = event as { type?: unknown; object?: unknown };
    try {
      return this.onEvent(type, object) ? undefined : { kind: "stopped" };
    } catch (error) {
      return { kind: "failed", message: `event handler: ${(error as Error).message}` };
    }
  }
}

/**
 * The body of an error answer (usually a Status), parsed when it is JSON; never rejects: an
 * answer that cannot be read gives a text saying why.
 */
export async function errorBodyOf(response: StreamedResponse): Promise<unknown> {
  try {
    return await readBody(response, MAX_ERROR_BODY);
  } catch (error) {
    return `(unreadable answer: ${(error as Error)?.message ?? error})`;
  }
}
