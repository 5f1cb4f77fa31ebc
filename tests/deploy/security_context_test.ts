/**
 * The DaemonSet's identity on a real kernel: user, group and supplementary groups from its
 * securityContext, every capability dropped, no_new_privs (what the container runtime applies),
 * reproduced with setpriv. Files and directories are laid out with the owners and modes nodes
 * use (Debian/Ubuntu rsyslog files syslog:adm 0640, RHEL's messages root 0600, journald's
 * root:systemd-journal 0640 files in 2755 directories, a kubelet-created root 0755 state
 * directory), and the real program follows a log and writes its checkpoint under that identity.
 */

import assert from "node:assert/strict";
import { kernelLine } from "../support/daemon.ts";
import { systemTest } from "../support/system.ts";
import { findObject, readManifests, ROOT } from "./manifests.ts";

const daemonSet = findObject(readManifests("daemonset.yaml"), "DaemonSet").object;
const podContext = daemonSet.spec.template.spec.securityContext;
const containerContext = daemonSet.spec.template.spec.containers[0].securityContext;

const SYSLOG_UID = 104; // Ubuntu's syslog user
const JOURNAL_GID = 999; // systemd-journal: a dynamic system group
const OTHER_UID = 1000;

/** setpriv arguments giving a process the container's identity. */
function identity(options: { groups?: number[] } = {}): string[] {
  assert.deepEqual(containerContext.capabilities.drop, ["ALL"]);
  assert.equal(containerContext.capabilities.add, undefined);
  assert.equal(containerContext.allowPrivilegeEscalation, false);
  const groups: number[] = options.groups ?? podContext.supplementalGroups ?? [];
  return [
    `--reuid=${podContext.runAsUser}`,
    `--regid=${podContext.runAsGroup}`,
    groups.length > 0 ? `--groups=${groups.join(",")}` : "--clear-groups",
    "--inh-caps=-all",
    "--ambient-caps=-all",
    "--bounding-set=-all",
    "--no-new-privs",
  ];
}

