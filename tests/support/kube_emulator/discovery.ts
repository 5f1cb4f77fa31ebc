/**
 * Discovery documents in the classic format (`/version`, `/api`, `/api/v1`, `/apis`). Clients
 * that ask for aggregated discovery (apidiscovery.k8s.io/v2) with a fallback to
 * `application/json` get these and use the per-version documents, as with older servers.
 * @module
 */

import type { ResourceDef } from "./resources.ts";
import type { KubeObject } from "./types.ts";

/** The version the emulator claims to be. */
export const SERVER_VERSION = {
  major: "1",
  minor: "32",
  gitVersion: "v1.32.0",
  gitCommit: "0000000000000000000000000000000000000000",
  gitTreeState: "clean",
  buildDate: "2024-12-11T00:00:00Z",
  goVersion: "go1.23.3",
  compiler: "gc",
  platform: "linux/amd64",
};

/** `/api`: the legacy group's versions. */
export function apiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: "APIVersions",
    versions: ["v1"],
    serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
  };
}

/** `/apis`: the named groups (none besides the legacy core group). */
export function apiGroupList(): Record<string, unknown> {
  return { kind: "APIGroupList", apiVersion: "v1", groups: [] };
}

/** `/api/v1`: the resources served. */
// deno-lint-ignore no-explicit-any
export function apiResourceList(resources: ResourceDef<any>[]): Record<string, unknown> {
  return {
    kind: "APIResourceList",
    groupVersion: "v1",
    resources: resources.map((r: ResourceDef<KubeObject>) => ({
      name: r.resource,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs: r.verbs,
      ...(r.shortNames.length > 0 ? { shortNames: r.shortNames } : {}),
      ...(r.categories ? { categories: r.categories } : {}),
    })),
  };
}
