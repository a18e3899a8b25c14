// How a failed file operation reads in Ballast's messages, for the CLI (flags naming files, `validate`)
// and dev mode's manifest reads alike. It lives beside both: src/cli imports src/sources, never the
// other way round.

// Node's text for the rest (`EMFILE: too many open files`); these read better in a message about a file.
const ERRNO_TEXT: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
  ELOOP: 'too many levels of symbolic links',
};

/**
 * `permission denied` rather than `EACCES: permission denied, open '/x'`: the caller names the file.
 * With `code`, `EACCES: permission denied` (manifest reads show it: it is what people search for).
 * An error without an errno code is its message.
 */
export function describeFileError(err: unknown, { code = false } = {}): string {
  const e = err as NodeJS.ErrnoException;
  if (!e?.code) return e?.message ?? String(err);
  const text = ERRNO_TEXT[e.code] ?? e.message.split(',')[0].replace(`${e.code}: `, '');
  return code ? `${e.code}: ${text}` : text;
}
