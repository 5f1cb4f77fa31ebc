/**
 * A bearer token kept in a file that something else rotates: the service-account token kubelet
 * projects into the pod, or a kubeconfig's `tokenFile`. Read again at most every
 * {@link TOKEN_FILE_REREAD_MS} ms, as client-go reads one, so a rotated token is in use before
 * the old one expires (and not only after the server refused it). A read that fails after a
 * good one keeps the token read before (client-go does the same): kubelet swaps the file
 * atomically, so a failure is a passing state, and the old token still works for a while.
 *
 * @example
 * ```ts
 * const file = new TokenFile("/var/run/secrets/kubernetes.io/serviceaccount/token");
 * headers["Authorization"] = `Bearer ${file.token()}`;
 * ```
 * @module
 */

/** How often, at most, a token file is read again: client-go's cached file token source's minute. */
export const TOKEN_FILE_REREAD_MS = 60_000;

/** What {@link TokenFile} needs from its surroundings (tests give a clock and a reader). */
export interface TokenFileOptions {
  rereadMs?: number;
  now?: () => number;
  read?: (path: string) => string;
  /** Told once per streak of failed reads that the token read before is kept. */
  onStale?: (path: string, error: unknown) => void;
}

/** The token in a file, read again at most every {@link TokenFileOptions.rereadMs} ms. */
export class TokenFile {
  readonly path: string;
  #rereadMs: number;
  #now: () => number;
  #read: (path: string) => string;
  #onStale?: (path: string, error: unknown) => void;
  #token: string | undefined;
  #readAt = -Infinity;
  #failing = false;

  constructor(path: string, options: TokenFileOptions = {}) {
    this.path = path;
    this.#rereadMs = options.rereadMs ?? TOKEN_FILE_REREAD_MS;
    this.#now = options.now ?? (() => performance.now());
    this.#read = options.read ?? ((file) => Deno.readTextFileSync(file));
    this.#onStale = options.onStale;
  }

  /**
   * The token (trimmed, as client-go trims it: `kubectl create token > file` ends in a newline).
   * @throws the read's error when the file has never been read.
   */
  token(): string {
    const now = this.#now();
    if (this.#token !== undefined && now - this.#readAt < this.#rereadMs) return this.#token;
    try {
      const token = this.#read(this.path).trim();
      if (token === "") throw new Error("the file is empty");
      this.#token = token;
      this.#failing = false;
    } catch (error) {
      if (this.#token === undefined) {
        throw new Error(
          `cannot read the token file ${JSON.stringify(this.path)}: ${
            (error as Error)?.message ?? error
          }`,
          { cause: error },
        );
      }
      if (!this.#failing) this.#onStale?.(this.path, error);
      this.#failing = true;
    }
    this.#readAt = now;
    return this.#token;
  }

  /** Has the next {@link token} read the file again (after the server refused the token). */
  forget(): void {
    this.#readAt = -Infinity;
  }
}
