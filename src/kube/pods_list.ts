/**
 * One logical list of all Pods (`GET /api/v1/pods`), paginated with `limit` and `continue`.
 * The first page carries the requested resourceVersion semantics and passes the client-side
 * rate limit; continuation pages carry only the token (the API forbids `resourceVersion` with
 * `continue`) and skip the limiter (they are part of the same logical request).
 *
 * A page is read as it arrives and split into items (see {@link ListSplitter}): each item is
 * handed over once its bytes are in and nothing else of the page is kept, so a page costs the
 * memory of its largest item, however many items it has. That matters for the first list: the
 * API server's watch cache answers `resourceVersion=0` with every Pod in one page, whatever
 * `limit` says.
 *
 * @example
 * ```ts
 * const result = await listPods(client, { resourceVersion: "0", limit: 500 }, {
 *   signal, timeoutMs: 120_000, onItem: (item) => apply(item),
 * });
 * result.resourceVersion; // where to start the watch
 * ```
 * @module
 */

import { isJsonAnswer, type KubeClient, type StreamedResponse, TransportError } from "./client.ts";
import { ListFormatError, ListSplitter } from "./json_items.ts";
import { isRecord } from "./pods_info.ts";
import { errorBodyOf } from "./pods_watch.ts";
import { retryAfterOf } from "./retry_after.ts";

/** The path of all Pods in all namespaces. */
export const PODS_PATH = "/api/v1/pods";

/** What the first page asks for. */
export interface ListQuery {
  /** "0": any (from the watch cache); "": the latest (consistent); "N": per `match`. */
  resourceVersion: string;
  /** With a resourceVersion "N": not older than N (served from the watch cache when it can). */
  resourceVersionMatch?: "NotOlderThan";
  /** Page size; 0 for no limit. */
  limit: number;
}

/** Options of {@link listPods}. */
export interface ListOptions {
  signal: AbortSignal;
  /** Timeout of each page request. */
  timeoutMs: number;
  /** Called for every item, in order, as soon as it has arrived. Must not throw. */
  onItem(item: unknown): void;
  /**
   * Called for every item skipped unread for being larger than `maxItemBytes` (`index` counts
   * from 0 in its page, `page` from 1).
   */
  onOversized?(index: number, bytes: number, page: number): void;
  /** Called after every page with the count so far. */
  onPage?(pages: number, items: number): void;
  /** Largest item read (default 8 MiB, see `DEFAULT_MAX_ITEM_BYTES` in json_items.ts). */
  maxItemBytes?: number;
}

/** A complete list. */
export interface ListResult {
  /** The list's resourceVersion (the first page's; every page is at it). */
  resourceVersion: string;
  pages: number;
  items: number;
}

/** Why a list failed. */
export type ListFailureKind =
  /** 410 Gone: the resourceVersion (or the continue token's) is no longer available. */
  | "expired"
  /** 504 with cause ResourceVersionTooLarge: the server has not reached that version. */
  | "too_large"
  /** Another HTTP error status. */
  | "refused"
  /** No answer (connection refused or reset, timeout). */
  | "transport"
  /**
   * An answer that is not a list (not JSON, items not an array, no resourceVersion), or that
   * ended early although the connection did not.
   */
  | "bad_answer"
  | "aborted";

/** A failed list, with what the caller needs to decide how to go on. */
export class ListFailure extends Error {
  override name = "ListFailure";
  constructor(
    message: string,
    readonly kind: ListFailureKind,
    readonly details: {
      status?: number;
      /** From Retry-After or the Status's `details.retryAfterSeconds`. */
      retryAfterMs?: number;
      /** Whether it happened on a continuation page. */
      continuing?: boolean;
    } = {},
  ) {
    super(message);
  }
}

// deno-lint-ignore no-explicit-any
type Json = any;

