/**
 * The Dockerfile, without a Docker engine: its stage structure and final image are checked as
 * text, and its build steps are run as the builder would run them (`/bin/sh -c` with the build
 * arguments in the environment, on a copy of the build context): the compile step with a
 * recording stand-in for `deno` (deno compile cannot fetch its runtime here), the dependency and
 * version-stamp steps for real.
 */

import assert from "node:assert/strict";
import { OPTIONS } from "../../src/config.ts";
import { VERSION } from "../../src/version.ts";
import { normalizeVersion, stampVersion } from "../../deploy/stamp_version.ts";
import {
  type Dockerfile,
  execForm,
  expand,
  type Instruction,
  parseArg,
  parseDockerfile,
  parseLabels,
} from "./dockerfile.ts";
import { findObject, readManifests, ROOT } from "./manifests.ts";

const dockerfile: Dockerfile = parseDockerfile(
  Deno.readTextFileSync(new URL("Dockerfile", ROOT)),
);
const [build, final] = dockerfile.stages;
const only = (instructions: Instruction[], keyword: string) =>
  instructions.filter((i) => i.keyword === keyword);
const compileStep = only(build.instructions, "RUN").find((r) => /deno compile/.test(r.args))!;
const stampStep = only(build.instructions, "RUN").find((r) => /stamp_version\.ts/.test(r.args))!;
const installStep = only(build.instructions, "RUN").find((r) => /deno install/.test(r.args))!;

/** Permission flags of a deno command line (everything that grants or names a permission set). */
function permissionFlags(args: string[]): string[] {
  return args.filter((a) =>
    /^-(A|P|R|W|N|E|S|I)(=|$)/.test(a) ||
    /^--(allow|deny)-|^--permission-set/.test(a)
  );
}

