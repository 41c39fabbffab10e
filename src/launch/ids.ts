import { readFileSync } from 'node:fs';
import { quote, SockactError } from '../protocol/errors.js';

/** A user as the launcher needs it to run a program unprivileged (systemd's User=). */
export interface UserInfo {
  name: string;
  uid: number;
  /** The primary group: the program runs with it unless a group is given. */
  gid: number;
  home: string;
}

/**
 * One entry of a colon-separated database (passwd, group), read from /etc first and, for users
 * and groups that live elsewhere (LDAP, sssd, systemd's nss modules), from `getent`, which asks NSS.
 */
function lookup(db: 'passwd' | 'group', key: string): string[] | undefined {
  const byId = /^\d+$/.test(key);
  try {
    for (const line of readFileSync(`/etc/${db}`, 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields.length >= 3 && (byId ? fields[2] === key : fields[0] === key)) return fields;
    }
  } catch {
    // No /etc file (a minimal container): getent may still know.
  }
  try {
    // Loaded here only: child_process costs start-up time a launch without getent never needs.
    const { execFileSync } = process.getBuiltinModule('node:child_process');
    const out = execFileSync('getent', [db, key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const fields = out.split('\n')[0]!.split(':');
    return fields.length >= 3 ? fields : undefined;
  } catch {
    return undefined;
  }
}

/** Resolve a user name or uid. A uid without a passwd entry is refused: it has no primary group. */
export function lookupUser(nameOrId: string): UserInfo {
  const f = lookup('passwd', nameOrId);
  if (!f) {
    throw new SockactError('ERR_USER', `unknown user ${quote(nameOrId)}`, { value: nameOrId });
  }
  return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5] ?? '/' };
}

/** Resolve a group name or gid. A number is taken as it is: a gid needs no group entry. */
export function lookupGroup(nameOrId: string): number {
  if (/^\d+$/.test(nameOrId)) return Number(nameOrId);
  const f = lookup('group', nameOrId);
  if (!f) throw new SockactError('ERR_GROUP', `unknown group ${quote(nameOrId)}`, { value: nameOrId });
  return Number(f[2]);
}

/** The uid for a socket file's owner: a number as it is, a name through passwd. */
export function lookupUid(nameOrId: string): number {
  return /^\d+$/.test(nameOrId) ? Number(nameOrId) : lookupUser(nameOrId).uid;
}
