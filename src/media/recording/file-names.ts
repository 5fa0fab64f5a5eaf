// File names built from Matrix identifiers: only a conservative alphabet survives, so a user ID
// or room ID can never climb out of the output directory or confuse a shell.

/** Replaces anything outside [A-Za-z0-9@._=+-] with `_`; leading dots are replaced too. */
export function safeFileLabel(text: string): string {
  return text.replace(/[^A-Za-z0-9@._=+-]/g, '_').replace(/^\.+/, (dots) => '_'.repeat(dots.length)).slice(0, 120) || '_';
}
