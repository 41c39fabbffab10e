import { quote, SockactError } from '../protocol/errors.js';
import type { ListenFd } from './listen-fds.js';

// fd -> the call that adopted it. One wrapper per fd: a second one would read, accept and
// close behind the first one's back.
const adopted = new Map<number, string>();

export function adoptedBy(fd: number): string | undefined {
  return adopted.get(fd);
}

export function alreadyAdopted(d: ListenFd): SockactError {
  const by = adopted.get(d.fd);
  return new SockactError('ERR_FD_ADOPTED', `fd ${d.fd} (${quote(d.name)}) is already adopted by ${by}`, {
    fd: d.fd,
    fdName: d.name,
    actual: `adopted by ${by}`,
  });
}

/** Mark every fd as adopted by `by`, or none of them: throws when one already is. */
export function claim(fds: readonly ListenFd[], by: string): void {
  for (const d of fds) if (adopted.has(d.fd)) throw alreadyAdopted(d);
  for (const d of fds) adopted.set(d.fd, by);
}
