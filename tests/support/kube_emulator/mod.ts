/**
 * A stand-in for kube-apiserver, over real HTTP or HTTPS, that the real
 * `@kubernetes/client-node` and the real `kubectl` talk to: discovery, Pods (get, list with
 * pagination and selectors, watch), core/v1 Events (create, get, list, update, patch, delete,
 * with the real server's validation and error Statuses) and Namespaces, plus bearer-token
 * authentication, fault injection and a record of every request.
 *
 * @example
 * ```ts
 * import { startKubeEmulator } from "./tests/support/kube_emulator/mod.ts";
 *
 * await using api = await startKubeEmulator({ tls: true, token: "s3cret" });
 * api.addPod({ namespace: "shop", name: "web-0", nodeName: "node-a", podIPs: ["10.244.1.10"] });
 * // kubectl --kubeconfig api.kubeconfigPath get pods -A
 * // new KubeConfig().loadFromFile(api.kubeconfigPath) for client-node
 * api.faults.failNext({ status: 503, method: "POST", pathPattern: "/events" });
 * ```
 * @module
 */

export {
  type KubeEmulator,
  type KubeEmulatorOptions,
  type RecordedRequest,
  startKubeEmulator,
} from "./emulator.ts";
export type { DropSpec, FailSpec, FaultMatch, Faults } from "./faults.ts";
export type { PodChanges, PodInput } from "./resources.ts";
export type { Status, StatusCause, StatusDetails } from "./status.ts";
export type {
  KubeEvent,
  KubeObject,
  Namespace,
  ObjectMeta,
  ObjectReference,
  Pod,
} from "./types.ts";