/** Short text of an answer body for error messages. */
export function preview(body: unknown): string {
  const text = typeof body === "string" ? body : JSON.stringify(body) ?? String(body);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** The message of a Status body, or a preview of whatever the body is. */
export function statusMessage(body: unknown): string {
  if (isRecord(body) && typeof body.message === "string") return body.message;
  return preview(body);
}

/** Whether a Status says the resourceVersion is ahead of the server (504 ResourceVersionTooLarge). */
export function isTooLargeStatus(status: number, body: unknown): boolean {
  if (status !== 504 || !isRecord(body) || !isRecord(body.details)) return false;
  const causes = body.details.causes;
  return Array.isArray(causes) &&
    causes.some((c: unknown) => isRecord(c) && c.reason === "ResourceVersionTooLarge");
}

/** Lists all Pods, page by page. Rejects with {@link ListFailure} only. */
export async function listPods(
  client: KubeClient,
  query: ListQuery,
  options: ListOptions,
): Promise<ListResult> {
  const { signal } = options;
  let resourceVersion = "";
  let token: string | undefined;
  let pages = 0;
  let items = 0;
  do {
    const continuing = token !== undefined;
    const params: Record<string, string | number | undefined> = continuing
      ? { limit: query.limit > 0 ? query.limit : undefined, continue: token }
      : {
        limit: query.limit > 0 ? query.limit : undefined,
        resourceVersion: query.resourceVersion === "" ? undefined : query.resourceVersion,
        resourceVersionMatch: query.resourceVersionMatch,
      };
    const where = continuing ? `page ${pages + 1}` : "first page";
    let response: StreamedResponse;
    try {
      response = await client.stream("GET", PODS_PATH, {
        query: params,
        timeoutMs: options.timeoutMs,
        signal,
        rateLimited: !continuing,
      });
    } catch (error) {
      throw failureOf(error, signal, `${where}: no answer`, continuing);
    }
    const { status } = response;
    if (status !== 200) {
      const body = await errorBodyOf(response);
      const details = {
        status,
        retryAfterMs: retryAfterOf(response.headers, body),
        continuing,
      };
      const message = `${where}: HTTP ${status}: ${statusMessage(body)}`;
      if (status === 410) throw new ListFailure(message, "expired", details);
      if (isTooLargeStatus(status, body)) throw new ListFailure(message, "too_large", details);
      throw new ListFailure(message, "refused", details);
    }
    const page = await readPage(response, pages + 1, where, continuing, options);
    const meta = page.metadata;
    if (!continuing) {
      if (typeof meta.resourceVersion !== "string" || meta.resourceVersion === "") {
        throw new ListFailure(`${where}: no metadata.resourceVersion`, "bad_answer");
      }
      resourceVersion = meta.resourceVersion;
    }
    pages++;
    items += page.items;
    options.onPage?.(pages, items);
    const next = typeof meta.continue === "string" && meta.continue !== ""
      ? meta.continue
      : undefined;
    if (next !== undefined && next === token) {
      throw new ListFailure(`${where}: the same continue token again`, "bad_answer", {
        continuing,
      });
    }
    token = next;
  } while (token !== undefined);
  return { resourceVersion, pages, items };
}

/** What is left of a page once its items are handed over. */
interface PageSummary {
  metadata: Record<string, Json>;
  items: number;
}

/** Reads a 200 answer, handing its items over as they arrive. */
async function readPage(
  response: StreamedResponse,
  page: number,
  where: string,
  continuing: boolean,
  options: ListOptions,
): Promise<PageSummary> {
  const type = response.headers["content-type"];
  if (type !== undefined && !isJsonAnswer(response.headers)) {
    response.cancel();
    throw new ListFailure(`${where}: not JSON (Content-Type ${type})`, "bad_answer", {
      continuing,
    });
  }
  const splitter = new ListSplitter({ maxItemBytes: options.maxItemBytes });
  let metadata: unknown;
  try {
    for await (const chunk of response.body) {
      for (const part of splitter.push(chunk)) {
        if (part.kind === "item") options.onItem(part.value);
        else if (part.kind === "metadata") metadata = part.value;
        else options.onOversized?.(part.index, part.bytes, page);
      }
    }
    splitter.finish();
  } catch (error) {
    response.cancel();
    if (error instanceof ListFormatError) {
      throw new ListFailure(`${where}: ${error.message}`, "bad_answer", { continuing });
    }
    if (error instanceof TransportError || options.signal.aborted) {
      throw failureOf(error, options.signal, `${where}: answer cut`, continuing);
    }
    throw new ListFailure(
      `${where}: unexpected: ${(error as Error)?.stack ?? error}`,
      "bad_answer",
      { continuing },
    );
  }
  if (!splitter.hasItems) {
    throw new ListFailure(`${where}: "items" is missing`, "bad_answer", { continuing });
  }
  return { metadata: isRecord(metadata) ? metadata : {}, items: splitter.items };
}

/** The ListFailure for a request or read that threw. */
function failureOf(
  error: unknown,
  signal: AbortSignal,
  what: string,
  continuing: boolean,
): ListFailure {
  if (signal.aborted) return new ListFailure("aborted", "aborted");
  const message = error instanceof TransportError
    ? error.message
    : `unexpected: ${(error as Error)?.message ?? error}`;
  return new ListFailure(`${what}: ${message}`, "transport", { continuing });
}
