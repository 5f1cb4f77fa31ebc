/**
 * The real `kubectl describe pod` and the Events table it prints:
 *
 * ```text
 * Events:
 *   Type     Reason      Age              From                  Message
 *   ----     ------      ----             ----                  -------
 *   Warning  PacketDrop  4s (x2 over 6s)  kube-iptables-tailer  Packet dropped when …
 * ```
 *
 * kubectl prints an Event's count inside the Age column (`(x2 over 6s)`) when it is above one.
 * @module
 */

import { which } from "../system.ts";

/** One row of the Events table. */
export interface DescribedEvent {
  type: string;
  reason: string;
  age: string;
  /** The count kubectl shows: the `xN` in Age, else 1. */
  count: number;
  from: string;
  message: string;
}

/**
 * Parses the Events section of `kubectl describe` output. Columns are separated by at least two
 * spaces (kubectl's tabwriter); Age and Message contain single spaces only. Throws when the
 * section is missing or a row does not fit.
 */
export function parseDescribedEvents(text: string): DescribedEvent[] {
  const start = text.search(/^Events:/m);
  if (start < 0) throw new Error(`no Events section in:\n${text}`);
  const [title, ...lines] = text.slice(start).split("\n");
  if (/^Events:\s+<none>\s*$/.test(title)) return [];
  if (!/^\s+Type\s{2,}Reason\s{2,}Age\s{2,}From\s{2,}Message\s*$/.test(lines[0] ?? "")) {
    throw new Error(`unexpected Events header: ${JSON.stringify(lines[0])}`);
  }
  const rows: DescribedEvent[] = [];
  for (const line of lines.slice(2)) {
    if (line.trim() === "") continue;
    if (!line.startsWith("  ")) break; // the next section
    const match =
      /^\s+(\S+)\s{2,}(\S+)\s{2,}(\S+(?: \(x(\d+) over \S+\))?)\s{2,}(\S+)\s{2,}(.*\S)\s*$/
        .exec(line);
    if (!match) throw new Error(`unexpected Events row: ${JSON.stringify(line)}`);
    rows.push({
      type: match[1],
      reason: match[2],
      age: match[3],
      count: match[4] === undefined ? 1 : Number(match[4]),
      from: match[5],
      message: match[6],
    });
  }
  return rows;
}

/** Runs `kubectl --kubeconfig K describe pod -n NS NAME` and returns its Events table. */
export async function describePodEvents(
  kubeconfig: string,
  cacheDir: string,
  namespace: string,
  name: string,
): Promise<{ rows: DescribedEvent[]; text: string }> {
  const kubectl = which("kubectl");
  if (!kubectl) throw new Error("kubectl is not installed");
  const out = await new Deno.Command(kubectl, {
    args: [
      "--kubeconfig",
      kubeconfig,
      "--cache-dir",
      cacheDir,
      "describe",
      "pod",
      "-n",
      namespace,
      name,
    ],
    env: { HOME: cacheDir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) {
    throw new Error(
      `kubectl describe pod -n ${namespace} ${name} failed (${out.code}): ${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  return { rows: parseDescribedEvents(text), text };
}
