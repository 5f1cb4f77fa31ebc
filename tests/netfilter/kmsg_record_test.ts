import assert from "node:assert/strict";
import { parseKmsgHeader, unescapeKmsg } from "../../src/netfilter/kmsg_record.ts";

Deno.test("unescapeKmsg: \\xNN escapes are bytes read as UTF-8; other text is kept", () => {
  assert.equal(unescapeKmsg("plain IN=eth0"), "plain IN=eth0");
  assert.equal(unescapeKmsg("dr\\xc3\\xb8p: IN=a"), "drøp: IN=a");
  // The kernel escapes the backslash itself.
  assert.equal(unescapeKmsg("a\\x5cb"), "a\\b");
  assert.equal(unescapeKmsg("tab\\x09x"), "tab\tx");
  // Not an escape: kept as written.
  assert.equal(unescapeKmsg("\\xZ1 \\x4"), "\\xZ1 \\x4");
  // A lone byte that is not UTF-8 becomes U+FFFD (which the parser refuses as invalid_utf8).
  assert.equal(unescapeKmsg("bad\\xff."), "bad\ufffd.");
});

Deno.test("parseKmsgHeader: fields of a record, and undefined for other lines", () => {
  assert.deepEqual(parseKmsgHeader("4,352,252707962,-,caller=T1;msg"), {
    priority: 4,
    facility: 0,
    level: 4,
    seq: 352,
    usec: 252707962,
    flags: "-",
    messageStart: 28,
  });
  assert.equal(parseKmsgHeader("Nov 25 07:58:47 vm kernel: x;y"), undefined);
  assert.equal(parseKmsgHeader("4,352,25x,-;msg"), undefined);
});
