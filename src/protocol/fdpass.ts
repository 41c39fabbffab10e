/**
 * The wire format of an fd bundle: a set of fds, one name each, and a small message, passed over a
 * connected UNIX stream or seqpacket socket as SCM_RIGHTS (unix(7)). Pure: no OS access; the app
 * side (app/fdpass.ts), the --wrapper hand-off and the supervisor drive it with the seam's
 * sendmsg/recvmsg.
 *
 * A bundle is one or more messages (one sendmsg(2) each):
 * - the first: an 8-byte prefix (header length, message length: uint32 big-endian), the header,
 *   the message; with the first min(n, 253) fds attached;
 * - then one message of one byte ('F') per further batch of at most 253 fds (SCM_MAX_FD): a
 *   bundle of any size is split, never refused by the sender.
 * The header is KEY=VALUE lines, as an sd_notify datagram: `SOCKACT_FDS=<n>` and
 * `LISTEN_FDNAMES=<a:b:...>` (split on ':' with empty names kept, as LISTEN_FDNAMES); or
 * `ERROR=<one line>`, a refusal, with no fds. The prefix lets a stream receiver read exactly one
 * bundle, never a byte of the next; a seqpacket receiver reads each message whole.
 */
import { quote, SockactError, type SockactErrorCode } from './errors.js';
import { fdNameProblem } from './fdname.js';
import { parseNotifyMessage } from './notify.js';

/** The kernel's limit of fds in one SCM_RIGHTS message (include/net/scm.h). */
export const SCM_MAX_FD = 253;
/** Header and message are small by design: a receiver refuses a prefix that announces more. */
export const FDPASS_MAX_HEADER = 256 * 1024;
export const FDPASS_MAX_MESSAGE = 64 * 1024;
const PREFIX = 8;
const MORE = Buffer.from('F');

/** One sendmsg(2): its bytes and the fds attached to it. */
export interface FdPassMessage {
  data: Buffer;
  fds: readonly number[];
}

/** The messages of one bundle, in order (see the module comment). Names default to "unknown". */
export function formatFdBundle(
  fds: readonly number[],
  names: readonly string[] | undefined,
  message: Buffer = Buffer.alloc(0),
): FdPassMessage[] {
  const list = names ?? fds.map(() => 'unknown');
  if (list.length !== fds.length) {
    throw new SockactError('ERR_FDS_NAMES', `${list.length} names for ${fds.length} fds`, {
      expected: `${fds.length} names`,
      actual: `${list.length} names`,
    });
  }
  for (const name of list) {
    const problem = fdNameProblem(name);
    if (problem) throw new SockactError('ERR_FDS_NAMES', `fd name ${quote(name)} ${problem}`, { fdName: name });
  }
  if (message.length > FDPASS_MAX_MESSAGE) {
    throw new SockactError(
      'ERR_FDS_MESSAGE',
      `the message is ${message.length} bytes, at most ${FDPASS_MAX_MESSAGE} go with fds`,
      {
        actual: `${message.length} bytes`,
      },
    );
  }
  const out: FdPassMessage[] = [
    {
      data: frame(`SOCKACT_FDS=${fds.length}\nLISTEN_FDNAMES=${list.join(':')}`, message),
      fds: fds.slice(0, SCM_MAX_FD),
    },
  ];
  for (let i = SCM_MAX_FD; i < fds.length; i += SCM_MAX_FD) out.push({ data: MORE, fds: fds.slice(i, i + SCM_MAX_FD) });
  return out;
}

/** A refusal instead of a bundle: the receiver's error says `<source> refused: <reason>`. */
export function formatFdRefusal(reason: string): Buffer {
  return frame(`ERROR=${reason.replace(/[\r\n]+/g, ' ')}`, Buffer.alloc(0));
}

