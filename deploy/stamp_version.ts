/**
 * Stamps a release version into `src/version.ts` before `deno compile`, so the binary, its
 * `version` command, its log and its `kube_iptables_tailer_build_info` metric all report the
 * version the image is tagged with. The Dockerfile runs it with the `VERSION` build argument:
 *
 * ```sh
 * deno run --allow-read=src/version.ts --allow-write=src/version.ts deploy/stamp_version.ts 1.2.3
 * ```
 *
 * A leading "v" is dropped ("v1.2.3" is "1.2.3"); anything else that is not a SemVer 2.0.0
 * version, and a file without its `export const VERSION = "…";` line, are refused with exit code
 * 2 and one line saying what was wrong. Only that line changes.
 * @module
 */

const NUMBER = "(?:0|[1-9][0-9]*)";
const PRERELEASE_PART = `(?:${NUMBER}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)`;
const BUILD_PART = "[0-9A-Za-z-]+";
const SEMVER = new RegExp(
  `^${NUMBER}\\.${NUMBER}\\.${NUMBER}` +
    `(?:-${PRERELEASE_PART}(?:\\.${PRERELEASE_PART})*)?` +
    `(?:\\+${BUILD_PART}(?:\\.${BUILD_PART})*)?$`,
);
const VERSION_LINE = /^export const VERSION = "[^"\n]*";$/m;

/** A version the build refused. */
export class StampError extends Error {
  override name = "StampError";
}

/**
 * The SemVer 2.0.0 version in `raw` (a leading "v" dropped), or a {@link StampError}.
 *
 * @example
 * ```ts
 * normalizeVersion("v1.4.0-rc.1"); // "1.4.0-rc.1"
 * ```
 */
export function normalizeVersion(raw: string): string {
  const version = raw.trim().replace(/^v(?=[0-9])/, "");
  if (!SEMVER.test(version)) {
    throw new StampError(
      `VERSION=${JSON.stringify(raw)} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.4.0 ` +
        "or 1.4.0-rc.1)",
    );
  }
  return version;
}

/**
 * `source` (the text of src/version.ts) with its VERSION constant set to `version`.
 *
 * @example
 * ```ts
 * stampVersion('export const VERSION = "0.1.0";\n', "1.2.3"); // 'export const VERSION = "1.2.3";\n'
 * ```
 */
export function stampVersion(source: string, version: string): string {
  const normalized = normalizeVersion(version);
  const matches = source.match(new RegExp(VERSION_LINE.source, "gm")) ?? [];
  if (matches.length !== 1) {
    throw new StampError(
      `expected exactly one line 'export const VERSION = "…";' in src/version.ts, found ${matches.length}`,
    );
  }
  return source.replace(VERSION_LINE, `export const VERSION = "${normalized}";`);
}

if (import.meta.main) {
  const [version, path = "src/version.ts"] = Deno.args;
  try {
    if (version === undefined) throw new StampError("usage: stamp_version.ts VERSION [FILE]");
    const stamped = stampVersion(await Deno.readTextFile(path), version);
    await Deno.writeTextFile(path, stamped);
    console.log(`stamped ${path}: ${normalizeVersion(version)}`);
  } catch (error) {
    console.error(`stamp_version: ${(error as Error).message}`);
    Deno.exit(2);
  }
}
