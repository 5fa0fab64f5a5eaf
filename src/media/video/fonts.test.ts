import { describe, expect, it } from 'vitest';
import { registerFonts } from './fonts.ts';

describe('registerFonts', () => {
  it('names the Debian package when the font is missing', () => {
    expect(() => registerFonts('/nonexistent/fonts')).toThrow('the video picture needs the font /nonexistent/fonts/DejaVuSans.ttf: install the Debian package fonts-dejavu-core');
  });

  it('registers DejaVu Sans from Debian', () => {
    expect(registerFonts()).toBe('Recorder Sans');
  });
});