function frame(header: string, message: Buffer): Buffer {
  const h = Buffer.from(header);
  const prefix = Buffer.alloc(PREFIX);
  prefix.writeUInt32BE(h.length, 0);
  prefix.writeUInt32BE(message.length, 4);
  return Buffer.concat([prefix, h, message]);
}

/** A name as its bytes: printable ASCII as is, any other byte as \xNN, in quotes. */
function escapeBytes(latin1: string): string {
  return `'${latin1.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`;
}

/** What one recvmsg(2) returned (the seam's Received, structurally). */
export interface ReceivedPart {
  data: Buffer;
  fds: readonly number[];
  truncated?: boolean;
  controlTruncated?: boolean;
}

export interface FdBundleContent {
  fds: number[];
  names: string[];
  message: Buffer;
}

/**
 * Reassembles one bundle from recvmsg(2) results. It owns nothing: every fd pushed is kept in
 * `fds`, and on any error the caller closes them all (nothing leaks). `need()` and `maxFds()` size
 * the next recvmsg: on a stream socket exactly the bytes of the bundle's next part; the control
 * buffer never holds more fds than the receiver still accepts, so a sender that attaches more
 * makes the kernel truncate (MSG_CTRUNC) instead of filling the fd table.
 */
export class FdBundleReader {
  /** Every fd received so far, in order. */
  readonly fds: number[] = [];
  #stage: 'prefix' | 'body' | 'more' | 'done' = 'prefix';
  #pending = Buffer.alloc(0);
  #bodyLength = 0;
  #messageLength = 0;
  #count = -1;
  #names: string[] = [];
  #message = Buffer.alloc(0);

  /**
   * `source` names the peer in messages ("/run/app.sock", "fd 7"); `limit` is the most fds
   * accepted; `stream` whether the socket is SOCK_STREAM (else every part is one whole message).
   */
  constructor(
    readonly source: string,
    readonly limit: number,
    readonly stream: boolean,
  ) {}

  get done(): boolean {
    return this.#stage === 'done';
  }

