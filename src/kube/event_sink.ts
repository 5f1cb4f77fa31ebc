import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { EventSink } from "../daemon.ts";
export function createEventSink(_c: Config, _l: Logger, _m: Metrics, _s: AbortSignal): Promise<EventSink> {
  return Promise.reject(new Error("WIP"));
}