async function asContainer(
  command: string[],
  options: { groups?: number[] } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command("setpriv", {
    args: [...identity(options), "--", ...command],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/** A node's /var/log, /run/log/journal and state directory, with their real owners and modes. */
async function nodeLayout(): Promise<Record<string, string>> {
  const root = await Deno.makeTempDir({ prefix: "kit-node-" });
  await Deno.chmod(root, 0o755);
  const paths = {
    root,
    kernLog: `${root}/var/log/kern.log`,
    messages: `${root}/var/log/messages`,
    journal: `${root}/var/log/journal/0123456789abcdef0123456789abcdef/system.journal`,
    volatileJournal: `${root}/run/log/journal/0123456789abcdef0123456789abcdef/system.journal`,
    private: `${root}/var/log/private/secret.log`,
    state: `${root}/var/lib/kube-iptables-tailer`,
  };
  const file = async (path: string, uid: number, gid: number, mode: number) => {
    await Deno.mkdir(path.replace(/\/[^/]*$/, ""), { recursive: true, mode: 0o755 });
    await Deno.writeTextFile(path, `contents of ${path}\n`);
    await Deno.chown(path, uid, gid);
    await Deno.chmod(path, mode);
  };
  await file(paths.kernLog, SYSLOG_UID, 4, 0o640);
  await file(paths.messages, 0, 0, 0o600);
  for (const journal of [paths.journal, paths.volatileJournal]) {
    await file(journal, 0, JOURNAL_GID, 0o640);
    const machineDir = journal.replace(/\/[^/]*$/, "");
    // journald's directories: root:systemd-journal, setgid, world-traversable.
    for (const dir of [machineDir, machineDir.replace(/\/[^/]*$/, "")]) {
      await Deno.chown(dir, 0, JOURNAL_GID);
      await Deno.chmod(dir, 0o2755);
    }
  }
  await file(paths.private, OTHER_UID, OTHER_UID, 0o600);
  await Deno.chmod(paths.private.replace(/\/[^/]*$/, ""), 0o700);
  await Deno.chown(paths.private.replace(/\/[^/]*$/, ""), OTHER_UID, OTHER_UID);
  // hostPath DirectoryOrCreate: the kubelet creates it root-owned, 0755.
  await Deno.mkdir(paths.state, { recursive: true });
  await Deno.chown(paths.state, 0, 0);
  await Deno.chmod(paths.state, 0o755);
  return paths;
}

systemTest(
  "the DaemonSet's identity reads the host logs and writes the state directory, nothing else",
  {
    needs: ["root", "setpriv"],
  },
  async () => {
    const node = await nodeLayout();
    try {
      const status = await asContainer(["cat", "/proc/self/status"]);
      assert.equal(status.code, 0, status.stderr);
      for (const set of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) {
        assert.match(status.stdout, new RegExp(`^${set}:\\s+0000000000000000$`, "m"), set);
      }
      assert.match(status.stdout, /^NoNewPrivs:\s+1$/m);

      for (const readable of [node.kernLog, node.messages, node.journal, node.volatileJournal]) {
        const read = await asContainer(["cat", readable]);
        assert.equal(read.code, 0, `${readable}: ${read.stderr}`);
        assert.equal(read.stdout, `contents of ${readable}\n`);
      }
      // Without CAP_DAC_OVERRIDE user 0 is just an owner: another user's private file is closed.
      const closed = await asContainer(["cat", node.private]);
      assert.notEqual(closed.code, 0);
      assert.match(closed.stderr, /Permission denied/);
      // The adm group is what opens rsyslog's files on Debian and Ubuntu.
      const withoutAdm = await asContainer(["cat", node.kernLog], { groups: [] });
      assert.notEqual(withoutAdm.code, 0, "kern.log must not be readable without the adm group");

      // A checkpoint is written atomically: a temp file, then a rename.
      const write = await asContainer([
        "sh",
        "-c",
        `echo '{"cursor":1}' > "$0/x.json.tmp" && mv "$0/x.json.tmp" "$0/x.json" && cat "$0/x.json"`,
        node.state,
      ]);
      assert.equal(write.code, 0, write.stderr);
      assert.equal(write.stdout, '{"cursor":1}\n');
      const logWrite = await asContainer(["sh", "-c", `echo x >> "$0"`, node.kernLog]);
      assert.notEqual(logWrite.code, 0, "the logs stay read-only to it");
    } finally {
      await Deno.remove(node.root, { recursive: true });
    }
  },
);

systemTest(
  "the program follows a syslog:adm 0640 log and checkpoints under the DaemonSet's identity",
  {
    needs: ["root", "setpriv"],
  },
  async () => {
    const node = await nodeLayout();
    const prefix = "kit-drop:";
    const drop = (n: number) =>
      `${prefix} IN=cali1 OUT=cali2 SRC=10.244.2.20 DST=10.244.1.11 LEN=60 TTL=63 ID=${n} DF ` +
      `PROTO=TCP SPT=40000 DPT=${8000 + n} WINDOW=64240 RES=0x00 SYN URGP=0 `;
    await Deno.writeTextFile(node.kernLog, kernelLine(drop(1)));
    const child = new Deno.Command("setpriv", {
      args: [
        ...identity(),
        "--",
        Deno.execPath(),
        "run",
        "--quiet",
        `--config=${new URL("deno.json", ROOT).pathname}`,
        // The daemon permission set with this test's node in place of the real paths.
        `--allow-read=${node.root}`,
        `--allow-write=${node.state}`,
        "--allow-net=127.0.0.1",
        "--allow-env",
        "--allow-sys=hostname,osUptime",
        new URL("src/main.ts", ROOT).pathname,
        "run",
        "--dry-run",
        `--iptables-log-path=${node.kernLog}`,
        `--iptables-log-prefix=${prefix}`,
        `--state-directory=${node.state}`,
        "--from-start",
        "--metrics-listen-address=127.0.0.1",
        "--metrics-server-port=0",
      ],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let out = "";
      const deadline = Date.now() + 20_000;
      while (!out.includes('"dpt":8001') && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      if (!/"dpt":8001/.test(out)) {
        throw new Error(`no drop printed; stderr:\n${await stderrIfExited(child, stderr)}`);
      }
      child.kill("SIGTERM");
      const status = await child.status;
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
      assert.equal(status.code, 0, await stderr);
      const checkpoints = [...Deno.readDirSync(node.state)].filter((e) => e.name.endsWith(".json"));
      assert.equal(
        checkpoints.length,
        1,
        `a checkpoint in the state directory; stderr:\n${await stderr}`,
      );
      const info = Deno.statSync(`${node.state}/${checkpoints[0].name}`);
      assert.equal(info.uid, podContext.runAsUser);
    } finally {
      try {
        child.kill("SIGKILL");
      } catch {
        // exited
      }
      await child.status;
      await Deno.remove(node.root, { recursive: true });
    }
  },
);

async function stderrIfExited(child: Deno.ChildProcess, stderr: Promise<string>): Promise<string> {
  try {
    child.kill("SIGTERM");
  } catch {
    // exited
  }
  await child.status;
  return await stderr;
}