async function run(
  command: string,
  options: { cwd: string; env: Record<string, string> },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command("/bin/sh", {
    args: ["-c", command],
    cwd: options.cwd,
    env: options.env,
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/** A directory holding a `deno` that records its arguments (one per line) in `args.txt`. */
async function recordingDeno(): Promise<{ bin: string; args: () => Promise<string[]> }> {
  const bin = await Deno.makeTempDir({ prefix: "kit-deno-shim-" });
  await Deno.writeTextFile(
    `${bin}/deno`,
    `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > "${bin}/args.txt"\n`,
    { mode: 0o755 },
  );
  return {
    bin,
    args: async () => (await Deno.readTextFile(`${bin}/args.txt`)).trimEnd().split("\n"),
  };
}

/** The build context as the build stage's COPY instructions lay it out, in a temp directory. */
async function buildContext(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "kit-docker-context-" });
  for (const copy of only(build.instructions, "COPY")) {
    const words = copy.args.split(/\s+/);
    const destination = words.pop()!.replace(/^\.\/?/, "");
    for (const source of words) {
      const base = source.replace(/\/$/, "").split("/").pop()!;
      const target = source.endsWith("/") || !destination.endsWith("/") && destination !== ""
        ? `${dir}/${destination}`
        : `${dir}/${destination}${base}`;
      await copyTree(new URL(source, ROOT), target);
    }
  }
  return dir;
}

/** Copies a file or a directory tree. */
async function copyTree(from: URL, to: string): Promise<void> {
  if ((await Deno.stat(from)).isDirectory) {
    await Deno.mkdir(to, { recursive: true });
    for await (const entry of Deno.readDir(from)) {
      const child = new URL(entry.name + (entry.isDirectory ? "/" : ""), from);
      await copyTree(child, `${to.replace(/\/$/, "")}/${entry.name}`);
    }
  } else {
    await Deno.mkdir(to.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.copyFile(from, to);
  }
}

Deno.test("two stages: a Deno build stage on the builder's platform, a distroless final one", () => {
  assert.equal(dockerfile.directives.syntax, "docker/dockerfile:1");
  assert.equal(dockerfile.stages.length, 2);
  assert.equal(build.name, "build");
  assert.equal(build.platform, "$BUILDPLATFORM");
  assert.match(build.from, /^denoland\/deno:\$\{DENO_VERSION\}$/);
  assert.match(dockerfile.globalArgs.DENO_VERSION!, /^2\.\d+\.\d+$/, "a pinned Deno 2 release");
  assert.equal(final.from, "gcr.io/distroless/cc-debian12:nonroot");
  assert.equal(final.platform, undefined, "the final stage is the target platform's");
  // Distroless has no shell: nothing may RUN in the final stage.
  assert.deepEqual(only(final.instructions, "RUN"), []);
  // User 0 as the original's image (alpine, root): its manifests set no runAsUser, and the
  // host's logs are readable by root (or adm) only.
  assert.deepEqual(only(final.instructions, "USER").map((u) => u.args), ["0:0"]);
});

Deno.test("the binary lands at /kube-iptables-tailer and is the entrypoint the DaemonSet runs", () => {
  const [copy] = only(final.instructions, "COPY");
  assert.equal(copy.flags.from, "build");
  const [source, destination] = copy.args.split(/\s+/);
  assert.equal(destination, "/kube-iptables-tailer");
  assert.match(compileStep.args, new RegExp(`--output ${source}(\\s|$)`));
  assert.equal(copy.flags.chown, "0:0", "owned by root: the runtime user cannot replace it");
  assert.equal(copy.flags.chmod, "0555");
  const [entrypoint] = only(final.instructions, "ENTRYPOINT");
  assert.deepEqual(execForm(entrypoint.args), ["/kube-iptables-tailer"]);
  const daemonSet = findObject(readManifests("daemonset.yaml"), "DaemonSet");
  assert.deepEqual(
    daemonSet.object.spec.template.spec.containers[0].command,
    execForm(entrypoint.args),
  );
  const port = OPTIONS.find((o) => o.env === "METRICS_SERVER_PORT")!.default;
  assert.deepEqual(only(final.instructions, "EXPOSE").map((e) => e.args), [`${port}/tcp`]);
});

Deno.test("OCI labels name the image, its version and its source", () => {
  const labels = Object.assign(
    {},
    ...only(final.instructions, "LABEL").map((l) => parseLabels(l.args)),
  );
  for (
    const key of [
      "title",
      "description",
      "version",
      "revision",
      "source",
      "url",
      "documentation",
      "base.name",
    ]
  ) {
    assert.ok(`org.opencontainers.image.${key}` in labels, key);
  }
  assert.equal(labels["org.opencontainers.image.title"], "kube-iptables-tailer");
  assert.equal(labels["org.opencontainers.image.version"], "${VERSION}");
  assert.equal(labels["org.opencontainers.image.base.name"], final.from);
  // VERSION reaches the final stage: declared there, defaulted globally to src/version.ts.
  assert.ok(only(final.instructions, "ARG").some((a) => "VERSION" in parseArg(a.args)));
  assert.equal(dockerfile.globalArgs.VERSION, VERSION);
});

Deno.test("every COPY source exists in the repository", async () => {
  for (const copy of only(build.instructions, "COPY")) {
    const sources = copy.args.split(/\s+/).slice(0, -1);
    for (const source of sources) await Deno.stat(new URL(source, ROOT));
  }
});

Deno.test("deno compile: the daemon permission set only, the target of each architecture", async () => {
  const compileTask: string = JSON.parse(
    await Deno.readTextFile(new URL("deno.json", ROOT)),
  ).tasks.compile;
  const taskPermissions = permissionFlags(compileTask.split(/\s+/));
  assert.deepEqual([...new Set(taskPermissions)], ["-P=daemon"], "the compile task's");
  const shim = await recordingDeno();
  const cwd = await Deno.makeTempDir({ prefix: "kit-docker-run-" });
  try {
    for (
      const [arch, target] of [
        ["amd64", "x86_64-unknown-linux-gnu"],
        ["arm64", "aarch64-unknown-linux-gnu"],
      ]
    ) {
      const result = await run(compileStep.args, {
        cwd,
        env: { PATH: `${shim.bin}:/usr/bin:/bin`, TARGETARCH: arch, VERSION },
      });
      assert.equal(result.code, 0, result.stderr);
      const args = await shim.args();
      assert.equal(args[0], "compile");
      assert.deepEqual(permissionFlags(args), ["-P=daemon"], "same permissions as the task");
      for (const forbidden of ["-A", "--allow-all", "--allow-run", "--allow-ffi"]) {
        assert.ok(!args.some((a) => a === forbidden || a.startsWith(`${forbidden}=`)), forbidden);
      }
      assert.equal(args[args.indexOf("--target") + 1], target, arch);
      assert.ok(args.includes("--frozen"), "exactly deno.lock");
      assert.ok(args.includes("--no-code-cache"), "writes nothing at run time");
      assert.equal(args.at(-1), "src/main.ts");
    }
    const other = await run(compileStep.args, {
      cwd,
      env: { PATH: `${shim.bin}:/usr/bin:/bin`, TARGETARCH: "riscv64" },
    });
    assert.notEqual(other.code, 0, "an architecture without a Deno target stops the build");
    assert.match(other.stderr, /unsupported TARGETARCH=riscv64/);
  } finally {
    await Deno.remove(shim.bin, { recursive: true });
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("no build step grants every permission, subprocesses or FFI", () => {
  for (const step of only(build.instructions, "RUN")) {
    assert.doesNotMatch(step.args, /(^|\s)(-A|--allow-all|--allow-run|--allow-ffi)(=|\s|$)/);
  }
});

Deno.test("build steps for real: locked dependencies, the stamped version in the program", async () => {
  const context = await buildContext();
  const deno = Deno.execPath();
  const env: Record<string, string> = {
    PATH: `${deno.replace(/\/[^/]*$/, "")}:/usr/bin:/bin`,
    NO_COLOR: "1",
  };
  // The same Deno cache as this run (dependencies are fetched once).
  for (const name of ["HOME", "DENO_DIR", "XDG_CACHE_HOME", "NPM_CONFIG_REGISTRY"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  try {
    // deno install --frozen: deno.lock matches deno.json (else the image build stops here).
    const install = await run(installStep.args, { cwd: context, env });
    assert.equal(install.code, 0, install.stderr);

    const stamped = await run(stampStep.args, {
      cwd: context,
      env: { ...env, VERSION: "v1.2.3-rc.1+build.7" },
    });
    assert.equal(stamped.code, 0, stamped.stderr);
    const source = await Deno.readTextFile(`${context}/src/version.ts`);
    assert.match(source, /^export const VERSION = "1\.2\.3-rc\.1\+build\.7";$/m);
    // The program (run as the compiled binary would: the daemon permission set) reports it.
    const version = await new Deno.Command(deno, {
      args: ["run", "-P=daemon", "--no-prompt", "--frozen", "src/main.ts", "version"],
      cwd: context,
      env,
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(version.stderr);
    assert.equal(version.code, 0, stderr);
    assert.equal(new TextDecoder().decode(version.stdout).trim(), "1.2.3-rc.1+build.7");

    const refused = await run(stampStep.args, {
      cwd: context,
      env: { ...env, VERSION: "latest" },
    });
    assert.notEqual(refused.code, 0, "a VERSION that is not SemVer stops the build");
    assert.match(refused.stderr, /VERSION="latest" is not a semantic version/);
  } finally {
    await Deno.remove(context, { recursive: true });
  }
});

Deno.test("stamping changes only the VERSION line and refuses what is not SemVer", () => {
  const source = `/** The version. */\nexport const VERSION = "${VERSION}";\n`;
  assert.equal(
    stampVersion(source, "2.0.0"),
    `/** The version. */\nexport const VERSION = "2.0.0";\n`,
  );
  for (
    const good of ["0.1.0", "1.0.0-alpha", "1.0.0-0.3.7", "1.0.0-x.7.z.92", "1.0.0+20130313144700"]
  ) {
    assert.equal(normalizeVersion(good), good);
  }
  assert.equal(normalizeVersion("v3.4.5"), "3.4.5");
  for (const bad of ["", "1.2", "01.2.3", "1.2.3-", "1.2.3-01", "1.2.3+", '1.2.3"x', "latest"]) {
    assert.throws(() => normalizeVersion(bad), /not a semantic version/, JSON.stringify(bad));
  }
  assert.throws(() => stampVersion("export const OTHER = 1;\n", "1.0.0"), /found 0/);
  assert.equal(expand("a ${VERSION} $VERSION", { VERSION: "9" }), "a 9 9");
});
