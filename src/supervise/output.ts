import type { Readable } from 'node:stream';
import { POLLHUP, POLLIN } from '../sys/constants.js';
import { pollSync } from '../sys/poll.js';

/*
 * The children's output with --prefix: each line a child writes on its stdout or stderr pipe is
 * passed on to sockact's stdout or stderr, whole, in order, after a "[generation pid] " tag.
 *
 * Back-pressure, not loss: when sockact's stdout (or stderr) cannot take more, the children's
 * pipes are no longer read, so a child writing faster than the reader reads blocks in write(2)
 * as it would writing to that reader itself. sockact's own stdout and stderr may be a pipe or a
 * socket (Node writes to those asynchronously on Linux, so "full" is its write() returning false,
 * then 'drain'), a file or a terminal (written synchronously: the write itself waits).
 *
 * Memory stays bounded whatever the child writes. Per child stream sockact holds at most what
 * Node reads ahead from the pipe before it stops reading (its 16 KiB high-water mark, plus one
 * read of at most 64 KiB), a slice of that not yet passed on, and one unfinished line of at most
 * LINE_MAX bytes; the destination holds its own 16 KiB high-water mark plus at most one SLICE
 * (and one line) per child stream writing to it. With one child, about 0.4 MiB in all.
 *
 * A reader that goes away (EPIPE: `sockact --prefix ... | head -1`, a closed terminal, a log
 * shipper that restarts) costs that output only: sockact says so once on the other stream, and
 * supervises on, reading the children's pipes and dropping what was meant for the gone one.
 */

/**
 * The longest line passed on: a longer one is split into lines of at most LINE_MAX bytes (cut
 * before a UTF-8 character, never inside one), each with its tag, as journald splits a stream
 * at its LineMax= (default 48K, journald.conf(5)).
 */
export const LINE_MAX = 48 * 1024;

/** At most this many bytes of tagged lines go to the destination in one write. */
export const SLICE = 64 * 1024;

const NL = 0x0a;
const CR = 0x0d;

type Stream = NodeJS.WritableStream & { writableNeedDrain?: boolean; destroyed?: boolean };

/** sockact's stdout or stderr, as a destination that says when it is full, and when it is gone. */
export class Sink {
  #gone: string | undefined;
  #waiting: (() => void)[] = [];
  readonly #pending = new Set<() => void>();

