/**
 * Words for paths this program's Deno permission set does not grant. Deno's own message advises
 * running again with an `--allow-…` flag, which the compiled binary does not take (its
 * permissions are fixed when it is built, `permissions.daemon` in deno.json), and in the compiled
 * binary to build it again with `deno compile --allow-…`. These messages say instead where the
 * production set lets the program read and write.
 * @module
 */

/** Where the production permission set lets the program read or write, by what is kept there. */
export const PRODUCTION_PATHS = {
  logs: "/var/log, /run/log/journal and /run/kube-iptables-tailer/kmsg",
  kubeconfig: "/etc/kube-iptables-tailer",
  state: "/var/lib/kube-iptables-tailer",
} as const;

/**
 * Why a path was refused, in the words every such message uses; `production` ends the sentence
 * "the production set …" with where it would work.
 *
 * @example
 * ```ts
 * `this program may not write there (${outsidePermissionSet("writes only under /var/lib/x")})`;
 * ```
 */
export function outsidePermissionSet(production: string): string {
  return `outside its permission set; the production set ${production}`;
}

/** Whether `error` is Deno refusing a path outside the permission set. */
export function isNotPermitted(error: unknown): boolean {
  return error instanceof Deno.errors.NotCapable;
}

/**
 * Deno's text of a refusal without its advice (`deno run`'s or, in the compiled binary, to
 * compile it again): `Requires read access to "/x"`.
 *
 * @example
 * ```ts
 * refusalText(new Error('Requires read access to "/x", run again with the --allow-read flag'));
 * // 'Requires read access to "/x"'
 * ```
 */
export function refusalText(error: Error): string {
  return error.message.replace(
    /,? (run again with the --allow-[a-z-]+ flag|specify the required permissions during compilation using).*$/s,
    "",
  );
}

/** Whether the permission set lets the program read `path` (asked without prompting). */
export function mayRead(path: string): boolean {
  return Deno.permissions.querySync({ name: "read", path }).state === "granted";
}

/** Whether the permission set lets the program write `path` (asked without prompting). */
export function mayWrite(path: string): boolean {
  return Deno.permissions.querySync({ name: "write", path }).state === "granted";
}
