/**
 * Permission denied, for real. Root bypasses file modes (CAP_DAC_OVERRIDE,
 * CAP_DAC_READ_SEARCH), so the tail driver runs as root without those two capabilities:
 * `setpriv --bounding-set=-dac_override,-dac_read_search` removes them from the bounding set,
 * which root cannot regain across exec. The kernel then checks the mode bits as for anyone
 * else, and `chmod 000` makes open(2) fail with EACCES.
 */
import assert from "node:assert/strict";
import { systemTest } from "../support/system.ts";
import { DriverProcess, waitFor } from "./file_support.ts";

const WITHOUT_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"];

systemTest(
  "permission denied (at start, then on a rotated-in file): logged once, counted, retried, recovered",
  { needs: ["root", "setpriv"], sanitizeResources: true, sanitizeOps: true },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "file_permission_" });
    const path = `${dir}/kern.log`;
    await Deno.mkdir(`${dir}/state`);
    await Deno.writeTextFile(path, "one\ntwo\n");
    await Deno.chmod(path, 0o000);
    const driver = await DriverProcess.start({
      path,
      state: `${dir}/state`,
      start: "end",
      retryMaxMs: 100,
      wrap: WITHOUT_DAC,
    });
    try {
      const { output } = driver;
      await waitFor(() => output.count("read_error") >= 4, "retries", () => driver.stderr);
      assert.equal(driver.logged("cannot read log file"), 1, driver.stderr);
      assert.match(driver.stderr, /Permission denied/);
      assert.match(driver.stderr, new RegExp(`path=${path}`));

      // Readable again: a file we could not read at start is read from its start.
      await Deno.chmod(path, 0o644);
      await waitFor(() => output.batches.length > 0, "the lines", () => driver.stderr);
      assert.deepEqual(output.batches.flatMap((b) => b.lines), ["one", "two"]);
      // Logged once the pass that read them ends, on stderr, which is read apart from stdout.
      await waitFor(() => driver.logged("log file is readable again") > 0, "the recovery log");
      assert.equal(driver.logged("log file is readable again"), 1);

      // Rotated to a new file it may not read: the old one stays followed meanwhile.
      const errors = output.count("read_error");
      await Deno.rename(path, `${path}.1`);
      await Deno.writeTextFile(path, "three\n", { mode: 0o000 });
      await Deno.chmod(path, 0o000); // the umask does not matter
      await waitFor(() => output.count("read_error") >= errors + 3, "retries", () => driver.stderr);
      assert.equal(driver.logged("cannot read log file"), 2);
      await Deno.chmod(path, 0o644);
      await waitFor(() => output.batches.length > 1, "the new file", () => driver.stderr);
      assert.deepEqual(output.batches.flatMap((b) => b.lines), ["one", "two", "three"]);
      assert.equal(output.count("rotation"), 1);
    } finally {
      await driver.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