  constructor(
    readonly name: 'stdout' | 'stderr',
    private readonly stream: Stream,
    private readonly onGone: (sink: Sink, reason: string) => void,
  ) {
    stream.on('error', (err: NodeJS.ErrnoException) => this.#lost(err.code ?? err.message));
    stream.on('drain', () => this.#wake());
  }

  /** Why the stream is gone (EPIPE, EIO...), once it is: what is written from then on is dropped. */
  get gone(): string | undefined {
    return this.#gone;
  }

  /**
   * Pass `chunk` on (dropped once the stream is gone); `done` is called once it is handed to the
   * OS, or dropped. Returns false when the stream is full: wait for whenReady() before more.
   */
  write(chunk: Buffer | string, done?: () => void): boolean {
    if (this.#gone !== undefined) {
      done?.();
      return true;
    }
    let cb: (() => void) | undefined;
    if (done) {
      let called = false;
      cb = () => {
        if (called) return;
        called = true;
        this.#pending.delete(cb!);
        done();
      };
      this.#pending.add(cb);
    }
    try {
      return this.stream.write(chunk, cb);
    } catch (err) {
      // A synchronous stream (a file, a terminal) may throw rather than emit.
      this.#lost((err as NodeJS.ErrnoException).code ?? String(err));
      return true;
    }
  }

  /** Call `fn` once the stream can take more (at once when it can, or is gone). */
  whenReady(fn: () => void): void {
    if (this.#gone !== undefined || !this.stream.writableNeedDrain) return fn();
    this.#waiting.push(fn);
  }

  /** Resolves once everything written so far is handed to the OS, or the stream is gone. */
  flushed(): Promise<void> {
    return new Promise((resolve) => this.write('', resolve));
  }

  #wake(): void {
    for (const fn of this.#waiting.splice(0)) fn();
  }

  #lost(reason: string): void {
    if (this.#gone !== undefined) return;
    this.#gone = reason;
    this.onGone(this, reason);
    this.#wake();
    for (const cb of [...this.#pending]) cb();
  }
}

/** What sockact writes to its stdout and stderr while children's output passes through it. */
export interface Output {
  readonly stdout: Sink;
  readonly stderr: Sink;
  /** sockact's own text for stderr, in order with the children's lines there (dropped once stderr is gone). */
  say(text: string): void;
  /** Resolves once both streams have handed everything written so far to the OS (or are gone). */
  flushed(): Promise<void>;
}

let shared: Output | undefined;

/** The one Output over process.stdout and process.stderr, made when first asked for. */
export function processOutput(): Output {
  shared ??= makeOutput(process.stdout, process.stderr);
  return shared;
}

/** An Output over two streams: the first one gone is reported once on the other, if it still works. */
export function makeOutput(stdout: Stream, stderr: Stream): Output {
  const gone = (sink: Sink, reason: string) => {
    const other = sink === out.stdout ? out.stderr : out.stdout;
    const what = sink.name === 'stdout' ? "the children's output to it is" : "sockact's messages and the children's output to it are";
    other.write(`sockact: ${sink.name} is gone (${reason}): ${what} dropped from now on\n`);
  };
  const out: Output = {
    stdout: new Sink('stdout', stdout, gone),
    stderr: new Sink('stderr', stderr, gone),
    say: (text) => void out.stderr.write(text),
    flushed: () => Promise.all([out.stdout.flushed(), out.stderr.flushed()]).then(() => {}),
  };
  return out;
}

/** A child stream being passed on: settle() once the child is gone resolves when its last line is out. */
export interface LinePipe {
  /**
   * The child (and its process group) is gone: resolve once every line it wrote is handed to the
   * OS. The end of the pipe is its EOF, or, when something that escaped the group still holds
   * its write end, the moment the pipe is empty.
   */
  settle(): Promise<void>;
  /** Stop reading and drop what is not passed on yet (a reader that does not read at all). */
  abandon(): void;
}

/** The index where a cut at most `max` bytes into `buf` from `start` falls before a UTF-8 character. */
function cutAt(buf: Buffer, start: number, max: number): number {
  let cut = start + max;
  // Step back over continuation bytes (10xxxxxx), at most 3: a character is at most 4 bytes.
  for (let i = 0; i < 3 && cut > start + 1 && (buf[cut]! & 0xc0) === 0x80; i++) cut--;
  return cut;
}

/**
 * Pass the lines of `from` on to `sink`, each after `tag`, with back-pressure both ways.
 * `seen` is told the child's last lines (for the reason shown when it ends).
 */
export function pipeLines(from: Readable, sink: Sink, tag: string, seen?: (line: string) => void): LinePipe {
  const tagBuf = Buffer.from(tag);
  /** An unfinished line (no newline yet), never longer than LINE_MAX. */
  let carry: Buffer | undefined;
  /** Input not passed on yet because the sink was full. */
  let stash: Buffer | undefined;
  let paused = false;
  let ended = false;
  let inFlight = 0;
  let settling: (() => void) | undefined;

  /** Tagged lines of buf[start..end) (a line per newline, a long one split), at most about SLICE bytes; returns where it stopped. */
  const slice = (buf: Buffer, start: number, out: Buffer[], final: boolean): number => {
    let size = 0;
    let at = start;
    while (at < buf.length && size < SLICE) {
      const nl = buf.indexOf(NL, at);
      let end: number;
      let next: number;
      if (nl >= 0 && nl - at <= LINE_MAX) {
        end = nl > at && buf[nl - 1] === CR ? nl - 1 : nl;
        next = nl + 1;
      } else if (buf.length - at > LINE_MAX) {
        end = cutAt(buf, at, LINE_MAX);
        next = end;
      } else if (final) {
        end = buf.length;
        next = end;
      } else break;
      out.push(tagBuf, buf.subarray(at, end), NEWLINE);
      size += tagBuf.length + end - at + 1;
      at = next;
    }
    return at;
  };

  const tell = (out: Buffer[]) => {
    if (!seen) return;
    // Only the last lines can matter (the tail kept is 20 lines long); out is [tag, line, "\n"]...
    for (let i = Math.max(1, out.length - 59); i < out.length; i += 3) seen(out[i]!.toString('utf8'));
  };

  const written = () => {
    inFlight--;
    check();
  };

  /** Pass on what `buf` holds; false when the sink became full (the rest is stashed). */
  const pass = (buf: Buffer, final: boolean): boolean => {
    let at = 0;
    while (at < buf.length) {
      const out: Buffer[] = [];
      const stop = slice(buf, at, out, final);
      if (stop === at) break; // an unfinished line
      at = stop;
      tell(out);
      inFlight++;
      if (!sink.write(Buffer.concat(out), written)) {
        stash = at < buf.length ? buf.subarray(at) : undefined;
        return false;
      }
    }
    // Copied: the unfinished line must not keep the whole chunk it came in alive.
    carry = at < buf.length ? Buffer.from(buf.subarray(at)) : undefined;
    return true;
  };

  /** Pass `buf` on, or stop reading until the sink can take more. */
  const feed = (buf: Buffer, final: boolean) => {
    if (pass(buf, final)) return;
    paused = true;
    sink.whenReady(resume);
  };

  const resume = () => {
    const buf = stash;
    stash = undefined;
    paused = false;
    if (buf) feed(buf, ended);
    if (!paused) pump();
  };

  /*
   * Read on demand ('readable' and read()), not in flowing mode: a stream that is not read fills
   * up to its high-water mark and Node stops reading the pipe. (Node also resumes a child's
   * flowing-mode stdio once the child exits, which would undo a pause.)
   */
  const pump = () => {
    while (!paused) {
      const chunk = from.read() as Buffer | null;
      if (chunk === null) break;
      const buf = carry ? Buffer.concat([carry, chunk]) : chunk;
      carry = undefined;
      feed(buf, false);
    }
    check();
  };
  from.on('readable', pump);
  from.on('end', () => {
    ended = true;
    if (!paused && carry) {
      // The last line had no newline: it is passed on as one.
      const last = carry;
      carry = undefined;
      feed(last, true);
    }
    check();
  });
  from.on('error', () => {
    // The pipe itself failed (never expected): what came is passed on, the rest is lost.
    ended = true;
    check();
  });

  /** Settling: done once nothing is left to read or to write. */
  function check(): void {
    if (!settling || paused) return;
    if (!ended && !drained()) return; // more to read: 'readable' or 'end' calls again
    if (carry) {
      // Drained, yet a line is unfinished: it is passed on as one.
      const last = carry;
      carry = undefined;
      feed(last, true);
      if (paused) return;
    }
    if (inFlight > 0) return; // written() calls again
    from.destroy();
    const done = settling;
    settling = undefined;
    done();
  }

  /** Whether the pipe is empty although its write end is open (held by what escaped the child's group). */
  function drained(): boolean {
    if (from.readableLength > 0) return false;
    const fd = (from as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (fd === undefined || fd < 0) return true;
    try {
      return ((pollSync([fd], 0, POLLIN)[0]?.revents ?? 0) & (POLLIN | POLLHUP)) === 0;
    } catch {
      return true;
    }
  }

  return {
    abandon() {
      settling = undefined;
      stash = carry = undefined;
      paused = true;
      from.destroy();
    },
    settle() {
      return new Promise<void>((resolve) => {
        settling = resolve;
        check();
      });
    },
  };
}

const NEWLINE = Buffer.from('\n');
