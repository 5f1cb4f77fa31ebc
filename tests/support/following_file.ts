/**
 * For the writer processes of the rotation tests: an append handle on whatever file is at a path
 * now, reopened when rotation put another file there.
 * @module
 */

/** The append handle of the file now at the path, reopened when the path names another file. */
export class FollowingFile {
  #path: string;
  #createMissing: boolean;
  #file: Deno.FsFile | undefined;
  #ino: number | null = null;

  /** `createMissing`: a missing path gets a new file (else the old handle is kept meanwhile). */
  constructor(path: string, createMissing: boolean) {
    this.#path = path;
    this.#createMissing = createMissing;
  }

  /** The handle for the file now at the path, reopened if the path names another file. */
  current(): Deno.FsFile {
    let ino: number | null | undefined;
    try {
      ino = Deno.statSync(this.#path).ino;
    } catch {
      ino = undefined; // missing
    }
    if (this.#file && (ino === this.#ino || (ino === undefined && !this.#createMissing))) {
      return this.#file;
    }
    this.#file?.close();
    this.#file = Deno.openSync(this.#path, { append: true, create: true });
    this.#ino = this.#file.statSync().ino;
    return this.#file;
  }

  /** Writes all of `data` to the file now at the path. */
  write(data: Uint8Array): void {
    const file = this.current();
    for (let done = 0; done < data.length;) done += file.writeSync(data.subarray(done));
  }

  close(): void {
    this.#file?.close();
  }
}
