/** The daemon: wired in the tailing work. */
import type { Config } from "./config.ts";
export function runDaemon(_config: Config): Promise<number> {
  return Promise.reject(new Error("the daemon is not wired yet"));
}
