/**
 * Runs the Kubernetes API emulator from the command line until SIGINT/SIGTERM.
 *
 * ```sh
 * deno run -A tests/support/kube_emulator/main.ts --port 0 --pods pods.json [--tls] [--token T]
 * ```
 *
 * Prints one JSON line on stdout: `{"url":…,"kubeconfig":…,"pods":N}`. `pods.json` holds an
 * array of {@link PodInput} objects (`namespace`, `name`, `nodeName`, `podIPs`, …).
 * @module
 */

import { parseArgs } from "node:util";
import { type PodInput, startKubeEmulator } from "./mod.ts";

const usage =
  "usage: main.ts [--port N] [--host ADDR] [--tls] [--token T] [--pods FILE.json] [--bookmark-interval-ms N] [--kubeconfig PATH]";

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        port: { type: "string", default: "0" },
        host: { type: "string", default: "127.0.0.1" },
        tls: { type: "boolean", default: false },
        token: { type: "string" },
        pods: { type: "string" },
        "bookmark-interval-ms": { type: "string" },
        kubeconfig: { type: "string" },
        help: { type: "boolean", default: false },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    return 2;
  }
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port: not a port number: ${values.port}\n${usage}`);
    return 2;
  }
  let pods: PodInput[] = [];
  if (values.pods) {
    try {
      const parsed = JSON.parse(await Deno.readTextFile(values.pods));
      if (!Array.isArray(parsed)) throw new Error("expected a JSON array of pods");
      pods = parsed;
    } catch (error) {
      console.error(`--pods ${values.pods}: ${(error as Error).message}`);
      return 2;
    }
  }
  const controller = new AbortController();
  const api = await startKubeEmulator({
    port,
    hostname: values.host,
    tls: values.tls,
    token: values.token,
    kubeconfigPath: values.kubeconfig,
    bookmarkIntervalMs: values["bookmark-interval-ms"]
      ? Number(values["bookmark-interval-ms"])
      : undefined,
    signal: controller.signal,
  });
  let added: number;
  try {
    added = api.addPods(pods);
  } catch (error) {
    console.error(`--pods ${values.pods}: ${(error as Error).message}`);
    await api.close();
    return 2;
  }
  console.log(JSON.stringify({ url: api.url, kubeconfig: api.kubeconfigPath, pods: added }));
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  });
  controller.abort();
  await api.close();
  return 0;
}

if (import.meta.main) Deno.exit(await main());
