import assert from "node:assert/strict";
import { TokenFile } from "../../src/kube/token_file.ts";

/** A token file on a virtual clock, its content and read count in the test's hands. */
function fakeFile(initial: string | Error) {
  const state = { content: initial, reads: 0, at: 0, stale: [] as string[] };
  const file = new TokenFile("/run/token", {
    rereadMs: 60_000,
    now: () => state.at,
    read: () => {
      state.reads++;
      if (state.content instanceof Error) throw state.content;
      return state.content;
    },
    onStale: (path, error) => state.stale.push(`${path}: ${(error as Error).message}`),
  });
  return { file, state };
}

Deno.test("TokenFile: read once a minute, trimmed; forget() has the next call read it again", () => {
  const { file, state } = fakeFile("token-1\n");
  assert.equal(file.token(), "token-1");
  state.content = "token-2";
  state.at = 59_999;
  assert.equal(file.token(), "token-1", "within the minute: the token read before");
  assert.equal(state.reads, 1);
  state.at = 60_000;
  assert.equal(file.token(), "token-2");
  state.content = "token-3";
  file.forget();
  assert.equal(file.token(), "token-3", "after forget(): read at once");
  assert.equal(state.reads, 3);
});

Deno.test("TokenFile: a failed read after a good one keeps the token, told once per streak", () => {
  const { file, state } = fakeFile("token-1");
  assert.equal(file.token(), "token-1");
  for (const bad of [new Error("gone"), ""]) {
    state.content = bad === "" ? "  \n" : bad;
    state.at += 60_000;
    assert.equal(file.token(), "token-1");
    state.at += 60_000;
    assert.equal(file.token(), "token-1");
  }
  assert.deepEqual(state.stale, ["/run/token: gone"], "one streak: told once");
  state.content = "token-2";
  state.at += 60_000;
  assert.equal(file.token(), "token-2");
  state.content = new Error("gone again");
  state.at += 60_000;
  assert.equal(file.token(), "token-2");
  assert.equal(state.stale.length, 2, "a new streak is told again");
  assert.match(state.stale[1], /gone again/);
});

Deno.test("TokenFile: without a token read before, a failed or empty read throws, naming the file", () => {
  const { file, state } = fakeFile(new Error("No such file or directory"));
  assert.throws(() => file.token(), /token file "\/run\/token": No such file or directory/);
  state.content = "\n";
  assert.throws(() => file.token(), /token file "\/run\/token": the file is empty/);
  state.content = "t";
  assert.equal(file.token(), "t", "tried again at the next call, not a minute later");
});
