/**
 * Which files a journal directory holds, as `sd_journal_open_directory(path, 0)` (and so
 * `journalctl --directory`) picks them: every `*.journal` and `*.journal~` file (the current
 * `system.journal`, archived `system@….journal`, `user-UID….journal`, and files journald set
 * aside as corrupt) directly in the directory and in its subdirectories named by a 128-bit id
 * (the machine-id directories of /var/log/journal and /run/log/journal). Namespace directories
 * (`<id>.<namespace>`) and deeper levels are not read.
 *
 * @example
 * ```ts
 * const { files, directories } = listJournalFiles("/var/log/journal");
 * ```
 * @module
 */

const ID128_PLAIN = /^[0-9a-fA-F]{32}$/;
const ID128_UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** Whether `name` is a journal file name sd-journal reads. */
export function isJournalFileName(name: string): boolean {
  return name.endsWith(".journal") || name.endsWith(".journal~");
}

/** Whether `name` is a machine-id style subdirectory name (no namespace suffix). */
export function isJournalSubdirName(name: string): boolean {
  return ID128_PLAIN.test(name) || ID128_UUID.test(name);
}

/** The result of {@link listJournalFiles}. */
export interface JournalListing {
  /** Paths of the journal files, sorted. */
  files: string[];
  /** The directories read: the root and its machine-id subdirectories. */
  directories: string[];
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

/**
 * Lists the journal files under `root`. Throws the file system's error when `root` cannot be
 * read; unreadable subdirectories are skipped, as sd-journal does.
 */
export function listJournalFiles(root: string): JournalListing {
  const files: string[] = [];
  const directories = [root];
  for (const entry of Deno.readDirSync(root)) {
    if ((entry.isFile || entry.isSymlink) && isJournalFileName(entry.name)) {
      files.push(join(root, entry.name));
    } else if ((entry.isDirectory || entry.isSymlink) && isJournalSubdirName(entry.name)) {
      const sub = join(root, entry.name);
      try {
        for (const inner of Deno.readDirSync(sub)) {
          if ((inner.isFile || inner.isSymlink) && isJournalFileName(inner.name)) {
            files.push(join(sub, inner.name));
          }
        }
        directories.push(sub);
      } catch {
        // Not a directory after all, or unreadable: sd-journal ignores it too.
      }
    }
  }
  files.sort();
  directories.sort();
  return { files, directories };
}
