import type net from 'node:net';
import type { Readable } from 'node:stream';
import { fdOf } from '../app/node-internals.js';
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
 * (and one line) per child stream writing to it. With one child, about 0.4 MiB in all; the
 * pipes themselves hold up to 1 MiB each in the kernel (real.ts asks for that capacity).
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
    const what =
      sink.name === 'stdout'
        ? "the children's output to it is"
        : "sockact's messages and the children's output to it are";
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
 * Tagged lines of `buf` from `start` into `out` ([tag, line, "\n"] each: a line per newline, a
 * trailing CR dropped, one longer than LINE_MAX split), about SLICE bytes at most. An unfinished
 * line at the end is left, unless `final`. Returns where it stopped.
 */
function tagLines(buf: Buffer, start: number, tag: Buffer, out: Buffer[], final: boolean): number {
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
    out.push(tag, buf.subarray(at, end), NEWLINE);
    size += tag.length + end - at + 1;
    at = next;
  }
  return at;
}

/**
 * Pass the lines of `from` on to `sink`, each after `tag`, with back-pressure both ways.
 * `seen` is told the child's last lines (for the reason shown when it ends).
 */
export function pipeLines(from: Readable, sink: Sink, tag: string, seen?: (line: string) => void): LinePipe {
  return new LineRelay(from, sink, Buffer.from(tag), seen);
}

class LineRelay implements LinePipe {
  /** An unfinished line (no newline yet), never longer than LINE_MAX. */
  #carry: Buffer | undefined;
  /** Input not passed on yet because the sink was full. */
  #stash: Buffer | undefined;
  #paused = false;
  #ended = false;
  /** Writes handed to the sink and not yet out. */
  #inFlight = 0;
  #settling: (() => void) | undefined;

  constructor(
    private readonly from: Readable,
    private readonly sink: Sink,
    private readonly tag: Buffer,
    private readonly seen?: (line: string) => void,
  ) {
    /*
     * Read on demand ('readable' and read()), not in flowing mode: a stream that is not read fills
     * up to its high-water mark and Node stops reading the pipe. (Node also resumes a child's
     * flowing-mode stdio once the child exits, which would undo a pause.)
     */
    from.on('readable', () => this.#pump());
    from.on('end', () => {
      this.#ended = true;
      // The last line had no newline: it is passed on as one.
      if (!this.#paused) this.#flushCarry();
      this.#check();
    });
    from.on('error', () => {
      // The pipe itself failed (never expected): what came is passed on, the rest is lost.
      this.#ended = true;
      this.#check();
    });
  }

  settle(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#settling = resolve;
      this.#check();
    });
  }

  abandon(): void {
    this.#settling = undefined;
    this.#stash = this.#carry = undefined;
    this.#paused = true;
    this.from.destroy();
  }

  #pump(): void {
    while (!this.#paused) {
      const chunk = this.from.read() as Buffer | null;
      if (chunk === null) break;
      const buf = this.#carry ? Buffer.concat([this.#carry, chunk]) : chunk;
      this.#carry = undefined;
      this.#feed(buf, false);
    }
    this.#check();
  }

  /** Pass `buf` on, or stop reading until the sink can take more. */
  #feed(buf: Buffer, final: boolean): void {
    if (this.#pass(buf, final)) return;
    this.#paused = true;
    this.sink.whenReady(() => this.#resume());
  }

  #resume(): void {
    const buf = this.#stash;
    this.#stash = undefined;
    this.#paused = false;
    if (buf) this.#feed(buf, this.#ended);
    if (!this.#paused) this.#pump();
  }

  #flushCarry(): void {
    const last = this.#carry;
    this.#carry = undefined;
    if (last) this.#feed(last, true);
  }

  /** Pass on what `buf` holds; false when the sink became full (the rest is stashed). */
  #pass(buf: Buffer, final: boolean): boolean {
    let at = 0;
    while (at < buf.length) {
      const out: Buffer[] = [];
      const stop = tagLines(buf, at, this.tag, out, final);
      if (stop === at) break; // an unfinished line
      at = stop;
      this.#tell(out);
      this.#inFlight++;
      const more = this.sink.write(Buffer.concat(out), () => {
        this.#inFlight--;
        this.#check();
      });
      if (!more) {
        this.#stash = at < buf.length ? buf.subarray(at) : undefined;
        return false;
      }
    }
    // Copied: the unfinished line must not keep the whole chunk it came in alive.
    this.#carry = at < buf.length ? Buffer.from(buf.subarray(at)) : undefined;
    return true;
  }

  /** Only the last lines can matter to `seen` (it keeps 20); `out` is [tag, line, "\n"]... */
  #tell(out: Buffer[]): void {
    if (!this.seen) return;
    for (let i = Math.max(1, out.length - 59); i < out.length; i += 3) this.seen(out[i]!.toString('utf8'));
  }

  /** While settling: done once nothing is left to read or to write. */
  #check(): void {
    if (!this.#settling || this.#paused) return;
    if (!this.#ended && !this.#drained()) return; // more to read: 'readable' or 'end' calls again
    // Drained, yet a line is unfinished: it is passed on as one.
    this.#flushCarry();
    // The sink's drain or write callback calls again (a synchronous one may have settled already).
    if (this.#paused || this.#inFlight > 0 || !this.#settling) return;
    this.from.destroy();
    const done = this.#settling;
    this.#settling = undefined;
    done();
  }

  /** Whether the pipe is empty although its write end is open (held by what escaped the child's group). */
  #drained(): boolean {
    if (this.from.readableLength > 0) return false;
    const fd = fdOf(this.from as net.Socket);
    if (fd === undefined) return true;
    try {
      return ((pollSync([fd], 0, POLLIN)[0]?.revents ?? 0) & (POLLIN | POLLHUP)) === 0;
    } catch {
      return true;
    }
  }
}

const NEWLINE = Buffer.from('\n');