  /** Bytes to ask recvmsg for next. */
  need(): number {
    if (!this.stream) return this.#stage === 'more' ? 1 : PREFIX + FDPASS_MAX_HEADER + FDPASS_MAX_MESSAGE;
    if (this.#stage === 'prefix') return PREFIX - this.#pending.length;
    if (this.#stage === 'body') return this.#bodyLength - this.#pending.length;
    return 1;
  }

  /** Room for fds in the next recvmsg's control buffer: what is still accepted, at most 253. */
  maxFds(): number {
    const left = (this.#count >= 0 ? Math.min(this.#count, this.limit) : this.limit) - this.fds.length;
    return Math.max(0, Math.min(left, SCM_MAX_FD));
  }

  /** The received bundle; only once `done`. */
  result(): FdBundleContent {
    return { fds: [...this.fds], names: this.#names, message: this.#message };
  }

  /** Take one recvmsg result. Throws SockactError (the caller then closes `fds`). */
  push(part: ReceivedPart): void {
    const room = this.maxFds();
    this.fds.push(...part.fds);
    if (part.controlTruncated) {
      throw this.#error(
        'ERR_FDS_TRUNCATED',
        `${this.source} sent more fds than fit (MSG_CTRUNC, room for ${room}): ` +
          `the ${part.fds.length} that arrived are closed, the kernel dropped the rest`,
      );
    }
    if (part.data.length === 0 && part.fds.length === 0) {
      const got = this.#count >= 0 ? `after ${this.fds.length} of ${this.#count} fds` : 'before sending fds';
      throw this.#error('ERR_FDS_PEER_GONE', `${this.source} closed the connection ${got}`);
    }
    if (this.#stage === 'more') {
      if (part.data.length !== 1 || part.data[0] !== MORE[0] || part.truncated)
        throw this.#malformed(`expected 'F' with more fds, got ${quote(part.data.toString('latin1'))}`);
      return this.#check();
    }
    if (this.#stage === 'done') throw this.#malformed('data after the bundle');
    if (!this.stream) {
      if (part.truncated) throw this.#malformed('a first message larger than any bundle');
      this.#parsePrefix(part.data);
      if (part.data.length !== PREFIX + this.#bodyLength)
        throw this.#malformed(
          `a first message of ${part.data.length} bytes, its prefix says ${PREFIX + this.#bodyLength}`,
        );
      this.#parseBody(part.data.subarray(PREFIX));
      return this.#check();
    }
    this.#pending = Buffer.concat([this.#pending, part.data]);
    if (this.#stage === 'prefix' && this.#pending.length === PREFIX) {
      this.#parsePrefix(this.#pending);
      this.#pending = Buffer.alloc(0);
      this.#stage = 'body';
    }
    if (this.#stage === 'body' && this.#pending.length === this.#bodyLength) {
      this.#parseBody(this.#pending);
      this.#pending = Buffer.alloc(0);
      this.#check();
    }
  }

  #parsePrefix(data: Buffer): void {
    if (data.length < PREFIX) throw this.#malformed(`a first message of ${data.length} bytes`);
    const headerLength = data.readUInt32BE(0);
    this.#messageLength = data.readUInt32BE(4);
    if (headerLength === 0 || headerLength > FDPASS_MAX_HEADER || this.#messageLength > FDPASS_MAX_MESSAGE) {
      throw this.#malformed(`a prefix announcing ${headerLength} header and ${this.#messageLength} message bytes`);
    }
    this.#bodyLength = headerLength + this.#messageLength;
  }

  #parseBody(body: Buffer): void {
    const header = body.subarray(0, this.#bodyLength - this.#messageLength);
    const headerText = header.toString('utf8');
    this.#message = Buffer.from(body.subarray(this.#bodyLength - this.#messageLength));
    const fields = parseNotifyMessage(headerText);
    const refused = fields.get('ERROR');
    if (refused !== undefined) throw this.#error('ERR_FDS_REFUSED', `${this.source} refused: ${refused}`);
    const countText = fields.get('SOCKACT_FDS');
    const count = countText !== undefined && /^(0|[1-9][0-9]{0,6})$/.test(countText) ? Number(countText) : NaN;
    // The names byte for byte (latin1: one character per byte), so that a byte that is not
    // printable ASCII (0xff, which UTF-8 decoding would turn into U+FFFD) is refused below, never rewritten.
    const namesText = parseNotifyMessage(header.toString('latin1')).get('LISTEN_FDNAMES');
    const names = namesText === undefined || count === 0 ? [] : namesText.split(':');
    if (Number.isNaN(count) || names.length !== count) throw this.#malformed(`header ${quote(headerText)}`);
    if (count > this.limit) {
      throw this.#error(
        'ERR_FDS_LIMIT',
        `${this.source} sends ${count} fds, more than the ${this.limit} this receiver accepts`,
        {
          actual: `${count} fds`,
          expected: `at most ${this.limit}`,
        },
      );
    }
    for (const name of names) {
      const problem = fdNameProblem(name);
      if (problem === undefined) continue;
      throw this.#error('ERR_FDS_NAMES', `${this.source} sent the fd name ${escapeBytes(name)}, which ${problem}`);
    }
    this.#count = count;
    this.#names = names;
  }

  #check(): void {
    if (this.fds.length > this.#count)
      throw this.#malformed(`${this.fds.length} fds, the header announced ${this.#count}`);
    this.#stage = this.fds.length === this.#count ? 'done' : 'more';
  }

  #malformed(what: string): SockactError {
    return this.#error('ERR_FDS_PROTOCOL', `${this.source} sent a malformed fd bundle: ${what}`);
  }

  #error(code: SockactErrorCode, message: string, fields: { actual?: string; expected?: string } = {}): SockactError {
    return new SockactError(code, message, { value: this.source, ...fields });
  }
}
