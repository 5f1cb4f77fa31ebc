/**
 * One watch request: a GET with `watch=true` whose chunked answer is one JSON event per line
 * (`{"type":"ADDED","object":{…}}`), read with `node:http(s)` on the client's credentials.
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
 *   client, path: "/api/v1/pods", query: { resourceVersion: "123" }, signal, deadlineMs: 660_000,
 *   onEvent: (type, object) => { apply(type, object); return true; },
 * });
 * ```
 * @module
 */

import http from "node:http";
import https from "node:https";
import type { KubeClient } from "./client.ts";

/** Options of {@link streamWatch}. */
export interface WatchStreamOptions {
  client: KubeClient;
  /** e.g. `/api/v1/pods`. */
  path: string;
  /** Query parameters besides `watch=true`. */
  query: Record<string, string | number | boolean | undefined>;
  /** Ends the stream (outcome `aborted`). */
  signal: AbortSignal;
  /**
   * Ends the stream when neither side has by then: the server closes a watch after its
   * `timeoutSeconds`, so a stream that outlives that by far sits on a dead connection.
   */
  deadlineMs: number;
  /** Called for every event line in order; return false to stop reading (outcome `stopped`). */
  onEvent(type: unknown, object: unknown): boolean;
  /** Longest accepted line (default 64 MiB); a longer one ends the stream as `bad_line`. */
  maxLineLength?: number;
}

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
  | { kind: "aborted" };

const MAX_ERROR_BODY = 64 * 1024;

/** Runs one watch request until it ends; never rejects. */
export async function streamWatch(options: WatchStreamOptions): Promise<WatchEnd> {
  const { client, signal } = options;
  if (signal.aborted) return { kind: "aborted" };
  const url = new URL(client.server + options.path);
  url.searchParams.set("watch", "true");
  for (const [key, value] of Object.entries(options.query)) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  const requestOptions: https.RequestOptions = { headers: {} };
  try {
    await client.kubeConfig.applyToHTTPSOptions(requestOptions);
  } catch (error) {
    return { kind: "failed", message: `credentials: ${(error as Error).message}` };
  }
  if (signal.aborted) return { kind: "aborted" };
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(requestOptions.headers ?? {})) {
    if (value !== undefined) headers[key] = String(value);
  }
  if (requestOptions.auth) headers["Authorization"] = `Basic ${btoa(requestOptions.auth)}`;
  headers["Accept"] = "application/json";
  headers["User-Agent"] = "kube-iptables-tailer";
  const maxLine = options.maxLineLength ?? 64 * 1024 * 1024;

  return await new Promise<WatchEnd>((resolve) => {
    let settled = false;
    const finish = (end: WatchEnd) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      signal.removeEventListener("abort", onAbort);
      request.destroy();
      resolve(end);
    };
    const onAbort = () => finish({ kind: "aborted" });
    const lib = url.protocol === "https:" ? https : http;
    const request = lib.request(
      url,
      { method: "GET", headers, agent: requestOptions.agent },
      (response) => {
        const status = response.statusCode ?? 0;
        if (status !== 200) {
          readErrorBody(response, (body) =>
            finish({
              kind: "refused",
              status,
              body,
              retryAfterMs: retryAfterMs(response.headers["retry-after"]),
            }));
          return;
        }
        const decoder = new TextDecoder();
        let pending = "";
        let ended = false;
        const take = (text: string) => {
          pending = pending.length === 0 ? text : pending + text;
          let start = 0;
          for (;;) {
            const newline = pending.indexOf("\n", start);
            if (newline < 0) break;
            const line = pending.slice(start, newline);
            start = newline + 1;
            if (!handleLine(line)) return;
          }
          pending = start === 0 ? pending : pending.slice(start);
          if (pending.length > maxLine) {
            finish({
              kind: "bad_line",
              line: pending.slice(0, 200),
              message: `a watch line longer than ${maxLine} characters`,
            });
          }
        };
        // Returns false once the stream is finished.
        const handleLine = (line: string): boolean => {
          if (settled) return false;
          if (line.trim() === "") return true;
          let event: unknown;
          try {
            event = JSON.parse(line);
          } catch (error) {
            finish({
              kind: "bad_line",
              line: line.slice(0, 200),
              message: (error as Error).message,
            });
            return false;
          }
          if (typeof event !== "object" || event === null || Array.isArray(event)) {
            finish({ kind: "bad_line", line: line.slice(0, 200), message: "not a JSON object" });
            return false;
          }
          const { type, object } = event as { type?: unknown; object?: unknown };
          let more: boolean;
          try {
            more = options.onEvent(type, object);
          } catch (error) {
            finish({ kind: "failed", message: `event handler: ${(error as Error).message}` });
            return false;
          }
          if (!more) finish({ kind: "stopped" });
          return more && !settled;
        };
        response.on("data", (chunk: Uint8Array) => {
          if (!settled) take(decoder.decode(chunk, { stream: true }));
        });
        response.on("end", () => {
          ended = true;
          if (settled) return;
          const rest = decoder.decode();
          if (rest) take(rest);
          if (!settled && pending.trim() !== "") {
            // A last line without its newline: the stream was cut inside an event.
            finish({ kind: "closed", clean: false, message: "stream ended inside an event" });
          }
          finish({ kind: "closed", clean: true });
        });
        response.on("error", (error: Error) => {
          finish({ kind: "closed", clean: false, message: error.message });
        });
        response.on("close", () => {
          if (!ended) finish({ kind: "closed", clean: false, message: "connection closed" });
        });
      },
    );
    request.on("error", (error: Error) => finish({ kind: "failed", message: error.message }));
    const deadline = setTimeout(() => finish({ kind: "deadline" }), options.deadlineMs);
    signal.addEventListener("abort", onAbort, { once: true });
    request.end();
  });
}

/** Reads (a bounded prefix of) an error answer and parses it when it is JSON. */
function readErrorBody(response: http.IncomingMessage, done: (body: unknown) => void): void {
  const chunks: Uint8Array[] = [];
  let size = 0;
  let called = false;
  const finish = () => {
    if (called) return;
    called = true;
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, at);
      at += chunk.length;
    }
    const text = new TextDecoder().decode(bytes);
    try {
      done(JSON.parse(text));
    } catch {
      done(text);
    }
  };
  response.on("data", (chunk: Uint8Array) => {
    if (size >= MAX_ERROR_BODY) return;
    const part = chunk.subarray(0, MAX_ERROR_BODY - size);
    chunks.push(part);
    size += part.length;
  });
  response.on("end", finish);
  response.on("error", finish);
  response.on("close", finish);
}

/** Retry-After in milliseconds (delta-seconds form only, as the API server sends it). */
export function retryAfterMs(header: string | string[] | undefined): number | undefined {
  const text = Array.isArray(header) ? header[0] : header;
  if (text === undefined || !/^\d+$/.test(text.trim())) return undefined;
  return Number(text.trim()) * 1000;
}
