/**
 * The files SQLite keeps beside a WAL ledger: `-wal` (changes not yet copied into the ledger) and
 * `-shm` (an index of the `-wal`). Every connection must write them, a reader too, and the first to
 * open the ledger creates them with its owner and umask. After another user's `imgpipe status`
 * on a shared ledger they can stay behind owned by that user (a reader cannot remove them), and
 * SQLite then says only that the database is read-only: this names them and says what to do.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';

/** A user as `name, uid N` where /etc/passwd names it; `uid N` otherwise (a directory service, a container's bare uid). */
function userOf(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (id === String(uid) && name) return `${name}, uid ${uid}`;
    }
  } catch {
    // No /etc/passwd to read: the uid alone.
  }
  return `uid ${uid}`;
}

/**
 * One line for a ledger whose `-wal` or `-shm` this process may not write (a permission, not a
 * read-only file system, which the usual message covers), or undefined. Never removes them: only
 * the user can know that no process has the ledger open.
 */
export function companionProblem(file: string): string | undefined {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  const blocked: { name: string; owner: number; mode: number; bytes: number }[] = [];
  for (const suffix of ['-wal', '-shm']) {
    const name = `${file}${suffix}`;
    try {
      accessSync(name, constants.R_OK | constants.W_OK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EACCES' && code !== 'EPERM') continue;
      const stats = statSync(name, { throwIfNoEntry: false });
      if (stats) blocked.push({ name, owner: stats.uid, mode: stats.mode & 0o777, bytes: stats.size });
    }
  }
  if (blocked.length === 0) return undefined;
  const listed = blocked.map((f) => `${f.name} (owner ${userOf(f.owner)}; mode ${f.mode.toString(8).padStart(4, '0')})`).join(' and ');
  const [them, their] = blocked.length === 1 ? ['it', 'its'] : ['them', 'their'];
  // A -wal with bytes in it may hold committed changes not yet in the ledger: removing it would lose them.
  const held = blocked.find((f) => f.name.endsWith('-wal') && f.bytes > 0);
  const advice = held
    ? `${held.name} is not empty (${held.bytes} bytes) and may hold changes not yet in the ledger, so do not remove it: have ${their} owner or root make ${them} yours (chown) or writable by you (chmod)`
    : `when no imgpipe (or other SQLite program) has the ledger open, remove ${them} (SQLite makes ${them} anew; in a sticky folder such as /tmp only ${their} owner or root can), or have ${their} owner or root make ${them} writable by you (chown/chmod)`;
  return `ledger ${file} cannot be used by this user (${userOf(uid)}): SQLite must write ${listed} beside it, and may not; ${advice}`;
}
