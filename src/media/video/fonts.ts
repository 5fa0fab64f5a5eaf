// The typeface of names and initials in the call's picture: Debian's DejaVu Sans (package
// fonts-dejavu-core), registered with Skia by path, so the picture never depends on which fonts
// fontconfig happens to find on a machine.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { GlobalFonts } from '@napi-rs/canvas';

export const FONT_DIR = '/usr/share/fonts/truetype/dejavu';
/** The family the compositor asks for; an alias of our own, so a system font of the same name cannot stand in. */
export const FONT_FAMILY = 'Recorder Sans';
const FILES = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'];

let registered = false;

/** Registers the fonts once; throws a sentence naming the package when a file is missing. */
export function registerFonts(dir = FONT_DIR): string {
  if (registered) return FONT_FAMILY;
  for (const file of FILES) {
    const path = join(dir, file);
    if (!existsSync(path)) throw new Error(`the video picture needs the font ${path}: install the Debian package fonts-dejavu-core`);
    // registerFromPath answers null for a file Skia cannot read as a font.
    if (!GlobalFonts.registerFromPath(path, FONT_FAMILY)) throw new Error(`Skia could not load the font ${path}`);
  }
  registered = true;
  return FONT_FAMILY;
}
